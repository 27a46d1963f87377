//! What chat and completions requests share: sampling, the number of
//! choices, stop conditions, streaming, `response_format`; and the small
//! typed values they are built from (token ids, stop strings, schemas).

use serde::de::{self, MapAccess, SeqAccess};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::api::openapi::shape;
use crate::api::validate::{MAX_STOP, MAX_STOP_CHARS};

use super::expect::{elements, expect, expect_object, integer, number_kind, Expect};
use super::Dependent;

/// The fields `/v1/chat/completions` and `/v1/completions` both read.
/// Ranges are checked by validation, which names the limit it broke.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct GenerationParams {
    /// The served model's name, exact and case-sensitive (checked first).
    #[serde(default, deserialize_with = "expect")]
    #[schema(required = true, nullable = false)]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2; 0 is greedy. Default 1.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 2)]
    pub temperature: Option<Number>,
    /// Nucleus sampling: greater than 0, at most 1. Default 1 (off).
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 1)]
    pub top_p: Option<Number>,
    /// vLLM: keep the k likeliest tokens; -1 or 0 is off, else at least 1.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<i64>, minimum = -1)]
    pub top_k: Option<i128>,
    /// vLLM: drop tokens below this fraction of the likeliest, 0 to 1. Default 0.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1)]
    pub min_p: Option<Number>,
    /// Penalty per token already present, -2 to 2. Default 0.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<f64>, minimum = -2, maximum = 2)]
    pub presence_penalty: Option<Number>,
    /// Penalty per occurrence of a token, -2 to 2. Default 0.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<f64>, minimum = -2, maximum = 2)]
    pub frequency_penalty: Option<Number>,
    /// vLLM: multiplicative repetition penalty, greater than 0, at most 2. Default 1.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 2)]
    pub repetition_penalty: Option<Number>,
    /// Seed of the sampler: any integer that fits in 64 bits (negative ones
    /// are read as their two's-complement bits). Absent: seed 0.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<i64>)]
    pub seed: Option<i128>,
    /// Number of choices, 1 to 128. Default 1.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 128)]
    pub n: Option<i128>,
    /// Most tokens to generate, at least 1. Above the context's room it is
    /// clamped, not refused. Chat's newer name is `max_completion_tokens`.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub max_tokens: Option<i128>,
    /// Strings that end a choice (not included in its text): one string or
    /// up to 16; empty strings are ignored.
    #[serde(default, deserialize_with = "expect")]
    pub stop: Option<Stop>,
    /// vLLM: token ids that end a choice, besides the model's end of sequence.
    #[serde(default, deserialize_with = "expect")]
    pub stop_token_ids: Option<TokenIds>,
    /// vLLM: keep generating past end of sequence (benchmarks). Default false.
    #[serde(default, deserialize_with = "expect")]
    pub ignore_eos: Option<bool>,
    /// vLLM: leave special tokens out of the text. Default true.
    #[serde(default, deserialize_with = "expect")]
    pub skip_special_tokens: Option<bool>,
    /// vLLM: a salt for the prefix cache; requests share cached prefixes
    /// only when their salts are equal.
    #[serde(default, deserialize_with = "expect")]
    pub cache_salt: Option<String>,
    /// Answer as server-sent events. Default false.
    #[serde(default, deserialize_with = "expect")]
    pub stream: Option<bool>,
    /// What a stream reports besides the tokens (only read when streaming).
    #[serde(default, deserialize_with = "expect")]
    pub stream_options: Option<StreamOptions>,
    /// The shape the output must take (enforced by constrained decoding).
    #[serde(default, deserialize_with = "expect")]
    pub response_format: Option<ResponseFormat>,
    /// vLLM: put each choice's generated token ids in a whole reply. Default false.
    #[serde(default, deserialize_with = "expect")]
    pub return_token_ids: Option<bool>,
}

/// `stream_options`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a final chunk with the usage (and `usage: null` on the others).
    #[serde(default, deserialize_with = "expect")]
    pub include_usage: Option<bool>,
    /// vLLM: running usage on every chunk.
    #[serde(default, deserialize_with = "expect")]
    pub continuous_usage_stats: Option<bool>,
}

/// `response_format`: `{type: "text" | "json_object" | "json_schema", json_schema?}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct ResponseFormat {
    /// `text` (free), `json_object` (any JSON object) or `json_schema`. Required.
    #[schema(required = true, schema_with = shape::response_format_type)]
    #[serde(default, rename = "type", deserialize_with = "expect")]
    pub kind: Option<String>,
    /// The schema; required when `type` is `json_schema` (and only read then).
    #[serde(default)]
    #[schema(value_type = Option<JsonSchemaFormat>)]
    pub json_schema: Option<Dependent<JsonSchemaFormat>>,
}

/// `response_format.json_schema`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct JsonSchemaFormat {
    /// The schema's name (not used beyond its type check).
    #[serde(default, deserialize_with = "expect")]
    pub name: Option<String>,
    /// The JSON schema the output must match. Absent: any JSON object.
    #[serde(default, deserialize_with = "expect")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<SchemaObject>,
    /// OpenAI's strict mode: no properties beyond the schema's. Default false.
    #[serde(default, deserialize_with = "expect")]
    pub strict: Option<bool>,
}

expect_object!(StreamOptions, ResponseFormat, JsonSchemaFormat);

/// A JSON schema: an object, kept as given for the grammar library.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchemaObject(pub Map<String, Value>);

impl<'de> Expect<'de> for SchemaObject {
    const EXPECTED: &'static str = "a JSON schema object";

    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Map::deserialize(de::value::MapAccessDeserializer::new(map)).map(Self)
    }
}

/// `stop`: one string, or an array of strings.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// `"stop": "\n"`.
    One(String),
    /// `"stop": ["\n", "END"]`.
    Many(Vec<String>),
}

impl PartialSchema for Stop {
    fn schema() -> RefOr<Schema> {
        let stop = || shape::string().max_length(Some(MAX_STOP_CHARS));
        let many = shape::array_of(stop()).max_items(Some(MAX_STOP));
        shape::one_of([stop().into(), many.into()])
    }
}

impl ToSchema for Stop {}

impl<'de> Expect<'de> for Stop {
    const EXPECTED: &'static str = "a string or an array of strings";

    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(Self::One(v.to_owned()))
    }

    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        elements(seq).map(Self::Many)
    }
}

/// A token id: a non-negative integer that fits in 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
pub struct TokenId(pub u32);

impl<'de> Expect<'de> for TokenId {
    const EXPECTED: &'static str = "a token id (a non-negative integer)";

    fn from_number<E: de::Error>(n: Number) -> Result<Self, E> {
        match integer(&n) {
            Some(i) => u32::try_from(i)
                .map(Self)
                .map_err(|_| E::custom(format_args!("must be {}, got {i}", Self::EXPECTED))),
            None => Err(Self::mismatch(number_kind(&n))),
        }
    }
}

/// An array of token ids.
#[derive(Clone, Debug, Default, PartialEq, Eq, ToSchema)]
pub struct TokenIds(pub Vec<u32>);

impl<'de> Expect<'de> for TokenIds {
    const EXPECTED: &'static str = "an array of token ids";

    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        let ids: Vec<TokenId> = elements(seq)?;
        Ok(Self(ids.into_iter().map(|t| t.0).collect()))
    }
}
