//! The Responses API over the same engine: `POST /v1/responses` (streamed
//! as its typed events or whole), `GET` and `DELETE /v1/responses/{id}`,
//! `GET /v1/responses/{id}/input_items`, `POST /v1/responses/{id}/cancel`.
//!
//! The body is read into the equivalent chat-completions body
//! ([`request`]), validated and run like chat, and the result shaped as a
//! response object ([`object`]) or streamed as Responses events
//! ([`stream`]). With `store` (the default) the finished response is kept
//! in the tenancy store under the caller's project, and
//! `previous_response_id` continues it ([`state`]; docs/responses.md).

pub mod object;
pub mod replay;
pub mod request;
pub mod retention;
pub mod running;
pub mod state;
pub mod stream;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::api::access::Caller;
use crate::api::accounting::{start, with_limit_headers, Started};
use crate::api::chat::collect_into;
use crate::api::error::ApiError;
use crate::api::sse::encoded_sse_response;
use crate::api::state::AppState;
use crate::api::validate;
use crate::api::{mark_clamped, unix_now, JsonObject};
use crate::engine::request::FinishReason;
use crate::tenancy::store::Store;
use object::{output_items, ItemIds, ResponseObject, ResponseUsage};
use stream::ResponsesEncoder;

/// The create-response handler (`/v1/responses` and endpoint routes).
pub async fn create_response(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let target = caller.target(&state, &body)?;
    let project = project_of(&caller);
    // A string `previous_response_id` continues a stored response (any
    // other kind is refused by `request::read` below).
    let previous = body
        .get("previous_response_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let wants_store = body.get("store") != Some(&Value::Bool(false));
    let store = if wants_store || previous.is_some() {
        response_store(&state, wants_store).await?
    } else {
        None
    };
    // `item_reference` items are read from the project's stored responses.
    let mut body = body;
    let references = body
        .get("input")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items
                .iter()
                .any(|i| i.get("type").and_then(Value::as_str) == Some("item_reference"))
        });
    if references {
        let Some(store) = response_store(&state, false).await? else {
            return Err(ApiError::invalid(
                "input",
                "an item_reference names a stored item, and this server has stored none",
            ));
        };
        let mut input = body.get("input").cloned().unwrap_or(Value::Null);
        let (project, store) = (project.clone(), store.clone());
        let input = tokio::task::spawn_blocking(move || {
            if let Some(items) = input.as_array_mut() {
                state::resolve_references(&store, &project, items)?;
            }
            Ok::<Value, ApiError>(input)
        })
        .await
        .map_err(|e| ApiError::internal(format!("reading stored responses: {e}")))??;
        body.insert("input".into(), input);
    }
    let turn = state::turn_items(body.get("input"));
    // A continuation: the chain's items, then this turn's, read as one
    // input (a call's output may answer a call of an earlier turn).
    let req = match &previous {
        None => request::read(&body)?,
        Some(id) => {
            if state.running_responses().snapshot(&project, id).is_some() {
                return Err(state::previous_response_in_progress(id));
            }
            let Some(store) = &store else {
                return Err(state::previous_response_not_found(id));
            };
            let history = {
                let (store, project, id) = (store.clone(), project.clone(), id.clone());
                tokio::task::spawn_blocking(move || state::history(&store, &project, &id))
                    .await
                    .map_err(|e| ApiError::internal(format!("reading stored responses: {e}")))??
            };
            let earlier = history.len();
            let mut whole = body.clone();
            let mut items = history;
            items.extend(turn.iter().cloned());
            whole.insert("input".into(), Value::Array(items));
            whole.remove("previous_response_id");
            let mut req = request::read(&whole).map_err(|e| shift_input_index(e, earlier))?;
            req.echo.previous_response_id = Value::String(id.clone());
            req
        }
    };
    let keeps = req.echo.store && store.is_some();
    let valid = validate::chat_request(&req.chat, &target.accepted).map_err(in_responses_words)?;
    let started = match start(
        &state,
        &caller,
        &target.engine,
        valid.generate,
        "input",
        "resp",
        in_responses_words,
    )
    .await
    {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let Started {
        generation: gen,
        id,
        model,
        ledger,
        gate,
    } = started;
    // OpenAI's ids are `resp_...`.
    let id = id.replacen('-', "_", 1);
    let created = unix_now();
    let clamped = gen.max_tokens_clamped;
    let response = ResponseObject::in_progress(id, created, model, &req.echo, keeps);
    // Running from here until stored (or over): cancel reaches it.
    let (guard, cancel) = state.running_responses().register(&project, &response);
    let events = running::cancellable(gen.events, cancel);
    let keep = store.filter(|_| keeps).map(|store| Keeper {
        store,
        project,
        turn,
    });

    let resp = if req.stream {
        let finish: stream::Keep = Box::new(move |r| {
            // A write to SQLite from inside the stream: off the async
            // workers' hot path where the runtime allows it.
            let kept = keep.is_some_and(|k| blocking(|| k.keep(r)));
            let mut finished = r.clone();
            finished.store = kept;
            guard.finished(&finished);
            kept
        });
        encoded_sse_response(
            ResponsesEncoder::new(response, gen.prompt_tokens, Some(finish)),
            events,
            Some(ledger),
        )
    } else {
        let results = collect_into(events, 1, ledger, gen.prompt_tokens).await?;
        let r = results.into_iter().next().unwrap_or_default();
        let reason = r.finish_reason.unwrap_or(FinishReason::Stop);
        let status = stream::item_status(reason);
        let mut response = response;
        let mut ids = ItemIds::new(&response.id);
        response.output = output_items(&r, &mut ids, status);
        let usage = ResponseUsage::new(
            gen.prompt_tokens,
            r.cached_tokens,
            r.completion_tokens,
            r.reasoning_tokens,
        );
        response.finish(reason, usage, unix_now());
        if let Some(k) = keep {
            response.store = k.keep(&response);
        }
        guard.finished(&response);
        Json(response).into_response()
    };
    Ok(with_limit_headers(
        mark_clamped(resp, clamped),
        gate.as_ref(),
    ))
}

