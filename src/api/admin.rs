//! The admin HTTP API under `/admin/v1/`: what `weir admin` does, over
//! HTTP, for a caller holding an operator key (scope `admin`, no project).
//!
//! Every operation is [`Admin`]'s (the CLI's too); this module only parses
//! JSON in, checks the key, runs the store call on a blocking thread and
//! answers JSON out. Errors are OpenAI-shaped: 401 `invalid_api_key` for
//! every key problem (a project's key gets "Missing scopes: admin"), 400
//! naming the field at fault, 404 for an unknown project, endpoint or key,
//! 409 for a collision. A server without a tenancy store answers 404 on
//! every admin route: without keys there is no one to let in. A new key
//! appears in a response exactly once; errors show at most its display
//! prefix. See `docs/admin-api.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::api::BODY_LIMIT;
use crate::tenancy::admin::{
    self, key_status, Admin, AdminError, EndpointSpec, KeySpec, KeyView, NewKey, ProjectSpec,
    DEFAULT_GRACE,
};
use crate::tenancy::model::{RateLimits, Scope};
use crate::tenancy::store::{StoreError, UsageGroupBy};

/// The admin routes, merged into the server's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/projects",
            get(list_projects).post(create_project),
        )
        .route(
            "/admin/v1/projects/{project}/endpoints",
            get(list_endpoints).post(create_endpoint),
        )
        .route(
            "/admin/v1/projects/{project}/endpoints/{slug}",
            delete(delete_endpoint),
        )
        .route(
            "/admin/v1/projects/{project}/keys",
            get(list_keys).post(create_key),
        )
        .route("/admin/v1/keys/{key}/revoke", post(revoke_key))
        .route("/admin/v1/keys/{key}/rotate", post(rotate_key))
        .route("/admin/v1/projects/{project}/usage", get(usage))
}

/// The message of the 404 every admin route answers without a store.
const NO_STORE: &str = "This server has no tenancy store, so the admin API is off. Create one with `weir admin init` (the server picks it up within a second) and call the admin API with the operator key it prints.";

/// Check the caller's operator key and hand back the admin operations.
async fn operator(state: &AppState, headers: &HeaderMap) -> Result<Arc<Admin>, ApiError> {
    let tenancy = state.tenancy();
    let directory = &tenancy.directory;
    let view = directory.view();
    if !view.auth_on() {
        return Err(no_store());
    }
    let header = headers.get(AUTHORIZATION).map(|h| h.as_bytes());
    let key = directory
        .authenticate(&view, header, Scope::Admin, chrono::Utc::now().timestamp())
        .map_err(|e| ApiError::unauthorized(e.to_string()))?
        .ok_or_else(no_store)?;
    if key.project.is_some() {
        return Err(ApiError::unauthorized(format!(
            "The key {} belongs to a project; the admin API takes an operator key (weir admin key create --admin).",
            key.prefix
        )));
    }
    let state = state.clone();
    let opened = tokio::task::spawn_blocking(move || state.tenancy().admin())
        .await
        .map_err(|e| ApiError::internal(format!("the admin task failed: {e}")))?;
    match opened {
        Ok(Some(admin)) => Ok(admin),
        Ok(None) => Err(no_store()),
        Err(e) => Err(admin_error(e, &[])),
    }
}

fn no_store() -> ApiError {
    ApiError::base_url_not_found(NO_STORE)
}

/// Run `op` on a blocking thread; its error as an [`ApiError`], with
/// `fields` mapping the start of an invalid value's message to the JSON
/// field that carried it.
async fn run<T, F>(admin: Arc<Admin>, fields: Fields, op: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Admin) -> Result<T, AdminError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || op(&admin))
        .await
        .map_err(|e| ApiError::internal(format!("the admin task failed: {e}")))?
        .map_err(|e| admin_error(e, fields))
}

/// Message starts and the field each names.
type Fields = &'static [(&'static str, &'static str)];

