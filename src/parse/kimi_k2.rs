//! Kimi K2 tool calls (vLLM's `kimi_k2`), a section of calls each named by
//! an id `functions.NAME:INDEX`:
//!
//! ```text
//! optional content<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_call_begin|>...<|tool_call_end|><|tool_calls_section_end|>
//! ```
//!
//! Rules:
//! - The section is read by the shared [`Sections`] layout (see there for
//!   whitespace, a missing section end and malformed sections, which are
//!   content, raw and with their markers).
//! - A call's body is split at its `<|tool_call_argument_begin|>`: before
//!   it the id, trimmed, whose name is what is left after dropping a
//!   trailing `:INDEX` (digits) and a leading `functions.` (non-empty,
//!   without whitespace or `<` / `>`); after it the arguments, a JSON
//!   object or a JSON string holding one (empty: `{}`).
//! - A call streams: it starts once its id and the `{` of its arguments
//!   are read, and the arguments go out as the model writes them (see
//!   [`Sections`]); arguments that are not an object (`[1]`, a JSON string)
//!   are read whole when the call ends. A started call is never content:
//!   arguments that break off end the call there, the rest is content.
//! - Kimi K2 Thinking writes `<think>` reasoning first; the reasoning parser
//!   in front of this one reads it.

use super::layout::{BlockBody, Head, SectionMarkers, Sections};
use super::scanner::{held_prefix_len, CallScanner};
use super::{arguments_json, is_call_name};
use serde_json::Value;

/// Opens the tool-call section.
pub const SECTION_BEGIN: &str = "<|tool_calls_section_begin|>";
/// Closes the tool-call section.
pub const SECTION_END: &str = "<|tool_calls_section_end|>";
/// Opens one call (its id follows).
pub const CALL_BEGIN: &str = "<|tool_call_begin|>";
/// Separates a call's id from its arguments.
pub const ARGUMENT_BEGIN: &str = "<|tool_call_argument_begin|>";
/// Closes one call.
pub const CALL_END: &str = "<|tool_call_end|>";
/// Every Kimi K2 tool-call marker (special tokens in its tokenizer).
pub const MARKERS: [&str; 5] = [
    SECTION_BEGIN,
    SECTION_END,
    CALL_BEGIN,
    ARGUMENT_BEGIN,
    CALL_END,
];
/// The namespace the template puts function names in.
pub const FUNCTIONS: &str = "functions.";

/// The section layout's markers.
const LAYOUT: SectionMarkers = SectionMarkers {
    begin: SECTION_BEGIN,
    end: SECTION_END,
    call_begin: CALL_BEGIN,
    call_end: CALL_END,
};

/// Kimi K2 call bodies: `ID<|tool_call_argument_begin|>JSON`.
#[derive(Debug)]
pub struct CallBody;

impl BlockBody for CallBody {
    fn calls(&self, body: &str) -> Option<Vec<(String, String)>> {
        parse_call(body).map(|call| vec![call])
    }

    fn head(&self, text: &str) -> Head {
        stream_head(text)
    }
}

/// The streaming head of a call body: the id, `<|tool_call_argument_begin|>`,
/// then the `{` of the arguments.
fn stream_head(text: &str) -> Head {
    let Some(pos) = text.find(ARGUMENT_BEGIN) else {
        // Still the id, maybe with the start of the separator. The id is
        // trimmed once whole, so only what lies inside it (whitespace, a
        // `<` or `>`) already rules it out, whatever comes next.
        let before = &text[..text.len() - held_prefix_len(text, ARGUMENT_BEGIN)];
        let inside = before.trim();
        return if inside.contains(|c: char| c.is_whitespace() || c == '<' || c == '>') {
            Head::Whole
        } else {
            Head::Wait
        };
    };
    let Some(name) = name_from_id(&text[..pos]) else {
        return Head::Whole;
    };
    let after = pos + ARGUMENT_BEGIN.len();
    let rest = &text[after..];
    let lead = rest.len() - rest.trim_start().len();
    match rest[lead..].chars().next() {
        None => Head::Wait,
        Some('{') => Head::Args {
            name: name.to_string(),
            at: after + lead,
        },
        Some(_) => Head::Whole,
    }
}

/// Parses Kimi K2 tool-call sections; see the module docs.
pub type KimiK2Parser = CallScanner<Sections<CallBody>>;

impl KimiK2Parser {
    /// A parser for one response; `id_seed` feeds [`super::tool_call_id`].
    pub fn new(id_seed: u64) -> Self {
        CallScanner::with_syntax(id_seed, Sections::new(LAYOUT, CallBody))
    }
}

