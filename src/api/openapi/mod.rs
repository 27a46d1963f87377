//! The OpenAPI 3.1 contract of every route, generated from the request and
//! response types and served at `GET /openapi.json`.
//!
//! The schemas come from the types themselves (utoipa's `ToSchema` derive,
//! with `#[schema(...)]` lines on the fields for what the Rust type does not
//! say: ranges, required fields, enums). The request types of `wire` are
//! read by hand-written `Expect` impls, not by a serde derive, so where a
//! type's accepted shape is not a plain struct (`stop`: a string or strings;
//! a message's `content`; `tool_choice`; the completions `prompt`) the type
//! implements `PartialSchema` itself, beside its reader, from the builders
//! in [`shape`]. The routes are declared here, one `#[utoipa::path]` per
//! route of [`crate::api::router`], with every status its handler can
//! answer; the test below fails when the router gains a route the document
//! lacks.
//!
//! The document served names the served model in an `enum` on every
//! `model` field: any other name is a 404, so a client (or a fuzzer)
//! reading the document knows the one value that gets past it.

mod responses;

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::api::error::ErrorBody;
use crate::api::openai::{
    ChatCompletion, ChatCompletionChunk, Completion, DetokenizeResponse, ModelCard, ModelList,
    TokenizeResponse,
};
use crate::api::state::AppState;
use crate::api::wire::chat::{ChatCompletionRequest, ChatConversation};
use crate::api::wire::completions::CompletionRequest;
use crate::api::wire::{ModelField, TokensField};

/// Builders for the schemas of types whose accepted shape a derive cannot
/// see (they are read by `Expect` impls): used by those types' own
/// `PartialSchema` impls and by `schema_with` on a few fields.
pub mod shape {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::ToSchema;

    /// `{"type": "string"}`.
    pub fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    /// A string that must be one of `values`.
    pub fn string_enum(values: &[&str]) -> ObjectBuilder {
        string().enum_values(Some(values.iter().copied()))
    }

    /// An array whose elements are `item`.
    pub fn array_of(item: impl Into<RefOr<Schema>>) -> ArrayBuilder {
        ArrayBuilder::new().items(item.into())
    }

    /// Exactly one of `alternatives`.
    pub fn one_of(alternatives: impl IntoIterator<Item = RefOr<Schema>>) -> RefOr<Schema> {
        alternatives
            .into_iter()
            .fold(OneOfBuilder::new(), |b, s| b.item(s))
            .into()
    }

    /// A `$ref` to `T`'s component (register it with [`register`]).
    pub fn reference<T: ToSchema>() -> RefOr<Schema> {
        RefOr::Ref(Ref::from_schema_name(T::name()))
    }

    /// Add `T` (and what it refers to) to a document's components.
    pub fn register<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }

    /// A message's `role` (`developer` is read as `system`).
    pub fn message_role() -> ObjectBuilder {
        string_enum(&["system", "developer", "user", "assistant", "tool"])
    }

    /// A content part's `type`: text parts only.
    pub fn content_part_type() -> ObjectBuilder {
        string_enum(&["text", "input_text"])
    }

    /// `response_format.type`.
    pub fn response_format_type() -> ObjectBuilder {
        string_enum(&["text", "json_object", "json_schema"])
    }
}

/// The schema of one server-sent event of a stream whose `data` holds a
/// JSON `T` (or an `ErrorBody` when the stream fails after it started),
/// the last event being `data: [DONE]`. Schemathesis (like OpenAPI 3.2's
/// `itemSchema`) checks each event, `{event?, data, id?, retry?}`, against it.
fn stream_event<T: ToSchema>() -> RefOr<Schema> {
    let json = shape::string()
        .content_media_type("application/json")
        .description(Some(format!(
            "A JSON `{}` (#/components/schemas/{0}), or an `ErrorBody`",
            T::name()
        )));
    let data = AnyOfBuilder::new()
        .item(shape::string_enum(&["[DONE]"]))
        .item(json);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("event", shape::string())
        .property("data", data)
        .property("id", shape::string())
        .required("data")
        .into()
}

/// An event of a `stream: true` chat completion.
struct ChatCompletionChunkEvent;

