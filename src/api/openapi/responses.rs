//! The Responses API's routes and shapes in the OpenAPI document:
//! `POST /v1/responses`, the stored response's `GET` / `DELETE`, its input
//! items and its cancel, each also under an endpoint's base URL.

use super::*;

/// A `POST /v1/responses` body (docs/responses.md has every field).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct CreateResponseRequest {
    /// The served model's name (on an endpoint route: any name, unless strict).
    model: Option<String>,
    /// A string (one user message), or input items: `message` (`role` and a
    /// string or `input_text` / `output_text` parts), `function_call`,
    /// `function_call_output` (answering an earlier call's `call_id`),
    /// `reasoning` (not shown to the model again), `item_reference` (`id`
    /// of a stored item of the project). At most 10,000 items.
    #[schema(required = true, schema_with = responses_input)]
    input: Value,
    /// A system message put first (not inherited by a continuation).
    instructions: Option<String>,
    /// Flat function tools: `{type: "function", name, description, parameters, strict}`.
    #[schema(max_items = 256, value_type = Option<Vec<FunctionToolDoc>>)]
    tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required`, or `{type: "function", name}`.
    #[schema(schema_with = responses_tool_choice)]
    tool_choice: Option<Value>,
    /// Allow more than one call in a turn. Default true.
    parallel_tool_calls: Option<bool>,
    /// Most tokens to generate (clamped to the context like `max_tokens`).
    #[schema(minimum = 1)]
    max_output_tokens: Option<i64>,
    /// As in chat.
    #[schema(minimum = 0.0, maximum = 2.0)]
    temperature: Option<f64>,
    /// As in chat.
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    top_p: Option<f64>,
    /// `{effort}`: `none` and `minimal` turn the chat template's thinking off.
    #[schema(schema_with = responses_reasoning)]
    reasoning: Option<Value>,
    /// `{format}`: `text`, `json_object`, or `json_schema` (`name`, `schema`,
    /// `strict`), enforced by constrained decoding.
    #[schema(schema_with = responses_text)]
    text: Option<Value>,
    /// Up to 16 string pairs, echoed back.
    #[schema(schema_with = responses_metadata)]
    metadata: Option<Value>,
    /// Stream typed events. Default false.
    stream: Option<bool>,
    /// Keep the response (default true): retrievable by id, continued by
    /// `previous_response_id`.
    store: Option<bool>,
    /// Continue a stored response of the same project; an unknown id is a
    /// 400 `previous_response_not_found` (documented as `null` only, so
    /// that generated bodies do not name responses that do not exist).
    #[schema(schema_with = null_only)]
    previous_response_id: Option<String>,
}

/// A response object (`object: "response"`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct ResponseObjectDoc {
    /// `resp_...`.
    id: String,
    /// `response`.
    object: String,
    /// Unix seconds.
    created_at: i64,
    /// `completed`, `incomplete` (see `incomplete_details`), `failed`,
    /// `cancelled`, or `in_progress` (retrieved while it runs).
    status: String,
    /// `message`, `function_call` and `reasoning` items, in order.
    #[schema(value_type = Vec<Object>)]
    output: Vec<Value>,
    /// `input_tokens`, `input_tokens_details.cached_tokens`, `output_tokens`,
    /// `output_tokens_details.reasoning_tokens`, `total_tokens`.
    #[schema(value_type = Option<Object>)]
    usage: Option<Value>,
}

/// The data of one Responses stream event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct ResponseStreamEventData {
    /// The event's type, the same as its `event:` line.
    #[serde(rename = "type")]
    kind: String,
    /// 0, 1, 2, ... in the order sent.
    sequence_number: i64,
}

/// An event of a `stream: true` response.
pub(super) struct ResponseStreamEvent;

impl PartialSchema for ResponseStreamEvent {
    fn schema() -> RefOr<Schema> {
        stream_event::<ResponseStreamEventData>()
    }
}

impl ToSchema for ResponseStreamEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        shape::register::<ResponseStreamEventData>(schemas);
    }
}

/// Only `null` (or leaving the field out) is accepted.
pub(super) fn null_only() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// `input`: a string or an array of items.
pub(super) fn responses_input() -> RefOr<Schema> {
    shape::one_of([
        shape::string().into(),
        shape::array_of(shape::reference::<InputMessageDoc>())
            .min_items(Some(1))
            .max_items(Some(10_000))
            .into(),
    ])
}

/// `tool_choice`: a mode (a function, `{type: "function", name}`, is
/// accepted too when `tools` offers it; left out here so that generated
/// bodies do not name functions they do not offer).
pub(super) fn responses_tool_choice() -> RefOr<Schema> {
    shape::one_of([
        shape::string_enum(&["auto", "none", "required"]).into(),
        ObjectBuilder::new().schema_type(Type::Null).into(),
    ])
}

/// `reasoning`: `{effort}`.
pub(super) fn responses_reasoning() -> RefOr<Schema> {
    let effort = ["none", "minimal", "low", "medium", "high", "xhigh"];
    shape::one_of([
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("effort", shape::string_enum(&effort))
            .into(),
        ObjectBuilder::new().schema_type(Type::Null).into(),
    ])
}

/// `text`: `{format: {type}}` (a `json_schema` format also takes `name`,
/// `schema` and `strict`).
pub(super) fn responses_text() -> RefOr<Schema> {
    let format = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("type", shape::string_enum(&["text", "json_object"]))
        .required("type");
    shape::one_of([
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("format", format)
            .into(),
        ObjectBuilder::new().schema_type(Type::Null).into(),
    ])
}

/// `metadata`: up to 16 string values.
pub(super) fn responses_metadata() -> RefOr<Schema> {
    shape::one_of([
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(shape::string()))
            .max_properties(Some(16))
            .into(),
        ObjectBuilder::new().schema_type(Type::Null).into(),
    ])
}

/// A message item of `input` (function calls, their outputs and reasoning
/// items are accepted too: docs/responses.md).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct InputMessageDoc {
    /// `message` (may be left out when `role` is given).
    #[serde(rename = "type")]
    #[schema(schema_with = message_item_type)]
    kind: Option<String>,
    /// `user`, `system`, `developer` or `assistant`.
    #[schema(schema_with = input_role)]
    role: String,
    /// The text (or `input_text` / `output_text` parts).
    content: String,
}

pub(super) fn message_item_type() -> ObjectBuilder {
    shape::string_enum(&["message"])
}

pub(super) fn input_role() -> ObjectBuilder {
    shape::string_enum(&["user", "system", "developer", "assistant"])
}

/// A function tool, flat as the Responses API has it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct FunctionToolDoc {
    /// `function`.
    #[serde(rename = "type")]
    #[schema(schema_with = function_tool_type)]
    kind: String,
    /// The function's name.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-zA-Z0-9_-]+$")]
    name: String,
    /// What it does.
    description: Option<String>,
    /// A JSON schema of its arguments.
    #[schema(value_type = Option<Object>)]
    parameters: Option<Value>,
    /// Constrain the arguments to `parameters`.
    strict: Option<bool>,
}

pub(super) fn function_tool_type() -> ObjectBuilder {
    shape::string_enum(&["function"])
}

#[utoipa::path(
    post,
    path = "/v1/responses",
    tag = "generation",
    request_body = CreateResponseRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The response: one JSON object, or with `stream: true` \
            server-sent events (`event: <type>` and `data: {...}` with `type` and \
            `sequence_number`), ending in exactly one `response.completed`, \
            `response.incomplete` or `response.failed` holding the whole response.",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_output_tokens` was lowered to fit the context")),
            content((ResponseObjectDoc = "application/json"), (ResponseStreamEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it \
            (`input[3].type`, ...)", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`model` is not a served model (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        RateLimited,
        (status = 500, description = "The server failed", body = ErrorBody),
        Unavailable,
    )
)]
#[allow(dead_code)]
pub(super) fn create_response() {}

