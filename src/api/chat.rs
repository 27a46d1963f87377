//! `POST /v1/chat/completions`, streamed (SSE) or whole. Also home of
//! [`collect`], which gathers a whole generation for non-streamed replies.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::access::Caller;
use crate::api::accounting::{start, with_limit_headers, Consumed, Ledger, Started};
use crate::api::error::ApiError;
use crate::api::openai::{
    finish_reason_str, ChatChoice, ChatCompletion, ChatLogprobs, ChatMessage, Usage, WireToolCall,
};
use crate::api::sse::{sse_response, StreamConfig, StreamKind};
use crate::api::state::AppState;
use crate::api::validate;
use crate::api::{mark_clamped, unix_now, JsonObject};
use crate::engine::request::{FinishReason, StreamEvent, TokenLogprob, ToolCall};
use crate::tenancy::model::UsageStatus;

/// One finished choice of a non-streamed generation.
#[derive(Clone, Debug, Default)]
pub struct ChoiceResult {
    /// The whole answer text.
    pub text: String,
    /// The whole reasoning text (empty without a reasoning parser).
    pub reasoning: String,
    /// Tool calls parsed from the output.
    pub tool_calls: Vec<ToolCall>,
    /// Per-token logprobs (empty unless requested).
    pub logprobs: Vec<TokenLogprob>,
    /// The generated token ids.
    pub token_ids: Vec<u32>,
    /// Why it ended (`None` until it did).
    pub finish_reason: Option<FinishReason>,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// The stop string that ended it, if any.
    pub matched_stop: Option<String>,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: usize,
    /// Generated tokens that were reasoning.
    pub reasoning_tokens: usize,
}

/// Read events until all `n` choices have finished. A `Failed` event or a
/// channel closed early is a 500 (a server fault, never the client's); a
/// request dropped after waiting past the queue timeout is a 503.
pub async fn collect(
    events: flume::Receiver<StreamEvent>,
    n: usize,
) -> Result<Vec<ChoiceResult>, ApiError> {
    let mut results = vec![ChoiceResult::default(); n];
    let mut remaining = n;
    while remaining > 0 {
        let ev = events
            .recv_async()
            .await
            .map_err(|_| ApiError::internal("the engine ended the request before it finished"))?;
        match ev {
            StreamEvent::Delta {
                choice,
                text,
                reasoning,
                tool_calls,
                logprobs,
                token_ids,
            } => match results.get_mut(choice) {
                Some(r) if r.finish_reason.is_none() => {
                    r.text.push_str(&text);
                    r.reasoning.push_str(&reasoning);
                    for c in tool_calls {
                        ToolCall::absorb(&mut r.tool_calls, c);
                    }
                    r.logprobs.extend(logprobs);
                    r.token_ids.extend(token_ids);
                }
                _ => tracing::warn!(choice, n, "delta for a choice out of range or finished"),
            },
            StreamEvent::Finished {
                choice,
                reason,
                completion_tokens,
                matched_stop,
                cached_tokens,
                reasoning_tokens,
            } => match results.get_mut(choice) {
                Some(r) if r.finish_reason.is_none() => {
                    r.finish_reason = Some(reason);
                    r.completion_tokens = completion_tokens;
                    r.matched_stop = matched_stop;
                    r.cached_tokens = cached_tokens;
                    r.reasoning_tokens = reasoning_tokens;
                    remaining -= 1;
                }
                _ => tracing::warn!(choice, n, "unexpected finish event"),
            },
            StreamEvent::Failed { message } => return Err(ApiError::internal(message)),
            StreamEvent::QueueTimedOut {
                waited,
                retry_after,
            } => return Err(ApiError::queue_timeout(waited, retry_after)),
        }
    }
    Ok(results)
}

