//! Pins every byte the OpenCode and chat profiles send and every tool result
//! the synthetic workspace gives, for a few seeds: a hash over a dump of the
//! profiles, first-turn request bodies and a long list of tool calls (every
//! file read in full, globs, greps, lists, bash commands, each scripted task
//! played through). Moving text into data files or swapping a matcher must
//! leave the hash unchanged. Set `WEIR_LOAD_GOLDEN_DUMP=path` to write the
//! dump itself, to diff two versions.

use serde_json::{json, Value};

use crate::body::request_body;
use crate::client::Api;
use crate::profile::{Profile, Step};
use crate::session::RequestOptions;
use crate::workspace::{Workspace, ROOT};

/// FNV-1a over the dump of [`dump`]; update only for an intended change.
const GOLDEN_HASH: u64 = 10_350_889_469_044_089_331;

const SEEDS: &[u64] = &[0, 1, 7, 42, 20_260_101];

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn call(out: &mut String, ws: &mut Workspace, name: &str, args: &str) {
    let result = ws.run_tool(name, args);
    out.push_str(&format!("=== {name} {args}\n{result}\n"));
}

fn probes() -> Vec<(&'static str, Value)> {
    let mut calls = Vec::new();
    for pattern in [
        "**/*.rs",
        "*.md",
        "src/**",
        "src/**/*.rs",
        "src/{parser,eval}/*.rs",
        ".github/**/*.{yml,yaml}",
        "**/mod.rs",
        "src/*/mod.rs",
        "[a-z]*.toml",
        "tests/fixtures/*",
        "**",
        "*",
        "src",
        "src/",
        "./src/*.rs",
        "/src/*.rs",
        "src//cli.rs",
        "s?c/c?i.rs",
        "**/**/*.py",
        "{a,{b,c}}*",
        "{unclosed*",
        "src/**/**",
        "a**b",
        "src/par**",
        "src/par**/*.rs",
        "*.{rs,py,md,toml}",
        "tools/py/**/test_*.py",
        "src/cli.rs/**",
        "\\*.rs",
        "src/[pe]*/*.rs",
        "src/parser/**",
        "**/parser",
        "**/parser/**",
        "*.RS",
        "src/*.rs,src/*.md",
        "{src,tests}/**/{mod,common}.rs",
        "}{",
        "{,src/}*.rs",
        "*/*/*",
        "**/*test*",
        "?",
        "????????.toml",
        ".*",
        "**/.*",
        ".git*",
    ] {
        calls.push(("glob", json!({"pattern": pattern})));
    }
    for (pattern, path) in [
        ("*.rs", "src"),
        ("**/*.rs", "src/parser"),
        ("*", "tests/fixtures"),
        ("*.rs", "src/cli.rs"),
        ("*.rs", "nope"),
        ("*.rs", "/etc"),
        ("mod.rs", "/home/dev/quill/src/"),
        ("**", "tools"),
    ] {
        calls.push(("glob", json!({"pattern": pattern, "path": path})));
    }
    for args in [
        json!({"pattern": "fn main"}),
        json!({"pattern": "normalize_key", "include": "*.rs"}),
        json!({"pattern": "import", "include": "*.{py,pyi}"}),
        json!({"pattern": "pub fn", "include": "src/**/*.rs"}),
        json!({"pattern": "pub fn", "include": "parser/*.rs", "path": "src"}),
        json!({"pattern": "pub fn", "include": "{mod,lib}.rs"}),
        json!({"pattern": "test", "include": "[t]*"}),
        json!({"pattern": "depth", "path": "src/parser/ast.rs"}),
        json!({"pattern": "the", "path": "docs"}),
        json!({"pattern": "("}),
        json!({"pattern": "x", "path": "missing"}),
        json!({"pattern": "cargo", "include": "**/*.{yml,sh}"}),
    ] {
        calls.push(("grep", args));
    }
    for args in [
        json!({}),
        json!({"path": ROOT}),
        json!({"path": "src"}),
        json!({"path": "src/parser/"}),
        json!({"ignore": ["target/", "*.md", "src/parser"]}),
        json!({"ignore": ["**/tests/**", "{docs,tools}", "*.lock"]}),
        json!({"ignore": ["src/**", "tests/*.rs", "[.]github"]}),
        json!({"ignore": ["?ocs/", "*/*/*"], "path": "tools"}),
        json!({"ignore": "x"}),
        json!({"path": "src/cli.rs"}),
    ] {
        calls.push(("list", args));
    }
    for command in [
        "cargo test",
        "cargo test --test parser_test",
        "cargo test parse",
        "cargo test --no-fail-fast",
        "cargo test --test nope",
        "cargo build",
        "cargo check",
        "cargo clippy --all-targets -- -D warnings",
        "pytest -q",
        "python -m pytest tools/py/tests",
        "python scripts/bench.py --help",
        "python3 scripts/gen_fixtures.py",
        "python missing.py",
        "git status",
        "git diff",
        "git log --oneline",
        "ls",
        "ls -la src",
        "ls -a",
        "ls nope",
        "ls src/cli.rs",
        "cat README.md",
        "cat nope",
        "wc -l src/cli.rs src/main.rs",
        "rg normalize_key src",
        "grep -rn \"fn main\" .",
        "mkdir x",
        "echo \"hi\"",
        "pwd",
        "make all",
        "npm test",
        "cd src && cargo test parse | head",
    ] {
        calls.push(("bash", json!({"command": command})));
    }
    for args in [
        json!({"filePath": "src/cli.rs", "offset": 10, "limit": 5}),
        json!({"filePath": "src/eval/builtins.rs", "offset": 1, "limit": 120}),
        json!({"filePath": "src"}),
        json!({"filePath": ROOT}),
        json!({"filePath": "missing.rs"}),
        json!({"filePath": "src/cli.rs", "offset": 100000}),
        json!({"filePath": "/etc/passwd"}),
        json!({"filePath": 3}),
    ] {
        calls.push(("read", args));
    }
    calls.push((
        "webfetch",
        json!({"url": "https://docs.python.org/3/library/csv.html"}),
    ));
    calls.push((
        "webfetch",
        json!({"url": "https://example.com/a_b-c/", "format": "html"}),
    ));
    calls.push(("webfetch", json!({"url": "http://x.org", "format": "text"})));
    calls.push((
        "task",
        json!({"description": "Explore", "prompt": "Find the parser", "subagent_type": "explore"}),
    ));
    calls.push((
        "todowrite",
        json!({"todos": [{"content": "a", "status": "pending", "priority": "low"}]}),
    ));
    calls.push((
        "edit",
        json!({"filePath": "src/cli.rs", "oldString": "pub", "newString": "pub(crate)"}),
    ));
    calls.push((
        "edit",
        json!({"filePath": "src/cli.rs", "oldString": "", "newString": "x"}),
    ));
    calls.push(("write", json!({"filePath": "src", "content": "x"})));
    calls
}