impl PartialSchema for ChatCompletionChunkEvent {
    fn schema() -> RefOr<Schema> {
        stream_event::<ChatCompletionChunk>()
    }
}

impl ToSchema for ChatCompletionChunkEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        shape::register::<ChatCompletionChunk>(schemas);
    }
}

/// An event of a `stream: true` completion.
struct CompletionEvent;

impl PartialSchema for CompletionEvent {
    fn schema() -> RefOr<Schema> {
        stream_event::<Completion>()
    }
}

impl ToSchema for CompletionEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        shape::register::<Completion>(schemas);
    }
}

/// `POST /tokenize` with a plain prompt. `misc::tokenize` reads this body
/// field by field (it has no wire type of its own); this type only gives it
/// a schema.
#[derive(ToSchema)]
#[allow(dead_code)]
struct TokenizePrompt {
    /// The served model's name; optional here.
    model: Option<String>,
    /// The text to tokenize.
    prompt: String,
    /// Add the tokenizer's special tokens (BOS). Default true.
    add_special_tokens: Option<bool>,
}

/// `POST /tokenize` with a conversation: rendered by the chat template,
/// then tokenized (the template writes its own special tokens).
#[derive(ToSchema)]
#[allow(dead_code)]
struct TokenizeChat {
    #[serde(flatten)]
    model: ModelField,
    #[serde(flatten)]
    conversation: ChatConversation,
    /// Add the tokenizer's special tokens on top of the template's. Default false.
    add_special_tokens: Option<bool>,
}

/// A `/tokenize` body: a prompt, or a conversation (`messages` wins when
/// both are sent).
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum TokenizeRequest {
    /// `{prompt}`.
    Prompt(TokenizePrompt),
    /// `{messages, tools?, ...}`.
    Chat(TokenizeChat),
}

/// A `/detokenize` body: `{model?, tokens}`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct DetokenizeRequest {
    #[serde(flatten)]
    model: ModelField,
    #[serde(flatten)]
    tokens: TokensField,
}

/// Builders of the responses several routes share (401, 429, 503) and of
/// the headers on them; each response set is a set a route
/// lists beside its own statuses (`utoipa::IntoResponses`).
mod answers {
    use utoipa::openapi::header::{Header, HeaderBuilder};
    use utoipa::openapi::response::{Response, ResponseBuilder};
    use utoipa::openapi::{Content, RefOr};
    use utoipa::{IntoResponses, PartialSchema};

    use super::shape;
    use crate::api::error::ErrorBody;

    /// A header whose value is an integer.
    fn integer_header(description: &str) -> Header {
        HeaderBuilder::new()
            .schema(u64::schema())
            .description(Some(description))
            .build()
    }

    /// A header whose value is a string.
    fn string_header(description: &str) -> Header {
        HeaderBuilder::new()
            .schema(String::schema())
            .description(Some(description))
            .build()
    }

    /// `retry-after` and `retry-after-ms`: every refusal that can pass
    /// later says when (the OpenAI SDKs read `retry-after-ms` first).
    pub fn retry_headers() -> Vec<(String, Header)> {
        vec![
            (
                "retry-after".into(),
                integer_header("Seconds to wait before retrying (rounded up)"),
            ),
            (
                "retry-after-ms".into(),
                integer_header("The same wait in milliseconds (rounded up)"),
            ),
        ]
    }

    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, OpenAI's
    /// headers: sent for each kind of limit (requests, tokens per minute)
    /// that applies to the caller's key, endpoint or project.
    pub fn rate_limit_headers() -> Vec<(String, Header)> {
        let mut out = Vec::new();
        for (kind, per) in [("requests", "requests"), ("tokens", "tokens")] {
            out.push((
                format!("x-ratelimit-limit-{kind}"),
                integer_header(&format!(
                    "The tightest limit on {per} per minute that applies (key, endpoint or project); \
                     sent when such a limit is set"
                )),
            ));
            out.push((
                format!("x-ratelimit-remaining-{kind}"),
                integer_header(&format!(
                    "The {per} left under that limit now (this request's reservation taken)"
                )),
            ));
            out.push((
                format!("x-ratelimit-reset-{kind}"),
                string_header(&format!(
                    "When that limit on {per} is back in full, as a duration (`1s`, `6m0s`, `12ms`)"
                )),
            ));
        }
        out
    }

