//! Hermes-style tool calls (Hermes 2/3, Qwen2.5, Qwen3):
//!
//! ```text
//! optional content text
//! <tool_call>
//! {"name": "get_weather", "arguments": {"city": "Paris"}}
//! </tool_call>
//! <tool_call>
//! ...
//! </tool_call>
//! ```
//!
//! Rules:
//! - A call streams when its body starts `{"name": "NAME", "arguments": {`
//!   (or `"parameters"`), whitespace allowed: the call starts (id and name)
//!   once that `{` is read, and its arguments go out as compact JSON as they
//!   are written (see [`super::json_stream`]). After the object only `}` and
//!   whitespace may come before `</tool_call>`.
//! - A started call is never content: cut off by the end of the reply it
//!   keeps the arguments it got (they do not parse); arguments that break
//!   off (not JSON) end the call where they broke, and the text from the
//!   break on is content; text other than `}` after the arguments object is
//!   content too (the call stands).
//! - Any other body (keys in another order, arguments as a JSON string) is
//!   buffered whole, from `<tool_call>` to `</tool_call>`, then its trimmed
//!   text is parsed as a JSON object with a non-empty string `name` and
//!   `arguments` (or `parameters`): an object, a JSON string holding an
//!   object, or absent / `null` / an empty string (all meaning `{}`). It
//!   becomes one call whose `arguments` is the compact JSON of the object,
//!   key order preserved, sent at once. A block that fails any of that, or
//!   is still open at `finish()`, is emitted as `Content`, raw and with its
//!   markers: never lost.
//! - Content before the first call is emitted as it comes (holding back only
//!   a tail that may be the start of `<tool_call>`). After a successful call,
//!   whitespace is held: dropped if another `<tool_call>` or the end follows,
//!   emitted with the text if non-whitespace text follows.
//! - `<tool_` that never completes the marker (`a <tool_x> b`) is content.

use super::call_from_value;
use super::json_head::call_object_head;
use super::layout::{BlockBody, Head, TaggedBlocks};
use super::scanner::CallScanner;
use serde_json::Value;

/// Opening marker of a tool-call block.
pub const START: &str = "<tool_call>";
/// Closing marker of a tool-call block.
pub const END: &str = "</tool_call>";

/// Hermes bodies: one JSON object with `name` and `arguments`.
#[derive(Debug)]
pub struct JsonBody;

impl BlockBody for JsonBody {
    fn calls(&self, body: &str) -> Option<Vec<(String, String)>> {
        let value = serde_json::from_str::<Value>(body.trim()).ok()?;
        call_from_value(&value).map(|call| vec![call])
    }

    fn head(&self, text: &str) -> Head {
        call_object_head(text)
    }

    fn tail_ok(&self, tail: &str) -> bool {
        tail.trim() == "}"
    }
}

/// Parses Hermes-style `<tool_call>` blocks; see the module docs.
pub type HermesParser = CallScanner<TaggedBlocks<JsonBody>>;

impl HermesParser {
    /// A parser for one response; `id_seed` feeds [`tool_call_id`].
    ///
    /// [`tool_call_id`]: super::tool_call_id
    pub fn new(id_seed: u64) -> Self {
        CallScanner::with_syntax(id_seed, TaggedBlocks::new(START, END, JsonBody))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check_splits, names_args, Collected};
    use super::super::tool_call_id;
    use super::*;
    use crate::parse::{OutputParser, ParsedDelta};

    fn hermes(text: &str) -> Collected {
        check_splits(&|| Box::new(HermesParser::new(99)), text)
    }

    fn call(name: &str, args: &str) -> String {
        format!("<tool_call>\n{{\"name\": \"{name}\", \"arguments\": {args}}}\n</tool_call>")
    }

    #[test]
    fn plain_text() {
        let text = "Just an answer, naïve 🚀.\n\n";
        let c = hermes(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty() && !c.saw_tool_calls);
    }

