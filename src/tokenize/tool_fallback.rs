//! Tools for models whose chat template knows none.
//!
//! Some templates ignore `tools` (and may reject `tool` messages). For them,
//! the conversation (already prepared by
//! [`for_template`](super::conversation::for_template), so arguments are
//! mappings) is rewritten before rendering, in the markup the model's
//! output parser reads back ([`FallbackFormat`]):
//!
//! - the tool definitions and the instruction how to call them go into the
//!   system message (a new one first when there is none, else after its
//!   text and a blank line);
//! - an assistant message's `tool_calls` become that markup at the end of
//!   its content (its other keys, such as `reasoning_content`, stay);
//! - consecutive `tool` messages become one `user` message holding their
//!   results in the family's result markup, in order (one message, so
//!   templates that insist on alternating roles still render).

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::parse::ToolFormat;

/// The markup a fallback prompt describes, chosen from the tool-call format
/// the output parser reads, so the prompt and the parser agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackFormat {
    /// Hermes / Qwen: `<tool_call>{"name": …, "arguments": …}</tool_call>`
    /// blocks, results in `<tool_response>` blocks. For every family but
    /// DeepSeek (and when the format is unknown).
    Hermes,
    /// DeepSeek V3.1's documented tool prompt (model card, "ToolCall"):
    /// `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>`,
    /// results as `<｜tool▁output▁begin｜>…<｜tool▁output▁end｜>`.
    DeepSeek,
}

impl FallbackFormat {
    /// The fallback for a model whose output parser reads `tools`.
    pub fn for_parser(tools: ToolFormat) -> Self {
        match tools {
            ToolFormat::DeepSeek => FallbackFormat::DeepSeek,
            _ => FallbackFormat::Hermes,
        }
    }

    /// The parser that reads the calls this fallback asks for.
    pub fn parser(self) -> ToolFormat {
        match self {
            FallbackFormat::Hermes => ToolFormat::Hermes,
            FallbackFormat::DeepSeek => ToolFormat::DeepSeek,
        }
    }
}

/// DeepSeek's markers (`｜` is U+FF5C, `▁` U+2581).
mod deepseek {
    pub const CALLS_BEGIN: &str = "<｜tool▁calls▁begin｜>";
    pub const CALLS_END: &str = "<｜tool▁calls▁end｜>";
    pub const CALL_BEGIN: &str = "<｜tool▁call▁begin｜>";
    pub const CALL_END: &str = "<｜tool▁call▁end｜>";
    pub const SEP: &str = "<｜tool▁sep｜>";
    pub const OUTPUT_BEGIN: &str = "<｜tool▁output▁begin｜>";
    pub const OUTPUT_END: &str = "<｜tool▁output▁end｜>";
}

/// True when a template's source never mentions `tools` (so it would drop them).
pub fn template_ignores_tools(source: &str) -> bool {
    !source.contains("tools")
}

/// The system-prompt text that describes `tools` and the call format.
pub fn tools_system_text(tools: &Value, format: FallbackFormat) -> String {
    match format {
        FallbackFormat::Hermes => hermes_tools_text(tools),
        FallbackFormat::DeepSeek => deepseek_tools_text(tools),
    }
}