    /// A response whose body is an OpenAI `ErrorBody`, with `headers`.
    fn error(description: &str, headers: Vec<(String, Header)>) -> RefOr<Response> {
        let content = Content::new(Some(shape::reference::<ErrorBody>()));
        headers
            .into_iter()
            .fold(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", content),
                |b, (name, h)| b.header(name, h),
            )
            .build()
            .into()
    }

    /// 401 `invalid_api_key` on every route a key guards.
    pub struct Unauthorized;

    impl IntoResponses for Unauthorized {
        fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
            [(
                "401".to_string(),
                error(
                    "The `Authorization: Bearer weir_...` key is missing, malformed, unknown, \
                     expired, revoked or lacks the `inference` scope (code `invalid_api_key`; \
                     the message shows at most the key's display prefix). Only once the \
                     server's tenancy store holds a key: until then every caller is let in.",
                    Vec::new(),
                ),
            )]
            .into()
        }
    }

    /// 429 `rate_limit_exceeded`, with when to retry and the limit hit.
    pub struct RateLimited;

    impl IntoResponses for RateLimited {
        fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
            let mut headers = retry_headers();
            headers.extend(rate_limit_headers());
            [(
                "429".to_string(),
                error(
                    "A requests- or tokens-per-minute limit of the key, the endpoint or the \
                     project would be exceeded (code `rate_limit_exceeded`; `type` is \
                     `requests` or `tokens`, the limit hit; the message names the limit, what \
                     is used and what was requested). A request reserves one request and its \
                     prompt plus `max_tokens` from every limit that applies, all or nothing. \
                     `retry-after`/`retry-after-ms` say when the request can pass; the \
                     `x-ratelimit-*` headers describe the limit that refused it.",
                    headers,
                ),
            )]
            .into()
        }
    }

    /// 503 with `retry-after`: the engine cannot take the request now.
    pub struct Unavailable;

    impl IntoResponses for Unavailable {
        fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
            [(
                "503".to_string(),
                error(
                    "The engine cannot take the request now: the waiting room is full or the \
                     request waited past the queue timeout (code `server_overloaded`), or the \
                     model is not running or not loaded on this server (code \
                     `service_unavailable`)",
                    retry_headers(),
                ),
            )]
            .into()
        }
    }
}

use answers::{RateLimited, Unauthorized, Unavailable};

/// The path parameters of an endpoint's base URL
/// `/{project}/{slug}/v1`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct EndpointPath {
    /// The project's id (`proj_` and random base62, as `weir admin project
    /// create` prints it). An unknown project, or one the key does not
    /// belong to, is a 404 with code `not_found` (the same answer for both).
    project: String,
    /// The endpoint's slug inside the project (`[a-z0-9][a-z0-9-]{0,62}`).
    /// An unknown slug is a 404 with code `not_found`.
    slug: String,
}

#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "generation",
    request_body = ChatCompletionRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The completion: one JSON object, or with `stream: true` \
            server-sent events, each `data:` line a `ChatCompletionChunk` and the last \
            `data: [DONE]` (an error after the first event comes as a `data:` line holding an \
            `ErrorBody`). The last content chunk carries `usage` even without \
            `stream_options.include_usage`.",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_tokens` was lowered to fit the context")),
            content((ChatCompletion = "application/json"), (ChatCompletionChunkEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`model` is not a served model (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        RateLimited,
        (status = 500, description = "The server failed", body = ErrorBody),
        Unavailable,
    )
)]
#[allow(dead_code)]
fn chat_completions() {}

