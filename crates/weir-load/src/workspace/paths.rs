//! Paths and patterns: workspace paths as the agent writes them (absolute
//! under [`ROOT`] or relative), and the glob patterns of `glob`, `grep
//! --include` and `list --ignore`.

use super::ROOT;

/// A path argument (absolute under [`ROOT`], or relative to it) as a clean
/// relative path (`""` for the root); None when it points outside.
pub(super) fn resolve(path: &str) -> Option<String> {
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

pub(super) fn abs(rel: &str) -> String {
    if rel.is_empty() {
        ROOT.to_string()
    } else {
        format!("{ROOT}/{rel}")
    }
}

pub(super) fn outside(path: &str) -> String {
    format!("Error: path is outside the workspace ({ROOT}): {path}")
}

/// Whether `path` is `dir` itself or lies under it (`dir` "" is the root).
pub(super) fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// `path` relative to `dir` (for a file itself: its name).
pub(super) fn strip_dir<'a>(path: &'a str, dir: &str) -> &'a str {
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
pub(super) fn expand_braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out, 0);
    out
}

pub(super) fn expand_into(pattern: &str, out: &mut Vec<String>, depth: usize) {
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
pub(super) fn path_matches(pattern: &str, path: &str) -> bool {
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

pub(super) fn segments_match(pats: &[&str], segs: &[&str]) -> bool {
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
pub(super) fn seg_matches(pattern: &str, text: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