#[utoipa::path(
    post,
    path = "/{project}/{slug}/v1/responses",
    tag = "generation",
    params(EndpointPath),
    request_body = CreateResponseRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "As `POST /v1/responses`, served by the endpoint's model.",
            headers(("x-xerotier-max-tokens-clamped" = String, description = "`true` when `max_output_tokens` was lowered to fit the context")),
            content((ResponseObjectDoc = "application/json"), (ResponseStreamEvent = "text/event-stream"))),
        (status = 400, description = "A field of the wrong kind or out of range; `param` names it", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No such project or endpoint, or a project the key does not \
            belong to (code `not_found`); or, on a strict endpoint, a `model` that is not its \
            own (code `model_not_found`)", body = ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = ErrorBody),
        RateLimited,
        (status = 500, description = "The server failed", body = ErrorBody),
        Unavailable,
    )
)]
#[allow(dead_code)]
pub(super) fn endpoint_create_response() {}

/// The id of a stored response.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct ResponseIdPath {
    /// `resp_...`, as `POST /v1/responses` returned it.
    response_id: String,
}

/// The id of a stored response on an endpoint route.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct EndpointResponseIdPath {
    /// The project's id.
    project: String,
    /// The endpoint's slug.
    slug: String,
    /// `resp_...`, as `POST .../v1/responses` returned it.
    response_id: String,
}

