//! Chat template parity: weir renders real chat templates byte for byte as transformers does.
//!
//! The goldens in `tests/data/templates/goldens.json` come from
//! `scripts/render_templates.py` (transformers' `apply_chat_template(..., tokenize=False)`
//! with the clock pinned to the file's `fixed_now`). transformers is fed each
//! conversation as its users pass it (`messages`: arguments as mappings, tool messages
//! with `name`, 9-character ids for the Mistral family); weir is fed the same
//! conversation as OpenAI clients send it (`wire_messages`: arguments as JSON strings,
//! `content: null`, no `name`, `call_…` ids), prepared by
//! [`weir::tokenize::conversation::for_template`] with the tool format detected from the
//! template, as the server does. Every case either renders the same text, or fails in
//! weir as it failed in Python: a template's `raise_exception` with the same message, a
//! Jinja2 or Python runtime error with minijinja's error for the same template bug
//! ([`RUNTIME_ERRORS`]).
//!
//! The cases where weir knowingly differs are listed one by one in
//! `tests/data/templates/known_differences.json`, each with weir's exact output (or
//! error) and the reason; [`KNOWN_DIFFERENCES`] is their number. A new difference
//! fails, a known one whose output changes fails, and a fixed one fails until it is
//! removed from the file and the count.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::Value;
use weir::parse::ToolFormat;
use weir::tokenize::conversation::for_template;
use weir::tokenize::{ChatTemplate, TemplateError};

/// How many cases differ from transformers on purpose (the entries of
/// `known_differences.json`). Changing it is a decision, never a side effect.
const KNOWN_DIFFERENCES: usize = 30;

/// Python's errors that are not a template's `raise_exception` (Jinja2's
/// `UndefinedError`, Python's `TypeError`), each with words of minijinja's error for
/// the same template bug. Weir must fail with [`TemplateError::Render`] containing
/// those words; every other Python error must be [`TemplateError::Raised`] with the
/// same message. Each row must be used by some case.
const RUNTIME_ERRORS: &[(&str, &str)] = &[
    (
        "'functions' is undefined",
        "unsupported types string and undefined",
    ),
    ("'dict object' has no attribute 'content'", "undefined"),
    (
        "TypeError: can only concatenate str (not \"list\") to str",
        "unsupported types string and sequence",
    ),
    (
        "TypeError: can only concatenate str (not \"dict\") to str",
        "unsupported types string and map",
    ),
    (
        "'list object' has no attribute 'replace'",
        "sequence has no method named replace",
    ),
];

/// `known_differences.json`: groups of cases of one template that differ for one reason.
#[derive(Deserialize)]
struct KnownDifferencesFile {
    groups: Vec<KnownGroup>,
}

/// Cases of one template file that weir renders differently for the same reason.
#[derive(Deserialize)]
struct KnownGroup {
    file: String,
    reason: String,
    cases: Vec<KnownCase>,
}

/// One case and what weir gives for it: exactly one of the two fields is set.
#[derive(Deserialize)]
struct KnownCase {
    name: String,
    /// The exact text weir renders.
    weir_output: Option<String>,
    /// Words of the error weir fails with (a substring of its message).
    weir_error: Option<String>,
}

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

/// Whether weir's error is the one Python's error stands for (see [`RUNTIME_ERRORS`]);
/// marks the row it used.
fn same_failure(python: &str, weir: &TemplateError, used: &mut [bool]) -> Result<(), String> {
    match RUNTIME_ERRORS.iter().position(|(p, _)| *p == python) {
        Some(row) => {
            let words = RUNTIME_ERRORS[row].1;
            match weir {
                TemplateError::Render(_) if weir.to_string().contains(words) => {
                    used[row] = true;
                    Ok(())
                }
                _ => Err(format!(
                    "transformers failed with {python:?}; weir should fail to render with \
                     {words:?} but gave {weir:?}"
                )),
            }
        }
        None => match weir {
            TemplateError::Raised(msg) if msg == python => Ok(()),
            _ => Err(format!(
                "the template raised {python:?} in transformers; weir gave {weir:?}"
            )),
        },
    }
}

