//! Validation of a chat conversation (roles, content parts, tool calls and
//! their answers, tool schemas) and of `tool_choice`.
//!
//! The typed messages say what weir reads; the template gets each message
//! as the client sent it (other keys included), with `role` and `content`
//! normalised, so the raw objects are taken from the body beside them.

use serde_json::{Map, Value};

use super::generation::check_schema_size;
use super::{ChatInput, MAX_MESSAGES, MAX_TOOLS};
use crate::api::error::ApiError;
use crate::api::wire::chat::{
    AssistantToolCall, ChatConversation, ChatParams, ContentPart, Message, MessageContent, Tool,
    ToolChoice,
};
use crate::engine::request::{Constraint, ToolSpec};
use crate::tokenize::conversation::ConversationError;

const ROLES: &str = "system, developer, user, assistant, tool";

/// Check the conversation and normalise it for the template.
pub(super) fn conversation(
    conv: ChatConversation,
    body: &Map<String, Value>,
) -> Result<ChatInput, ApiError> {
    let messages = messages(conv.messages.as_deref(), raw_objects(body, "messages"))?;
    let tools = tools(conv.tools.as_deref(), body.get("tools"))?;
    let add_generation_prompt = conv.add_generation_prompt.unwrap_or(true);
    if conv.continue_final_message.unwrap_or(false) {
        if add_generation_prompt {
            return Err(ApiError::invalid(
                "continue_final_message",
                "continue_final_message and add_generation_prompt cannot both be true",
            ));
        }
        return Err(ApiError::unsupported(
            "continue_final_message",
            "continue_final_message is not supported yet",
        ));
    }
    Ok(ChatInput {
        messages,
        tools,
        add_generation_prompt,
        template_kwargs: conv.chat_template_kwargs.unwrap_or_default(),
    })
}

/// The objects of the array `body[key]` (empty when it is not one).
fn raw_objects<'a>(body: &'a Map<String, Value>, key: &str) -> Vec<&'a Map<String, Value>> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

/// Check and normalise `messages`: content parts become one string (text
/// parts joined with "\n"), `developer` becomes `system` (chat templates
/// know only the latter), every other field passes through as sent.
fn messages(typed: Option<&[Message]>, raw: Vec<&Map<String, Value>>) -> Result<Value, ApiError> {
    let Some(typed) = typed else {
        return Err(ApiError::invalid("messages", "messages is required"));
    };
    if typed.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "messages must hold at least one message",
        ));
    }
    if typed.len() > MAX_MESSAGES {
        return Err(ApiError::invalid(
            "messages",
            format!(
                "messages may hold at most {MAX_MESSAGES} messages, got {}",
                typed.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(typed.len());
    // Ids of the tool calls made so far: a tool result must answer one.
    let mut call_ids: Vec<String> = Vec::new();
    for (i, (m, obj)) in typed.iter().zip(raw).enumerate() {
        let path = format!("messages[{i}]");
        let role = match m.role.as_deref() {
            None => {
                return Err(ApiError::invalid(
                    format!("{path}.role"),
                    format!("{path}.role is required"),
                ))
            }
            Some(r @ ("system" | "user" | "assistant" | "tool")) => r,
            Some("developer") => "system",
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("{path}.role"),
                    format!("{path}.role must be one of {ROLES}, got '{other}'"),
                ))
            }
        };
        let mut msg = obj.clone();
        msg.insert("role".into(), Value::from(role));

        let calls_path = format!("{path}.tool_calls");
        let calls = match (&m.tool_calls, role) {
            (Some(calls), "assistant") => calls.read(&calls_path)?,
            _ => Vec::new(),
        };
        check_tool_calls(&calls, &calls_path)?;
        call_ids.extend(
            calls
                .iter()
                .filter_map(|c| c.id.as_ref()?.as_str().map(str::to_owned)),
        );

        let content_path = format!("{path}.content");
        let content = match &m.content {
            None => {
                if role != "assistant" {
                    return Err(ApiError::invalid(
                        content_path.clone(),
                        format!("{content_path} is required for role {role}"),
                    ));
                }
                if calls.is_empty() {
                    Value::from("")
                } else {
                    Value::Null
                }
            }
            Some(MessageContent::Text(s)) => Value::from(s.as_str()),
            Some(MessageContent::Parts(parts)) => {
                Value::from(join_text_parts(parts, &content_path)?)
            }
        };
        msg.insert("content".into(), content);
        let id_path = format!("{path}.tool_call_id");
        let answers = match (&m.tool_call_id, role) {
            (Some(id), "tool") => Some(id.read(&id_path)?),
            _ => None,
        };
        if let Some(id) = answers {
            if !call_ids.contains(&id) {
                // The wording the template preparation uses too (OpenAI's).
                let err = ConversationError::ToolResultAnswersNoCall { path: id_path, id };
                return Err(ApiError::invalid(err.path(), err.to_string()));
            }
        }
        out.push(Value::Object(msg));
    }
    Ok(Value::Array(out))
}

