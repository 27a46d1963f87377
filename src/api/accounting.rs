//! One request's bookkeeping: its rate-limit reservation ([`LimitGate`],
//! taken by the engine's admission gate once the prompt's exact length is
//! known) and its usage record ([`Ledger`]: a write-ahead `pending` record
//! when it starts, the final record committed before the last chunk
//! leaves, or a `cancelled` one if the client goes first).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::response::{IntoResponse, Response};

use crate::api::access::Caller;
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::engine::request::AdmissionGate;
use crate::tenancy::model::{UsageRecord, UsageStatus};
use crate::tenancy::ratelimit::{LimitKind, RateLimitHeaders, RateLimited, Reservation, Subject};
use crate::tenancy::RateLimits;

/// The engine-side check of a request's rate limits: reserves one request
/// and its prompt plus output budget from every limit that applies.
pub struct LimitGate {
    state: AppState,
    subjects: Vec<(Subject, RateLimits)>,
    reservation: Mutex<Option<Reservation>>,
    /// The limits' state when the request was admitted (its headers).
    admitted: Mutex<Option<RateLimitHeaders>>,
    refused: Mutex<Option<RateLimited>>,
}

impl std::fmt::Debug for LimitGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitGate")
            .field("subjects", &self.subjects)
            .finish_non_exhaustive()
    }
}

