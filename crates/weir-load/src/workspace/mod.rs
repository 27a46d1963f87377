//! A deterministic synthetic repository that answers a coding agent's tool
//! calls, so `weir load` can play an agent's whole loop (read, grep, edit,
//! run the tests, ...) without a real checkout, a shell or a disk.
//!
//! The project is `quill`, a small Rust expression-language CLI and server
//! with a Python client: about 75 files under `src/`, `tests/`, `docs/`,
//! `scripts/`, `examples/`, `benches/`, `tools/py/` and `.github/`. The file
//! layout is the same for every seed (so scripted steps can name paths);
//! contents are generated from the seed (code-like lines built from word
//! lists and templates), plus fixed anchor snippets that the built-in
//! OpenCode profile's scripted edits rely on. Most files are 1 to 8 KB, a few
//! 20 to 40 KB, like a real repository.
//!
//! Tools answer like OpenCode 1.18's: `read` returns `<path>`/`<content>`
//! with `N: text` numbered lines, `edit` wants a unique `oldString`, `bash`
//! plays back canned but state-aware output (`cargo test` runs the tests it
//! finds in the files, `git status`/`git diff` show what was written).
//! Failures come back as text starting with `Error:`, never as a panic.
//!
//! One concern per file: `content` (which files exist and what each holds:
//! the embedded data files under `crates/weir-load/data/quill/` and the
//! generated parts), `filler` (the seeded word-list text generator),
//! `tools` (the file tools, `webfetch`, `task`, `todowrite`), `bash` (the
//! shell emulator), `args` (reading a call's JSON arguments), `paths`
//! (workspace paths), `glob` (glob patterns, matched by globset) and `diff`
//! (the hunk `git diff` shows).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use self::args::Args;
use self::content::{generate, LAYOUT};
use self::paths::{is_under, outside, resolve, strip_dir};
use self::tools::todowrite;

/// Absolute path of the workspace root as the agent sees it. Tools accept
/// paths under it or relative to it; results name absolute paths, as
/// OpenCode's do.
pub const ROOT: &str = "/home/dev/quill";

mod args;
mod bash;
mod content;
mod diff;
mod filler;
mod glob;
mod paths;
mod tools;

#[cfg(test)]
mod golden_tests;

/// A deterministic synthetic repository that answers an agent's tool calls.
#[derive(Clone, Debug)]
pub struct Workspace {
    seed: u64,
    /// Relative path → current contents.
    /// Contents are shared between clones until a session changes a file,
    /// so a thousand sessions cost one copy of the repository.
    files: BTreeMap<String, Arc<str>>,
}

impl Workspace {
    /// Same file layout for every seed (so scripted steps can name paths); contents vary with the seed.
    pub fn new(seed: u64) -> Workspace {
        let files = LAYOUT
            .iter()
            .map(|spec| (spec.path.to_string(), Arc::from(generate(seed, spec))))
            .collect();
        Workspace { seed, files }
    }

    /// Runs one tool call by name with its JSON `arguments` string; returns the result text as an agent's tool would (errors as text like "Error: file not found: x", never a panic, never an Err).
    pub fn run_tool(&mut self, name: &str, arguments: &str) -> String {
        let args = match Args::parse(name, arguments) {
            Ok(args) => args,
            Err(e) => return e,
        };
        let result = match name {
            "read" => self.read(&args),
            "write" => self.write(&args),
            "edit" => self.edit(&args),
            "glob" => self.glob(&args),
            "grep" => self.grep(&args),
            "list" => self.list(&args),
            "bash" => self.bash(&args),
            "todowrite" => todowrite(&args),
            "webfetch" => self.webfetch(&args),
            "task" => self.task(&args),
            _ => Err(format!("Error: unknown tool: {name}")),
        };
        result.unwrap_or_else(|e| e)
    }

    /// All file paths, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// The current contents of a file (relative or absolute path), if it exists.
    pub fn file(&self, path: &str) -> Option<&str> {
        let rel = resolve(path)?;
        self.files.get(&rel).map(|t| &**t)
    }

    /// Whether a relative path is the root or has files under it.
    fn is_dir(&self, rel: &str) -> bool {
        rel.is_empty() || self.files.keys().any(|p| is_under(p, rel) && p != rel)
    }

