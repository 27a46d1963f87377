//! The small endpoints: `/v1/models`, `/health`, vLLM's `/tokenize` and
//! `/detokenize`, and Prometheus `/metrics`.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::openai::{DetokenizeResponse, ModelCard, ModelList, TokenizeResponse};
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

/// `GET /v1/models`: the one served model.
pub async fn models(State(engine): State<EngineHandle>) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: vec![card(&engine)],
    })
}

/// `GET /v1/models/{model}`: the model's card, or 404 `model_not_found`.
pub async fn model(
    State(engine): State<EngineHandle>,
    Path(name): Path<String>,
) -> Result<Json<ModelCard>, ApiError> {
    if name == engine.model_name() {
        Ok(Json(card(&engine)))
    } else {
        Err(ApiError::model_not_found(&name))
    }
}

/// `GET /health`: 200 with an empty body while the engine serves; 503 with
/// an OpenAI error body once its scheduler has stopped (load balancers take
/// the instance out).
pub async fn health(State(engine): State<EngineHandle>) -> Response {
    if engine.is_serving() {
        StatusCode::OK.into_response()
    } else {
        ApiError::unavailable("the engine is not running").into_response()
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(engine): State<EngineHandle>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        engine.metrics().render(),
    )
        .into_response()
}

/// `POST /tokenize`: `{model?, prompt, add_special_tokens?}` or
/// `{model?, messages, tools?, add_generation_prompt?, chat_template_kwargs?}`
/// -> `{count, max_model_len, tokens, prompt}`, where `prompt` is the text
/// that was tokenized (the rendered chat for `messages`).
pub async fn tokenize(
    State(engine): State<EngineHandle>,
    JsonObject(body): JsonObject,
) -> Result<Json<TokenizeResponse>, ApiError> {
    validate::check_optional_model(&body, engine.model_name())?;
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
    State(engine): State<EngineHandle>,
    JsonObject(body): JsonObject,
) -> Result<Json<DetokenizeResponse>, ApiError> {
    validate::check_optional_model(&body, engine.model_name())?;
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