/// `GET /v1/responses/{response_id}` (and on endpoint routes): a stored
/// response of the caller's project.
pub async fn retrieve_response(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let id = params.get("response_id").cloned().unwrap_or_default();
    let query = ReplayQuery::from_query(query)?;
    // Running first: a response is stored before it stops running, so
    // one missed here is found stored below.
    if let Some(running) = state
        .running_responses()
        .snapshot(&project_of(&caller), &id)
    {
        if query.stream {
            return Err(ApiError::invalid(
                "stream",
                format!("Response with id '{id}' is still in progress; it can be streamed again once it has finished."),
            ));
        }
        return Ok(Json(running).into_response());
    }
    let response: Value = stored_json(&state, &caller, &id, |s| s.response).await?;
    if query.stream {
        let frames = replay::replay(&response, query.starting_after)?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            frames,
        )
            .into_response());
    }
    Ok(Json(response).into_response())
}

/// The query of `GET /v1/responses/{id}`: `stream=true` replays it as
/// events, `starting_after=N` from after event N.
struct ReplayQuery {
    stream: bool,
    starting_after: Option<u64>,
}

impl ReplayQuery {
    fn from_query(pairs: Vec<(String, String)>) -> Result<ReplayQuery, ApiError> {
        let mut q = ReplayQuery {
            stream: false,
            starting_after: None,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "stream" => {
                    q.stream = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::invalid(
                                "stream",
                                format!("stream must be true or false, got {value:?}"),
                            ))
                        }
                    }
                }
                "starting_after" => {
                    q.starting_after = Some(value.parse().map_err(|_| {
                        ApiError::invalid(
                            "starting_after",
                            format!(
                                "starting_after must be an event's sequence number, got {value:?}"
                            ),
                        )
                    })?)
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// `POST /v1/responses/{response_id}/cancel` (and on endpoint routes):
/// stops a response of the caller's project that is still being
/// generated and answers with it, status `cancelled`. A finished one is a
/// 400 saying so; an unknown one (or another project's) a 404.
pub async fn cancel_response(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = params.get("response_id").cloned().unwrap_or_default();
    let project = project_of(&caller);
    match state.running_responses().cancel(&project, &id).await {
        running::Cancelled::Finished(r) | running::Cancelled::StillRunning(r) => {
            Ok(Json(r).into_response())
        }
        running::Cancelled::NotRunning => match stored(&state, &caller, &id).await? {
            Some(_) => Err(ApiError::invalid(
                "response_id",
                format!("Response with id '{id}' has already finished and cannot be cancelled."),
            )),
            None => Err(state::response_not_found(&id)),
        },
    }
}

/// `GET /v1/responses/{response_id}/input_items` (and on endpoint routes):
/// the input items a stored response was given, paged as OpenAI's list.
pub async fn list_input_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let id = params.get("response_id").cloned().unwrap_or_default();
    let page = state::ItemPage::from_query(query)?;
    let items: Vec<Value> = stored_json(&state, &caller, &id, |s| s.input_items).await?;
    Ok(Json(state::item_page(items, &page)?).into_response())
}

