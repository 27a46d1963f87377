//! The hunk `git diff` shows for a changed file.
//!
//! Hand-written rather than the `similar` crate's unified diff, on purpose:
//! this emulator has always shown one hunk per file, from the first to the
//! last changed line with three lines of context, every old line of that
//! span removed and every new one added. `similar` would split distant
//! changes into separate hunks and keep unchanged lines between them as
//! context, so the `git diff` an agent reads, and with it the next request
//! the load tester sends, would change. The computation is a common prefix
//! and suffix, which needs no diff algorithm.

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

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "a\nb\nc\nd\ne\nf\ng\nh\n";

    #[test]
    fn one_change_gets_three_lines_of_context() {
        let new = OLD.replace('d', "D");
        assert_eq!(
            unified_hunk(OLD, &new),
            "@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n"
        );
    }

    #[test]
    fn distant_changes_share_one_hunk_removed_then_added() {
        let new = OLD.replace('a', "A").replace('h', "H");
        let removed: String = OLD.lines().map(|l| format!("-{l}\n")).collect();
        let added: String = new.lines().map(|l| format!("+{l}\n")).collect();
        assert_eq!(
            unified_hunk(OLD, &new),
            format!("@@ -1,8 +1,8 @@\n{removed}{added}")
        );
    }
}
