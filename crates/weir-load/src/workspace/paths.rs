//! Workspace paths as the agent writes them (absolute under [`ROOT`] or
//! relative), and as tools show them (absolute).

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

/// The absolute path of a relative one.
pub(super) fn abs(rel: &str) -> String {
    if rel.is_empty() {
        ROOT.to_string()
    } else {
        format!("{ROOT}/{rel}")
    }
}

/// The error for a path outside the workspace.
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
