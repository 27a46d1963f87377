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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Map, Value};

/// Absolute path of the workspace root as the agent sees it. Tools accept
/// paths under it or relative to it; results name absolute paths, as
/// OpenCode's do.
pub const ROOT: &str = "/home/dev/quill";

/// Lines `read` returns when no `limit` is given (OpenCode's default).
const READ_DEFAULT_LIMIT: usize = 2000;
/// Longest line `read` and `grep` return in full.
const MAX_LINE_CHARS: usize = 2000;
/// Matches `grep` returns before it notes the truncation.
const GREP_MAX_MATCHES: usize = 100;
/// Paths `glob` and `list` return before they note the truncation.
const MAX_PATHS: usize = 100;

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

    fn is_dir(&self, rel: &str) -> bool {
        rel.is_empty() || self.files.keys().any(|p| is_under(p, rel) && p != rel)
    }

    /// Files under a directory (or the file itself), relative to the root.
    fn files_under<'a>(&'a self, rel: &'a str) -> impl Iterator<Item = (&'a String, &'a Arc<str>)> {
        self.files.iter().filter(move |(p, _)| is_under(p, rel))
    }

    fn read(&self, args: &Args) -> Result<String, String> {
        let path = args.req_str("filePath")?;
        let offset =
            usize::try_from(args.opt_u64("offset")?.unwrap_or(1).max(1)).unwrap_or(usize::MAX);
        let limit = match args.opt_u64("limit")? {
            None | Some(0) => READ_DEFAULT_LIMIT,
            Some(l) => usize::try_from(l).unwrap_or(usize::MAX),
        };
        let rel = resolve(path).ok_or_else(|| format!("Error: file not found: {path}"))?;
        let Some(text) = self.files.get(&rel) else {
            if self.is_dir(&rel) {
                let entries = self.entries(&rel);
                return Ok(format!(
                    "<path>{}</path>\n<type>directory</type>\n<entries>\n{}\n({} entries)\n</entries>",
                    abs(&rel),
                    entries.join("\n"),
                    entries.len()
                ));
            }
            return Err(format!("Error: file not found: {path}"));
        };
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        if offset > total.max(1) {
            return Err(format!(
                "Error: offset {offset} is out of range for this file ({total} lines)"
            ));
        }
        let end = total.min((offset - 1).saturating_add(limit));
        let mut out = format!("<path>{}</path>\n<type>file</type>\n<content>\n", abs(&rel));
        for (i, line) in lines.iter().enumerate().take(end).skip(offset - 1) {
            let _ = writeln!(out, "{}: {}", i + 1, clip(line));
        }
        if end < total {
            let _ = write!(
                out,
                "\n(Showing lines {offset}-{end} of {total}. Use offset={} to continue.)\n</content>",
                end + 1
            );
        } else {
            let _ = write!(out, "\n(End of file - total {total} lines)\n</content>");
        }
        Ok(out)
    }

    fn write(&mut self, args: &Args) -> Result<String, String> {
        let path = args.req_str("filePath")?;
        let content = args.req_str("content")?;
        let rel = resolve(path).ok_or_else(|| outside(path))?;
        if rel.is_empty() || self.is_dir(&rel) {
            return Err(format!("Error: path is a directory: {path}"));
        }
        self.files.insert(rel, content.into());
        Ok("Wrote file successfully.".to_string())
    }

    fn edit(&mut self, args: &Args) -> Result<String, String> {
        let path = args.req_str("filePath")?;
        let old = args.req_str("oldString")?;
        let new = args.req_str("newString")?;
        let replace_all = args.opt_bool("replaceAll")?.unwrap_or(false);
        if old == new {
            return Err("Error: oldString and newString must be different".to_string());
        }
        let rel = resolve(path).ok_or_else(|| outside(path))?;
        if old.is_empty() {
            // OpenCode: an empty oldString creates (or replaces) the file.
            self.files.insert(rel, new.into());
            return Ok("Edit applied successfully.".to_string());
        }
        let Some(text) = self.files.get_mut(&rel) else {
            return Err(format!("Error: file not found: {path}"));
        };
        let count = text.matches(old).count();
        if count == 0 {
            return Err("Error: oldString not found in content. It must match exactly, including whitespace, indentation, and line endings.".to_string());
        }
        if count > 1 && !replace_all {
            return Err(format!("Error: Found {count} matches for oldString. Provide more surrounding lines in oldString to identify the correct match, or set replaceAll to change every instance."));
        }
        *text = text.replace(old, new).into();
        Ok("Edit applied successfully.".to_string())
    }

    fn glob(&self, args: &Args) -> Result<String, String> {
        let pattern = args.req_str("pattern")?;
        let base = self.search_dir(args.opt_str("path")?)?;
        let patterns = expand_braces(pattern.trim_start_matches("./"));
        let mut hits: Vec<String> = self
            .files_under(&base)
            .map(|(p, _)| p)
            .filter(|p| {
                let sub = strip_dir(p, &base);
                patterns.iter().any(|pat| path_matches(pat, sub))
            })
            .map(|p| abs(p))
            .collect();
        if hits.is_empty() {
            return Ok("No files found".to_string());
        }
        let truncated = hits.len() > MAX_PATHS;
        hits.truncate(MAX_PATHS);
        let mut out = hits.join("\n");
        if truncated {
            out.push_str(
                "\n\n(Results are truncated. Consider using a more specific path or pattern.)",
            );
        }
        Ok(out)
    }

    fn grep(&self, args: &Args) -> Result<String, String> {
        let pattern = args.req_str("pattern")?;
        let base = self.search_dir_or_file(args.opt_str("path")?)?;
        let include = args.opt_str("include")?.map(expand_braces);
        let re = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 22)
            .build()
            .map_err(|e| format!("Error: invalid regex pattern `{pattern}`: {e}"))?;
        let mut out = String::new();
        let mut n = 0;
        'files: for (path, text) in self.files_under(&base) {
            if let Some(include) = &include {
                let sub = strip_dir(path, &base);
                if !include.iter().any(|pat| path_matches(pat, sub)) {
                    continue;
                }
            }
            for (i, line) in text.lines().enumerate() {
                if re.is_match(line) {
                    if n == GREP_MAX_MATCHES {
                        out.push_str("\n(results truncated)");
                        break 'files;
                    }
                    let _ = writeln!(out, "{}:{}: {}", abs(path), i + 1, clip(line));
                    n += 1;
                }
            }
        }
        if n == 0 {
            return Ok("No files found".to_string());
        }
        Ok(format!("Found {n} matches\n{}", out.trim_end()))
    }

    fn list(&self, args: &Args) -> Result<String, String> {
        let base = self.search_dir(args.opt_str("path")?)?;
        let ignore: Vec<String> = match args.map.get("ignore") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(expand_braces))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| args.invalid("argument `ignore` must be an array of strings"))?
                .into_iter()
                .flatten()
                .collect(),
            Some(_) => return Err(args.invalid("argument `ignore` must be an array of strings")),
        };
        let mut tree = Tree::default();
        let mut count = 0;
        for (path, _) in self.files_under(&base) {
            let sub = strip_dir(path, &base);
            let ignored = ignore.iter().any(|pat| {
                path_matches(pat, sub)
                    || sub
                        .split('/')
                        .any(|seg| seg_matches(pat.trim_end_matches('/'), seg))
            });
            if ignored {
                continue;
            }
            if count == MAX_PATHS {
                break;
            }
            tree.insert(sub);
            count += 1;
        }
        let mut out = format!("{}/\n", abs(&base));
        tree.render(1, &mut out);
        if count == MAX_PATHS {
            out.push_str("\n(Results are truncated. Use a more specific path.)");
        }
        Ok(out.trim_end().to_string())
    }

    fn webfetch(&self, args: &Args) -> Result<String, String> {
        let url = args.req_str("url")?;
        let format = args.opt_str("format")?.unwrap_or("markdown");
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("Error: URL must start with http:// or https://".to_string());
        }
        if !matches!(format, "markdown" | "text" | "html") {
            return Err(args.invalid("argument `format` must be one of text, markdown, html"));
        }
        let mut g = Gen::new(mix(self.seed, url));
        let md = g.markdown(&title_from_url(url), 3000, "");
        Ok(match format {
            "html" => {
                let mut html = String::from("<!DOCTYPE html>\n<html><body>\n");
                for para in md.split("\n\n") {
                    let _ = writeln!(html, "<p>{}</p>", para.replace('\n', " "));
                }
                html.push_str("</body></html>");
                html
            }
            "text" => md.replace(['#', '`'], ""),
            _ => md,
        })
    }

    fn task(&self, args: &Args) -> Result<String, String> {
        let description = args.req_str("description")?;
        let prompt = args.req_str("prompt")?;
        let agent = args.req_str("subagent_type")?;
        let mut g = Gen::new(mix(self.seed, prompt));
        let paths: Vec<String> = self
            .files
            .keys()
            .filter(|p| p.ends_with(".rs") || p.ends_with(".py"))
            .cloned()
            .collect();
        let mut out = format!(
            "task_id: ses_{:016x} (for resuming to continue this task if needed)\n\n<task_result>\n",
            g.next()
        );
        let _ = writeln!(
            out,
            "## {description}\n\nI explored the repository as the {agent} agent. Summary of what I found:\n"
        );
        for _ in 0..6 {
            let path = g.pick_string(&paths);
            let lines = self.files.get(&path).map_or(1, |t| t.lines().count());
            let line = 1 + g.below(lines);
            let _ = writeln!(out, "- `{path}:{line}`: {} {}", g.sentence(), g.sentence());
        }
        let _ = writeln!(out, "\n### How it fits together\n");
        for _ in 0..2 {
            let _ = writeln!(out, "{}\n", g.paragraph(5));
        }
        let _ = writeln!(out, "### Suggested next steps\n");
        for i in 1..=4 {
            let path = g.pick_string(&paths);
            let _ = writeln!(out, "{i}. Look at `{path}`: {}", g.sentence());
        }
        out.push_str("</task_result>");
        Ok(out)
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

    // ---- bash -------------------------------------------------------------

    fn bash(&self, args: &Args) -> Result<String, String> {
        let command = args.req_str("command")?;
        if let Some(t) = args.map.get("timeout") {
            if !t.is_number() && !t.is_null() {
                return Err(args.invalid("argument `timeout` must be a number"));
            }
        }
        args.opt_str("workdir")?;
        args.opt_str("description")?;
        let cmd = command.trim();
        let first = cmd
            .split("&&")
            .map(str::trim)
            .find(|part| !part.starts_with("cd "))
            .unwrap_or(cmd);
        let first = first.split('|').next().unwrap_or(first).trim();
        let words: Vec<&str> = first.split_whitespace().collect();
        let out = match words.as_slice() {
            ["cargo", "test", rest @ ..] => self.cargo_test(rest),
            ["cargo", sub @ ("build" | "check" | "clippy"), ..] => self.cargo_build(sub),
            ["pytest", rest @ ..] | ["python" | "python3", "-m", "pytest", rest @ ..] => {
                self.pytest(rest)
            }
            ["python" | "python3", script, rest @ ..] => self.python(script, rest),
            ["git", "status", ..] => self.git_status(),
            ["git", "diff", ..] => self.git_diff(),
            ["git", "log", ..] => self.git_log(),
            ["ls", rest @ ..] => self.ls(rest),
            ["cat", path] => match self.file(path) {
                Some(text) => text.to_string(),
                None => format!("cat: {path}: No such file or directory"),
            },
            ["wc", "-l", paths @ ..] => self.wc(paths),
            ["rg" | "grep", ..] => self.bash_grep(&words),
            ["mkdir" | "touch" | "rm" | "mv" | "cp" | "chmod", ..] => String::new(),
            ["echo", rest @ ..] => format!("{}\n", rest.join(" ").trim_matches('"')),
            ["pwd"] => format!("{ROOT}\n"),
            _ => self.generic(cmd),
        };
        Ok(if out.is_empty() {
            "(no output)".to_string()
        } else {
            out
        })
    }

    /// Test functions: (binary or module, name, file, line of the function).
    fn rust_tests(&self) -> Vec<(String, String, String, usize)> {
        let mut tests = Vec::new();
        for (path, text) in &self.files {
            if !path.ends_with(".rs") {
                continue;
            }
            let module = if let Some(name) = path.strip_prefix("tests/") {
                if name.contains('/') {
                    continue;
                }
                name.trim_end_matches(".rs").to_string()
            } else if let Some(m) = path.strip_prefix("src/") {
                let m = m.trim_end_matches(".rs").trim_end_matches("/mod");
                format!("lib::{}::tests", m.replace('/', "::"))
            } else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            for (i, pair) in lines.windows(2).enumerate() {
                if pair[0].trim() == "#[test]" {
                    if let Some(name) = fn_name(pair[1], "fn ") {
                        tests.push((module.clone(), name, path.clone(), i + 2));
                    }
                }
            }
        }
        tests
    }

    /// A `cargo test` run over the tests in the files; `parses_nested_groups`
    /// fails while its known wrong assertion is still there.
    fn cargo_test(&self, rest: &[&str]) -> String {
        let mut g = Gen::new(mix(self.seed, "cargo test"));
        let mut binary: Option<&str> = None;
        let mut filter: Option<&str> = None;
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                "--test" => {
                    binary = rest.get(i + 1).copied();
                    i += 1;
                }
                "--" => break,
                w if w.starts_with('-') || w.contains('>') => {}
                w => filter = Some(w),
            }
            i += 1;
        }
        let mut out = String::new();
        let deps = 4 + g.below(6);
        for name in CRATES.iter().take(deps) {
            let _ = writeln!(
                out,
                "   Compiling {name} v{}",
                crate_version(self.seed, name)
            );
        }
        let _ = writeln!(out, "   Compiling quill v0.4.2 ({ROOT})");
        let _ = writeln!(
            out,
            "    Finished `test` profile [unoptimized + debuginfo] target(s) in {}.{:02}s",
            3 + g.below(20),
            g.below(100)
        );
        let tests = self.rust_tests();
        let mut groups: BTreeMap<String, Vec<(String, String, usize)>> = BTreeMap::new();
        for (module, name, file, line) in tests {
            let group = if module.starts_with("lib::") {
                "lib".to_string()
            } else {
                module.clone()
            };
            if binary.is_some_and(|b| b != group) {
                continue;
            }
            let full = module
                .strip_prefix("lib::")
                .map_or(name.clone(), |m| format!("{m}::{name}"));
            groups.entry(group).or_default().push((full, file, line));
        }
        if let Some(b) = binary {
            if !groups.contains_key(b) {
                return format!("{out}error: no test target named `{b}` in default-run packages\n");
            }
        }
        // Cargo runs the library's unit tests first, then each test target;
        // it stops after the first target that fails unless --no-fail-fast.
        let no_fail_fast = rest.contains(&"--no-fail-fast");
        let mut order: Vec<_> = groups.iter().collect();
        order.sort_by_key(|(group, _)| (group.as_str() != "lib", group.as_str()));
        for (group, tests) in order {
            let hash = g.next();
            if group == "lib" {
                let _ = writeln!(
                    out,
                    "     Running unittests src/lib.rs (target/debug/deps/quill-{hash:016x})\n"
                );
            } else {
                let _ = writeln!(
                    out,
                    "     Running tests/{group}.rs (target/debug/deps/{group}-{hash:016x})\n"
                );
            }
            let selected: Vec<_> = tests
                .iter()
                .filter(|(name, ..)| filter.is_none_or(|f| name.contains(f)))
                .collect();
            let _ = writeln!(out, "running {} tests", selected.len());
            let mut failed = Vec::new();
            for (name, file, line) in &selected {
                let bug = KNOWN_BUGS.iter().find(|(test, buggy, snippet, _)| {
                    name.ends_with(test)
                        && self.files.get(*buggy).is_some_and(|t| t.contains(snippet))
                });
                let _ = writeln!(
                    out,
                    "test {name} ... {}",
                    if bug.is_some() { "FAILED" } else { "ok" }
                );
                if let Some((.., message)) = bug {
                    failed.push((name, file, line + 3, message));
                }
            }
            let filtered = tests.len() - selected.len();
            let secs = format!("{}.{:02}s", g.below(2), g.below(100));
            if failed.is_empty() {
                let _ = writeln!(out, "\ntest result: ok. {} passed; 0 failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {secs}\n", selected.len());
                continue;
            }
            out.push_str("\nfailures:\n\n");
            for (name, file, line, message) in &failed {
                let _ = writeln!(out, "---- {name} stdout ----\n\nthread '{name}' panicked at {file}:{line}:5:\n{message}\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n");
            }
            out.push_str("\nfailures:\n");
            for (name, ..) in &failed {
                let _ = writeln!(out, "    {name}");
            }
            let _ = writeln!(out, "\ntest result: FAILED. {} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {secs}\n", selected.len() - failed.len(), failed.len());
            if group == "lib" {
                out.push_str("error: test failed, to rerun pass `--lib`\n");
            } else {
                let _ = writeln!(out, "error: test failed, to rerun pass `--test {group}`");
            }
            if !no_fail_fast {
                break;
            }
        }
        pad_lines(out, 40, 150)
    }

    fn cargo_build(&self, sub: &str) -> String {
        let mut g = Gen::new(mix(self.seed, sub));
        let mut out = String::new();
        for name in CRATES.iter().take(3 + g.below(8)) {
            let verb = if sub == "build" {
                "Compiling"
            } else {
                "Checking"
            };
            let _ = writeln!(out, "    {verb} {name} v{}", crate_version(self.seed, name));
        }
        let verb = if sub == "build" {
            "Compiling"
        } else {
            "Checking"
        };
        let _ = writeln!(out, "    {verb} quill v0.4.2 ({ROOT})");
        if sub == "clippy" && g.below(2) == 0 {
            let path = g.pick_string(&self.paths_with(".rs"));
            let _ = writeln!(out, "warning: this `if` has identical blocks\n  --> {path}:{}:9\n   |\n   = help: for further information visit https://rust-lang.github.io/rust-clippy/master/index.html#if_same_then_else\n   = note: `#[warn(clippy::if_same_then_else)]` on by default\n\nwarning: `quill` (lib) generated 1 warning", 10 + g.below(200));
        }
        let _ = writeln!(
            out,
            "    Finished `dev` profile [unoptimized + debuginfo] target(s) in {}.{:02}s",
            1 + g.below(30),
            g.below(100)
        );
        out
    }

    fn pytest(&self, rest: &[&str]) -> String {
        let mut g = Gen::new(mix(self.seed, "pytest"));
        let dir = rest
            .iter()
            .find(|w| !w.starts_with('-'))
            .and_then(|p| resolve(p))
            .unwrap_or_default();
        let mut out = String::from(
            "============================= test session starts ==============================\n",
        );
        let _ = writeln!(out, "platform linux -- Python 3.12.{}, pytest-8.3.{}, pluggy-1.5.0\nrootdir: {ROOT}/tools/py\nconfigfile: pyproject.toml", g.below(8), g.below(5));
        let mut tests = Vec::new();
        for (path, text) in self.files_under(&dir) {
            let base = path.rsplit('/').next().unwrap_or(path);
            if !(base.starts_with("test_") && base.ends_with(".py")) {
                continue;
            }
            for line in text.lines() {
                if let Some(name) = fn_name(line, "def ") {
                    if name.starts_with("test_") {
                        tests.push((path.clone(), name));
                    }
                }
            }
        }
        let _ = writeln!(out, "collected {} items\n", tests.len());
        let n = tests.len().max(1);
        for (i, (path, name)) in tests.iter().enumerate() {
            let _ = writeln!(
                out,
                "{path}::{name} PASSED{:>width$}[{:3}%]",
                "",
                (i + 1) * 100 / n,
                width = 8
            );
        }
        out.push_str(
            "\n=============================== warnings summary ===============================\n",
        );
        let _ = writeln!(out, "tools/py/quill_client/client.py:{}\n  DeprecationWarning: datetime.datetime.utcnow() is deprecated and scheduled for removal in a future version.\n\n-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html", 20 + g.below(80));
        let _ = writeln!(
            out,
            "======================== {} passed, 1 warning in {}.{:02}s =========================",
            tests.len(),
            g.below(3),
            g.below(100)
        );
        pad_lines(out, 40, 150)
    }

    fn python(&self, script: &str, rest: &[&str]) -> String {
        let Some(text) = self.file(script) else {
            return format!(
                "python: can't open file '{ROOT}/{script}': [Errno 2] No such file or directory"
            );
        };
        if rest.contains(&"--help") || rest.contains(&"-h") {
            let name = script.rsplit('/').next().unwrap_or(script);
            let mut opts = Vec::new();
            for line in text.lines() {
                if let Some(pos) = line.find("add_argument(\"") {
                    let tail = &line[pos + 14..];
                    let flag = tail.split('"').next().unwrap_or("");
                    let help = line
                        .split("help=\"")
                        .nth(1)
                        .and_then(|h| h.split('"').next())
                        .unwrap_or("");
                    opts.push((flag.to_string(), help.to_string()));
                }
            }
            let mut out = format!("usage: {name} [-h]");
            for (flag, _) in &opts {
                let _ = write!(out, " [{flag}]");
            }
            out.push_str("\n\noptions:\n  -h, --help            show this help message and exit\n");
            for (flag, help) in &opts {
                let _ = writeln!(out, "  {flag:<21} {help}");
            }
            return out;
        }
        self.generic(&format!("python {script}"))
    }

    fn git_status(&self) -> String {
        let (modified, untracked) = self.changes();
        let mut out =
            String::from("On branch main\nYour branch is up to date with 'origin/main'.\n\n");
        if modified.is_empty() && untracked.is_empty() {
            out.push_str("nothing to commit, working tree clean\n");
            return out;
        }
        if !modified.is_empty() {
            out.push_str("Changes not staged for commit:\n  (use \"git add <file>...\" to update what will be committed)\n  (use \"git restore <file>...\" to discard changes in working directory)\n");
            for p in &modified {
                let _ = writeln!(out, "\tmodified:   {p}");
            }
            out.push('\n');
        }
        if !untracked.is_empty() {
            out.push_str("Untracked files:\n  (use \"git add <file>...\" to include in what will be committed)\n");
            for p in &untracked {
                let _ = writeln!(out, "\t{p}");
            }
            out.push('\n');
        }
        if modified.is_empty() {
            out.push_str(
                "nothing added to commit but untracked files present (use \"git add\" to track)\n",
            );
        } else {
            out.push_str("no changes added to commit (use \"git add\" and/or \"git commit -a\")\n");
        }
        out
    }

    fn git_diff(&self) -> String {
        let (modified, _) = self.changes();
        let mut out = String::new();
        for path in modified {
            let (Some(old), Some(new)) = (self.original(&path), self.files.get(&path)) else {
                continue;
            };
            let mut g = Gen::new(mix(self.seed, &path));
            let _ = writeln!(
                out,
                "diff --git a/{path} b/{path}\nindex {:07x}..{:07x} 100644\n--- a/{path}\n+++ b/{path}",
                g.next() >> 36,
                g.next() >> 36
            );
            out.push_str(&unified_hunk(&old, new));
        }
        out
    }

    fn git_log(&self) -> String {
        let mut g = Gen::new(mix(self.seed, "git log"));
        let mut out = String::new();
        const AUTHORS: [(&str, &str); 4] = [
            ("Ada Moreau", "ada"),
            ("Ben Okafor", "ben"),
            ("Chen Wei", "chen"),
            ("Dana Ruiz", "dana"),
        ];
        // March 2026 starts on a Sunday.
        const WEEKDAYS: [&str; 7] = ["Sat", "Sun", "Mon", "Tue", "Wed", "Thu", "Fri"];
        for i in 0..8 {
            let author = g.below(AUTHORS.len());
            let _ = writeln!(
                out,
                "commit {:016x}{:016x}{:08x}\nAuthor: {} <{}@example.com>\nDate:   {} Mar {} 1{}:{:02}:{:02} 2026 +0100\n\n    {}\n",
                g.next(),
                g.next(),
                g.next() >> 32,
                AUTHORS[author].0,
                AUTHORS[author].1,
                WEEKDAYS[(20 - i) % 7],
                20 - i,
                g.below(10),
                g.below(60),
                g.below(60),
                g.commit_message()
            );
        }
        out
    }

    fn ls(&self, rest: &[&str]) -> String {
        let long = rest.iter().any(|w| w.starts_with('-') && w.contains('l'));
        let all = rest.iter().any(|w| w.starts_with('-') && w.contains('a'));
        let path = rest.iter().find(|w| !w.starts_with('-')).copied();
        let rel = match path {
            None => String::new(),
            Some(p) => match resolve(p) {
                Some(r) => r,
                None => return format!("ls: cannot access '{p}': No such file or directory"),
            },
        };
        if self.files.contains_key(&rel) {
            return format!("{}\n", path.unwrap_or_default());
        }
        if !self.is_dir(&rel) {
            return format!(
                "ls: cannot access '{}': No such file or directory",
                path.unwrap_or_default()
            );
        }
        let entries: Vec<String> = self
            .entries(&rel)
            .into_iter()
            .filter(|e| all || !e.starts_with('.'))
            .collect();
        if !long {
            return entries
                .iter()
                .map(|e| format!("{}\n", e.trim_end_matches('/')))
                .collect();
        }
        let mut out = format!("total {}\n", entries.len() * 4);
        for e in &entries {
            let name = e.trim_end_matches('/');
            let child = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let (mode, size) = match self.files.get(&child) {
                Some(text) => ("-rw-r--r--", text.len()),
                None => ("drwxr-xr-x", 4096),
            };
            let _ = writeln!(out, "{mode} 1 dev dev {size:>6} Mar  2 09:41 {name}");
        }
        out
    }

    fn wc(&self, paths: &[&str]) -> String {
        let mut out = String::new();
        let mut total = 0;
        for p in paths {
            match self.file(p) {
                Some(text) => {
                    let n = text.lines().count();
                    total += n;
                    let _ = writeln!(out, "{n:>5} {p}");
                }
                None => {
                    let _ = writeln!(out, "wc: {p}: No such file or directory");
                }
            }
        }
        if paths.len() > 1 {
            let _ = writeln!(out, "{total:>5} total");
        }
        out
    }

    /// `rg PATTERN [PATH]` / `grep -rn PATTERN [PATH]` through the grep tool.
    fn bash_grep(&self, words: &[&str]) -> String {
        let operands: Vec<&str> = words[1..]
            .iter()
            .filter(|w| !w.starts_with('-'))
            .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
            .collect();
        let Some(pattern) = operands.first() else {
            return format!("usage: {} PATTERN [PATH]", words[0]);
        };
        let mut map = Map::new();
        map.insert("pattern".into(), Value::from(*pattern));
        if let Some(path) = operands.get(1) {
            map.insert("path".into(), Value::from(*path));
        }
        let args = Args { tool: "bash", map };
        match self.grep(&args) {
            Ok(text) if text == "No files found" => String::new(),
            Ok(text) => text
                .lines()
                .skip(1)
                .map(|l| format!("{}\n", l.strip_prefix(&format!("{ROOT}/")).unwrap_or(l)))
                .collect(),
            Err(e) => e,
        }
    }

    fn generic(&self, cmd: &str) -> String {
        let mut g = Gen::new(mix(self.seed, cmd));
        let program = cmd.split_whitespace().next().unwrap_or("sh");
        match g.below(4) {
            0 => String::new(),
            1 => format!("Done in {}.{:02}s.\n", g.below(5), g.below(100)),
            2 => {
                let mut out = String::new();
                for _ in 0..2 + g.below(4) {
                    let _ = writeln!(out, "{program}: {}", g.sentence().to_lowercase());
                }
                out
            }
            _ => format!("{program}: ok ({} files checked)\n", 10 + g.below(70)),
        }
    }

    fn paths_with(&self, suffix: &str) -> Vec<String> {
        self.files
            .keys()
            .filter(|p| p.ends_with(suffix))
            .cloned()
            .collect()
    }
}

