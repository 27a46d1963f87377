//! `POST /v1/completions` (the legacy text completions API), streamed or whole.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::access::Caller;
use crate::api::accounting::{start, with_limit_headers, Started};
use crate::api::chat::collect_into;
use crate::api::error::ApiError;
use crate::api::openai::{
    finish_reason_str, Completion, CompletionChoice, CompletionLogprobs, Usage,
};
use crate::api::sse::{sse_response, StreamConfig, StreamKind};
use crate::api::state::AppState;
use crate::api::{mark_clamped, unix_now, validate, JsonObject};
use crate::engine::request::Prompt;

/// The completions handler.
pub async fn completions(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let target = caller.target(&state, &body)?;
    let engine = &target.engine;
    let valid = validate::completion_request(&body, &target.accepted)?;
    let n = valid.generate.n;
    let opts = valid.options;

    // The text to echo: the prompt as given, or its token ids decoded.
    let echo = if opts.echo {
        Some(match &valid.generate.prompt {
            Prompt::Text(s) => s.clone(),
            Prompt::Tokens(ids) => engine
                .tokenizer()
                .decode(ids, valid.generate.skip_special_tokens)
                .map_err(|e| {
                    ApiError::invalid("prompt", format!("could not decode the prompt: {e}"))
                })?,
            Prompt::Chat { .. } => String::new(),
        })
    } else {
        None
    };

    let started = match start(
        &state,
        &caller,
        engine,
        valid.generate,
        "prompt",
        "cmpl",
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
                kind: StreamKind::Completion,
                id,
                created,
                model,
                n,
                prompt_tokens: gen.prompt_tokens,
                include_usage: opts.include_usage,
                continuous_usage: opts.continuous_usage,
                logprobs: opts.logprobs.is_some(),
                echo,
            },
            gen.events,
            Some(ledger),
        )
    } else {
        let results = collect_into(gen.events, n, ledger, gen.prompt_tokens).await?;
        let completion_tokens = results.iter().map(|r| r.completion_tokens).sum();
        let cached = results.iter().map(|r| r.cached_tokens).max().unwrap_or(0);
        let prefix = echo.unwrap_or_default();
        let choices = results
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                let logprobs = opts.logprobs.map(|_| {
                    let mut l = CompletionLogprobs::default();
                    let mut offset = prefix.chars().count();
                    l.extend_from_engine(&r.logprobs, &mut offset);
                    l
                });
                CompletionChoice {
                    index,
                    text: format!("{prefix}{}", r.text),
                    logprobs,
                    finish_reason: Some(finish_reason_str(
                        r.finish_reason
                            .unwrap_or(crate::engine::request::FinishReason::Stop),
                    )),
                    stop_reason: r.matched_stop,
                    token_ids: opts.return_token_ids.then_some(r.token_ids),
                }
            })
            .collect();
        Json(Completion {
            id: &id,
            object: "text_completion",
            created,
            model: &model,
            choices,
            usage: Some(Some(
                Usage::new(gen.prompt_tokens, completion_tokens).with_cached(cached),
            )),
        })
        .into_response()
    };
    Ok(with_limit_headers(
        mark_clamped(resp, clamped),
        gate.as_ref(),
    ))
}
