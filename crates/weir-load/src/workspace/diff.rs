//! The hunk `git diff` shows for a changed file.

use std::fmt::Write as _;

/// One unified-diff hunk spanning from the first to the last changed line.
pub(super) fn unified_hunk(old: &str, new: &str) -> String {
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