    /// Files under a directory (or the file itself), relative to the root.
    fn files_under<'a>(&'a self, rel: &'a str) -> impl Iterator<Item = (&'a String, &'a Arc<str>)> {
        self.files.iter().filter(move |(p, _)| is_under(p, rel))
    }

    /// A directory argument (absolute or relative, default the root) as a
    /// relative path, or an error if it is not a directory.
    fn search_dir(&self, path: Option<&str>) -> Result<String, String> {
        let Some(path) = path else {
            return Ok(String::new());
        };
        let rel = resolve(path).ok_or_else(|| outside(path))?;
        if self.is_dir(&rel) {
            Ok(rel)
        } else if self.files.contains_key(&rel) {
            Err(format!("Error: not a directory: {path}"))
        } else {
            Err(format!("Error: directory not found: {path}"))
        }
    }

    /// Like [`Workspace::search_dir`], but a file is taken as it is.
    fn search_dir_or_file(&self, path: Option<&str>) -> Result<String, String> {
        match path.and_then(resolve) {
            Some(rel) if self.files.contains_key(&rel) => Ok(rel),
            _ => self.search_dir(path),
        }
    }

    /// Direct children of a directory: files, then `name/` for directories.
    fn entries(&self, dir: &str) -> Vec<String> {
        let mut set = BTreeSet::new();
        for (path, _) in self.files_under(dir) {
            let sub = strip_dir(path, dir);
            match sub.split_once('/') {
                Some((d, _)) => set.insert(format!("{d}/")),
                None => set.insert(sub.to_string()),
            };
        }
        set.into_iter().collect()
    }

    /// The file as it was generated (before any write or edit), if it was.
    fn original(&self, rel: &str) -> Option<String> {
        LAYOUT
            .iter()
            .find(|s| s.path == rel)
            .map(|spec| generate(self.seed, spec))
    }

    /// Files whose contents differ from the generated ones (`modified`) and
    /// files that were not generated (`untracked`).
    fn changes(&self) -> (Vec<String>, Vec<String>) {
        let mut modified = Vec::new();
        let mut untracked = Vec::new();
        for (path, text) in &self.files {
            match self.original(path) {
                Some(orig) if *orig != **text => modified.push(path.clone()),
                Some(_) => {}
                None => untracked.push(path.clone()),
            }
        }
        (modified, untracked)
    }

    /// Paths that end with `suffix` (such as `.rs`), sorted.
    fn paths_with(&self, suffix: &str) -> Vec<String> {
        self.files
            .keys()
            .filter(|p| p.ends_with(suffix))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn call(ws: &mut Workspace, name: &str, args: Value) -> String {
        ws.run_tool(name, &args.to_string())
    }

    #[test]
    fn same_seed_same_workspace_and_outputs() {
        let mut a = Workspace::new(7);
        let mut b = Workspace::new(7);
        assert_eq!(a.paths(), b.paths());
        assert_eq!(a.files, b.files);
        for (name, args) in [
            ("bash", json!({"command": "cargo test"})),
            ("bash", json!({"command": "git log"})),
            (
                "webfetch",
                json!({"url": "https://example.com/docs/retry.html"}),
            ),
            (
                "task",
                json!({"description": "d", "prompt": "p", "subagent_type": "explore"}),
            ),
            ("grep", json!({"pattern": "fn \\w+_token"})),
        ] {
            assert_eq!(call(&mut a, name, args.clone()), call(&mut b, name, args));
        }
    }

    #[test]
    fn different_seeds_same_paths_different_contents() {
        let a = Workspace::new(1);
        let b = Workspace::new(2);
        assert_eq!(a.paths(), b.paths());
        assert_ne!(
            a.files.get("src/parser/lexer.rs"),
            b.files.get("src/parser/lexer.rs")
        );
        let differing = a
            .files
            .iter()
            .filter(|(p, t)| b.files.get(*p) != Some(t))
            .count();
        assert!(differing > 60, "{differing}");
    }

    #[test]
    fn realistic_sizes_and_paths_sorted() {
        let ws = Workspace::new(3);
        let paths = ws.paths();
        assert!((60..=120).contains(&paths.len()), "{}", paths.len());
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        let sizes: Vec<usize> = ws.files.values().map(|t| t.len()).collect();
        let mid = sizes.iter().filter(|s| (1000..=8500).contains(*s)).count();
        let big = sizes
            .iter()
            .filter(|s| (20_000..=45_000).contains(*s))
            .count();
        assert!(mid * 10 >= sizes.len() * 6, "{mid} of {}", sizes.len());
        assert!((2..=6).contains(&big), "{big}");
    }
}
