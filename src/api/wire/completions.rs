//! `POST /v1/completions` bodies (the legacy text completions API).

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::expect::{elements, expect, Expect, ExpectSeed};
use super::generation::{GenerationParams, TokenId};
use super::parse;
use crate::api::error::ApiError;
use crate::api::openapi::shape;

/// A whole completions body, read as two parts of the same object (its
/// schema is both: `allOf`).
#[derive(Clone, Debug, Default, ToSchema)]
pub struct CompletionRequest {
    /// Completions' own fields.
    #[serde(flatten)]
    pub completion: CompletionParams,
    /// What completions shares with chat.
    #[serde(flatten)]
    pub generation: GenerationParams,
}

impl CompletionRequest {
    /// Read a body; the first field of a wrong type is a 400 naming it.
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        Ok(Self {
            completion: parse(body)?,
            generation: parse(body)?,
        })
    }
}

/// Completions-only fields.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct CompletionParams {
    /// The text to continue. Required.
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "expect")]
    pub prompt: Option<CompletionPrompt>,
    /// Text after the completion (insertion); only empty is supported.
    #[schema(value_type = Option<String>, max_length = 0)]
    #[serde(default, deserialize_with = "expect")]
    pub suffix: Option<String>,
    /// Return each token's logprob with this many alternatives, 0 to 20.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 20)]
    #[serde(default, deserialize_with = "expect")]
    pub logprobs: Option<i128>,
    /// Put the prompt in front of each choice's text. Default false.
    #[serde(default, deserialize_with = "expect")]
    pub echo: Option<bool>,
    /// Server-side candidates per choice; only equal to `n` is supported, 1 to 128.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 128)]
    #[serde(default, deserialize_with = "expect")]
    pub best_of: Option<i128>,
}

/// The completions `prompt`. What an array holds is decided by its first
/// element, as OpenAI does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompletionPrompt {
    /// A string, or an array of one string.
    Text(String),
    /// An array of token ids, or an array of one such array (not empty).
    Tokens(Vec<u32>),
    /// Several prompts in one array (refused by validation: one prompt per request).
    Batched,
}

/// The first element of an array `prompt`.
enum FirstItem {
    Text(String),
    Tokens(Vec<u32>),
    Token(u32),
    Other,
}

impl<'de> Expect<'de> for FirstItem {
    const EXPECTED: &'static str = "a prompt";

    fn from_null<E: de::Error>() -> Result<Self, E> {
        Ok(Self::Other)
    }
    fn from_bool<E: de::Error>(_: bool) -> Result<Self, E> {
        Ok(Self::Other)
    }
    fn from_number<E: de::Error>(n: Number) -> Result<Self, E> {
        TokenId::from_number(n).map(|t| Self::Token(t.0))
    }
    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(Self::Text(v.to_owned()))
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        let ids: Vec<TokenId> = elements(seq)?;
        Ok(Self::Tokens(ids.into_iter().map(|t| t.0).collect()))
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::Other)
    }
}

impl PartialSchema for CompletionPrompt {
    /// One prompt per request (a batch of several is refused): a string, an
    /// array of one string, token ids, or an array of one array of them.
    fn schema() -> RefOr<Schema> {
        let ids = || shape::array_of(shape::reference::<TokenId>()).min_items(Some(1));
        let text = || shape::string().min_length(Some(1));
        shape::one_of([
            text().into(),
            shape::array_of(text())
                .min_items(Some(1))
                .max_items(Some(1))
                .into(),
            ids().into(),
            shape::array_of(ids())
                .min_items(Some(1))
                .max_items(Some(1))
                .into(),
        ])
    }
}

impl ToSchema for CompletionPrompt {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        shape::register::<TokenId>(schemas);
    }
}

const PROMPT_SHAPE: &str = "must be a string, an array of one string, or an array of token ids";

impl<'de> Expect<'de> for CompletionPrompt {
    const EXPECTED: &'static str = "a string, an array of one string, or an array of token ids";

    fn mismatch<E: de::Error>(_: &str) -> E {
        E::custom(PROMPT_SHAPE)
    }

    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(Self::Text(v.to_owned()))
    }

    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let Some(first) = seq.next_element_seed(ExpectSeed::<FirstItem>::default())? else {
            return Err(de::Error::custom("must not be empty"));
        };
        let more = |seq: &mut A| -> Result<bool, A::Error> {
            let mut any = false;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                any = true;
            }
            Ok(any)
        };
        match first {
            FirstItem::Text(_) | FirstItem::Tokens(_) if more(&mut seq)? => Ok(Self::Batched),
            FirstItem::Text(s) => Ok(Self::Text(s)),
            FirstItem::Tokens(ids) if ids.is_empty() => Err(de::Error::custom("must not be empty")),
            FirstItem::Tokens(ids) => Ok(Self::Tokens(ids)),
            FirstItem::Token(id) => {
                let mut ids = vec![id];
                while let Some(t) = seq.next_element_seed(ExpectSeed::<TokenId>::default())? {
                    ids.push(t.0);
                }
                Ok(Self::Tokens(ids))
            }
            FirstItem::Other => Err(de::Error::custom(PROMPT_SHAPE)),
        }
    }
}
