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
//! - Calls stream. After `<tool_call>` come one or more functions,
//!   separated by whitespace: `<function=NAME>`, then any number of
//!   `<parameter=KEY>VALUE</parameter>`, then `</function>` (which may be
//!   left out after the last function). `<function=NAME>` starts a call
//!   (id and name go out); each parameter adds `"KEY":VALUE` to its
//!   compact JSON arguments, in the order written; `</function>` (or the
//!   block's end) closes the object. A repeated key is sent twice, as
//!   written.
//! - `NAME` and `KEY` are the text up to `>`, trimmed: non-empty, without
//!   whitespace or `<`.
//! - `VALUE` is the raw text up to the first `</parameter>`, `<parameter=`,
//!   `</function>` or `</tool_call>` (the last three when the model left
//!   `</parameter>` out), minus one leading and one trailing `"\n"`.
//! - Values become JSON by the parameter's JSON schema in the offered tools
//!   (see [`convert_value`]): a `string` stays the raw text, and streams as
//!   it is written (a whole file passed to a `write` tool shows as it
//!   comes); `integer`, `number`, `boolean`, `object`, `array` (and `null`)
//!   are parsed with serde_json once the value is complete and kept only
//!   when they parse to that type, else the raw text is used as a string.
//!   Without a schema the value is parsed as JSON, and is a string when that
//!   fails.
//! - A started call is never content: cut off by the end of the reply it
//!   keeps the arguments it got (they do not parse). Text in a block where a
//!   tag should be ends a started call there and is content from that point
//!   on; a block with no good `<function=NAME>` is content, raw and with its
//!   markers: never lost. Content before the first call and the whitespace
//!   after calls are handled as in the Hermes format ([`super::hermes`]).

use super::hermes::{END, START};
use super::is_call_name;
use super::json_stream::push_escaped;
use super::scanner::{floor_boundary, held_prefix_len, Block, CallScanner, CallSyntax, Step};
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
pub(crate) struct Schemas(HashMap<String, Map<String, Value>>);

impl Schemas {
    /// Reads OpenAI-shaped tools (`[{type, function: {name, parameters}}]`;
    /// a bare `{name, parameters}` is read too). Anything else is skipped.
    pub(crate) fn from_tools(tools: Option<&Value>) -> Self {
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
    pub(crate) fn get(&self, name: &str, key: &str) -> Option<&Value> {
        self.0.get(name)?.get(key)
    }
}

/// Where reading stands in a Qwen3-Coder block.
#[derive(Debug)]
enum Reading {
    /// Expecting `<function=NAME>` (or, after a call, the block's end).
    Function,
    /// In a function, expecting `<parameter=KEY>`, `</function>` or the
    /// block's end.
    Params,
    /// Reading a parameter's value.
    Value {
        /// The parameter's schema says `string`: the value streams.
        streams: bool,
        /// The leading `"\n"` question is settled.
        started: bool,
        /// The raw value so far (values that do not stream).
        raw: String,
        /// The parameter's name.
        key: String,
    },
    /// The call's arguments were closed: the call ends next.
    EndCall,
}

/// Everything that ends a parameter's value (the last three when the
/// model left `</parameter>` out).
const VALUE_ENDS: [&str; 4] = [PARAMETER_END, PARAMETER, FUNCTION_END, END];

/// Longest function or parameter name read.
const MAX_NAME: usize = 256;

/// Reads Qwen3-Coder blocks call by call, streaming the arguments; see the
/// module docs.
#[derive(Debug)]
pub struct XmlCalls {
    /// Parameter schemas of the offered tools, for typing values.
    schemas: Schemas,
    /// Where reading stands.
    reading: Reading,
    /// The open call's name.
    name: String,
    /// Parameters sent for the open call.
    params: usize,
    /// Calls started in this block.
    calls: usize,
}

/// Parses Qwen3-Coder `<tool_call><function=...>` blocks; see the module docs.
pub type Qwen3CoderParser = CallScanner<XmlCalls>;

impl Qwen3CoderParser {
    /// A parser for one response; `id_seed` feeds [`super::tool_call_id`].
    /// `tools`: the request's OpenAI-shaped tool definitions, whose JSON
    /// schemas type the parameter values (`None`: no schemas).
    pub fn new(id_seed: u64, tools: Option<&Value>) -> Self {
        let syntax = XmlCalls {
            schemas: Schemas::from_tools(tools),
            reading: Reading::Function,
            name: String::new(),
            params: 0,
            calls: 0,
        };
        CallScanner::with_syntax(id_seed, syntax)
    }
}

/// A `<MARKER NAME>` tag at the start of the unread text.
enum Tag {
    /// More text is needed.
    Wait,
    /// Not that tag, or a bad name.
    Bad,
    /// The tag, read; its trimmed name.
    Name(String),
}

/// Reads `<MARKER NAME>` (`marker` is `<function=` or `<parameter=`).
fn read_tag(block: &mut Block, marker: &str) -> Tag {
    let rest = block.rest();
    let Some(after) = rest.strip_prefix(marker) else {
        return if !block.is_last() && block.may_become(marker) {
            Tag::Wait
        } else {
            Tag::Bad
        };
    };
    let window = &after[..floor_boundary(after, MAX_NAME)];
    match window.find('>') {
        Some(gt) => {
            let name = after[..gt].trim();
            if !is_call_name(name) {
                return Tag::Bad;
            }
            let name = name.to_string();
            block.take(marker.len() + gt + 1);
            Tag::Name(name)
        }
        None if block.is_last() || after.len() >= MAX_NAME || window.contains('<') => Tag::Bad,
        None => Tag::Wait,
    }
}

impl XmlCalls {
    /// The text that opens parameter `key`'s value in the arguments.
    fn open_param(&mut self, key: &str, streams: bool) -> String {
        let mut out = String::from(if self.params == 0 { "{" } else { "," });
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(':');
        if streams {
            out.push('"');
        }
        self.params += 1;
        out
    }

