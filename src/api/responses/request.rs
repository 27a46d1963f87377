//! A `POST /v1/responses` body read and turned into the chat-completions
//! body the rest of the server already validates, renders and runs.
//!
//! The Responses API is another spelling of the same conversation: `input`
//! items become messages (`function_call` items an assistant turn's
//! `tool_calls`, `function_call_output` items `tool` messages),
//! `instructions` a leading system message, flat function tools chat's
//! nested ones, `max_output_tokens` `max_tokens`, `text.format`
//! `response_format`, `reasoning.effort` the chat template's thinking
//! switch. Mistakes in what only the Responses API has are named here in
//! its words (`input[3].type`); the chat validator's errors about shared
//! fields are renamed back by [`chat_param_to_responses`].

use serde_json::{json, Map, Value};

use crate::api::error::ApiError;

/// Most input items one request may carry (chat's `messages` cap).
pub const MAX_INPUT_ITEMS: usize = 10_000;

/// A Responses request, read: the chat body to run and what the response
/// object echoes back.
#[derive(Clone, Debug)]
pub struct ResponsesRequest {
    /// The equivalent chat-completions body.
    pub chat: Map<String, Value>,
    /// Settings echoed on the response object, as the client sent them.
    pub echo: Echo,
    /// Stream the response as server-sent events.
    pub stream: bool,
}

/// The request settings a response object repeats (null where unset).
#[derive(Clone, Debug, Default)]
pub struct Echo {
    /// `instructions`.
    pub instructions: Value,
    /// `max_output_tokens`.
    pub max_output_tokens: Value,
    /// `temperature` (OpenAI reports 1.0 when unset).
    pub temperature: Value,
    /// `top_p` (OpenAI reports 1.0 when unset).
    pub top_p: Value,
    /// `tools` in the Responses (flat) form.
    pub tools: Value,
    /// `tool_choice` (`"auto"` when unset).
    pub tool_choice: Value,
    /// `parallel_tool_calls` (true when unset).
    pub parallel_tool_calls: Value,
    /// `metadata` (`{}` when unset).
    pub metadata: Value,
    /// `text` (`{format: {type: "text"}}` when unset).
    pub text: Value,
    /// `reasoning` (`{effort: null, summary: null}` when unset).
    pub reasoning: Value,
    /// `truncation` (`"disabled"` when unset).
    pub truncation: Value,
    /// `store` as asked (default true).
    pub store: bool,
    /// `previous_response_id`.
    pub previous_response_id: Value,
    /// `user`.
    pub user: Value,
}

