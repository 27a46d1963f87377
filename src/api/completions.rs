//! `POST /v1/completions` (the legacy text completions API), streamed or whole.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::chat::collect;
use crate::api::error::ApiError;
use crate::api::openai::{
    finish_reason_str, Completion, CompletionChoice, CompletionLogprobs, Usage,
};
use crate::api::sse::{sse_response, StreamConfig, StreamKind};
use crate::api::{mark_clamped, response_id, unix_now, validate, JsonObject};
use crate::engine::request::Prompt;
use crate::runtime::handle::EngineHandle;

/// The completions handler.
pub async fn completions(
    State(engine): State<EngineHandle>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let valid = validate::completion_request(&body, engine.model_name())?;
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

    let gen = engine
        .generate(valid.generate)
        .await
        .map_err(|e| ApiError::from_engine(&e, "prompt"))?;
    let id = response_id("cmpl", gen.request_id);
    let created = unix_now();
    let clamped = gen.max_tokens_clamped;

    let resp = if opts.stream {
        sse_response(
            StreamConfig {
                kind: StreamKind::Completion,
                id,
                created,
                model: valid.model,
                n,
                prompt_tokens: gen.prompt_tokens,
                include_usage: opts.include_usage,
                continuous_usage: opts.continuous_usage,
                logprobs: opts.logprobs.is_some(),
                echo,
            },
            gen.events,
        )
    } else {
        let results = collect(gen.events, n).await?;
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
            model: &valid.model,
            choices,
            usage: Some(Some(
                Usage::new(gen.prompt_tokens, completion_tokens).with_cached(cached),
            )),
        })
        .into_response()
    };
    Ok(mark_clamped(resp, clamped))
}
