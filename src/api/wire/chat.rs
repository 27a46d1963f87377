//! `POST /v1/chat/completions` bodies: the conversation (messages, content
//! parts, tools; shared with `/tokenize`) and the chat-only options
//! (`tool_choice`, chat's `logprobs`).
//!
//! The chat template receives `messages` and `tools` as the client sent
//! them (templates read keys weir does not know, such as
//! `reasoning_content`), so these types hold only the fields weir reads.

use serde::de::{self, MapAccess, SeqAccess};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::expect::{elements, expect, expect_object, object, Expect};
use super::generation::GenerationParams;
use super::{parse, Dependent};
use crate::api::error::ApiError;
use crate::api::openapi::shape;

/// A whole chat-completions body, read as three parts of the same object
/// (its schema is all three: `allOf`).
#[derive(Clone, Debug, Default, ToSchema)]
pub struct ChatCompletionRequest {
    /// The conversation to render.
    #[serde(flatten)]
    pub conversation: ChatConversation,
    /// Chat's own options.
    #[serde(flatten)]
    pub chat: ChatParams,
    /// What chat shares with completions.
    #[serde(flatten)]
    pub generation: GenerationParams,
}

impl ChatCompletionRequest {
    /// Read a body; the first field of a wrong type is a 400 naming it.
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        Ok(Self {
            conversation: parse(body)?,
            chat: parse(body)?,
            generation: parse(body)?,
        })
    }
}

/// What the chat template renders: the fields of chat-completions and
/// `/tokenize` bodies that make the prompt.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct ChatConversation {
    /// The conversation so far; required, at least one message.
    #[schema(required = true, nullable = false, min_items = 1, max_items = 10000)]
    #[serde(default, deserialize_with = "expect")]
    pub messages: Option<Vec<Message>>,
    /// Functions the model may call. An empty array is no tools.
    #[schema(max_items = 256)]
    #[serde(default, deserialize_with = "expect")]
    pub tools: Option<Vec<Tool>>,
    /// vLLM: end the prompt with the assistant's header. Default true.
    #[serde(default, deserialize_with = "expect")]
    pub add_generation_prompt: Option<bool>,
    /// vLLM: continue the last (assistant) message instead (not supported yet).
    #[serde(default, deserialize_with = "expect")]
    pub continue_final_message: Option<bool>,
    /// vLLM: extra variables for the chat template (`enable_thinking`, ...).
    #[schema(value_type = Option<Object>)]
    #[serde(default, deserialize_with = "expect")]
    pub chat_template_kwargs: Option<Map<String, Value>>,
}

/// Chat-only options.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct ChatParams {
    /// `none`, `auto` (the default when tools are offered), `required`, or
    /// `{type: "function", function: {name}}` to force that function.
    #[serde(default, deserialize_with = "expect")]
    pub tool_choice: Option<ToolChoice>,
    /// With `tool_choice: required`: allow more than one call. Default true.
    #[serde(default, deserialize_with = "expect")]
    pub parallel_tool_calls: Option<bool>,
    /// Return each token's logprob. Default false.
    #[serde(default, deserialize_with = "expect")]
    pub logprobs: Option<bool>,
    /// Alternatives per token with `logprobs`, 0 to 20.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 20)]
    #[serde(default, deserialize_with = "expect")]
    pub top_logprobs: Option<i128>,
    /// Most tokens to generate, at least 1 (the newer name of `max_tokens`,
    /// which it overrides).
    #[schema(value_type = Option<i64>, minimum = 1)]
    #[serde(default, deserialize_with = "expect")]
    pub max_completion_tokens: Option<i128>,
}

/// One message of the conversation.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct Message {
    /// `system`, `developer` (read as `system`), `user`, `assistant` or `tool`. Required.
    #[schema(required = true, schema_with = shape::message_role)]
    #[serde(default, deserialize_with = "expect")]
    pub role: Option<String>,
    /// The text: a string or content parts. Required except for `assistant`.
    #[serde(default, deserialize_with = "expect")]
    pub content: Option<MessageContent>,
    /// The author's name.
    #[serde(default, deserialize_with = "expect")]
    pub name: Option<String>,
    /// `assistant`: the calls it made (read for assistant messages only).
    #[schema(value_type = Option<Vec<AssistantToolCall>>)]
    #[serde(default)]
    pub tool_calls: Option<Dependent<Vec<AssistantToolCall>>>,
    /// `tool`: the id of the earlier call this message answers (read for
    /// tool messages only).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub tool_call_id: Option<Dependent<String>>,
}

/// A message's `content`.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Content parts (only text parts are supported; they are joined with "\n").
    Parts(Vec<ContentPart>),
}

impl PartialSchema for MessageContent {
    fn schema() -> RefOr<Schema> {
        shape::one_of([
            shape::string().into(),
            shape::array_of(shape::reference::<ContentPart>()).into(),
        ])
    }
}

impl ToSchema for MessageContent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        shape::register::<ContentPart>(schemas);
    }
}

impl<'de> Expect<'de> for MessageContent {
    const EXPECTED: &'static str = "a string or an array of content parts";

    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(Self::Text(v.to_owned()))
    }

    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        elements(seq).map(Self::Parts)
    }
}