    /// Closes the open call's arguments; the call ends at the next step.
    fn close_args(&mut self) -> Step {
        self.reading = Reading::EndCall;
        Step::Arguments(if self.params == 0 { "{}" } else { "}" }.to_string())
    }

    /// Reads on in a parameter's value.
    fn value(&mut self, block: &mut Block) -> Step {
        let Reading::Value {
            streams,
            started,
            raw,
            key,
        } = &mut self.reading
        else {
            return Step::Malformed;
        };
        if !*started {
            match block.rest().chars().next() {
                None if !block.is_last() => return Step::Wait,
                Some('\n') => block.consume(1),
                _ => {}
            }
            *started = true;
        }
        let rest = block.rest();
        let (upto, done) = match VALUE_ENDS.iter().filter_map(|m| rest.find(m)).min() {
            Some(at) => (at, true),
            // Cut off inside the value: the call keeps what went out.
            None if block.is_last() => return Step::Wait,
            None => {
                let held = VALUE_ENDS
                    .iter()
                    .map(|m| held_prefix_len(rest, m))
                    .max()
                    .unwrap_or(0);
                let mut safe = rest.len() - held;
                // A newline right before the end tag is not the value's.
                if rest[..safe].ends_with('\n') {
                    safe -= 1;
                }
                (safe, false)
            }
        };
        let mut text = &rest[..upto];
        if done {
            text = text.strip_suffix('\n').unwrap_or(text);
        }
        let mut out = String::new();
        if *streams {
            push_escaped(text, &mut out);
        } else {
            raw.push_str(text);
        }
        block.consume(upto);
        if !done {
            return if out.is_empty() {
                Step::Wait
            } else {
                Step::Arguments(out)
            };
        }
        if *streams {
            out.push('"');
        } else {
            let value = convert_value(raw, self.schemas.get(&self.name, key));
            out.push_str(&serde_json::to_string(&value).unwrap_or_default());
        }
        if block.rest().starts_with(PARAMETER_END) {
            block.consume(PARAMETER_END.len());
        }
        self.reading = Reading::Params;
        Step::Arguments(out)
    }
}

impl CallSyntax for XmlCalls {
    fn start(&self) -> &'static str {
        START
    }

    fn open(&mut self) {
        self.reading = Reading::Function;
        self.calls = 0;
    }

