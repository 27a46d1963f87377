//! The conversation as a chat template must see it.
//!
//! OpenAI clients send a conversation in the wire form: an assistant's
//! `tool_calls[].function.arguments` is a JSON *string*, a `tool` message
//! carries only `tool_call_id`, and ids are whatever the client or server
//! made up (`call_0a1b…`). Chat templates are written for what transformers
//! users pass to `apply_chat_template`: arguments as a *mapping*, tool
//! messages with the called function's `name`, and (Mistral) 9-character
//! alphanumeric ids. vLLM and SGLang turn one into the other before
//! rendering; [`for_template`] does it for weir:
//!
//! - `arguments`, a string holding a JSON object → that object (key order
//!   kept). Empty or whitespace, `null` or absent → `{}` (as vLLM does).
//!   Anything else (not JSON at all, or JSON that is not an object such as
//!   `[1]`, `"s"`, `3`, `null` written as text) is passed through as it was
//!   written: the model sees what the client sent. A template that can only
//!   render a mapping then fails, and [`EngineHandle::render_chat`] answers
//!   that with [`ConversationError::ArgumentsNotAnObject`] (a 400 naming the
//!   field) rather than the template's own error. Arguments already sent as
//!   an object are kept.
//! - A `tool` message keeps `tool_call_id` and gains `name` (the function of
//!   the call it answers) when it has none: several templates print
//!   `message.name`. A `tool_call_id` that no earlier assistant message's
//!   `tool_calls` holds is [`ConversationError::ToolResultAnswersNoCall`]
//!   (OpenAI's wording). A `tool` message without `tool_call_id` is passed
//!   on as it is (validation allows it; there is no call to look up).
//! - For [`ToolFormat::Mistral`] every call id that is not already 9 ASCII
//!   letters or digits becomes one ([`mistral_call_id`]), the same mapping
//!   applied to the call's `id` and to the `tool_call_id` answering it.
//!
//! [`EngineHandle::render_chat`]: crate::runtime::EngineHandle::render_chat

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::parse::ToolFormat;

/// Why a conversation cannot be shown to the chat template. Each names the
/// JSON path of the field at fault (`messages[3].tool_call_id`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    /// A `tool` message answers a call that no earlier assistant message made.
    #[error(
        "Invalid parameter: messages with role 'tool' must be a response to a preceding \
         message with 'tool_calls'. {path} is `{id}`, the id of no tool call of an earlier \
         assistant message."
    )]
    ToolResultAnswersNoCall {
        /// `messages[i].tool_call_id`.
        path: String,
        /// The id it gave.
        id: String,
    },
    /// A call's arguments are not a JSON object, and the chat template can
    /// render nothing else (it fails with them and renders with `{}`).
    #[error(
        "{path} must be a JSON object (a string holding one) for this model's chat template; \
         it is {found}. The template failed with: {template_error}"
    )]
    ArgumentsNotAnObject {
        /// `messages[i].tool_calls[k].function.arguments`.
        path: String,
        /// What was sent instead, in words (`not valid JSON`, `a JSON array`).
        found: String,
        /// The template's error message.
        template_error: String,
    },
}

impl ConversationError {
    /// The request field at fault (the error's `param`).
    pub fn path(&self) -> &str {
        match self {
            ConversationError::ToolResultAnswersNoCall { path, .. }
            | ConversationError::ArgumentsNotAnObject { path, .. } => path,
        }
    }
}

/// Length of the call ids Mistral's templates accept.
pub const MISTRAL_ID_LEN: usize = 9;

