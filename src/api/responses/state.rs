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

/// Replace each `item_reference` in `input` by the stored item it names
/// (an input or output item of a stored response of `project`), as an
/// input item; an id that names none is a 400 naming `input[i].id`.
pub fn resolve_references(
    store: &Store,
    project: &str,
    input: &mut [Value],
) -> Result<(), ApiError> {
    for (i, item) in input.iter_mut().enumerate() {
        if item.get("type").and_then(Value::as_str) != Some("item_reference") {
            continue;
        }
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        let found = referenced_item(store, project, id)?;
        *item = found.ok_or_else(|| {
            let shown: String = id.chars().take(64).collect();
            ApiError::invalid(
                format!("input[{i}].id"),
                format!("Item with id '{shown}' not found."),
            )
        })?;
    }
    Ok(())
}

/// The stored item `item_id` of `project` as an input item. The ids weir
/// gives name their response: `{prefix}_{stem}{n}` (output) and
/// `{prefix}_{stem}i{n}` (input), the stem being the 32 hex digits of
/// `resp_{stem}`; other ids are not found.
fn referenced_item(store: &Store, project: &str, item_id: &str) -> Result<Option<Value>, ApiError> {
    let Some((_, rest)) = item_id.split_once('_') else {
        return Ok(None);
    };
    let Some(stem) = rest
        .get(..32)
        .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(None);
    };
    let Some(stored) = store
        .response(project, &format!("resp_{stem}"))
        .map_err(|e| ApiError::internal(format!("reading stored responses: {e}")))?
    else {
        return Ok(None);
    };
    let named = |items: &Value| {
        items.as_array().and_then(|a| {
            a.iter()
                .find(|i| i["id"].as_str() == Some(item_id))
                .cloned()
        })
    };
    let input: Value = serde_json::from_str(&stored.input_items).unwrap_or(Value::Null);
    if let Some(item) = named(&input) {
        return Ok(Some(item));
    }
    let response: Value = serde_json::from_str(&stored.response).unwrap_or(Value::Null);
    Ok(named(&response["output"]).and_then(|item| output_as_input(&item)))
}

/// Keep `response` (finished) with its turn's input items, each given the
/// id and shape `GET /v1/responses/{id}/input_items` lists.
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
        input_items: Value::Array(listed_items(turn, &response.id)).to_string(),
        response: serde_json::to_string(response).unwrap_or_default(),
        created_at_ms: chrono::Utc::now().timestamp_millis(),
    })
}

/// A turn's input items as the API lists them: each with an `id` (the
/// client's own when it sent one, else `{prefix}_{response}i{n}`) and a
/// `status`, a message's content as typed parts. The model reads them back
/// the same as the client's originals.
pub fn listed_items(turn: &[Value], response_id: &str) -> Vec<Value> {
    let stem = response_id
        .split_once('_')
        .map_or(response_id, |(_, rest)| rest);
    turn.iter()
        .enumerate()
        .map(|(n, item)| {
            let mut item = item.clone();
            let Some(obj) = item.as_object_mut() else {
                return item;
            };
            let kind = obj
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("message")
                .to_string();
            if kind == "message" {
                obj.insert("type".into(), json!("message"));
                if let Some(Value::String(text)) = obj.get("content") {
                    let part = if obj.get("role").and_then(Value::as_str) == Some("assistant") {
                        "output_text"
                    } else {
                        "input_text"
                    };
                    let parts = json!([{"type": part, "text": text}]);
                    obj.insert("content".into(), parts);
                }
            }
            if !obj.get("id").is_some_and(Value::is_string) {
                let prefix = match kind.as_str() {
                    "message" => "msg",
                    "function_call" => "fc",
                    "function_call_output" => "fco",
                    "reasoning" => "rs",
                    _ => "item",
                };
                obj.insert("id".into(), json!(format!("{prefix}_{stem}i{n:02}")));
            }
            if kind != "reasoning" && !obj.contains_key("status") {
                obj.insert("status".into(), json!("completed"));
            }
            item
        })
        .collect()
}

/// How `GET /v1/responses/{id}/input_items` pages: `order` (`desc`, the
/// default, or `asc`), items after the one with id `after`, at most
/// `limit` (1-100, default 20).
#[derive(Debug, Clone, Default)]
pub struct ItemPage {
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// Start after the item with this id.
    pub after: Option<String>,
    /// How many items (1-100).
    pub limit: Option<String>,
}

