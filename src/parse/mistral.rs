//! Mistral `[TOOL_CALLS]` tool calls, in two forms:
//!
//! ```text
//! optional content[TOOL_CALLS][{"name": "a", "arguments": {...}}, {"name": "b", ...}]
//! optional content[TOOL_CALLS]a[ARGS]{...}[TOOL_CALLS]b[ARGS]{...}
//! ```
//!
//! The first is Mistral-7B v0.3 / Nemo, the second Mistral Small 3.2 /
//! Devstral.
//!
//! Rules:
//! - Content before `[TOOL_CALLS]` is emitted as it comes, holding back only
//!   a tail that may be the start of the marker.
//! - After the marker (and any whitespace): `[` or `{` starts the JSON form.
//!   The value is buffered until its outermost bracket closes (brackets
//!   counted outside strings) or the reply ends. An array must hold only
//!   call objects (non-empty string `name`; `arguments` or `parameters` an
//!   object, a JSON string holding one, or absent / `null` / `""`); a single
//!   call object is accepted too. Each becomes one call
//!   with compact arguments.
//! - Otherwise a function name (ASCII letters, digits, `_`, `-`, `.`) must
//!   follow, directly followed by `[ARGS]`, optional whitespace and a JSON
//!   object (the arguments), buffered until it closes.
//! - Anything else (a bad character, a value that is not a call, an empty
//!   array, a block still open at the end) is emitted as `Content`, raw and
//!   with its marker, and parsing goes on after it: never lost.
//! - After a call, whitespace is held: dropped if another `[TOOL_CALLS]` or
//!   the end follows, emitted with the text if other text follows.

use super::scanner::{Block, CallScanner, CallSyntax, JsonScan, Step};
use super::{arguments_json, call_from_value};
use serde_json::Value;

/// Marker before the tool calls.
pub const MARKER: &str = "[TOOL_CALLS]";
/// Marker between a function name and its arguments (newer form).
pub const ARGS: &str = "[ARGS]";

/// Where reading stands after `[TOOL_CALLS]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Right after `[TOOL_CALLS]`: the form is not known yet.
    Marker,
    /// Reading a function name (newer form).
    Name,
    /// After `[ARGS]`, before the arguments object.
    Args,
    /// Scanning a JSON value that starts the unread text. `true`: the
    /// arguments of the newer form; `false`: the array (or object) of the
    /// older form.
    Json(bool),
}

/// Reads what follows `[TOOL_CALLS]`, in either form.
#[derive(Debug)]
pub struct MistralSyntax {
    state: State,
    /// Function name of the current block (newer form).
    name: String,
    /// In `Json`: the scanner over the unread text.
    scan: JsonScan,
}

/// Parses Mistral `[TOOL_CALLS]` tool calls; see the module docs.
pub type MistralParser = CallScanner<MistralSyntax>;

impl MistralParser {
    /// A parser for one response; `id_seed` feeds
    /// [`super::mistral_tool_call_id`] (the family's templates accept only
    /// 9-alphanumeric ids).
    pub fn new(id_seed: u64) -> Self {
        let syntax = MistralSyntax {
            state: State::Marker,
            name: String::new(),
            scan: JsonScan::default(),
        };
        CallScanner::with_syntax(id_seed, syntax).with_id_style(super::IdStyle::Mistral)
    }
}

/// A character allowed in a function name.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The older form: a JSON array of call objects (or one call object).
fn parse_list(value: &str) -> Option<Vec<(String, String)>> {
    match serde_json::from_str::<Value>(value).ok()? {
        Value::Array(items) if !items.is_empty() => items.iter().map(call_from_value).collect(),
        v @ Value::Object(_) => Some(vec![call_from_value(&v)?]),
        _ => None,
    }
}