    fn step(&mut self, block: &mut Block) -> Step {
        match &self.reading {
            Reading::Function => {
                block.take_ws();
                if self.calls > 0 && block.take_marker(END) {
                    return Step::Close;
                }
                if self.calls > 0 && block.is_last() && END.starts_with(block.rest()) {
                    // The reply ended after the calls, in the end tag.
                    block.consume(block.rest().len());
                    return Step::Close;
                }
                if self.calls > 0 && !block.is_last() && block.may_become(END) {
                    return Step::Wait;
                }
                match read_tag(block, FUNCTION) {
                    Tag::Wait => Step::Wait,
                    Tag::Bad => Step::Malformed,
                    Tag::Name(name) => {
                        self.name = name.clone();
                        self.params = 0;
                        self.calls += 1;
                        self.reading = Reading::Params;
                        Step::CallStart { name }
                    }
                }
            }
            Reading::Params => {
                block.take_ws();
                if block.take_marker(FUNCTION_END) {
                    return self.close_args();
                }
                if block.rest().starts_with(END) {
                    // `</function>` left out after the last function.
                    return self.close_args();
                }
                if !block.is_last() && (block.may_become(FUNCTION_END) || block.may_become(END)) {
                    return Step::Wait;
                }
                match read_tag(block, PARAMETER) {
                    Tag::Wait => Step::Wait,
                    Tag::Bad => Step::Malformed,
                    Tag::Name(key) => {
                        let streams = self
                            .schemas
                            .get(&self.name, &key)
                            .is_some_and(schema_is_string);
                        let open = self.open_param(&key, streams);
                        self.reading = Reading::Value {
                            streams,
                            started: false,
                            raw: String::new(),
                            key,
                        };
                        Step::Arguments(open)
                    }
                }
            }
            Reading::Value { .. } => self.value(block),
            Reading::EndCall => {
                self.reading = Reading::Function;
                Step::CallEnd { close: false }
            }
        }
    }
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

/// True when a parameter's schema allows only strings: its raw value is
/// the value, so it can stream as it is written.
pub(crate) fn schema_is_string(schema: &Value) -> bool {
    let kinds = schema_kinds(schema);
    !kinds.is_empty() && kinds.iter().all(|&k| k == Kind::String)
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
    fn a_long_tag_cut_inside_a_char_is_content() {
        // Found by the `parsers` fuzz target: the name window (MAX_NAME
        // bytes) ended inside a multi-byte char and slicing there panicked.
        for pad in 253..=256 {
            let text = format!(
                "<tool_call>\n<function={}€€ x\n</tool_call>",
                "a".repeat(pad)
            );
            let c = qwen(&text);
            assert_eq!(c.content, text);
            assert!(c.calls.is_empty());
        }
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
        // A repeated key is sent twice, as written (it streamed).
        let text = call("f", &[("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(
            names_args(&qwen(&text)),
            vec![("f", r#"{"a":1,"b":2,"a":3}"#)]
        );
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
        // No function name yet when the reply ends: the block is content.
        assert_eq!(
            qwen("<tool_call>\n<function=g").content,
            "<tool_call>\n<function=g"
        );
        assert_eq!(qwen("<tool_call>").content, "<tool_call>");
        assert_eq!(qwen("x <tool_c").content, "x <tool_c");
    }

    #[test]
    fn a_started_call_is_never_content() {
        // The reply ends in the end tag after a whole call.
        let text =
            "Hi <tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_ca";
        let c = qwen(text);
        assert_eq!(c.content, "Hi ");
        assert_eq!(names_args(&c), vec![("f", r#"{"a":1}"#)]);
        // Cut off inside a string value: the call keeps what it got.
        let tools = json!([{"type": "function", "function": {"name": "write", "parameters": {
            "type": "object", "properties": {"content": {"type": "string"}}}}}]);
        let c = qwen_with(
            &tools,
            "<tool_call>\n<function=write>\n<parameter=content>\nline \"1\"\nline 2",
        );
        assert_eq!(c.content, "");
        assert!(c.cut_call);
        assert_eq!(c.calls[0].3, r#"{"content":"line \"1\"\nline 2"#);
        // Cut off right after the name.
        let c = qwen(&format!("{}\n<tool_call>\n<function=g>", call("f", &[])));
        assert_eq!(c.content, "");
        assert_eq!(c.calls.len(), 2);
        assert_eq!(c.calls[1].3, "");
        // Text where a tag should be: the call ends there, the rest is content.
        for (bad, args, content) in [
            ("<tool_call>\n<function=f>\nstray\n</function>\n</tool_call>", "", "\nstray\n</function>\n</tool_call>"),
            ("<tool_call>\n<function=f>\n<parameter=>\n1\n</parameter>\n</function>\n</tool_call>", "", "\n<parameter=>\n1\n</parameter>\n</function>\n</tool_call>"),
            ("<tool_call>\n<function=f>\n</function>\nafter\n</tool_call>", "{}", "\nafter\n</tool_call>"),
        ] {
            let c = qwen(bad);
            assert_eq!((c.calls.len(), c.calls[0].3.as_str()), (1, args), "{bad:?}");
            assert_eq!(c.content, content, "{bad:?}");
        }
    }

    #[test]
    fn string_values_stream_as_they_are_written() {
        let tools = json!([{"type": "function", "function": {"name": "write", "parameters": {
            "type": "object", "properties": {"path": {"type": "string"}, "n": {"type": "integer"},
            "content": {"type": "string"}}}}}]);
        let mut p = Qwen3CoderParser::new(3, Some(&tools));
        let mut out = p.push("<tool_call>\n<function=write>\n<parameter=n>\n4");
        out.extend(p.push("2\n</parameter>\n<parameter=content>\nfn main() {\n"));
        assert_eq!(
            out[0],
            ParsedDelta::ToolCallStart {
                index: 0,
                id: tool_call_id(3, 0),
                name: "write".into()
            }
        );
        assert_eq!(whole(&out), r#"{"n":42,"content":"fn main() {"#);
        // The newline waits: it may be the one before `</parameter>`.
        let out = p.push("}\n</parameter>\n</function>\n</tool_call>");
        assert_eq!(whole(&out), r#"\n}"}"#);
        assert!(p.finish().is_empty());
    }

    /// The argument text in `deltas`, joined.
    fn whole(deltas: &[ParsedDelta]) -> String {
        deltas
            .iter()
            .filter_map(|d| match d {
                ParsedDelta::ToolCallArguments { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
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
        let out = p.push("<tool_call>\n<function=f>\n<parameter=a>\n");
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, .. }
            ]
        ));
        assert_eq!(
            whole(&p.push("1\n</parameter>\n</function>\n</tool_")),
            "1}"
        );
        assert!(p.push("call>").is_empty());
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
