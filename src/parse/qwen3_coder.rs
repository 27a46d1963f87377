//! Qwen3-Coder XML-style tool calls (vLLM's `qwen3_coder`):
//!
//! ```text
//! optional content text
//! <tool_call>
//! <function=get_weather>
//! <parameter=city>
//! Paris
//! </parameter>
//! <parameter=days>
//! 3
//! </parameter>
//! </function>
//! </tool_call>
//! ```
//!
//! Rules:
//! - A block is buffered whole, from `<tool_call>` to `</tool_call>`, by the
//!   same layout as the Hermes format ([`TaggedBlocks`], with [`XmlBody`]
//!   reading the body). Its body must be one or more functions, separated by
//!   whitespace: `<function=NAME>`, then any number of
//!   `<parameter=KEY>VALUE</parameter>`, then `</function>` (which may be
//!   left out after the last function). Each function becomes one
//!   [`super::ParsedDelta::ToolCall`] whose `arguments` is a compact JSON object,
//!   parameters in the order written (a repeated key keeps its first place
//!   and its last value).
//! - `NAME` and `KEY` are the text up to `>`, trimmed: non-empty, without
//!   whitespace or `<`.
//! - `VALUE` is the raw text up to the first `</parameter>`, minus one
//!   leading and one trailing `"\n"`. When no `</parameter>` follows at all,
//!   the value ends at the next `<parameter=` or `</function>` (or the end
//!   of the body).
//! - Values become JSON by the parameter's JSON schema in the offered tools
//!   (see [`convert_value`]): a `string` stays the raw text; `integer`,
//!   `number`, `boolean`, `object`, `array` (and `null`) are parsed with
//!   serde_json and kept only when they parse to that type, else the raw text
//!   is used as a string. Without a schema the value is parsed as JSON, and
//!   is a string when that fails.
//! - A block that fails any of that, or is still open at `finish()`, is
//!   emitted as `Content`, raw and with its markers: never lost. Content
//!   before the first call and the whitespace after calls are handled as in
//!   the Hermes format ([`super::hermes`]).

use super::hermes::{END, START};
use super::is_call_name;
use super::layout::{BlockBody, TaggedBlocks};
use super::scanner::CallScanner;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Opens a function inside a block: `<function=NAME>`.
pub const FUNCTION: &str = "<function=";
/// Closes a function.
pub const FUNCTION_END: &str = "</function>";
/// Opens a parameter inside a function: `<parameter=KEY>`.
pub const PARAMETER: &str = "<parameter=";
/// Closes a parameter.
pub const PARAMETER_END: &str = "</parameter>";

/// The parameter schemas of the offered tools: function name → its
/// `parameters.properties` object.
#[derive(Debug, Default)]
struct Schemas(HashMap<String, Map<String, Value>>);

impl Schemas {
    /// Reads OpenAI-shaped tools (`[{type, function: {name, parameters}}]`;
    /// a bare `{name, parameters}` is read too). Anything else is skipped.
    fn from_tools(tools: Option<&Value>) -> Self {
        let mut map = HashMap::new();
        for tool in tools.and_then(Value::as_array).into_iter().flatten() {
            let f = tool.get("function").unwrap_or(tool);
            let Some(name) = f.get("name").and_then(Value::as_str) else {
                continue;
            };
            let props = f
                .get("parameters")
                .and_then(|p| p.get("properties"))
                .and_then(Value::as_object);
            if let Some(props) = props {
                map.insert(name.to_string(), props.clone());
            }
        }
        Self(map)
    }

    /// The schema of parameter `key` of function `name`, if offered.
    fn get(&self, name: &str, key: &str) -> Option<&Value> {
        self.0.get(name)?.get(key)
    }
}

/// Qwen3-Coder block bodies: `<function=...>` with typed parameters.
#[derive(Debug)]
pub struct XmlBody {
    /// Parameter schemas of the offered tools, for typing values.
    schemas: Schemas,
}

impl BlockBody for XmlBody {
    fn calls(&self, body: &str) -> Option<Vec<(String, String)>> {
        parse_body(body, &self.schemas)
    }
}