/// Join text parts with "\n"; other part types are refused.
fn join_text_parts(parts: &[ContentPart], path: &str) -> Result<String, ApiError> {
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let ppath = format!("{path}[{j}]");
        let part = match part {
            ContentPart::Bare(s) => {
                texts.push(s.as_str());
                continue;
            }
            ContentPart::Typed(p) => p,
        };
        match part.kind.as_deref() {
            Some("text" | "input_text") => match &part.text {
                Some(t) => texts.push(t.as_str()),
                None => {
                    return Err(ApiError::invalid(
                        format!("{ppath}.text"),
                        format!("{ppath}.text is required"),
                    ))
                }
            },
            Some(other) => {
                return Err(ApiError::unsupported(
                    format!("{ppath}.type"),
                    format!("{ppath}: content parts of type '{other}' are not supported by this model; only 'text' is"),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    format!("{ppath}.type"),
                    format!("{ppath}.type is required"),
                ))
            }
        }
    }
    Ok(texts.join("\n"))
}

/// An assistant's `tool_calls`: each names its function.
fn check_tool_calls(calls: &[AssistantToolCall], path: &str) -> Result<(), ApiError> {
    for (k, call) in calls.iter().enumerate() {
        let cpath = format!("{path}[{k}]");
        let name = call.function.as_ref().map(|f| f.name.as_ref());
        check_function_name(name, &cpath)?;
    }
    Ok(())
}

/// `function` of a tool or a tool call: `None` when absent, `Some(None)`
/// when it has no name.
fn check_function_name(name: Option<Option<&String>>, path: &str) -> Result<(), ApiError> {
    match name {
        None => Err(ApiError::invalid(
            format!("{path}.function"),
            format!("{path}.function must be an object with a name"),
        )),
        Some(None) => Err(ApiError::invalid(
            format!("{path}.function.name"),
            format!("{path}.function.name must be a string"),
        )),
        Some(Some(_)) => Ok(()),
    }
}

/// `tools`: each names its function and has a well-formed schema; passed
/// to the template as sent. An empty array reads as no tools.
fn tools(typed: Option<&[Tool]>, raw: Option<&Value>) -> Result<Option<Value>, ApiError> {
    let Some(typed) = typed.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if typed.len() > MAX_TOOLS {
        return Err(ApiError::invalid(
            "tools",
            format!(
                "tools may hold at most {MAX_TOOLS} tools, got {}",
                typed.len()
            ),
        ));
    }
    for (i, t) in typed.iter().enumerate() {
        let path = format!("tools[{i}]");
        check_function_name(t.function.as_ref().map(|f| f.name.as_ref()), &path)?;
        if let Some(params) = t.function.as_ref().and_then(|f| f.parameters.as_ref()) {
            let path = format!("{path}.function.parameters");
            check_schema(params, &path)?;
            check_schema_size(params, &path)?;
        }
    }
    Ok(raw.cloned())
}

/// Structural checks of a tool's JSON schema: an object whose `type`,
/// `properties`, `required` and `items` have the shapes JSON Schema gives
/// them, recursively. (A forced call compiles the schemas with the grammar
/// library when the request starts, which rejects what it cannot enforce.)
/// A schema is free-form JSON, so it is walked as a `Value`.
fn check_schema(v: &Value, path: &str) -> Result<(), ApiError> {
    let Value::Object(o) = v else {
        return Err(wrong_type(path, "a JSON schema object", v));
    };
    const TYPES: [&str; 7] = [
        "object", "array", "string", "number", "integer", "boolean", "null",
    ];
    match o.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts))
            if ts
                .iter()
                .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
        Some(t) => {
            return Err(ApiError::invalid(
                format!("{path}.type"),
                format!("{path}.type must be a JSON Schema type name, got {t}"),
            ))
        }
    }
    if let Some(props) = o.get("properties") {
        let Value::Object(props) = props else {
            return Err(wrong_type(
                &format!("{path}.properties"),
                "an object",
                props,
            ));
        };
        for (name, sub) in props {
            check_schema(sub, &format!("{path}.properties.{name}"))?;
        }
    }
    if let Some(req) = o.get("required") {
        if !req
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err(wrong_type(
                &format!("{path}.required"),
                "an array of strings",
                req,
            ));
        }
    }
    if let Some(items) = o.get("items").filter(|i| !i.is_boolean()) {
        check_schema(items, &format!("{path}.items"))?;
    }
    Ok(())
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::invalid(
        path,
        format!("{path} must be {expected}, got {}", super::type_name(got)),
    )
}

