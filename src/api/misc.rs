//! The small endpoints: `/v1/models`, `/health`, vLLM's `/tokenize` and
//! `/detokenize`, and Prometheus `/metrics`.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::api::access::Caller;
use crate::api::error::ApiError;
use crate::api::openai::{DetokenizeResponse, ModelCard, ModelList, TokenizeResponse};
use crate::api::state::AppState;
use crate::api::{unix_now, validate, JsonObject};
use crate::runtime::handle::EngineHandle;

/// When this process started serving (the models' `created`).
fn started() -> i64 {
    static STARTED: OnceLock<i64> = OnceLock::new();
    *STARTED.get_or_init(unix_now)
}

fn card(engine: &EngineHandle) -> ModelCard {
    ModelCard {
        id: engine.model_name().to_string(),
        object: "model",
        created: started(),
        owned_by: "weir",
        root: engine.model_name().to_string(),
        parent: None,
        max_model_len: engine.max_model_len(),
    }
}

/// The engines a caller may see: its endpoint's one model, or every
/// served model on `/v1`.
fn visible(state: &AppState, caller: &Caller) -> Vec<EngineHandle> {
    match &caller.endpoint {
        Some(ep) => state.models().get(&ep.model).cloned().into_iter().collect(),
        None => state.models().all().to_vec(),
    }
}

/// `GET /v1/models`: the served models (on an endpoint route, only its own).
pub async fn models(State(state): State<AppState>, caller: Caller) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: visible(&state, &caller).iter().map(card).collect(),
    })
}

/// `GET /v1/models/{model}`: the model's card, or 404 `model_not_found`.
pub async fn model(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Path<std::collections::HashMap<String, String>>,
) -> Result<Json<ModelCard>, ApiError> {
    let name = params.get("model").map(String::as_str).unwrap_or_default();
    visible(&state, &caller)
        .iter()
        .find(|e| e.model_name() == name)
        .map(|e| Json(card(e)))
        .ok_or_else(|| ApiError::model_not_found(name))
}

/// `GET /health`: 200 with an empty body while every engine serves; 503
/// with an OpenAI error body once one's scheduler has stopped (load
/// balancers take the instance out).
pub async fn health(State(state): State<AppState>) -> Response {
    match state.models().all().iter().find(|e| !e.is_serving()) {
        None => StatusCode::OK.into_response(),
        Some(e) => {
            ApiError::unavailable(format!("the engine of `{}` is not running", e.model_name()))
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text exposition, every model's series (each
/// labelled with its `model_name`) under one HELP/TYPE per family, and the
/// per-project counters. Once auth is on it needs an `admin` key (the
/// counters show every project's usage).
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let directory = &state.tenancy().directory;
    let view = directory.view();
    let auth = headers.get(header::AUTHORIZATION).map(|h| h.as_bytes());
    if let Err(e) = directory.authenticate(&view, auth, crate::tenancy::Scope::Admin, unix_now()) {
        return ApiError::unauthorized(e.to_string()).into_response();
    }
    let mut rendered: Vec<String> = state
        .models()
        .all()
        .iter()
        .map(|e| e.metrics().render())
        .collect();
    rendered.push(state.tenancy().metrics.render());
    rendered.push(state.stored_responses().render());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        crate::metrics::merge_expositions(&rendered),
    )
        .into_response()
}

/// `POST /tokenize`: `{model?, prompt, add_special_tokens?}` or
/// `{model?, messages, tools?, add_generation_prompt?, chat_template_kwargs?}`
/// -> `{count, max_model_len, tokens, prompt}`, where `prompt` is the text
/// that was tokenized (the rendered chat for `messages`).
pub async fn tokenize(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Json<TokenizeResponse>, ApiError> {
    let engine = caller.target(&state, &body)?.engine;
    let add_special = match body.get("add_special_tokens") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::invalid(
                "add_special_tokens",
                "add_special_tokens must be a boolean",
            ))
        }
    };
    let chat = if body.contains_key("messages") {
        Some(validate::chat_input(&body)?)
    } else {
        None
    };
    let prompt = match (&chat, body.get("prompt")) {
        (Some(_), _) => None,
        (None, Some(Value::String(s))) => Some(s.clone()),
        (None, None) | (None, Some(Value::Null)) => {
            return Err(ApiError::invalid(
                "prompt",
                "prompt (a string) or messages is required",
            ))
        }
        (None, Some(_)) => return Err(ApiError::invalid("prompt", "prompt must be a string")),
    };

    // Rendering and tokenizing are CPU work: keep them off the async workers.
    let eng = engine.clone();
    let (text, tokens) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let (text, add_special, field) = match chat {
            Some(c) => {
                let text = eng
                    .render_chat(
                        &c.messages,
                        c.tools.as_ref(),
                        c.add_generation_prompt,
                        &c.template_kwargs,
                    )
                    .map_err(|e| ApiError::from_engine(&e, "messages"))?;
                // The template already wrote the special tokens it wants.
                (text, add_special.unwrap_or(false), "messages")
            }
            None => (
                prompt.unwrap_or_default(),
                add_special.unwrap_or(true),
                "prompt",
            ),
        };
        let tokens = eng
            .tokenizer()
            .encode(&text, add_special)
            .map_err(|e| ApiError::invalid(field, format!("tokenization failed: {e}")))?;
        Ok((text, tokens))
    })
    .await
    .map_err(|e| ApiError::internal(format!("the tokenizer task failed: {e}")))??;

    Ok(Json(TokenizeResponse {
        count: tokens.len(),
        max_model_len: engine.max_model_len(),
        tokens,
        prompt: text,
    }))
}

/// `POST /detokenize`: `{model?, tokens}` -> `{prompt}`.
pub async fn detokenize(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Json<DetokenizeResponse>, ApiError> {
    let engine = caller.target(&state, &body)?.engine;
    let tokens = validate::tokens_field(&body)?;
    let vocab = engine.tokenizer().vocab_size();
    if let Some((i, id)) = tokens
        .iter()
        .enumerate()
        .find(|(_, &id)| id as usize >= vocab)
    {
        return Err(ApiError::invalid(
            format!("tokens[{i}]"),
            format!("tokens[{i}] = {id} is out of range: the vocabulary has {vocab} tokens"),
        ));
    }
    let tok = engine.tokenizer().clone();
    let prompt =
        tokio::task::spawn_blocking(move || tok.decode(&tokens, false).map_err(|e| e.to_string()))
            .await
            .map_err(|e| ApiError::internal(format!("the tokenizer task failed: {e}")))?
            .map_err(|e| ApiError::invalid("tokens", format!("detokenization failed: {e}")))?;
    Ok(Json(DetokenizeResponse { prompt }))
}
