//! GLM-4.5 / 4.6 tool calls (vLLM's `glm45`): `<tool_call>` blocks holding
//! the function name and key / value pairs in their own tags:
//!
//! ```text
//! optional content
//! <tool_call>get_weather
//! <arg_key>city</arg_key>
//! <arg_value>Paris</arg_value>
//! <arg_key>days</arg_key>
//! <arg_value>3</arg_value>
//! </tool_call>
//! ```
//!
//! Rules:
//! - Calls stream. After `<tool_call>` comes the name (up to the first
//!   newline or `<arg_key>`, trimmed: non-empty, without whitespace or `<` /
//!   `>`): the call starts there (id and name go out). Then any number of
//!   `<arg_key>KEY</arg_key>` `<arg_value>VALUE</arg_value>` pairs with
//!   optional whitespace around the tags, and `</tool_call>`. One block is
//!   one call whose arguments are the pairs in order (a repeated key is sent
//!   twice, as written); `</tool_call>` closes the object.
//! - The template writes string values as they are and other values as
//!   JSON, so a value is typed by its parameter's JSON schema in the offered
//!   tools exactly as Qwen3-Coder's ([`convert_value`], on the value
//!   trimmed); a value that ends up a string is the text between the tags
//!   verbatim (vLLM trims it; the template never pads it). A value whose
//!   schema says `string` streams as it is written; others go out once
//!   `</arg_value>` closes them.
//! - A started call is never content: cut off by the end of the reply it
//!   keeps the arguments it got. Text in a block where a tag should be ends
//!   a started call there and is content from that point on. A block whose
//!   name is bad is `Content`, raw and with its markers: never lost.
//!   Content before a block and whitespace after it are handled as in the
//!   Hermes format.
//! - GLM reasons in `<think>` blocks; the reasoning parser in front of this
//!   one reads them (GLM-4.6's generation prompt closes an empty one itself
//!   when thinking is off, so the reply then starts with the answer).

use super::hermes::{END, START};
use super::is_call_name;
use super::json_stream::push_escaped;
use super::qwen3_coder::{convert_value, schema_is_string, Schemas};
use super::scanner::{floor_boundary, held_prefix_len, Block, CallScanner, CallSyntax, Step};
use serde_json::Value;

/// Opens a parameter name.
pub const ARG_KEY: &str = "<arg_key>";
/// Closes a parameter name.
pub const ARG_KEY_END: &str = "</arg_key>";
/// Opens a parameter value.
pub const ARG_VALUE: &str = "<arg_value>";
/// Closes a parameter value.
pub const ARG_VALUE_END: &str = "</arg_value>";
/// Every GLM tool-call marker (added tokens in its tokenizer).
pub const MARKERS: [&str; 6] = [START, END, ARG_KEY, ARG_KEY_END, ARG_VALUE, ARG_VALUE_END];

/// Longest function name read.
const MAX_NAME: usize = 256;

/// Where reading stands in a GLM block.
#[derive(Debug)]
enum Reading {
    /// Expecting the function's name.
    Name,
    /// Expecting `<arg_key>` or `</tool_call>`.
    Pairs,
    /// In `<arg_key>`, up to `</arg_key>`.
    Key,
    /// Expecting `<arg_value>` for `key`.
    ValueOpen {
        /// The pair's key.
        key: String,
    },
    /// In a value.
    Value {
        /// The pair's key.
        key: String,
        /// Its schema says `string`: the value streams.
        streams: bool,
        /// The raw value so far (values that do not stream).
        raw: String,
    },
    /// The arguments were closed: the call ends next.
    EndCall,
}

/// Reads GLM blocks, streaming the call's arguments; see the module docs.
#[derive(Debug)]
pub struct ArgCalls {
    /// Parameter schemas of the offered tools, for typing values.
    schemas: Schemas,
    /// Where reading stands.
    reading: Reading,
    /// The open call's name.
    name: String,
    /// Pairs sent for the open call.
    params: usize,
}

/// Parses GLM-4.5 / 4.6 `<tool_call>` blocks; see the module docs.
pub type GlmParser = CallScanner<ArgCalls>;

impl GlmParser {
    /// A parser for one response; `id_seed` feeds [`super::tool_call_id`].
    /// `tools`: the request's OpenAI-shaped tool definitions, whose JSON
    /// schemas type the values (`None`: no schemas).
    pub fn new(id_seed: u64, tools: Option<&Value>) -> Self {
        let syntax = ArgCalls {
            schemas: Schemas::from_tools(tools),
            reading: Reading::Name,
            name: String::new(),
            params: 0,
        };
        CallScanner::with_syntax(id_seed, syntax)
    }
}