/// Read a Responses body. Unknown top-level fields are ignored, as the
/// chat route does; fields weir cannot honour are refused by name.
pub fn read(body: &Map<String, Value>) -> Result<ResponsesRequest, ApiError> {
    for field in ["background", "conversation", "prompt"] {
        match body.get(field) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err(ApiError::unsupported(
                    field,
                    format!("`{field}` is not supported by this server"),
                ))
            }
        }
    }
    let mut chat = Map::new();
    if let Some(model) = body.get("model") {
        chat.insert("model".into(), model.clone());
    }
    let instructions = optional_string(body, "instructions")?;
    let mut messages = Vec::new();
    if let Some(text) = &instructions {
        messages.push(json!({"role": "system", "content": text}));
    }
    match body.get("input") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "input",
                "`input` is required: a string or an array of input items",
            ))
        }
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            if items.len() > MAX_INPUT_ITEMS {
                return Err(ApiError::invalid(
                    "input",
                    format!(
                        "`input` has {} items; at most {MAX_INPUT_ITEMS} are accepted",
                        items.len()
                    ),
                ));
            }
            input_items(items, &mut messages)?;
        }
        Some(other) => {
            return Err(wrong_kind(
                "input",
                "a string or an array of input items",
                other,
            ))
        }
    }
    if messages.is_empty() {
        return Err(ApiError::invalid("input", "`input` holds no items"));
    }
    chat.insert("messages".into(), Value::Array(messages));

    // Settings shared with chat under the same name.
    for field in [
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "seed",
        "top_k",
        "min_p",
    ] {
        if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
            chat.insert(field.into(), v.clone());
        }
    }
    if let Some(v) = body.get("max_output_tokens").filter(|v| !v.is_null()) {
        chat.insert("max_tokens".into(), v.clone());
    }
    let tools = match body.get("tools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(tools)) => {
            let chat_tools = tools
                .iter()
                .enumerate()
                .map(|(i, t)| function_tool(i, t))
                .collect::<Result<Vec<_>, _>>()?;
            if !chat_tools.is_empty() {
                chat.insert("tools".into(), Value::Array(chat_tools));
            }
            Some(Value::Array(tools.clone()))
        }
        Some(other) => return Err(wrong_kind("tools", "an array", other)),
    };
    let tool_choice = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(v) => {
            chat.insert("tool_choice".into(), chat_tool_choice(v)?);
            Some(v.clone())
        }
    };
    let text = match body.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::Object(text)) => {
            if let Some(format) = text.get("format").filter(|f| !f.is_null()) {
                if let Some(rf) = response_format(format)? {
                    chat.insert("response_format".into(), rf);
                }
            }
            Some(Value::Object(text.clone()))
        }
        Some(other) => return Err(wrong_kind("text", "an object", other)),
    };
    let reasoning = match body.get("reasoning") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => {
            match r.get("effort") {
                None | Some(Value::Null) => {}
                Some(Value::String(effort)) => {
                    let effort = effort.as_str();
                    if !["none", "minimal", "low", "medium", "high", "xhigh"].contains(&effort) {
                        return Err(ApiError::invalid(
                            "reasoning.effort",
                            format!(
                                "reasoning.effort {effort:?} is not one of none, minimal, low, medium, high, xhigh"
                            ),
                        ));
                    }
                    // Templates with a thinking switch read `enable_thinking`
                    // (Qwen3) or `reasoning_effort` (gpt-oss).
                    let think = !matches!(effort, "none" | "minimal");
                    chat.insert(
                        "chat_template_kwargs".into(),
                        json!({"enable_thinking": think, "reasoning_effort": effort}),
                    );
                }
                Some(other) => return Err(wrong_kind("reasoning.effort", "a string", other)),
            }
            Some(Value::Object(r.clone()))
        }
        Some(other) => return Err(wrong_kind("reasoning", "an object", other)),
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(m)) => {
            if m.len() > 16 {
                return Err(ApiError::invalid(
                    "metadata",
                    "`metadata` holds at most 16 key-value pairs",
                ));
            }
            if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_string()) {
                return Err(ApiError::invalid(
                    format!("metadata.{k}"),
                    "metadata values must be strings",
                ));
            }
            Value::Object(m.clone())
        }
        Some(other) => return Err(wrong_kind("metadata", "an object", other)),
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(wrong_kind("stream", "a boolean", other)),
    };
    chat.insert("stream".into(), Value::Bool(stream));
    let store = match body.get("store") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(wrong_kind("store", "a boolean", other)),
    };
    let previous_response_id = optional_string(body, "previous_response_id")?;
    let truncation = match optional_string(body, "truncation")?.as_deref() {
        None | Some("disabled") => "disabled",
        Some("auto") => "auto",
        Some(other) => {
            return Err(ApiError::invalid(
                "truncation",
                format!("truncation {other:?} is not one of auto, disabled"),
            ))
        }
    };
    let echo = Echo {
        instructions: instructions.map_or(Value::Null, Value::String),
        max_output_tokens: body
            .get("max_output_tokens")
            .cloned()
            .unwrap_or(Value::Null),
        temperature: body.get("temperature").cloned().unwrap_or(json!(1.0)),
        top_p: body.get("top_p").cloned().unwrap_or(json!(1.0)),
        tools: tools.unwrap_or_else(|| json!([])),
        tool_choice: tool_choice.unwrap_or_else(|| json!("auto")),
        parallel_tool_calls: body
            .get("parallel_tool_calls")
            .cloned()
            .filter(|v| !v.is_null())
            .unwrap_or(Value::Bool(true)),
        metadata,
        text: text.unwrap_or_else(|| json!({"format": {"type": "text"}})),
        reasoning: reasoning.unwrap_or_else(|| json!({"effort": null, "summary": null})),
        truncation: Value::String(truncation.into()),
        store,
        previous_response_id: previous_response_id.map_or(Value::Null, Value::String),
        user: body.get("user").cloned().unwrap_or(Value::Null),
    };
    Ok(ResponsesRequest { chat, echo, stream })
}