/// The function name in a call id `functions.NAME:INDEX` (both the prefix
/// and the index may be left out), or `None` when it is not a name.
fn name_from_id(id: &str) -> Option<&str> {
    let id = id.trim();
    let id = match id.rsplit_once(':') {
        Some((head, index)) if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) => {
            head
        }
        _ => id,
    };
    let name = id.strip_prefix(FUNCTIONS).unwrap_or(id);
    is_call_name(name).then_some(name)
}

/// A call body (between the call markers) as (name, compact arguments
/// JSON), or `None` when it is malformed. The arguments JSON starts right
/// after `<|tool_call_argument_begin|>`.
fn parse_call(body: &str) -> Option<(String, String)> {
    let (id, args) = body.split_once(ARGUMENT_BEGIN)?;
    let name = name_from_id(id)?;
    let args = args.trim();
    let args = if args.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(args).ok()?)
    };
    Some((name.to_string(), arguments_json(args.as_ref())?))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        check_random_texts, check_splits, names_args, random_texts, Collected,
    };
    use super::super::tool_call_id;
    use super::*;
    use crate::parse::{OutputParser, ParsedDelta};

    fn kimi(text: &str) -> Collected {
        check_splits(&|| Box::new(KimiK2Parser::new(3)), text)
    }

    /// One call as the Kimi K2 template renders it in history.
    fn call(name: &str, index: usize, args: &str) -> String {
        format!("{CALL_BEGIN}functions.{name}:{index}{ARGUMENT_BEGIN}{args}{CALL_END}")
    }

    fn section(calls: &[String]) -> String {
        format!("{SECTION_BEGIN}{}{SECTION_END}", calls.concat())
    }

    #[test]
    fn plain_text() {
        let text = "Just an answer <|tool_call naïve 🚀.\n";
        let c = kimi(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty() && !c.saw_tool_calls);
        assert_eq!(kimi("x <|tool_calls_sec").content, "x <|tool_calls_sec");
    }

    #[test]
    fn text_then_calls() {
        let text = format!(
            "Let me check.{}",
            section(&[
                call("get_weather", 0, r#"{"city": "Paris", "u": "é🚀 <|x|>"}"#),
                call(
                    "read_file",
                    1,
                    r#"{"path": "src/main.rs", "n": [1, {"k": null}]}"#
                ),
            ])
        );
        let c = kimi(&text);
        assert_eq!(c.content, "Let me check.");
        assert_eq!(
            names_args(&c),
            vec![
                ("get_weather", r#"{"city":"Paris","u":"é🚀 <|x|>"}"#),
                ("read_file", r#"{"path":"src/main.rs","n":[1,{"k":null}]}"#)
            ]
        );
        assert_eq!(c.calls[1].1, tool_call_id(3, 1));
        assert!(c.saw_tool_calls);
    }

    #[test]
    fn ids_and_arguments_variants() {
        let text = section(&[
            format!("{CALL_BEGIN} get_weather:0 {ARGUMENT_BEGIN} {{}} {CALL_END}"),
            format!("{CALL_BEGIN}functions.a.b{ARGUMENT_BEGIN}\"{{\\\"z\\\": 1}}\"{CALL_END}"),
            format!("{CALL_BEGIN}functions.c:12{ARGUMENT_BEGIN}{CALL_END}"),
        ]);
        assert_eq!(
            names_args(&kimi(&text)),
            vec![("get_weather", "{}"), ("a.b", r#"{"z":1}"#), ("c", "{}")]
        );
        // The section end may be missing when the reply ends after a call;
        // whitespace between markers and after the section is dropped.
        let text = format!("{SECTION_BEGIN}\n{}\n", call("f", 0, "{}"));
        let c = kimi(&text);
        assert_eq!((c.content.as_str(), c.calls.len()), ("", 1));
        let text = format!("{}\n\nDone.", section(&[call("f", 0, "{}")]));
        assert_eq!(kimi(&text).content, "\n\nDone.");
    }

    #[test]
    fn malformed_becomes_content() {
        for bad in [
            SECTION_BEGIN.to_string(),
            format!("{SECTION_BEGIN}{SECTION_END}"),
            format!("{SECTION_BEGIN}text"),
            format!("{SECTION_BEGIN}{CALL_BEGIN}functions.f:0{{\"a\": 1}}{CALL_END}"),
            section(&[call("", 0, "{}")]),
            section(&[call("a b", 0, "{}")]),
            section(&[call("f", 0, "[1]")]),
            section(&[format!(
                "{CALL_BEGIN}functions.:0{ARGUMENT_BEGIN}{{}}{CALL_END}"
            )]),
        ] {
            let c = kimi(&bad);
            assert_eq!(c.content, bad, "{bad:?}");
            assert!(c.calls.is_empty() && !c.saw_tool_calls);
        }
        // A good call, then a bad one: only the bad one is content.
        let bad_call = call("h", 1, "[1]");
        let text = section(&[call("a", 0, "{}"), bad_call.clone()]);
        let c = kimi(&text);
        assert_eq!(c.content, format!("{bad_call}{SECTION_END}"));
        assert_eq!(names_args(&c), vec![("a", "{}")]);
    }

    #[test]
    fn a_started_call_is_never_content() {
        // The reply ends after the arguments: the call is whole.
        let c = kimi(&format!(
            "{SECTION_BEGIN}{CALL_BEGIN}functions.f:0{ARGUMENT_BEGIN}{{\"a\": 1}}"
        ));
        assert_eq!(
            (c.content.as_str(), names_args(&c)),
            ("", vec![("f", r#"{"a":1}"#)])
        );
        // Cut off inside the arguments: the call keeps what it got.
        let c = kimi(&format!(
            "{SECTION_BEGIN}{CALL_BEGIN}functions.write:0{ARGUMENT_BEGIN}{{\"text\": \"ab"
        ));
        assert_eq!(c.content, "");
        assert!(c.cut_call);
        assert_eq!(c.calls[0].2, "write");
        assert_eq!(c.calls[0].3, "{\"text\":\"ab");
        // Arguments that break off: what was valid went out, the rest is
        // content from the break on.
        let c = kimi(&section(&[call("a", 0, "{}"), call("h", 1, "{oops")]));
        assert_eq!(c.content, format!("oops{CALL_END}{SECTION_END}"));
        assert_eq!(c.calls.len(), 2);
        assert_eq!(c.calls[1].3, "{");
    }

    #[test]
    fn id_with_trailing_line_break_streams_however_cut() {
        // Found by the parsers fuzz target: the id ends in a line break
        // (trimmed, so the call is good and streams), and a piece ended
        // inside the argument marker. The head must not give up on the id
        // early, or a call whose end marker is garbled is a call in one
        // cut and content in another.
        let text = format!(
            "{SECTION_BEGIN}{CALL_BEGIN}functions.f:0\n{ARGUMENT_BEGIN}{{}}<|tool_, x|>{SECTION_END} after"
        );
        let c = kimi(&text);
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, format!("<|tool_, x|>{SECTION_END} after"));
        // A line break inside the id can never be trimmed away.
        let bad = section(&[call("f\nx", 0, "{}")]);
        assert_eq!(kimi(&bad).content, bad);
        // A started call whose end marker never comes: the text after its
        // arguments is content, not lost.
        let text = format!(
            "{SECTION_BEGIN}{CALL_BEGIN}functions.f:0{ARGUMENT_BEGIN}{{}}<|tool_, x|>{SECTION_END} after"
        );
        let c = kimi(&text);
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, format!("<|tool_, x|>{SECTION_END} after"));
    }

    #[test]
    fn names_from_ids() {
        assert_eq!(name_from_id("functions.get_weather:0"), Some("get_weather"));
        assert_eq!(name_from_id(" f:3 "), Some("f"));
        assert_eq!(name_from_id("functions.f:x"), Some("f:x"));
        assert_eq!(name_from_id("functions.:1"), None);
        assert_eq!(name_from_id(""), None);
    }

    #[test]
    fn holds_back_only_marker_prefix() {
        let mut p = KimiK2Parser::new(0);
        assert_eq!(
            p.push("abc<|tool_"),
            vec![ParsedDelta::Content("abc".into())]
        );
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("<|tool_x".into())]);
        assert!(p.push(SECTION_BEGIN).is_empty());
        // The call starts once its arguments begin, and they stream.
        let out = p.push(&format!(
            "{CALL_BEGIN}functions.f:0{ARGUMENT_BEGIN}{{\"a\": \"é"
        ));
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, text }
            ] if text == "{\"a\":\"é"
        ));
        let out = p.push("\"}");
        assert!(
            matches!(&out[..], [ParsedDelta::ToolCallArguments { index: 0, text }] if text == "\"}")
        );
        assert!(p.push(CALL_END).is_empty());
        assert!(p.push(SECTION_END).is_empty());
        assert!(p.finish().is_empty());
    }

    #[test]
    fn random_fragments() {
        let good = call("f", 0, "{\"a\":1}");
        let frags = [
            SECTION_BEGIN,
            SECTION_END,
            CALL_BEGIN,
            ARGUMENT_BEGIN,
            CALL_END,
            "functions.f:0",
            "<|tool_",
            "{",
            "}",
            "\"",
            "\n",
            " ",
            &good,
            "🚀",
        ];
        check_random_texts(&random_texts(&frags, 7, 300, 10), kimi, |_, _| {});
    }
}