fn hermes_tools_text(tools: &Value) -> String {
    let mut s = String::from(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
         You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for t in tools.as_array().into_iter().flatten() {
        s.push('\n');
        s.push_str(&t.to_string());
    }
    s.push_str(
        "\n</tools>\n\nFor each function call, return a json object with function name and \
         arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
         {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
    );
    s
}

/// DeepSeek V3.1's tool description, word for word from its model card:
/// a `### name` section per tool (`Description:` when it has one,
/// `Parameters:` as `json.dumps` writes the schema), then the format.
fn deepseek_tools_text(tools: &Value) -> String {
    use deepseek::*;
    let mut s = String::from("## Tools\nYou have access to the following tools:\n");
    for t in tools.as_array().into_iter().flatten() {
        let f = t.get("function").unwrap_or(t);
        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
        s.push_str(&format!("\n### {name}\n"));
        if let Some(d) = f.get("description").and_then(Value::as_str) {
            s.push_str(&format!("Description: {d}\n"));
        }
        let params = f.get("parameters").cloned().unwrap_or_else(|| json!({}));
        s.push_str(&format!("\nParameters: {}\n", python_json(&params)));
    }
    s.push_str(&format!(
        "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n\
         {CALLS_BEGIN}{CALL_BEGIN}tool_call_name{SEP}tool_call_arguments{CALL_END}\
         {{additional_tool_calls}}{CALLS_END}\n\n\
         Where:\n\
         - `tool_call_name` must be an exact match to one of the available tools\n\
         - `tool_call_arguments` must be valid JSON that strictly follows the tool's \
         Parameters Schema\n\
         - For multiple tool calls, chain them directly without separators or spaces"
    ));
    s
}

/// Rewrite `messages` so a template without tool support carries `tools`,
/// earlier calls and their results (see the module docs).
pub fn rewrite_messages(messages: &Value, tools: &Value, format: FallbackFormat) -> Value {
    let tools_text = tools_system_text(tools, format);
    let mut out: Vec<Value> = Vec::new();
    let list = messages.as_array().cloned().unwrap_or_default();
    let role_of = |m: &Value| m.get("role").and_then(Value::as_str).map(str::to_owned);
    if list.first().and_then(role_of).as_deref() != Some("system") {
        out.push(json!({"role": "system", "content": tools_text}));
    }
    // Results of the `tool` messages read but not yet written out.
    let mut results: Vec<String> = Vec::new();
    for (i, m) in list.into_iter().enumerate() {
        let role = role_of(&m).unwrap_or_default();
        if role != "tool" && !results.is_empty() {
            out.push(results_message(&std::mem::take(&mut results), format));
        }
        let content = m.get("content").and_then(Value::as_str).unwrap_or("");
        match role.as_str() {
            "system" if i == 0 => {
                let text = if content.is_empty() {
                    tools_text.clone()
                } else {
                    format!("{content}\n\n{tools_text}")
                };
                out.push(json!({"role": "system", "content": text}));
            }
            "assistant" if m.get("tool_calls").is_some_and(|c| !c.is_null()) => {
                let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
                let text = match format {
                    FallbackFormat::Hermes => hermes_calls(content, &calls),
                    FallbackFormat::DeepSeek => deepseek_calls(content, &calls),
                };
                let mut msg: Map<String, Value> = m.as_object().cloned().unwrap_or_default();
                msg.remove("tool_calls");
                msg.insert("content".into(), Value::from(text));
                out.push(Value::Object(msg));
            }
            "tool" => results.push(content.to_owned()),
            _ => out.push(m),
        }
    }
    if !results.is_empty() {
        out.push(results_message(&results, format));
    }
    Value::Array(out)
}

/// The calls as Hermes blocks after `content`, one per line.
fn hermes_calls(content: &str, calls: &[Value]) -> String {
    let mut text = content.to_string();
    for c in calls {
        let f = &c["function"];
        let call = json!({"name": f["name"], "arguments": f["arguments"]});
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("<tool_call>\n{call}\n</tool_call>"));
    }
    text
}

/// The calls as one DeepSeek section after `content`, chained without
/// separators, arguments laid out as the V3.1 template's `tojson` does
/// (arguments that are not a mapping are written as they were sent).
fn deepseek_calls(content: &str, calls: &[Value]) -> String {
    use deepseek::*;
    let mut text = format!("{content}{CALLS_BEGIN}");
    for c in calls {
        let f = &c["function"];
        let name = f["name"].as_str().unwrap_or_default();
        let args = match &f["arguments"] {
            Value::String(s) => s.clone(),
            other => python_json(other),
        };
        text.push_str(&format!("{CALL_BEGIN}{name}{SEP}{args}{CALL_END}"));
    }
    text.push_str(CALLS_END);
    text
}

/// One `user` message holding tool results in the family's markup.
fn results_message(results: &[String], format: FallbackFormat) -> Value {
    let text = match format {
        FallbackFormat::Hermes => results
            .iter()
            .map(|r| format!("<tool_response>\n{r}\n</tool_response>"))
            .collect::<Vec<_>>()
            .join("\n"),
        FallbackFormat::DeepSeek => results
            .iter()
            .map(|r| format!("{}{r}{}", deepseek::OUTPUT_BEGIN, deepseek::OUTPUT_END))
            .collect(),
    };
    json!({"role": "user", "content": text})
}

/// JSON laid out as Python's `json.dumps` with its default separators
/// (`", "`, `": "`), non-ASCII kept (as a template's `tojson` writes it).
fn python_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, PythonLayout);
    match v.serialize(&mut ser) {
        Ok(()) => String::from_utf8(buf).unwrap_or_else(|_| v.to_string()),
        Err(_) => v.to_string(),
    }
}

/// serde_json's compact formatter with Python's default separators.
struct PythonLayout;

impl serde_json::ser::Formatter for PythonLayout {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather_tools() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather",
            "description": "Weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    }