/// A value's JSON: typed by `schema` on the trimmed text, verbatim when it
/// stays text (see the module docs).
fn typed_value(raw: &str, schema: Option<&Value>) -> Value {
    let trimmed = raw.trim();
    match convert_value(trimmed, schema) {
        Value::String(s) if s == trimmed => Value::String(raw.to_string()),
        v => v,
    }
}

impl ArgCalls {
    /// Reads the name: the call starts.
    fn name(&mut self, block: &mut Block) -> Step {
        let rest = block.rest();
        let window = &rest[..floor_boundary(rest, MAX_NAME)];
        let end = [window.find('\n'), window.find(ARG_KEY), window.find(END)]
            .into_iter()
            .flatten()
            .min();
        let Some(end) = end else {
            let unsure =
                window.len() - held_prefix_len(window, ARG_KEY).max(held_prefix_len(window, END));
            return if block.is_last()
                || rest.len() >= MAX_NAME
                || window[..unsure].contains(['<', '>'])
            {
                Step::Malformed
            } else {
                Step::Wait
            };
        };
        let name = rest[..end].trim();
        if !is_call_name(name) {
            return Step::Malformed;
        }
        let name = name.to_string();
        block.take(end);
        self.name = name.clone();
        self.params = 0;
        self.reading = Reading::Pairs;
        Step::CallStart { name }
    }

    /// Between pairs: a key opens, or the block closes.
    fn pairs(&mut self, block: &mut Block) -> Step {
        block.take_ws();
        if block.rest().is_empty() {
            // At the end of the reply the call is cut off here.
            return Step::Wait;
        }
        if block.rest().starts_with(END) {
            // `</tool_call>` is read when the block closes.
            self.reading = Reading::EndCall;
            return Step::Arguments(if self.params == 0 { "{}" } else { "}" }.to_string());
        }
        if block.take_marker(ARG_KEY) {
            self.reading = Reading::Key;
            return self.step(block);
        }
        if !block.is_last() && (block.may_become(END) || block.may_become(ARG_KEY)) {
            return Step::Wait;
        }
        Step::Malformed
    }

    /// Reads on in a value.
    fn value(&mut self, block: &mut Block) -> Step {
        let Reading::Value { key, streams, raw } = &mut self.reading else {
            return Step::Malformed;
        };
        let rest = block.rest();
        let (upto, done) = match rest.find(ARG_VALUE_END) {
            Some(at) => (at, true),
            // Cut off inside the value: the call keeps what went out.
            None if block.is_last() => return Step::Wait,
            None => (rest.len() - held_prefix_len(rest, ARG_VALUE_END), false),
        };
        let mut out = String::new();
        if *streams {
            push_escaped(&rest[..upto], &mut out);
        } else {
            raw.push_str(&rest[..upto]);
        }
        block.consume(upto);
        if !done {
            return if out.is_empty() {
                Step::Wait
            } else {
                Step::Arguments(out)
            };
        }
        block.consume(ARG_VALUE_END.len());
        if *streams {
            out.push('"');
        } else {
            let value = typed_value(raw, self.schemas.get(&self.name, key));
            out.push_str(&serde_json::to_string(&value).unwrap_or_default());
        }
        self.reading = Reading::Pairs;
        Step::Arguments(out)
    }
}

