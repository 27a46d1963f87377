//! The synthetic repository's files: which exist (the same for every
//! seed), and what each holds for a seed.
//!
//! Most contents are generated filler (see [`super::filler`]). The fixed
//! parts are data files under `crates/weir-load/data/quill/`, embedded at
//! build time: `fixed/` holds whole files that never vary, `anchors/` the
//! snippets that the OpenCode profile's scripted steps read, grep and edit
//! (each placed once into the generated file of the same path). Every data
//! file is stored under its repository path plus `.txt`
//! (`anchors/tests/parser_test.rs.txt`), so that no compiler, test runner,
//! linter or scanner of this project takes the fake repository's Rust,
//! Python or TOML for its own (the anchors hold `#[test]` functions and a
//! `Cargo.toml`); and every data file ends with one newline that is not
//! part of the text.

use super::filler::{cap, mix, Gen};

/// What a file is, so which generator fills it.
#[derive(Clone, Copy)]
pub(super) enum Kind {
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

/// One file of the layout.
pub(super) struct Spec {
    /// Path relative to the root.
    pub(super) path: &'static str,
    /// Its generator.
    kind: Kind,
    /// Approximate size in bytes (varies by ±25% with the seed).
    size: usize,
}

/// A [`Spec`], short enough for a table.
const fn spec(path: &'static str, kind: Kind, size: usize) -> Spec {
    Spec { path, kind, size }
}

/// The project's files: the same for every seed.
pub(super) const LAYOUT: &[Spec] = &[
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
pub(super) const NESTED_BAD: &str = "    assert_eq!(ast.depth(), 3);";

/// The inverted comparison in `src/storage/cache.rs` that keeps expired
/// entries (and fails `evicts_expired_entries` until it is fixed).
pub(super) const CACHE_BAD: &str = "entry.expires_at < now";

/// Tests that `cargo test` reports as failing while a file still holds the
/// bug: (test name, file with the bug, buggy text, panic message).
pub(super) const KNOWN_BUGS: &[(&str, &str, &str, &str)] = &[
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

/// Embeds `data/quill/<dir>/<path>.txt` for each path, as (path, text).
macro_rules! embedded {
    ($dir:literal: $($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../data/quill/", $dir, "/", $path, ".txt")))),*]
    };
}

/// Fixed snippets that scripted steps read, grep and edit: each occurs
/// exactly once in a fresh workspace whatever the seed (the generated filler
/// draws from word lists that none of them use).
const ANCHORS: &[(&str, &str)] = embedded!("anchors":
    "README.md",
    "docs/cli.md",
    "scripts/bench.py",
    "src/cli.rs",
    "src/config.rs",
    "src/eval/builtins.rs",
    "src/eval/mod.rs",
    "src/logging.rs",
    "src/main.rs",
    "src/net/client.rs",
    "src/net/retry.rs",
    "src/parser/ast.rs",
    "src/parser/mod.rs",
    "src/storage/cache.rs",
    "src/storage/index.rs",
    "src/util/strings.rs",
    "tests/cache_test.rs",
    "tests/fixtures/sample.toml",
    "tests/parser_test.rs",
);

/// Whole files that do not vary with the seed.
const FIXED: &[(&str, &str)] = embedded!("fixed":
    ".gitignore",
    "Cargo.toml",
    "LICENSE",
    "rustfmt.toml",
    "tools/py/pyproject.toml",
    "tools/py/quill_client/__init__.py",
);

/// The text of `path` in an embedded table, "" when it has none.
fn lookup(table: &[(&str, &'static str)], path: &str) -> &'static str {
    table
        .iter()
        .find(|(p, _)| *p == path)
        .map_or("", |(_, file)| file.strip_suffix('\n').unwrap_or(file))
}

/// The anchor snippet of a file ("" for most files).
pub(super) fn anchor(path: &str) -> String {
    lookup(ANCHORS, path).to_string()
}

/// A whole file that does not vary with the seed ("" if `path` is not one).
fn fixed(path: &str) -> String {
    lookup(FIXED, path).to_string()
}

/// One file's generated contents for a seed.
pub(super) fn generate(seed: u64, spec: &Spec) -> String {
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
mod tests {
    use super::*;
    use crate::workspace::Workspace;

    #[test]
    fn every_data_file_belongs_to_a_layout_path() {
        for (path, file) in ANCHORS.iter().chain(FIXED) {
            let spec = LAYOUT.iter().find(|s| s.path == *path);
            assert!(spec.is_some(), "{path} is not in LAYOUT");
            assert!(file.ends_with('\n'), "{path}.txt lacks its final newline");
        }
        for (path, _) in FIXED {
            let spec = LAYOUT.iter().find(|s| s.path == *path).unwrap();
            assert!(matches!(spec.kind, Kind::Fixed), "{path}");
        }
        for spec in LAYOUT.iter().filter(|s| matches!(s.kind, Kind::Fixed)) {
            assert!(
                !fixed(spec.path).is_empty(),
                "{} has no data file",
                spec.path
            );
        }
        for (_, buggy, snippet, _) in KNOWN_BUGS {
            assert_eq!(anchor(buggy).matches(snippet).count(), 1, "{buggy}");
        }
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
}