/// The whole dump: profiles, request bodies, and tool results per seed.
fn dump() -> String {
    let mut out = String::new();
    let opts = RequestOptions {
        model: "m".to_string(),
        max_tokens: Some(32000),
        temperature: None,
        continuous_usage: false,
        ignore_eos: false,
        think_scale: 1.0,
    };
    for profile in [Profile::opencode(), Profile::chat()] {
        out.push_str(&serde_json::to_string(&profile).expect("profile serializes"));
        out.push('\n');
        for task in &profile.tasks {
            let messages = [
                json!({"role": "system", "content": profile.system_prompt}),
                json!({"role": "user", "content": task.prompt}),
            ];
            for api in [Api::Chat, Api::ResponsesStateless] {
                let body = request_body(
                    &opts,
                    api,
                    &messages,
                    &profile.tools,
                    profile.max_tokens,
                    None,
                );
                out.push_str(&String::from_utf8(body).expect("bodies are UTF-8"));
                out.push('\n');
            }
        }
    }
    let profile = Profile::opencode();
    for &seed in SEEDS {
        out.push_str(&format!("##### seed {seed}\n"));
        let fresh = Workspace::new(seed);
        let mut ws = fresh.clone();
        for path in fresh.paths() {
            call(
                &mut out,
                &mut ws,
                "read",
                &json!({ "filePath": path }).to_string(),
            );
        }
        for (name, args) in probes() {
            call(&mut out, &mut ws, name, &args.to_string());
        }
        for task in &profile.tasks {
            let mut ws = fresh.clone();
            for step in &task.steps {
                if let Step::Tool { name, arguments } = step {
                    call(&mut out, &mut ws, name, &arguments.to_string());
                }
            }
            for command in ["git status", "git diff", "cargo test"] {
                call(
                    &mut out,
                    &mut ws,
                    "bash",
                    &json!({ "command": command }).to_string(),
                );
            }
        }
    }
    out
}

#[test]
fn profiles_and_tool_results_are_byte_identical_to_the_pinned_dump() {
    let text = dump();
    if let Ok(path) = std::env::var("WEIR_LOAD_GOLDEN_DUMP") {
        std::fs::write(&path, &text).expect("dump file is writable");
    }
    assert_eq!(
        fnv1a(text.as_bytes()),
        GOLDEN_HASH,
        "the dump changed ({} bytes); diff it with WEIR_LOAD_GOLDEN_DUMP=path",
        text.len()
    );
}