/// Echo the todo list as pretty JSON, as OpenCode's todowrite does.
fn todowrite(args: &Args) -> Result<String, String> {
    let todos = args
        .map
        .get("todos")
        .ok_or_else(|| args.invalid("missing required argument `todos`"))?;
    let Value::Array(items) = todos else {
        return Err(args.invalid("argument `todos` must be an array"));
    };
    for (i, item) in items.iter().enumerate() {
        for key in ["content", "status", "priority"] {
            if !item.get(key).is_some_and(Value::is_string) {
                return Err(args.invalid(&format!(
                    "missing required argument `todos[{i}].{key}` (a string)"
                )));
            }
        }
    }
    serde_json::to_string_pretty(todos).map_err(|e| format!("Error: {e}"))
}

// ---- arguments --------------------------------------------------------------

/// A tool call's arguments: a JSON object.
struct Args {
    tool: &'static str,
    map: Map<String, Value>,
}

impl Args {
    fn parse(name: &str, arguments: &str) -> Result<Args, String> {
        // Keep the tool name for messages without borrowing the caller's str.
        let tool = TOOL_NAMES
            .iter()
            .find(|t| **t == name)
            .copied()
            .unwrap_or("unknown");
        if tool == "unknown" {
            return Err(format!("Error: unknown tool: {name}"));
        }
        let trimmed = arguments.trim();
        let value = if trimmed.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(trimmed).map_err(|e| {
                format!("Error: the {tool} tool was called with invalid arguments: not valid JSON ({e})")
            })?
        };
        match value {
            Value::Object(map) => Ok(Args { tool, map }),
            _ => Err(format!(
                "Error: the {tool} tool was called with invalid arguments: expected a JSON object"
            )),
        }
    }

    fn invalid(&self, what: &str) -> String {
        format!(
            "Error: the {} tool was called with invalid arguments: {what}",
            self.tool
        )
    }

    fn req_str(&self, key: &str) -> Result<&str, String> {
        self.opt_str(key)?
            .ok_or_else(|| self.invalid(&format!("missing required argument `{key}`")))
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(&format!("argument `{key}` must be a string"))),
        }
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
                (Some(v), _) => Ok(Some(v)),
                (None, Some(f)) if f >= 0.0 => Ok(Some(f as u64)),
                _ => Err(self.invalid(&format!("argument `{key}` must be a non-negative integer"))),
            },
            Some(_) => {
                Err(self.invalid(&format!("argument `{key}` must be a non-negative integer")))
            }
        }
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid(&format!("argument `{key}` must be a boolean"))),
        }
    }
}

