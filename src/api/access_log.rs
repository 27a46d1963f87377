//! The access log: one `debug` line per request (method, path, status,
//! milliseconds to the response head), under the `weir::api::access_log`
//! target, so `RUST_LOG=info,weir::api::access_log=debug` shows what the
//! clients call. The query string and headers are never logged (keys live
//! in `Authorization`); when the target is off this costs one level check.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Log the request once its response head is ready.
pub async fn log_request(req: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(
        %method,
        path = %path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}
