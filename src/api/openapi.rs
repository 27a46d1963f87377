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

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{OpenApi, PartialSchema, ToSchema};

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

#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "generation",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The completion: one JSON object, or with `stream: true` \
            server-sent events, each `data:` line a `ChatCompletionChunk` and the last \
            `data: [DONE]` (an error after the first event comes as a `data:` line holding an \
            `ErrorBody`).",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_tokens` was lowered to fit the context")),
            content((ChatCompletion = "application/json"), (ChatCompletionChunkEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it", body = ErrorBody),
        (status = 404, description = "`model` is not the served model", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
        (status = 503, description = "The engine cannot take the request now",
            headers(("retry-after" = u64, description = "Seconds to wait before retrying")),
            body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn chat_completions() {}

#[utoipa::path(
    post,
    path = "/v1/completions",
    tag = "generation",
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "The completion: one JSON object, or with `stream: true` \
            server-sent events, each `data:` line a `Completion` chunk and the last `data: [DONE]`.",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_tokens` was lowered to fit the context")),
            content((Completion = "application/json"), (CompletionEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it", body = ErrorBody),
        (status = 404, description = "`model` is not the served model", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
        (status = 503, description = "The engine cannot take the request now",
            headers(("retry-after" = u64, description = "Seconds to wait before retrying")),
            body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn completions() {}

#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    responses((status = 200, description = "The served model", body = ModelList))
)]
#[allow(dead_code)]
fn models() {}

#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    tag = "models",
    params(("model" = String, Path, description = "The served model's name")),
    responses(
        (status = 200, description = "The model's card", body = ModelCard),
        (status = 404, description = "No such model", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn model() {}

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "The engine serves (empty body)"),
        (status = 503, description = "The engine is not running",
            headers(("retry-after" = u64, description = "Seconds to wait before retrying")),
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
    responses(
        (status = 200, description = "The tokens", body = TokenizeResponse),
        (status = 400, description = "A field of the wrong kind, or a conversation the template refuses", body = ErrorBody),
        (status = 404, description = "`model` is not the served model", body = ErrorBody),
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
    responses(
        (status = 200, description = "The text", body = DetokenizeResponse),
        (status = 400, description = "`tokens` missing, of the wrong kind or out of the vocabulary", body = ErrorBody),
        (status = 404, description = "`model` is not the served model", body = ErrorBody),
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

/// The document's skeleton: every route, and the chunk types that only
/// appear inside event streams.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "weir",
        description = "An OpenAI-compatible LLM inference server: OpenAI's chat and \
            completions APIs with vLLM's extensions, the model list, health, vLLM's \
            tokenizer endpoints and Prometheus metrics. Unknown request fields are \
            ignored; `null` for an optional field means absent."
    ),
    paths(
        chat_completions,
        completions,
        models,
        model,
        health,
        tokenize,
        detokenize,
        metrics,
        openapi_document
    ),
    components(schemas(ChatCompletionChunk))
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
        for name in ["GenerationParams", "ModelField", "TokenizePrompt"] {
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
        let source = include_str!("mod.rs");
        let mut routes = Vec::new();
        for chunk in source.split(".route(\"").skip(1) {
            let Some((path, rest)) = chunk.split_once('"') else {
                continue;
            };
            let rest = rest.trim_start_matches([',', ' ', '\n']);
            let method: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
            // axum's `{*rest}` wildcard is an OpenAPI `{rest}` parameter.
            routes.push((method, path.replace("{*", "{")));
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
        assert!(routes.len() >= 9, "read the router's routes: {routes:?}");
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
