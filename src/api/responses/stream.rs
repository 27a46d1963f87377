//! A response streamed as the Responses API's server-sent events:
//! `event: <type>` + `data: {json}` frames, each with its `type` and a
//! strictly increasing `sequence_number`, in the order the OpenAI SDK's
//! accumulator and the AI SDK need (`response.created` first; an item's
//! `output_item.added` before anything about it, with dense `output_index`;
//! a part's `content_part.added` before its deltas; `.done` events closing
//! each part and item; exactly one terminal `response.completed`,
//! `response.incomplete` or `response.failed` with the whole response).
//!
//! [`ResponsesEncoder`] is a plain state machine from engine events to
//! frames (tested below); `crate::api::sse::sse_stream` drives it.

use serde_json::{json, Value};

use crate::api::accounting::Consumed;
use crate::api::error::ApiError;
use crate::api::responses::object::{ItemIds, OutputItem, ResponseObject, ResponseUsage, TextPart};
use crate::api::sse::FrameEncoder;
use crate::api::unix_now;
use crate::engine::request::{FinishReason, StreamEvent};

/// Which output item is open (receiving deltas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Reasoning,
    Message,
    /// A function call: its index among the choice's calls.
    Call(usize),
}

/// Called with the finished response before its terminal event goes out:
/// keeps it, and says whether it did.
pub type Keep = Box<dyn FnOnce(&ResponseObject) -> bool + Send>;

/// The state machine from engine events to Responses frames.
pub struct ResponsesEncoder {
    response: ResponseObject,
    ids: ItemIds,
    seq: u64,
    /// The open item: its kind and its `output_index`.
    open: Option<(Open, usize)>,
    /// `output_index` of each call, by its index among the calls.
    calls: Vec<(usize, usize)>,
    prompt_tokens: usize,
    completion_tokens: usize,
    cached_tokens: usize,
    reasoning_tokens: usize,
    finish: Option<FinishReason>,
    failure: Option<ApiError>,
    closed: bool,
    keep: Option<Keep>,
}

impl ResponsesEncoder {
    /// An encoder for `response` (in progress, nothing produced yet);
    /// `keep` stores it once finished.
    pub fn new(response: ResponseObject, prompt_tokens: usize, keep: Option<Keep>) -> Self {
        let ids = ItemIds::new(&response.id);
        ResponsesEncoder {
            response,
            ids,
            seq: 0,
            open: None,
            calls: Vec::new(),
            prompt_tokens,
            completion_tokens: 0,
            cached_tokens: 0,
            reasoning_tokens: 0,
            finish: None,
            failure: None,
            closed: false,
            keep,
        }
    }

    /// The response as it stands (whole once the stream closed).
    pub fn response(&self) -> &ResponseObject {
        &self.response
    }

    fn frame(&mut self, out: &mut String, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.push_str("event: ");
        out.push_str(kind);
        out.push_str("\ndata: ");
        out.push_str(&data.to_string());
        out.push_str("\n\n");
    }

    fn usage(&self) -> ResponseUsage {
        ResponseUsage::new(
            self.prompt_tokens,
            self.cached_tokens,
            self.completion_tokens,
            self.reasoning_tokens,
        )
    }

