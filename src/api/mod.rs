//! The HTTP layer: an axum router serving OpenAI's chat and completions
//! APIs (plus vLLM's extensions), the model list, health, the tokenizer
//! endpoints and Prometheus metrics.
//!
//! Every handler reads its body into the typed request of its route
//! (`wire`), checks it with `validate` into the engine's
//! `GenerateRequest`, calls [`EngineHandle::generate`], and answers either
//! whole (JSON) or as SSE (`sse`). Every error, including unknown routes,
//! oversized and malformed bodies, goes through [`ApiError`]'s one mapping.

pub mod access;
pub mod access_log;
pub mod accounting;
pub mod admin;
pub mod chat;
pub mod completions;
pub mod error;
pub mod misc;
pub mod openai;
pub mod openapi;
pub mod responses;
pub mod sse;
pub mod state;
pub mod validate;
pub mod wire;
pub mod write_stall;

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value};
use tokio::net::TcpListener;

pub use error::ApiError;

use crate::runtime::handle::EngineHandle;
pub use state::AppState;

// Every choice of a request needs a sequence id of its own.
const _: () = assert!(validate::MAX_N as usize <= crate::engine::request::SeqId::MAX_CHOICES);

/// Largest request body accepted (larger ones get a 413 with an OpenAI body).
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Response header set when the client's `max_tokens` was lowered to fit.
pub const MAX_TOKENS_CLAMPED_HEADER: &str = "x-xerotier-max-tokens-clamped";

/// Build the router with every route, the body limit and JSON fallbacks.
/// The inference routes exist twice: under `/v1` (the model picked by
/// `model`) and under an endpoint's base URL `/{project}/{slug}/v1`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/responses", post(responses::create_response))
        .route(
            "/v1/responses/{response_id}",
            get(responses::retrieve_response).delete(responses::delete_response),
        )
        .route(
            "/v1/responses/{response_id}/input_items",
            get(responses::list_input_items),
        )
        .route(
            "/v1/responses/{response_id}/cancel",
            post(responses::cancel_response),
        )
        .route("/v1/models", get(misc::models))
        .route("/v1/models/{*model}", get(misc::model))
        .route(
            "/{project}/{slug}/v1/chat/completions",
            post(chat::chat_completions),
        )
        .route(
            "/{project}/{slug}/v1/completions",
            post(completions::completions),
        )
        .route(
            "/{project}/{slug}/v1/responses",
            post(responses::create_response),
        )
        .route(
            "/{project}/{slug}/v1/responses/{response_id}",
            get(responses::retrieve_response).delete(responses::delete_response),
        )
        .route(
            "/{project}/{slug}/v1/responses/{response_id}/input_items",
            get(responses::list_input_items),
        )
        .route(
            "/{project}/{slug}/v1/responses/{response_id}/cancel",
            post(responses::cancel_response),
        )
        .route("/{project}/{slug}/v1/models", get(misc::models))
        .route("/{project}/{slug}/v1/models/{*model}", get(misc::model))
        .route("/health", get(misc::health))
        .route("/tokenize", post(misc::tokenize))
        .route("/detokenize", post(misc::detokenize))
        .route("/metrics", get(misc::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(admin::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(access_log::log_request))
        .with_state(state)
}

/// Bind `addr` and serve until `shutdown` resolves (in-flight requests finish).
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_app(listener, state, shutdown).await
}

/// Serve one engine on an already bound listener, without tenancy (tests
/// bind `127.0.0.1:0`).
pub async fn serve_on(
    listener: TcpListener,
    engine: EngineHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, AppState::single(engine), shutdown).await
}

/// Serve `state` (several models, tenancy) on a bound listener.
pub async fn serve_app(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let names = state.models().names();
    tracing::info!(addr = ?listener.local_addr().ok(), models = %names, "serving");
    // Streamed tokens are small writes: without TCP_NODELAY, Nagle plus
    // delayed ACKs can hold each one back by tens of milliseconds.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    // A client that reads nothing for the stall timeout is disconnected,
    // which frees its connection's buffers and aborts its request.
    let stall = state
        .models()
        .all()
        .iter()
        .map(|e| e.inner.limits.stream_stall_timeout)
        .max()
        .unwrap_or(crate::runtime::ServingLimits::default().stream_stall_timeout);
    let listener = write_stall::StallGuardedListener::new(listener, stall);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::route_not_found(method.as_str(), uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// Extractor for a JSON-object body, whatever its content type. Its
/// rejections are [`ApiError`]s: 413 over [`BODY_LIMIT`], 400 otherwise.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(BODY_LIMIT)
            } else {
                ApiError::bad_body(format!(
                    "Could not read the request body: {}",
                    r.body_text()
                ))
            }
        })?;
        validate::parse_json_object(&bytes).map(JsonObject)
    }
}

/// `PREFIX-<32 hex>`: a per-process random half and the engine's request id.
pub(crate) fn response_id(prefix: &str, request_id: u64) -> String {
    static SALT: OnceLock<u64> = OnceLock::new();
    let salt = *SALT.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    });
    format!("{prefix}-{salt:016x}{request_id:016x}")
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Add the `max_tokens`-clamped header when it applies.
pub(crate) fn mark_clamped(mut resp: Response, clamped: bool) -> Response {
    if clamped {
        resp.headers_mut()
            .insert(MAX_TOKENS_CLAMPED_HEADER, HeaderValue::from_static("true"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_ids_are_distinct_and_prefixed() {
        let a = response_id("chatcmpl", 1);
        let b = response_id("chatcmpl", 2);
        assert!(a.starts_with("chatcmpl-"));
        assert_eq!(a.len(), "chatcmpl-".len() + 32);
        assert_ne!(a, b);
    }
}
