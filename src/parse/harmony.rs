//! gpt-oss output in OpenAI's harmony format (vLLM's `openai` tool parser
//! and `openai_gptoss` reasoning parser): reasoning, answer and tool calls
//! in one parser, since all three are messages of the same markup.
//!
//! The chat template's generation prompt ends with `<|start|>assistant`, so
//! the reply opens with the rest of a message header. A reply reads like:
//!
//! ```text
//! <|channel|>analysis<|message|>The user wants the weather.<|end|>
//! <|start|>assistant<|channel|>final<|message|>It is sunny.<|return|>
//! ```
//!
//! or, for a call (the recipient may stand before or after the channel):
//!
//! ```text
//! <|channel|>analysis<|message|>Need the weather.<|end|>
//! <|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>
//! <|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}
//! ```
//!
//! Rules:
//! - A message is a header (up to `<|message|>`), then a body up to
//!   `<|end|>`, `<|call|>`, `<|return|>`, the next `<|start|>` or the end of
//!   the reply (`<|call|>` and `<|return|>` are end-of-sequence tokens, so
//!   the reply usually just stops). The reply's first header needs no
//!   `<|start|>`: it may open with `<|channel|>` or `to=`.
//! - The header's `to=RECIPIENT` and `<|channel|>CHANNEL` words route the
//!   body: recipient `functions.NAME` makes it a tool call whose arguments
//!   are the body (a JSON object, or a JSON string holding one; an empty
//!   body is `{}`); otherwise channel `analysis` is `Reasoning` and any
//!   other channel (`final`, a `commentary` preamble) is `Content`. The
//!   role and the content type (`json`, `<|constrain|>json`) are not read.
//! - Text outside messages (a reply with no harmony markup at all, or text
//!   between messages) is `Content`.
//! - A header with no `<|message|>` within [`MAX_HEADER`] bytes, or broken
//!   by another marker, and a call whose body is not a JSON object (or that
//!   comes when calls are not parsed), are `Content`, raw and with their
//!   markers, and parsing goes on after them: never lost.
//! - Reasoning and content stream as they come, holding back only a tail
//!   that may be the start of a marker. A call whose body starts with `{`
//!   streams: it starts there and its arguments go out as the model writes
//!   them ([`JsonRewriter`]); a started call is never content (arguments
//!   that break off end the call there and the rest is text, and no call
//!   starts after it; a reply cut off inside them keeps what came). Any other body is buffered until it
//!   ends and read whole.

use super::json_stream::{Fed, JsonRewriter};
use super::scanner::{held_prefix_len, lead, Lead};
use super::{
    arguments_json, is_call_name, push_reasoning, BufferedParser, CallEmitter, ParsedDelta,
};
use serde_json::Value;

/// Opens a message (then the role and the rest of its header).
pub const START: &str = "<|start|>";
/// Names the message's channel in a header.
pub const CHANNEL: &str = "<|channel|>";
/// Ends the header: the body follows.
pub const MESSAGE: &str = "<|message|>";
/// Ends a message that the reply goes on after.
pub const END: &str = "<|end|>";
/// Ends a tool-call message (an end-of-sequence token).
pub const CALL: &str = "<|call|>";
/// Ends the final message (an end-of-sequence token).
pub const RETURN: &str = "<|return|>";
/// Precedes the content type of a call's arguments in a header.
pub const CONSTRAIN: &str = "<|constrain|>";
/// Every harmony marker (special tokens in the gpt-oss tokenizer).
pub const MARKERS: [&str; 7] = [START, CHANNEL, MESSAGE, END, CALL, RETURN, CONSTRAIN];
/// Most bytes a header may take before its `<|message|>`; bounds what is
/// held back while a header is read.
pub const MAX_HEADER: usize = 1024;

/// Introduces the recipient in a header.
const RECIPIENT: &str = "to=";
/// The namespace of the offered functions among recipients.
const FUNCTIONS: &str = "functions.";
/// Most whitespace before the reply's first header.
const MAX_LEADING_WS: usize = 8;
/// What may end a header; only the first, `<|message|>`, ends it well.
const HEADER_ENDS: [&str; 5] = [MESSAGE, START, END, CALL, RETURN];
/// What ends a body; `<|start|>` (the last) also opens the next message.
const BODY_ENDS: [&str; 4] = [END, CALL, RETURN, START];