/// The tools a workspace answers.
const TOOL_NAMES: &[&str] = &[
    "bash",
    "edit",
    "glob",
    "grep",
    "list",
    "read",
    "task",
    "todowrite",
    "webfetch",
    "write",
];

// ---- paths and globs ----------------------------------------------------------

/// A path argument (absolute under [`ROOT`], or relative to it) as a clean
/// relative path (`""` for the root); None when it points outside.
fn resolve(path: &str) -> Option<String> {
    let path = path.trim();
    let rel = if let Some(rest) = path.strip_prefix(ROOT) {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    } else if path.starts_with('/') {
        return None;
    } else {
        path
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn abs(rel: &str) -> String {
    if rel.is_empty() {
        ROOT.to_string()
    } else {
        format!("{ROOT}/{rel}")
    }
}

fn outside(path: &str) -> String {
    format!("Error: path is outside the workspace ({ROOT}): {path}")
}

/// Whether `path` is `dir` itself or lies under it (`dir` "" is the root).
fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// `path` relative to `dir` (for a file itself: its name).
fn strip_dir<'a>(path: &'a str, dir: &str) -> &'a str {
    if dir.is_empty() {
        return path;
    }
    if path == dir {
        return path.rsplit('/').next().unwrap_or(path);
    }
    path.get(dir.len() + 1..).unwrap_or(path)
}

/// Expands `{a,b}` alternatives (nested too) into plain patterns, at most
/// 64 of them and 16 groups deep (past that the braces are kept literally).
fn expand_braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out, 0);
    out
}

fn expand_into(pattern: &str, out: &mut Vec<String>, depth: usize) {
    if out.len() >= 64 {
        return;
    }
    if depth > 16 {
        out.push(pattern.to_string());
        return;
    }
    let Some(open) = pattern.find('{') else {
        out.push(pattern.to_string());
        return;
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        out.push(pattern.to_string());
        return;
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut start = open + 1;
    for end in commas.into_iter().chain(std::iter::once(close)) {
        expand_into(
            &format!("{head}{}{tail}", &pattern[start..end]),
            out,
            depth + 1,
        );
        start = end + 1;
    }
}

/// Glob match of one brace-free pattern against a relative path. A pattern
/// without `/` matches the file name at any depth (as ripgrep's `--glob`).
fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
    if !pattern.contains('/') {
        let name = path.rsplit('/').next().unwrap_or(path);
        return pattern == "**" || seg_matches(pattern, name);
    }
    let mut pats: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    // `**/**` is `**`; collapsing keeps the backtracking small.
    pats.dedup_by(|a, b| *a == "**" && *b == "**");
    let segs: Vec<&str> = path.split('/').collect();
    segments_match(&pats, &segs)
}

fn segments_match(pats: &[&str], segs: &[&str]) -> bool {
    match pats.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => {
            segments_match(rest, segs) || (!segs.is_empty() && segments_match(pats, &segs[1..]))
        }
        Some((p, rest)) => {
            !segs.is_empty() && seg_matches(p, segs[0]) && segments_match(rest, &segs[1..])
        }
    }
}

/// `*` (any run) and `?` (one char) within one path segment.
fn seg_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A directory tree for `list`.
#[derive(Default)]
struct Tree {
    dirs: BTreeMap<String, Tree>,
    files: Vec<String>,
}

impl Tree {
    fn insert(&mut self, path: &str) {
        match path.split_once('/') {
            Some((dir, rest)) => self.dirs.entry(dir.to_string()).or_default().insert(rest),
            None => self.files.push(path.to_string()),
        }
    }

    fn render(&self, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        for (name, sub) in &self.dirs {
            let _ = writeln!(out, "{pad}{name}/");
            sub.render(depth + 1, out);
        }
        for f in &self.files {
            let _ = writeln!(out, "{pad}{f}");
        }
    }
}

