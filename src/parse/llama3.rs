//! Llama 3.1 / 3.2 / 3.3 JSON tool calls (vLLM's `llama3_json`):
//!
//! ```text
//! <|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": ...}
//! ```
//!
//! Rules:
//! - The decision is made at the start of the reply. If its first
//!   non-whitespace text (after at most [`MAX_LEADING_WS`] bytes of
//!   whitespace) is `{` or `<|python_tag|>`, the reply is taken as calls;
//!   otherwise the whole reply is `Content`, streamed as it comes (nothing
//!   held back).
//! - In calls mode a call object that starts `{"name": "NAME",
//!   "parameters": {` (or `"arguments"`), whitespace allowed, streams: the
//!   call starts (id and name) once that `{` is read, and its arguments go
//!   out as compact JSON as they are written (see [`super::json_stream`]);
//!   after the arguments object only whitespace and `}` may close the call.
//! - A started call is never content: cut off by the end of the reply it
//!   keeps the arguments it got (they do not parse). Arguments that break
//!   off (not JSON) end the call where they broke, and text other than `}`
//!   after the arguments ends the call as it stands: either way calls mode
//!   ends and the text from there on is `Content`.
//! - Any other object (keys in another order, arguments as a JSON string)
//!   is buffered until it closes (braces counted outside strings) or the
//!   reply ends, then parsed: an object with a non-empty string `name` and
//!   `parameters` (or `arguments`): an object, a JSON string holding one, or
//!   absent / `null` / `""` (all `{}`). It becomes one call with compact
//!   arguments, sent at once.
//! - Calls may be separated by whitespace and at most one `;`. Separators
//!   after the last call (whitespace, a trailing `;`) are dropped.
//! - Anything else ends calls mode for good: a buffered object that is not
//!   a call or is still open at the end, or text that is neither a
//!   separator nor `{`. That text, with the raw separator / leading whitespace /
//!   `<|python_tag|>` before it, and everything after it is `Content`: never
//!   lost.

use super::json_head::capped_call_object_head;
use super::json_stream::{Fed, JsonRewriter};
use super::layout::Head;
use super::scanner::{lead, take_leading_ws, JsonScan, Lead};
use super::{call_from_value, push_content, BufferedParser, CallEmitter, ParsedDelta};
use serde_json::Value;

/// Marker Llama 3 may put before its tool calls.
pub const PYTHON_TAG: &str = "<|python_tag|>";
/// Most whitespace (in bytes) allowed before the first call; with more, the
/// reply is plain content. Bounds what is held back at the start.
pub const MAX_LEADING_WS: usize = 64;

/// Where the parser is in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Start of the reply: not yet known whether it is calls or text.
    Start,
    /// Calls mode, expecting (or scanning) a JSON object.
    Object,
    /// Calls mode, a call started: its arguments are streaming.
    Args,
    /// Calls mode, after a streamed call's arguments, before its `}`.
    ArgsEnd,
    /// Calls mode, after a call: whitespace or `;` or the next `{` may follow.
    Between,
    /// Plain content to the end.
    Text,
}

/// Parses Llama 3 JSON tool calls; see the module docs.
#[derive(Debug)]
pub struct Llama3Parser {
    state: State,
    /// Text received but not yet emitted or consumed. In `Object` with
    /// `scan` set, it starts with the object's `{`.
    buf: String,
    /// Raw text consumed but not decided: leading whitespace and
    /// `<|python_tag|>`, or separators after a call. Emitted as content if
    /// what follows is not a call, dropped if it is.
    pending: String,
    /// In `Object`: scanning an object that starts at `buf[0]`.
    scan: Option<JsonScan>,
    /// In `Args`: re-writes the streaming arguments.
    args: JsonRewriter,
    /// Numbers calls (separators are handled here, not by its whitespace rule).
    emitter: CallEmitter,
}

impl Llama3Parser {
    /// A parser for one response; `id_seed` feeds [`tool_call_id`].
    pub fn new(id_seed: u64) -> Self {
        Self {
            state: State::Start,
            buf: String::new(),
            pending: String::new(),
            scan: None,
            args: JsonRewriter::new(),
            emitter: CallEmitter::new(id_seed),
        }
    }