    /// Open a new item of `kind` (closing the open one), announcing it.
    fn open_item(&mut self, out: &mut String, kind: Open, call: Option<(String, String)>) {
        self.close_item(out, "completed");
        let index = self.response.output.len();
        let item = match kind {
            Open::Reasoning => OutputItem::Reasoning {
                id: self.ids.next("rs"),
                summary: Vec::new(),
                content: Vec::new(),
                encrypted_content: None,
                status: "in_progress",
            },
            Open::Message => OutputItem::Message {
                id: self.ids.next("msg"),
                status: "in_progress",
                role: "assistant",
                content: Vec::new(),
            },
            Open::Call(_) => {
                let (call_id, name) = call.unwrap_or_default();
                OutputItem::FunctionCall {
                    id: self.ids.next("fc"),
                    call_id,
                    name,
                    arguments: String::new(),
                    status: "in_progress",
                }
            }
        };
        let item_id = item.id().to_string();
        self.frame(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        self.response.output.push(item);
        self.open = Some((kind, index));
        match kind {
            Open::Reasoning => {
                let part = TextPart::summary(String::new());
                self.frame(
                    out,
                    "response.reasoning_summary_part.added",
                    json!({"item_id": item_id, "output_index": index, "summary_index": 0, "part": part}),
                );
            }
            Open::Message => {
                let part = TextPart::output_text(String::new());
                self.frame(
                    out,
                    "response.content_part.added",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": part}),
                );
            }
            Open::Call(i) => self.calls.push((i, index)),
        }
    }

    /// Close the open item with `status`: its `.done` events, then
    /// `output_item.done` with the whole item.
    fn close_item(&mut self, out: &mut String, status: &'static str) {
        let Some((_, index)) = self.open.take() else {
            return;
        };
        let item = &mut self.response.output[index];
        let item_id = item.id().to_string();
        let mut frames = Vec::new();
        match item {
            OutputItem::Reasoning {
                summary,
                content,
                status: s,
                ..
            } => {
                *s = status;
                let text = content.first().map(|p| p.text.clone()).unwrap_or_default();
                if summary.is_empty() {
                    summary.push(TextPart::summary(text.clone()));
                }
                if content.is_empty() {
                    content.push(TextPart::reasoning(text.clone()));
                }
                frames.push((
                    "response.reasoning_text.done",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0, "text": text}),
                ));
                frames.push((
                    "response.reasoning_summary_text.done",
                    json!({"item_id": item_id, "output_index": index, "summary_index": 0, "text": text}),
                ));
                frames.push((
                    "response.reasoning_summary_part.done",
                    json!({"item_id": item_id, "output_index": index, "summary_index": 0,
                           "part": TextPart::summary(text)}),
                ));
            }
            OutputItem::Message {
                content, status: s, ..
            } => {
                *s = status;
                if content.is_empty() {
                    content.push(TextPart::output_text(String::new()));
                }
                let part = content[0].clone();
                frames.push((
                    "response.output_text.done",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0,
                           "text": part.text, "logprobs": []}),
                ));
                frames.push((
                    "response.content_part.done",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": part}),
                ));
            }
            OutputItem::FunctionCall {
                arguments,
                status: s,
                ..
            } => {
                *s = status;
                frames.push((
                    "response.function_call_arguments.done",
                    json!({"item_id": item_id, "output_index": index, "arguments": arguments}),
                ));
            }
        }
        let item = json!({"output_index": index, "item": self.response.output[index]});
        frames.push(("response.output_item.done", item));
        for (kind, data) in frames {
            self.frame(out, kind, data);
        }
    }

    /// Append `text` to the open reasoning or message item.
    fn push_text(&mut self, out: &mut String, kind: Open, text: &str) {
        if self.open.map(|(k, _)| k) != Some(kind) {
            self.open_item(out, kind, None);
        }
        let Some((_, index)) = self.open else { return };
        let item = &mut self.response.output[index];
        let item_id = item.id().to_string();
        match item {
            OutputItem::Reasoning { content, .. } => {
                match content.first_mut() {
                    Some(p) => p.text.push_str(text),
                    None => content.push(TextPart::reasoning(text.to_string())),
                }
                self.frame(
                    out,
                    "response.reasoning_text.delta",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0, "delta": text}),
                );
                self.frame(
                    out,
                    "response.reasoning_summary_text.delta",
                    json!({"item_id": item_id, "output_index": index, "summary_index": 0, "delta": text}),
                );
            }
            OutputItem::Message { content, .. } => {
                match content.first_mut() {
                    Some(p) => p.text.push_str(text),
                    None => content.push(TextPart::output_text(text.to_string())),
                }
                self.frame(
                    out,
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0,
                           "delta": text, "logprobs": []}),
                );
            }
            OutputItem::FunctionCall { .. } => {}
        }
    }

    /// Append argument text to call `call` (its index among the calls).
    fn push_arguments(&mut self, out: &mut String, call: usize, delta: &str) {
        let Some(&(_, index)) = self.calls.iter().find(|(i, _)| *i == call) else {
            tracing::warn!(call, "arguments for a call that never started");
            return;
        };
        if let OutputItem::FunctionCall { id, arguments, .. } = &mut self.response.output[index] {
            arguments.push_str(delta);
            let item_id = id.clone();
            self.frame(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": delta}),
            );
        }
    }

    /// The error event, then `response.failed`.
    fn fail(&mut self, out: &mut String, error: ApiError) {
        self.close_item(out, "incomplete");
        let code = error.code.unwrap_or("server_error");
        self.frame(
            out,
            "error",
            json!({"code": code, "message": error.message, "param": error.param}),
        );
        let usage = self.usage();
        self.response.fail(code, &error.message, usage);
        let response = self.response.clone();
        self.frame(out, "response.failed", json!({"response": response}));
        self.failure = Some(error);
    }
}

