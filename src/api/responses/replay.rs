//! `GET /v1/responses/{id}?stream=true`: a stored response streamed again
//! as the events a client streaming it live would have read.
//!
//! The stored output is fed, one engine event per item, through the same
//! [`ResponsesEncoder`] the live stream used, so the events, their order
//! and the item ids are the live stream's (each item's text arrives as one
//! delta rather than token by token). The response snapshots the events
//! carry are the stored response itself: as it ended in the terminal
//! event, as it began (`in_progress`, no output, no usage) before.
//! `starting_after=N` leaves out the events up to sequence number N, so a
//! client that lost its connection can pick up where it was.

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::responses::object::ResponseObject;
use crate::api::responses::request::Echo;
use crate::api::responses::stream::ResponsesEncoder;
use crate::api::sse::FrameEncoder;
use crate::engine::request::{FinishReason, StreamEvent, ToolCallDelta};

/// The SSE text replaying `stored` (a response object as kept), leaving
/// out the events numbered `starting_after` and before.
pub fn replay(stored: &Value, starting_after: Option<u64>) -> Result<String, ApiError> {
    let id = stored["id"].as_str().unwrap_or_default().to_string();
    let usage = &stored["usage"];
    let count = |v: &Value| v.as_u64().unwrap_or(0) as usize;
    let begun = ResponseObject::in_progress(id, 0, String::new(), &Echo::default(), false);
    let mut encoder = ResponsesEncoder::new(begun, count(&usage["input_tokens"]), None);
    let mut frames = encoder.open();
    let mut calls = 0;
    for item in stored["output"].as_array().into_iter().flatten() {
        let (mut text, mut reasoning, mut tool_calls) = (String::new(), String::new(), Vec::new());
        match item["type"].as_str() {
            Some("reasoning") => reasoning = parts_text(&item["content"]),
            Some("message") => text = parts_text(&item["content"]),
            Some("function_call") => {
                let field = |k: &str| item[k].as_str().unwrap_or_default().to_string();
                tool_calls.push(ToolCallDelta {
                    index: calls,
                    start: Some((field("call_id"), field("name"))),
                    arguments: field("arguments"),
                });
                calls += 1;
            }
            _ => continue,
        }
        let delta = StreamEvent::Delta {
            choice: 0,
            text,
            reasoning,
            tool_calls,
            token_ids: Vec::new(),
            logprobs: Vec::new(),
        };
        frames.push_str(&encoder.event(&delta));
    }
    let reason = match stored["status"].as_str() {
        Some("incomplete") => FinishReason::Length,
        Some("cancelled") => FinishReason::Abort,
        _ if calls > 0 => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    };
    frames.push_str(&encoder.event(&StreamEvent::Finished {
        choice: 0,
        reason,
        completion_tokens: count(&usage["output_tokens"]),
        matched_stop: None,
        cached_tokens: count(&usage["input_tokens_details"]["cached_tokens"]),
        reasoning_tokens: count(&usage["output_tokens_details"]["reasoning_tokens"]),
    }));
    frames.push_str(&encoder.close());
    restore_snapshots(&frames, stored, starting_after)
}

/// The text of a message's or reasoning item's parts.
fn parts_text(parts: &Value) -> String {
    parts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// `frames` with every response snapshot replaced by the stored response
/// (as it began before the terminal event), those up to `starting_after`
/// left out.
fn restore_snapshots(
    frames: &str,
    stored: &Value,
    starting_after: Option<u64>,
) -> Result<String, ApiError> {
    let mut begun = stored.clone();
    begun["status"] = json!("in_progress");
    begun["output"] = json!([]);
    for field in ["usage", "completed_at", "incomplete_details", "error"] {
        begun[field] = Value::Null;
    }
    let mut out = String::new();
    for frame in frames.split("\n\n").filter(|f| !f.is_empty()) {
        let (Some(kind), Some(data)) = (
            frame.lines().find_map(|l| l.strip_prefix("event: ")),
            frame.lines().find_map(|l| l.strip_prefix("data: ")),
        ) else {
            continue;
        };
        let mut data: Value = serde_json::from_str(data)
            .map_err(|e| ApiError::internal(format!("replaying a stored response: {e}")))?;
        if starting_after.is_some_and(|n| data["sequence_number"].as_u64() <= Some(n)) {
            continue;
        }
        if data.get("response").is_some() {
            data["response"] = match kind {
                "response.created" | "response.in_progress" => begun.clone(),
                _ => stored.clone(),
            };
        }
        out.push_str(&format!("event: {kind}\ndata: {data}\n\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &str) -> Vec<Value> {
        text.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                serde_json::from_str(f.lines().nth(1).unwrap().strip_prefix("data: ").unwrap())
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_stored_response_replays_as_its_live_events() {
        let stored = json!({
            "id": "resp_ab", "object": "response", "status": "completed", "model": "m",
            "output": [
                {"type": "reasoning", "id": "rs_ab00", "summary": [{"type": "summary_text", "text": "hm"}],
                 "content": [{"type": "reasoning_text", "text": "hm"}]},
                {"type": "message", "id": "msg_ab01", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Hi.", "annotations": []}]},
                {"type": "function_call", "id": "fc_ab02", "call_id": "call_1", "name": "f",
                 "arguments": "{}", "status": "completed"}
            ],
            "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 2},
                      "total_tokens": 14}
        });
        let all = frames(&replay(&stored, None).unwrap());
        let kinds: Vec<&str> = all.iter().map(|f| f["type"].as_str().unwrap()).collect();
        assert_eq!(kinds.first(), Some(&"response.created"));
        assert_eq!(kinds.last(), Some(&"response.completed"));
        assert!(kinds.contains(&"response.output_text.delta"));
        assert!(kinds.contains(&"response.function_call_arguments.done"));
        assert_eq!(all[0]["response"]["status"], "in_progress");
        assert_eq!(all.last().unwrap()["response"], stored);
        let seq: Vec<u64> = all
            .iter()
            .map(|f| f["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seq, (0..all.len() as u64).collect::<Vec<_>>());
        // The items are the stored ones, ids and all.
        let done: Vec<&Value> = all
            .iter()
            .filter(|f| f["type"] == "response.output_item.done")
            .map(|f| &f["item"]["id"])
            .collect();
        assert_eq!(
            done,
            [&json!("rs_ab00"), &json!("msg_ab01"), &json!("fc_ab02")]
        );
        // Picking up after event 3.
        let rest = frames(&replay(&stored, Some(3)).unwrap());
        assert_eq!(rest[0]["sequence_number"], 4);
        assert_eq!(rest.len(), all.len() - 4);
    }
}
