//! The request bodies weir accepts, as plain serde types: one file per
//! route (`chat`, `completions`) and the pieces they share (`generation`).
//! This is the accepted schema in one place; `validate` turns these types
//! into the engine's `GenerateRequest`.
//!
//! Rules every type here follows, because clients depend on them:
//! - unknown fields are ignored (never `deny_unknown_fields`);
//! - `null` for an optional field means absent (every field is an `Option`,
//!   defaults are applied by validation);
//! - numbers may arrive as integers or floats;
//! - a value of the wrong JSON kind is a 400 whose `param` is the field's
//!   path, spelled `messages[2].content`, and whose message says what was
//!   expected (see [`expect`]).
//!
//! A field that only some cases read (a message's `tool_calls` for the
//! assistant role) is a [`Dependent`]: kept as sent, typed when read.
//!
//! A route's body is read in parts (e.g. [`chat::ChatCompletionRequest`] is
//! the conversation, the chat options and [`generation::GenerationParams`],
//! each parsed from the same JSON object) rather than with
//! `#[serde(flatten)]`, which would lose the path of a nested error.

pub mod chat;
pub mod completions;
pub mod expect;
pub mod generation;

use std::marker::PhantomData;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::api::error::ApiError;

/// Read a JSON object into a wire type. A field of the wrong kind is a 400
/// naming its path: `temperature must be a number, got string`.
pub fn parse<'de, T: Deserialize<'de>>(body: &'de Map<String, Value>) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let message = format!("{path} {}", e.inner());
        ApiError::invalid(path, message)
    })
}

/// A field read only when another field says so: a message's
/// `tool_calls` for the assistant role alone, `response_format.json_schema`
/// only when the type is `json_schema`. In the other cases it is ignored
/// whatever it holds (or, in a message, handed to the template unread), as
/// it always was; so it is kept as sent and read as `T` on demand.
#[derive(Clone, Debug, PartialEq)]
pub struct Dependent<T> {
    raw: Value,
    read_as: PhantomData<T>,
}

impl<T: for<'de> expect::Expect<'de>> Dependent<T> {
    /// Read the field as `T`; errors name `path` (the field's own path).
    pub fn read(&self, path: &str) -> Result<T, ApiError> {
        parse_at(&self.raw, path)
    }
}

impl<'de, T> Deserialize<'de> for Dependent<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            raw: Value::deserialize(d)?,
            read_as: PhantomData,
        })
    }
}

/// Read a value that sits at `path` of a body; errors name the full path.
pub fn parse_at<'de, T: expect::Expect<'de>>(value: &'de Value, path: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value)
        .map(|Expected(t)| t)
        .map_err(|e| {
            let rel = e.path().to_string();
            let full = match rel.as_str() {
                "." => path.to_owned(),
                r if r.starts_with('[') => format!("{path}{r}"),
                r => format!("{path}.{r}"),
            };
            let message = format!("{full} {}", e.inner());
            ApiError::invalid(full, message)
        })
}

/// Any [`expect::Expect`] type as a `Deserialize` one.
struct Expected<T>(T);

impl<'de, T: expect::Expect<'de>> Deserialize<'de> for Expected<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect::expect(d).map(Self)
    }
}

/// A body's `model` alone (the routes that only check it).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct ModelField {
    /// The served model's name, exact and case-sensitive.
    #[serde(default, deserialize_with = "expect::expect")]
    pub model: Option<String>,
}

/// A `/detokenize` body's `tokens`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct TokensField {
    /// The token ids to decode. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect::expect")]
    pub tokens: Option<generation::TokenIds>,
}