impl FrameEncoder for ResponsesEncoder {
    fn open(&mut self) -> String {
        let mut out = String::new();
        let snapshot = json!({"response": self.response});
        self.frame(&mut out, "response.created", snapshot.clone());
        self.frame(&mut out, "response.in_progress", snapshot);
        out
    }

    fn event(&mut self, ev: &StreamEvent) -> String {
        let mut out = String::new();
        if self.is_done() {
            return out;
        }
        match ev {
            StreamEvent::Delta {
                reasoning,
                text,
                tool_calls,
                token_ids,
                ..
            } => {
                self.completion_tokens += token_ids.len();
                if !reasoning.is_empty() {
                    self.push_text(&mut out, Open::Reasoning, reasoning);
                }
                if !text.is_empty() {
                    self.push_text(&mut out, Open::Message, text);
                }
                for call in tool_calls {
                    if let Some(start) = &call.start {
                        self.open_item(&mut out, Open::Call(call.index), Some(start.clone()));
                    }
                    if !call.arguments.is_empty() {
                        self.push_arguments(&mut out, call.index, &call.arguments);
                    }
                }
            }
            StreamEvent::Finished {
                reason,
                completion_tokens,
                cached_tokens,
                reasoning_tokens,
                ..
            } => {
                self.completion_tokens = *completion_tokens;
                self.cached_tokens = *cached_tokens;
                self.reasoning_tokens = *reasoning_tokens;
                self.finish = Some(*reason);
            }
            StreamEvent::Failed { message } => {
                self.fail(&mut out, ApiError::internal(message.clone()));
            }
            StreamEvent::QueueTimedOut {
                waited,
                retry_after,
            } => self.fail(&mut out, ApiError::queue_timeout(*waited, *retry_after)),
        }
        out
    }