/// `DELETE /v1/responses/{response_id}` (and on endpoint routes).
pub async fn delete_response(
    State(state): State<AppState>,
    caller: Caller,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = params.get("response_id").cloned().unwrap_or_default();
    let project = project_of(&caller);
    let deleted = match response_store(&state, false).await? {
        Some(store) => {
            let id = id.clone();
            tokio::task::spawn_blocking(move || store.delete_response(&project, &id))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(|e| ApiError::internal(format!("deleting a stored response: {e}")))?
        }
        None => false,
    };
    if !deleted {
        return Err(state::response_not_found(&id));
    }
    Ok(Json(json!({"id": id, "object": "response", "deleted": true})).into_response())
}

/// Keeps a finished response in the store (from the handler or, streamed,
/// from the encoder before its terminal event).
struct Keeper {
    store: Arc<Store>,
    project: String,
    turn: Vec<Value>,
}

impl Keeper {
    /// Keep `response`; false (logged) when the store refuses.
    fn keep(self, response: &ResponseObject) -> bool {
        let mut kept = response.clone();
        kept.store = true;
        match state::keep(&self.store, &self.project, &self.turn, &kept) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, response_id = %response.id, "cannot store a response");
                false
            }
        }
    }
}

/// The stored response `id` of the caller's project.
async fn stored(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<crate::tenancy::store::StoredResponse>, ApiError> {
    let Some(store) = response_store(state, false).await? else {
        return Ok(None);
    };
    let (project, id) = (project_of(caller), id.to_string());
    tokio::task::spawn_blocking(move || store.response(&project, &id))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("reading stored responses: {e}")))
}

/// A JSON column (`column` picks it) of the stored response `id` of the
/// caller's project, parsed; a 404 when there is none.
async fn stored_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    column: fn(crate::tenancy::store::StoredResponse) -> String,
) -> Result<T, ApiError> {
    let Some(found) = stored(state, caller, id).await? else {
        return Err(state::response_not_found(id));
    };
    serde_json::from_str(&column(found))
        .map_err(|e| ApiError::internal(format!("stored response {id} is unreadable: {e}")))
}

/// The store responses are kept in (made on first need with `create`).
async fn response_store(state: &AppState, create: bool) -> Result<Option<Arc<Store>>, ApiError> {
    if let Some(store) = state.tenancy().open_response_store() {
        return Ok(Some(store));
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || state.tenancy().response_store(create))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("the response store cannot be opened: {e}")))
}

/// Run blocking `f` from async code: on a multi-threaded runtime the worker
/// hands its other tasks on first; elsewhere it simply runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Whose responses the caller sees: its project's (`""` without one).
fn project_of(caller: &Caller) -> String {
    caller
        .project
        .as_ref()
        .map_or_else(String::new, |p| p.id.0.clone())
}

/// An error about the combined input of a continuation, indexed as the
/// client's own `input` (the chain's `earlier` items come first).
fn shift_input_index(mut e: ApiError, earlier: usize) -> ApiError {
    let Some(param) = e.param.clone() else {
        return e;
    };
    let Some(rest) = param.strip_prefix("input[") else {
        return e;
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return e;
    };
    if let Some(i) = index
        .parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(earlier))
    {
        let renamed = format!("input[{i}]{tail}");
        e.message = e
            .message
            .replace(&format!("input[{index}]"), &format!("input[{i}]"));
        e.param = Some(renamed);
    }
    e
}

/// A chat validation error in the Responses API's words.
fn in_responses_words(mut e: ApiError) -> ApiError {
    if let Some(param) = e.param.take() {
        let renamed = request::chat_param_to_responses(&param);
        e.message = e.message.replace(&param, &renamed);
        e.param = Some(renamed);
    }
    e
}
