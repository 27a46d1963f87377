//! Stored responses: what a continuation (`previous_response_id`) sees, and
//! what a finished response leaves behind.
//!
//! A response is kept with its own turn's input items and the whole
//! response object, in the tenancy store, under its project (`""` for the
//! single-tenant server). A continuation walks the chain back and gives
//! the model every earlier turn's input and output, oldest first, then the
//! new input: the same prompt the client would have sent whole, so the
//! prefix cache makes turn N cost only its new tokens. `instructions` are
//! not inherited (the new request's, if any, go first).

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::responses::object::ResponseObject;
use crate::tenancy::store::{Store, StoreError, StoredResponse};

/// The longest chain a continuation follows.
pub const MAX_CHAIN: usize = 1_000;

/// The input items of one turn: a string input is one user message.
pub fn turn_items(input: Option<&Value>) -> Vec<Value> {
    match input {
        Some(Value::String(text)) => {
            vec![json!({"type": "message", "role": "user", "content": text})]
        }
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// Every item of the chain ending at `previous` (of `project`), oldest
/// first: each turn's input items, then its output as input items. A
/// missing link is OpenAI's 400 `previous_response_not_found`, the same
/// whether the id never existed or belongs to another project.
pub fn history(store: &Store, project: &str, previous: &str) -> Result<Vec<Value>, ApiError> {
    let mut turns = Vec::new();
    let mut next = Some(previous.to_string());
    while let Some(id) = next.take() {
        if turns.len() >= MAX_CHAIN {
            return Err(ApiError::invalid(
                "previous_response_id",
                format!("the conversation is longer than {MAX_CHAIN} responses"),
            ));
        }
        let stored = store
            .response(project, &id)
            .map_err(|e| ApiError::internal(format!("reading stored responses: {e}")))?
            .ok_or_else(|| previous_response_not_found(previous))?;
        next = stored.previous_response_id.clone();
        turns.push(stored);
    }
    let mut items = Vec::new();
    for turn in turns.iter().rev() {
        let input: Value = serde_json::from_str(&turn.input_items).unwrap_or(Value::Null);
        items.extend(input.as_array().cloned().unwrap_or_default());
        let response: Value = serde_json::from_str(&turn.response).unwrap_or(Value::Null);
        let output = response["output"].as_array().cloned().unwrap_or_default();
        items.extend(output.iter().filter_map(output_as_input));
    }
    Ok(items)
}

/// An output item as the input item that repeats it (reasoning is not
/// shown to the model again).
fn output_as_input(item: &Value) -> Option<Value> {
    match item["type"].as_str()? {
        "message" => {
            let text: String = item["content"]
                .as_array()?
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect();
            Some(json!({"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": text}]}))
        }
        "function_call" => Some(json!({"type": "function_call", "call_id": item["call_id"],
            "name": item["name"], "arguments": item["arguments"]})),
        _ => None,
    }
}

/// Keep `response` (finished) with its turn's input items.
pub fn keep(
    store: &Store,
    project: &str,
    turn: &[Value],
    response: &ResponseObject,
) -> Result<(), StoreError> {
    store.insert_response(&StoredResponse {
        id: response.id.clone(),
        project: project.to_string(),
        previous_response_id: response.previous_response_id.as_str().map(str::to_string),
        input_items: Value::Array(turn.to_vec()).to_string(),
        response: serde_json::to_string(response).unwrap_or_default(),
        created_at_ms: chrono::Utc::now().timestamp_millis(),
    })
}

/// OpenAI's answer to a `previous_response_id` it does not hold.
pub fn previous_response_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::invalid(
        "previous_response_id",
        format!("Previous response with id '{shown}' not found."),
    )
    .with_code("previous_response_not_found")
}

/// OpenAI's 404 for a response id it does not hold (or another project's).
pub fn response_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::not_found(format!("Response with id '{shown}' not found."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::test_dir::TestDir;

    fn stored(id: &str, prev: Option<&str>, input: Value, output: Value) -> StoredResponse {
        StoredResponse {
            id: id.into(),
            project: "p".into(),
            previous_response_id: prev.map(str::to_string),
            input_items: input.to_string(),
            response: json!({"id": id, "output": output}).to_string(),
            created_at_ms: 0,
        }
    }

    #[test]
    fn a_chain_is_every_turns_input_then_output_oldest_first() {
        let dir = TestDir::new("responses-chain");
        let store = Store::open(&dir.path().join("weir.db")).unwrap();
        store
            .insert_response(&stored(
                "resp_1",
                None,
                json!([{"role": "user", "content": "weather?"}]),
                json!([{"type": "reasoning", "summary": []},
                       {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "get",
                        "arguments": "{}", "status": "completed"}]),
            ))
            .unwrap();
        store
            .insert_response(&stored(
                "resp_2",
                Some("resp_1"),
                json!([{"type": "function_call_output", "call_id": "c1", "output": "sunny"}]),
                json!([{"type": "message", "content": [{"type": "output_text", "text": "Sunny."}]}]),
            ))
            .unwrap();
        let items = history(&store, "p", "resp_2").unwrap();
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| i["type"].as_str().unwrap_or("message"))
            .collect();
        assert_eq!(
            kinds,
            [
                "message",
                "function_call",
                "function_call_output",
                "message"
            ]
        );
        assert_eq!(items[3]["content"][0]["text"], "Sunny.");
        assert_eq!(items[3]["role"], "assistant");
        // Another project's id answers as a missing one.
        let e = history(&store, "q", "resp_2").unwrap_err();
        assert_eq!(e.code, Some("previous_response_not_found"));
        let missing = history(&store, "p", "resp_9").unwrap_err();
        assert_eq!(e.message.replace("resp_2", "resp_9"), missing.message);
    }
}