/// Where a message body goes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Reasoning,
    Content,
    /// A call to this function.
    Call(String),
}

/// Where the parser is in the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Start of the reply: a header may open it.
    Start,
    /// Outside messages.
    Text,
    /// In a header, before `<|message|>`.
    Header,
    /// In a message body.
    Body(Route),
}

/// Where reading stands in a call's body.
#[derive(Debug, Default)]
enum CallReading {
    /// Before the body's first non-whitespace char.
    #[default]
    Head,
    /// The call started; its arguments are streaming.
    Args(JsonRewriter),
    /// The arguments are complete; up to the body's end.
    Tail,
    /// Not an object: buffered until the body ends, then read whole.
    Whole,
}

/// Splits harmony messages into reasoning, content and tool calls; see the
/// module docs.
#[derive(Debug)]
pub struct HarmonyParser {
    state: State,
    /// Text received and not yet handled.
    buf: String,
    /// The current message's markup read so far (`<|start|>`, header,
    /// `<|message|>`): content again if the message turns out malformed.
    raw: String,
    /// Calls are parsed (else a call message is content).
    calls_enabled: bool,
    /// In a call's body: where reading stands.
    call: CallReading,
    /// Numbers calls and handles whitespace after them.
    emitter: CallEmitter,
    /// A started call's arguments broke off: no call starts after it (every
    /// call is complete before the next index starts); later call messages
    /// are content.
    stopped: bool,
}

impl HarmonyParser {
    /// A parser for one response; `id_seed` feeds [`super::tool_call_id`].
    /// `calls_enabled`: `to=functions.NAME` messages become tool calls
    /// (otherwise they are content, markup and all).
    pub fn new(id_seed: u64, calls_enabled: bool) -> Self {
        Self {
            state: State::Start,
            buf: String::new(),
            raw: String::new(),
            calls_enabled,
            call: CallReading::Head,
            emitter: CallEmitter::new(id_seed),
            stopped: false,
        }
    }

    /// Whether a call message may become a call now.
    fn calls_allowed(&self) -> bool {
        self.calls_enabled && !self.stopped
    }

    /// The message's markup read so far is content after all.
    fn malformed(&mut self, out: &mut Vec<ParsedDelta>) {
        let raw = std::mem::take(&mut self.raw);
        self.emitter.text(&raw, false, out);
        self.state = State::Text;
    }

    /// A call's body is complete (`consumed` bytes of the buffer: the body
    /// and its end marker): emits the call, or its raw text as content.
    fn finish_call(
        &mut self,
        name: String,
        body_len: usize,
        consumed: usize,
        out: &mut Vec<ParsedDelta>,
    ) {
        let arguments = call_arguments(&self.buf[..body_len]);
        let text: String = self.buf.drain(..consumed).collect();
        match arguments {
            Some(arguments) if self.calls_allowed() => {
                self.raw.clear();
                self.emitter.call(name, arguments, out);
                self.state = State::Text;
            }
            _ => {
                self.raw.push_str(&text);
                self.malformed(out);
            }
        }
    }
}

/// A call's body as compact arguments JSON (see the module docs); `None`
/// when it is not a JSON object.
fn call_arguments(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return arguments_json(None);
    }
    let value: Value = serde_json::from_str(body).ok()?;
    arguments_json(Some(&value))
}

/// The first of `markers` in `buf` as (byte offset, index in `markers`).
fn find_first(buf: &str, markers: &[&str]) -> Option<(usize, usize)> {
    markers
        .iter()
        .enumerate()
        .filter_map(|(i, m)| buf.find(m).map(|pos| (pos, i)))
        .min()
}

/// The longest tail of `buf` that may be the start of one of `markers`.
fn held_any(buf: &str, markers: &[&str]) -> usize {
    markers
        .iter()
        .map(|m| held_prefix_len(buf, m))
        .max()
        .unwrap_or(0)
}

