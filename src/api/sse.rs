//! Turning the engine's [`StreamEvent`]s into OpenAI SSE frames
//! (`data: {json}\n\n`, no `event:` lines, closed by `data: [DONE]\n\n`).
//!
//! [`SseEncoder`] is a plain state machine (unit-tested below);
//! [`sse_response`] drives it from the engine's channel. The channel's
//! receiver lives only inside the response body, so when the client goes
//! away hyper drops the body, the receiver goes with it, and the engine sees
//! a closed channel and aborts the request.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde::Serialize;

use crate::api::accounting::{Consumed, Ledger};
use crate::api::error::ApiError;
use crate::api::openai::{
    finish_reason_str, ChatChunkChoice, ChatCompletionChunk, ChatDelta, ChatLogprobs, Completion,
    CompletionChoice, CompletionLogprobs, Usage, WireToolCall,
};
use crate::engine::request::StreamEvent;
use crate::tenancy::model::UsageStatus;

/// Which OpenAI stream format to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// `chat.completion.chunk` objects with `delta`s.
    Chat,
    /// `text_completion` objects with `text`.
    Completion,
}

/// Everything fixed for the life of one stream.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// Chat or legacy completions.
    pub kind: StreamKind,
    /// Response id, the same on every chunk.
    pub id: String,
    /// Unix seconds, the same on every chunk.
    pub created: i64,
    /// Served model name.
    pub model: String,
    /// Number of choices.
    pub n: usize,
    /// Prompt length in tokens (for usage).
    pub prompt_tokens: usize,
    /// Send a final usage chunk (and `usage: null` on the others).
    pub include_usage: bool,
    /// Send running usage on every chunk (vLLM's `continuous_usage_stats`).
    pub continuous_usage: bool,
    /// Logprobs were requested (empty-text deltas are then still sent).
    pub logprobs: bool,
    /// Completions with `echo`: the prompt text, sent first on each choice.
    pub echo: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct ChoiceState {
    /// Tokens so far (exact once finished).
    completion_tokens: usize,
    finished: bool,
    /// Character offset for completions logprobs.
    text_offset: usize,
}

/// The state machine from events to SSE text.
#[derive(Debug)]
pub struct SseEncoder {
    cfg: StreamConfig,
    choices: Vec<ChoiceState>,
    /// A `Failed` (or an early end) has been reported; nothing more but `[DONE]`.
    failed: bool,
    closed: bool,
    /// Prompt tokens served from the prefix cache (from `Finished`).
    cached_tokens: usize,
    /// Reasoning tokens of the finished choices.
    reasoning_tokens: usize,
}

/// The frame that ends every stream.
pub const DONE_FRAME: &str = "data: [DONE]\n\n";

/// What [`sse_stream`] drives: a state machine from the engine's events to
/// SSE text, one per wire format (chat and completions chunks here, the
/// Responses API's events in `api::responses::stream`).
pub trait FrameEncoder: Send + 'static {
    /// The frames sent before any event.
    fn open(&mut self) -> String;
    /// The frames one event makes (empty once done).
    fn event(&mut self, ev: &StreamEvent) -> String;
    /// The closing frames; an early end of the events is reported here.
    fn close(&mut self) -> String;
    /// True once nothing more is read: every choice finished, or a failure.
    fn is_done(&self) -> bool;
    /// True when the stream reported a failure.
    fn failed(&self) -> bool;
    /// True when the request was cancelled (a Responses API cancel).
    fn cancelled(&self) -> bool {
        false
    }
    /// What the stream has consumed so far (exact once done).
    fn consumed(&self) -> Consumed;
}