/// Parses Qwen3-Coder `<tool_call><function=...>` blocks; see the module docs.
pub type Qwen3CoderParser = CallScanner<TaggedBlocks<XmlBody>>;

impl Qwen3CoderParser {
    /// A parser for one response; `id_seed` feeds [`super::tool_call_id`].
    /// `tools`: the request's OpenAI-shaped tool definitions, whose JSON
    /// schemas type the parameter values (`None`: no schemas).
    pub fn new(id_seed: u64, tools: Option<&Value>) -> Self {
        let body = XmlBody {
            schemas: Schemas::from_tools(tools),
        };
        CallScanner::with_syntax(id_seed, TaggedBlocks::new(START, END, body))
    }
}

/// The text of `s` after `<MARKER` up to `>`, as (trimmed name, rest after
/// `>`), or `None` when `s` does not start with `marker` or the name is bad.
fn tag<'a>(s: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let r = s.strip_prefix(marker)?;
    let gt = r.find('>')?;
    let name = r[..gt].trim();
    is_call_name(name).then_some((name, &r[gt + 1..]))
}

/// A block body as (name, compact arguments JSON) per function, or `None`
/// when it is malformed (see the module docs).
fn parse_body(body: &str, schemas: &Schemas) -> Option<Vec<(String, String)>> {
    let mut rest = body.trim_start();
    let mut calls = Vec::new();
    while !rest.is_empty() {
        let (name, after) = tag(rest, FUNCTION)?;
        rest = after;
        let mut args = Map::new();
        loop {
            rest = rest.trim_start();
            if let Some((key, after)) = tag(rest, PARAMETER) {
                let (raw, after) = match after.find(PARAMETER_END) {
                    Some(end) => (&after[..end], &after[end + PARAMETER_END.len()..]),
                    None => {
                        let end = [PARAMETER, FUNCTION_END]
                            .iter()
                            .filter_map(|m| after.find(m))
                            .min()
                            .unwrap_or(after.len());
                        after.split_at(end)
                    }
                };
                let raw = raw.strip_prefix('\n').unwrap_or(raw);
                let raw = raw.strip_suffix('\n').unwrap_or(raw);
                args.insert(key.to_string(), convert_value(raw, schemas.get(name, key)));
                rest = after;
            } else if let Some(after) = rest.strip_prefix(FUNCTION_END) {
                rest = after.trim_start();
                break;
            } else if rest.is_empty() {
                // `</function>` left out after the last function.
                break;
            } else {
                return None;
            }
        }
        calls.push((name.to_string(), serde_json::to_string(&args).ok()?));
    }
    (!calls.is_empty()).then_some(calls)
}

/// A JSON Schema type a parameter value may have (vLLM's aliases included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl Kind {
    /// The kind a schema type name stands for; `None` when unknown.
    fn from_name(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase();
        let starts = |ps: &[&str]| ps.iter().any(|p| n.starts_with(p));
        Some(match n.as_str() {
            "string" | "str" | "text" | "varchar" | "char" | "enum" => Kind::String,
            "boolean" | "bool" | "binary" => Kind::Boolean,
            "null" => Kind::Null,
            _ if starts(&["int", "uint", "long", "short", "unsigned"]) => Kind::Integer,
            _ if starts(&["num", "float", "double"]) => Kind::Number,
            _ if starts(&["object", "dict"]) => Kind::Object,
            _ if starts(&["array", "arr", "list"]) => Kind::Array,
            _ => return None,
        })
    }

    /// True when a parsed JSON `v` is of this (non-string) kind.
    fn accepts(self, v: &Value) -> bool {
        match self {
            Kind::String => false,
            Kind::Integer => v.is_i64() || v.is_u64(),
            Kind::Number => v.is_number(),
            Kind::Boolean => v.is_boolean(),
            Kind::Object => v.is_object(),
            Kind::Array => v.is_array(),
            Kind::Null => v.is_null(),
        }
    }
}

