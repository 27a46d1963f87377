//! `AppState`: what every handler reads. The models this process serves
//! (one engine each) and tenancy (auth, routing to endpoints, rate limits,
//! usage).

use std::sync::Arc;

use crate::api::responses::retention::StoredResponseMetrics;
use crate::api::responses::running::Running;
use crate::runtime::handle::EngineHandle;
use crate::tenancy::service::Tenancy;

/// The served models, in the order they were declared. Cheap to share.
pub struct ModelSet {
    engines: Vec<EngineHandle>,
}

impl ModelSet {
    /// The set; names must be distinct (checked where models are declared).
    pub fn new(engines: Vec<EngineHandle>) -> ModelSet {
        ModelSet { engines }
    }

    /// The engine serving `name` (exact, case-sensitive).
    pub fn get(&self, name: &str) -> Option<&EngineHandle> {
        self.engines.iter().find(|e| e.model_name() == name)
    }

    /// Every engine.
    pub fn all(&self) -> &[EngineHandle] {
        &self.engines
    }

    /// The served names, for messages ("`a`, `b`").
    pub fn names(&self) -> String {
        self.engines
            .iter()
            .map(|e| format!("`{}`", e.model_name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The handlers' state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    models: ModelSet,
    tenancy: Tenancy,
    running: Arc<Running>,
    stored: StoredResponseMetrics,
}

impl AppState {
    /// Serve `models` under `tenancy`.
    pub fn new(models: Vec<EngineHandle>, tenancy: Tenancy) -> AppState {
        AppState {
            inner: Arc::new(Shared {
                models: ModelSet::new(models),
                tenancy,
                running: Arc::default(),
                stored: StoredResponseMetrics::default(),
            }),
        }
    }

    /// One model, no tenancy: today's single-user server.
    pub fn single(engine: EngineHandle) -> AppState {
        AppState::new(vec![engine], Tenancy::off())
    }

    /// The Responses API's responses in progress.
    pub fn running_responses(&self) -> &Arc<Running> {
        &self.inner.running
    }

    /// The stored responses' totals, as the retention sweeper last saw.
    pub fn stored_responses(&self) -> &StoredResponseMetrics {
        &self.inner.stored
    }

    /// The served models.
    pub fn models(&self) -> &ModelSet {
        &self.inner.models
    }

    /// Tenancy.
    pub fn tenancy(&self) -> &Tenancy {
        &self.inner.tenancy
    }
}