/// The offered tools as the grammar compiler needs them (index, name,
/// parameters; `{"type": "object"}` when a tool gives no parameters).
pub(super) fn tool_specs(tools: Option<&[Tool]>) -> Vec<ToolSpec> {
    tools
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(index, t)| {
            let f = t.function.as_ref()?;
            Some(ToolSpec {
                index,
                name: f.name.clone()?,
                parameters: f
                    .parameters
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "object"})),
            })
        })
        .collect()
}

/// Check `tool_choice` against the offered tools. Returns whether the
/// output should be parsed for tool calls (tools offered and the choice is
/// not `none`), and the constraint that enforces `required` (one or more
/// calls to offered tools; exactly one with `parallel_tool_calls: false`)
/// or a named function (exactly one call to it). `auto` is not constrained.
pub(super) fn tool_choice(
    params: &ChatParams,
    specs: Vec<ToolSpec>,
) -> Result<(bool, Option<Constraint>), ApiError> {
    let parallel = params.parallel_tool_calls.unwrap_or(true);
    let offered = !specs.is_empty();
    let (none, constraint) = match &params.tool_choice {
        None => (false, None),
        Some(ToolChoice::Mode(mode)) => match mode.as_str() {
            "none" => (true, None),
            "auto" => (false, None),
            "required" => {
                if !offered {
                    return Err(ApiError::invalid(
                        "tool_choice",
                        "tool_choice `required` needs at least one tool in `tools`",
                    ));
                }
                let c = Constraint::ToolCalls {
                    tools: specs,
                    one_or_more: parallel,
                };
                (false, Some(c))
            }
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!(
                        "tool_choice must be none, auto, required or a function; got `{other}`"
                    ),
                ))
            }
        },
        Some(ToolChoice::Function(named)) => {
            let Some(name) = named.function.as_ref().and_then(|f| f.name.as_deref()) else {
                return Err(ApiError::invalid(
                    "tool_choice.function.name",
                    "tool_choice names no function",
                ));
            };
            let Some(spec) = specs.into_iter().find(|s| s.name == name) else {
                return Err(ApiError::invalid(
                    "tool_choice.function.name",
                    format!("tool_choice names `{name}`, which is not among the offered tools"),
                ));
            };
            let c = Constraint::ToolCalls {
                tools: vec![spec],
                one_or_more: false,
            };
            (false, Some(c))
        }
    };
    Ok((!none && offered, constraint))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use crate::api::error::ApiError;
    use crate::api::validate::chat_request;
    use crate::engine::request::Prompt;

    fn chat(extra: Value) -> Result<Value, ApiError> {
        let Value::Object(mut body) = json!({"model": "m"}) else {
            unreachable!()
        };
        let Value::Object(extra) = extra else {
            unreachable!()
        };
        body.extend::<Map<String, Value>>(extra);
        match chat_request(&body, "m")?.generate.prompt {
            Prompt::Chat { messages, .. } => Ok(messages),
            _ => unreachable!(),
        }
    }

    fn param(r: Result<Value, ApiError>) -> String {
        r.expect_err("expected an error").param.unwrap_or_default()
    }

    #[test]
    fn fields_of_one_role_are_read_only_for_it() {
        // Other roles hand them to the template unread, as sent.
        let m = json!({"role": "user", "content": "x", "tool_calls": "x", "tool_call_id": 5});
        assert_eq!(chat(json!({"messages": [m.clone()]})).unwrap()[0], m);
        assert_eq!(
            param(chat(
                json!({"messages": [{"role": "assistant", "tool_calls": "x"}]})
            )),
            "messages[0].tool_calls"
        );
        assert_eq!(
            param(chat(json!({"messages": [{"role": "assistant",
                "tool_calls": [{"type": "function", "function": {"name": 5}}]}]}))),
            "messages[0].tool_calls[0].function.name"
        );
        assert_eq!(
            param(chat(
                json!({"messages": [{"role": "tool", "content": "x", "tool_call_id": 5}]})
            )),
            "messages[0].tool_call_id"
        );
        // A call id that is not a string is ignored: nothing can answer it.
        let calls = json!([{"id": 1, "function": {"name": "f"}}]);
        assert!(chat(json!({"messages": [{"role": "assistant", "tool_calls": calls}]})).is_ok());
        assert_eq!(
            param(chat(json!({"messages": [
                {"role": "assistant", "tool_calls": calls},
                {"role": "tool", "content": "x", "tool_call_id": "1"}]}))),
            "messages[1].tool_call_id"
        );
    }

    #[test]
    fn tool_choice_without_a_named_function_names_the_name() {
        let user = json!([{"role": "user", "content": "hi"}]);
        for function in [json!(3), json!(null), json!([1]), json!({})] {
            let e =
                chat(json!({"messages": user, "tool_choice": {"function": function}})).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("tool_choice.function.name"));
            assert_eq!(e.message, "tool_choice names no function");
        }
    }
}