/// An [`AdminError`] as the HTTP answer: 400 (naming the field when
/// `fields` knows it), 404, 409, or 500 for the store itself (logged; the
/// client gets no file path).
fn admin_error(e: AdminError, fields: Fields) -> ApiError {
    let invalid = |m: String| {
        let field = fields
            .iter()
            .find(|(start, _)| m.starts_with(start))
            .map(|(_, f)| *f);
        match field {
            Some(f) => ApiError::invalid(f, format!("{f}: {m}")),
            None => ApiError::bad_body(m),
        }
    };
    match e {
        AdminError::Invalid(m) | AdminError::Store(StoreError::Invalid(m)) => invalid(m),
        AdminError::NotFound(m) | AdminError::Store(StoreError::NotFound(m)) => {
            ApiError::base_url_not_found(m)
        }
        AdminError::Conflict(m) | AdminError::Store(StoreError::Conflict(m)) => conflict(m),
        AdminError::NotInitialized(_) => no_store(),
        e @ (AdminError::Store(StoreError::Database { .. }) | AdminError::Key(_)) => {
            tracing::error!(error = %e, "admin API: the tenancy store failed");
            ApiError::internal("The tenancy store failed; see the server's log.")
        }
    }
}

/// 409: the request collides with the store's state.
fn conflict(message: String) -> ApiError {
    let mut e = ApiError::bad_body(message).with_code("conflict");
    e.status = StatusCode::CONFLICT;
    e
}

/// A path segment, or 400.
fn segment<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_body(format!("Invalid URL: {}", e.body_text())))
}

/// A JSON object body; an empty body is an empty object.
struct Body(Map<String, Value>);

impl Body {
    /// Parse `bytes`, refusing any field not in `allowed`.
    fn parse(bytes: Result<Bytes, BytesRejection>, allowed: &[&str]) -> Result<Body, ApiError> {
        let bytes = bytes.map_err(|r| match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(BODY_LIMIT),
            _ => ApiError::bad_body(format!(
                "Could not read the request body: {}",
                r.body_text()
            )),
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_body(format!(
                "The request body is not valid JSON ({e}); send a JSON object."
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(ApiError::bad_body(
                "The request body must be a JSON object.",
            ));
        };
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let shown: String = k.chars().take(64).filter(|c| !c.is_control()).collect();
            return Err(ApiError::invalid(
                shown.clone(),
                format!(
                    "Unrecognized request argument supplied: {shown}. This route takes {}.",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Body(map))
    }

    fn present(&self, f: &str) -> Option<&Value> {
        self.0.get(f).filter(|v| !v.is_null())
    }

    fn string(&self, f: &str) -> Result<Option<String>, ApiError> {
        match self.present(f) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(f, format!("{f}: must be a string"))),
        }
    }

    fn required(&self, f: &str) -> Result<String, ApiError> {
        self.string(f)?
            .ok_or_else(|| ApiError::invalid(f, format!("{f}: is required")))
    }

    /// A whole number from 1 to `max`.
    fn count(&self, f: &str, max: u64) -> Result<Option<u64>, ApiError> {
        match self.present(f) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=max).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid(
                        f,
                        format!(
                            "{f}: must be a whole number from 1 to {max} (leave it out for none)"
                        ),
                    )
                }),
        }
    }

    fn limits(&self) -> Result<RateLimits, ApiError> {
        let max = i64::MAX as u64;
        Ok(RateLimits {
            rpm: self.count("rpm", max)?,
            tpm: self.count("tpm", max)?,
        })
    }

    fn flag(&self, f: &str) -> Result<bool, ApiError> {
        match self.present(f) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::invalid(f, format!("{f}: must be true or false"))),
        }
    }

    fn strings(&self, f: &str) -> Result<Vec<String>, ApiError> {
        let bad = || ApiError::invalid(f, format!("{f}: must be a list of strings"));
        match self.present(f) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
                .collect(),
            Some(_) => Err(bad()),
        }
    }

    fn duration(&self, f: &str) -> Result<Option<Duration>, ApiError> {
        self.string(f)?
            .map(|s| {
                admin::parse_duration(&s).map_err(|e| ApiError::invalid(f, format!("{f}: {e}")))
            })
            .transpose()
    }
}

/// `{"object": "list", "data": [...]}`.
fn list<T: Serialize>(data: Vec<T>) -> Response {
    Json(json!({"object": "list", "data": data})).into_response()
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("cannot encode: {e}")))
}

