//! Who is calling, and through which door: the [`Caller`] extractor
//! authenticates the `Authorization` header (when the store holds keys)
//! and resolves an endpoint route `/{project_id}/{endpoint_slug}/v1/...`
//! to its project and endpoint; [`Caller::target`] then picks the engine
//! that serves the request's `model`.
//!
//! The statuses are the hosted API's: 401 `invalid_api_key` for every key
//! problem (a missing scope included), 404 for an unknown project or
//! endpoint, and a key used on another project's path gets exactly the
//! unknown project's answer, so no tenant can learn another exists.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::engine::request::{Tenant, TenantId};
use crate::runtime::handle::EngineHandle;
use crate::tenancy::model::{Endpoint, KeyRecord, Project, Scope};
use crate::tenancy::ratelimit::Subject;
use crate::tenancy::RateLimits;

/// The authenticated caller of an inference route.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The key used (`None` while auth is off).
    pub key: Option<Arc<KeyRecord>>,
    /// The project billed: the endpoint's, else the key's.
    pub project: Option<Arc<Project>>,
    /// The endpoint of an endpoint route (`None` on the plain `/v1` routes).
    pub endpoint: Option<Arc<Endpoint>>,
}

/// The engine a request runs on, and the `model` name validation accepts.
pub struct Target {
    /// The engine.
    pub engine: EngineHandle,
    /// The name the request's `model` is checked against: the client's own
    /// on a non-strict endpoint (any name is served by its one model).
    pub accepted: String,
}

/// Longest path segment echoed back in a 404 message.
const MAX_ECHOED_SEGMENT: usize = 64;

/// A path segment as it may appear in a message: short, plain characters,
/// else a neutral word (never reflect odd bytes into a response).
fn echo(segment: &str, what: &str) -> String {
    let plain = segment.len() <= MAX_ECHOED_SEGMENT
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if plain && !segment.is_empty() {
        format!("`{segment}`")
    } else {
        format!("in the URL ({what})")
    }
}

/// The 404 for a project that does not exist or is not the key's: the
/// same bytes for both (nothing of the path echoed), so a key cannot tell
/// another tenant's project from none.
fn project_not_found() -> ApiError {
    ApiError::base_url_not_found(
        "The project in the URL does not exist or you do not have access to it. The base URL must be http(s)://HOST/{project_id}/{endpoint_slug}/v1, with the project id your key belongs to.",
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params: HashMap<String, String> =
            match RawPathParams::from_request_parts(parts, state).await {
                Ok(raw) => raw
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                Err(_) => HashMap::new(),
            };
        let header = parts.headers.get(AUTHORIZATION).map(|h| h.as_bytes());
        resolve(state, header, params.get("project"), params.get("slug"))
    }
}

