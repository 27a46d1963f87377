//! Glob patterns, as `glob`, `grep --include` and `list --ignore` take
//! them: `{a,b}` alternatives (nested too), `*` and `?` within one path
//! segment, `**` for any number of segments; a pattern without `/` matches
//! the file name at any depth (as ripgrep's `--glob`); `[` and the other
//! characters stand for themselves.
//!
//! Matching is globset's. Two parts stay our own, to keep every tool result
//! as it was: brace expansion (globset errors on an unclosed `{` and has no
//! cap, where these tools keep such braces literally and stop at 64
//! alternatives), and the small translation in `path_globs` (character
//! classes escaped, empty segments and a leading `./` or `/` dropped, and
//! `dir/**` also matching `dir` itself). One difference remains: globset's
//! `?` matches one byte, so against a non-ASCII character in a file name
//! (only a name the agent itself wrote can hold one) `?` no longer matches.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Expands `{a,b}` alternatives (nested too) into plain patterns, at most
/// 64 of them and 16 groups deep (past that the braces are kept literally).
pub(super) fn expand_braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out, 0);
    out
}

/// Appends the expansions of `pattern` to `out`, `depth` groups deep.
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

/// Brace-free patterns compiled for matching relative paths and single
/// path segments.
pub(super) struct Patterns {
    /// Some pattern is `**` (alone): every path matches.
    all: bool,
    /// The patterns as globs over a whole relative path.
    paths: GlobSet,
    /// The patterns with any trailing `/` dropped, as globs over one path
    /// segment (those with a `/` left can match no segment).
    segments: GlobSet,
}

impl Patterns {
    /// Compiles brace-free patterns (from [`expand_braces`]).
    pub(super) fn new(patterns: &[String]) -> Patterns {
        let mut all = false;
        let mut paths = Vec::new();
        let mut segments = Vec::new();
        for pattern in patterns {
            match path_globs(pattern) {
                PathGlobs::All => all = true,
                PathGlobs::Some(globs) => paths.extend(globs),
            }
            let segment = pattern.trim_end_matches('/');
            if !segment.contains('/') && !segment.is_empty() {
                segments.push(segment_glob(segment));
            }
        }
        Patterns {
            all,
            paths: glob_set(&paths),
            segments: glob_set(&segments),
        }
    }

    /// Whether some pattern matches this relative path.
    pub(super) fn matches_path(&self, path: &str) -> bool {
        self.all || self.paths.is_match(path)
    }

    /// Whether some pattern (trailing `/` dropped) matches this one segment.
    pub(super) fn matches_segment(&self, segment: &str) -> bool {
        self.segments.is_match(segment)
    }
}

/// A pattern as globset globs over a relative path.
enum PathGlobs {
    /// Matches every path.
    All,
    /// Matches a path when one of these globs does (none: nothing).
    Some(Vec<String>),
}

/// Translates one brace-free pattern into globset syntax.
fn path_globs(pattern: &str) -> PathGlobs {
    let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
    if !pattern.contains('/') {
        return match pattern {
            "**" => PathGlobs::All,
            "" => PathGlobs::Some(Vec::new()),
            name => PathGlobs::Some(vec![format!("**/{}", segment_glob(name))]),
        };
    }
    let mut segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    // `**/**` is `**`.
    segments.dedup_by(|a, b| *a == "**" && *b == "**");
    if segments == ["**"] {
        return PathGlobs::All;
    }
    let glob = |segments: &[&str]| {
        segments
            .iter()
            .map(|s| {
                if *s == "**" {
                    "**".to_string()
                } else {
                    segment_glob(s)
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut globs = vec![glob(&segments)];
    // `dir/**` matches `dir` itself too (globset's needs a `/` after it).
    if let [head @ .., "**"] = segments.as_slice() {
        if !head.is_empty() {
            globs.push(glob(head));
        }
    }
    PathGlobs::Some(globs)
}

/// One path segment of a pattern in globset syntax: `*` (runs of them are
/// one) and `?` as they are, `[`, `{` and `}` as literal characters.
fn segment_glob(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        match c {
            '*' if out.ends_with('*') => {}
            '[' => out.push_str("[[]"),
            '{' => out.push_str("[{]"),
            '}' => out.push_str("[}]"),
            c => out.push(c),
        }
    }
    out
}

/// Compiles globs into one set; a glob globset rejects (only one too large
/// for its regex limits) is left out, so it matches nothing.
fn glob_set(globs: &[String]) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let built = GlobBuilder::new(glob)
            .literal_separator(true)
            .backslash_escape(false)
            .build();
        if let Ok(glob) = built {
            set.add(glob);
        }
    }
    set.build().unwrap_or_else(|_| GlobSet::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_matches(pattern: &str, path: &str) -> bool {
        Patterns::new(&[pattern.to_string()]).matches_path(path)
    }

    fn seg_matches(pattern: &str, segment: &str) -> bool {
        Patterns::new(&[pattern.to_string()]).matches_segment(segment)
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
        assert!(path_matches("src/**", "src"));
        assert!(path_matches("[a].rs", "src/[a].rs"));
        assert_eq!(expand_braces("*.{rs,py}"), vec!["*.rs", "*.py"]);
        assert_eq!(expand_braces("a{b,c{d,e}}f"), vec!["abf", "acdf", "acef"]);
        assert_eq!(expand_braces("a{b,c"), vec!["a{b,c"]);
    }

    /// The matcher these tools had before globset, kept as the reference
    /// that globset's answers must equal.
    mod reference {
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

        fn segments_match(pats: &[&str], segs: &[&str]) -> bool {
            match pats.split_first() {
                None => segs.is_empty(),
                Some((&"**", rest)) => {
                    segments_match(rest, segs)
                        || (!segs.is_empty() && segments_match(pats, &segs[1..]))
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
    }

    /// Patterns built from pieces that exercise every rule, against paths
    /// of every shape: globset's answers equal the reference's.
    #[test]
    fn globset_answers_as_the_reference_matcher() {
        const PIECES: &[&str] = &[
            "src", "tests", "parser", "mod.rs", "*", "**", "?", ".rs", "*.rs", "a", "b", "[", "]",
            "[a]", "{", "}", ",", ".", "/", "//", "./", "\\", "x?", "**x", "a**", "***", ".git*",
        ];
        const PATHS: &[&str] = &[
            "src",
            "src/cli.rs",
            "src/parser/mod.rs",
            "src/parser/ast.rs",
            "tests/common/mod.rs",
            "a",
            "a/b",
            "a/b/c",
            "b/a",
            ".github/workflows/ci.yml",
            ".gitignore",
            "[a].rs",
            "src/[a]/x",
            "{a}",
            "a,b",
            "x\\y",
            "mod.rs",
            "ab",
            "aab",
            "a.rs",
            "x.rs/y",
            "src/x",
            "srcx/a",
            "tests/parser/mod.rs",
            "a/./b",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..5_000 {
            let pieces = 1 + next(5);
            let pattern: String = (0..pieces).map(|_| PIECES[next(PIECES.len())]).collect();
            let patterns = Patterns::new(std::slice::from_ref(&pattern));
            for path in PATHS {
                assert_eq!(
                    patterns.matches_path(path),
                    reference::path_matches(&pattern, path),
                    "pattern {pattern:?} path {path:?}"
                );
                for segment in path.split('/') {
                    assert_eq!(
                        patterns.matches_segment(segment),
                        reference::seg_matches(pattern.trim_end_matches('/'), segment),
                        "pattern {pattern:?} segment {segment:?}"
                    );
                }
            }
        }
    }
}