#[utoipa::path(
    post,
    path = "/{project}/{slug}/v1/chat/completions",
    tag = "generation",
    params(EndpointPath),
    request_body = ChatCompletionRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "As `POST /v1/chat/completions`, served by the endpoint's \
            model whatever `model` says (unless the endpoint is strict), which every response \
            names. The last content chunk of a stream carries `usage` even without \
            `stream_options.include_usage`.",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_tokens` was lowered to fit the context")),
            content((ChatCompletion = "application/json"), (ChatCompletionChunkEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No such project or endpoint, or a project the key does not \
            belong to (code `not_found`); or, on an endpoint with a strict model name, a `model` \
            that is neither its model nor an alias (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        RateLimited,
        (status = 500, description = "The server failed", body = ErrorBody),
        Unavailable,
    )
)]
#[allow(dead_code)]
fn endpoint_chat_completions() {}

#[utoipa::path(
    post,
    path = "/v1/completions",
    tag = "generation",
    request_body = CompletionRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The completion: one JSON object, or with `stream: true` \
            server-sent events, each `data:` line a `Completion` chunk and the last `data: [DONE]`. \
            The last content chunk carries `usage` even without `stream_options.include_usage`.",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_tokens` was lowered to fit the context")),
            content((Completion = "application/json"), (CompletionEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`model` is not a served model (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        RateLimited,
        (status = 500, description = "The server failed", body = ErrorBody),
        Unavailable,
    )
)]
#[allow(dead_code)]
fn completions() {}