/// The word after `key` in a header: up to whitespace or `<`.
fn word_after<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(key)? + key.len();
    let rest = &header[at..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '<')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Where a header routes its body.
fn route(header: &str) -> Route {
    let recipient = word_after(header, RECIPIENT);
    if let Some(name) = recipient.and_then(|r| r.strip_prefix(FUNCTIONS)) {
        if is_call_name(name) {
            return Route::Call(name.to_string());
        }
    }
    match word_after(header, CHANNEL) {
        Some("analysis") => Route::Reasoning,
        _ => Route::Content,
    }
}

impl BufferedParser for HarmonyParser {
    fn buffer(&mut self) -> &mut String {
        &mut self.buf
    }

    fn calls_seen(&self) -> bool {
        self.emitter.calls() > 0
    }

    fn process(&mut self, last: bool, out: &mut Vec<ParsedDelta>) {
        loop {
            match self.state.clone() {
                State::Start => {
                    match lead(
                        &self.buf,
                        &[CHANNEL, RECIPIENT, START],
                        MAX_LEADING_WS,
                        last,
                    ) {
                        Lead::Opens { index: 2, ws } => {
                            self.raw = self.buf.drain(..ws + START.len()).collect();
                            self.state = State::Header;
                        }
                        Lead::Opens { ws, .. } => {
                            self.raw = self.buf.drain(..ws).collect();
                            self.state = State::Header;
                        }
                        Lead::Undecided => return,
                        Lead::Other => self.state = State::Text,
                    }
                }
                State::Text => match self.buf.find(START) {
                    Some(pos) => {
                        let before: String = self.buf.drain(..pos).collect();
                        self.emitter.text(&before, false, out);
                        self.buf.drain(..START.len());
                        self.raw = START.to_string();
                        self.state = State::Header;
                    }
                    None => {
                        let keep = if last {
                            0
                        } else {
                            held_prefix_len(&self.buf, START)
                        };
                        let ready: String = self.buf.drain(..self.buf.len() - keep).collect();
                        self.emitter.text(&ready, false, out);
                        if last {
                            self.emitter.end();
                        }
                        return;
                    }
                },
                State::Header => match find_first(&self.buf, &HEADER_ENDS) {
                    Some((pos, 0)) if pos <= MAX_HEADER => {
                        let route = route(&self.buf[..pos]);
                        self.raw.extend(self.buf.drain(..pos + MESSAGE.len()));
                        self.state = State::Body(route);
                        self.call = CallReading::Head;
                    }
                    Some(_) => self.malformed(out),
                    None if last || self.buf.len() >= MAX_HEADER + MESSAGE.len() => {
                        self.malformed(out)
                    }
                    None => return,
                },
                State::Body(Route::Call(name)) => match &mut self.call {
                    CallReading::Head => {
                        let lead = self.buf.len() - self.buf.trim_start().len();
                        match self.buf[lead..].chars().next() {
                            None if !last => return,
                            Some('{') if self.calls_allowed() => {
                                self.buf.drain(..lead);
                                self.raw.clear();
                                self.emitter.start(name, out);
                                self.call = CallReading::Args(JsonRewriter::new());
                            }
                            _ => self.call = CallReading::Whole,
                        }
                    }
                    CallReading::Args(rewriter) => {
                        let mut args = String::new();
                        let n = self.buf.len();
                        match rewriter.feed(&self.buf, &mut args) {
                            Fed::More => {
                                self.buf.clear();
                                self.emitter.arguments(&args, out);
                                if !last {
                                    return;
                                }
                                // Cut off inside the arguments.
                                self.emitter.end_call();
                                self.state = State::Text;
                            }
                            Fed::Done { consumed } => {
                                self.buf.drain(..consumed.min(n));
                                self.emitter.arguments(&args, out);
                                self.call = CallReading::Tail;
                            }
                            Fed::Invalid { at } => {
                                // What was valid went out; the rest is text.
                                self.buf.drain(..at.min(n));
                                self.emitter.arguments(&args, out);
                                self.emitter.end_call();
                                self.stopped = true;
                                self.state = State::Text;
                            }
                        }
                    }
                    CallReading::Tail => {
                        let end = find_first(&self.buf, &BODY_ENDS);
                        let tail_len = match end {
                            Some((pos, _)) => pos,
                            None if last => self.buf.len(),
                            None => self.buf.len() - held_any(&self.buf, &BODY_ENDS),
                        };
                        if !self.buf[..tail_len].trim().is_empty() {
                            // Not the body's end after the object: text.
                            self.emitter.end_call();
                            self.state = State::Text;
                            continue;
                        }
                        match end {
                            Some((pos, i)) => {
                                let marker = if BODY_ENDS[i] == START {
                                    0
                                } else {
                                    BODY_ENDS[i].len()
                                };
                                self.buf.drain(..pos + marker);
                            }
                            None if last => self.buf.clear(),
                            None => return,
                        }
                        self.emitter.end_call();
                        self.state = State::Text;
                    }
                    CallReading::Whole => match find_first(&self.buf, &BODY_ENDS) {
                        Some((pos, i)) => {
                            // `<|start|>` stays: it opens the next message.
                            let marker = if BODY_ENDS[i] == START {
                                0
                            } else {
                                BODY_ENDS[i].len()
                            };
                            self.finish_call(name, pos, pos + marker, out);
                        }
                        None if last => {
                            let len = self.buf.len();
                            self.finish_call(name, len, len, out);
                        }
                        None => return,
                    },
                },
                State::Body(route) => {
                    let (ready, end) = match find_first(&self.buf, &BODY_ENDS) {
                        Some((pos, i)) => (pos, Some(BODY_ENDS[i])),
                        None if last => (self.buf.len(), None),
                        None => (self.buf.len() - held_any(&self.buf, &BODY_ENDS), None),
                    };
                    let text: String = self.buf.drain(..ready).collect();
                    if route == Route::Reasoning {
                        push_reasoning(out, &text);
                    } else {
                        self.emitter.text(&text, false, out);
                    }
                    match end {
                        Some(marker) => {
                            if marker != START {
                                self.buf.drain(..marker.len());
                            }
                            self.raw.clear();
                            self.state = State::Text;
                        }
                        None if last => {
                            self.raw.clear();
                            self.state = State::Text;
                        }
                        None => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check_splits, names_args, random_texts, Collected};
    use super::super::tool_call_id;
    use super::*;
    use crate::parse::OutputParser;

    fn harmony(text: &str) -> Collected {
        check_splits(&|| Box::new(HarmonyParser::new(5, true)), text)
    }

    /// A call message as the gpt-oss template renders one in history, after
    /// the generation prompt's `<|start|>assistant`.
    fn call(name: &str, args: &str) -> String {
        format!(" to=functions.{name}<|channel|>commentary json<|message|>{args}<|call|>")
    }

    #[test]
    fn plain_text_is_content() {
        let text = "Just an answer, naïve 🚀 <|chan <|end|> to be sure.\n";
        let c = harmony(text);
        assert_eq!(c.content, text);
        assert!(c.reasoning.is_empty() && c.calls.is_empty() && !c.saw_tool_calls);
        assert_eq!(harmony("").content, "");
        assert_eq!(harmony("<|chan").content, "<|chan");
    }

    #[test]
    fn analysis_then_final() {
        let text = "<|channel|>analysis<|message|>User greets. Reply, naïve 🚀.<|end|><|start|>assistant<|channel|>final<|message|>Hello! 👋\nHow can I help?<|return|>";
        let c = harmony(text);
        assert_eq!(c.reasoning, "User greets. Reply, naïve 🚀.");
        assert_eq!(c.content, "Hello! 👋\nHow can I help?");
        assert!(c.calls.is_empty());
        // The end-of-sequence `<|return|>` is usually not in the text.
        let c = harmony("<|channel|>final<|message|>Hi.");
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("", "Hi."));
    }

    #[test]
    fn analysis_then_call() {
        let text = format!(
            "<|channel|>analysis<|message|>Need the weather for \"Paris\".<|end|><|start|>assistant{}",
            call("get_weather", r#"{"city": "Paris", "days": [1, 2], "u": "é🚀"}"#)
        );
        let c = harmony(&text);
        assert_eq!(c.reasoning, "Need the weather for \"Paris\".");
        assert_eq!(c.content, "");
        assert_eq!(
            names_args(&c),
            vec![("get_weather", r#"{"city":"Paris","days":[1,2],"u":"é🚀"}"#)]
        );
        assert_eq!(c.calls[0].1, tool_call_id(5, 0));
        assert!(c.saw_tool_calls);
    }

    #[test]
    fn recipient_after_the_channel_and_constrain() {
        for text in [
            "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Oslo\"}<|call|>",
            "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Oslo\"}",
            " to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Oslo\"}",
            "<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Oslo\"}<|call|>",
            // Some calls come on the analysis channel.
            "<|channel|>analysis to=functions.get_weather code<|message|>\"{\\\"city\\\": \\\"Oslo\\\"}\"",
        ] {
            let c = harmony(text);
            assert_eq!(names_args(&c), vec![("get_weather", r#"{"city":"Oslo"}"#)], "{text}");
            assert_eq!((c.content.as_str(), c.reasoning.as_str()), ("", ""), "{text}");
        }
        let c = harmony(&call("list", ""));
        assert_eq!(names_args(&c), vec![("list", "{}")]);
    }

    #[test]
    fn preamble_is_content() {
        let text = format!(
            "<|channel|>analysis<|message|>plan<|end|><|start|>assistant<|channel|>commentary<|message|>Let me check.<|end|><|start|>assistant{}",
            call("f", "{}")
        );
        let c = harmony(&text);
        assert_eq!(
            (c.reasoning.as_str(), c.content.as_str()),
            ("plan", "Let me check.")
        );
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        // Two calls in a row (the second after an unusual `<|end|>`).
        let text = " to=functions.a<|channel|>commentary json<|message|>{\"x\": 1}<|end|><|start|>assistant to=functions.b<|channel|>commentary json<|message|>{}";
        let c = harmony(text);
        assert_eq!(names_args(&c), vec![("a", r#"{"x":1}"#), ("b", "{}")]);
        assert_eq!(c.calls[1].1, tool_call_id(5, 1));
    }

    #[test]
    fn other_recipients_follow_their_channel() {
        let c = harmony("<|channel|>analysis to=browser.search<|message|>q<|end|>");
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("q", ""));
        assert!(c.calls.is_empty());
    }

    #[test]
    fn malformed_becomes_content() {
        for bad in [
            "<|channel|>analysis",
            "<|channel|>final<|end|>x",
            "<|start|>assistant",
            " to=functions.f<|channel|>commentary json<|message|>[1]<|call|>",
            " to=functions.f<|channel|>commentary json<|message|>\"[1]\"",
        ] {
            let c = harmony(bad);
            assert!(c.calls.is_empty() && !c.saw_tool_calls, "{bad:?}");
            assert!(c.reasoning.is_empty(), "{bad:?}");
            assert_eq!(c.content, bad, "{bad:?}");
        }
        // No function name: not a call, its body is content.
        let c = harmony(" to=functions.<|channel|>commentary json<|message|>{}");
        assert_eq!((c.content.as_str(), c.calls.len()), ("{}", 0));
        // A header too long to be one.
        let long = format!("<|channel|>{}<|message|>x", "a".repeat(MAX_HEADER));
        assert_eq!(harmony(&long).content, long);
        // Parsing resumes after a malformed message.
        let text = format!("<|channel|>fin<|start|>assistant{}", call("g", "{}"));
        let c = harmony(&text);
        assert_eq!(c.content, "<|channel|>fin");
        assert_eq!(names_args(&c), vec![("g", "{}")]);
    }

    #[test]
    fn a_started_call_is_never_content() {
        // Cut off inside the arguments: the call keeps what it got.
        let c = harmony(" to=functions.write<|channel|>commentary json<|message|>{\"text\": \"ab");
        assert_eq!((c.content.as_str(), c.cut_call), ("", true));
        assert_eq!(
            (c.calls[0].2.as_str(), c.calls[0].3.as_str()),
            ("write", "{\"text\":\"ab")
        );
        // Arguments that break off: what was valid went out, the rest is text.
        let c = harmony(" to=functions.f<|channel|>commentary json<|message|>{oops}<|call|>");
        assert_eq!((c.calls.len(), c.calls[0].3.as_str()), (1, "{"));
        assert_eq!(c.content, "oops}<|call|>");
        // No call starts after one that broke off (found by the `parsers`
        // fuzz target: the next message's call took index 1 while call 0's
        // arguments were still unfinished); its message is content.
        let next = format!("<|start|>assistant{}", call("g", "{\"a\": 1}"));
        let c = harmony(&format!(
            " to=functions.f<|channel|>commentary json<|message|>{{\"a\": \"\u{10}\"}}{next}"
        ));
        assert_eq!((c.calls.len(), c.calls[0].3.as_str()), (1, "{\"a\":\""));
        assert_eq!(c.content, format!("\u{10}\"}}{next}"));
        // Text after the object instead of the body's end.
        let c = harmony(" to=functions.f<|channel|>commentary json<|message|>{} x<|call|>");
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, " x<|call|>");
    }

    #[test]
    fn arguments_stream() {
        let mut p = HarmonyParser::new(0, true);
        assert!(p
            .push(" to=functions.f<|channel|>commentary json<|message|> ")
            .is_empty());
        let out = p.push("{\"a\": \"é");
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, text }
            ] if text == "{\"a\":\"é"
        ));
        let out = p.push("\"}<|ca");
        assert!(
            matches!(&out[..], [ParsedDelta::ToolCallArguments { index: 0, text }] if text == "\"}")
        );
        assert!(p.push("ll|>").is_empty());
        assert!(p.finish().is_empty());
        assert!(p.saw_tool_calls());
    }

    #[test]
    fn calls_disabled_keep_the_markup() {
        let text = call("f", "{}");
        let c = check_splits(&|| Box::new(HarmonyParser::new(5, false)), &text);
        assert!(c.calls.is_empty());
        assert_eq!(c.content, text);
    }

    #[test]
    fn holds_back_only_marker_prefixes() {
        let mut p = HarmonyParser::new(0, true);
        assert!(p.push("<|channel|>analysis<|mess").is_empty());
        assert_eq!(
            p.push("age|>abc<|e"),
            vec![ParsedDelta::Reasoning("abc".into())]
        );
        assert_eq!(p.push("x"), vec![ParsedDelta::Reasoning("<|ex".into())]);
        assert!(p
            .push("<|end|><|start|>assistant<|channel|>final<|message|>")
            .is_empty());
        assert_eq!(p.push("Hi"), vec![ParsedDelta::Content("Hi".into())]);
        assert!(p.finish().is_empty());
    }

    #[test]
    fn random_fragments() {
        let good = call("f", "{\"a\":1}");
        let frags = [
            START,
            CHANNEL,
            MESSAGE,
            END,
            CALL,
            RETURN,
            CONSTRAIN,
            "analysis",
            "final",
            "commentary",
            " to=functions.f",
            "assistant",
            "<|",
            "{",
            "}",
            " ",
            "\n",
            &good,
            "🚀",
        ];
        // Harmony strips the markup of well-formed messages, so the shared
        // check (no call: all text is content) does not hold; with no
        // `<|message|>` no message ever opened, and it does.
        let (mut with_calls, mut without) = (0, 0);
        for text in random_texts(&frags, 11, 300, 10) {
            let c = harmony(&text);
            if c.calls.is_empty() {
                without += 1;
            } else {
                with_calls += 1;
            }
            if !text.contains(MESSAGE) && !text.contains(&good) {
                assert_eq!(
                    (c.content.as_str(), c.reasoning.as_str()),
                    (text.as_str(), "")
                );
            }
        }
        assert!(
            with_calls > 0 && without > 0,
            "{with_calls} with calls, {without} without"
        );
    }
}
