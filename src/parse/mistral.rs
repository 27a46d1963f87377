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
//! - `name[ARGS]{...}`: a function name (ASCII letters, digits, `_`, `-`,
//!   `.`) directly followed by `[ARGS]`, optional whitespace and a JSON
//!   object. The call starts (id and name) once that `{` is read, and its
//!   arguments go out as compact JSON as they are written (see
//!   [`super::json_stream`]); it ends with the object.
//! - `[` or `{` after the marker (and any whitespace) is the JSON form. When
//!   the first element of the array (or the single object) starts
//!   `{"name": "NAME", "arguments": {` (or `"parameters"`), whitespace
//!   allowed, the array streams element by element: such an element's call
//!   starts once the `{` of its arguments is read and its arguments stream
//!   as above, then only whitespace and `}` may close the element; a later
//!   element of another shape is buffered until it closes and read as one
//!   call object (below). Elements are separated by `,`; `]` ends the
//!   array, and the reply may end without it after a call.
//! - Otherwise the JSON value is buffered until its outermost bracket
//!   closes (brackets counted outside strings), as a whole: an array must
//!   hold only call objects (non-empty string `name`; `arguments` or
//!   `parameters` an object, a JSON string holding one, or absent / `null`
//!   / `""`); a single call object is accepted too. Each becomes one call
//!   with compact arguments, sent at once.
//! - A started call is never content: cut off by the end of the reply it
//!   keeps the arguments it got (they do not parse). Arguments that break
//!   off (not JSON) end the call where they broke; the text from the break
//!   on, and the rest of the reply, is content (no call starts after a
//!   broken one, so every call is complete before the next one starts).
//!   Text other than `}` after a streamed element's arguments is content
//!   too (the call stands), and parsing goes on after it.
//! - Anything else before a call started (a bad character, a value that is
//!   not a call, an empty array, a block still open at the end) is emitted
//!   as `Content`, raw and with its marker, and parsing goes on after it:
//!   never lost.
//! - After a call, whitespace is held: dropped if another `[TOOL_CALLS]` or
//!   the end follows, emitted with the text if other text follows.

use super::call_from_value;
use super::json_head::capped_call_object_head;
use super::json_stream::{Fed, JsonRewriter};
use super::layout::Head;
use super::scanner::{Block, CallScanner, CallSyntax, JsonScan, Step};
use serde_json::Value;

/// Marker before the tool calls.
pub const MARKER: &str = "[TOOL_CALLS]";
/// Marker between a function name and its arguments (newer form).
pub const ARGS: &str = "[ARGS]";

/// Where a streamed call's arguments object sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    /// `name[ARGS]{...}`: the call ends with the object.
    Named,
    /// Inside a call object: `}` closes it. `true`: an element of an array.
    Element(bool),
}

/// What a JSON value buffered whole is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Whole {
    /// The older form's array (or single object), all calls or none.
    List,
    /// One element of a streaming array.
    Element,
}

/// Where reading stands after `[TOOL_CALLS]`.
#[derive(Clone, Debug)]
enum State {
    /// Right after `[TOOL_CALLS]`: the form is not known yet.
    Marker,
    /// Reading a function name (newer form).
    Name,
    /// After `[ARGS]`, before the arguments object.
    Args,
    /// A call started; its arguments are streaming.
    Stream(JsonRewriter, Holder),
    /// The arguments of a `name[ARGS]` call are complete.
    Ended,
    /// The arguments broke off: the call ends, the rest is text.
    Broken,
    /// After a streamed element's arguments, before its `}`.
    ElementEnd(bool),
    /// In a streaming array, where an element should start.
    Element,
    /// In a streaming array, after an element: `,` or `]`.
    Separator,
    /// Buffering a JSON value that starts the unread text.
    Json(JsonScan, Whole),
}