/// One element of a content array.
#[derive(Clone, Debug, PartialEq)]
pub enum ContentPart {
    /// A bare string, read as a text part (lenient).
    Bare(String),
    /// `{type, text?, ...}`.
    Typed(TypedContentPart),
}

/// A content part object.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
pub struct TypedContentPart {
    /// `text` (or the Responses API's `input_text`); other types are refused. Required.
    #[schema(required = true, schema_with = shape::content_part_type)]
    #[serde(default, rename = "type", deserialize_with = "expect")]
    pub kind: Option<String>,
    /// The text of a text part. Required for text parts.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub text: Option<String>,
}

impl PartialSchema for ContentPart {
    fn schema() -> RefOr<Schema> {
        shape::one_of([
            shape::string().into(),
            shape::reference::<TypedContentPart>(),
        ])
    }
}

impl ToSchema for ContentPart {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        shape::register::<TypedContentPart>(schemas);
    }
}

impl<'de> Expect<'de> for ContentPart {
    const EXPECTED: &'static str = "a content part object";

    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(Self::Bare(v.to_owned()))
    }

    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        object(map).map(Self::Typed)
    }
}

/// One call in an assistant message's `tool_calls`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct AssistantToolCall {
    /// The call's id, which a later `tool` message answers (a string; any
    /// other value is ignored, as if absent).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub id: Option<Value>,
    /// `function` (the only type).
    #[serde(default, rename = "type", deserialize_with = "expect")]
    pub kind: Option<FunctionType>,
    /// The function called. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub function: Option<FunctionCall>,
}

/// The function of an assistant's tool call.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct FunctionCall {
    /// The function's name. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub name: Option<String>,
    /// Its arguments, usually a JSON string; handed to the template as given.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// One entry of `tools`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct Tool {
    /// `function` (the only type).
    #[serde(default, rename = "type", deserialize_with = "expect")]
    pub kind: Option<FunctionType>,
    /// The function offered. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub function: Option<FunctionDefinition>,
}

/// A function offered to the model.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct FunctionDefinition {
    /// Its name. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub name: Option<String>,
    /// What it does, for the model; handed to the template as given.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub description: Option<Value>,
    /// The JSON schema of its arguments. Absent: any object.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub parameters: Option<Value>,
}

expect_object!("an object with a name"; FunctionCall, FunctionDefinition);

/// The `type` of a tool or a tool call: only `function` exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionType;

impl PartialSchema for FunctionType {
    fn schema() -> RefOr<Schema> {
        shape::string_enum(&["function"]).into()
    }
}

impl ToSchema for FunctionType {}

impl FunctionType {
    fn refuse<E: de::Error>(got: impl std::fmt::Display) -> E {
        E::custom(format_args!("must be 'function', got {got}"))
    }
}

impl<'de> Expect<'de> for FunctionType {
    const EXPECTED: &'static str = "'function'";

    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        match v {
            "function" => Ok(Self),
            other => Err(Self::refuse(Value::from(other))),
        }
    }

    fn from_bool<E: de::Error>(v: bool) -> Result<Self, E> {
        Err(Self::refuse(v))
    }

    fn from_number<E: de::Error>(n: Number) -> Result<Self, E> {
        Err(Self::refuse(n))
    }
}

/// `tool_choice`.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolChoice {
    /// `none`, `auto` or `required` (others are refused by validation).
    Mode(String),
    /// `{type: "function", function: {name}}`.
    Function(NamedToolChoice),
}

/// `tool_choice` naming a function.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
pub struct NamedToolChoice {
    /// The function to call. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub function: Option<NamedFunction>,
}

/// `tool_choice.function`. Any value that is not an object reads as
/// naming no function (validation says so at `tool_choice.function.name`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
pub struct NamedFunction {
    /// One of the offered tools' names. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub name: Option<String>,
}

expect_object!(Message, AssistantToolCall, Tool);

impl<'de> Expect<'de> for NamedFunction {
    const EXPECTED: &'static str = "an object";

    fn from_null<E: de::Error>() -> Result<Self, E> {
        Ok(Self::default())
    }
    fn from_bool<E: de::Error>(_: bool) -> Result<Self, E> {
        Ok(Self::default())
    }
    fn from_number<E: de::Error>(_: Number) -> Result<Self, E> {
        Ok(Self::default())
    }
    fn from_str<E: de::Error>(_: &str) -> Result<Self, E> {
        Ok(Self::default())
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        object(map)
    }
}

impl PartialSchema for ToolChoice {
    fn schema() -> RefOr<Schema> {
        shape::one_of([
            shape::string_enum(&["none", "auto", "required"]).into(),
            shape::reference::<NamedToolChoice>(),
        ])
    }
}

impl ToSchema for ToolChoice {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        shape::register::<NamedToolChoice>(schemas);
    }
}

impl<'de> Expect<'de> for ToolChoice {
    const EXPECTED: &'static str = "a string or an object";

    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(Self::Mode(v.to_owned()))
    }

    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        object(map).map(Self::Function)
    }
}
