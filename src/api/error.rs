//! `ApiError`: every failure the HTTP layer reports, and the one mapping from
//! it to an HTTP status plus OpenAI's error body
//! (`{"error": {"message", "type", "param", "code"}}`), or to an SSE frame
//! when the failure happens mid-stream.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::runtime::handle::{retry_secs, EngineError};

/// An error answered to the client, already classified.
///
/// Build it with the constructors below; they pick OpenAI's `type` and
/// `code` so the body is what the SDKs expect.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status of the reply.
    pub status: StatusCode,
    /// Human-readable message; for a bad field it names the field and the limit.
    pub message: String,
    /// OpenAI's error `type` (`invalid_request_error`, `server_error`, ...).
    pub kind: &'static str,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// OpenAI's machine-readable `code` (`model_not_found`, ...).
    pub code: Option<&'static str>,
    /// How long the client should wait before retrying: sent as
    /// `retry-after` (whole seconds, rounded up) and `retry-after-ms`,
    /// which the OpenAI SDKs read first.
    pub retry_after: Option<Duration>,
}

/// The JSON body of an error reply: `{"error": {...}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// The error object.
    pub error: ErrorObject<'a>,
}

/// The object inside [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorObject<'a> {
    /// Human-readable message.
    pub message: &'a str,
    /// OpenAI's error type.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The field at fault, or null.
    pub param: Option<&'a str>,
    /// Machine-readable code, or null.
    pub code: Option<&'a str>,
}

/// How long a client is asked to wait after a 503 from an engine that is
/// not running.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The `code` of a refusal by admission control (queue full or queue
/// timeout). OpenAI documents none for its own "overloaded" 503s; the
/// SDKs retry on the status, and OpenCode reads the message.
pub const OVERLOADED_CODE: &str = "server_overloaded";