/// Reads what follows `[TOOL_CALLS]`, in either form.
#[derive(Debug)]
pub struct MistralSyntax {
    state: State,
    /// Function name of the current block (newer form).
    name: String,
    /// A call's arguments broke off earlier in the reply: no call starts
    /// after it.
    broke: bool,
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
            broke: false,
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

impl MistralSyntax {
    /// Starts streaming a call named `name` whose arguments begin `at`
    /// bytes into the unread text.
    fn start_call(&mut self, block: &mut Block, name: String, at: usize, holder: Holder) -> Step {
        block.take(at);
        self.state = State::Stream(JsonRewriter::new(), holder);
        Step::CallStart { name }
    }
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
            match &mut self.state {
                State::Marker if self.broke => return Step::Malformed,
                State::Marker => {
                    block.take_ws();
                    let rest = block.rest();
                    match rest.chars().next() {
                        None => return Step::Wait,
                        Some('[') => match capped_call_object_head(&rest[1..], block.is_last()) {
                            Head::Wait => return Step::Wait,
                            Head::Args { .. } => {
                                block.take(1);
                                self.state = State::Element;
                            }
                            Head::Whole => {
                                self.state = State::Json(JsonScan::default(), Whole::List)
                            }
                        },
                        Some('{') => match capped_call_object_head(rest, block.is_last()) {
                            Head::Wait => return Step::Wait,
                            Head::Args { name, at } => {
                                return self.start_call(block, name, at, Holder::Element(false))
                            }
                            Head::Whole => {
                                self.state = State::Json(JsonScan::default(), Whole::List)
                            }
                        },
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
                            let name = std::mem::take(&mut self.name);
                            return self.start_call(block, name, 0, Holder::Named);
                        }
                        Some(_) => return Step::Malformed,
                    }
                }
                State::Stream(rewriter, holder) => {
                    let holder = *holder;
                    let mut out = String::new();
                    let n = block.rest().len();
                    let streaming = match rewriter.feed(block.rest(), &mut out) {
                        Fed::More => {
                            block.consume(n);
                            true
                        }
                        Fed::Done { consumed } => {
                            block.consume(consumed);
                            self.state = match holder {
                                Holder::Named => State::Ended,
                                Holder::Element(array) => State::ElementEnd(array),
                            };
                            false
                        }
                        Fed::Invalid { at } => {
                            block.consume(at);
                            self.state = State::Broken;
                            false
                        }
                    };
                    if !out.is_empty() {
                        return Step::Arguments(out);
                    }
                    if streaming {
                        return Step::Wait;
                    }
                }
                State::Ended => {
                    self.state = State::Marker;
                    return Step::CallEnd { close: true };
                }
                State::Broken => {
                    self.broke = true;
                    self.state = State::Marker;
                    return Step::Malformed;
                }
                State::ElementEnd(array) => {
                    let array = *array;
                    block.take_ws();
                    match block.rest().chars().next() {
                        None => return Step::Wait,
                        Some('}') => {
                            block.take(1);
                            self.state = State::Separator;
                            return Step::CallEnd { close: !array };
                        }
                        Some(_) => return Step::Malformed,
                    }
                }
                State::Element => {
                    block.take_ws();
                    let last = block.is_last();
                    let rest = block.rest();
                    match rest.chars().next() {
                        // The reply ended after a call (and maybe a `,`).
                        None if last => return Step::Close,
                        None => return Step::Wait,
                        Some('{') => match capped_call_object_head(rest, last) {
                            Head::Wait => return Step::Wait,
                            Head::Args { name, at } => {
                                return self.start_call(block, name, at, Holder::Element(true))
                            }
                            Head::Whole => {
                                self.state = State::Json(JsonScan::default(), Whole::Element)
                            }
                        },
                        Some(_) => return Step::Malformed,
                    }
                }
                State::Separator => {
                    block.take_ws();
                    match block.rest().chars().next() {
                        None if block.is_last() => return Step::Close,
                        None => return Step::Wait,
                        Some(',') => {
                            block.take(1);
                            self.state = State::Element;
                        }
                        Some(']') => {
                            block.take(1);
                            return Step::Close;
                        }
                        Some(_) => return Step::Malformed,
                    }
                }
                State::Json(scan, whole) => {
                    let whole = *whole;
                    let Some(end) = scan.feed(block.rest()) else {
                        return Step::Wait;
                    };
                    let value = block.take(end);
                    let (calls, close) = match whole {
                        Whole::List => (parse_list(value), true),
                        Whole::Element => {
                            let call = serde_json::from_str::<Value>(value)
                                .ok()
                                .and_then(|v| call_from_value(&v));
                            (call.map(|c| vec![c]), false)
                        }
                    };
                    self.state = State::Separator;
                    return match calls {
                        Some(calls) => Step::Calls { calls, close },
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
        let text = "[TOOL_CALLS]a[ARGS]{} [TOOL_CALLS]b[ARGS]{o}";
        let c = mistral(text);
        // As in Hermes, whitespace between a call and a failed block is
        // dropped; `b` started, so its arguments break off at `o`.
        assert_eq!(c.content, "o}");
        assert_eq!(c.calls.len(), 2);
        assert_eq!((c.calls[1].2.as_str(), c.calls[1].3.as_str()), ("b", "{"));
        let text = "[TOOL_CALLS]a[ARGS]{} [TOOL_CALLS]b[ARGS]x";
        let c = mistral(text);
        assert_eq!(c.content, "[TOOL_CALLS]b[ARGS]x");
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
        let out = p.push("GS]{\"a\": {");
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, .. }
            ]
        ));
        assert_eq!(
            p.push("}}"),
            vec![ParsedDelta::ToolCallArguments {
                index: 0,
                text: "}}".into()
            }]
        );
        assert!(p.saw_tool_calls());
        assert!(p.finish().is_empty());
    }

    #[test]
    fn arguments_stream_as_they_are_written() {
        let start = |index: usize, name: &str| ParsedDelta::ToolCallStart {
            index,
            id: mistral_tool_call_id(3, index),
            name: name.into(),
        };
        let args = |index: usize, text: &str| ParsedDelta::ToolCallArguments {
            index,
            text: text.into(),
        };
        // `name[ARGS]{...}`: the call starts at the `{`.
        let mut p = MistralParser::new(3);
        assert_eq!(p.push("[TOOL_CALLS]write[ARGS]"), vec![]);
        assert_eq!(
            p.push("{\"content\": \"line 1\\n"),
            vec![start(0, "write"), args(0, "{\"content\":\"line 1\\n")]
        );
        assert_eq!(p.push("line 2\"}"), vec![args(0, "line 2\"}")]);
        assert!(p.finish().is_empty());
        // The array form: each element streams, one call after the other.
        let mut p = MistralParser::new(3);
        assert_eq!(p.push("[TOOL_CALLS] [{\"name\": \"a\", "), vec![]);
        assert_eq!(
            p.push("\"arguments\": {\"x\": [1, "),
            vec![start(0, "a"), args(0, "{\"x\":[1,")]
        );
        assert_eq!(
            p.push("2]}}, {\"name\": \"b\", \"arguments\": {\"y\""),
            vec![args(0, "2]}"), start(1, "b"), args(1, "{\"y\"")]
        );
        assert_eq!(p.push(": true}}]"), vec![args(1, ":true}")]);
        assert!(p.finish().is_empty());
        // Ids are what Mistral's templates accept.
        for (_, id, _, _) in mistral("[TOOL_CALLS]f[ARGS]{}[TOOL_CALLS]g[ARGS]{}").calls {
            assert_eq!(id.len(), 9);
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn array_elements_stream_or_are_read_whole() {
        // A first element of another shape: the array is read whole, as
        // before (all calls or none).
        let text = "[TOOL_CALLS][{\"name\": \"f\"}, {\"name\": \"g\", \"arguments\": {\"a\": 1}}]";
        let c = mistral(text);
        assert_eq!(names_args(&c), vec![("f", "{}"), ("g", r#"{"a":1}"#)]);
        // A streaming array reads a later element of another shape whole.
        let text = "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}, {\"arguments\": \"{}\", \"name\": \"g\"}]ok";
        let c = mistral(text);
        assert_eq!(names_args(&c), vec![("f", "{}"), ("g", "{}")]);
        assert_eq!(c.content, "ok");
        // The reply may end after a call without `]`.
        let c = mistral("[TOOL_CALLS][{\"name\": \"f\", \"parameters\": {\"u\": \"é🚀\"}} ,");
        assert_eq!(names_args(&c), vec![("f", r#"{"u":"é🚀"}"#)]);
        assert_eq!(c.content, "");
        // A later element that is not a call is content from its separator
        // on; the call before it stands.
        let text = "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}, {\"arguments\": {}}] x";
        let c = mistral(text);
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, ", {\"arguments\": {}}] x");
        let c = mistral("[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}} 7]");
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, " 7]");
    }

    #[test]
    fn a_started_call_is_never_content() {
        // Cut off inside the arguments (`max_tokens`): the call keeps what
        // it got, and it does not parse.
        let c = mistral("Ok.[TOOL_CALLS]write[ARGS]{\"text\": \"naïve \\n 🚀");
        assert_eq!(c.content, "Ok.");
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].3, "{\"text\":\"naïve \\n 🚀");
        assert!(c.cut_call && c.saw_tool_calls);
        let c = mistral("[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {\"k\": [1");
        assert_eq!(c.content, "");
        assert_eq!(c.calls.len(), 2);
        // A number goes out once it ends: `1` may still become `12`.
        assert_eq!(c.calls[1].3, "{\"k\":[");
        assert!(c.cut_call);
        // Cut off after the arguments, before the element's `}`: whole.
        let c = mistral("[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"k\": 1} ");
        assert_eq!(names_args(&c), vec![("a", r#"{"k":1}"#)]);
        assert_eq!(c.content, "");
        // Arguments that break off: what was valid went out, the rest of
        // the reply is content, and no call starts after the broken one.
        let text = "[TOOL_CALLS]f[ARGS]{\"a\": }[TOOL_CALLS]g[ARGS]{}";
        let c = mistral(text);
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].3, "{\"a\":");
        assert_eq!(c.content, "}[TOOL_CALLS]g[ARGS]{}");
        let c = mistral("[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": 1,}}]");
        assert_eq!(c.calls[0].3, "{\"a\":1,");
        assert_eq!(c.content, "}}]");
        // Junk between the arguments and the element's `}`: the call stands.
        let c = mistral("[TOOL_CALLS]{\"name\": \"f\", \"arguments\": {}, \"x\": 1}ok");
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, ", \"x\": 1}ok");
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