impl AdmissionGate for LimitGate {
    fn admit(&self, prompt_tokens: usize, max_output_tokens: usize) -> Result<(), String> {
        let tokens = (prompt_tokens + max_output_tokens) as u64;
        match self.state.tenancy().limiter.acquire(&self.subjects, tokens) {
            Ok(r) => {
                *lock(&self.admitted) = Some(r.headers());
                *lock(&self.reservation) = Some(r);
                Ok(())
            }
            Err(limited) => {
                let message = format!("rate limited: {:?}", limited.kind);
                *lock(&self.refused) = Some(limited);
                Err(message)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LimitGate {
    /// The gate for `caller`'s limits; `None` when no limit applies.
    pub fn new(state: &AppState, caller: &Caller) -> Option<Arc<LimitGate>> {
        let subjects = caller.limit_subjects();
        (!subjects.is_empty()).then(|| {
            Arc::new(LimitGate {
                state: state.clone(),
                subjects,
                reservation: Mutex::new(None),
                admitted: Mutex::new(None),
                refused: Mutex::new(None),
            })
        })
    }

    /// The 429 for a refused request (`None` if it was not refused here):
    /// OpenAI's message naming the limit, `retry-after`, and the headers.
    pub fn refusal(&self, model: &str, org: &str) -> Option<Response> {
        let limited = lock(&self.refused).take()?;
        let kind = match limited.kind {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
        };
        let wait = (!limited.retry_after.is_zero()).then_some(limited.retry_after);
        let mut resp =
            ApiError::rate_limited(kind, limited.message(model, org), wait).into_response();
        let headers = self.state.tenancy().limiter.headers(&self.subjects);
        headers.apply(resp.headers_mut());
        Some(resp)
    }

    /// The `x-ratelimit-*` headers of a granted request.
    fn headers(&self) -> Option<RateLimitHeaders> {
        lock(&self.admitted).clone()
    }

    /// Settle the reservation at what the request used.
    fn reconcile(&self, used: u64) {
        if let Some(r) = lock(&self.reservation).take() {
            r.reconcile(used);
        }
    }
}

/// Add the gate's `x-ratelimit-*` headers to a response.
pub fn with_limit_headers(mut resp: Response, gate: Option<&Arc<LimitGate>>) -> Response {
    if let Some(h) = gate.and_then(|g| g.headers()) {
        h.apply(resp.headers_mut());
    }
    resp
}

/// What a request consumed, as the client was told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consumed {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Of those, from the prefix cache.
    pub cached_tokens: usize,
    /// Generated tokens, all choices.
    pub completion_tokens: usize,
    /// Of those, reasoning.
    pub reasoning_tokens: usize,
}

/// A running request's usage record. Finish it with [`Ledger::finish`];
/// dropped unfinished (the client left), it records `cancelled` with what
/// was produced so far.
pub struct Ledger {
    state: AppState,
    gate: Option<Arc<LimitGate>>,
    record: UsageRecord,
    arrived: Instant,
    first_token: Option<Instant>,
    consumed: Consumed,
    done: bool,
}

impl Ledger {
    /// Open the record of request `request_id` (the response id) served by
    /// `model`, and queue its write-ahead `pending` record.
    pub fn open(
        state: &AppState,
        caller: &Caller,
        gate: Option<Arc<LimitGate>>,
        model: &str,
        request_id: &str,
        prompt_tokens: usize,
        arrived: Instant,
    ) -> Ledger {
        let record = UsageRecord {
            request_id: request_id.to_string(),
            project: caller.project.as_ref().map(|p| p.id.clone()),
            endpoint: caller.endpoint.as_ref().map(|e| e.slug.clone()),
            key_prefix: caller.key.as_ref().map(|k| k.prefix.clone()),
            model: model.to_string(),
            prompt_tokens: prompt_tokens as u64,
            cached_tokens: 0,
            completion_tokens: 0,
            reasoning_tokens: 0,
            ttft_ms: None,
            latency_ms: 0.0,
            status: UsageStatus::Pending,
            created_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        if let Some(log) = state.tenancy().usage() {
            log.begin(record.clone());
        }
        Ledger {
            state: state.clone(),
            gate,
            record,
            arrived,
            first_token: None,
            consumed: Consumed {
                prompt_tokens,
                ..Consumed::default()
            },
            done: false,
        }
    }

    /// Note progress (a token arrived; counts so far), so a cancelled
    /// request is recorded with what it produced.
    pub fn observe(&mut self, consumed: Consumed) {
        if self.first_token.is_none() && consumed.completion_tokens > 0 {
            self.first_token = Some(Instant::now());
        }
        self.consumed = consumed;
    }

    fn settle(&mut self, status: UsageStatus) -> UsageRecord {
        self.done = true;
        let c = self.consumed;
        if let Some(g) = &self.gate {
            g.reconcile((c.prompt_tokens + c.completion_tokens) as u64);
        }
        let mut rec = self.record.clone();
        rec.prompt_tokens = c.prompt_tokens as u64;
        rec.cached_tokens = c.cached_tokens as u64;
        rec.completion_tokens = c.completion_tokens as u64;
        rec.reasoning_tokens = c.reasoning_tokens as u64;
        rec.ttft_ms = self
            .first_token
            .map(|t| t.duration_since(self.arrived).as_secs_f64() * 1e3);
        rec.latency_ms = self.arrived.elapsed().as_secs_f64() * 1e3;
        rec.status = status;
        if rec.project.is_some() {
            self.state.tenancy().metrics.record(&rec);
        }
        rec
    }

    /// Record the end; returns once the record is durable (before the
    /// response's last bytes go out). A store failure is logged and the
    /// response still goes out.
    pub async fn finish(mut self, status: UsageStatus, consumed: Consumed) {
        self.observe(consumed);
        let rec = self.settle(status);
        if let Some(log) = self.state.tenancy().usage() {
            if let Err(e) = log.finish(rec).await {
                tracing::error!(error = %e, "a usage record could not be written");
            }
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let rec = self.settle(UsageStatus::Cancelled);
        if let Some(log) = self.state.tenancy().usage() {
            log.begin(rec);
        }
    }
}

/// A request running on its engine, with its bookkeeping.
pub struct Started {
    /// The engine's event channel and counts.
    pub generation: crate::engine::request::Generation,
    /// The response id (`{prefix}-...`).
    pub id: String,
    /// The served model's real name (what every response reports).
    pub model: String,
    /// The usage record.
    pub ledger: Ledger,
    /// The rate-limit reservation, for the response's headers.
    pub gate: Option<Arc<LimitGate>>,
}

/// Run `req` for `caller` on `engine`: the caller's tenant and limits go
/// with it, and its usage record opens. A refusal is the finished
/// response (429 with the limit's headers, or the engine's error, put in
/// the route's words by `words`).
pub async fn start(
    state: &AppState,
    caller: &Caller,
    engine: &crate::runtime::handle::EngineHandle,
    mut req: crate::engine::request::GenerateRequest,
    prompt_field: &str,
    id_prefix: &str,
    words: fn(ApiError) -> ApiError,
) -> Result<Started, Response> {
    let arrived = Instant::now();
    let model = engine.model_name().to_string();
    let gate = LimitGate::new(state, caller);
    req.tenant = caller.tenant();
    req.gate = gate.clone().map(|g| g as Arc<dyn AdmissionGate>);
    let generation = match engine.generate(req).await {
        Ok(g) => g,
        Err(e) => {
            let org = caller.project.as_ref().map_or("weir", |p| p.id.0.as_str());
            let refusal = gate.as_ref().and_then(|g| g.refusal(&model, org));
            return Err(refusal.unwrap_or_else(|| {
                words(ApiError::from_engine(&e, prompt_field)).into_response()
            }));
        }
    };
    let id = crate::api::response_id(id_prefix, generation.request_id);
    let ledger = Ledger::open(
        state,
        caller,
        gate.clone(),
        &model,
        &id,
        generation.prompt_tokens,
        arrived,
    );
    Ok(Started {
        generation,
        id,
        model,
        ledger,
        gate,
    })
}