impl ItemPage {
    /// The page a query string's pairs ask for; a parameter given twice is
    /// a 400 naming it (others are ignored, as unknown body fields are).
    pub fn from_query(pairs: Vec<(String, String)>) -> Result<ItemPage, ApiError> {
        let mut page = ItemPage::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "order" => &mut page.order,
                "after" => &mut page.after,
                "limit" => &mut page.limit,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(ApiError::invalid(
                    &key,
                    format!("{key} is given more than once"),
                ));
            }
        }
        Ok(page)
    }
}

/// One page of `items` (oldest first) as OpenAI's list object.
pub fn item_page(items: Vec<Value>, page: &ItemPage) -> Result<Value, ApiError> {
    let limit = match page.limit.as_deref() {
        None => 20,
        Some(text) => match text.parse::<usize>() {
            Ok(n @ 1..=100) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("limit must be an integer from 1 to 100, got {text:?}"),
                ))
            }
        },
    };
    let mut items = items;
    match page.order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(other) => {
            return Err(ApiError::invalid(
                "order",
                format!("order must be \"asc\" or \"desc\", got {other:?}"),
            ))
        }
    }
    let start = match &page.after {
        None => 0,
        Some(after) => {
            let at = items
                .iter()
                .position(|i| i["id"].as_str() == Some(after.as_str()));
            match at {
                Some(at) => at + 1,
                None => {
                    return Err(ApiError::invalid(
                        "after",
                        format!("no input item with id {after:?} in this response"),
                    ))
                }
            }
        }
    };
    let rest = items.len().saturating_sub(start);
    let data: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    Ok(json!({
        "object": "list",
        "first_id": data.first().map(|i| i["id"].clone()),
        "last_id": data.last().map(|i| i["id"].clone()),
        "has_more": rest > data.len(),
        "data": data,
    }))
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

/// A continuation of a response still being generated: refused, since
/// its output is not known yet.
pub fn previous_response_in_progress(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::invalid(
        "previous_response_id",
        format!(
            "Previous response with id '{shown}' is still in progress; continue it once it has finished (or cancel it)."
        ),
    )
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
    fn input_items_get_ids_and_pages() {
        let turn = vec![
            json!({"role": "user", "content": "hi"}),
            json!({"type": "function_call_output", "call_id": "c", "output": "x"}),
            json!({"type": "message", "id": "msg_mine", "role": "assistant", "content": "yo"}),
        ];
        let items = listed_items(&turn, "resp_ab12");
        assert_eq!(items[0]["id"], "msg_ab12i00");
        assert_eq!(
            items[0]["content"],
            json!([{"type": "input_text", "text": "hi"}])
        );
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[1]["id"], "fco_ab12i01");
        assert_eq!(items[1]["status"], "completed");
        assert_eq!(items[2]["id"], "msg_mine");
        assert_eq!(items[2]["content"][0]["type"], "output_text");
        // Newest first by default; `after` and `limit` page.
        let page = item_page(items.clone(), &ItemPage::default()).unwrap();
        assert_eq!(page["first_id"], "msg_mine");
        assert_eq!(page["has_more"], false);
        let first = ItemPage {
            order: Some("asc".into()),
            limit: Some("2".into()),
            after: None,
        };
        let page = item_page(items.clone(), &first).unwrap();
        assert_eq!(
            (page["data"].as_array().unwrap().len(), &page["has_more"]),
            (2, &json!(true))
        );
        let next = ItemPage {
            after: page["last_id"].as_str().map(str::to_string),
            ..first
        };
        let page = item_page(items.clone(), &next).unwrap();
        assert_eq!(page["data"][0]["id"], "msg_mine");
        assert_eq!(page["has_more"], false);
        let twice = vec![
            ("order".into(), "asc".into()),
            ("order".into(), "asc".into()),
        ];
        assert_eq!(
            ItemPage::from_query(twice).unwrap_err().param.as_deref(),
            Some("order")
        );
        for (bad, param) in [
            (
                ItemPage {
                    limit: Some("0".into()),
                    ..Default::default()
                },
                "limit",
            ),
            (
                ItemPage {
                    order: Some("up".into()),
                    ..Default::default()
                },
                "order",
            ),
            (
                ItemPage {
                    after: Some("nope".into()),
                    ..Default::default()
                },
                "after",
            ),
        ] {
            let e = item_page(items.clone(), &bad).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param));
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