#[utoipa::path(
    post,
    path = "/{project}/{slug}/v1/completions",
    tag = "generation",
    params(EndpointPath),
    request_body = CompletionRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "As `POST /v1/completions`, served by the endpoint's model \
            whatever `model` says (unless the endpoint is strict), which every response names.",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_tokens` was lowered to fit the context")),
            content((Completion = "application/json"), (CompletionEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No such project or endpoint, or a project the key does not \
            belong to (code `not_found`); or, on an endpoint with a strict model name, a `model` \
            that is neither its model nor an alias (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        RateLimited,
        (status = 500, description = "The server failed", body = ErrorBody),
        Unavailable,
    )
)]
#[allow(dead_code)]
fn endpoint_completions() {}

#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The served models", body = ModelList),
        Unauthorized,
    )
)]
#[allow(dead_code)]
fn models() {}

#[utoipa::path(
    get,
    path = "/{project}/{slug}/v1/models",
    tag = "models",
    params(EndpointPath),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint's model (one card)", body = ModelList),
        Unauthorized,
        (status = 404, description = "No such project or endpoint, or a project the key does not \
            belong to (code `not_found`)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn endpoint_models() {}

#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    tag = "models",
    params(("model" = String, Path, description = "A served model's name")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The model's card", body = ModelCard),
        Unauthorized,
        (status = 404, description = "No such model (code `model_not_found`)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn model() {}

#[utoipa::path(
    get,
    path = "/{project}/{slug}/v1/models/{model}",
    tag = "models",
    params(EndpointPath, ("model" = String, Path, description = "The endpoint's model's name")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The model's card", body = ModelCard),
        Unauthorized,
        (status = 404, description = "No such project or endpoint, or a project the key does not \
            belong to (code `not_found`); or a model the endpoint does not serve (code \
            `model_not_found`)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn endpoint_model() {}

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Every engine serves (empty body)"),
        (status = 503, description = "An engine is not running (code `service_unavailable`)",
            headers(
                ("retry-after" = u64, description = "Seconds to wait before retrying"),
                ("retry-after-ms" = u64, description = "The same wait in milliseconds"),
            ),
            body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn health() {}

#[utoipa::path(
    post,
    path = "/tokenize",
    tag = "tokenizer",
    request_body = TokenizeRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The tokens", body = TokenizeResponse),
        (status = 400, description = "A field of the wrong kind, or a conversation the template refuses", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`model` is not a served model (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn tokenize() {}

#[utoipa::path(
    post,
    path = "/detokenize",
    tag = "tokenizer",
    request_body = DetokenizeRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The text", body = DetokenizeResponse),
        (status = 400, description = "`tokens` missing, of the wrong kind or out of the vocabulary", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`model` is not a served model (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn detokenize() {}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition (vLLM's metric names)",
        content((String = "text/plain"))))
)]
#[allow(dead_code)]
fn metrics() {}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document", content((Object = "application/json"))))
)]
#[allow(dead_code)]
fn openapi_document() {}

/// Adds the `bearer` security scheme, and the rate-limit headers to the
/// 200 of every operation that can answer 429 (a granted request is told
/// what is left of the limits that apply, as OpenAI does).
struct Tenancy;

impl Modify for Tenancy {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("weir_...")
            .description(Some(
                "An API key made by `weir admin key create`, sent as \
                 `Authorization: Bearer weir_...`. Enforced only once the server's tenancy \
                 store holds a key; a server without keys lets every caller in (hence the \
                 empty alternative in each route's `security`). A key of a project reaches \
                 that project's endpoints and the `/v1` routes; it needs the `inference` scope.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(bearer));
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                if !op.responses.responses.contains_key("429") {
                    continue;
                }
                if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                    ok.headers.extend(answers::rate_limit_headers());
                }
            }
        }
    }
}

/// The document's skeleton: every route, and the chunk types that only
/// appear inside event streams.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "weir",
        description = "An OpenAI-compatible LLM inference server: OpenAI's chat, \
            completions and Responses APIs with vLLM's extensions, the model list, health, vLLM's \
            tokenizer endpoints and Prometheus metrics. The inference routes are served \
            twice: under `/v1` (the model picked by the body's `model`) and under an \
            endpoint's base URL `/{project}/{slug}/v1` (its model). Once the tenancy store \
            holds a key, they need `Authorization: Bearer weir_...`. Unknown request fields \
            are ignored; `null` for an optional field means absent."
    ),
    paths(
        chat_completions,
        endpoint_chat_completions,
        responses::create_response,
        responses::endpoint_create_response,
        responses::retrieve_response,
        responses::delete_response,
        responses::endpoint_retrieve_response,
        responses::endpoint_delete_response,
        responses::list_input_items,
        responses::endpoint_list_input_items,
        responses::cancel_response,
        responses::endpoint_cancel_response,
        completions,
        endpoint_completions,
        models,
        endpoint_models,
        model,
        endpoint_model,
        health,
        tokenize,
        detokenize,
        metrics,
        openapi_document
    ),
    components(schemas(ChatCompletionChunk, ErrorBody, responses::InputMessageDoc)),
    modifiers(&Tenancy)
)]
struct ApiDoc;

/// The OpenAPI document of a server serving `models`: every `model` field
/// of a request body is limited to those names.
pub fn document(models: &[&str]) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in [
            "GenerationParams",
            "ModelField",
            "TokenizePrompt",
            "CreateResponseRequest",
        ] {
            if let Some(field) = schemas
                .get_mut(name)
                .and_then(|s| s.pointer_mut("/properties/model"))
                .and_then(Value::as_object_mut)
            {
                field.insert("enum".into(), Value::from(models.to_vec()));
            }
        }
    }
    doc
}

/// `GET /openapi.json`: [`document`] for the served models.
pub async fn openapi_json(State(state): State<AppState>) -> Json<Value> {
    let names: Vec<&str> = state
        .models()
        .all()
        .iter()
        .map(|e| e.model_name())
        .collect();
    Json(document(&names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::validate::{
        self, MAX_MESSAGES, MAX_N, MAX_STOP, MAX_STOP_CHARS, MAX_TOOLS, MAX_TOP_LOGPROBS,
    };
    use serde_json::{json, Map};

    const MODEL: &str = "test-model";

    /// A JSON schema for the component `name`, with the document's
    /// components beside it so its `$ref`s resolve.
    fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#/components/schemas/{name}"),
            "components": doc["components"],
        });
        jsonschema::validator_for(&schema).expect("the component compiles as a JSON schema")
    }

    fn errors(v: &jsonschema::Validator, body: &Value) -> Vec<String> {
        v.iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// Every `.route("PATH", METHOD(...))` of the router, read from its
    /// source, as (`method`, OpenAPI path).
    fn router_routes() -> Vec<(String, String)> {
        let source = include_str!("../mod.rs");
        let mut routes = Vec::new();
        // rustfmt puts a long route's arguments on lines of their own.
        for chunk in source.split(".route(").skip(1) {
            let Some(chunk) = chunk.trim_start().strip_prefix('"') else {
                continue;
            };
            let Some((path, rest)) = chunk.split_once('"') else {
                continue;
            };
            let rest = rest.trim_start_matches([',', ' ', '\n']);
            let method: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
            // axum's `{*rest}` wildcard is an OpenAPI `{rest}` parameter.
            let path = path.replace("{*", "{");
            // Methods chained on the same route: `get(a).delete(b)`.
            for chained in ["get", "post", "put", "patch", "delete"] {
                if rest.contains(&format!(").{chained}(")) {
                    routes.push((chained.to_string(), path.clone()));
                }
            }
            routes.push((method, path));
        }
        routes
    }

    #[test]
    fn document_is_openapi_3_1_and_round_trips() {
        let doc = document(&[MODEL]);
        assert_eq!(doc["openapi"], "3.1.0");
        let parsed: utoipa::openapi::OpenApi =
            serde_json::from_value(doc.clone()).expect("the document parses as OpenAPI");
        assert_eq!(serde_json::to_value(parsed).unwrap()["paths"], doc["paths"]);
        // Every component is a JSON schema a validator compiles.
        let names = doc["components"]["schemas"].as_object().unwrap().keys();
        for name in names {
            validator(&doc, name);
        }
    }

    #[test]
    fn every_route_of_the_router_is_documented() {
        let doc = document(&[MODEL]);
        let routes = router_routes();
        assert!(routes.len() >= 13, "read the router's routes: {routes:?}");
        for (method, path) in &routes {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is routed but not in the OpenAPI document"
            );
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(
            documented,
            routes.len(),
            "the document lists routes the router lacks"
        );
    }

    #[test]
    fn every_body_route_documents_its_errors_as_openai_error_bodies() {
        let doc = document(&[MODEL]);
        for path in [
            "/v1/chat/completions",
            "/v1/completions",
            "/{project}/{slug}/v1/chat/completions",
            "/{project}/{slug}/v1/completions",
            "/tokenize",
            "/detokenize",
        ] {
            let responses = &doc["paths"][path]["post"]["responses"];
            for status in ["400", "404", "413", "500"] {
                assert_eq!(
                    responses[status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{path} {status}"
                );
            }
        }
        let ok = &doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"];
        assert!(
            ok["text/event-stream"].is_object(),
            "stream: true answers SSE"
        );
        assert!(ok["application/json"].is_object());
    }

    const ENDPOINT_ROUTES: [(&str, &str); 4] = [
        ("post", "/{project}/{slug}/v1/chat/completions"),
        ("post", "/{project}/{slug}/v1/completions"),
        ("get", "/{project}/{slug}/v1/models"),
        ("get", "/{project}/{slug}/v1/models/{model}"),
    ];

    const RATE_LIMIT_HEADERS: [&str; 6] = [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ];

    #[test]
    fn endpoint_routes_take_project_and_slug_and_answer_401_and_404() {
        let doc = document(&[MODEL]);
        for (method, path) in ENDPOINT_ROUTES {
            let op = &doc["paths"][path][method];
            let params = op["parameters"].as_array().expect("parameters");
            for name in ["project", "slug"] {
                let p = params
                    .iter()
                    .find(|p| p["name"] == name)
                    .unwrap_or_else(|| panic!("{path} lacks {name}"));
                assert_eq!(p["in"], "path", "{path} {name}");
                assert_eq!(p["required"], true, "{path} {name}");
                assert!(
                    p["description"].as_str().is_some_and(|d| d.contains("404")),
                    "{path} {name}: {p}"
                );
            }
            for status in ["401", "404"] {
                assert_eq!(
                    op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{path} {status}"
                );
            }
            let not_found = op["responses"]["404"]["description"].as_str().unwrap();
            assert!(not_found.contains("`not_found`"), "{path}: {not_found}");
        }
        // The endpoint's routes reuse the `/v1` routes' bodies.
        for (endpoint, plain) in [
            (ENDPOINT_ROUTES[0].1, "/v1/chat/completions"),
            (ENDPOINT_ROUTES[1].1, "/v1/completions"),
        ] {
            assert_eq!(
                doc["paths"][endpoint]["post"]["requestBody"],
                doc["paths"][plain]["post"]["requestBody"]
            );
            assert_eq!(
                doc["paths"][endpoint]["post"]["responses"]["200"]["content"],
                doc["paths"][plain]["post"]["responses"]["200"]["content"]
            );
        }
    }

    #[test]
    fn the_key_guarded_routes_name_the_bearer_scheme_as_optional() {
        let doc = document(&[MODEL]);
        let scheme = &doc["components"]["securitySchemes"]["bearer"];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let guarded = path.contains("/v1/") || path.ends_with("tokenize");
                if guarded {
                    // Auth is off until the store holds a key: `{}` says so.
                    assert_eq!(
                        op["security"],
                        json!([{}, {"bearer": []}]),
                        "{method} {path}"
                    );
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                } else {
                    assert!(op.get("security").is_none(), "{method} {path}");
                    assert!(op["responses"].get("401").is_none(), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn generation_routes_document_429_and_the_rate_limit_headers() {
        let doc = document(&[MODEL]);
        for path in [
            "/v1/chat/completions",
            "/v1/completions",
            ENDPOINT_ROUTES[0].1,
            ENDPOINT_ROUTES[1].1,
        ] {
            let responses = &doc["paths"][path]["post"]["responses"];
            let limited = &responses["429"];
            assert_eq!(
                limited["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody"
            );
            assert!(limited["description"]
                .as_str()
                .unwrap()
                .contains("rate_limit_exceeded"));
            for header in RATE_LIMIT_HEADERS {
                assert!(
                    limited["headers"][header].is_object(),
                    "{path} 429 {header}"
                );
                assert!(
                    responses["200"]["headers"][header].is_object(),
                    "{path} 200 {header}"
                );
            }
            for status in ["429", "503"] {
                for header in ["retry-after", "retry-after-ms"] {
                    assert_eq!(
                        responses[status]["headers"][header]["schema"]["type"], "integer",
                        "{path} {status} {header}"
                    );
                }
            }
            assert_eq!(
                responses["200"]["headers"]["x-ratelimit-reset-tokens"]["schema"]["type"],
                "string"
            );
            assert!(responses["200"]["headers"]["x-xerotier-max-tokens-clamped"].is_object());
        }
        // Routes no limit applies to promise no rate-limit header.
        for (path, method) in [("/v1/models", "get"), ("/tokenize", "post")] {
            let responses = &doc["paths"][path][method]["responses"];
            assert!(responses.get("429").is_none(), "{path}");
            assert!(responses["200"].get("headers").is_none(), "{path}");
        }
    }

    /// What OpenCode sends (its system prompt and tools, as weir load
    /// replays them), mid-session: a tool call and its result.
    fn opencode_chat_body() -> Value {
        let profile = weir_load::profile::Profile::opencode();
        let opts = weir_load::session::RequestOptions {
            model: MODEL.into(),
            max_tokens: profile.max_tokens,
            temperature: profile.temperature,
            continuous_usage: false,
            ignore_eos: false,
            think_scale: 0.0,
        };
        let messages = [
            json!({"role": "system", "content": profile.system_prompt}),
            json!({"role": "user", "content": [{"type": "text", "text": "Where is depth defined?"}]}),
            json!({"role": "assistant", "content": "", "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "grep", "arguments": "{\"pattern\":\"pub fn depth\"}"}}]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "src/tree.rs:12"}),
        ];
        let body = weir_load::body::request_body(
            &opts,
            weir_load::client::Api::Chat,
            &messages,
            &profile.tools,
            profile.max_tokens,
            None,
        );
        serde_json::from_slice(&body).expect("a JSON body")
    }

    /// Completions bodies as tests/ and the SDKs send them.
    fn completion_bodies() -> Vec<Value> {
        vec![
            json!({"model": MODEL, "prompt": "Once upon a time", "max_tokens": 16,
                   "temperature": 0.7, "stop": ["\n"], "logprobs": 2, "echo": true}),
            json!({"model": MODEL, "prompt": [1, 2, 3], "max_tokens": 5, "ignore_eos": true,
                   "stream": true, "stream_options": {"include_usage": true}, "seed": -3}),
            json!({"model": MODEL, "prompt": ["one prompt"], "n": 2, "best_of": 2,
                   "response_format": {"type": "json_schema",
                       "json_schema": {"name": "x", "schema": {"type": "object"}}}}),
        ]
    }

    #[test]
    fn real_requests_validate_against_the_request_schemas() {
        let doc = document(&[MODEL]);
        let chat = validator(&doc, "ChatCompletionRequest");
        let body = opencode_chat_body();
        assert!(body["tools"].as_array().is_some_and(|t| t.len() >= 5));
        assert_eq!(errors(&chat, &body), Vec::<String>::new());
        // ...and the server takes it: the schema and the reader agree.
        validate::chat_request(&object(body), MODEL).expect("weir accepts the body");

        let completions = validator(&doc, "CompletionRequest");
        for body in completion_bodies() {
            assert_eq!(errors(&completions, &body), Vec::<String>::new(), "{body}");
            validate::completion_request(&object(body), MODEL).expect("weir accepts the body");
        }
    }

    #[test]
    fn bodies_the_server_refuses_fail_the_schema() {
        let doc = document(&[MODEL]);
        let chat = validator(&doc, "ChatCompletionRequest");
        let user = json!([{"role": "user", "content": "hi"}]);
        let refused = [
            json!({"model": MODEL}),
            json!({"model": MODEL, "messages": []}),
            json!({"model": "other", "messages": user}),
            json!({"model": MODEL, "messages": user, "temperature": 2.5}),
            json!({"model": MODEL, "messages": user, "top_p": 0}),
            json!({"model": MODEL, "messages": user, "n": MAX_N + 1}),
            json!({"model": MODEL, "messages": user, "top_logprobs": MAX_TOP_LOGPROBS + 1}),
            json!({"model": MODEL, "messages": user, "stop": vec!["x"; MAX_STOP + 1]}),
            json!({"model": MODEL, "messages": user, "max_tokens": 0}),
            json!({"model": MODEL, "messages": user, "tool_choice": "sometimes"}),
            json!({"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]}),
            json!({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
            json!({"model": MODEL, "messages": user, "tools": [{"type": "function"}]}),
            json!({"model": MODEL, "messages": user, "response_format": {"type": "xml"}}),
        ];
        for body in refused {
            assert!(!chat.is_valid(&body), "the schema accepts {body}");
            let e = validate::chat_request(&object(body.clone()), MODEL);
            assert!(e.is_err(), "weir accepts {body}");
        }
        let completions = validator(&doc, "CompletionRequest");
        // (An empty prompt is refused too, once tokenized: "the prompt is empty".)
        assert!(!completions.is_valid(&json!({"model": MODEL, "prompt": ""})));
        for prompt in [json!([]), json!(["a", "b"]), json!([-1]), json!([[1], [2]])] {
            let body = json!({"model": MODEL, "prompt": prompt});
            assert!(!completions.is_valid(&body), "the schema accepts {body}");
            let e = validate::completion_request(&object(body.clone()), MODEL);
            assert!(e.is_err(), "weir accepts {body}");
        }
    }

    #[test]
    fn the_limits_in_the_document_are_the_validators() {
        let doc = document(&[MODEL]);
        let gen = &doc["components"]["schemas"]["GenerationParams"]["properties"];
        assert_eq!(gen["n"]["maximum"], json!(MAX_N));
        assert_eq!(gen["model"]["enum"], json!([MODEL]));
        let chat = &doc["components"]["schemas"]["ChatParams"]["properties"];
        assert_eq!(chat["top_logprobs"]["maximum"], json!(MAX_TOP_LOGPROBS));
        let completion = &doc["components"]["schemas"]["CompletionParams"]["properties"];
        assert_eq!(completion["logprobs"]["maximum"], json!(MAX_TOP_LOGPROBS));
        assert_eq!(completion["best_of"]["maximum"], json!(MAX_N));
        let conv = &doc["components"]["schemas"]["ChatConversation"]["properties"];
        assert_eq!(conv["messages"]["maxItems"], json!(MAX_MESSAGES), "{conv}");
        assert_eq!(conv["tools"]["maxItems"], json!(MAX_TOOLS), "{conv}");
        let stop = doc["components"]["schemas"]["Stop"].to_string();
        assert!(
            stop.contains(&format!("\"maxLength\":{MAX_STOP_CHARS}")),
            "{stop}"
        );
        assert!(stop.contains(&format!("\"maxItems\":{MAX_STOP}")), "{stop}");
    }
}