    fn close(&mut self) -> String {
        let mut out = String::new();
        if self.closed {
            return out;
        }
        self.closed = true;
        if self.failure.is_some() {
            return out;
        }
        let Some(reason) = self.finish else {
            self.fail(
                &mut out,
                ApiError::internal("the engine ended the request before it finished"),
            );
            return out;
        };
        let status = item_status(reason);
        self.close_item(&mut out, status);
        // Nothing at all was said: the response still has its message.
        if self.response.output.is_empty() {
            self.open_item(&mut out, Open::Message, None);
            self.close_item(&mut out, status);
        }
        let usage = self.usage();
        self.response.finish(reason, usage, unix_now());
        if let Some(keep) = self.keep.take() {
            self.response.store = keep(&self.response);
        }
        // A cancelled response ends as an incomplete one does (the SDKs
        // know no other terminal event), with status `cancelled`.
        let kind = if matches!(self.response.status, "incomplete" | "cancelled") {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let response = self.response.clone();
        self.frame(&mut out, kind, json!({"response": response}));
        out
    }

    fn is_done(&self) -> bool {
        self.failure.is_some() || self.finish.is_some()
    }

    fn failed(&self) -> bool {
        self.failure.is_some()
    }

    fn cancelled(&self) -> bool {
        self.finish == Some(FinishReason::Abort)
    }

    fn consumed(&self) -> Consumed {
        Consumed {
            prompt_tokens: self.prompt_tokens,
            cached_tokens: self.cached_tokens,
            completion_tokens: self.completion_tokens,
            reasoning_tokens: self.reasoning_tokens,
        }
    }
}

/// The status of the items a response ends with.
pub fn item_status(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length | FinishReason::Abort => "incomplete",
        _ => "completed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::responses::request::Echo;
    use crate::engine::request::ToolCallDelta;

    fn encoder() -> ResponsesEncoder {
        let r =
            ResponseObject::in_progress("resp_abc".into(), 1, "m".into(), &Echo::default(), false);
        ResponsesEncoder::new(r, 7, None)
    }

    fn delta(reasoning: &str, text: &str, calls: Vec<ToolCallDelta>) -> StreamEvent {
        StreamEvent::Delta {
            choice: 0,
            text: text.into(),
            reasoning: reasoning.into(),
            tool_calls: calls,
            token_ids: vec![1],
            logprobs: vec![],
        }
    }

    fn fin(reason: FinishReason) -> StreamEvent {
        StreamEvent::Finished {
            choice: 0,
            reason,
            completion_tokens: 5,
            matched_stop: None,
            cached_tokens: 3,
            reasoning_tokens: 1,
        }
    }

    /// Every frame as (event line, data), checking that they agree.
    fn frames(s: &str) -> Vec<Value> {
        s.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (event, data) = f.split_once('\n').unwrap();
                let v: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(event.strip_prefix("event: ").unwrap(), v["type"]);
                v
            })
            .collect()
    }

    fn run(events: &[StreamEvent]) -> Vec<Value> {
        let mut e = encoder();
        let mut s = e.open();
        for ev in events {
            s.push_str(&e.event(ev));
        }
        s.push_str(&e.close());
        frames(&s)
    }

    fn types(f: &[Value]) -> Vec<&str> {
        f.iter().map(|v| v["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn reasoning_text_and_a_call_come_in_the_order_the_sdks_need() {
        let call = |start: Option<(&str, &str)>, args: &str| ToolCallDelta {
            index: 0,
            start: start.map(|(a, b)| (a.to_string(), b.to_string())),
            arguments: args.into(),
        };
        let f = run(&[
            delta("hm", "", vec![]),
            delta("m", "Hi", vec![]),
            delta("", " there", vec![]),
            delta("", "", vec![call(Some(("call_1", "get")), "{\"a\"")]),
            delta("", "", vec![call(None, ":1}")]),
            fin(FinishReason::ToolCalls),
        ]);
        assert_eq!(
            types(&f),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_text.done",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, v) in f.iter().enumerate() {
            assert_eq!(v["sequence_number"], i, "{v}");
        }
        let last = &f.last().unwrap()["response"];
        assert_eq!(last["status"], "completed");
        assert_eq!(last["output"][0]["content"][0]["text"], "hmm");
        assert_eq!(last["output"][0]["summary"][0]["text"], "hmm");
        assert_eq!(last["output"][1]["content"][0]["text"], "Hi there");
        assert_eq!(last["output"][2]["arguments"], "{\"a\":1}");
        assert_eq!(last["output"][2]["call_id"], "call_1");
        assert_eq!(last["output"][2]["status"], "completed");
        assert_eq!(last["usage"]["input_tokens"], 7);
        assert_eq!(last["usage"]["output_tokens"], 5);
        assert_eq!(last["usage"]["input_tokens_details"]["cached_tokens"], 3);
        assert_eq!(last["usage"]["total_tokens"], 12);
        // Item ids agree from added to done to the final response.
        let added: Vec<&Value> = f
            .iter()
            .filter(|v| v["type"] == "response.output_item.added")
            .collect();
        for a in added {
            let i = a["output_index"].as_u64().unwrap() as usize;
            assert_eq!(a["item"]["id"], last["output"][i]["id"]);
        }
    }

    #[test]
    fn the_output_limit_is_an_incomplete_response() {
        let f = run(&[delta("", "abc", vec![]), fin(FinishReason::Length)]);
        let last = f.last().unwrap();
        assert_eq!(last["type"], "response.incomplete");
        assert_eq!(last["response"]["status"], "incomplete");
        assert_eq!(
            last["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    }

    #[test]
    fn a_failure_is_an_error_event_then_response_failed_and_nothing_else() {
        let f = run(&[
            delta("", "ab", vec![]),
            StreamEvent::Failed {
                message: "boom".into(),
            },
            delta("", "late", vec![]),
        ]);
        let t = types(&f);
        assert_eq!(&t[t.len() - 2..], ["error", "response.failed"]);
        assert_eq!(f.last().unwrap()["response"]["error"]["message"], "boom");
        // An early end of the engine's events is a failure too.
        let f = run(&[delta("", "ab", vec![])]);
        assert_eq!(f.last().unwrap()["type"], "response.failed");
    }

    #[test]
    fn an_empty_answer_still_has_its_message() {
        let f = run(&[fin(FinishReason::Stop)]);
        let last = &f.last().unwrap()["response"];
        assert_eq!(last["output"][0]["type"], "message");
        assert_eq!(last["output"][0]["content"][0]["text"], "");
    }
}
