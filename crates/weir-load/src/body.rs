//! What one turn sends, in the form of the API the run speaks.
//!
//! Sessions keep their conversation as chat messages (system, user,
//! assistant with `tool_calls`, `tool` results); this module writes them as
//! a chat-completions body, or as a Responses API body: the system prompt as
//! `instructions`, messages as `message` items, calls as `function_call`
//! items and results as `function_call_output` items, tools flattened to the
//! Responses form. Chained (`previous_response_id`), a turn sends only the
//! items the server does not hold yet; stateless, all of them with
//! `store: false`. Either way the same conversation gives the same bytes, so
//! `tools` and `instructions` are byte-identical on every turn.

use serde::Serialize;
use serde_json::{json, Value};

use super::client::Api;
use super::session::RequestOptions;

/// Where a chained Responses conversation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The last response's id.
    pub previous_response_id: String,
    /// How many of the session's messages that response's conversation
    /// already holds (its own output included).
    pub server_has: usize,
}

/// Serializes one turn: `messages` (a leading `system` message becomes the
/// Responses API's `instructions`), `tools` in the chat form, and for the
/// chained Responses API where the conversation stands.
pub fn request_body(
    opts: &RequestOptions,
    api: Api,
    messages: &[Value],
    tools: &[Value],
    max_tokens: Option<u32>,
    chain: Option<&Chain>,
) -> Vec<u8> {
    match api {
        Api::Chat => chat_body(opts, messages, tools, max_tokens),
        Api::Responses => responses_body(opts, messages, tools, max_tokens, chain, true),
        Api::ResponsesStateless => responses_body(opts, messages, tools, max_tokens, None, false),
    }
}

/// A chat request in OpenCode's field order (model, max_tokens, messages,
/// tools, tool_choice, stream, stream_options), as recorded from OpenCode
/// 1.18.33 (scripts/record_opencode_request.py).
#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    messages: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Value]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    stream: bool,
    stream_options: Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ignore_eos: bool,
}

/// Serializes one chat request.
fn chat_body(
    opts: &RequestOptions,
    messages: &[Value],
    tools: &[Value],
    max_tokens: Option<u32>,
) -> Vec<u8> {
    let stream_options = if opts.continuous_usage {
        json!({"include_usage": true, "continuous_usage_stats": true})
    } else {
        json!({"include_usage": true})
    };
    let body = ChatBody {
        model: &opts.model,
        messages,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice: (!tools.is_empty()).then_some("auto"),
        max_tokens,
        temperature: opts.temperature,
        stream: true,
        stream_options,
        ignore_eos: opts.ignore_eos,
    };
    // Serializing plain JSON values and strings cannot fail.
    serde_json::to_vec(&body).expect("JSON values always serialize")
}

/// A Responses API request, fields in the order the OpenAI SDKs write them.
#[derive(Serialize)]
struct ResponsesBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    input: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_response_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    stream: bool,
    store: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ignore_eos: bool,
}

fn responses_body(
    opts: &RequestOptions,
    messages: &[Value],
    tools: &[Value],
    max_tokens: Option<u32>,
    chain: Option<&Chain>,
    store: bool,
) -> Vec<u8> {
    let (instructions, rest) = match messages.split_first() {
        Some((first, rest)) if first["role"] == "system" => (first["content"].as_str(), rest),
        _ => (None, messages),
    };
    // `rest` starts at message 1 when there was a system prompt.
    let offset = messages.len() - rest.len();
    let new = match chain {
        Some(c) => &messages[c.server_has.max(offset).min(messages.len())..],
        None => rest,
    };
    let body = ResponsesBody {
        model: &opts.model,
        instructions,
        input: responses_input(new),
        previous_response_id: chain.map(|c| c.previous_response_id.as_str()),
        max_output_tokens: max_tokens,
        temperature: opts.temperature,
        tools: tools.iter().map(responses_tool).collect(),
        tool_choice: (!tools.is_empty()).then_some("auto"),
        stream: true,
        store,
        ignore_eos: opts.ignore_eos,
    };
    // Serializing plain JSON values and strings cannot fail.
    serde_json::to_vec(&body).expect("JSON values always serialize")
}

