//! The file tools an agent calls (`read`, `write`, `edit`, `glob`, `grep`,
//! `list`), and `webfetch`, `task` and `todowrite`, each answering in the
//! words and layout of OpenCode 1.18's tool of that name.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::args::Args;
use super::filler::{mix, Gen};
use super::glob::{expand_braces, Patterns};
use super::paths::{abs, outside, resolve, strip_dir};
use super::Workspace;

/// Lines `read` returns when no `limit` is given (OpenCode's default).
const READ_DEFAULT_LIMIT: usize = 2000;
/// Longest line `read` and `grep` return in full.
const MAX_LINE_CHARS: usize = 2000;
/// Matches `grep` returns before it notes the truncation.
const GREP_MAX_MATCHES: usize = 100;
/// Paths `glob` and `list` return before they note the truncation.
const MAX_PATHS: usize = 100;

impl Workspace {
    /// `read`: a file as numbered lines (from `offset`, at most `limit`), or a
    /// directory's entries.
    pub(super) fn read(&self, args: &Args) -> Result<String, String> {
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

    /// `write`: creates or replaces a file.
    pub(super) fn write(&mut self, args: &Args) -> Result<String, String> {
        let path = args.req_str("filePath")?;
        let content = args.req_str("content")?;
        let rel = resolve(path).ok_or_else(|| outside(path))?;
        if rel.is_empty() || self.is_dir(&rel) {
            return Err(format!("Error: path is a directory: {path}"));
        }
        self.files.insert(rel, content.into());
        Ok("Wrote file successfully.".to_string())
    }

    /// `edit`: replaces a unique `oldString` (or all of them with `replaceAll`).
    pub(super) fn edit(&mut self, args: &Args) -> Result<String, String> {
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

    /// `glob`: the paths under `path` that match a pattern.
    pub(super) fn glob(&self, args: &Args) -> Result<String, String> {
        let pattern = args.req_str("pattern")?;
        let base = self.search_dir(args.opt_str("path")?)?;
        let patterns = Patterns::new(&expand_braces(pattern.trim_start_matches("./")));
        let mut hits: Vec<String> = self
            .files_under(&base)
            .map(|(p, _)| p)
            .filter(|p| {
                let sub = strip_dir(p, &base);
                patterns.matches_path(sub)
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

    /// `grep`: the lines that match a regular expression, as `path:line: text`.
    pub(super) fn grep(&self, args: &Args) -> Result<String, String> {
        let pattern = args.req_str("pattern")?;
        let base = self.search_dir_or_file(args.opt_str("path")?)?;
        let include = args
            .opt_str("include")?
            .map(|include| Patterns::new(&expand_braces(include)));
        let re = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 22)
            .build()
            .map_err(|e| format!("Error: invalid regex pattern `{pattern}`: {e}"))?;
        let mut out = String::new();
        let mut n = 0;
        'files: for (path, text) in self.files_under(&base) {
            if let Some(include) = &include {
                let sub = strip_dir(path, &base);
                if !include.matches_path(sub) {
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

    /// `list`: the tree of files under `path`, less the `ignore` patterns.
    pub(super) fn list(&self, args: &Args) -> Result<String, String> {
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
        let ignore = Patterns::new(&ignore);
        let mut tree = Tree::default();
        let mut count = 0;
        for (path, _) in self.files_under(&base) {
            let sub = strip_dir(path, &base);
            let ignored =
                ignore.matches_path(sub) || sub.split('/').any(|seg| ignore.matches_segment(seg));
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

    /// `webfetch`: a generated page for the URL, in the format asked for.
    pub(super) fn webfetch(&self, args: &Args) -> Result<String, String> {
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

    /// `task`: a sub-agent's report, generated from the prompt.
    pub(super) fn task(&self, args: &Args) -> Result<String, String> {
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
}

/// Echo the todo list as pretty JSON, as OpenCode's todowrite does.
pub(super) fn todowrite(args: &Args) -> Result<String, String> {
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

/// A directory tree for `list`.
#[derive(Default)]
struct Tree {
    dirs: BTreeMap<String, Tree>,
    files: Vec<String>,
}

impl Tree {
    /// Adds a relative file path.
    fn insert(&mut self, path: &str) {
        match path.split_once('/') {
            Some((dir, rest)) => self.dirs.entry(dir.to_string()).or_default().insert(rest),
            None => self.files.push(path.to_string()),
        }
    }

    /// Writes the tree, directories first, two spaces per level.
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

/// A line cut to [`MAX_LINE_CHARS`] characters.
fn clip(line: &str) -> &str {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// A page title from the URL's last path segment.
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::args::TOOL_NAMES;
    use super::super::paths::abs;
    use super::super::{Workspace, ROOT};
    use serde_json::{json, Value};

    fn call(ws: &mut Workspace, name: &str, args: Value) -> String {
        ws.run_tool(name, &args.to_string())
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
    fn glob_lists_matching_paths() {
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
}