impl CallSyntax for ArgCalls {
    fn start(&self) -> &'static str {
        START
    }

    fn open(&mut self) {
        self.reading = Reading::Name;
    }

    fn step(&mut self, block: &mut Block) -> Step {
        match &self.reading {
            Reading::Name => self.name(block),
            Reading::Pairs => self.pairs(block),
            Reading::Key => {
                let Some(key) = block.until(ARG_KEY_END) else {
                    return Step::Wait;
                };
                let key = key.trim();
                if key.is_empty() || key.contains('<') {
                    return Step::Malformed;
                }
                self.reading = Reading::ValueOpen {
                    key: key.to_string(),
                };
                self.step(block)
            }
            Reading::ValueOpen { key } => {
                block.take_ws();
                if !block.take_marker(ARG_VALUE) {
                    return if !block.is_last() && block.may_become(ARG_VALUE) {
                        Step::Wait
                    } else {
                        Step::Malformed
                    };
                }
                let key = key.clone();
                let streams = self
                    .schemas
                    .get(&self.name, &key)
                    .is_some_and(schema_is_string);
                let mut open = String::from(if self.params == 0 { "{" } else { "," });
                open.push_str(&serde_json::to_string(&key).unwrap_or_default());
                open.push(':');
                if streams {
                    open.push('"');
                }
                self.params += 1;
                self.reading = Reading::Value {
                    key,
                    streams,
                    raw: String::new(),
                };
                Step::Arguments(open)
            }
            Reading::Value { .. } => self.value(block),
            Reading::EndCall => {
                block.take_marker(END);
                self.reading = Reading::Name;
                Step::CallEnd { close: true }
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
    use serde_json::json;

    fn glm(text: &str) -> Collected {
        check_splits(&|| Box::new(GlmParser::new(6, None)), text)
    }

    fn glm_with(tools: &Value, text: &str) -> Collected {
        check_splits(&|| Box::new(GlmParser::new(6, Some(tools))), text)
    }

    /// One block as the GLM-4.6 template renders a call in history.
    fn call(name: &str, params: &[(&str, &str)]) -> String {
        let mut s = format!("<tool_call>{name}\n");
        for (k, v) in params {
            s.push_str(&format!(
                "<arg_key>{k}</arg_key>\n<arg_value>{v}</arg_value>\n"
            ));
        }
        s.push_str("</tool_call>");
        s
    }

    #[test]
    fn a_long_name_cut_inside_a_char_is_content_at_once() {
        // A name window (MAX_NAME bytes) that ends inside a multi-byte char
        // still caps the name: the block is content once that much text is
        // there, not held back until the reply ends.
        for pad in 253..=256 {
            let text = format!("<tool_call>{}€€ x", "a".repeat(pad));
            let mut p = GlmParser::new(6, None);
            let shown: String = p
                .push(&text)
                .into_iter()
                .map(|d| match d {
                    ParsedDelta::Content(s) => s,
                    other => panic!("not content: {other:?}"),
                })
                .collect();
            assert_eq!(shown, text, "pad {pad}");
            assert_eq!(glm(&text).content, text);
        }
    }

    #[test]
    fn plain_text() {
        let text = "Just an answer, <arg_key> naïve 🚀.\n";
        let c = glm(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty() && !c.saw_tool_calls);
    }

    #[test]
    fn text_then_calls() {
        let text = format!(
            "Let me check.\n{}\n{}",
            call("get_weather", &[("city", "Paris"), ("days", "3")]),
            call("list", &[])
        );
        let c = glm(&text);
        assert_eq!(c.content, "Let me check.\n");
        assert_eq!(
            names_args(&c),
            vec![
                ("get_weather", r#"{"city":"Paris","days":3}"#),
                ("list", "{}")
            ]
        );
        assert_eq!(c.calls[1].1, tool_call_id(6, 1));
        // GLM-4.7 leaves out the newline after the name.
        let c = glm("<tool_call>f<arg_key>a</arg_key><arg_value>x</arg_value></tool_call>");
        assert_eq!(names_args(&c), vec![("f", r#"{"a":"x"}"#)]);
    }

    #[test]
    fn schema_typed_values() {
        let tools = json!([{"type": "function", "function": {"name": "write", "parameters": {
            "type": "object", "properties": {
                "path": {"type": "string"}, "content": {"type": "string"},
                "mode": {"type": "integer"}, "opts": {"type": "object"},
                "force": {"type": "boolean"}}}}}]);
        let code = "fn main() {\n    println!(\"<hi> 🚀\");\n}\n";
        let text = call(
            "write",
            &[
                ("path", "42"),
                ("content", code),
                ("mode", " 420 "),
                ("opts", "{\"a\": [1, \"é\"]}"),
                ("force", "True"),
                ("extra", "[1, 2]"),
            ],
        );
        let c = glm_with(&tools, &text);
        let args: Value = serde_json::from_str(&c.calls[0].3).unwrap_or_default();
        assert_eq!(
            args,
            json!({"path": "42", "content": code, "mode": 420, "opts": {"a": [1, "é"]},
                "force": true, "extra": [1, 2]})
        );
        // Untyped: JSON when it parses, else the text verbatim.
        let c = glm(&call(
            "f",
            &[("a", " not json "), ("b", "\"q\""), ("c", "null")],
        ));
        assert_eq!(c.calls[0].3, r#"{"a":" not json ","b":"q","c":null}"#);
    }

    #[test]
    fn malformed_becomes_content() {
        for bad in [
            "<tool_call></tool_call>",
            "<tool_call>\n</tool_call>",
            "<tool_call>a b\n</tool_call>",
            "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
        ] {
            let c = glm(bad);
            assert_eq!(c.content, bad, "{bad:?}");
            assert!(c.calls.is_empty() && !c.saw_tool_calls);
        }
        let bad = "<tool_call>\n</tool_call>";
        let text = format!("{}\n{bad}\n", call("f", &[]));
        let c = glm(&text);
        assert_eq!(c.content, format!("{bad}\n"));
        assert_eq!(c.calls.len(), 1);
    }

    #[test]
    fn a_started_call_is_never_content() {
        // (text, the call's arguments, content): a call starts at its name.
        for (text, args, content) in [
            (
                "<tool_call>f\nstray\n</tool_call>",
                "",
                "\nstray\n</tool_call>",
            ),
            (
                "<tool_call>f\n<arg_key>a</arg_key>\n</tool_call>",
                "",
                "\n<arg_key>a</arg_key>\n</tool_call>",
            ),
            (
                "<tool_call>f\n<arg_key> </arg_key><arg_value>1</arg_value></tool_call>",
                "",
                "\n<arg_key> </arg_key><arg_value>1</arg_value></tool_call>",
            ),
            (
                "<tool_call>f\n<arg_value>1</arg_value></tool_call>",
                "",
                "\n<arg_value>1</arg_value></tool_call>",
            ),
            (
                "<tool_call>f\n<arg_key>a</arg_key><arg_value>1</arg_value>x</tool_call>",
                r#"{"a":1"#,
                "x</tool_call>",
            ),
            // Cut off by the end of the reply: no markup in content.
            (
                "<tool_call>f\n<arg_key>a</arg_key><arg_value>1</arg_value>",
                r#"{"a":1"#,
                "",
            ),
            (
                "<tool_call>f\n<arg_key>a</arg_key>\n<arg_value>1\n</tool_call>",
                r#"{"a":"#,
                "",
            ),
        ] {
            let c = glm(text);
            assert_eq!(c.calls.len(), 1, "{text:?}");
            assert_eq!(
                (c.calls[0].3.as_str(), c.content.as_str()),
                (args, content),
                "{text:?}"
            );
        }
        // No call starts after one that broke off.
        let text = format!("<tool_call>f\nstray\n</tool_call>{}", call("g", &[]));
        let c = glm(&text);
        assert_eq!(c.calls.len(), 1);
        assert!(c.content.ends_with(&call("g", &[])));
    }

    #[test]
    fn string_values_stream_as_they_are_written() {
        let tools = json!([{"type": "function", "function": {"name": "write", "parameters": {
            "type": "object", "properties": {"content": {"type": "string"}}}}}]);
        let mut p = GlmParser::new(1, Some(&tools));
        let out = p.push("<tool_call>write\n<arg_key>content</arg_key>\n<arg_value>line 1\n");
        assert_eq!(
            out,
            vec![
                ParsedDelta::ToolCallStart {
                    index: 0,
                    id: tool_call_id(1, 0),
                    name: "write".into()
                },
                ParsedDelta::ToolCallArguments {
                    index: 0,
                    text: r#"{"content":"line 1\n"#.into()
                },
            ]
        );
        let out = p.push("line 2</arg_value>\n</tool_call>");
        assert_eq!(
            out,
            vec![ParsedDelta::ToolCallArguments {
                index: 0,
                text: r#"line 2"}"#.into()
            }]
        );
        assert!(p.finish().is_empty());
    }

    #[test]
    fn holds_back_only_marker_prefix() {
        let mut p = GlmParser::new(0, None);
        assert_eq!(
            p.push("abc<tool_"),
            vec![ParsedDelta::Content("abc".into())]
        );
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("<tool_x".into())]);
        let out = p.push("<tool_call>f\n<arg_key>a</arg_key>");
        assert!(matches!(
            &out[..],
            [ParsedDelta::ToolCallStart { index: 0, .. }]
        ));
        let out = p.push("<arg_value>1</arg_value>\n</tool_");
        assert!(
            matches!(&out[..], [ParsedDelta::ToolCallArguments { index: 0, text }] if text == "{\"a\":1")
        );
        let out = p.push("call>");
        assert!(
            matches!(&out[..], [ParsedDelta::ToolCallArguments { index: 0, text }] if text == "}")
        );
        assert!(p.finish().is_empty());
    }

    #[test]
    fn random_fragments() {
        const GOOD: &str =
            "<tool_call>f\n<arg_key>a</arg_key>\n<arg_value>1</arg_value>\n</tool_call>";
        let frags = [
            START,
            END,
            ARG_KEY,
            ARG_KEY_END,
            ARG_VALUE,
            ARG_VALUE_END,
            "f\n",
            "a",
            "<",
            "\n",
            " ",
            GOOD,
            "🚀",
            "{\"a\": 1}",
        ];
        check_random_texts(&random_texts(&frags, 23, 300, 10), glm, |_, _| {});
    }
}