/// The digits of the ids weir makes for Mistral (base 62).
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Turns a wire conversation into the one a chat template expects (see the
/// module docs). `tools` is the tool-call format of the model (the one its
/// output parser reads): it decides the id form. A value that is not an
/// array of objects is returned as it is (the template refuses it).
pub fn for_template(messages: &Value, tools: ToolFormat) -> Result<Value, ConversationError> {
    let Some(list) = messages.as_array() else {
        return Ok(messages.clone());
    };
    let ids = if tools == ToolFormat::Mistral {
        mistral_ids(list)
    } else {
        HashMap::new()
    };
    let map_id = |id: &str| ids.get(id).cloned().unwrap_or_else(|| id.to_owned());
    // Function name of each call made so far, by its (wire) id.
    let mut called: HashMap<String, Value> = HashMap::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, msg) in list.iter().enumerate() {
        let Some(obj) = msg.as_object() else {
            out.push(msg.clone());
            continue;
        };
        match obj.get("role").and_then(Value::as_str) {
            Some("assistant") if obj.get("tool_calls").is_some_and(Value::is_array) => {
                let mut obj = obj.clone();
                if let Some(Value::Array(calls)) = obj.get_mut("tool_calls") {
                    for call in calls.iter_mut().filter_map(Value::as_object_mut) {
                        let id = call.get("id").and_then(Value::as_str).map(str::to_owned);
                        let function = call.get_mut("function").and_then(Value::as_object_mut);
                        let name = function
                            .as_ref()
                            .and_then(|f| f.get("name"))
                            .cloned()
                            .unwrap_or(Value::Null);
                        if let Some(f) = function {
                            let args = f.get("arguments").unwrap_or(&Value::Null);
                            let args = arguments_for_template(args);
                            f.insert("arguments".into(), args);
                        }
                        if let Some(id) = id {
                            call.insert("id".into(), Value::from(map_id(&id)));
                            called.insert(id, name);
                        }
                    }
                }
                out.push(Value::Object(obj));
            }
            Some("tool") => match obj.get("tool_call_id").and_then(Value::as_str) {
                Some(id) => {
                    let Some(name) = called.get(id) else {
                        return Err(ConversationError::ToolResultAnswersNoCall {
                            path: format!("messages[{i}].tool_call_id"),
                            id: id.to_owned(),
                        });
                    };
                    out.push(Value::Object(tool_result(obj, &map_id(id), name)));
                }
                None => out.push(msg.clone()),
            },
            _ => out.push(msg.clone()),
        }
    }
    Ok(Value::Array(out))
}

/// A call's `arguments` as the template should see them: a string holding
/// a JSON object becomes the object; blank, `null` or absent becomes `{}`;
/// anything else stays as written.
fn arguments_for_template(args: &Value) -> Value {
    match args {
        Value::Null => Value::Object(Map::new()),
        Value::String(s) if s.trim().is_empty() => Value::Object(Map::new()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => args.clone(),
        },
        other => other.clone(),
    }
}