fn clip(line: &str) -> &str {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// The identifier after `keyword` on a line (`fn name(` / `def name(`).
fn fn_name(line: &str, keyword: &str) -> Option<String> {
    let at = line.find(keyword)?;
    let rest = &line[at + keyword.len()..];
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Pads a log to at least `min` lines (with progress lines at the top) and
/// cuts it to at most `max`.
fn pad_lines(out: String, min: usize, max: usize) -> String {
    let mut lines: Vec<&str> = out.lines().collect();
    // Too long: leave out passing-test lines first (from the end), so the
    // failures and the summaries stay.
    let mut excess = lines.len().saturating_sub(max);
    if excess > 0 {
        let mut i = lines.len();
        while excess > 0 && i > 0 {
            i -= 1;
            if lines[i].starts_with("test ") && lines[i].ends_with(" ... ok") {
                lines.remove(i);
                excess -= 1;
            }
        }
    }
    let mut result = String::new();
    for i in lines.len()..min {
        let _ = writeln!(
            result,
            "   Compiling {} v0.{}.{}",
            CRATES[i % CRATES.len()],
            i % 9,
            i % 7
        );
    }
    if lines.len() > max {
        let keep_head = max / 3;
        let keep_tail = max - keep_head - 1;
        for l in &lines[..keep_head] {
            let _ = writeln!(result, "{l}");
        }
        let _ = writeln!(
            result,
            "... ({} lines omitted)",
            lines.len() - keep_head - keep_tail
        );
        for l in &lines[lines.len() - keep_tail..] {
            let _ = writeln!(result, "{l}");
        }
    } else {
        for l in &lines {
            let _ = writeln!(result, "{l}");
        }
    }
    result
}

/// One unified-diff hunk spanning from the first to the last changed line.
fn unified_hunk(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let start = prefix.saturating_sub(3);
    let a_end = (a.len() - suffix + 3).min(a.len());
    let b_end = (b.len() - suffix + 3).min(b.len());
    let mut out = format!(
        "@@ -{},{} +{},{} @@\n",
        start + 1,
        a_end - start,
        start + 1,
        b_end - start
    );
    for l in &a[start..prefix] {
        let _ = writeln!(out, " {l}");
    }
    for l in &a[prefix..a.len() - suffix] {
        let _ = writeln!(out, "-{l}");
    }
    for l in &b[prefix..b.len() - suffix] {
        let _ = writeln!(out, "+{l}");
    }
    for l in &a[a.len() - suffix..a_end] {
        let _ = writeln!(out, " {l}");
    }
    out
}

fn title_from_url(url: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(url)
        .split(['.', '?', '#'])
        .next()
        .unwrap_or("page");
    let mut title = last.replace(['-', '_'], " ");
    if let Some(first) = title.get(..1) {
        title = first.to_uppercase() + &title[1..];
    }
    if title.is_empty() {
        "Documentation".to_string()
    } else {
        title
    }
}

// ---- randomness ---------------------------------------------------------------

/// A crate's version in this workspace's (imaginary) lock file.
fn crate_version(seed: u64, name: &str) -> String {
    Gen::new(mix(seed, name)).version()
}

/// FNV-1a of a string, mixed with the seed: an independent stream per (seed, key).
fn mix(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// splitmix64 plus the word-list generators.
struct Gen(u64);

const NOUNS: &[&str] = &[
    "token", "span", "buffer", "record", "bucket", "node", "frame", "cursor", "block", "chunk",
    "header", "payload", "schema", "session", "window", "budget", "slot", "range", "label",
    "offset", "field", "column", "row", "page", "segment", "packet", "symbol", "scope", "table",
    "queue", "worker", "handle", "stream", "reader", "writer", "digest", "snapshot", "version",
    "target", "source", "rule", "pattern", "filter", "route", "socket", "timer", "counter",
];
const VERBS: &[&str] = &[
    "parse", "emit", "flush", "load", "store", "resolve", "merge", "split", "encode", "decode",
    "validate", "apply", "collect", "render", "scan", "visit", "build", "reset", "insert",
    "remove", "locate", "compute", "fetch", "drain", "advance", "peek", "bind", "format",
    "register", "refresh", "compact", "seal", "sort", "trim",
];
const ADJS: &[&str] = &[
    "raw", "next", "last", "pending", "cached", "shared", "local", "inner", "outer", "total",
    "max", "min", "default", "stale", "dirty", "empty", "current", "previous", "partial", "sorted",
    "unique", "active", "frozen", "visible",
];
const TYPES: &[(&str, &str)] = &[
    ("usize", "0"),
    ("u32", "0"),
    ("u64", "0"),
    ("i64", "-1"),
    ("bool", "false"),
    ("String", "String::new()"),
    ("Vec<u8>", "Vec::new()"),
    ("Option<usize>", "None"),
    ("Vec<String>", "Vec::new()"),
    ("HashMap<String, usize>", "HashMap::new()"),
    ("Duration", "Duration::ZERO"),
];
const SENTENCES: &[&str] = &[
    "{V} the {a} {n} and returns the {n} it replaced.",
    "Keeps track of the {n} for each {n}.",
    "The {n} must be {a} before this is called.",
    "Returns `None` when the {n} is {a}.",
    "Used by the {n} {n} to avoid a second scan of the {n}.",
    "TODO: {v} the {n} lazily once the {n} is {a}.",
    "This is cheap: the {n} is already {a} at this point.",
    "We {v} the {a} {n} here so that the {n} never sees a {a} {n}.",
    "Callers should {v} the {n} first; see the {n} module.",
    "A {a} {n} means the {n} was never {p}.",
    "Note that the {n} can be {a} if the {n} was dropped early.",
    "Each {n} owns exactly one {n}, so no locking is needed.",
];
const CRATES: &[&str] = &[
    "proc-macro2",
    "unicode-ident",
    "libc",
    "memchr",
    "cfg-if",
    "itoa",
    "ryu",
    "serde",
    "quote",
    "syn",
    "serde_derive",
    "serde_json",
    "bytes",
    "pin-project-lite",
    "once_cell",
    "log",
    "smallvec",
    "regex-syntax",
    "aho-corasick",
    "regex-automata",
    "regex",
    "tokio",
    "mio",
    "socket2",
    "hashbrown",
    "indexmap",
    "equivalent",
    "clap",
    "clap_lex",
    "strsim",
    "anstyle",
    "anstream",
    "utf8parse",
    "thiserror",
    "thiserror-impl",
    "tracing",
    "tracing-core",
    "tracing-attributes",
    "http",
    "httparse",
    "hyper",
    "h2",
    "futures-core",
    "futures-util",
    "slab",
    "tower",
    "tower-service",
    "tower-layer",
    "axum",
    "axum-core",
    "mime",
    "percent-encoding",
    "form_urlencoded",
    "url",
    "idna",
    "toml",
    "toml_edit",
    "toml_datetime",
    "winnow",
    "serde_spanned",
    "rustls",
    "ring",
    "untrusted",
    "webpki",
    "getrandom",
    "rand",
    "rand_core",
    "rand_chacha",
    "ppv-lite86",
    "time",
    "num-conv",
    "powerfmt",
    "deranged",
    "crossbeam-utils",
    "parking_lot",
    "lock_api",
    "scopeguard",
];

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` 0 gives 0.
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        // Every list passed here is a non-empty constant; "" is never seen.
        xs.get(self.below(xs.len())).copied().unwrap_or("")
    }

    fn pick_string(&mut self, xs: &[String]) -> String {
        xs.get(self.below(xs.len())).cloned().unwrap_or_default()
    }

    fn noun(&mut self) -> &'static str {
        self.pick(NOUNS)
    }
    fn verb(&mut self) -> &'static str {
        self.pick(VERBS)
    }
    fn adj(&mut self) -> &'static str {
        self.pick(ADJS)
    }

    fn camel(&mut self) -> String {
        let (a, b) = (self.adj(), self.noun());
        let (a, b) = if self.below(2) == 0 {
            (b, self.noun())
        } else {
            (a, b)
        };
        format!("{}{}", cap(a), cap(b))
    }

    fn version(&mut self) -> String {
        format!("{}.{}.{}", self.below(3), self.below(40), self.below(20))
    }

    fn sentence(&mut self) -> String {
        let template = self.pick(SENTENCES);
        let mut out = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let word = match rest.get(i + 1..i + 2) {
                Some("n") => self.noun().to_string(),
                Some("v") => self.verb().to_string(),
                Some("p") => past(self.verb()),
                Some("V") => cap(&third(self.verb())),
                _ => self.adj().to_string(),
            };
            out.push_str(&word);
            rest = rest.get(i + 3..).unwrap_or("");
        }
        out.push_str(rest);
        with_articles(&out)
    }

    fn paragraph(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| self.sentence())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn commit_message(&mut self) -> String {
        let v = self.verb();
        let (a, n) = (self.adj(), self.noun());
        let area = self.pick(&[
            "parser", "eval", "cache", "server", "cli", "net", "docs", "ci",
        ]);
        format!("{area}: {v} the {a} {n}")
    }

    // ---- Rust ----

    fn rust_type(&mut self) -> (&'static str, &'static str) {
        TYPES[self.below(TYPES.len())]
    }

    fn rust_body(&mut self, indent: &str, ret: (&str, &str), out: &mut String) {
        let lines = 2 + self.below(8);
        let var = format!("{}_{}", self.adj(), self.noun());
        let _ = writeln!(out, "{indent}let {var} = self.{}s.len();", self.noun());
        for _ in 0..lines {
            match self.below(7) {
                0 => {
                    let _ = writeln!(out, "{indent}// {}", self.sentence());
                }
                1 => {
                    let _ = writeln!(
                        out,
                        "{indent}if {var} > {} {{\n{indent}    return {};\n{indent}}}",
                        self.below(64),
                        ret.1
                    );
                }
                2 => {
                    let (n, v) = (self.noun(), self.verb());
                    let _ = writeln!(
                        out,
                        "{indent}for {n} in self.{n}s.iter() {{\n{indent}    self.{v}_{n}({n});\n{indent}}}"
                    );
                }
                3 => {
                    let (n, m) = (self.noun(), self.noun());
                    let _ = writeln!(
                        out,
                        "{indent}match self.{n}s.get({var}) {{\n{indent}    Some({m}) => self.{}_{m}({m}),\n{indent}    None => return {},\n{indent}}}",
                        self.verb(),
                        ret.1
                    );
                }
                4 => {
                    let (a, n, v) = (self.adj(), self.noun(), self.verb());
                    let _ = writeln!(out, "{indent}let {a}_{n} = {v}_{n}(&self.{n}s, {var})?;");
                }
                5 => {
                    let _ = writeln!(
                        out,
                        "{indent}debug_assert!({var} <= self.{}s.capacity());",
                        self.noun()
                    );
                }
                _ => {
                    let (n, v) = (self.noun(), self.verb());
                    let _ = writeln!(out, "{indent}self.{n}s.{v}({var});");
                }
            }
        }
        let _ = writeln!(out, "{indent}{}", ret.1);
    }

    fn rust_fn(&mut self, indent: &str, method: bool, out: &mut String) {
        let _ = writeln!(out, "{indent}/// {}", self.sentence());
        let (v, n) = (self.verb(), self.noun());
        let (arg_t, _) = self.rust_type();
        let ret = self.rust_type();
        let recv = if method {
            if self.below(3) == 0 {
                "&mut self, "
            } else {
                "&self, "
            }
        } else {
            ""
        };
        let arg = self.noun();
        let _ = writeln!(
            out,
            "{indent}pub fn {v}_{n}({recv}{arg}: {arg_t}) -> {} {{",
            ret.0
        );
        self.rust_body(&format!("{indent}    "), ret, out);
        let _ = writeln!(out, "{indent}}}\n");
    }

    fn rust_item(&mut self, out: &mut String) {
        match self.below(6) {
            0..=2 => {
                let name = self.camel();
                let _ = writeln!(out, "/// {}", self.sentence());
                let _ = writeln!(
                    out,
                    "#[derive(Debug, Clone, Default)]\npub struct {name} {{"
                );
                for _ in 0..2 + self.below(5) {
                    let (t, _) = self.rust_type();
                    let _ = writeln!(
                        out,
                        "    /// {}\n    pub {}s: {t},",
                        self.sentence(),
                        self.noun()
                    );
                }
                let _ = writeln!(out, "}}\n\nimpl {name} {{");
                for _ in 0..1 + self.below(4) {
                    self.rust_fn("    ", true, out);
                }
                out.truncate(out.trim_end().len());
                out.push_str("\n}\n\n");
            }
            3 => {
                let name = self.camel();
                let _ = writeln!(
                    out,
                    "/// {}\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub enum {name} {{",
                    self.sentence()
                );
                for _ in 0..3 + self.below(5) {
                    let v = cap(self.noun());
                    let _ = writeln!(out, "    /// {}\n    {v},", self.sentence());
                }
                out.push_str("}\n\n");
            }
            4 => {
                let _ = writeln!(
                    out,
                    "/// {}\npub const {}_{}: usize = {};\n",
                    self.sentence(),
                    self.adj().to_uppercase(),
                    self.noun().to_uppercase(),
                    1 << self.below(16)
                );
            }
            _ => self.rust_fn("", false, out),
        }
    }

    fn rust_test(&mut self, indent: &str, out: &mut String) {
        let (v, a, n) = (self.verb(), self.adj(), self.noun());
        let name = third(v);
        let _ = writeln!(out, "{indent}#[test]\n{indent}fn {name}_{a}_{n}() {{");
        let _ = writeln!(
            out,
            "{indent}    let input = \"{} {} {}\";",
            self.noun(),
            self.pick(&["+", "*", "-", "/", "=="]),
            self.below(1000)
        );
        let _ = writeln!(out, "{indent}    let {n} = {v}_{n}(input).unwrap();");
        match self.below(3) {
            0 => {
                let _ = writeln!(
                    out,
                    "{indent}    assert_eq!({n}.len(), {});",
                    self.below(12)
                );
            }
            1 => {
                let _ = writeln!(
                    out,
                    "{indent}    assert!({n}.is_{}());",
                    self.pick(&["valid", "empty", "sorted"])
                );
            }
            _ => {
                let _ = writeln!(out, "{indent}    assert_eq!({n}.to_string(), input);");
            }
        }
        let _ = writeln!(out, "{indent}}}\n");
    }

    fn rust_file(&mut self, path: &str, target: usize, anchor: &str) -> String {
        let module = path
            .rsplit('/')
            .next()
            .unwrap_or(path)
            .trim_end_matches(".rs");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "//! The `{module}` module. {}\n//!\n//! {}\n",
            self.sentence(),
            self.paragraph(2)
        );
        out.push_str("use std::collections::HashMap;\nuse std::time::Duration;\n\n");
        for _ in 0..self.below(3) {
            let _ = writeln!(
                out,
                "use crate::{}::{};",
                self.pick(&["parser", "eval", "util", "storage", "output"]),
                self.camel()
            );
        }
        out.push('\n');
        out.push_str(anchor);
        let tests_size = target / 8;
        while out.len() + tests_size < target {
            self.rust_item(&mut out);
        }
        if path.starts_with("src/") && !path.ends_with("mod.rs") && target > 1500 {
            out.push_str("#[cfg(test)]\nmod tests {\n    use super::*;\n\n");
            for _ in 0..1 + self.below(4) {
                self.rust_test("    ", &mut out);
            }
            out.truncate(out.trim_end().len());
            out.push_str("\n}\n");
        }
        out
    }

    fn rust_test_file(&mut self, target: usize, anchor: &str) -> String {
        let mut out = String::from(
            "mod common;\n\nuse common::{fixture, parse};\nuse quill::eval::eval;\n\n",
        );
        out.push_str(anchor);
        while out.len() < target {
            self.rust_test("", &mut out);
        }
        out
    }

    // ---- Python ----

    fn py_body(&mut self, indent: &str, out: &mut String) {
        let var = format!("{}_{}", self.adj(), self.noun());
        let _ = writeln!(out, "{indent}{var} = self.{}s.get(key)", self.noun());
        for _ in 0..1 + self.below(6) {
            match self.below(4) {
                0 => {
                    let _ = writeln!(out, "{indent}# {}", self.sentence());
                }
                1 => {
                    let _ = writeln!(out, "{indent}if {var} is None:\n{indent}    return None");
                }
                2 => {
                    let (n, v) = (self.noun(), self.verb());
                    let _ = writeln!(
                        out,
                        "{indent}for {n} in self.{n}s:\n{indent}    self._{v}_{n}({n})"
                    );
                }
                _ => {
                    let (n, v) = (self.noun(), self.verb());
                    let _ = writeln!(out, "{indent}{var} = {v}_{n}({var}, timeout=self.timeout)");
                }
            }
        }
        let _ = writeln!(out, "{indent}return {var}\n");
    }

    fn python_file(&mut self, target: usize, anchor: &str) -> String {
        let mut out = format!("\"\"\"{}\n\n{}\n\"\"\"\n\nfrom __future__ import annotations\n\nimport json\nimport time\nfrom dataclasses import dataclass, field\n\n", self.sentence(), self.paragraph(2));
        out.push_str(anchor);
        while out.len() < target {
            if self.below(2) == 0 {
                let name = self.camel();
                let _ = writeln!(
                    out,
                    "\n@dataclass\nclass {name}:\n    \"\"\"{}\"\"\"\n",
                    self.sentence()
                );
                let mut fields: Vec<&str> = Vec::new();
                for _ in 0..2 + self.below(3) {
                    let f = self.noun();
                    if f != "field" && !fields.contains(&f) {
                        fields.push(f);
                        let _ = writeln!(out, "    {f}: int = 0");
                    }
                }
                out.push('\n');
                for _ in 0..1 + self.below(3) {
                    let _ = writeln!(
                        out,
                        "    def {}_{}(self, key: str):\n        \"\"\"{}\"\"\"",
                        self.verb(),
                        self.noun(),
                        self.sentence()
                    );
                    self.py_body("        ", &mut out);
                }
            } else {
                let _ = writeln!(
                    out,
                    "\ndef {}_{}(key: str, timeout: float = 5.0):\n    \"\"\"{}\"\"\"",
                    self.verb(),
                    self.noun(),
                    self.sentence()
                );
                self.py_body("    ", &mut out);
            }
        }
        out
    }

    fn pytest_file(&mut self, target: usize) -> String {
        let mut out = String::from("import pytest\n\nfrom quill_client import Client\nfrom quill_client.models import Result\n\n\n@pytest.fixture\ndef client():\n    return Client(\"http://127.0.0.1:7878\", timeout=1.0)\n\n");
        while out.len() < target {
            let (v, a, n) = (self.verb(), self.adj(), self.noun());
            let _ = writeln!(out, "\ndef test_{v}_{a}_{n}(client):\n    result = client.{v}(\"{n} + {}\")\n    assert result.{n}s == {}\n", self.below(100), self.below(10));
        }
        out
    }

    // ---- text ----

    fn markdown(&mut self, title: &str, target: usize, anchor: &str) -> String {
        let mut out = format!("# {title}\n\n{}\n\n", self.paragraph(3));
        out.push_str(anchor);
        while out.len() < target {
            let sentences = 2 + self.below(4);
            let _ = writeln!(
                out,
                "## {} {}s\n\n{}\n",
                cap(self.verb()),
                self.noun(),
                self.paragraph(sentences)
            );
            match self.below(3) {
                0 => {
                    for _ in 0..3 + self.below(4) {
                        let _ = writeln!(out, "- **{}**: {}", self.noun(), self.sentence());
                    }
                    out.push('\n');
                }
                1 => {
                    let _ = writeln!(
                        out,
                        "```sh\nquill {} --{}-{} {}.qx\n```\n",
                        self.verb(),
                        self.adj(),
                        self.noun(),
                        self.noun()
                    );
                }
                _ => {
                    let _ = writeln!(out, "{}\n", self.paragraph(3));
                }
            }
        }
        out
    }

    fn cargo_lock(&mut self, target: usize) -> String {
        let mut out = String::from("# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n");
        let mut i = 0;
        while out.len() < target {
            let name = CRATES.get(i).map_or_else(
                || format!("{}-{}", self.noun(), self.noun()),
                |s| s.to_string(),
            );
            i += 1;
            let _ = write!(out, "\n[[package]]\nname = \"{name}\"\nversion = \"{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{:016x}{:016x}{:016x}{:016x}\"\n", self.version(), self.next(), self.next(), self.next(), self.next());
            let deps = self.below(4);
            if deps > 0 {
                out.push_str("dependencies = [\n");
                for _ in 0..deps {
                    let _ = writeln!(out, " \"{}\",", self.pick(CRATES));
                }
                out.push_str("]\n");
            }
        }
        out
    }

    fn toml_file(&mut self, target: usize) -> String {
        let mut out = String::from("# Sample quill configuration.\n\n");
        while out.len() < target {
            let _ = writeln!(out, "[{}]", self.noun());
            for _ in 0..2 + self.below(4) {
                let value = match self.below(3) {
                    0 => self.below(10_000).to_string(),
                    1 => format!("\"{}\"", self.adj()),
                    _ => (self.below(2) == 0).to_string(),
                };
                let _ = writeln!(out, "{}_{} = {value}", self.adj(), self.noun());
            }
            out.push('\n');
        }
        out
    }

    fn yaml_file(&mut self, name: &str, target: usize) -> String {
        let mut out = format!("name: {name}\n\non:\n  push:\n    branches: [main]\n  pull_request:\n\nenv:\n  CARGO_TERM_COLOR: always\n\njobs:\n");
        while out.len() < target {
            let job = format!("{}-{}", self.verb(), self.noun());
            let _ = writeln!(out, "  {job}:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: dtolnay/rust-toolchain@stable");
            for _ in 0..1 + self.below(3) {
                let _ = writeln!(
                    out,
                    "      - name: {} {}\n        run: cargo {} --{}",
                    cap(self.verb()),
                    self.noun(),
                    self.pick(&["test", "build", "clippy", "doc"]),
                    self.pick(&["workspace", "all-features", "release", "locked"])
                );
            }
        }
        out
    }

    fn shell_file(&mut self, target: usize) -> String {
        let mut out = String::from(
            "#!/usr/bin/env bash\nset -euo pipefail\n\ncd \"$(dirname \"$0\")/..\"\n\n",
        );
        while out.len() < target {
            match self.below(3) {
                0 => {
                    let _ = writeln!(out, "# {}", self.sentence());
                }
                1 => {
                    let _ = writeln!(
                        out,
                        "echo \"==> {} {}\"\ncargo {} --{}",
                        self.verb(),
                        self.noun(),
                        self.pick(&["test", "build", "fmt", "clippy"]),
                        self.pick(&["release", "locked", "workspace"])
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "if [ -n \"${{{}_{}:-}}\" ]; then\n    {}_{}=\"$({} --version)\"\nfi",
                        self.adj().to_uppercase(),
                        self.noun().to_uppercase(),
                        self.noun(),
                        self.noun(),
                        self.pick(&["cargo", "python3", "git"])
                    );
                }
            }
        }
        out
    }

    fn json_file(&mut self, target: usize) -> String {
        let mut out = String::from("[\n");
        while out.len() < target {
            let _ = writeln!(
                out,
                "  {{\"input\": \"{} + {}\", \"{}\": {}, \"{}\": \"{}\"}},",
                self.noun(),
                self.below(100),
                self.adj(),
                self.below(1000),
                self.noun(),
                self.verb()
            );
        }
        out.push_str("  {\"input\": \"1 + 1\", \"value\": 2, \"kind\": \"int\"}\n]\n");
        out
    }

    fn exprs_file(&mut self, target: usize) -> String {
        let mut out = String::new();
        while out.len() < target {
            let _ = writeln!(
                out,
                "({} {} {}) * {}",
                self.noun(),
                self.pick(&["+", "-", "*", "/"]),
                self.below(100),
                self.adj()
            );
        }
        out
    }
}

/// Third person singular: "parse" → "parses", "flush" → "flushes", "apply" → "applies".
fn third(verb: &str) -> String {
    if let Some(stem) = verb.strip_suffix('y') {
        format!("{stem}ies")
    } else if verb.ends_with("sh")
        || verb.ends_with("ch")
        || verb.ends_with('s')
        || verb.ends_with('x')
    {
        format!("{verb}es")
    } else {
        format!("{verb}s")
    }
}

/// Past participle of a word-list verb.
fn past(verb: &str) -> String {
    match verb {
        "build" => "built".to_string(),
        "bind" => "bound".to_string(),
        "split" => "split".to_string(),
        "emit" => "emitted".to_string(),
        "trim" => "trimmed".to_string(),
        "scan" => "scanned".to_string(),
        v if v.ends_with('e') => format!("{v}d"),
        v => match v.strip_suffix('y') {
            Some(stem) => format!("{stem}ied"),
            None => format!("{v}ed"),
        },
    }
}

/// "a outer" → "an outer".
fn with_articles(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let vowel_next = words
            .get(i + 1)
            .and_then(|n| n.chars().next())
            .is_some_and(|c| "aeiou".contains(c));
        match (*w, vowel_next) {
            ("a", true) => out.push_str("an"),
            ("A", true) => out.push_str("An"),
            _ => out.push_str(w),
        }
    }
    out
}

fn cap(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---- layout and anchors ---------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    Rust,
    RustTest,
    Python,
    PyTest,
    Markdown,
    Toml,
    CargoLock,
    Yaml,
    Shell,
    Json,
    Exprs,
    Fixed,
}

struct Spec {
    path: &'static str,
    kind: Kind,
    /// Approximate size in bytes (varies by ±25% with the seed).
    size: usize,
}

const fn spec(path: &'static str, kind: Kind, size: usize) -> Spec {
    Spec { path, kind, size }
}

/// The project's files: the same for every seed.
const LAYOUT: &[Spec] = &[
    spec(".github/workflows/ci.yml", Kind::Yaml, 1800),
    spec(".github/workflows/release.yml", Kind::Yaml, 1400),
    spec(".gitignore", Kind::Fixed, 0),
    spec("CHANGELOG.md", Kind::Markdown, 6000),
    spec("Cargo.lock", Kind::CargoLock, 30000),
    spec("Cargo.toml", Kind::Fixed, 0),
    spec("LICENSE", Kind::Fixed, 0),
    spec("README.md", Kind::Markdown, 4200),
    spec("benches/eval_bench.rs", Kind::Rust, 2200),
    spec("benches/parse_bench.rs", Kind::Rust, 2500),
    spec("build.rs", Kind::Rust, 900),
    spec("docs/architecture.md", Kind::Markdown, 7000),
    spec("docs/cli.md", Kind::Markdown, 3000),
    spec("docs/config.md", Kind::Markdown, 3500),
    spec("docs/contributing.md", Kind::Markdown, 2500),
    spec("docs/design/caching.md", Kind::Markdown, 5000),
    spec("docs/design/expressions.md", Kind::Markdown, 6000),
    spec("docs/plugins.md", Kind::Markdown, 4000),
    spec("docs/server.md", Kind::Markdown, 3000),
    spec("examples/basic.rs", Kind::Rust, 1200),
    spec("examples/plugin.rs", Kind::Rust, 1500),
    spec("examples/server.rs", Kind::Rust, 1800),
    spec("rustfmt.toml", Kind::Fixed, 0),
    spec("scripts/bench.py", Kind::Python, 3500),
    spec("scripts/check.sh", Kind::Shell, 900),
    spec("scripts/gen_fixtures.py", Kind::Python, 2500),
    spec("scripts/release.sh", Kind::Shell, 1600),
    spec("src/cli.rs", Kind::Rust, 6500),
    spec("src/config.rs", Kind::Rust, 7000),
    spec("src/error.rs", Kind::Rust, 2500),
    spec("src/eval/builtins.rs", Kind::Rust, 28000),
    spec("src/eval/env.rs", Kind::Rust, 4500),
    spec("src/eval/mod.rs", Kind::Rust, 6000),
    spec("src/eval/value.rs", Kind::Rust, 5000),
    spec("src/lib.rs", Kind::Rust, 1200),
    spec("src/logging.rs", Kind::Rust, 2200),
    spec("src/main.rs", Kind::Rust, 1500),
    spec("src/metrics.rs", Kind::Rust, 4000),
    spec("src/net/client.rs", Kind::Rust, 6500),
    spec("src/net/mod.rs", Kind::Rust, 600),
    spec("src/net/retry.rs", Kind::Rust, 3000),
    spec("src/net/tls.rs", Kind::Rust, 2500),
    spec("src/output/json.rs", Kind::Rust, 3200),
    spec("src/output/mod.rs", Kind::Rust, 1800),
    spec("src/output/table.rs", Kind::Rust, 4500),
    spec("src/parser/ast.rs", Kind::Rust, 5500),
    spec("src/parser/expr.rs", Kind::Rust, 9000),
    spec("src/parser/lexer.rs", Kind::Rust, 34000),
    spec("src/parser/mod.rs", Kind::Rust, 4000),
    spec("src/plugin.rs", Kind::Rust, 5500),
    spec("src/server/handlers.rs", Kind::Rust, 22000),
    spec("src/server/middleware.rs", Kind::Rust, 3500),
    spec("src/server/mod.rs", Kind::Rust, 2500),
    spec("src/server/routes.rs", Kind::Rust, 3000),
    spec("src/storage/cache.rs", Kind::Rust, 6000),
    spec("src/storage/index.rs", Kind::Rust, 5500),
    spec("src/storage/mod.rs", Kind::Rust, 1200),
    spec("src/storage/wal.rs", Kind::Rust, 7500),
    spec("src/util/mod.rs", Kind::Rust, 500),
    spec("src/util/strings.rs", Kind::Rust, 3500),
    spec("src/util/time.rs", Kind::Rust, 2500),
    spec("tests/cache_test.rs", Kind::RustTest, 3500),
    spec("tests/cli_test.rs", Kind::RustTest, 4000),
    spec("tests/common/mod.rs", Kind::Rust, 1500),
    spec("tests/config_test.rs", Kind::RustTest, 3000),
    spec("tests/eval_test.rs", Kind::RustTest, 5500),
    spec("tests/fixtures/expected.json", Kind::Json, 2500),
    spec("tests/fixtures/exprs.txt", Kind::Exprs, 1500),
    spec("tests/fixtures/sample.toml", Kind::Toml, 900),
    spec("tests/parser_test.rs", Kind::RustTest, 5000),
    spec("tests/server_test.rs", Kind::RustTest, 4500),
    spec("tools/py/pyproject.toml", Kind::Fixed, 0),
    spec("tools/py/quill_client/__init__.py", Kind::Fixed, 0),
    spec("tools/py/quill_client/client.py", Kind::Python, 5000),
    spec("tools/py/quill_client/models.py", Kind::Python, 3500),
    spec("tools/py/tests/test_client.py", Kind::PyTest, 4000),
    spec("tools/py/tests/test_models.py", Kind::PyTest, 3000),
];

/// The wrong assertion in `tests/parser_test.rs` that the "fix the failing
/// test" task corrects (and that makes `cargo test` fail until it does).
const NESTED_BAD: &str = "    assert_eq!(ast.depth(), 3);";

/// The inverted comparison in `src/storage/cache.rs` that keeps expired
/// entries (and fails `evicts_expired_entries` until it is fixed).
const CACHE_BAD: &str = "entry.expires_at < now";

/// Tests that `cargo test` reports as failing while a file still holds the
/// bug: (test name, file with the bug, buggy text, panic message).
const KNOWN_BUGS: &[(&str, &str, &str, &str)] = &[
    (
        "parses_nested_groups",
        "tests/parser_test.rs",
        NESTED_BAD,
        "assertion `left == right` failed\n  left: 2\n right: 3",
    ),
    (
        "evicts_expired_entries",
        "src/storage/cache.rs",
        CACHE_BAD,
        "assertion `left == right` failed\n  left: 0\n right: 1",
    ),
];

/// Fixed snippets that scripted steps read, grep and edit: each occurs
/// exactly once in a fresh workspace whatever the seed (the generated filler
/// draws from word lists that none of them use).
fn anchor(path: &str) -> String {
    match path {
        "src/cli.rs" => r#"/// How results are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// One JSON document per result.
    Json,
}

/// Command-line arguments.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub input: Option<String>,
    pub format: OutputFormat,
    pub quiet: bool,
}

impl Args {
    /// Parses `std::env::args()`-style words (without the program name).
    pub fn parse_from(words: &[String]) -> Result<Args, CliError> {
        let mut args = Args::default();
        let mut it = words.iter();
        while let Some(word) = it.next() {
            match word.as_str() {
                "--quiet" | "-q" => args.quiet = true,
                "--json" => args.format = OutputFormat::Json,
                "--input" | "-i" => args.input = it.next().cloned(),
                other => return Err(CliError::UnknownFlag(other.to_string())),
            }
        }
        Ok(args)
    }

    /// The log level these arguments ask for.
    pub fn log_level(&self) -> LogLevel {
        if self.quiet {
            LogLevel::Warn
        } else {
            LogLevel::Info
        }
    }
}

"#
        .to_string(),
        "src/logging.rs" => r#"/// How much the CLI and the server log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Installs the global logger at `level`; later calls are ignored.
pub fn init(level: LogLevel) {
    let _ = LOGGER.set(Logger { level });
}

"#
        .to_string(),
        "src/main.rs" => r#"fn main() -> std::process::ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let args = match quill::cli::Args::parse_from(&words) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("quill: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    quill::logging::init(args.log_level());
    quill::run(args)
}

"#
        .to_string(),
        "src/parser/ast.rs" => r#"/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Number(f64),
    Ident(String),
    Binary(Box<Ast>, BinOp, Box<Ast>),
    Group(Box<Ast>),
}

impl Ast {
    /// Nesting depth: a leaf is 0, each operator or group adds one, but a
    /// group directly around a binary operation does not count twice.
    pub fn depth(&self) -> usize {
        match self {
            Ast::Number(_) | Ast::Ident(_) => 0,
            Ast::Binary(l, _, r) => 1 + l.depth().max(r.depth()),
            Ast::Group(inner) => match **inner {
                Ast::Binary(..) => inner.depth(),
                _ => 1 + inner.depth(),
            },
        }
    }
}

"#
        .to_string(),
        "src/parser/mod.rs" => r#"pub mod ast;
pub mod expr;
pub mod lexer;

pub use ast::Ast;

/// Parses one expression: lexes the text, then runs the Pratt parser in
/// `expr` over the tokens.
pub fn parse(text: &str) -> Result<Ast, ParseError> {
    let tokens = lexer::tokenize(text)?;
    expr::parse_tokens(&tokens)
}

"#
        .to_string(),
        "src/eval/mod.rs" => r#"pub mod builtins;
pub mod env;
pub mod value;

use crate::parser::Ast;

/// Evaluates a parsed expression in an environment.
pub fn eval(ast: &Ast, env: &mut env::Env) -> Result<value::Value, EvalError> {
    match ast {
        Ast::Number(n) => Ok(value::Value::Number(*n)),
        Ast::Ident(name) => env.lookup(name).or_else(|| builtins::constant(name)).ok_or_else(|| EvalError::Unbound(name.clone())),
        Ast::Binary(l, op, r) => builtins::apply(*op, eval(l, env)?, eval(r, env)?),
        Ast::Group(inner) => eval(inner, env),
    }
}

"#
        .to_string(),
        "src/eval/builtins.rs" => r#"/// Named constants every environment sees.
pub fn constant(name: &str) -> Option<Value> {
    match name {
        "pi" => Some(Value::Number(std::f64::consts::PI)),
        "e" => Some(Value::Number(std::f64::consts::E)),
        _ => None,
    }
}

/// Builtin functions by name: (arity, implementation).
pub static BUILTINS: &[(&str, usize, fn(&[Value]) -> Result<Value, EvalError>)] = &[
    ("abs", 1, builtin_abs),
    ("min", 2, builtin_min),
    ("max", 2, builtin_max),
    ("len", 1, builtin_len),
];

"#
        .to_string(),
        "src/storage/cache.rs" => format!(r#"/// One cached value and when it stops being valid.
#[derive(Debug, Clone)]
pub struct CacheEntry {{
    pub value: Vec<u8>,
    pub expires_at: Instant,
}}

/// A time-bounded cache of evaluated results.
#[derive(Debug, Default)]
pub struct ResultCache {{
    entries: HashMap<String, CacheEntry>,
    ttl: Duration,
}}

impl ResultCache {{
    /// Drops every entry whose deadline has passed; returns how many.
    pub fn evict_expired(&mut self, now: Instant) -> usize {{
        let before = self.entries.len();
        self.entries.retain(|_, entry| {CACHE_BAD});
        before - self.entries.len()
    }}
}}

"#
        ),
        "tests/cache_test.rs" => r#"#[test]
fn evicts_expired_entries() {
    let mut cache = quill::storage::cache::ResultCache::with_ttl(Duration::from_millis(10));
    cache.insert("a", b"1".to_vec());
    let later = Instant::now() + Duration::from_secs(1);
    assert_eq!(cache.evict_expired(later), 1);
    assert!(cache.is_empty());
}

"#
        .to_string(),
        "tests/parser_test.rs" => format!(
            r#"#[test]
fn parses_nested_groups() {{
    let ast = parse("((a + b) * c)").unwrap();
{NESTED_BAD}
}}

"#
        ),
        "src/util/strings.rs" => r#"/// Lower-cases a config or index key and turns `-` and spaces into `_`.
pub fn normalize_key(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() })
        .collect()
}

"#
        .to_string(),
        "src/storage/index.rs" => r#"use crate::util::strings::normalize_key;

/// Looks a name up in the index, whatever its spelling.
pub fn find(index: &HashMap<String, usize>, name: &str) -> Option<usize> {
    index.get(&normalize_key(name)).copied()
}

"#
        .to_string(),
        "src/config.rs" => r#"use crate::util::strings::normalize_key;

/// The configuration file (`quill.toml`): every key is optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Config {
    /// Address the server listens on (default `127.0.0.1:7878`).
    pub listen: Option<String>,
    /// Seconds a cached result stays valid (default 300).
    pub cache_ttl_s: Option<u64>,
    /// Extra plugin directories.
    pub plugin_dirs: Vec<String>,
}

impl Config {
    /// Reads and parses a configuration file; keys are matched after
    /// `normalize_key`, so `cache-ttl-s` and `Cache TTL S` both work.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)?;
        let table: toml::Table = text.parse()?;
        let table: toml::Table = table.into_iter().map(|(k, v)| (normalize_key(&k), v)).collect();
        Ok(table.try_into()?)
    }
}

"#
        .to_string(),
        "src/net/client.rs" => r#"/// A blocking HTTP client for a remote quill server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// Sends one expression to `/eval` and returns the server's answer.
    pub fn eval_remote(&self, expr: &str) -> Result<String, NetError> {
        let request = self.build_request(expr);
        let response = self.send_request(&request)?;
        Ok(response.into_string()?)
    }

    fn send_request(&self, request: &Request) -> Result<ureq::Response, NetError> {
        Ok(self.agent.post(&format!("{}/eval", self.base)).send_string(&request.body)?)
    }
}

"#
        .to_string(),
        "src/net/retry.rs" => r#"/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// Runs `op` until it succeeds or `policy.attempts` are used up, sleeping
/// `base_delay * 2^n` (capped at `max_delay`) between attempts.
pub fn with_retry<T, E>(policy: &RetryPolicy, mut op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut delay = policy.base_delay;
    let mut attempt = 1;
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= policy.attempts => return Err(e),
            Err(_) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(policy.max_delay);
                attempt += 1;
            }
        }
    }
}

"#
        .to_string(),
        "scripts/bench.py" => r#"import argparse
import statistics
import subprocess


def main():
    parser = argparse.ArgumentParser(description="Time quill on the fixture expressions.")
    parser.add_argument("--runs", type=int, default=5, help="repetitions per expression")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    results = run_all(args.runs)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, times in results.items():
            print(f"{name:30} {statistics.median(times) * 1000:8.2f} ms")

"#
        .to_string(),
        "docs/cli.md" => r#"## Flags

| Flag | Meaning |
|------|---------|
| `--input`, `-i` | Read expressions from a file instead of stdin. |
| `--json` | Print one JSON document per result. |
| `--quiet`, `-q` | Only print warnings and errors. |

"#
        .to_string(),
        "README.md" => r#"## Installation

```sh
cargo install --path .
```

## Usage

```sh
echo '(1 + 2) * pi' | quill
quill --json --input exprs.txt
quill serve --listen 127.0.0.1:7878
```

"#
        .to_string(),
        "tests/fixtures/sample.toml" => {
            "listen = \"127.0.0.1:7878\"\ncache-ttl-s = 300\nplugin_dirs = [\"plugins\"]\n\n".to_string()
        }
        _ => String::new(),
    }
}

/// Whole files that do not vary with the seed.
fn fixed(path: &str) -> String {
    match path {
        ".gitignore" => "/target\n**/*.rs.bk\n__pycache__/\n*.pyc\n.venv/\n/bench-results/\n".to_string(),
        "Cargo.toml" => r#"[package]
name = "quill"
version = "0.4.2"
edition = "2021"
description = "A tiny expression language: CLI, HTTP server and plugins"
license = "MIT"
repository = "https://example.com/quill/quill"

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
toml = "0.8"
thiserror = "1"
ureq = "2"
axum = "0.7"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
tracing = "0.1"

[dev-dependencies]
criterion = "0.5"
tempfile = "3"

[[bench]]
name = "parse_bench"
harness = false

[[bench]]
name = "eval_bench"
harness = false

[profile.release]
lto = "thin"
codegen-units = 1
"#
        .to_string(),
        "LICENSE" => "MIT License\n\nCopyright (c) 2024 The quill authors\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software and associated documentation files (the \"Software\"), to deal\nin the Software without restriction, including without limitation the rights\nto use, copy, modify, merge, publish, distribute, sublicense, and/or sell\ncopies of the Software, and to permit persons to whom the Software is\nfurnished to do so, subject to the following conditions:\n\nThe above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\nIMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\nFITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\nAUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\nLIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\nOUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\nSOFTWARE.\n".to_string(),
        "rustfmt.toml" => "edition = \"2021\"\nmax_width = 100\n".to_string(),
        "tools/py/pyproject.toml" => "[project]\nname = \"quill-client\"\nversion = \"0.4.2\"\ndescription = \"Python client for the quill server\"\nrequires-python = \">=3.10\"\ndependencies = [\"httpx>=0.27\"]\n\n[project.optional-dependencies]\ntest = [\"pytest>=8\"]\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n".to_string(),
        "tools/py/quill_client/__init__.py" => "\"\"\"Python client for the quill expression server.\"\"\"\n\nfrom .client import Client\nfrom .models import Result\n\n__all__ = [\"Client\", \"Result\"]\n__version__ = \"0.4.2\"\n".to_string(),
        _ => String::new(),
    }
}

/// One file's generated contents for a seed.
fn generate(seed: u64, spec: &Spec) -> String {
    let mut g = Gen::new(mix(seed, spec.path));
    // ±25% around the nominal size.
    let size = spec.size * (75 + g.below(51)) / 100;
    let anchor = anchor(spec.path);
    match spec.kind {
        Kind::Rust => g.rust_file(spec.path, size, &anchor),
        Kind::RustTest => g.rust_test_file(size, &anchor),
        Kind::Python => g.python_file(size, &anchor),
        Kind::PyTest => g.pytest_file(size),
        Kind::Markdown => {
            let name = spec
                .path
                .rsplit('/')
                .next()
                .unwrap_or(spec.path)
                .trim_end_matches(".md");
            let title = if name == "README" {
                "quill".to_string()
            } else {
                cap(&name.replace('-', " "))
            };
            let mut text = g.markdown(&title, size, &anchor);
            if spec.path == "README.md" {
                text.push_str("## License\n\nMIT, see `LICENSE`.\n");
            }
            text
        }
        Kind::Toml => {
            let mut text = anchor;
            text.push_str(&g.toml_file(size));
            text
        }
        Kind::CargoLock => g.cargo_lock(size),
        Kind::Yaml => {
            let name = if spec.path.contains("release") {
                "release"
            } else {
                "ci"
            };
            g.yaml_file(name, size)
        }
        Kind::Shell => g.shell_file(size),
        Kind::Json => g.json_file(size),
        Kind::Exprs => g.exprs_file(size),
        Kind::Fixed => fixed(spec.path),
    }
}

#[cfg(test)]
mod golden_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn anchors_are_unique_for_many_seeds() {
        for seed in 0..40 {
            let ws = Workspace::new(seed);
            for path in ws.paths() {
                let anchor = anchor(&path);
                if anchor.is_empty() {
                    continue;
                }
                let text = &ws.files[&path];
                assert_eq!(
                    text.matches(anchor.as_str()).count(),
                    1,
                    "{path} seed {seed}"
                );
            }
            let all: String = ws.files.values().map(|t| &**t).collect();
            for unique in [
                NESTED_BAD,
                "pub quiet: bool,\n}",
                CACHE_BAD,
                "## License",
                "if args.json:",
                "self.send_request(&request)?",
            ] {
                assert_eq!(all.matches(unique).count(), 1, "{unique} seed {seed}");
            }
        }
    }

    #[test]
    fn read_numbers_lines_and_honours_offset_limit() {
        let mut ws = Workspace::new(0);
        let text = ws.files["src/cli.rs"].clone();
        let out = call(
            &mut ws,
            "read",
            json!({"filePath": format!("{ROOT}/src/cli.rs")}),
        );
        assert!(
            out.starts_with(&format!(
                "<path>{ROOT}/src/cli.rs</path>\n<type>file</type>\n<content>\n1: "
            )),
            "{out}"
        );
        assert!(out.ends_with(&format!(
            "(End of file - total {} lines)\n</content>",
            text.lines().count()
        )));
        let out = call(
            &mut ws,
            "read",
            json!({"filePath": "src/cli.rs", "offset": 3, "limit": 2}),
        );
        let line3 = text.lines().nth(2).unwrap_or_default();
        assert!(out.contains(&format!("\n3: {line3}\n")), "{out}");
        assert!(!out.contains("\n5: "));
        assert!(out.contains("(Showing lines 3-4 of"));
        assert_eq!(
            call(&mut ws, "read", json!({"filePath": "nope.rs"})),
            "Error: file not found: nope.rs"
        );
        let dir = call(&mut ws, "read", json!({"filePath": "src/net"}));
        assert!(dir.contains("client.rs\nmod.rs\nretry.rs\ntls.rs"), "{dir}");
    }

    #[test]
    fn edit_then_read_shows_the_change() {
        let mut ws = Workspace::new(5);
        let out = call(
            &mut ws,
            "edit",
            json!({"filePath": format!("{ROOT}/src/cli.rs"), "oldString": "    pub quiet: bool,\n}", "newString": "    pub quiet: bool,\n    pub verbose: bool,\n}"}),
        );
        assert_eq!(out, "Edit applied successfully.");
        let read = call(&mut ws, "read", json!({"filePath": "src/cli.rs"}));
        assert!(read.contains(":     pub verbose: bool,\n"), "{read}");
        // Not found, ambiguous, replaceAll.
        let out = call(
            &mut ws,
            "edit",
            json!({"filePath": "src/cli.rs", "oldString": "no such text", "newString": "x"}),
        );
        assert!(out.starts_with("Error: oldString not found"), "{out}");
        let out = call(
            &mut ws,
            "edit",
            json!({"filePath": "src/cli.rs", "oldString": "args.", "newString": "a."}),
        );
        assert!(out.starts_with("Error: Found "), "{out}");
        let out = call(
            &mut ws,
            "edit",
            json!({"filePath": "src/cli.rs", "oldString": "args.", "newString": "a.", "replaceAll": true}),
        );
        assert_eq!(out, "Edit applied successfully.");
        assert!(!ws.files["src/cli.rs"].contains("args."));
        // git sees it.
        let status = call(&mut ws, "bash", json!({"command": "git status"}));
        assert!(status.contains("modified:   src/cli.rs"), "{status}");
        let diff = call(&mut ws, "bash", json!({"command": "git diff"}));
        assert!(diff.contains("+    pub verbose: bool,"), "{diff}");
        // write: new file, untracked.
        assert_eq!(
            call(
                &mut ws,
                "write",
                json!({"filePath": "tests/new_test.rs", "content": "#[test]\nfn works() {}\n"})
            ),
            "Wrote file successfully."
        );
        let status = call(&mut ws, "bash", json!({"command": "git status"}));
        assert!(
            status.contains("Untracked files:") && status.contains("\ttests/new_test.rs"),
            "{status}"
        );
        assert!(call(
            &mut ws,
            "bash",
            json!({"command": "cargo test --test new_test"})
        )
        .contains("test works ... ok"));
    }

    #[test]
    fn glob_patterns() {
        assert!(seg_matches("*.rs", "cli.rs"));
        assert!(!seg_matches("*.rs", "cli.rsx"));
        assert!(seg_matches("c?i.*", "cli.rs"));
        assert!(path_matches("src/**/*.rs", "src/cli.rs"));
        assert!(path_matches("src/**/*.rs", "src/parser/ast.rs"));
        assert!(!path_matches("src/*.rs", "src/parser/ast.rs"));
        assert!(path_matches("*.rs", "src/parser/ast.rs"));
        assert!(path_matches("**/mod.rs", "tests/common/mod.rs"));
        assert_eq!(expand_braces("*.{rs,py}"), vec!["*.rs", "*.py"]);
        assert_eq!(expand_braces("a{b,c{d,e}}f"), vec!["abf", "acdf", "acef"]);

        let mut ws = Workspace::new(0);
        let out = call(&mut ws, "glob", json!({"pattern": "src/net/*.{rs,py}"}));
        let want: Vec<String> = ["client", "mod", "retry", "tls"]
            .iter()
            .map(|f| format!("{ROOT}/src/net/{f}.rs"))
            .collect();
        assert_eq!(out, want.join("\n"));
        let out = call(
            &mut ws,
            "glob",
            json!({"pattern": "**/*.py", "path": format!("{ROOT}/tools")}),
        );
        assert_eq!(out.lines().count(), 5, "{out}");
        let out = call(&mut ws, "glob", json!({"pattern": "*.md", "path": "docs"}));
        assert_eq!(out.lines().count(), 8, "{out}");
        assert_eq!(
            call(&mut ws, "glob", json!({"pattern": "*.zig"})),
            "No files found"
        );
        assert!(
            call(&mut ws, "glob", json!({"pattern": "*", "path": "nope"}))
                .starts_with("Error: directory not found")
        );
    }

    #[test]
    fn grep_matches_includes_and_truncates() {
        let mut ws = Workspace::new(0);
        let out = call(&mut ws, "grep", json!({"pattern": "normalize_key\\("}));
        let files: BTreeSet<&str> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split(':').next())
            .collect();
        let want: BTreeSet<String> = [
            "src/config.rs",
            "src/storage/index.rs",
            "src/util/strings.rs",
        ]
        .iter()
        .map(|p| abs(p))
        .collect();
        assert_eq!(files, want.iter().map(String::as_str).collect());
        let line = out
            .lines()
            .find(|l| l.contains("strings.rs"))
            .unwrap_or_default();
        let n: usize = line
            .split(':')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert_eq!(
            ws.files["src/util/strings.rs"]
                .lines()
                .nth(n - 1)
                .map(|l| l.contains("normalize_key(")),
            Some(true)
        );
        let out = call(
            &mut ws,
            "grep",
            json!({"pattern": "normalize_key", "include": "*.py"}),
        );
        assert_eq!(out, "No files found");
        let out = call(
            &mut ws,
            "grep",
            json!({"pattern": "normalize_key", "path": "src/util"}),
        );
        assert!(out.starts_with("Found 1 matches\n"), "{out}");
        let out = call(&mut ws, "grep", json!({"pattern": "fn "}));
        assert!(out.ends_with("(results truncated)"));
        assert_eq!(out.lines().filter(|l| l.starts_with(ROOT)).count(), 100);
        assert!(call(&mut ws, "grep", json!({"pattern": "("})).starts_with("Error: invalid regex"));
    }

    #[test]
    fn hostile_arguments_do_not_hang_or_panic() {
        let mut ws = Workspace::new(0);
        let deep = "**/".repeat(500) + "x.rs";
        assert_eq!(
            call(&mut ws, "glob", json!({"pattern": deep})),
            "No files found"
        );
        let braces = "{a,b}".repeat(2000);
        assert_eq!(
            call(&mut ws, "glob", json!({"pattern": braces})),
            "No files found"
        );
        let out = call(
            &mut ws,
            "read",
            json!({"filePath": "src/cli.rs", "offset": u64::MAX, "limit": u64::MAX}),
        );
        assert!(out.starts_with("Error: offset"), "{out}");
        let out = call(
            &mut ws,
            "read",
            json!({"filePath": "src/cli.rs", "limit": 0}),
        );
        assert!(out.contains("(End of file"), "{out}");
        for tool in TOOL_NAMES {
            for args in [
                "",
                "null",
                "{}",
                "[]",
                "{\"filePath\": {}}",
                "\u{0}",
                "{\"pattern\": \"\\\\\"}",
            ] {
                let out = ws.run_tool(tool, args);
                assert!(!out.is_empty(), "{tool} {args}");
            }
        }
        assert!(
            call(&mut ws, "read", json!({"filePath": "../../etc/passwd"})).starts_with("Error:")
        );
        assert!(call(
            &mut ws,
            "write",
            json!({"filePath": "/etc/x", "content": ""})
        )
        .starts_with("Error:"));
        assert!(
            call(&mut ws, "write", json!({"filePath": "src", "content": ""})).starts_with("Error:")
        );
    }

    #[test]
    fn argument_errors_name_the_argument() {
        let mut ws = Workspace::new(0);
        let out = ws.run_tool("read", "{\"offset\": 1}");
        assert!(
            out.starts_with("Error:") && out.contains("`filePath`"),
            "{out}"
        );
        let out = ws.run_tool("edit", "{not json");
        assert!(
            out.starts_with("Error:") && out.contains("not valid JSON"),
            "{out}"
        );
        let out = ws.run_tool("read", "{\"filePath\": 3}");
        assert!(out.contains("`filePath` must be a string"), "{out}");
        let out = ws.run_tool("todowrite", "{\"todos\": [{\"content\": \"x\"}]}");
        assert!(out.contains("todos[0].status"), "{out}");
        assert_eq!(ws.run_tool("frob", "{}"), "Error: unknown tool: frob");
        assert!(ws.run_tool("read", "[1]").starts_with("Error:"));
        assert!(ws.run_tool("bash", "").contains("`command`"));
        assert!(ws
            .run_tool("read", &json!({"filePath": "/etc/passwd"}).to_string())
            .starts_with("Error:"));
        assert!(ws
            .run_tool(
                "read",
                &json!({"filePath": "src/cli.rs", "offset": 100000}).to_string()
            )
            .starts_with("Error: offset"));
    }

    #[test]
    fn bash_outputs() {
        let mut ws = Workspace::new(11);
        let out = call(&mut ws, "bash", json!({"command": "cargo test"}));
        let n = out.lines().count();
        assert!((40..=150).contains(&n), "{n}\n{out}");
        assert!(
            out.contains("test evicts_expired_entries ... FAILED")
                && !out.contains("parses_nested_groups"),
            "{out}"
        );
        let out = call(
            &mut ws,
            "bash",
            json!({"command": "cargo test --no-fail-fast"}),
        );
        assert_eq!(out.matches("... FAILED").count(), 2, "{out}");
        let out = call(
            &mut ws,
            "bash",
            json!({"command": "cargo test --test cache_test"}),
        );
        assert!(
            out.contains("test evicts_expired_entries ... FAILED") && out.contains("left: 0"),
            "{out}"
        );
        call(
            &mut ws,
            "edit",
            json!({"filePath": "tests/parser_test.rs", "oldString": NESTED_BAD, "newString": "    assert_eq!(ast.depth(), 2);"}),
        );
        let out = call(
            &mut ws,
            "bash",
            json!({"command": "cargo test --test parser_test"}),
        );
        assert!(
            out.contains("test parses_nested_groups ... ok") && !out.contains("FAILED"),
            "{out}"
        );
        let out = call(
            &mut ws,
            "bash",
            json!({"command": "cd tools/py && pytest -q"}),
        );
        let n = out.lines().count();
        assert!(
            (40..=150).contains(&n) && out.contains(" passed"),
            "{n}\n{out}"
        );
        assert_eq!(
            call(&mut ws, "bash", json!({"command": "git status"}))
                .lines()
                .count(),
            9
        );
        let ls = call(&mut ws, "bash", json!({"command": "ls src/net"}));
        assert_eq!(ls, "client.rs\nmod.rs\nretry.rs\ntls.rs\n");
        let help = call(
            &mut ws,
            "bash",
            json!({"command": "python scripts/bench.py --help"}),
        );
        assert!(
            help.contains("--json") && help.contains("print results as JSON"),
            "{help}"
        );
        assert!(!call(&mut ws, "bash", json!({"command": "make lint"})).is_empty());
        let page = call(
            &mut ws,
            "webfetch",
            json!({"url": "https://docs.python.org/3/library/csv.html", "format": "markdown"}),
        );
        assert!(
            (2000..6000).contains(&page.len()) && page.starts_with("# Csv"),
            "{page}"
        );
        let summary = call(
            &mut ws,
            "task",
            json!({"description": "d", "prompt": "p", "subagent_type": "explore"}),
        );
        let words = summary.split_whitespace().count();
        assert!((200..800).contains(&words), "{words}");
        let todos = json!({"todos": [{"content": "a", "status": "pending", "priority": "high"}]});
        assert_eq!(
            call(&mut ws, "todowrite", todos.clone()),
            serde_json::to_string_pretty(&todos["todos"]).unwrap_or_default()
        );
        let list = call(&mut ws, "list", json!({"path": "src/net"}));
        assert_eq!(
            list,
            format!("{ROOT}/src/net/\n  client.rs\n  mod.rs\n  retry.rs\n  tls.rs")
        );
        let list = call(
            &mut ws,
            "list",
            json!({"ignore": ["src/", "docs/", "tools/", "tests/", ".github/"]}),
        );
        assert!(
            list.contains("\n  scripts/\n    bench.py") && !list.contains("cli.rs"),
            "{list}"
        );
    }
}