/// A new key's record with the key itself (the only time it is shown).
fn new_key_json(k: &NewKey) -> Result<Value, ApiError> {
    let mut v = to_json(&KeyView {
        status: key_status(&k.record, chrono::Utc::now().timestamp()),
        key: k.record.clone(),
    })?;
    if let Value::Object(m) = &mut v {
        m.insert("key".into(), Value::String(k.key.clone()));
    }
    Ok(v)
}

const PROJECT_FIELDS: Fields = &[("project name", "name"), ("cache group", "cache_group")];
const ENDPOINT_FIELDS: Fields = &[
    ("slug", "slug"),
    ("model", "model"),
    ("alias", "aliases"),
    ("weight", "weight"),
];
const KEY_FIELDS: Fields = &[("key name", "name")];

async fn list_projects(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let projects = run(admin, &[], |a| a.projects()).await?;
        Ok::<_, ApiError>(list(projects))
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn create_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let b = Body::parse(body, &["name", "rpm", "tpm", "cache_group"])?;
        let spec = ProjectSpec {
            name: b.required("name")?,
            limits: b.limits()?,
            cache_group: b.string("cache_group")?,
        };
        let project = run(admin, PROJECT_FIELDS, move |a| a.create_project(&spec)).await?;
        Ok::<_, ApiError>(created(to_json(&project)?))
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn list_endpoints(
    State(state): State<AppState>,
    headers: HeaderMap,
    project: Result<Path<String>, PathRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let project = segment(project)?;
        let eps = run(admin, &[], move |a| a.endpoints(Some(&project))).await?;
        Ok::<_, ApiError>(list(eps))
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn create_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    project: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let project = segment(project)?;
        let b = Body::parse(
            body,
            &[
                "slug",
                "model",
                "rpm",
                "tpm",
                "weight",
                "aliases",
                "strict_model_name",
            ],
        )?;
        let weight = b
            .count("weight", u64::from(admin::MAX_WEIGHT))?
            .unwrap_or(1);
        let spec = EndpointSpec {
            project,
            slug: b.required("slug")?,
            model: b.required("model")?,
            aliases: b.strings("aliases")?,
            limits: b.limits()?,
            weight: u32::try_from(weight).unwrap_or(admin::MAX_WEIGHT),
            strict_model_name: b.flag("strict_model_name")?,
        };
        let ep = run(admin, ENDPOINT_FIELDS, move |a| a.create_endpoint(&spec)).await?;
        let mut v = to_json(&ep)?;
        if let Value::Object(m) = &mut v {
            let base = format!("/{}/{}/v1", ep.project, ep.slug);
            m.insert("base_url".into(), Value::String(base));
        }
        Ok::<_, ApiError>(created(v))
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn delete_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let (project, slug) = segment(path)?;
        let ep = run(admin, &[], move |a| a.delete_endpoint(&project, &slug)).await?;
        let mut v = to_json(&ep)?;
        if let Value::Object(m) = &mut v {
            m.insert("deleted".into(), Value::Bool(true));
        }
        Ok::<_, ApiError>(Json(v).into_response())
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    project: Result<Path<String>, PathRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let project = segment(project)?;
        let keys = run(admin, &[], move |a| a.keys(Some(&project))).await?;
        Ok::<_, ApiError>(list(keys))
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    project: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let project = segment(project)?;
        let b = Body::parse(body, &["name", "scopes", "expires", "rpm", "tpm"])?;
        let scopes = b
            .strings("scopes")?
            .iter()
            .map(|s| {
                Scope::parse(s).ok_or_else(|| {
                    ApiError::invalid(
                        "scopes",
                        "scopes: each must be \"inference\" or \"admin\"".to_string(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let spec = KeySpec {
            project: Some(project),
            scopes,
            name: b.string("name")?,
            expires_in: b.duration("expires")?,
            limits: b.limits()?,
        };
        let key = run(admin, KEY_FIELDS, move |a| a.create_key(&spec)).await?;
        Ok::<_, ApiError>(created(new_key_json(&key)?))
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let which = segment(key)?;
        Body::parse(body, &[])?;
        let k = run(admin, &[], move |a| a.revoke_key(&which)).await?;
        let view = KeyView {
            status: key_status(&k, chrono::Utc::now().timestamp()),
            key: k,
        };
        Ok::<_, ApiError>(Json(to_json(&view)?).into_response())
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn rotate_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let which = segment(key)?;
        let b = Body::parse(body, &["grace"])?;
        let grace = b.duration("grace")?.unwrap_or(DEFAULT_GRACE);
        let r = run(admin, &[], move |a| a.rotate_key(&which, grace)).await?;
        let mut v = new_key_json(&r.new)?;
        let old = KeyView {
            status: key_status(&r.old, chrono::Utc::now().timestamp()),
            key: r.old,
        };
        if let Value::Object(m) = &mut v {
            m.insert("replaces".into(), to_json(&old)?);
        }
        Ok::<_, ApiError>(Json(v).into_response())
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

async fn usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    project: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let go = async {
        let admin = operator(&state, &headers).await?;
        let project = segment(project)?;
        let Query(q) = query.map_err(|e| ApiError::bad_body(e.body_text()))?;
        if let Some(k) = q.keys().find(|k| !matches!(k.as_str(), "since" | "by")) {
            let shown: String = k.chars().take(64).filter(|c| !c.is_control()).collect();
            return Err(ApiError::invalid(
                shown.clone(),
                format!("Unrecognized query parameter: {shown}. This route takes since, by."),
            ));
        }
        let since_text = q.get("since").cloned().unwrap_or_else(|| "24h".into());
        let since = admin::parse_duration(&since_text)
            .map_err(|e| ApiError::invalid("since", format!("since: {e}")))?;
        let by = match q.get("by").map(String::as_str) {
            None | Some("total") => UsageGroupBy::Total,
            Some("key") => UsageGroupBy::Key,
            Some("endpoint") => UsageGroupBy::Endpoint,
            Some("model") => UsageGroupBy::Model,
            Some(_) => {
                return Err(ApiError::invalid(
                    "by",
                    "by: must be total, key, endpoint or model",
                ))
            }
        };
        let p = project.clone();
        let rows = run(admin, &[], move |a| a.usage(&p, since, by)).await?;
        Ok::<_, ApiError>(
            Json(json!({
                "object": "usage",
                "project": project,
                "since": since_text,
                "by": by,
                "rows": rows,
            }))
            .into_response(),
        )
    };
    go.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_value_names_its_field() {
        let e = admin_error(
            AdminError::Invalid("slug \"A\": use 1 to 63 characters".into()),
            ENDPOINT_FIELDS,
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.param.as_deref(), Some("slug"));
        assert!(e.message.starts_with("slug: "), "{}", e.message);
    }

    #[test]
    fn store_failures_hide_the_file() {
        let e = admin_error(
            AdminError::Store(StoreError::Database {
                path: "/secret/place/weir.db".into(),
                message: "disk I/O error".into(),
            }),
            &[],
        );
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("/secret/place"), "{}", e.message);
    }

    #[test]
    fn conflicts_are_409_and_unknowns_404() {
        let e = admin_error(AdminError::Conflict("taken".into()), &[]);
        assert_eq!(e.status, StatusCode::CONFLICT);
        let e = admin_error(AdminError::NotFound("no project \"x\"".into()), &[]);
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn bodies_refuse_unknown_fields_and_wrong_types() {
        let b =
            |s: &'static str| Body::parse(Ok(Bytes::from_static(s.as_bytes())), &["name", "rpm"]);
        let e = b(r#"{"nme": "x"}"#).err().map(|e| e.param);
        assert_eq!(e, Some(Some("nme".into())));
        let body = b(r#"{"name": 3}"#).ok().map(|b| b.string("name"));
        assert_eq!(
            body.and_then(|r| r.err()).and_then(|e| e.param).as_deref(),
            Some("name")
        );
        let body = b(r#"{"rpm": 0}"#).ok().map(|b| b.limits());
        assert_eq!(
            body.and_then(|r| r.err()).and_then(|e| e.param).as_deref(),
            Some("rpm")
        );
        assert!(b("").is_ok(), "an empty body is an empty object");
        assert!(b("[1]").is_err());
    }
}