/// What deleting a stored response answers.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct DeletedResponse {
    /// The id.
    id: String,
    /// `response`.
    object: String,
    /// `true`.
    deleted: bool,
}

#[utoipa::path(get, path = "/v1/responses/{response_id}", tag = "generation",
    params(ResponseIdPath, ReplayQueryDoc), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The stored response, as it was returned (one still \
            running: as it began, `in_progress`); with `stream=true`, its events again",
            content((ResponseObjectDoc = "application/json"), (ResponseStreamEvent = "text/event-stream"))),
        (status = 400, description = "`stream` or `starting_after` of the wrong kind, or \
            `stream=true` for a response still running", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No stored response with that id in the caller's project \
            (another project's answers the same)", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn retrieve_response() {}

#[utoipa::path(delete, path = "/v1/responses/{response_id}", tag = "generation",
    params(ResponseIdPath), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        Unauthorized,
        (status = 404, description = "No stored response with that id in the caller's project", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn delete_response() {}

#[utoipa::path(get, path = "/{project}/{slug}/v1/responses/{response_id}", tag = "generation",
    params(EndpointResponseIdPath, ReplayQueryDoc), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "As on `/v1`",
            content((ResponseObjectDoc = "application/json"), (ResponseStreamEvent = "text/event-stream"))),
        (status = 400, description = "`stream` or `starting_after` of the wrong kind, or \
            `stream=true` for a response still running", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No such project or endpoint (code `not_found`), or no stored \
            response with that id in the project", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn endpoint_retrieve_response() {}

#[utoipa::path(delete, path = "/{project}/{slug}/v1/responses/{response_id}", tag = "generation",
    params(EndpointResponseIdPath), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        Unauthorized,
        (status = 404, description = "No such project or endpoint (code `not_found`), or no stored \
            response with that id in the project", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn endpoint_delete_response() {}

/// How the input items are paged.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct InputItemsQuery {
    /// `desc` (newest first, the default) or `asc`.
    #[param(schema_with = item_order)]
    order: Option<String>,
    /// List the items after the item with this id.
    after: Option<String>,
    /// How many items, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

fn item_order() -> ObjectBuilder {
    shape::string_enum(&["asc", "desc"])
}

/// A page of a stored response's input items.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct InputItemList {
    /// `list`.
    object: String,
    /// The items (`message` with typed content parts, `function_call`,
    /// `function_call_output`, `reasoning`), each with its `id`.
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
    /// The first item's id (null when empty).
    first_id: Option<String>,
    /// The last item's id (null when empty).
    last_id: Option<String>,
    /// Whether more items follow `last_id`.
    has_more: bool,
}

#[utoipa::path(get, path = "/v1/responses/{response_id}/input_items", tag = "generation",
    params(ResponseIdPath, InputItemsQuery), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The input items the response was given (its own turn's)", body = InputItemList),
        (status = 400, description = "`limit`, `order` or `after` out of range; `param` names it", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No stored response with that id in the caller's project", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn list_input_items() {}

#[utoipa::path(get, path = "/{project}/{slug}/v1/responses/{response_id}/input_items", tag = "generation",
    params(EndpointResponseIdPath, InputItemsQuery), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "As on `/v1`", body = InputItemList),
        (status = 400, description = "`limit`, `order` or `after` out of range; `param` names it", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No such project or endpoint (code `not_found`), or no stored \
            response with that id in the project", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn endpoint_list_input_items() {}

#[utoipa::path(post, path = "/v1/responses/{response_id}/cancel", tag = "generation",
    params(ResponseIdPath), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The response, stopped: status `cancelled` (or `in_progress` \
            when it did not wind down within 10 s)", body = ResponseObjectDoc),
        (status = 400, description = "The response has already finished", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No response with that id in the caller's project", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn cancel_response() {}

#[utoipa::path(post, path = "/{project}/{slug}/v1/responses/{response_id}/cancel", tag = "generation",
    params(EndpointResponseIdPath), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "As on `/v1`", body = ResponseObjectDoc),
        (status = 400, description = "The response has already finished", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "No such project or endpoint (code `not_found`), or no \
            response with that id in the project", body = ErrorBody),
        (status = 500, description = "The server failed", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(super) fn endpoint_cancel_response() {}

/// How a stored response is read back.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct ReplayQueryDoc {
    /// `true`: its events again, as a stream (`false` by default).
    stream: Option<bool>,
    /// With `stream`: only the events after this sequence number.
    #[param(minimum = 0)]
    starting_after: Option<i64>,
}