/// The chat completions handler (`/v1/...` and endpoint routes).
pub async fn chat_completions(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let target = caller.target(&state, &body)?;
    let valid = validate::chat_request(&body, &target.accepted)?;
    let n = valid.generate.n;
    let opts = valid.options;
    let started = match start(
        &state,
        &caller,
        &target.engine,
        valid.generate,
        "messages",
        "chatcmpl",
        std::convert::identity,
    )
    .await
    {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let Started {
        generation: gen,
        id,
        model,
        ledger,
        gate,
    } = started;
    let created = unix_now();
    let clamped = gen.max_tokens_clamped;

    let resp = if opts.stream {
        sse_response(
            StreamConfig {
                kind: StreamKind::Chat,
                id,
                created,
                model,
                n,
                prompt_tokens: gen.prompt_tokens,
                include_usage: opts.include_usage,
                continuous_usage: opts.continuous_usage,
                logprobs: opts.logprobs.is_some(),
                echo: None,
            },
            gen.events,
            Some(ledger),
        )
    } else {
        let results = collect_into(gen.events, n, ledger, gen.prompt_tokens).await?;
        let completion_tokens = results.iter().map(|r| r.completion_tokens).sum();
        let cached = results.iter().map(|r| r.cached_tokens).max().unwrap_or(0);
        let reasoning_tokens = results.iter().map(|r| r.reasoning_tokens).sum();
        let choices = results
            .into_iter()
            .enumerate()
            .map(|(index, r)| ChatChoice {
                index,
                message: ChatMessage {
                    role: "assistant",
                    // OpenAI: null content for a turn that is only tool calls.
                    content: (!r.text.is_empty() || r.tool_calls.is_empty()).then_some(r.text),
                    reasoning_content: (!r.reasoning.is_empty()).then_some(r.reasoning),
                    tool_calls: (!r.tool_calls.is_empty())
                        .then(|| r.tool_calls.iter().map(WireToolCall::from_engine).collect()),
                },
                logprobs: opts
                    .logprobs
                    .map(|_| ChatLogprobs::from_engine(&r.logprobs)),
                finish_reason: finish_reason_str(r.finish_reason.unwrap_or(FinishReason::Stop)),
                stop_reason: r.matched_stop,
            })
            .collect();
        Json(ChatCompletion {
            id,
            object: "chat.completion",
            created,
            model,
            choices,
            usage: Usage::new(gen.prompt_tokens, completion_tokens)
                .with_cached(cached)
                .with_reasoning(reasoning_tokens),
        })
        .into_response()
    };
    Ok(with_limit_headers(
        mark_clamped(resp, clamped),
        gate.as_ref(),
    ))
}

/// [`collect`], then the usage record committed (completed, or failed
/// with what was produced) before the reply goes out.
pub async fn collect_into(
    events: flume::Receiver<StreamEvent>,
    n: usize,
    ledger: Ledger,
    prompt_tokens: usize,
) -> Result<Vec<ChoiceResult>, ApiError> {
    let results = collect(events, n).await;
    let (status, consumed) = match &results {
        Ok(r) => (
            if r.iter()
                .any(|c| c.finish_reason == Some(FinishReason::Abort))
            {
                UsageStatus::Cancelled
            } else {
                UsageStatus::Completed
            },
            Consumed {
                prompt_tokens,
                cached_tokens: r.iter().map(|c| c.cached_tokens).max().unwrap_or(0),
                completion_tokens: r.iter().map(|c| c.completion_tokens).sum(),
                reasoning_tokens: r.iter().map(|c| c.reasoning_tokens).sum(),
            },
        ),
        Err(_) => (
            UsageStatus::Failed,
            Consumed {
                prompt_tokens,
                ..Consumed::default()
            },
        ),
    };
    ledger.finish(status, consumed).await;
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fin(choice: usize, tokens: usize) -> StreamEvent {
        StreamEvent::Finished {
            choice,
            reason: FinishReason::Stop,
            completion_tokens: tokens,
            matched_stop: Some("END".into()),
            cached_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    fn delta(choice: usize, text: &str) -> StreamEvent {
        StreamEvent::Delta {
            choice,
            text: text.into(),
            reasoning: String::new(),
            tool_calls: vec![],
            token_ids: vec![1],
            logprobs: vec![],
        }
    }

    #[tokio::test]
    async fn collect_interleaved_choices() {
        let (tx, rx) = flume::unbounded();
        for e in [
            delta(1, "x"),
            delta(0, "a"),
            delta(0, "b"),
            fin(1, 1),
            fin(0, 2),
        ] {
            tx.send(e).unwrap();
        }
        let r = collect(rx, 2).await.unwrap();
        assert_eq!(r[0].text, "ab");
        assert_eq!(r[0].completion_tokens, 2);
        assert_eq!(r[1].text, "x");
        assert_eq!(r[1].matched_stop.as_deref(), Some("END"));
        drop(tx);
    }

    #[tokio::test]
    async fn collect_reads_a_bounded_channel_to_the_end() {
        // A one-event channel: the producer can only go on as collect reads.
        let (tx, rx) = flume::bounded(1);
        let producer = tokio::spawn(async move {
            for _ in 0..500 {
                tx.send_async(delta(0, "a")).await.unwrap();
            }
            tx.send_async(fin(0, 500)).await.unwrap();
        });
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), collect(rx, 1))
            .await
            .expect("collect never stops reading")
            .unwrap();
        producer.await.unwrap();
        assert_eq!(r[0].text, "a".repeat(500));
        assert_eq!(r[0].completion_tokens, 500);
    }

    #[tokio::test]
    async fn collect_failure_and_early_end_are_500() {
        let (tx, rx) = flume::unbounded();
        tx.send(StreamEvent::Failed {
            message: "oom".into(),
        })
        .unwrap();
        let e = collect(rx, 1).await.unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message, "oom");

        let (tx, rx) = flume::unbounded();
        tx.send(delta(0, "a")).unwrap();
        drop(tx);
        let e = collect(rx, 1).await.unwrap_err();
        assert!(e.message.contains("before it finished"));
    }

    #[tokio::test]
    async fn collect_queue_timeout_is_503_with_retry_after() {
        let (tx, rx) = flume::unbounded();
        tx.send(StreamEvent::QueueTimedOut {
            waited: std::time::Duration::from_secs(3),
            retry_after: std::time::Duration::from_secs(2),
        })
        .unwrap();
        let e = collect(rx, 2).await.unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(2)));
        assert!(e.message.starts_with("Overloaded: "), "{}", e.message);
    }
}