/// Authenticate and resolve the door (the extractor's body, callable
/// without a request).
pub fn resolve(
    state: &AppState,
    authorization: Option<&[u8]>,
    project: Option<&String>,
    slug: Option<&String>,
) -> Result<Caller, ApiError> {
    let directory = &state.tenancy().directory;
    let view = directory.view();
    let key = directory
        .authenticate(
            &view,
            authorization,
            Scope::Inference,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    let key_project = key.as_ref().and_then(|k| k.project.clone());
    match (project, slug) {
        (Some(project), Some(slug)) => {
            let found = view.project(project).cloned();
            // A project key reaches only its own project; an operator key
            // (no project) with the inference scope reaches every one.
            let allowed = match &key_project {
                Some(own) => own.0 == *project,
                None => true,
            };
            let project = match found {
                Some(p) if allowed => p,
                _ => return Err(project_not_found()),
            };
            let endpoint = view.endpoint(&project.id.0, slug).cloned().ok_or_else(|| {
                ApiError::base_url_not_found(format!(
                    "The endpoint {} does not exist in project `{}`. The base URL must be http(s)://HOST/{}/{{endpoint_slug}}/v1.",
                    echo(slug, "endpoint slug"),
                    project.id,
                    project.id
                ))
            })?;
            Ok(Caller {
                key,
                project: Some(project),
                endpoint: Some(endpoint),
            })
        }
        _ => Ok(Caller {
            project: key_project.and_then(|p| view.project(&p.0).cloned()),
            key,
            endpoint: None,
        }),
    }
}

/// The `model` field as sent, when it is a string.
fn requested_model(body: &Map<String, Value>) -> Option<&str> {
    body.get("model").and_then(Value::as_str)
}

impl Caller {
    /// The engine that serves this request. On an endpoint route: the
    /// endpoint's model whatever `model` says, unless the endpoint is
    /// strict (then `model` must be its model or an alias: 404
    /// `model_not_found` naming the served model). On `/v1`: the model
    /// named, or 404 listing what is served.
    pub fn target(&self, state: &AppState, body: &Map<String, Value>) -> Result<Target, ApiError> {
        let requested = requested_model(body);
        match &self.endpoint {
            Some(ep) => {
                let engine = state.models().get(&ep.model).cloned().ok_or_else(|| {
                    ApiError::unavailable(format!(
                        "The endpoint's model `{}` is not loaded on this server.",
                        ep.model
                    ))
                })?;
                let accepted = match requested {
                    Some(m) if m == ep.model || ep.aliases.iter().any(|a| a == m) => m,
                    Some(m) if ep.strict_model_name => {
                        return Err(ApiError::model_not_found(m).with_message(format!(
                            "The model `{m}` does not exist or you do not have access to it. This endpoint serves `{}`.",
                            ep.model
                        )))
                    }
                    Some(m) => m,
                    None => ep.model.as_str(),
                };
                Ok(Target {
                    accepted: accepted.to_string(),
                    engine,
                })
            }
            None => match requested {
                Some(m) => match state.models().get(m) {
                    Some(engine) => Ok(Target {
                        engine: engine.clone(),
                        accepted: m.to_string(),
                    }),
                    None => Err(ApiError::model_not_found(m).with_message(format!(
                        "The model `{m}` does not exist or you do not have access to it. This server serves {}.",
                        state.models().names()
                    ))),
                },
                // Validation answers a missing `model` (400 naming it).
                None => {
                    let engine = state.models().all().first().cloned().ok_or_else(|| {
                        ApiError::unavailable("this server serves no model")
                    })?;
                    Ok(Target {
                        accepted: engine.model_name().to_string(),
                        engine,
                    })
                }
            },
        }
    }

    /// The engine's view of the owner: fairness key and weight, and the
    /// prefix-cache salt (the project's, or its operator-set group's).
    pub fn tenant(&self) -> Tenant {
        match &self.project {
            Some(p) => Tenant {
                id: TenantId(p.id.0.clone()),
                weight: self.endpoint.as_ref().map_or(1, |e| e.weight.max(1)),
                cache_group: p.cache_group.clone().unwrap_or_else(|| p.id.0.clone()),
            },
            None => Tenant::default(),
        }
    }

    /// The limits that apply: the key's, the endpoint's, the project's.
    pub fn limit_subjects(&self) -> Vec<(Subject, RateLimits)> {
        let mut out = Vec::new();
        let limited = |l: &RateLimits| l.rpm.is_some() || l.tpm.is_some();
        if let Some(k) = self.key.as_ref().filter(|k| limited(&k.limits)) {
            out.push((Subject::Key(k.id.clone()), k.limits));
        }
        if let Some(e) = self.endpoint.as_ref().filter(|e| limited(&e.limits)) {
            out.push((Subject::Endpoint(e.id.clone()), e.limits));
        }
        if let Some(p) = self.project.as_ref().filter(|p| limited(&p.limits)) {
            out.push((Subject::Project(p.id.0.clone()), p.limits));
        }
        out
    }
}