/// A tool message with its (mapped) `tool_call_id` and, right after it,
/// the called function's `name` unless the client gave one.
fn tool_result(obj: &Map<String, Value>, id: &str, name: &Value) -> Map<String, Value> {
    let needs_name = obj.get("name").is_none_or(Value::is_null) && !name.is_null();
    let mut out = Map::with_capacity(obj.len() + 1);
    for (k, v) in obj {
        match k.as_str() {
            "name" if needs_name => {}
            "tool_call_id" => {
                out.insert(k.clone(), Value::from(id));
                if needs_name {
                    out.insert("name".into(), name.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// Whether `id` is already what Mistral's templates accept.
pub fn is_mistral_id(id: &str) -> bool {
    id.len() == MISTRAL_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The 9-character id weir shows a Mistral template for the wire id `id`,
/// at `attempt` 0; later attempts give other ids for the same wire id when
/// the first collides. Base 62 of the 64-bit FNV-1a hash of the id's UTF-8
/// bytes (with `#attempt` appended after the first attempt), least
/// significant digit first. `scripts/render_templates.py` computes the
/// same ids for the parity goldens.
pub fn mistral_call_id(id: &str, attempt: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(id.as_bytes());
    if attempt > 0 {
        feed(format!("#{attempt}").as_bytes());
    }
    (0..MISTRAL_ID_LEN)
        .map(|_| {
            let digit = BASE62[(hash % 62) as usize];
            hash /= 62;
            char::from(digit)
        })
        .collect()
}

/// The Mistral id of every call id of the conversation that is not one
/// already, in the order the calls appear. Ids that already are 9
/// alphanumerics are kept and reserved first, so a made-up id never takes
/// one a client used; a made-up id that collides with a taken one is made
/// again with the next attempt.
fn mistral_ids(list: &[Value]) -> HashMap<String, String> {
    let call_ids: Vec<&str> = list
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .filter_map(|m| m.get("tool_calls")?.as_array())
        .flatten()
        .filter_map(|c| c.get("id")?.as_str())
        .collect();
    let mut taken: HashSet<String> = call_ids
        .iter()
        .filter(|id| is_mistral_id(id))
        .map(|id| (*id).to_owned())
        .collect();
    let mut ids = HashMap::new();
    for id in call_ids {
        if is_mistral_id(id) || ids.contains_key(id) {
            continue;
        }
        let mut attempt = 0;
        let mut made = mistral_call_id(id, attempt);
        while taken.contains(&made) {
            attempt += 1;
            made = mistral_call_id(id, attempt);
        }
        taken.insert(made.clone());
        ids.insert(id.to_owned(), made);
    }
    ids
}

/// The path of each call argument that [`for_template`] left as something
/// other than a mapping (`messages[i].tool_calls[k].function.arguments`),
/// with what it is in words, in order.
pub fn unmapped_arguments(messages: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, m) in messages.as_array().into_iter().flatten().enumerate() {
        let calls = m.get("tool_calls").and_then(Value::as_array);
        for (k, call) in calls.into_iter().flatten().enumerate() {
            match call.get("function").and_then(|f| f.get("arguments")) {
                None | Some(Value::Object(_)) => {}
                Some(args) => out.push((
                    format!("messages[{i}].tool_calls[{k}].function.arguments"),
                    describe(args).to_owned(),
                )),
            }
        }
    }
    out
}

/// `messages` with every argument [`unmapped_arguments`] lists replaced by
/// `{}`: rendering it tells whether those arguments made a template fail.
pub fn with_empty_arguments(messages: &Value) -> Value {
    let mut out = messages.clone();
    for m in out.as_array_mut().into_iter().flatten() {
        let calls = m.get_mut("tool_calls").and_then(Value::as_array_mut);
        for call in calls.into_iter().flatten() {
            if let Some(f) = call.get_mut("function").and_then(Value::as_object_mut) {
                if f.get("arguments").is_some_and(|a| !a.is_object()) {
                    f.insert("arguments".into(), Value::Object(Map::new()));
                }
            }
        }
    }
    out
}

/// What an argument value that is not a mapping is, in words.
fn describe(args: &Value) -> &'static str {
    let parsed;
    let value = match args {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => return "not valid JSON",
        },
        other => other,
    };
    match value {
        Value::Null => "JSON null",
        Value::Bool(_) => "a JSON boolean",
        Value::Number(_) => "a JSON number",
        Value::String(_) => "a JSON string",
        Value::Array(_) => "a JSON array",
        Value::Object(_) => "a JSON object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An OpenAI-client conversation: one call with `arguments`, its result.
    fn wire(arguments: Value) -> Value {
        json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0a1b2c3d",
                "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "call_0a1b2c3d", "content": "sunny"},
        ])
    }

    fn args_of(v: &Value) -> &Value {
        &v[1]["tool_calls"][0]["function"]["arguments"]
    }

    fn prepared(arguments: Value) -> Value {
        for_template(&wire(arguments), ToolFormat::Hermes).unwrap()
    }

    #[test]
    fn a_string_holding_an_object_becomes_the_mapping_in_key_order() {
        let out = prepared(json!("{\"z\": 1, \"a\": {\"y\": [1, \"é\"], \"b\": null}}"));
        let args = args_of(&out).as_object().unwrap();
        assert_eq!(args.keys().collect::<Vec<_>>(), ["z", "a"]);
        assert_eq!(
            args["a"].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["y", "b"]
        );
        assert_eq!(
            args_of(&out),
            &json!({"z": 1, "a": {"y": [1, "é"], "b": null}})
        );
        assert!(unmapped_arguments(&out).is_empty());
    }

    #[test]
    fn blank_null_or_absent_arguments_are_an_empty_mapping() {
        for args in [json!(""), json!("  \n\t"), Value::Null] {
            assert_eq!(args_of(&prepared(args.clone())), &json!({}), "{args}");
        }
        let mut conv = wire(json!("x"));
        conv[1]["tool_calls"][0]["function"]
            .as_object_mut()
            .unwrap()
            .remove("arguments");
        let out = for_template(&conv, ToolFormat::Hermes).unwrap();
        assert_eq!(args_of(&out), &json!({}));
    }

    #[test]
    fn anything_else_passes_through_as_written() {
        for (args, found) in [
            ("{\"path\": ", "not valid JSON"),
            ("not json", "not valid JSON"),
            ("[1]", "a JSON array"),
            ("\"s\"", "a JSON string"),
            ("3", "a JSON number"),
            ("null", "JSON null"),
            ("true", "a JSON boolean"),
        ] {
            let out = prepared(json!(args));
            assert_eq!(args_of(&out), &json!(args), "{args}");
            assert_eq!(
                unmapped_arguments(&out),
                [(
                    "messages[1].tool_calls[0].function.arguments".to_string(),
                    found.to_string()
                )],
                "{args}"
            );
        }
        // A value that is not a string stays too.
        assert_eq!(args_of(&prepared(json!([1, 2]))), &json!([1, 2]));
    }

    #[test]
    fn arguments_sent_as_an_object_are_kept() {
        assert_eq!(
            args_of(&prepared(json!({"city": "Oslo"}))),
            &json!({"city": "Oslo"})
        );
    }

    #[test]
    fn empty_arguments_replace_only_the_unmapped_ones() {
        let mut conv = wire(json!("[1]"));
        conv[1]["tool_calls"].as_array_mut().unwrap().push(
            json!({"id": "call_2", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}),
        );
        let out = for_template(&conv, ToolFormat::Hermes).unwrap();
        let fixed = with_empty_arguments(&out);
        assert_eq!(args_of(&fixed), &json!({}));
        assert_eq!(
            fixed[1]["tool_calls"][1]["function"]["arguments"],
            json!({"a": 1})
        );
    }

    #[test]
    fn a_tool_message_gains_the_name_of_the_call_it_answers() {
        let out = prepared(json!("{}"));
        let tool = out[2].as_object().unwrap();
        assert_eq!(
            tool.keys().collect::<Vec<_>>(),
            ["role", "tool_call_id", "name", "content"]
        );
        assert_eq!(tool["name"], "get_weather");
        assert_eq!(tool["tool_call_id"], "call_0a1b2c3d");
    }

    #[test]
    fn a_name_the_client_gave_is_kept() {
        let mut conv = wire(json!("{}"));
        conv[2]["name"] = json!("custom");
        let out = for_template(&conv, ToolFormat::Hermes).unwrap();
        assert_eq!(out[2]["name"], "custom");
    }

    #[test]
    fn a_tool_message_answering_no_earlier_call_is_refused() {
        let mut conv = wire(json!("{}"));
        conv[2]["tool_call_id"] = json!("call_other");
        let err = for_template(&conv, ToolFormat::Hermes).unwrap_err();
        assert_eq!(err.path(), "messages[2].tool_call_id");
        assert!(err.to_string().contains(
            "messages with role 'tool' must be a response to a preceding message with 'tool_calls'"
        ));
        assert!(err.to_string().contains("`call_other`"), "{err}");

        // A result before its call answers nothing either.
        let conv = json!([
            {"role": "tool", "tool_call_id": "c1", "content": "early"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]},
        ]);
        let err = for_template(&conv, ToolFormat::Hermes).unwrap_err();
        assert_eq!(err.path(), "messages[0].tool_call_id");
    }

    #[test]
    fn a_tool_message_without_an_id_passes_unchanged() {
        let mut conv = wire(json!("{}"));
        conv[2].as_object_mut().unwrap().remove("tool_call_id");
        let out = for_template(&conv, ToolFormat::Hermes).unwrap();
        assert_eq!(out[2], conv[2]);
    }

    #[test]
    fn other_messages_and_shapes_pass_unchanged() {
        let conv = json!([
            {"role": "system", "content": "s", "extra": [1]},
            {"role": "assistant", "content": "hi", "reasoning_content": "r"},
            "not an object",
        ]);
        assert_eq!(for_template(&conv, ToolFormat::Mistral).unwrap(), conv);
        assert_eq!(
            for_template(&json!("x"), ToolFormat::None).unwrap(),
            json!("x")
        );
    }

    #[test]
    fn ids_are_kept_outside_the_mistral_family() {
        let out = prepared(json!("{}"));
        assert_eq!(out[1]["tool_calls"][0]["id"], "call_0a1b2c3d");
    }

    #[test]
    fn mistral_ids_are_nine_alphanumerics_the_same_for_call_and_result() {
        let out = for_template(&wire(json!("{}")), ToolFormat::Mistral).unwrap();
        let id = out[1]["tool_calls"][0]["id"].as_str().unwrap();
        assert!(is_mistral_id(id), "{id}");
        assert_eq!(id, mistral_call_id("call_0a1b2c3d", 0));
        assert_eq!(out[2]["tool_call_id"], id);
        // Deterministic: the same conversation gives the same ids.
        let again = for_template(&wire(json!("{}")), ToolFormat::Mistral).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn mistral_ids_that_already_fit_are_kept() {
        let conv = json!([
            {"role": "assistant", "tool_calls": [{"id": "abc123XYZ", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "abc123XYZ", "content": "r"},
        ]);
        let out = for_template(&conv, ToolFormat::Mistral).unwrap();
        assert_eq!(out[0]["tool_calls"][0]["id"], "abc123XYZ");
        assert_eq!(out[1]["tool_call_id"], "abc123XYZ");
        for bad in ["abc123XY", "abc123XYZ0", "abc-23XYZ", "abc12éXY"] {
            assert!(!is_mistral_id(bad), "{bad}");
        }
    }

    #[test]
    fn mistral_id_collisions_are_resolved_deterministically() {
        // A client id equal to what another id would be mapped to keeps its
        // value; the other id takes its next attempt.
        let taken = mistral_call_id("call_x", 0);
        let conv = json!([
            {"role": "assistant", "tool_calls": [
                {"id": "call_x", "function": {"name": "f", "arguments": "{}"}},
                {"id": taken, "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_x", "content": "1"},
            {"role": "tool", "tool_call_id": taken, "content": "2"},
        ]);
        let out = for_template(&conv, ToolFormat::Mistral).unwrap();
        let second = mistral_call_id("call_x", 1);
        assert_ne!(second, taken);
        assert_eq!(out[0]["tool_calls"][0]["id"], second.as_str());
        assert_eq!(out[0]["tool_calls"][1]["id"], taken.as_str());
        assert_eq!(out[1]["tool_call_id"], second.as_str());
        assert_eq!(out[1]["name"], "f");
        assert_eq!(out[2]["tool_call_id"], taken.as_str());
        assert_eq!(out[2]["name"], "g");
    }

    #[test]
    fn mistral_id_known_values() {
        // Pinned so scripts/render_templates.py's copy of the hash can be
        // checked against these (FNV-1a 64, base 62, low digit first).
        assert_eq!(mistral_call_id("", 0), "HIQo8RRkb");
        assert_eq!(mistral_call_id("call_1", 0), "9gD2Dimct");
        assert_eq!(mistral_call_id("call_1", 1), "x9JrX1fQo");
    }

    #[test]
    fn five_hundred_calls_and_a_megabyte_argument_are_prepared() {
        let calls: Vec<Value> = (0..500)
            .map(|k| {
                json!({"id": format!("call_{k}"), "type": "function",
                "function": {"name": "f", "arguments": format!("{{\"k\": {k}}}")}})
            })
            .collect();
        let mut conv = vec![json!({"role": "assistant", "content": null, "tool_calls": calls})];
        for k in 0..500 {
            conv.push(
                json!({"role": "tool", "tool_call_id": format!("call_{k}"), "content": "ok"}),
            );
        }
        let out = for_template(&Value::Array(conv), ToolFormat::Mistral).unwrap();
        let ids: HashSet<&str> = out[0]["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 500, "distinct ids");
        assert_eq!(out[500]["tool_call_id"], out[0]["tool_calls"][499]["id"]);
        assert_eq!(
            out[0]["tool_calls"][499]["function"]["arguments"],
            json!({"k": 499})
        );

        let big = "x".repeat(1 << 20);
        let args = serde_json::to_string(&json!({ "content": big })).unwrap();
        let out = prepared(json!(args));
        assert_eq!(args_of(&out)["content"].as_str().unwrap().len(), 1 << 20);
    }
}