/// Rename a chat field the chat validator named back to the Responses
/// field it came from.
pub fn chat_param_to_responses(param: &str) -> String {
    if let Some(rest) = param.strip_prefix("messages") {
        return format!("input{rest}");
    }
    if let Some(rest) = param.strip_prefix("response_format") {
        // Chat nests the schema's fields under `json_schema`; Responses does not.
        return format!("text.format{}", rest.replacen(".json_schema", "", 1));
    }
    match param {
        "max_tokens" | "max_completion_tokens" => "max_output_tokens".into(),
        "chat_template_kwargs" => "reasoning".into(),
        // Chat nests a tool's fields under `function`; Responses does not.
        p if p.starts_with("tools") => p.replacen(".function", "", 1),
        p => p.to_string(),
    }
}

/// Append the messages `items` stand for.
fn input_items(items: &[Value], messages: &mut Vec<Value>) -> Result<(), ApiError> {
    // Every call id seen so far: a function_call_output must answer one.
    let mut calls: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("input[{i}]{field}");
        let Value::Object(item) = item else {
            return Err(wrong_kind(at(""), "an object", item));
        };
        let ty = match item.get("type") {
            None | Some(Value::Null) if item.contains_key("role") => "message",
            Some(Value::String(t)) => t.as_str(),
            None | Some(Value::Null) => {
                return Err(ApiError::invalid(
                    at(".type"),
                    format!("input[{i}] has no `type` (and no `role`)"),
                ))
            }
            Some(other) => return Err(wrong_kind(at(".type"), "a string", other)),
        };
        match ty {
            "message" => {
                let role = match item.get("role") {
                    Some(Value::String(r))
                        if ["user", "system", "developer", "assistant"].contains(&r.as_str()) =>
                    {
                        r.as_str()
                    }
                    Some(other) => {
                        return Err(ApiError::invalid(
                            at(".role"),
                            format!(
                                "input[{i}].role must be one of user, system, developer, assistant; got {other}"
                            ),
                        ))
                    }
                    None => {
                        return Err(ApiError::invalid(
                            at(".role"),
                            format!("input[{i}] is a message without a `role`"),
                        ))
                    }
                };
                let text = message_text(i, item.get("content"))?;
                messages.push(json!({"role": role, "content": text}));
            }
            "function_call" => {
                let call_id = required_string(item, "call_id", &at(".call_id"))?;
                let name = required_string(item, "name", &at(".name"))?;
                let arguments = match item.get("arguments") {
                    Some(Value::String(a)) => a.clone(),
                    None | Some(Value::Null) => "{}".into(),
                    Some(other) => {
                        return Err(wrong_kind(at(".arguments"), "a string of JSON", other))
                    }
                };
                calls.push(call_id.clone());
                let call = json!({"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments}});
                // Consecutive calls (and a text answer just before them) are
                // one assistant turn.
                match messages.last_mut() {
                    Some(Value::Object(last))
                        if last.get("role") == Some(&json!("assistant"))
                            && !last.contains_key("tool_call_id") =>
                    {
                        match last.get_mut("tool_calls") {
                            Some(Value::Array(existing)) => existing.push(call),
                            _ => {
                                last.insert("tool_calls".into(), json!([call]));
                            }
                        }
                    }
                    _ => messages.push(json!({"role": "assistant", "content": null,
                        "tool_calls": [call]})),
                }
            }
            "function_call_output" => {
                let call_id = required_string(item, "call_id", &at(".call_id"))?;
                if !calls.contains(&call_id) {
                    return Err(ApiError::invalid(
                        at(".call_id"),
                        format!(
                            "input[{i}].call_id {call_id:?} answers no function_call earlier in the input"
                        ),
                    ));
                }
                let output = match item.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(_)) => message_text(i, item.get("output"))?,
                    other => {
                        return Err(ApiError::invalid(
                            at(".output"),
                            format!(
                                "input[{i}].output must be a string or text parts, not {}",
                                other.map_or("nothing", kind)
                            ),
                        ))
                    }
                };
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
            // Earlier reasoning is not shown to the model again (chat
            // templates drop it from past turns too).
            "reasoning" => {}
            // Resolved by the handler before this read (from the store);
            // one left here named nothing the server keeps.
            "item_reference" => {
                return Err(ApiError::invalid(
                    at(".id"),
                    format!("input[{i}] is an item_reference to no stored item"),
                ))
            }
            other => {
                return Err(ApiError::invalid(
                    at(".type"),
                    format!(
                        "input[{i}].type {other:?} is not supported; use message, function_call, function_call_output or reasoning"
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// A message's text: a string, or `input_text` / `output_text` parts
/// (joined as they come).
fn message_text(i: usize, content: Option<&Value>) -> Result<String, ApiError> {
    match content {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let at = format!("input[{i}].content[{j}]");
                let ty = part.get("type").and_then(Value::as_str);
                match ty {
                    Some("input_text" | "output_text" | "text" | "summary_text" | "reasoning_text") => {
                        match part.get("text") {
                            Some(Value::String(t)) => text.push_str(t),
                            _ => {
                                return Err(ApiError::invalid(
                                    format!("{at}.text"),
                                    format!("{at} has no string `text`"),
                                ))
                            }
                        }
                    }
                    Some("refusal") => {
                        if let Some(Value::String(t)) = part.get("refusal") {
                            text.push_str(t);
                        }
                    }
                    Some(other) => {
                        return Err(ApiError::unsupported(
                            format!("{at}.type"),
                            format!(
                                "{at}.type {other:?} is not supported: this server reads text parts only (input_text, output_text)"
                            ),
                        ))
                    }
                    None => {
                        return Err(ApiError::invalid(
                            format!("{at}.type"),
                            format!("{at} has no string `type`"),
                        ))
                    }
                }
            }
            Ok(text)
        }
        None | Some(Value::Null) => Err(ApiError::invalid(
            format!("input[{i}].content"),
            format!("input[{i}] has no `content`"),
        )),
        Some(other) => Err(wrong_kind(
            format!("input[{i}].content"),
            "a string or an array of parts",
            other,
        )),
    }
}

/// A flat Responses function tool as chat's nested one.
fn function_tool(i: usize, tool: &Value) -> Result<Value, ApiError> {
    let at = |f: &str| format!("tools[{i}]{f}");
    let Value::Object(t) = tool else {
        return Err(wrong_kind(at(""), "an object", tool));
    };
    match t.get("type").and_then(Value::as_str) {
        Some("function") => {}
        Some(other) => {
            return Err(ApiError::unsupported(
                at(".type"),
                format!(
                "tools[{i}].type {other:?} is not supported: this server runs function tools only"
            ),
            ))
        }
        None => {
            return Err(ApiError::invalid(
                at(".type"),
                format!("tools[{i}] has no string `type`"),
            ))
        }
    }
    let name = required_string(t, "name", &at(".name"))?;
    let mut function = Map::new();
    function.insert("name".into(), Value::String(name));
    for field in ["description", "parameters", "strict"] {
        if let Some(v) = t.get(field).filter(|v| !v.is_null()) {
            function.insert(field.into(), v.clone());
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

/// `tool_choice` in chat's spelling.
fn chat_tool_choice(choice: &Value) -> Result<Value, ApiError> {
    match choice {
        Value::String(s) if ["auto", "none", "required"].contains(&s.as_str()) => Ok(choice.clone()),
        Value::Object(o) if o.get("type") == Some(&json!("function")) => {
            let name = required_string(o, "name", "tool_choice.name")?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(ApiError::invalid(
            "tool_choice",
            "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": ...}",
        )),
    }
}

/// `text.format` as chat's `response_format` (`None` for plain text).
fn response_format(format: &Value) -> Result<Option<Value>, ApiError> {
    let Value::Object(f) = format else {
        return Err(wrong_kind("text.format", "an object", format));
    };
    match f.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            schema.insert(
                "name".into(),
                f.get("name").cloned().unwrap_or_else(|| json!("response")),
            );
            for field in ["schema", "strict", "description"] {
                if let Some(v) = f.get(field).filter(|v| !v.is_null()) {
                    schema.insert(field.into(), v.clone());
                }
            }
            if !schema.contains_key("schema") {
                return Err(ApiError::invalid(
                    "text.format.schema",
                    "text.format of type json_schema needs a `schema`",
                ));
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(ApiError::invalid(
            "text.format.type",
            "text.format.type must be one of text, json_object, json_schema",
        )),
    }
}

fn optional_string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_kind(field, "a string", other)),
    }
}

fn required_string(obj: &Map<String, Value>, field: &str, at: &str) -> Result<String, ApiError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(ApiError::invalid(at, format!("{at} is empty"))),
        None | Some(Value::Null) => Err(ApiError::invalid(at, format!("{at} is required"))),
        Some(other) => Err(wrong_kind(at, "a string", other)),
    }
}

/// A 400 for `field` holding `value` where `expected` belongs.
fn wrong_kind(field: impl Into<String>, expected: &str, value: &Value) -> ApiError {
    let field = field.into();
    let message = format!("{field} must be {expected}, not {}", kind(value));
    ApiError::invalid(field, message)
}

/// A JSON value's kind, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn err(v: Value) -> ApiError {
        read(&body(v)).unwrap_err()
    }

    #[test]
    fn a_string_input_is_one_user_message_after_the_instructions() {
        let r = read(&body(
            json!({"model": "m", "input": "hi", "instructions": "be brief",
            "max_output_tokens": 5, "temperature": 0.5}),
        ))
        .unwrap();
        assert_eq!(
            r.chat["messages"],
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
        );
        assert_eq!(r.chat["max_tokens"], 5);
        assert_eq!(r.chat["temperature"], 0.5);
        assert_eq!(r.echo.top_p, json!(1.0));
        assert!(r.echo.store && !r.stream);
    }

    #[test]
    fn calls_and_outputs_become_an_assistant_turn_and_tool_messages() {
        let r = read(&body(json!({"input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{\"a\":1}"},
            {"type": "function_call", "call_id": "c2", "name": "get", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "mixed"}]}
        ], "tools": [{"type": "function", "name": "get", "parameters": {"type": "object"}, "strict": true}],
           "tool_choice": {"type": "function", "name": "get"}}))).unwrap();
        let m = r.chat["messages"].as_array().unwrap();
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(m[1]["tool_calls"].as_array().unwrap().len(), 2);
        assert_eq!(m[1]["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(
            m[2],
            json!({"role": "tool", "tool_call_id": "c1", "content": "sunny"})
        );
        assert_eq!(m[3]["content"], "rain");
        assert_eq!(r.chat["tools"][0]["function"]["name"], "get");
        assert_eq!(r.chat["tools"][0]["function"]["strict"], true);
        assert_eq!(
            r.chat["tool_choice"],
            json!({"type": "function", "function": {"name": "get"}})
        );
        assert_eq!(r.echo.tools[0]["name"], "get", "tools are echoed flat");
    }

    #[test]
    fn mistakes_name_the_responses_field() {
        let e = err(
            json!({"input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
            {"role": "user", "content": "c"}, {"type": "web_search_call"}]}),
        );
        assert_eq!(e.param.as_deref(), Some("input[3].type"), "{}", e.message);
        let e = err(
            json!({"input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]}),
        );
        assert_eq!(e.param.as_deref(), Some("input[0].call_id"));
        let e = err(json!({"input": "x", "tools": [{"type": "web_search"}]}));
        assert_eq!(e.param.as_deref(), Some("tools[0].type"));
        let e = err(json!({"input": vec![json!("x"); MAX_INPUT_ITEMS + 1]}));
        assert_eq!(e.param.as_deref(), Some("input"));
        let e = err(json!({"model": "m"}));
        assert_eq!(e.param.as_deref(), Some("input"));
        let e = err(
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
        );
        assert_eq!(e.param.as_deref(), Some("input[0].content[0].type"));
        let e = err(json!({"input": "x", "text": {"format": {"type": "json_schema"}}}));
        assert_eq!(e.param.as_deref(), Some("text.format.schema"));
        let e = err(json!({"input": "x", "background": true}));
        assert_eq!(e.param.as_deref(), Some("background"));
        assert_eq!(
            chat_param_to_responses("messages[2].content"),
            "input[2].content"
        );
        assert_eq!(chat_param_to_responses("max_tokens"), "max_output_tokens");
        assert_eq!(
            chat_param_to_responses("response_format.json_schema.schema"),
            "text.format.schema"
        );
        assert_eq!(
            chat_param_to_responses("tools[2].function.parameters"),
            "tools[2].parameters"
        );
    }

    #[test]
    fn formats_and_effort_map_to_chat() {
        let r = read(&body(json!({"input": "x", "reasoning": {"effort": "minimal"},
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}}}))).unwrap();
        assert_eq!(r.chat["chat_template_kwargs"]["enable_thinking"], false);
        assert_eq!(r.chat["response_format"]["json_schema"]["name"], "w");
        let r = read(&body(
            json!({"input": "x", "text": {"format": {"type": "text"}}}),
        ))
        .unwrap();
        assert!(!r.chat.contains_key("response_format"));
    }
}
