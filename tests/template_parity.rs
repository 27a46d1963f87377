//! Chat template parity: weir renders real chat templates byte for byte as transformers does.
//!
//! The goldens in `tests/data/templates/goldens.json` come from
//! `scripts/render_templates.py` (transformers' `apply_chat_template(..., tokenize=False)`
//! with the clock pinned to the file's `fixed_now`). Every case either renders the same
//! text or, where transformers raised, fails in weir too.

use std::path::PathBuf;

use chrono::NaiveDateTime;
use serde_json::Value;
use weir::tokenize::{ChatTemplate, TemplateError};

/// Cases where weir knowingly differs from transformers: (template file, reason).
/// Every case of these files that does not match is reported, not failed.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "meetkai-functionary-medium-v3.1.jinja",
    "builds tool prompts as `'...'|safe + name + ... + x|tojson`: Jinja2's Markup `+` \
     HTML-escapes the plain operands (quotes become &#34;); minijinja's `+` yields plain text",
)];

/// A Python error that minijinja cannot reproduce: it loops over `none` as over an
/// empty list, so templates that iterate `tools` without checking it render instead.
const NONE_NOT_ITERABLE: &str = "TypeError: 'NoneType' object is not iterable";

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join("templates")
}

/// A readable line diff: the first differing line, with context, and both tails.
fn diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.split('\n').collect();
    let g: Vec<&str> = got.split('\n').collect();
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let mut out = format!("first difference at line {}:\n", first + 1);
    for i in first.saturating_sub(2)..(first + 4).min(w.len().max(g.len())) {
        let a = w.get(i).map_or("<none>".to_string(), |s| format!("{s:?}"));
        let b = g.get(i).map_or("<none>".to_string(), |s| format!("{s:?}"));
        if a == b {
            out.push_str(&format!("    {:>4}  {a}\n", i + 1));
        } else {
            out.push_str(&format!("  - {:>4}  {a}\n  + {:>4}  {b}\n", i + 1, i + 1));
        }
    }
    out
}

#[test]
fn templates_render_like_transformers() {
    let dir = data_dir();
    let goldens: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("goldens.json")).expect("read goldens.json"),
    )
    .expect("parse goldens.json");
    let now = NaiveDateTime::parse_from_str(
        goldens["fixed_now"].as_str().expect("fixed_now"),
        "%Y-%m-%dT%H:%M:%S",
    )
    .expect("fixed_now format");
    let conversations = goldens["conversations"].as_object().expect("conversations");

    let mut failures = Vec::new();
    let mut known = Vec::new();
    let (mut passed, mut total, mut raised) = (0, 0, 0);
    for t in goldens["templates"].as_array().expect("templates") {
        let file = t["file"].as_str().unwrap();
        let source = std::fs::read_to_string(dir.join(file)).expect(file);
        let tok = |k: &str| t[k].as_str().map(str::to_owned);
        let template = match ChatTemplate::new(&source, tok("bos_token"), tok("eos_token")) {
            Ok(tpl) => tpl.with_fixed_now(now),
            Err(e) => {
                failures.push(format!("{file}: does not compile: {e}"));
                continue;
            }
        };
        for case in t["cases"].as_array().unwrap() {
            total += 1;
            let name = case["name"].as_str().unwrap();
            let conv = &conversations[name];
            let tools = conv.get("tools").filter(|v| !v.is_null());
            let extra = conv["extra"].as_object().cloned().unwrap_or_default();
            let agp = conv["add_generation_prompt"].as_bool().unwrap();
            let got = template.render(&conv["messages"], tools, agp, &extra);
            let want_err = case["error"].as_str().unwrap_or_default();
            let known_reason = KNOWN_DIFFERENCES
                .iter()
                .find(|(f, _)| *f == file)
                .map(|(_, r)| *r)
                .or((want_err == NONE_NOT_ITERABLE).then_some(NONE_NOT_ITERABLE));
            let before = failures.len();
            match (case.get("output").and_then(Value::as_str), got) {
                (Some(want), Ok(got)) if want == got => passed += 1,
                (Some(want), Ok(got)) => failures.push(format!(
                    "{file} / {name}: output differs\n{}",
                    diff(want, &got)
                )),
                (Some(_), Err(e)) => failures.push(format!("{file} / {name}: weir failed: {e}")),
                (None, Err(e)) => {
                    // transformers raised; where the template itself raised, the
                    // message must be the template's own.
                    match &e {
                        TemplateError::Raised(msg) if msg != want_err => failures.push(format!(
                            "{file} / {name}: raised {msg:?}, transformers raised {want_err:?}"
                        )),
                        _ => {
                            passed += 1;
                            raised += 1;
                        }
                    }
                }
                (None, Ok(got)) => failures.push(format!(
                    "{file} / {name}: transformers raised {:?} but weir rendered {got:?}",
                    case["error"]
                )),
            }
            if let Some(reason) = known_reason.filter(|_| failures.len() > before) {
                failures.pop();
                known.push(format!("{file} / {name}: {reason}"));
            }
        }
    }
    eprintln!(
        "template parity: {passed}/{total} cases match ({raised} expected errors), {} known differences",
        known.len()
    );
    for k in &known {
        eprintln!("  known difference: {k}");
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