    /// Leaves calls mode: `pending` and everything after it is content.
    fn give_up(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.buf.insert_str(0, &pending);
        self.scan = None;
        self.state = State::Text;
    }

    /// Moves leading whitespace of `buf` into `pending`.
    fn take_ws(&mut self) {
        take_leading_ws(&mut self.buf, &mut self.pending);
    }
}

impl BufferedParser for Llama3Parser {
    fn buffer(&mut self) -> &mut String {
        &mut self.buf
    }

    fn calls_seen(&self) -> bool {
        self.emitter.calls() > 0
    }

    /// Emits what the buffer allows; `last` means no more text will come.
    fn process(&mut self, last: bool, out: &mut Vec<ParsedDelta>) {
        loop {
            match self.state {
                State::Start => match lead(&self.buf, &[PYTHON_TAG, "{"], MAX_LEADING_WS, last) {
                    Lead::Opens { index, ws } => {
                        // The tag is consumed; an object's `{` stays.
                        let taken = if index == 0 {
                            ws + PYTHON_TAG.len()
                        } else {
                            ws
                        };
                        self.pending = self.buf.drain(..taken).collect();
                        self.state = State::Object;
                    }
                    Lead::Undecided => return,
                    Lead::Other => self.state = State::Text,
                },
                State::Object => {
                    if self.scan.is_none() {
                        self.take_ws();
                        if self.buf.is_empty() {
                            if !last {
                                return;
                            }
                            if self.emitter.calls() > 0 {
                                // Only separators after the last call.
                                self.pending.clear();
                                return;
                            }
                            self.give_up();
                            continue;
                        }
                        if !self.buf.starts_with('{') {
                            self.give_up();
                            continue;
                        }
                        match capped_call_object_head(&self.buf, last) {
                            Head::Wait => return,
                            Head::Args { name, at } => {
                                // The tag and separators before the call go.
                                self.pending.clear();
                                self.buf.drain(..at);
                                self.emitter.start(name, out);
                                self.args = JsonRewriter::new();
                                self.state = State::Args;
                                continue;
                            }
                            Head::Whole => self.scan = Some(JsonScan::default()),
                        }
                    }
                    let end = self.scan.as_mut().and_then(|s| s.feed(&self.buf));
                    match end {
                        Some(end) => {
                            self.scan = None;
                            let object: String = self.buf.drain(..end).collect();
                            let call = serde_json::from_str::<Value>(&object)
                                .ok()
                                .and_then(|v| call_from_value(&v));
                            match call {
                                Some((name, arguments)) => {
                                    self.emitter.call(name, arguments, out);
                                    self.pending.clear();
                                    self.state = State::Between;
                                }
                                None => {
                                    self.pending.push_str(&object);
                                    self.give_up();
                                }
                            }
                        }
                        None if last => {
                            self.give_up();
                        }
                        None => return,
                    }
                }
                State::Args => {
                    let mut text = String::new();
                    match self.args.feed(&self.buf, &mut text) {
                        Fed::More => {
                            self.emitter.arguments(&text, out);
                            self.buf.clear();
                            if last {
                                // Cut off by the end of the reply: the call
                                // keeps the arguments it got.
                                self.emitter.end();
                            }
                            return;
                        }
                        Fed::Done { consumed } => {
                            self.emitter.arguments(&text, out);
                            self.buf.drain(..consumed);
                            self.state = State::ArgsEnd;
                        }
                        Fed::Invalid { at } => {
                            self.emitter.arguments(&text, out);
                            self.emitter.end_call();
                            self.buf.drain(..at);
                            self.give_up();
                        }
                    }
                }
                State::ArgsEnd => {
                    self.take_ws();
                    if self.buf.is_empty() {
                        if last {
                            // Cut off before the call's `}`: it is whole.
                            self.emitter.end();
                            self.pending.clear();
                        }
                        return;
                    }
                    self.emitter.end_call();
                    if self.buf.starts_with('}') {
                        self.buf.drain(..1);
                        self.pending.clear();
                        self.state = State::Between;
                    } else {
                        self.give_up();
                    }
                }
                State::Between => {
                    self.take_ws();
                    if self.buf.is_empty() {
                        if last {
                            self.pending.clear();
                        }
                        return;
                    }
                    if self.buf.starts_with(';') {
                        self.buf.drain(..1);
                        self.pending.push(';');
                        self.state = State::Object;
                    } else if self.buf.starts_with('{') {
                        self.state = State::Object;
                    } else {
                        self.give_up();
                    }
                }
                State::Text => {
                    push_content(out, &self.buf);
                    self.buf.clear();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        check_random_texts, check_splits, names_args, random_texts, Collected,
    };
    use super::super::tool_call_id;
    use super::*;
    use crate::parse::{OutputParser, ParsedDelta};

    fn llama(text: &str) -> Collected {
        check_splits(&|| Box::new(Llama3Parser::new(5)), text)
    }

    #[test]
    fn plain_text_streams() {
        let text = "The weather is {probably} fine, naïve 🚀.\n";
        let c = llama(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty());
        assert_eq!(llama("").content, "");
        assert_eq!(llama("  \n").content, "  \n");
        assert_eq!(llama("<|python").content, "<|python");
        assert_eq!(llama("<|python_x").content, "<|python_x");
        // Nothing held back once the reply is known to be text.
        let mut p = Llama3Parser::new(0);
        assert_eq!(p.push("Hi {"), vec![ParsedDelta::Content("Hi {".into())]);
        // A `{` later in the reply is text.
        let text = "ok {\"name\": \"f\", \"parameters\": {}}";
        assert_eq!(llama(text).content, text);
    }

    #[test]
    fn one_call() {
        let text =
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": [1, 2]}}";
        let c = llama(text);
        assert_eq!(c.content, "");
        assert_eq!(
            names_args(&c),
            vec![("get_weather", r#"{"city":"Paris","days":[1,2]}"#)]
        );
        assert_eq!(c.calls[0].1, tool_call_id(5, 0));
        assert!(c.saw_tool_calls);
        // With the tag, leading whitespace and `arguments`.
        let text = "\n <|python_tag|>{\"name\": \"f\", \"arguments\": {\"s\": \"}{\\\"\"}}\n";
        let c = llama(text);
        assert_eq!(c.content, "");
        assert_eq!(names_args(&c), vec![("f", r#"{"s":"}{\""}"#)]);
        let c = llama("<|python_tag|> {\"name\": \"g\"}");
        assert_eq!(names_args(&c), vec![("g", "{}")]);
    }

    #[test]
    fn several_calls() {
        let text = "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"z\": 1, \"a\": 2}}; {\"name\": \"b\", \"parameters\": {}};{\"name\": \"c\", \"parameters\": {\"u\": \"é🚀\"}} ;\n";
        let c = llama(text);
        assert_eq!(c.content, "");
        assert_eq!(
            names_args(&c),
            vec![
                ("a", r#"{"z":1,"a":2}"#),
                ("b", "{}"),
                ("c", r#"{"u":"é🚀"}"#)
            ]
        );
        assert_eq!(c.calls[2].1, tool_call_id(5, 2));
        // Whitespace-only separation.
        let c = llama("{\"name\": \"a\"}\n{\"name\": \"b\"}");
        assert_eq!(names_args(&c), vec![("a", "{}"), ("b", "{}")]);
    }

    #[test]
    fn not_a_call_is_content() {
        for bad in [
            "{\"a\": 1} and more",
            "{not json}",
            "{\"name\": \"\", \"parameters\": {}}",
            "{\"name\": 3}",
            "{\"name\": \"f\", \"parameters\": [1]}",
            "<|python_tag|>print(\"hi\")",
            "<|python_tag|>",
            "  <|python_tag|> {\"name\": \"f\"",
            "{]",
        ] {
            let c = llama(bad);
            assert_eq!(c.content, bad, "{bad:?}");
            assert!(c.calls.is_empty() && !c.saw_tool_calls);
        }
    }

    #[test]
    fn call_then_junk() {
        let call = "{\"name\": \"f\", \"parameters\": {}}";
        let c = llama(&format!("{call}; {{bad}} ; {call}"));
        assert_eq!(c.content, format!("; {{bad}} ; {call}"));
        assert_eq!(c.calls.len(), 1);
        let c = llama(&format!("{call}\n\nDone, naïve."));
        assert_eq!(c.content, "\n\nDone, naïve.");
        assert_eq!(c.calls.len(), 1);
        let c = llama(&format!("{call};; {call}"));
        assert_eq!(c.content, format!(";; {call}"));
        let c = llama(&format!("{call}; {{\"name\""));
        assert_eq!(c.content, "; {\"name\"");
        assert_eq!(c.calls.len(), 1);
    }

    #[test]
    fn holds_back_only_while_undecided() {
        let mut p = Llama3Parser::new(0);
        assert!(p.push(" <|python_").is_empty());
        assert!(p.push("tag|>{\"name\": \"f\"").is_empty());
        let out = p.push("}");
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, .. }
            ]
        ));
        assert!(p.push("; ").is_empty());
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("; x".into())]);
        assert!(p.finish().is_empty());
        let ws = " ".repeat(MAX_LEADING_WS + 1);
        let text = format!("{ws}{{\"name\": \"f\"}}");
        assert_eq!(llama(&text).content, text);
    }

    #[test]
    fn arguments_stream_as_they_are_written() {
        let start = |index: usize, name: &str| ParsedDelta::ToolCallStart {
            index,
            id: tool_call_id(2, index),
            name: name.into(),
        };
        let args = |index: usize, text: &str| ParsedDelta::ToolCallArguments {
            index,
            text: text.into(),
        };
        let mut p = Llama3Parser::new(2);
        assert_eq!(p.push("<|python_tag|>{\"name\": \"write\", "), vec![]);
        assert_eq!(
            p.push("\"parameters\": {\"content\": \"line 1\\n"),
            vec![start(0, "write"), args(0, "{\"content\":\"line 1\\n")]
        );
        assert_eq!(p.push("line 2\"}"), vec![args(0, "line 2\"}")]);
        assert_eq!(p.push("}; "), vec![]);
        assert_eq!(
            p.push("{\"name\": \"b\", \"arguments\": {\"é\": [true"),
            vec![start(1, "b"), args(1, "{\"é\":[true")]
        );
        assert_eq!(p.push("]}}"), vec![args(1, "]}")]);
        assert!(p.finish().is_empty());
    }

    #[test]
    fn a_started_call_is_never_content() {
        // Cut off inside the arguments (`max_tokens`): the call keeps what
        // it got, and it does not parse.
        let c = llama("{\"name\": \"f\", \"parameters\": {\"a\": \"}\"");
        assert_eq!(c.content, "");
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].3, "{\"a\":\"}\"");
        assert!(c.cut_call && c.saw_tool_calls);
        let c = llama(
            "{\"name\": \"a\"}; {\"name\": \"write\", \"parameters\": {\"text\": \"naïve \\n 🚀",
        );
        assert_eq!(c.content, "");
        assert_eq!(c.calls.len(), 2);
        assert_eq!(c.calls[1].3, "{\"text\":\"naïve \\n 🚀");
        assert!(c.cut_call);
        // Cut off after the arguments, before the call's `}`: it is whole.
        let c = llama("<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}\n");
        assert_eq!(names_args(&c), vec![("f", r#"{"a":1}"#)]);
        assert_eq!(c.content, "");
        // Arguments that break off: what was valid went out, the rest of
        // the reply is content.
        let call = "{\"name\": \"g\", \"parameters\": {}}";
        let c = llama(&format!(
            "{{\"name\": \"f\", \"parameters\": {{\"a\": }}}}; {call}"
        ));
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].3, "{\"a\":");
        assert_eq!(c.content, format!("}}}}; {call}"));
        // Text other than `}` after the arguments: the call stands, the
        // text from there on is content.
        let c = llama(&format!(
            "{{\"name\": \"f\", \"parameters\": {{}} , \"x\": 1}}; {call}"
        ));
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, format!(" , \"x\": 1}}; {call}"));
    }

    #[test]
    fn random_fragments() {
        const GOOD: &str = "{\"name\":\"f\",\"parameters\":{\"a\":1}}";
        let frags = [
            PYTHON_TAG, "<|", "{", "}", "\"", "\\", ";", " ", "\n", GOOD, "🚀", "x", "[", "é",
        ];
        check_random_texts(&random_texts(&frags, 7, 300, 10), llama, |text, c| {
            if !text.contains(GOOD) {
                assert!(c.calls.is_empty());
            }
        });
    }
}