    /// A prepared conversation (arguments already mappings): two calls in
    /// one turn, their two results, an answer.
    fn round_trip() -> Value {
        json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "reasoning_content": "think", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": "rainy"},
            {"role": "assistant", "content": "Sunny and rainy."},
        ])
    }

    #[test]
    fn the_format_follows_the_parser() {
        assert_eq!(
            FallbackFormat::for_parser(ToolFormat::DeepSeek),
            FallbackFormat::DeepSeek
        );
        for f in [
            ToolFormat::None,
            ToolFormat::Hermes,
            ToolFormat::Llama3,
            ToolFormat::Mistral,
            ToolFormat::Qwen3Coder,
        ] {
            assert_eq!(
                FallbackFormat::for_parser(f),
                FallbackFormat::Hermes,
                "{f:?}"
            );
        }
        assert_eq!(FallbackFormat::DeepSeek.parser(), ToolFormat::DeepSeek);
        assert_eq!(FallbackFormat::Hermes.parser(), ToolFormat::Hermes);
    }

    #[test]
    fn hermes_carries_tools_calls_and_results_as_text() {
        let out = rewrite_messages(&round_trip(), &weather_tools(), FallbackFormat::Hermes);
        let out = out.as_array().unwrap();
        assert_eq!(out.len(), 5);
        assert_eq!(out[0]["role"], "system");
        assert!(out[0]["content"]
            .as_str()
            .unwrap()
            .contains("\"name\":\"get_weather\""));
        assert_eq!(
            out[2]["content"],
            "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n</tool_call>\n\
             <tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}\n</tool_call>"
        );
        assert_eq!(out[2]["reasoning_content"], "think", "other keys stay");
        assert!(out[2].get("tool_calls").is_none());
        assert_eq!(out[3]["role"], "user");
        assert_eq!(
            out[3]["content"],
            "<tool_response>\nsunny\n</tool_response>\n<tool_response>\nrainy\n</tool_response>"
        );
        assert_eq!(out[4]["content"], "Sunny and rainy.");
    }

    #[test]
    fn deepseek_uses_the_documented_prompt_and_markup() {
        let out = rewrite_messages(&round_trip(), &weather_tools(), FallbackFormat::DeepSeek);
        let out = out.as_array().unwrap();
        assert_eq!(
            out[0]["content"],
            "## Tools\nYou have access to the following tools:\n\n### get_weather\n\
             Description: Weather of a city.\n\n\
             Parameters: {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}\n\n\
             IMPORTANT: ALWAYS adhere to this exact format for tool use:\n\
             <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>tool_call_arguments\
             <｜tool▁call▁end｜>{additional_tool_calls}<｜tool▁calls▁end｜>\n\n\
             Where:\n\
             - `tool_call_name` must be an exact match to one of the available tools\n\
             - `tool_call_arguments` must be valid JSON that strictly follows the tool's Parameters Schema\n\
             - For multiple tool calls, chain them directly without separators or spaces"
        );
        assert_eq!(
            out[2]["content"],
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}\
             <｜tool▁call▁end｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Oslo\"}\
             <｜tool▁call▁end｜><｜tool▁calls▁end｜>"
        );
        assert_eq!(out[3]["role"], "user");
        assert_eq!(
            out[3]["content"],
            "<｜tool▁output▁begin｜>sunny<｜tool▁output▁end｜><｜tool▁output▁begin｜>rainy<｜tool▁output▁end｜>"
        );
    }

    #[test]
    fn deepseek_writes_unmapped_arguments_as_sent() {
        let conv = json!([{"role": "assistant", "content": "Let me see.", "tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": "not json"}}]}]);
        let out = rewrite_messages(&conv, &weather_tools(), FallbackFormat::DeepSeek);
        assert_eq!(
            out[1]["content"],
            "Let me see.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>not json\
             <｜tool▁call▁end｜><｜tool▁calls▁end｜>"
        );
    }

    #[test]
    fn an_existing_system_message_keeps_its_text_first() {
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let conv = json!([{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "hi"}]);
        let out = rewrite_messages(&conv, &tools, FallbackFormat::Hermes);
        let sys = out[0]["content"].as_str().unwrap();
        assert!(sys.starts_with("Be brief.\n\n# Tools"));
        assert_eq!(out.as_array().unwrap().len(), 2);
        let out = rewrite_messages(&conv, &tools, FallbackFormat::DeepSeek);
        let sys = out[0]["content"].as_str().unwrap();
        assert!(
            sys.starts_with("Be brief.\n\n## Tools\nYou have access to the following tools:\n\n### f\n\nParameters: {}\n"),
            "{sys}"
        );
    }

    #[test]
    fn detection_looks_for_tools_in_the_source() {
        assert!(template_ignores_tools(
            "{% for m in messages %}{{ m.content }}{% endfor %}"
        ));
        assert!(!template_ignores_tools("{% if tools %}...{% endif %}"));
    }

    #[test]
    fn python_layout_matches_json_dumps() {
        assert_eq!(
            python_json(&json!({"a": [1, {"b": null}], "é": "x"})),
            "{\"a\": [1, {\"b\": null}], \"é\": \"x\"}"
        );
        assert_eq!(python_json(&json!({})), "{}");
        assert_eq!(python_json(&json!([])), "[]");
    }
}