impl FrameEncoder for SseEncoder {
    fn open(&mut self) -> String {
        SseEncoder::open(self)
    }
    fn event(&mut self, ev: &StreamEvent) -> String {
        SseEncoder::event(self, ev)
    }
    fn close(&mut self) -> String {
        SseEncoder::close(self)
    }
    fn is_done(&self) -> bool {
        SseEncoder::is_done(self)
    }
    fn failed(&self) -> bool {
        self.failed
    }
    fn consumed(&self) -> Consumed {
        SseEncoder::consumed(self)
    }
}

fn frame(out: &mut String, value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(json) => {
            out.push_str("data: ");
            out.push_str(&json);
            out.push_str("\n\n");
        }
        Err(e) => tracing::error!(error = %e, "could not serialise an SSE chunk"),
    }
}

impl SseEncoder {
    /// A fresh encoder for `cfg.n` choices.
    pub fn new(cfg: StreamConfig) -> Self {
        let offset = cfg.echo.as_deref().map_or(0, |e| e.chars().count());
        let choices = vec![
            ChoiceState {
                text_offset: offset,
                ..ChoiceState::default()
            };
            cfg.n
        ];
        Self {
            cfg,
            choices,
            failed: false,
            closed: false,
            cached_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    /// True once every choice has finished or the stream failed: the caller
    /// should then send [`SseEncoder::close`] and stop reading events.
    pub fn is_done(&self) -> bool {
        self.failed || self.choices.iter().all(|c| c.finished)
    }

    /// What the stream has consumed so far (exact once done).
    pub fn consumed(&self) -> Consumed {
        Consumed {
            prompt_tokens: self.cfg.prompt_tokens,
            cached_tokens: self.cached_tokens,
            completion_tokens: self.choices.iter().map(|c| c.completion_tokens).sum(),
            reasoning_tokens: self.reasoning_tokens,
        }
    }

    fn running_usage(&self) -> Usage {
        Usage::new(
            self.cfg.prompt_tokens,
            self.choices.iter().map(|c| c.completion_tokens).sum(),
        )
        .with_cached(self.cached_tokens)
        .with_reasoning(self.reasoning_tokens)
    }

    /// The `usage` field of a content chunk. The last finish chunk of a
    /// stream carries the whole usage even without `include_usage` (the
    /// hosted API's contract); with it, usage goes in OpenAI's extra
    /// `choices: []` chunk instead.
    fn chunk_usage(&self) -> Option<Option<Usage>> {
        if self.cfg.continuous_usage
            || (!self.cfg.include_usage && self.choices.iter().all(|c| c.finished))
        {
            Some(Some(self.running_usage()))
        } else if self.cfg.include_usage {
            Some(None)
        } else {
            None
        }
    }

    fn chat_chunk(&self, out: &mut String, choice: ChatChunkChoice) {
        frame(
            out,
            &ChatCompletionChunk {
                id: &self.cfg.id,
                object: "chat.completion.chunk",
                created: self.cfg.created,
                model: &self.cfg.model,
                choices: vec![choice],
                usage: self.chunk_usage(),
            },
        );
    }

    fn completion_chunk(&self, out: &mut String, choice: CompletionChoice) {
        frame(
            out,
            &Completion {
                id: &self.cfg.id,
                object: "text_completion",
                created: self.cfg.created,
                model: &self.cfg.model,
                choices: vec![choice],
                usage: self.chunk_usage(),
            },
        );
    }

    /// The frames sent before any event: the assistant role chunk of every
    /// chat choice, or the echoed prompt of every completion choice.
    pub fn open(&mut self) -> String {
        let mut out = String::new();
        for index in 0..self.cfg.n {
            match self.cfg.kind {
                StreamKind::Chat => self.chat_chunk(
                    &mut out,
                    ChatChunkChoice {
                        index,
                        delta: ChatDelta {
                            role: Some("assistant"),
                            content: Some(String::new()),
                            ..Default::default()
                        },
                        logprobs: None,
                        finish_reason: None,
                        stop_reason: None,
                    },
                ),
                StreamKind::Completion => {
                    if let Some(echo) = &self.cfg.echo {
                        self.completion_chunk(
                            &mut out,
                            CompletionChoice {
                                token_ids: None,
                                index,
                                text: echo.clone(),
                                logprobs: None,
                                finish_reason: None,
                                stop_reason: None,
                            },
                        );
                    }
                }
            }
        }
        out
    }

    /// The frames for one event (possibly none: an empty delta without
    /// logprobs, or an event after the stream is done).
    pub fn event(&mut self, ev: &StreamEvent) -> String {
        let mut out = String::new();
        if self.failed {
            return out;
        }
        match ev {
            StreamEvent::Delta {
                choice,
                text,
                reasoning,
                tool_calls,
                token_ids,
                logprobs,
            } => {
                let Some(state) = self.choices.get_mut(*choice) else {
                    tracing::warn!(choice, n = self.cfg.n, "delta for a choice out of range");
                    return out;
                };
                if state.finished {
                    return out;
                }
                state.completion_tokens += token_ids.len();
                if text.is_empty()
                    && reasoning.is_empty()
                    && tool_calls.is_empty()
                    && !self.cfg.logprobs
                {
                    return out;
                }
                match self.cfg.kind {
                    StreamKind::Chat => {
                        let lps = self
                            .cfg
                            .logprobs
                            .then(|| ChatLogprobs::from_engine(logprobs));
                        self.chat_chunk(
                            &mut out,
                            ChatChunkChoice {
                                index: *choice,
                                delta: ChatDelta {
                                    role: None,
                                    content: (!text.is_empty()
                                        || reasoning.is_empty() && tool_calls.is_empty())
                                    .then(|| text.clone()),
                                    reasoning_content: (!reasoning.is_empty())
                                        .then(|| reasoning.clone()),
                                    reasoning: (!reasoning.is_empty()).then(|| reasoning.clone()),
                                    tool_calls: (!tool_calls.is_empty()).then(|| {
                                        tool_calls.iter().map(WireToolCall::from_delta).collect()
                                    }),
                                },
                                logprobs: lps,
                                finish_reason: None,
                                stop_reason: None,
                            },
                        );
                    }
                    StreamKind::Completion => {
                        let lps = self.cfg.logprobs.then(|| {
                            let mut l = CompletionLogprobs::default();
                            l.extend_from_engine(logprobs, &mut state.text_offset);
                            l
                        });
                        self.completion_chunk(
                            &mut out,
                            CompletionChoice {
                                token_ids: None,
                                index: *choice,
                                text: text.clone(),
                                logprobs: lps,
                                finish_reason: None,
                                stop_reason: None,
                            },
                        );
                    }
                }
            }
            StreamEvent::Finished {
                choice,
                reason,
                completion_tokens,
                matched_stop,
                cached_tokens,
                reasoning_tokens,
            } => {
                self.cached_tokens = self.cached_tokens.max(*cached_tokens);
                self.reasoning_tokens += *reasoning_tokens;
                let Some(state) = self.choices.get_mut(*choice) else {
                    tracing::warn!(choice, n = self.cfg.n, "finish for a choice out of range");
                    return out;
                };
                if state.finished {
                    return out;
                }
                state.finished = true;
                state.completion_tokens = *completion_tokens;
                let finish_reason = Some(finish_reason_str(*reason));
                match self.cfg.kind {
                    StreamKind::Chat => self.chat_chunk(
                        &mut out,
                        ChatChunkChoice {
                            index: *choice,
                            delta: ChatDelta::default(),
                            logprobs: None,
                            finish_reason,
                            stop_reason: matched_stop.clone(),
                        },
                    ),
                    StreamKind::Completion => self.completion_chunk(
                        &mut out,
                        CompletionChoice {
                            token_ids: None,
                            index: *choice,
                            text: String::new(),
                            logprobs: None,
                            finish_reason,
                            stop_reason: matched_stop.clone(),
                        },
                    ),
                }
            }
            StreamEvent::Failed { message } => {
                self.failed = true;
                out.push_str(&ApiError::internal(message.clone()).sse_frame());
            }
            StreamEvent::QueueTimedOut {
                waited,
                retry_after,
            } => {
                self.failed = true;
                out.push_str(&ApiError::queue_timeout(*waited, *retry_after).sse_frame());
            }
        }
        out
    }

    /// The closing frames: an error if the engine ended early, the usage
    /// chunk when asked for, then `[DONE]`. Idempotent.
    pub fn close(&mut self) -> String {
        let mut out = String::new();
        if self.closed {
            return out;
        }
        self.closed = true;
        if !self.is_done() {
            self.failed = true;
            out.push_str(
                &ApiError::internal("the engine ended the request before it finished").sse_frame(),
            );
        }
        if self.cfg.include_usage {
            let usage = Some(Some(self.running_usage()));
            match self.cfg.kind {
                StreamKind::Chat => frame(
                    &mut out,
                    &ChatCompletionChunk {
                        id: &self.cfg.id,
                        object: "chat.completion.chunk",
                        created: self.cfg.created,
                        model: &self.cfg.model,
                        choices: vec![],
                        usage,
                    },
                ),
                StreamKind::Completion => frame(
                    &mut out,
                    &Completion {
                        id: &self.cfg.id,
                        object: "text_completion",
                        created: self.cfg.created,
                        model: &self.cfg.model,
                        choices: vec![],
                        usage,
                    },
                ),
            }
        }
        out.push_str(DONE_FRAME);
        out
    }
}

/// Most events coalesced into one body write when several are queued.
const MAX_BATCH: usize = 64;

/// The body stream: one `Bytes` per wake-up, holding the frames of every
/// event already queued. The receiver is owned by the stream alone. With a
/// [`Ledger`], the usage record is committed before the closing frames go
/// out; a stream dropped early (the client left) records `cancelled`.
pub fn sse_stream<E: FrameEncoder>(
    mut encoder: E,
    events: flume::Receiver<StreamEvent>,
    ledger: Option<Ledger>,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let opening = encoder.open();
    let state = Some((encoder, events, opening, ledger));
    futures::stream::unfold(state, |state| async move {
        let (mut enc, rx, mut out, mut ledger) = state?;
        loop {
            if enc.is_done() {
                if let Some(l) = ledger.take() {
                    let status = if enc.failed() {
                        UsageStatus::Failed
                    } else if enc.cancelled() {
                        UsageStatus::Cancelled
                    } else {
                        UsageStatus::Completed
                    };
                    l.finish(status, enc.consumed()).await;
                }
                out.push_str(&enc.close());
                drop(rx);
                return Some((Ok(Bytes::from(out)), None));
            }
            if !out.is_empty() {
                if let Some(l) = ledger.as_mut() {
                    l.observe(enc.consumed());
                }
                return Some((Ok(Bytes::from(out)), Some((enc, rx, String::new(), ledger))));
            }
            match rx.recv_async().await {
                Ok(ev) => {
                    out.push_str(&enc.event(&ev));
                    let mut batched = 1;
                    while batched < MAX_BATCH && !enc.is_done() {
                        let Ok(ev) = rx.try_recv() else { break };
                        out.push_str(&enc.event(&ev));
                        batched += 1;
                    }
                }
                Err(flume::RecvError::Disconnected) => {
                    if let Some(l) = ledger.take() {
                        l.finish(UsageStatus::Failed, enc.consumed()).await;
                    }
                    out.push_str(&enc.close());
                    return Some((Ok(Bytes::from(out)), None));
                }
            }
        }
    })
}

/// A `text/event-stream` response of chat or completions chunks driven by
/// `events`.
pub fn sse_response(
    cfg: StreamConfig,
    events: flume::Receiver<StreamEvent>,
    ledger: Option<Ledger>,
) -> Response {
    encoded_sse_response(SseEncoder::new(cfg), events, ledger)
}

/// A `text/event-stream` response whose frames `encoder` makes.
pub fn encoded_sse_response(
    encoder: impl FrameEncoder,
    events: flume::Receiver<StreamEvent>,
    ledger: Option<Ledger>,
) -> Response {
    let body = Body::from_stream(sse_stream(encoder, events, ledger));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::request::{FinishReason, TokenLogprob};
    use futures::StreamExt;
    use serde_json::{json, Value};

    fn cfg(kind: StreamKind, n: usize) -> StreamConfig {
        StreamConfig {
            kind,
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
            n,
            prompt_tokens: 10,
            include_usage: false,
            continuous_usage: false,
            logprobs: false,
            echo: None,
        }
    }

    fn delta(choice: usize, text: &str, ntok: usize) -> StreamEvent {
        StreamEvent::Delta {
            choice,
            text: text.into(),
            reasoning: String::new(),
            tool_calls: vec![],
            token_ids: vec![1; ntok],
            logprobs: vec![],
        }
    }

    fn fin(choice: usize, reason: FinishReason, tokens: usize) -> StreamEvent {
        StreamEvent::Finished {
            choice,
            reason,
            completion_tokens: tokens,
            matched_stop: None,
            cached_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    /// Split SSE text into parsed JSON frames (and "[DONE]" as a string).
    fn frames(s: &str) -> Vec<Value> {
        assert!(s.ends_with("\n\n") || s.is_empty(), "{s:?}");
        s.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let data = f.strip_prefix("data: ").expect("a data line");
                assert!(!data.contains('\n'));
                if data == "[DONE]" {
                    Value::from("[DONE]")
                } else {
                    serde_json::from_str(data).unwrap()
                }
            })
            .collect()
    }

    fn run(cfg: StreamConfig, events: &[StreamEvent]) -> Vec<Value> {
        let mut enc = SseEncoder::new(cfg);
        let mut s = enc.open();
        for e in events {
            s.push_str(&enc.event(e));
        }
        s.push_str(&enc.close());
        frames(&s)
    }

    #[test]
    fn chat_stream_shape() {
        let f = run(
            cfg(StreamKind::Chat, 1),
            &[
                delta(0, "Hel", 1),
                delta(0, "", 1),
                delta(0, "lo", 1),
                fin(0, FinishReason::Length, 3),
            ],
        );
        assert_eq!(f.len(), 5, "{f:#?}");
        assert_eq!(
            f[0],
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "logprobs": null, "finish_reason": null}]})
        );
        assert_eq!(f[1]["choices"][0]["delta"], json!({"content": "Hel"}));
        assert_eq!(f[2]["choices"][0]["delta"], json!({"content": "lo"}));
        assert_eq!(f[3]["choices"][0]["delta"], json!({}));
        assert_eq!(f[3]["choices"][0]["finish_reason"], "length");
        assert!(f[..3]
            .iter()
            .all(|c| c.get("usage").is_none() && c["id"] == "chatcmpl-1"));
        // The last content chunk carries the usage unasked (the hosted
        // API's contract).
        assert_eq!(f[3]["usage"]["completion_tokens"], 3);
        assert_eq!(
            f[3]["usage"]["total_tokens"],
            3 + f[3]["usage"]["prompt_tokens"].as_u64().unwrap()
        );
        assert_eq!(f[3]["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
        assert_eq!(f[4], "[DONE]");
    }

    #[test]
    fn include_usage_adds_null_then_final_chunk() {
        let mut c = cfg(StreamKind::Chat, 2);
        c.include_usage = true;
        let f = run(
            c,
            &[
                delta(1, "b", 2),
                delta(0, "a", 1),
                fin(0, FinishReason::Stop, 1),
                fin(1, FinishReason::Abort, 4),
            ],
        );
        // 2 role chunks, 2 deltas, 2 finishes, usage, DONE.
        assert_eq!(f.len(), 8, "{f:#?}");
        assert_eq!(f[0]["choices"][0]["index"], 0);
        assert_eq!(f[1]["choices"][0]["index"], 1);
        assert!(f[..6]
            .iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
        assert_eq!(
            f[5]["choices"][0]["finish_reason"], "stop",
            "abort reads as stop"
        );
        assert_eq!(f[6]["choices"], json!([]));
        assert_eq!(
            f[6]["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                   "prompt_tokens_details": {"cached_tokens": 0},
                   "completion_tokens_details": {"reasoning_tokens": 0}})
        );
        assert_eq!(f[7], "[DONE]");
    }

    #[test]
    fn continuous_usage_runs() {
        let mut c = cfg(StreamKind::Chat, 1);
        c.continuous_usage = true;
        let f = run(c, &[delta(0, "a", 2), fin(0, FinishReason::Stop, 2)]);
        assert_eq!(f[0]["usage"]["completion_tokens"], 0);
        assert_eq!(f[1]["usage"]["completion_tokens"], 2);
        assert_eq!(f[1]["usage"]["total_tokens"], 12);
        assert_eq!(f[2]["usage"]["completion_tokens"], 2);
        assert_eq!(f[3], "[DONE]");
    }

    #[test]
    fn logprobs_keep_empty_deltas() {
        let mut c = cfg(StreamKind::Chat, 1);
        c.logprobs = true;
        let lp = TokenLogprob {
            token: "\u{fffd}".into(),
            bytes: vec![0xe2],
            logprob: -0.1,
            top: vec![],
        };
        let f = run(
            c,
            &[
                StreamEvent::Delta {
                    choice: 0,
                    text: String::new(),
                    reasoning: String::new(),
                    tool_calls: vec![],
                    token_ids: vec![5],
                    logprobs: vec![lp],
                },
                fin(0, FinishReason::Stop, 1),
            ],
        );
        assert_eq!(f[1]["choices"][0]["delta"]["content"], "");
        assert_eq!(
            f[1]["choices"][0]["logprobs"]["content"][0]["bytes"],
            json!([0xe2])
        );
        assert!(f[0]["choices"][0]["logprobs"].is_null());
    }

    #[test]
    fn failure_mid_stream_is_an_error_frame_then_done() {
        let f = run(
            cfg(StreamKind::Chat, 1),
            &[
                delta(0, "a", 1),
                StreamEvent::Failed {
                    message: "executor died".into(),
                },
                delta(0, "ignored", 1),
            ],
        );
        assert_eq!(f.len(), 4, "{f:#?}");
        assert_eq!(f[2]["error"]["message"], "executor died");
        assert_eq!(f[2]["error"]["type"], "server_error");
        assert_eq!(f[3], "[DONE]");
    }

    #[test]
    fn a_queue_timeout_is_one_overloaded_error_frame_then_done() {
        let timed_out = StreamEvent::QueueTimedOut {
            waited: std::time::Duration::from_secs(2),
            retry_after: std::time::Duration::from_secs(1),
        };
        // Every choice of the request reports it; one frame (after the
        // two choices' opening chunks) says it.
        let f = run(cfg(StreamKind::Chat, 2), &[timed_out.clone(), timed_out]);
        assert_eq!(f.len(), 4, "{f:#?}");
        assert_eq!(f[1]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(f[2]["error"]["code"], "server_overloaded");
        assert_eq!(f[2]["error"]["type"], "server_error");
        let message = f[2]["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Overloaded: "), "{message}");
        assert!(message.contains("waited 2.0 s"), "{message}");
        assert_eq!(f[3], "[DONE]");
    }

    #[test]
    fn early_end_is_an_error() {
        let f = run(cfg(StreamKind::Chat, 1), &[delta(0, "a", 1)]);
        assert!(f[2]["error"]["message"].as_str().unwrap().contains("ended"));
        assert_eq!(f[3], "[DONE]");
    }

    #[test]
    fn completion_stream_with_echo_and_logprobs() {
        let mut c = cfg(StreamKind::Completion, 1);
        c.echo = Some("ab".into());
        c.logprobs = true;
        c.include_usage = true;
        let lp = |t: &str| TokenLogprob {
            token: t.into(),
            bytes: t.as_bytes().to_vec(),
            logprob: -1.0,
            top: vec![("z".into(), b"z".to_vec(), -2.0)],
        };
        let f = run(
            c,
            &[
                StreamEvent::Delta {
                    choice: 0,
                    text: "cd".into(),
                    reasoning: String::new(),
                    tool_calls: vec![],
                    token_ids: vec![1, 2],
                    logprobs: vec![lp("c"), lp("d")],
                },
                fin(0, FinishReason::Stop, 2),
            ],
        );
        assert_eq!(f[0]["object"], "text_completion");
        assert_eq!(f[0]["choices"][0]["text"], "ab");
        assert_eq!(f[1]["choices"][0]["text"], "cd");
        let l = &f[1]["choices"][0]["logprobs"];
        assert_eq!(l["tokens"], json!(["c", "d"]));
        assert_eq!(l["text_offset"], json!([2, 3]));
        assert_eq!(l["top_logprobs"][0], json!({"c": -1.0, "z": -2.0}));
        assert_eq!(f[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(f[2]["choices"][0]["text"], "");
        assert_eq!(f[3]["usage"]["completion_tokens"], 2);
        assert_eq!(f[4], "[DONE]");
    }

    #[tokio::test]
    async fn stream_ends_after_last_finish_and_drops_receiver() {
        let (tx, rx) = flume::unbounded();
        tx.send(delta(0, "x", 1)).unwrap();
        tx.send(fin(0, FinishReason::Stop, 1)).unwrap();
        let s = sse_stream(SseEncoder::new(cfg(StreamKind::Chat, 1)), rx, None);
        let chunks: Vec<_> = s.map(|b| b.unwrap()).collect().await;
        let text: String = chunks
            .iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect();
        assert!(text.ends_with(DONE_FRAME));
        // The stream ended without the sender closing, and let go of the receiver.
        assert!(tx.is_disconnected());
    }

    #[tokio::test]
    async fn a_bounded_channel_is_drained_in_batches_to_the_end() {
        // Producers wait on a full channel while the body is not polled;
        // each poll then takes what is queued in one write.
        let (tx, rx) = flume::bounded(MAX_BATCH);
        let producer = tokio::spawn(async move {
            for _ in 0..300 {
                tx.send_async(delta(0, "x", 1)).await.unwrap();
            }
            tx.send_async(fin(0, FinishReason::Length, 300))
                .await
                .unwrap();
        });
        let s = sse_stream(SseEncoder::new(cfg(StreamKind::Chat, 1)), rx, None);
        tokio::task::yield_now().await;
        let chunks: Vec<_> = s.map(|b| b.unwrap()).collect().await;
        producer.await.unwrap();
        let text: String = chunks
            .iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect();
        let f = frames(&text);
        let content: String = f
            .iter()
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "x".repeat(300));
        assert!(text.ends_with(DONE_FRAME));
        assert!(chunks.len() < 300, "{} writes for 300 events", chunks.len());
    }

    #[tokio::test]
    async fn dropping_the_stream_drops_the_receiver() {
        let (tx, rx) = flume::unbounded::<StreamEvent>();
        let mut s = Box::pin(sse_stream(
            SseEncoder::new(cfg(StreamKind::Chat, 1)),
            rx,
            None,
        ));
        let first = s.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"data: "));
        assert!(!tx.is_disconnected());
        drop(s);
        assert!(tx.is_disconnected());
    }
}