/// The header the OpenAI SDKs read before `retry-after`: milliseconds.
const RETRY_AFTER_MS: &str = "retry-after-ms";

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// Attach the request field at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// The same error with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Attach OpenAI's machine-readable code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 400 for a bad value in field `param`; `message` should name the field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).with_param(param)
    }

    /// 400 for a body that is not usable JSON at all (no single field at fault).
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 for a feature weir does not support (yet), naming the field.
    pub fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(param, message).with_code("unsupported_parameter")
    }

    /// 404 for a `model` that is not the served one (OpenAI's wording and code).
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist."),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    /// 429 `rate_limit_exceeded` with OpenAI's type (`requests` or
    /// `tokens`, the limit hit), with the wait as `retry-after` when one
    /// can pass later.
    pub fn rate_limited(
        kind: &'static str,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, kind, message)
            .with_code("rate_limit_exceeded");
        e.retry_after = retry_after;
        e
    }

    /// 401 `invalid_api_key` (OpenAI's type and code for every key problem,
    /// a missing scope included).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
            .with_code("invalid_api_key")
    }

    /// 404 for a base URL that reaches no project or endpoint.
    pub fn base_url_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message).with_code("not_found")
    }

    /// 404 for a thing the route names that does not exist (or that the
    /// caller may not see: the same answer).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    /// 404 for a path no route serves (OpenAI's wording).
    pub fn route_not_found(method: &str, path: &str) -> Self {
        // A base URL that misses its `/v1` is the usual mistake: say so.
        let hint = if path.starts_with("/v1/") {
            ""
        } else {
            ". The base URL must end with /v1: http(s)://HOST/v1, or an endpoint's http(s)://HOST/{project_id}/{endpoint_slug}/v1"
        };
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Invalid URL ({method} {path}){hint}"),
        )
    }

    /// 405 for a known path asked with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("Method {method} is not allowed for {path}"),
        )
    }

    /// 413 for a body over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("The request body is larger than the limit of {limit} bytes."),
        )
        .with_code("request_too_large")
    }

    /// 500: the server failed (never a client's mistake).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// 503 with `retry-after`: the engine cannot take the request now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
            .with_code("service_unavailable");
        e.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
        e
    }

    /// 503 with `retry-after`: admission control refused the request (the
    /// waiting room is full, or it waited past the queue timeout).
    /// `message` says "Overloaded".
    pub fn overloaded(message: impl Into<String>, retry_after: Duration) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
            .with_code(OVERLOADED_CODE);
        e.retry_after = Some(retry_after);
        e
    }

    /// The request waited past the queue timeout (a 503 before a reply
    /// started; the same body in an SSE error frame after).
    pub fn queue_timeout(waited: Duration, retry_after: Duration) -> Self {
        Self::from_engine(
            &EngineError::QueueTimeout {
                waited,
                retry_after,
            },
            "",
        )
    }

    /// Map an engine refusal. `prompt_field` is the request field that held
    /// the prompt (`messages` or `prompt`), named as `param` for prompt errors.
    pub fn from_engine(err: &EngineError, prompt_field: &str) -> Self {
        if let Some(retry_after) = err.retry_after() {
            return Self::overloaded(err.to_string(), retry_after);
        }
        if !err.is_client_error() {
            return Self::unavailable(err.to_string());
        }
        if let EngineError::Constraint { param, message } = err {
            return Self::invalid(param.as_str(), message.as_str());
        }
        if let EngineError::Refused(message) = err {
            return Self::rate_limited("requests", message.clone(), None);
        }
        if let EngineError::TooManyTokens { .. } = err {
            return Self::invalid("n", err.to_string());
        }
        if let EngineError::Conversation(e) = err {
            return Self::invalid(e.path(), e.to_string());
        }
        let e = Self::invalid(prompt_field, err.to_string());
        match err {
            EngineError::PromptTooLong { .. } => e.with_code("context_length_exceeded"),
            _ => e,
        }
    }

    /// The OpenAI error body as a JSON value.
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(ErrorBody {
            error: ErrorObject {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        })
        .unwrap_or(serde_json::Value::Null)
    }

    /// The error as one SSE frame (`data: {"error": ...}\n\n`), for failures
    /// after a stream has started.
    pub fn sse_frame(&self) -> String {
        format!("data: {}\n\n", self.body())
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        Self::from_engine(&err, "messages")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code == Some(OVERLOADED_CODE) {
            // Counted in `weir:requests_rejected_total`; a burst must not
            // flood the log.
            tracing::debug!(status = %self.status, message = %self.message, "request refused");
        } else if self.status.is_server_error() {
            tracing::error!(status = %self.status, message = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, message = %self.message, param = ?self.param, "request refused");
        }
        let mut resp = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body().to_string(),
        )
            .into_response();
        if let Some(wait) = self.retry_after {
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(wait)));
            // Rounded up too, so the two headers never disagree.
            let ms = wait.as_nanos().div_ceil(1_000_000);
            h.insert(
                RETRY_AFTER_MS,
                HeaderValue::from(u64::try_from(ms).unwrap_or(u64::MAX)),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_all_four_fields() {
        let e = ApiError::invalid("temperature", "temperature must be between 0 and 2, got 3");
        let b = e.body();
        assert_eq!(
            b,
            serde_json::json!({"error": {
                "message": "temperature must be between 0 and 2, got 3",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": null,
            }})
        );
    }

    #[test]
    fn model_not_found_is_openai_shaped() {
        let e = ApiError::model_not_found("gpt-x");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let b = e.body();
        assert_eq!(b["error"]["code"], "model_not_found");
        assert_eq!(b["error"]["param"], "model");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert_eq!(b["error"]["message"], "The model `gpt-x` does not exist.");
    }

    #[test]
    fn engine_errors_map_by_kind() {
        let e = ApiError::from_engine(
            &EngineError::PromptTooLong {
                prompt_tokens: 5000,
                max_model_len: 4096,
            },
            "prompt",
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.param.as_deref(), Some("prompt"));
        assert_eq!(e.code, Some("context_length_exceeded"));
        assert!(e.message.contains("4096") && e.message.contains("5000"));

        let e = ApiError::from_engine(&EngineError::Unavailable("stopping".into()), "messages");
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after, Some(UNAVAILABLE_RETRY_AFTER));
        let resp = e.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert_eq!(resp.headers()[RETRY_AFTER_MS], "1000");
    }

    #[tokio::test]
    async fn a_full_queue_is_a_503_that_says_overloaded_and_when_to_retry() {
        let e = ApiError::from_engine(
            &EngineError::Overloaded {
                waiting: 64,
                retry_after: Duration::from_millis(2300),
            },
            "messages",
        );
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        let b = e.body();
        assert_eq!(b["error"]["type"], "server_error");
        assert_eq!(b["error"]["code"], OVERLOADED_CODE);
        assert_eq!(b["error"]["param"], serde_json::Value::Null);
        let message = b["error"]["message"].as_str().unwrap();
        // OpenCode shows "Provider is overloaded" for a message containing
        // "Overloaded" (case-sensitive).
        assert!(message.starts_with("Overloaded: 64 requests"), "{message}");
        assert!(message.contains("retry after 3 s"), "{message}");
        let resp = e.into_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "3");
        assert_eq!(resp.headers()[RETRY_AFTER_MS], "2300");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json, b);
        let resp =
            ApiError::overloaded("Overloaded", Duration::from_nanos(5_000_000_001)).into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "6");
        assert_eq!(resp.headers()[RETRY_AFTER_MS], "5001", "both round up");
    }

    #[test]
    fn a_queue_timeout_says_overloaded_and_how_long_it_waited() {
        let e = ApiError::queue_timeout(Duration::from_millis(30_040), Duration::from_secs(4));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code, Some(OVERLOADED_CODE));
        assert_eq!(e.retry_after, Some(Duration::from_secs(4)));
        assert!(e.message.starts_with("Overloaded: "), "{}", e.message);
        assert!(e.message.contains("waited 30.0 s"), "{}", e.message);
        assert!(e.message.contains("retry after 4 s"), "{}", e.message);
        let frame = e.sse_frame();
        assert!(frame.contains("\"code\":\"server_overloaded\""), "{frame}");
    }

    #[test]
    fn sse_frame_is_one_data_line() {
        let f = ApiError::internal("boom").sse_frame();
        assert!(f.starts_with("data: {\"error\":{"));
        assert!(f.ends_with("}}\n\n"));
        assert_eq!(f.matches('\n').count(), 2);
    }
}