/// Chat messages as Responses input items. Messages carry `type: message`
/// (optional in OpenAI's API, required by llama.cpp's for assistant turns).
fn responses_input(messages: &[Value]) -> Vec<Value> {
    let mut items = Vec::with_capacity(messages.len());
    for m in messages {
        match m["role"].as_str().unwrap_or("user") {
            "tool" => items.push(json!({
                "type": "function_call_output",
                "call_id": m["tool_call_id"],
                "output": m["content"],
            })),
            "assistant" => {
                if m["content"].as_str().is_some_and(|c| !c.is_empty()) {
                    items.push(
                        json!({"type": "message", "role": "assistant", "content": m["content"]}),
                    );
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    items.push(json!({
                        "type": "function_call",
                        "call_id": call["id"],
                        "name": call["function"]["name"],
                        "arguments": call["function"]["arguments"],
                    }));
                }
            }
            role => items.push(json!({"type": "message", "role": role, "content": m["content"]})),
        }
    }
    items
}

/// A chat tool (`{type, function: {name, description, parameters}}`) in the
/// Responses form (`{type, name, description, parameters}`).
fn responses_tool(tool: &Value) -> Value {
    let f = &tool["function"];
    let mut out = serde_json::Map::new();
    out.insert("type".into(), "function".into());
    for key in ["name", "description", "parameters", "strict"] {
        if let Some(v) = f.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RequestOptions {
        RequestOptions {
            model: "m".into(),
            max_tokens: Some(32000),
            temperature: None,
            continuous_usage: true,
            ignore_eos: false,
            think_scale: 1.0,
        }
    }

    fn conversation() -> (Vec<Value>, Vec<Value>) {
        let messages = vec![
            json!({"role": "system", "content": "You are an agent."}),
            json!({"role": "user", "content": "Fix the bug."}),
            json!({"role": "assistant", "content": "Looking."}),
            json!({"role": "user", "content": "Go on."}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"filePath\":\"a.rs\"}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "fn main() {}"}),
        ];
        let tools = vec![json!({"type": "function", "function": {
            "name": "read", "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"filePath": {"type": "string"}}}
        }})];
        (messages, tools)
    }

    fn parse(body: Vec<u8>) -> Value {
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn chat_body_is_the_conversation_as_is() {
        let (messages, tools) = conversation();
        let b = parse(request_body(
            &opts(),
            Api::Chat,
            &messages,
            &tools,
            Some(32000),
            None,
        ));
        assert_eq!(b["messages"], Value::Array(messages));
        assert_eq!(b["tools"], Value::Array(tools));
        assert_eq!(b["tool_choice"], "auto");
        assert_eq!(b["max_tokens"], 32000);
        assert_eq!(b["stream_options"]["continuous_usage_stats"], true);
    }

    #[test]
    fn stateless_responses_body_sends_every_item() {
        let (messages, tools) = conversation();
        let b = parse(request_body(
            &opts(),
            Api::ResponsesStateless,
            &messages,
            &tools,
            Some(32000),
            None,
        ));
        assert_eq!(b["instructions"], "You are an agent.");
        assert_eq!(b["store"], false);
        assert_eq!(b["max_output_tokens"], 32000);
        assert!(b.get("previous_response_id").is_none());
        assert!(b.get("stream_options").is_none());
        assert_eq!(
            b["input"],
            json!([
                {"type": "message", "role": "user", "content": "Fix the bug."},
                {"type": "message", "role": "assistant", "content": "Looking."},
                {"type": "message", "role": "user", "content": "Go on."},
                {"type": "function_call", "call_id": "call_1", "name": "read", "arguments": "{\"filePath\":\"a.rs\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "fn main() {}"},
            ])
        );
        assert_eq!(
            b["tools"],
            json!([{"type": "function", "name": "read", "description": "Read a file.",
                    "parameters": {"type": "object", "properties": {"filePath": {"type": "string"}}}}])
        );
    }

    #[test]
    fn chained_responses_body_sends_only_what_is_new() {
        let (messages, tools) = conversation();
        let first = parse(request_body(
            &opts(),
            Api::Responses,
            &messages[..2],
            &tools,
            None,
            None,
        ));
        assert_eq!(first["store"], true);
        assert!(first.get("previous_response_id").is_none());
        assert_eq!(first["input"].as_array().unwrap().len(), 1);
        // The server holds everything up to its own tool call.
        let chain = Chain {
            previous_response_id: "resp_2".into(),
            server_has: 5,
        };
        let next = parse(request_body(
            &opts(),
            Api::Responses,
            &messages,
            &tools,
            None,
            Some(&chain),
        ));
        assert_eq!(next["previous_response_id"], "resp_2");
        assert_eq!(
            next["input"],
            json!([{"type": "function_call_output", "call_id": "call_1", "output": "fn main() {}"}])
        );
        // Instructions and tools are resent, byte for byte, every turn.
        assert_eq!(next["instructions"], first["instructions"]);
        assert_eq!(
            serde_json::to_string(&next["tools"]).unwrap(),
            serde_json::to_string(&first["tools"]).unwrap()
        );
    }
}