    #[test]
    fn text_then_one_call() {
        let text = format!(
            "Let me check.\n{}",
            call("get_weather", r#"{"city": "Paris", "days": [1, 2]}"#)
        );
        let c = hermes(&text);
        assert_eq!(c.content, "Let me check.\n");
        assert_eq!(
            names_args(&c),
            vec![("get_weather", r#"{"city":"Paris","days":[1,2]}"#)]
        );
        assert_eq!(c.calls[0].0, 0);
        assert_eq!(c.calls[0].1, tool_call_id(99, 0));
        assert!(c.saw_tool_calls);
    }

    #[test]
    fn two_parallel_calls() {
        let text = format!(
            "{}\n\n{}\n",
            call("a", r#"{"z": 1, "a": 2}"#),
            call("b", "{}")
        );
        let c = hermes(&text);
        assert_eq!(c.content, "");
        assert_eq!(names_args(&c), vec![("a", r#"{"z":1,"a":2}"#), ("b", "{}")]);
        assert_eq!(c.calls[1].0, 1);
        assert_ne!(c.calls[0].1, c.calls[1].1);
        assert_eq!(c.calls[1].1, tool_call_id(99, 1));
    }

    #[test]
    fn unicode_arguments() {
        let text = call("say", r#"{"text": "naïve 🚀", "esc": "\u00e9\n"}"#);
        let c = hermes(&text);
        assert_eq!(
            names_args(&c),
            vec![("say", r#"{"text":"naïve 🚀","esc":"é\n"}"#)]
        );
    }

    #[test]
    fn arguments_as_json_string_or_parameters() {
        let text = "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"b\\\": 1, \\\"a\\\": \\\"x\\\"}\"}\n</tool_call>";
        let c = hermes(text);
        assert_eq!(names_args(&c), vec![("f", r#"{"b":1,"a":"x"}"#)]);
        let c = hermes("<tool_call>{\"name\": \"g\", \"parameters\": {\"k\": null}}</tool_call>");
        assert_eq!(names_args(&c), vec![("g", r#"{"k":null}"#)]);
        let c = hermes("<tool_call>{\"name\": \"h\"}</tool_call>");
        assert_eq!(names_args(&c), vec![("h", "{}")]);
        let c = hermes("<tool_call>{\"name\": \"h\", \"arguments\": \"\"}</tool_call>");
        assert_eq!(names_args(&c), vec![("h", "{}")]);
    }

    #[test]
    fn malformed_becomes_content() {
        for bad in [
            "<tool_call>{\"arguments\": {}}</tool_call>",
            "<tool_call>{\"name\": \"\"}</tool_call>",
            "<tool_call>{\"name\": 3}</tool_call>",
            "<tool_call>[1, 2]</tool_call>",
            "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>",
            "<tool_call>{\"name\": \"f\", \"arguments\": \"[1]\"}</tool_call>",
            "<tool_call>{\"name\": \"f\", \"arguments\": \"{oops\"}</tool_call>",
            "<tool_call></tool_call>",
        ] {
            let c = hermes(bad);
            assert_eq!(c.content, bad);
            assert!(c.calls.is_empty() && !c.saw_tool_calls);
        }
        // A good call, then a bad one: the bad one is content, whitespace kept.
        let bad = "<tool_call>{nope}</tool_call>";
        let text = format!("{}\n{bad}\n", call("f", "{}"));
        let c = hermes(&text);
        assert_eq!(c.content, format!("{bad}\n"));
        assert_eq!(c.calls.len(), 1);
    }

    #[test]
    fn unterminated_becomes_content() {
        // No name yet when the reply ends: the block is content.
        let text = format!("{}\n<tool_call>{{\"name\"", call("f", "{}"));
        let c = hermes(&text);
        assert_eq!(c.content, "<tool_call>{\"name\"");
        assert_eq!(c.calls.len(), 1);
        assert_eq!(hermes("<tool_call>").content, "<tool_call>");
        assert_eq!(hermes("x <tool_c").content, "x <tool_c");
    }

    #[test]
    fn a_started_call_is_never_content() {
        // Cut off after the arguments: the call is whole, the markup gone.
        let text = "Hi <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_cal";
        let c = hermes(text);
        assert_eq!(c.content, "Hi ");
        assert_eq!(names_args(&c), vec![("f", r#"{"a":1}"#)]);
        // Cut off inside the arguments (`max_tokens`): the call keeps what
        // it got, and it does not parse.
        let c =
            hermes("<tool_call>\n{\"name\": \"write\", \"arguments\": {\"text\": \"naïve \\n 🚀");
        assert_eq!(c.content, "");
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].3, "{\"text\":\"naïve \\n 🚀");
        assert!(c.cut_call && c.saw_tool_calls);
        // Arguments that break off: what was valid went out, the rest is
        // content from the break on.
        let c = hermes("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }\n</tool_call>");
        assert_eq!(c.calls[0].3, "{\"a\":");
        assert_eq!(c.content, "}\n</tool_call>");
        // Junk between the arguments and the end marker: the call stands.
        let c = hermes("<tool_call>{\"name\": \"f\", \"arguments\": {}, \"x\": 1}</tool_call>ok");
        assert_eq!(names_args(&c), vec![("f", "{}")]);
        assert_eq!(c.content, ", \"x\": 1}</tool_call>ok");
    }

    #[test]
    fn a_reply_cut_before_the_name_drops_the_markup() {
        for cut in [
            "<tool_call>",
            "<tool_call>\n{\"na",
            "Sure.\n<tool_call>\n{\"name\": \"wri",
        ] {
            // Ended: kept as text (nothing lost). Cut off by max_tokens:
            // the unnamed call's markup is dropped.
            let mut p = HermesParser::new(1);
            let mut out = p.push(cut);
            out.extend(p.finish());
            let text: String = out
                .iter()
                .map(|d| match d {
                    ParsedDelta::Content(t) => t.as_str(),
                    _ => "",
                })
                .collect();
            assert_eq!(text, cut);
            let mut p = HermesParser::new(1);
            let mut out = p.push(cut);
            out.extend(p.finish_cut());
            let kept: Vec<_> = out
                .iter()
                .filter(|d| matches!(d, ParsedDelta::Content(t) if t.contains('<')))
                .collect();
            assert!(kept.is_empty(), "{out:?}");
            assert!(!p.saw_tool_calls());
        }
    }

    #[test]
    fn arguments_stream_as_they_are_written() {
        let mut p = HermesParser::new(5);
        assert_eq!(p.push("<tool_call>\n{\"name\": \"write\", "), vec![]);
        let out = p.push("\"arguments\": {\"content\": \"line 1\\n");
        assert_eq!(
            out,
            vec![
                ParsedDelta::ToolCallStart {
                    index: 0,
                    id: tool_call_id(5, 0),
                    name: "write".into()
                },
                ParsedDelta::ToolCallArguments {
                    index: 0,
                    text: "{\"content\":\"line 1\\n".into()
                }
            ]
        );
        let out = p.push("line 2\"}}\n</tool_call>");
        assert_eq!(
            out,
            vec![ParsedDelta::ToolCallArguments {
                index: 0,
                text: "line 2\"}".into()
            }]
        );
        assert!(p.finish().is_empty());
    }

    #[test]
    fn literal_tool_prefix_is_content() {
        let c = hermes("a <tool_x> b");
        assert_eq!(c.content, "a <tool_x> b");
        let c = hermes("<<tool_call>{\"name\": \"f\"}</tool_call>");
        assert_eq!(c.content, "<");
        assert_eq!(c.calls.len(), 1);
        let c = hermes("</tool_call> <tool_callx>");
        assert_eq!(c.content, "</tool_call> <tool_callx>");
    }

    #[test]
    fn trailing_text_after_calls() {
        let text = format!("{}\n\n  \n", call("f", "{}"));
        assert_eq!(hermes(&text).content, "");
        let text = format!("{}\n\nDone, naïve 🚀.", call("f", "{}"));
        assert_eq!(hermes(&text).content, "\n\nDone, naïve 🚀.");
        // Content between calls is kept, whitespace next to blocks is not.
        let text = format!("{}\nand\n{}", call("f", "{}"), call("g", "{}"));
        let c = hermes(&text);
        assert_eq!(c.content, "\nand\n");
        assert_eq!(c.calls.len(), 2);
    }

    #[test]
    fn holds_back_only_marker_prefix() {
        let mut p = HermesParser::new(0);
        assert_eq!(
            p.push("abc<tool_"),
            vec![ParsedDelta::Content("abc".into())]
        );
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("<tool_x".into())]);
        assert_eq!(p.push("plain"), vec![ParsedDelta::Content("plain".into())]);
        assert!(p.push("<tool_call>{\"name\": \"f\"").is_empty());
        let out = p.push("}</tool_call>");
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
    fn adversarial_inputs_do_not_panic() {
        for text in [
            "<tool_call><tool_call></tool_call></tool_call>",
            "</tool_call></tool_call><tool_call>",
            "<tool_call>🚀</tool_call>🚀<tool_call>🚀",
            "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call></tool_call>",
            "\u{0}<\u{10FFFF}<tool_call>\"\\",
        ] {
            hermes(text);
        }
    }
}
