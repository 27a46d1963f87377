//! `POST /v1/responses`: the Responses API over the same engine, streamed
//! as its typed events or whole.
//!
//! The body is read into the equivalent chat-completions body
//! ([`request`]), validated and run like chat, and the result shaped as a
//! response object ([`object`]) or streamed as Responses events
//! ([`stream`]). Nothing is stored yet: responses say `store: false`, and
//! `previous_response_id` / `item_reference` are refused clearly
//! (docs/responses.md).

pub mod object;
pub mod request;
pub mod stream;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::access::Caller;
use crate::api::accounting::{start, with_limit_headers, Started};
use crate::api::chat::collect_into;
use crate::api::error::ApiError;
use crate::api::sse::encoded_sse_response;
use crate::api::state::AppState;
use crate::api::validate;
use crate::api::{mark_clamped, unix_now, JsonObject};
use crate::engine::request::FinishReason;
use object::{output_items, ItemIds, ResponseObject, ResponseUsage};
use stream::ResponsesEncoder;

/// The create-response handler (`/v1/responses` and endpoint routes).
pub async fn create_response(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let target = caller.target(&state, &body)?;
    let req = request::read(&body)?;
    if let Some(previous) = req.echo.previous_response_id.as_str() {
        return Err(previous_response_not_found(previous));
    }
    let valid = validate::chat_request(&req.chat, &target.accepted).map_err(in_responses_words)?;
    let started = match start(
        &state,
        &caller,
        &target.engine,
        valid.generate,
        "input",
        "resp",
        in_responses_words,
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
    // OpenAI's ids are `resp_...`.
    let id = id.replacen('-', "_", 1);
    let created = unix_now();
    let clamped = gen.max_tokens_clamped;
    let response = ResponseObject::in_progress(id, created, model, &req.echo);

    let resp = if req.stream {
        encoded_sse_response(
            ResponsesEncoder::new(response, gen.prompt_tokens),
            gen.events,
            Some(ledger),
        )
    } else {
        let results = collect_into(gen.events, 1, ledger, gen.prompt_tokens).await?;
        let r = results.into_iter().next().unwrap_or_default();
        let reason = r.finish_reason.unwrap_or(FinishReason::Stop);
        let status = if reason == FinishReason::Length {
            "incomplete"
        } else {
            "completed"
        };
        let mut response = response;
        let mut ids = ItemIds::new(&response.id);
        response.output = output_items(&r, &mut ids, status);
        let usage = ResponseUsage::new(
            gen.prompt_tokens,
            r.cached_tokens,
            r.completion_tokens,
            r.reasoning_tokens,
        );
        response.finish(reason, usage, unix_now());
        Json(response).into_response()
    };
    Ok(with_limit_headers(
        mark_clamped(resp, clamped),
        gate.as_ref(),
    ))
}

/// OpenAI's answer to a `previous_response_id` it does not hold (the same
/// whether it never existed or belongs to another project).
fn previous_response_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::invalid(
        "previous_response_id",
        format!(
            "Previous response with id '{shown}' not found. (This server does not store responses yet: send the whole conversation as input.)"
        ),
    )
    .with_code("previous_response_not_found")
}

/// A chat validation error in the Responses API's words.
fn in_responses_words(mut e: ApiError) -> ApiError {
    if let Some(param) = e.param.take() {
        let renamed = request::chat_param_to_responses(&param);
        e.message = e.message.replace(&param, &renamed);
        e.param = Some(renamed);
    }
    e
}
