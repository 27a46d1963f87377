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
//! - A block is buffered whole, from `<tool_call>` to `</tool_call>`, by the
//!   same layout as the Hermes format ([`TaggedBlocks`], with [`ArgBody`]
//!   reading the body). Content before it and whitespace after it are
//!   handled as there.
//! - The body is the name (up to the first newline or `<arg_key>`, trimmed:
//!   non-empty, without whitespace or `<` / `>`), then any number of
//!   `<arg_key>KEY</arg_key>` `<arg_value>VALUE</arg_value>` pairs with
//!   optional whitespace around the tags, and nothing else. One block is one
//!   call whose arguments are the pairs in order (a repeated key keeps its
//!   first place and its last value).
//! - The template writes string values as they are and other values as
//!   JSON, so a value is typed by its parameter's JSON schema in the offered
//!   tools exactly as Qwen3-Coder's ([`convert_value`], on the value
//!   trimmed); a value that ends up a string is the text between the tags
//!   verbatim (vLLM trims it; the template never pads it).
//! - A block that fails any of that, or is still open when the reply ends,
//!   is `Content`, raw and with its markers: never lost.
//! - GLM reasons in `<think>` blocks; the reasoning parser in front of this
//!   one reads them (GLM-4.6's generation prompt closes an empty one itself
//!   when thinking is off, so the reply then starts with the answer).

use super::hermes::{END, START};
use super::is_call_name;
use super::layout::{BlockBody, TaggedBlocks};
use super::qwen3_coder::{convert_value, Schemas};
use super::scanner::CallScanner;
use serde_json::{Map, Value};

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

/// GLM block bodies: a name and `<arg_key>` / `<arg_value>` pairs.
#[derive(Debug)]
pub struct ArgBody {
    /// Parameter schemas of the offered tools, for typing values.
    schemas: Schemas,
}

impl BlockBody for ArgBody {
    fn calls(&self, body: &str) -> Option<Vec<(String, String)>> {
        parse_call(body, &self.schemas).map(|call| vec![call])
    }
}

/// Parses GLM-4.5 / 4.6 `<tool_call>` blocks; see the module docs.
pub type GlmParser = CallScanner<TaggedBlocks<ArgBody>>;

impl GlmParser {
    /// A parser for one response; `id_seed` feeds [`super::tool_call_id`].
    /// `tools`: the request's OpenAI-shaped tool definitions, whose JSON
    /// schemas type the values (`None`: no schemas).
    pub fn new(id_seed: u64, tools: Option<&Value>) -> Self {
        let body = ArgBody {
            schemas: Schemas::from_tools(tools),
        };
        CallScanner::with_syntax(id_seed, TaggedBlocks::new(START, END, body))
    }
}

/// The text between `open` at the start of `s` (after whitespace) and the
/// next `close`, and what follows `close`.
fn tagged<'a>(s: &'a str, open: &str, close: &str) -> Option<(&'a str, &'a str)> {
    let inner = s.trim_start().strip_prefix(open)?;
    let end = inner.find(close)?;
    Some((&inner[..end], &inner[end + close.len()..]))
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

/// A block body as (name, compact arguments JSON), or `None` when it is
/// malformed (see the module docs).
fn parse_call(body: &str, schemas: &Schemas) -> Option<(String, String)> {
    let name_end = [body.find('\n'), body.find(ARG_KEY)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(body.len());
    let name = body[..name_end].trim();
    if !is_call_name(name) {
        return None;
    }
    let mut rest = &body[name_end..];
    let mut args = Map::new();
    while !rest.trim().is_empty() {
        let (key, after) = tagged(rest, ARG_KEY, ARG_KEY_END)?;
        let key = key.trim();
        if key.is_empty() {
            return None;
        }
        let (raw, after) = tagged(after, ARG_VALUE, ARG_VALUE_END)?;
        args.insert(key.to_string(), typed_value(raw, schemas.get(name, key)));
        rest = after;
    }
    Some((name.to_string(), serde_json::to_string(&args).ok()?))
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
            "<tool_call>f\nstray\n</tool_call>",
            "<tool_call>f\n<arg_key>a</arg_key>\n</tool_call>",
            "<tool_call>f\n<arg_key>a</arg_key>\n<arg_value>1\n</tool_call>",
            "<tool_call>f\n<arg_key> </arg_key><arg_value>1</arg_value></tool_call>",
            "<tool_call>f\n<arg_value>1</arg_value></tool_call>",
            "<tool_call>f\n<arg_key>a</arg_key><arg_value>1</arg_value>x</tool_call>",
            "<tool_call>f\n<arg_key>a</arg_key><arg_value>1</arg_value>",
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
    fn holds_back_only_marker_prefix() {
        let mut p = GlmParser::new(0, None);
        assert_eq!(
            p.push("abc<tool_"),
            vec![ParsedDelta::Content("abc".into())]
        );
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("<tool_x".into())]);
        assert!(p.push("<tool_call>f\n<arg_key>a</arg_key>").is_empty());
        assert!(p.push("<arg_value>1</arg_value>\n</tool_").is_empty());
        let out = p.push("call>");
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, .. }
            ]
        ));
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
