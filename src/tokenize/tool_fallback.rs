//! Tools for models whose chat template knows none.
//!
//! Some templates ignore `tools` (and may reject `tool` messages). For them,
//! the conversation is rewritten before rendering, in the Hermes / Qwen
//! convention that the output parser then reads back:
//!
//! - the tool definitions go into the system message (a new one first when
//!   there is none), followed by the instruction to answer with
//!   `<tool_call>{"name": ..., "arguments": ...}</tool_call>` blocks;
//! - an assistant message's `tool_calls` become such blocks in its content;
//! - a `tool` message becomes a `user` message holding
//!   `<tool_response>...</tool_response>`.

use serde_json::{json, Value};

/// True when a template's source never mentions `tools` (so it would drop them).
pub fn template_ignores_tools(source: &str) -> bool {
    !source.contains("tools")
}

/// The system-prompt text that describes `tools` and the call format.
pub fn tools_system_text(tools: &Value) -> String {
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

/// Rewrite `messages` so a template without tool support carries `tools`,
/// earlier calls and their results (see the module docs).
pub fn rewrite_messages(messages: &Value, tools: &Value) -> Value {
    let tools_text = tools_system_text(tools);
    let mut out: Vec<Value> = Vec::new();
    let list = messages.as_array().cloned().unwrap_or_default();
    let has_system = list
        .first()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("system");
    if !has_system {
        out.push(json!({"role": "system", "content": tools_text}));
    }
    for (i, m) in list.into_iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = m.get("content").and_then(Value::as_str).unwrap_or("");
        match role {
            "system" if i == 0 => {
                let text = if content.is_empty() {
                    tools_text.clone()
                } else {
                    format!("{content}\n\n{tools_text}")
                };
                out.push(json!({"role": "system", "content": text}));
            }
            "assistant" if m.get("tool_calls").is_some_and(|c| !c.is_null()) => {
                let mut text = content.to_string();
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    let f = &c["function"];
                    // Arguments arrive as a JSON string or an object.
                    let args = match &f["arguments"] {
                        Value::String(s) => {
                            serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                        }
                        other => other.clone(),
                    };
                    let call = json!({"name": f["name"], "arguments": args});
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&format!("<tool_call>\n{call}\n</tool_call>"));
                }
                out.push(json!({"role": "assistant", "content": text}));
            }
            "tool" => {
                out.push(json!({"role": "user",
                    "content": format!("<tool_response>\n{content}\n</tool_response>")}));
            }
            _ => out.push(m),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_calls_and_results_are_carried_as_text() {
        let tools = json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
        let messages = json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]);
        let out = rewrite_messages(&messages, &tools);
        let out = out.as_array().unwrap();
        assert_eq!(out[0]["role"], "system");
        assert!(out[0]["content"]
            .as_str()
            .unwrap()
            .contains("\"name\":\"get_weather\""));
        assert_eq!(
            out[2]["content"],
            "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n</tool_call>"
        );
        assert_eq!(out[3]["role"], "user");
        assert_eq!(
            out[3]["content"],
            "<tool_response>\nsunny\n</tool_response>"
        );
    }

    #[test]
    fn an_existing_system_message_keeps_its_text_first() {
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let out = rewrite_messages(
            &json!([{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "hi"}]),
            &tools,
        );
        let sys = out[0]["content"].as_str().unwrap();
        assert!(sys.starts_with("Be brief.\n\n# Tools"));
        assert_eq!(out.as_array().unwrap().len(), 2);
    }

    #[test]
    fn detection_looks_for_tools_in_the_source() {
        assert!(template_ignores_tools(
            "{% for m in messages %}{{ m.content }}{% endfor %}"
        ));
        assert!(!template_ignores_tools("{% if tools %}...{% endif %}"));
    }
}