/// The known kinds a parameter schema allows: its `type` (a name or a list
/// of names) and the `type`s of its `anyOf` / `oneOf` alternatives.
fn schema_kinds(schema: &Value) -> Vec<Kind> {
    let mut kinds = Vec::new();
    let mut add = |t: Option<&Value>| match t {
        Some(Value::String(s)) => kinds.extend(Kind::from_name(s)),
        Some(Value::Array(a)) => kinds.extend(
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(Kind::from_name),
        ),
        _ => {}
    };
    add(schema.get("type"));
    for alt in ["anyOf", "oneOf"] {
        for s in schema
            .get(alt)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(s.get("type"));
        }
    }
    kinds
}

/// A raw parameter value as JSON, typed by its JSON schema (`None`: no
/// schema offered).
///
/// - No schema, or one naming no known type: the value parsed as JSON, or
///   the raw text as a string when it does not parse.
/// - Only `string`: the raw text as a string.
/// - Otherwise: the value parsed as JSON when that gives one of the allowed
///   types (`null` is allowed for any type but `string`, as in vLLM), or
///   `true` / `false` in any case when `boolean` is allowed; else the raw
///   text as a string.
pub fn convert_value(raw: &str, schema: Option<&Value>) -> Value {
    let as_string = || Value::String(raw.to_string());
    let kinds = schema.map(schema_kinds).unwrap_or_default();
    if kinds.is_empty() {
        return serde_json::from_str(raw).unwrap_or_else(|_| as_string());
    }
    if kinds.iter().all(|&k| k == Kind::String) {
        return as_string();
    }
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        if v.is_null() || kinds.iter().any(|k| k.accepts(&v)) {
            return v;
        }
    }
    if kinds.contains(&Kind::Boolean) {
        let t = raw.trim();
        if t.eq_ignore_ascii_case("true") {
            return Value::Bool(true);
        }
        if t.eq_ignore_ascii_case("false") {
            return Value::Bool(false);
        }
    }
    as_string()
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

    fn qwen(text: &str) -> Collected {
        check_splits(&|| Box::new(Qwen3CoderParser::new(21, None)), text)
    }

    fn qwen_with(tools: &Value, text: &str) -> Collected {
        check_splits(&|| Box::new(Qwen3CoderParser::new(21, Some(tools))), text)
    }

    /// One block calling `name` with `params` (key, raw value) in the
    /// template's layout.
    fn call(name: &str, params: &[(&str, &str)]) -> String {
        let mut s = format!("<tool_call>\n<function={name}>\n");
        for (k, v) in params {
            s.push_str(&format!("<parameter={k}>\n{v}\n</parameter>\n"));
        }
        s.push_str("</function>\n</tool_call>");
        s
    }

    #[test]
    fn plain_text() {
        let text = "Just an answer, <function=x> naïve 🚀.\n\n";
        let c = qwen(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty() && !c.saw_tool_calls);
    }

    #[test]
    fn text_then_one_call() {
        let text = format!(
            "Let me check.\n{}",
            call("get_weather", &[("city", "Paris"), ("days", "3")])
        );
        let c = qwen(&text);
        assert_eq!(c.content, "Let me check.\n");
        assert_eq!(
            names_args(&c),
            vec![("get_weather", r#"{"city":"Paris","days":3}"#)]
        );
        assert_eq!(c.calls[0].1, tool_call_id(21, 0));
        assert!(c.saw_tool_calls);
    }

    #[test]
    fn two_calls_in_one_turn() {
        let text = format!(
            "{}\n{}\n",
            call("a", &[("z", "1"), ("a", "x y")]),
            call("b", &[])
        );
        let c = qwen(&text);
        assert_eq!(c.content, "");
        assert_eq!(
            names_args(&c),
            vec![("a", r#"{"z":1,"a":"x y"}"#), ("b", "{}")]
        );
        assert_eq!(c.calls[1].1, tool_call_id(21, 1));
        // Two functions in one block.
        let text = "<tool_call>\n<function=a>\n</function>\n<function=b>\n<parameter=k>\nv\n</parameter>\n</function>\n</tool_call>";
        let c = qwen(text);
        assert_eq!(names_args(&c), vec![("a", "{}"), ("b", r#"{"k":"v"}"#)]);
    }

    #[test]
    fn raw_values_keep_their_text() {
        // Multi-line code, markup-like text, unicode; one newline stripped per side.
        let code = "def f(x):\n    return x < 1 and \"</tool\"\n";
        let text = call(
            "write",
            &[
                ("path", "a.py"),
                ("content", code),
                ("note", "naïve 🚀 ｜▁"),
            ],
        );
        let c = qwen(&text);
        let args: Value = serde_json::from_str(&c.calls[0].3).unwrap_or_default();
        assert_eq!(
            args,
            json!({"path": "a.py", "content": code, "note": "naïve 🚀 ｜▁"})
        );
        // Without newlines, and with extra blank lines kept.
        let text = "<tool_call><function=f><parameter=a>x</parameter><parameter=b>\n\ny\n\n</parameter></function></tool_call>";
        let c = qwen(text);
        assert_eq!(names_args(&c), vec![("f", r#"{"a":"x","b":"\ny\n"}"#)]);
    }

    #[test]
    fn untyped_values_try_json() {
        let text = call(
            "f",
            &[
                ("n", "-2.5"),
                ("b", "true"),
                ("o", "{\"k\": [1, \"é\"]}"),
                ("s", "\"quoted\""),
                ("z", "null"),
                ("w", "not json {"),
            ],
        );
        let c = qwen(&text);
        assert_eq!(
            c.calls[0].3,
            r#"{"n":-2.5,"b":true,"o":{"k":[1,"é"]},"s":"quoted","z":null,"w":"not json {"}"#
        );
    }

    #[test]
    fn schema_typed_values() {
        let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "x": {"type": "number"},
            "b": {"type": "boolean"},
            "o": {"type": "object"},
            "a": {"type": "array"},
            "e": {"enum": ["1", "2"]},
            "u": {"type": ["integer", "null"]},
            "v": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        }}}}]);
        let text = call(
            "f",
            &[
                ("s", "42"),
                ("i", "7"),
                ("x", "1e3"),
                ("b", "False"),
                ("o", "{\"k\": 1}"),
                ("a", "[1, 2]"),
                ("e", "2"),
                ("u", "null"),
                ("v", "[\"x\"]"),
                ("extra", "5"),
            ],
        );
        let c = qwen_with(&tools, &text);
        assert_eq!(
            c.calls[0].3,
            r#"{"s":"42","i":7,"x":1000.0,"b":false,"o":{"k":1},"a":[1,2],"e":2,"u":null,"v":["x"],"extra":5}"#
        );
        // Values that do not parse as their type stay strings.
        let text = call(
            "f",
            &[
                ("i", "7.5"),
                ("x", "many"),
                ("b", "yes"),
                ("o", "[1]"),
                ("a", "{oops"),
                ("s", "null"),
                ("v", "{}"),
            ],
        );
        let c = qwen_with(&tools, &text);
        assert_eq!(
            c.calls[0].3,
            r#"{"i":"7.5","x":"many","b":"yes","o":"[1]","a":"{oops","s":"null","v":"{}"}"#
        );
        // A function that was not offered: untyped.
        let c = qwen_with(&tools, &call("g", &[("s", "42")]));
        assert_eq!(c.calls[0].3, r#"{"s":42}"#);
    }

    #[test]
    fn schemas_from_tools() {
        let tools = json!([
            {"type": "function", "function": {"name": "f",
                "parameters": {"properties": {"a": {"type": "string"}}}}},
            {"name": "g", "parameters": {"properties": {"b": {"type": "integer"}}}},
            {"type": "function", "function": {"name": "h"}},
            "junk",
        ]);
        let s = Schemas::from_tools(Some(&tools));
        assert_eq!(s.get("f", "a"), Some(&json!({"type": "string"})));
        assert_eq!(s.get("g", "b"), Some(&json!({"type": "integer"})));
        assert_eq!(s.get("h", "a"), None);
        assert!(Schemas::from_tools(Some(&json!({"not": "a list"})))
            .0
            .is_empty());
        assert!(Schemas::from_tools(None).0.is_empty());
    }

    #[test]
    fn lenient_closing_tags() {
        // No `</parameter>`: the value ends at the next tag; no `</function>`.
        let text = "<tool_call>\n<function=f>\n<parameter=a>\n1\n<parameter=b>\nx\n</function>\n</tool_call>";
        assert_eq!(names_args(&qwen(text)), vec![("f", r#"{"a":1,"b":"x"}"#)]);
        let text = "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</tool_call>";
        assert_eq!(names_args(&qwen(text)), vec![("f", r#"{"a":1}"#)]);
        // A repeated key keeps its first place and its last value.
        let text = call("f", &[("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(names_args(&qwen(&text)), vec![("f", r#"{"a":3,"b":2}"#)]);
    }

    #[test]
    fn malformed_becomes_content() {
        for bad in [
            "<tool_call></tool_call>",
            "<tool_call>\n\n</tool_call>",
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
            "<tool_call>\n<function=>\n</function>\n</tool_call>",
            "<tool_call>\n<function=a b>\n</function>\n</tool_call>",
            "<tool_call>\n<function=f\n</tool_call>",
            "<tool_call>\nhi <function=f>\n</function>\n</tool_call>",
            "<tool_call>\n<function=f>\nstray\n</function>\n</tool_call>",
            "<tool_call>\n<function=f>\n<parameter=>\n1\n</parameter>\n</function>\n</tool_call>",
            "<tool_call>\n<function=f>\n<parameter=a\n1\n</parameter>\n</function>\n</tool_call>",
            "<tool_call>\n<function=f>\n</function>\nafter\n</tool_call>",
        ] {
            let c = qwen(bad);
            assert_eq!(c.content, bad, "{bad:?}");
            assert!(c.calls.is_empty() && !c.saw_tool_calls);
        }
        // A good call, then a bad one: the bad one is content, whitespace kept.
        let bad = "<tool_call><function=></tool_call>";
        let text = format!("{}\n{bad}\n", call("f", &[]));
        let c = qwen(&text);
        assert_eq!(c.content, format!("{bad}\n"));
        assert_eq!(c.calls.len(), 1);
    }

    #[test]
    fn unterminated_becomes_content() {
        let text =
            "Hi <tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_ca";
        let c = qwen(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty());
        let text = format!("{}\n<tool_call>\n<function=g>", call("f", &[]));
        let c = qwen(&text);
        assert_eq!(c.content, "<tool_call>\n<function=g>");
        assert_eq!(c.calls.len(), 1);
        assert_eq!(qwen("<tool_call>").content, "<tool_call>");
        assert_eq!(qwen("x <tool_c").content, "x <tool_c");
    }

    #[test]
    fn trailing_text_after_calls() {
        let text = format!("{}\n\n  \n", call("f", &[]));
        assert_eq!(qwen(&text).content, "");
        let text = format!("{}\n\nDone, naïve 🚀.", call("f", &[]));
        assert_eq!(qwen(&text).content, "\n\nDone, naïve 🚀.");
    }

    #[test]
    fn holds_back_only_marker_prefix() {
        let mut p = Qwen3CoderParser::new(0, None);
        assert_eq!(
            p.push("abc<tool_"),
            vec![ParsedDelta::Content("abc".into())]
        );
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("<tool_x".into())]);
        assert!(p
            .push("<tool_call>\n<function=f>\n<parameter=a>\n")
            .is_empty());
        assert!(p.push("1\n</parameter>\n</function>\n</tool_").is_empty());
        let out = p.push("call>");
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
        const GOOD: &str =
            "<tool_call><function=f><parameter=a>1</parameter></function></tool_call>";
        let frags = [
            START,
            END,
            FUNCTION,
            FUNCTION_END,
            PARAMETER,
            PARAMETER_END,
            "f>",
            ">",
            "<",
            "\n",
            " ",
            GOOD,
            "🚀",
            "é",
            "{\"a\": 1}",
        ];
        check_random_texts(&random_texts(&frags, 17, 300, 10), qwen, |_, _| {});
    }
}