/// The newer form: `name[ARGS]{...}`; the arguments must be an object.
fn parse_args(name: &str, value: &str) -> Option<Vec<(String, String)>> {
    let v: Value = serde_json::from_str(value).ok()?;
    if name.is_empty() || !v.is_object() {
        return None;
    }
    Some(vec![(name.to_string(), arguments_json(Some(&v))?)])
}

impl CallSyntax for MistralSyntax {
    fn start(&self) -> &'static str {
        MARKER
    }

    fn open(&mut self) {
        self.state = State::Marker;
        self.name.clear();
    }

    fn step(&mut self, block: &mut Block) -> Step {
        loop {
            match self.state {
                State::Marker => {
                    block.take_ws();
                    match block.rest().chars().next() {
                        None => return Step::Wait,
                        Some('[' | '{') => {
                            self.scan = JsonScan::default();
                            self.state = State::Json(false);
                        }
                        Some(c) if is_name_char(c) => self.state = State::Name,
                        Some(_) => return Step::Malformed,
                    }
                }
                State::Name => {
                    let end = block
                        .rest()
                        .find(|c: char| !is_name_char(c))
                        .unwrap_or(block.rest().len());
                    self.name.push_str(block.take(end));
                    if block.take_marker(ARGS) {
                        self.state = State::Args;
                    } else if !block.is_last() && block.may_become(ARGS) {
                        return Step::Wait;
                    } else {
                        return Step::Malformed;
                    }
                }
                State::Args => {
                    block.take_ws();
                    match block.rest().chars().next() {
                        None => return Step::Wait,
                        Some('{') => {
                            self.scan = JsonScan::default();
                            self.state = State::Json(true);
                        }
                        Some(_) => return Step::Malformed,
                    }
                }
                State::Json(is_args) => {
                    let Some(end) = self.scan.feed(block.rest()) else {
                        return Step::Wait;
                    };
                    let value = block.take(end);
                    let calls = if is_args {
                        parse_args(&self.name, value)
                    } else {
                        parse_list(value)
                    };
                    return match calls {
                        Some(calls) => Step::Calls { calls, close: true },
                        None => Step::Malformed,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::mistral_tool_call_id;
    use super::super::test_support::{
        check_random_texts, check_splits, names_args, random_texts, Collected,
    };
    use super::*;
    use crate::parse::{OutputParser, ParsedDelta};

    fn mistral(text: &str) -> Collected {
        check_splits(&|| Box::new(MistralParser::new(11)), text)
    }

    #[test]
    fn plain_text() {
        let text = "Just an answer [TOOL] naïve 🚀.\n";
        let c = mistral(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty() && !c.saw_tool_calls);
        assert_eq!(mistral("x [TOOL_CALL").content, "x [TOOL_CALL");
    }

    #[test]
    fn array_form() {
        let text = "Checking.\n[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": [1, 2]}}, {\"name\": \"b\", \"arguments\": {\"s\": \"]}[\\\"\"}}]";
        let c = mistral(text);
        assert_eq!(c.content, "Checking.\n");
        assert_eq!(
            names_args(&c),
            vec![
                ("get_weather", r#"{"city":"Paris","n":[1,2]}"#),
                ("b", r#"{"s":"]}[\""}"#)
            ]
        );
        assert_eq!(c.calls[1].1, mistral_tool_call_id(11, 1));
        assert!(c.saw_tool_calls);
        // One object instead of an array, arguments as a string.
        let c = mistral("[TOOL_CALLS]{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}\n");
        assert_eq!(c.content, "");
        assert_eq!(names_args(&c), vec![("f", r#"{"a":1}"#)]);
    }

    #[test]
    fn name_args_form() {
        let text = "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\", \"u\": \"é🚀\"}[TOOL_CALLS]get_time[ARGS] {}";
        let c = mistral(text);
        assert_eq!(c.content, "");
        assert_eq!(
            names_args(&c),
            vec![
                ("get_weather", r#"{"city":"Paris","u":"é🚀"}"#),
                ("get_time", "{}")
            ]
        );
        assert_eq!(c.calls[0].1, mistral_tool_call_id(11, 0));
        // Whitespace between calls and after the last is dropped; text is kept.
        let text = "Sure. [TOOL_CALLS]a.b-c_1[ARGS]{\"x\": null}\n[TOOL_CALLS]d[ARGS]{}\n\nDone.";
        let c = mistral(text);
        assert_eq!(c.content, "Sure. \n\nDone.");
        assert_eq!(
            names_args(&c),
            vec![("a.b-c_1", r#"{"x":null}"#), ("d", "{}")]
        );
    }

    #[test]
    fn malformed_becomes_content() {
        for bad in [
            "[TOOL_CALLS]",
            "[TOOL_CALLS]  ",
            "[TOOL_CALLS][]",
            "[TOOL_CALLS][1]",
            "[TOOL_CALLS][{\"name\": \"f\"}, {\"arguments\": {}}]",
            "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": [1]}]",
            "[TOOL_CALLS][{\"name\": \"f\"",
            "[TOOL_CALLS][{\"name\": oops}]",
            "[TOOL_CALLS]get weather",
            "[TOOL_CALLS]f[ARG]{}",
            "[TOOL_CALLS]f[ARGS]",
            "[TOOL_CALLS]f[ARGS]x",
            "[TOOL_CALLS]f[ARGS][1]",
            "[TOOL_CALLS]f[ARGS]{\"a\": ",
            "[TOOL_CALLS]f[AR",
            "[TOOL_CALLS]!",
            "[TOOL_CALLS]🚀",
        ] {
            let c = mistral(bad);
            assert_eq!(c.content, bad, "{bad:?}");
            assert!(c.calls.is_empty() && !c.saw_tool_calls);
        }
    }

    #[test]
    fn parsing_resumes_after_malformed() {
        let text = "[TOOL_CALLS]f g[TOOL_CALLS]h[ARGS]{}";
        let c = mistral(text);
        assert_eq!(c.content, "[TOOL_CALLS]f g");
        assert_eq!(names_args(&c), vec![("h", "{}")]);
        let text = "[TOOL_CALLS]a[ARGS]{} [TOOL_CALLS]b[ARGS]{oops}";
        let c = mistral(text);
        // As in Hermes, whitespace between a call and a failed block is dropped.
        assert_eq!(c.content, "[TOOL_CALLS]b[ARGS]{oops}");
        assert_eq!(names_args(&c), vec![("a", "{}")]);
        // A marker right after a name: the name part is content, then a call.
        let c = mistral("[TOOL_CALLS]a[TOOL_CALLS]b[ARGS]{}");
        assert_eq!(c.content, "[TOOL_CALLS]a");
        assert_eq!(names_args(&c), vec![("b", "{}")]);
    }

    #[test]
    fn holds_back_only_marker_prefix() {
        let mut p = MistralParser::new(0);
        assert_eq!(p.push("abc[TOOL"), vec![ParsedDelta::Content("abc".into())]);
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("[TOOLx".into())]);
        assert!(p.push("[TOOL_CALLS]f[AR").is_empty());
        assert!(p.push("GS]{\"a\": {").is_empty());
        let out = p.push("}}");
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, .. }
            ]
        ));
        assert!(p.saw_tool_calls());
        assert!(p.finish().is_empty());
    }

    #[test]
    fn random_fragments() {
        const GOOD: &str = "[TOOL_CALLS]f[ARGS]{\"a\":1}";
        const GOOD_LIST: &str = "[TOOL_CALLS][{\"name\":\"g\",\"arguments\":{}}]";
        let frags = [
            MARKER, ARGS, "[TOOL_", "[", "]", "{", "}", "\"", "\\", " ", "\n", GOOD, GOOD_LIST,
            "🚀", "f", "é",
        ];
        check_random_texts(&random_texts(&frags, 3, 300, 10), mistral, |_, _| {});
    }
}
