//! Seeded filler: code-like text built from word lists and templates, one
//! independent stream per (seed, key), so the same seed always gives the
//! same repository and the same command output.

use std::fmt::Write as _;

/// A crate's version in this workspace's (imaginary) lock file.
pub(super) fn crate_version(seed: u64, name: &str) -> String {
    Gen::new(mix(seed, name)).version()
}

/// FNV-1a of a string, mixed with the seed: an independent stream per (seed, key).
pub(super) fn mix(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// splitmix64 plus the word-list generators.
pub(super) struct Gen(u64);

/// Nouns of the filler text.
const NOUNS: &[&str] = &[
    "token", "span", "buffer", "record", "bucket", "node", "frame", "cursor", "block", "chunk",
    "header", "payload", "schema", "session", "window", "budget", "slot", "range", "label",
    "offset", "field", "column", "row", "page", "segment", "packet", "symbol", "scope", "table",
    "queue", "worker", "handle", "stream", "reader", "writer", "digest", "snapshot", "version",
    "target", "source", "rule", "pattern", "filter", "route", "socket", "timer", "counter",
];
/// Verbs of the filler text (bare infinitives).
const VERBS: &[&str] = &[
    "parse", "emit", "flush", "load", "store", "resolve", "merge", "split", "encode", "decode",
    "validate", "apply", "collect", "render", "scan", "visit", "build", "reset", "insert",
    "remove", "locate", "compute", "fetch", "drain", "advance", "peek", "bind", "format",
    "register", "refresh", "compact", "seal", "sort", "trim",
];
/// Adjectives of the filler text.
const ADJS: &[&str] = &[
    "raw", "next", "last", "pending", "cached", "shared", "local", "inner", "outer", "total",
    "max", "min", "default", "stale", "dirty", "empty", "current", "previous", "partial", "sorted",
    "unique", "active", "frozen", "visible",
];
/// Rust types and a default value of each.
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
/// Sentence templates: `{n}` noun, `{v}` verb, `{p}` past participle,
/// `{V}` capitalised third person, `{a}` adjective.
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
/// Crate names for `Cargo.lock` and the compile lines of cargo output.
pub(super) const CRATES: &[&str] = &[
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
    /// A generator starting from `seed` (usually [`mix`] of a seed and a key).
    pub(super) fn new(seed: u64) -> Gen {
        Gen(seed)
    }

    /// The next 64 random bits (splitmix64).
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` 0 gives 0.
    pub(super) fn below(&mut self, n: usize) -> usize {
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

    /// One of `xs`, uniformly (`""` when empty).
    pub(super) fn pick_string(&mut self, xs: &[String]) -> String {
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

    /// One sentence from a template, words filled in.
    pub(super) fn sentence(&mut self) -> String {
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

    /// `n` sentences.
    pub(super) fn paragraph(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| self.sentence())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A commit subject line: `area: verb the adjective noun`.
    pub(super) fn commit_message(&mut self) -> String {
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

    /// A Rust source file of about `target` bytes around `anchor` (with a
    /// `tests` module for larger files under `src/`).
    pub(super) fn rust_file(&mut self, path: &str, target: usize, anchor: &str) -> String {
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

    /// An integration test file of about `target` bytes around `anchor`.
    pub(super) fn rust_test_file(&mut self, target: usize, anchor: &str) -> String {
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

    /// A Python module of about `target` bytes around `anchor`.
    pub(super) fn python_file(&mut self, target: usize, anchor: &str) -> String {
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

    /// A pytest file of about `target` bytes.
    pub(super) fn pytest_file(&mut self, target: usize) -> String {
        let mut out = String::from("import pytest\n\nfrom quill_client import Client\nfrom quill_client.models import Result\n\n\n@pytest.fixture\ndef client():\n    return Client(\"http://127.0.0.1:7878\", timeout=1.0)\n\n");
        while out.len() < target {
            let (v, a, n) = (self.verb(), self.adj(), self.noun());
            let _ = writeln!(out, "\ndef test_{v}_{a}_{n}(client):\n    result = client.{v}(\"{n} + {}\")\n    assert result.{n}s == {}\n", self.below(100), self.below(10));
        }
        out
    }

    // ---- text ----

    /// A Markdown document of about `target` bytes around `anchor`.
    pub(super) fn markdown(&mut self, title: &str, target: usize, anchor: &str) -> String {
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

    /// A `Cargo.lock` of about `target` bytes.
    pub(super) fn cargo_lock(&mut self, target: usize) -> String {
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

    /// A TOML configuration of about `target` bytes.
    pub(super) fn toml_file(&mut self, target: usize) -> String {
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

    /// A GitHub Actions workflow named `name` of about `target` bytes.
    pub(super) fn yaml_file(&mut self, name: &str, target: usize) -> String {
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

    /// A bash script of about `target` bytes.
    pub(super) fn shell_file(&mut self, target: usize) -> String {
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

    /// A JSON array of test cases of about `target` bytes.
    pub(super) fn json_file(&mut self, target: usize) -> String {
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

    /// Expressions, one a line, about `target` bytes.
    pub(super) fn exprs_file(&mut self, target: usize) -> String {
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

/// The word with its first letter upper-cased.
pub(super) fn cap(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