/// The known cases, keyed by (template file, case name), each with its reason.
fn known_differences() -> BTreeMap<(String, String), (String, KnownCase)> {
    let path = data_dir().join("known_differences.json");
    let file: KnownDifferencesFile =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read known_differences"))
            .expect("parse known_differences.json");
    let mut known = BTreeMap::new();
    for group in file.groups {
        for case in group.cases {
            assert!(
                case.weir_output.is_some() != case.weir_error.is_some(),
                "{} / {}: give exactly one of weir_output and weir_error",
                group.file,
                case.name
            );
            let key = (group.file.clone(), case.name.clone());
            let old = known.insert(key, (group.reason.clone(), case));
            assert!(old.is_none(), "{}: a case is listed twice", group.file);
        }
    }
    known
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
    let mut known = known_differences();
    assert_eq!(
        known.len(),
        KNOWN_DIFFERENCES,
        "known_differences.json lists {} cases; KNOWN_DIFFERENCES says {KNOWN_DIFFERENCES}",
        known.len()
    );

    let mut failures = Vec::new();
    let mut used_runtime_errors = vec![false; RUNTIME_ERRORS.len()];
    let (mut matched, mut total, mut raised, mut differ) = (0, 0, 0, 0);
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
        // The server prepares a conversation for the tool format it detects.
        let tool_format = weir::parse::detect(&source).tools;
        let mistral_ids = t["mistral_ids"].as_bool().expect("mistral_ids");
        if mistral_ids != (tool_format == ToolFormat::Mistral) {
            failures.push(format!(
                "{file}: weir detects {tool_format:?}, but the goldens were made {} Mistral ids",
                if mistral_ids { "with" } else { "without" }
            ));
        }
        for case in t["cases"].as_array().unwrap() {
            total += 1;
            let name = case["name"].as_str().unwrap();
            let conv = &conversations[name];
            let tools = conv.get("tools").filter(|v| !v.is_null());
            let extra = conv["extra"].as_object().cloned().unwrap_or_default();
            let agp = conv["add_generation_prompt"].as_bool().unwrap();
            let got = for_template(&conv["wire_messages"], tool_format)
                .map_err(|e| format!("weir refused the conversation: {e}"))
                .map(|messages| template.render(&messages, tools, agp, &extra));
            let got = match got {
                Ok(got) => got,
                Err(why) => {
                    failures.push(format!("{file} / {name}: {why}"));
                    continue;
                }
            };

            // Does weir do what transformers did?
            let parity = match (case.get("output").and_then(Value::as_str), &got) {
                (Some(want), Ok(got)) if want == got => Ok(()),
                (Some(want), Ok(got)) => Err(format!("output differs\n{}", diff(want, got))),
                (Some(_), Err(e)) => Err(format!("weir failed: {e}")),
                (None, Err(e)) => {
                    let want_err = case["error"].as_str().expect("error or output");
                    same_failure(want_err, e, &mut used_runtime_errors)
                }
                (None, Ok(got)) => Err(format!(
                    "transformers raised {:?} but weir rendered {got:?}",
                    case["error"]
                )),
            };
            let key = (file.to_string(), name.to_string());
            match (parity, known.remove(&key)) {
                (Ok(()), None) => {
                    matched += 1;
                    raised += usize::from(got.is_err());
                }
                (Ok(()), Some(_)) => failures.push(format!(
                    "{file} / {name}: now matches transformers; remove it from \
                     known_differences.json and lower KNOWN_DIFFERENCES"
                )),
                (Err(why), None) => failures.push(format!("{file} / {name}: {why}")),
                (Err(_), Some((reason, pinned))) => match (&got, &pinned) {
                    (
                        Ok(out),
                        KnownCase {
                            weir_output: Some(want),
                            ..
                        },
                    ) if out == want => differ += 1,
                    (
                        Err(e),
                        KnownCase {
                            weir_error: Some(words),
                            ..
                        },
                    ) if e.to_string().contains(words.as_str()) => differ += 1,
                    _ => failures.push(format!(
                        "{file} / {name}: a known difference ({reason}) changed: \
                         known_differences.json pins {}, weir now gives {}",
                        pinned.weir_output.as_deref().map_or_else(
                            || format!("error {:?}", pinned.weir_error),
                            |o| { format!("output {o:?}") }
                        ),
                        match &got {
                            Ok(out) => format!("output {}", Value::from(out.as_str())),
                            Err(e) => format!("error {e}"),
                        }
                    )),
                },
            }
        }
    }
    for (file, name) in known.keys() {
        failures.push(format!(
            "{file} / {name}: listed in known_differences.json but not a case of goldens.json"
        ));
    }
    for (row, used) in used_runtime_errors.iter().enumerate() {
        if !used {
            failures.push(format!(
                "RUNTIME_ERRORS row {:?} matches no case; remove it",
                RUNTIME_ERRORS[row].0
            ));
        }
    }
    eprintln!(
        "template parity: {matched}/{total} cases match ({raised} expected errors), \
         {differ} known differences"
    );
    assert!(
        failures.is_empty(),
        "{} of {total} cases fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(matched + differ, total);
}
