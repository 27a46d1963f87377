//! How long stored responses are kept, and the sweeper that enforces it.
//!
//! Every project keeps its responses for at most `max_age` and at most its
//! newest `max_per_project`; a sweep every `sweep_every` deletes the rest
//! (between sweeps a project may briefly hold more). A continuation of a
//! swept response is a 400 `previous_response_not_found`, as for any
//! missing id. The sweep also reads the store's totals for `/metrics`
//! (`weir:stored_responses`, `weir:stored_responses_bytes`,
//! `weir:stored_responses_expired_total`). Stored responses pin nothing in
//! the KV cache: their prefixes stay in the prefix cache only while it has
//! room, like any other request's.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::api::state::AppState;
use crate::tenancy::store::{Store, StoreError};

/// The retention limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Oldest a stored response may be.
    pub max_age: Duration,
    /// Most stored responses per project (its newest are kept).
    pub max_per_project: usize,
    /// How often the sweeper runs.
    pub sweep_every: Duration,
}

impl Default for Retention {
    /// 30 days (as OpenAI keeps them), 10,000 per project, a sweep a minute.
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(30 * 86_400),
            max_per_project: 10_000,
            sweep_every: Duration::from_secs(60),
        }
    }
}

/// The store's stored-response totals as of the last sweep.
#[derive(Debug, Default)]
pub struct StoredResponseMetrics {
    stored: AtomicU64,
    bytes: AtomicU64,
    expired: AtomicU64,
    sweeps: AtomicU64,
}

impl StoredResponseMetrics {
    /// The Prometheus text (empty until the first sweep).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.sweeps.load(Ordering::Relaxed) == 0 {
            return out;
        }
        for (name, kind, help, value) in [
            (
                "weir:stored_responses",
                "gauge",
                "Responses kept for previous_response_id, all projects, as of the last sweep.",
                &self.stored,
            ),
            (
                "weir:stored_responses_bytes",
                "gauge",
                "Bytes of JSON the stored responses hold, as of the last sweep.",
                &self.bytes,
            ),
            (
                "weir:stored_responses_expired_total",
                "counter",
                "Stored responses deleted by retention (age or per-project count).",
                &self.expired,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

/// One sweep of `store`, `now_ms` being now: deletes what retention no
/// longer keeps, then reads the totals into `metrics`.
pub fn sweep(
    store: &Store,
    retention: &Retention,
    now_ms: i64,
    metrics: &StoredResponseMetrics,
) -> Result<usize, StoreError> {
    let age_ms = i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX);
    let deleted =
        store.sweep_responses(now_ms.saturating_sub(age_ms), retention.max_per_project)?;
    let (stored, bytes) = store.response_totals()?;
    metrics.expired.fetch_add(deleted as u64, Ordering::Relaxed);
    metrics.stored.store(stored, Ordering::Relaxed);
    metrics.bytes.store(bytes, Ordering::Relaxed);
    metrics.sweeps.fetch_add(1, Ordering::Relaxed);
    Ok(deleted)
}

/// Sweep the server's response store every `retention.sweep_every`, for as
/// long as the server runs (a store made later is swept once it exists).
pub async fn sweep_forever(state: AppState, retention: Retention) {
    let mut tick = tokio::time::interval(retention.sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = state.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let Some(store): Option<Arc<Store>> = state.tenancy().response_store(false)? else {
                return Ok(0);
            };
            let now = chrono::Utc::now().timestamp_millis();
            sweep(&store, &retention, now, state.stored_responses())
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(deleted = n, "stored responses past retention deleted"),
            Ok(Err(e)) => tracing::error!(error = %e, "sweeping stored responses"),
            Err(e) => tracing::error!(error = %e, "the stored-response sweep panicked"),
        }
    }
}
