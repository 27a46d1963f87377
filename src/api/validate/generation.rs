//! Validation of what chat and completions share: sampling ranges, `n`,
//! `stop`, streaming options and `response_format`.

use serde_json::{Number, Value};

use super::{
    ResponseOptions, ValidRequest, MAX_N, MAX_SCHEMA_BYTES, MAX_STOP, MAX_STOP_CHARS,
    MAX_STOP_TOKEN_IDS,
};
use crate::api::error::ApiError;
use crate::api::wire::generation::{GenerationParams, ResponseFormat, Stop};
use crate::engine::request::{Constraint, GenerateRequest, Prompt, SamplingParams, Tenant};

/// A numeric range for error messages that name the limits.
#[derive(Clone, Copy)]
struct Range {
    lo: f64,
    hi: f64,
    lo_open: bool,
}

impl Range {
    const fn closed(lo: f64, hi: f64) -> Self {
        Self {
            lo,
            hi,
            lo_open: false,
        }
    }

    const fn left_open(lo: f64, hi: f64) -> Self {
        Self {
            lo,
            hi,
            lo_open: true,
        }
    }

    fn contains(&self, x: f64) -> bool {
        let above = if self.lo_open {
            x > self.lo
        } else {
            x >= self.lo
        };
        above && x <= self.hi
    }

    fn describe(&self) -> String {
        if self.lo_open {
            format!("greater than {} and at most {}", self.lo, self.hi)
        } else {
            format!("between {} and {}", self.lo, self.hi)
        }
    }
}

/// A number checked against `range`; the error quotes it as it was sent.
fn number_in(name: &str, v: Option<&Number>, range: Range) -> Result<Option<f32>, ApiError> {
    let Some(n) = v else {
        return Ok(None);
    };
    // Always `Some` for serde_json's numbers (no arbitrary precision).
    let x = n.as_f64().unwrap_or(f64::INFINITY);
    if !range.contains(x) {
        return Err(ApiError::invalid(
            name,
            format!("{name} must be {}, got {n}", range.describe()),
        ));
    }
    // The engine gets an f32, which must be in range too: a value above an
    // open bound that rounds onto it (`top_p: 1e-50` is 0 as an f32) gets
    // the nearest f32 inside the range, as the client's value is valid.
    let mut engine = x as f32;
    if !range.contains(f64::from(engine)) {
        engine = (range.lo as f32).next_up();
    }
    Ok(Some(engine))
}

/// An integer in `[lo, hi]` (`hi == i128::MAX`: no upper bound).
pub(super) fn int_in(
    name: &str,
    v: Option<i128>,
    lo: i128,
    hi: i128,
) -> Result<Option<i128>, ApiError> {
    let Some(x) = v else {
        return Ok(None);
    };
    if x < lo || x > hi {
        let what = if hi == i128::MAX {
            format!("at least {lo}")
        } else {
            format!("between {lo} and {hi}")
        };
        return Err(ApiError::invalid(
            name,
            format!("{name} must be {what}, got {x}"),
        ));
    }
    Ok(Some(x))
}

/// A `max_tokens`-like field: an integer of at least 1.
pub(super) fn positive(name: &str, v: Option<i128>) -> Result<Option<usize>, ApiError> {
    Ok(int_in(name, v, 1, i128::MAX)?.map(|x| usize::try_from(x).unwrap_or(usize::MAX)))
}

/// The fields chat and completions share: sampling, n, stop, stream.
pub(super) fn common(
    p: GenerationParams,
    model: String,
    prompt: Prompt,
    logprobs: Option<usize>,
    max_tokens: Option<usize>,
    echo: bool,
) -> Result<ValidRequest, ApiError> {
    let d = SamplingParams::default();
    let temperature = number_in(
        "temperature",
        p.temperature.as_ref(),
        Range::closed(0.0, 2.0),
    )?;
    let top_p = number_in("top_p", p.top_p.as_ref(), Range::left_open(0.0, 1.0))?;
    let min_p = number_in("min_p", p.min_p.as_ref(), Range::closed(0.0, 1.0))?;
    let presence = number_in(
        "presence_penalty",
        p.presence_penalty.as_ref(),
        Range::closed(-2.0, 2.0),
    )?;
    let frequency = number_in(
        "frequency_penalty",
        p.frequency_penalty.as_ref(),
        Range::closed(-2.0, 2.0),
    )?;
    let repetition = number_in(
        "repetition_penalty",
        p.repetition_penalty.as_ref(),
        Range::left_open(0.0, 2.0),
    )?;
    let top_k = match p.top_k {
        None | Some(-1) | Some(0) => 0,
        Some(k) if k >= 1 => usize::try_from(k).unwrap_or(usize::MAX),
        Some(k) => {
            return Err(ApiError::invalid(
                "top_k",
                format!("top_k must be -1 or 0 (disabled) or at least 1, got {k}"),
            ))
        }
    };
    // Seeds: some clients send negative ones; the bits are what matter.
    let seed = match p.seed {
        None => None,
        Some(i) if i >= i128::from(i64::MIN) && i <= i128::from(u64::MAX) => {
            Some(if i < 0 { i as i64 as u64 } else { i as u64 })
        }
        Some(i) => {
            return Err(ApiError::invalid(
                "seed",
                format!("seed must fit in 64 bits, got {i}"),
            ))
        }
    };
    let n = int_in("n", p.n, 1, MAX_N as i128)?.unwrap_or(1) as usize;
    let stop = stop_strings(p.stop)?;
    let stop_token_ids = p.stop_token_ids.map(|ids| ids.0).unwrap_or_default();
    if stop_token_ids.len() > MAX_STOP_TOKEN_IDS {
        return Err(ApiError::invalid(
            "stop_token_ids",
            format!(
                "stop_token_ids may hold at most {MAX_STOP_TOKEN_IDS} ids, got {}",
                stop_token_ids.len()
            ),
        ));
    }
    let stream = p.stream.unwrap_or(false);
    let so = p.stream_options.unwrap_or_default();

    let params = SamplingParams {
        temperature: temperature.unwrap_or(d.temperature),
        top_k,
        top_p: top_p.unwrap_or(d.top_p),
        min_p: min_p.unwrap_or(d.min_p),
        seed: seed.unwrap_or(0),
        presence_penalty: presence.unwrap_or(d.presence_penalty),
        frequency_penalty: frequency.unwrap_or(d.frequency_penalty),
        repetition_penalty: repetition.unwrap_or(d.repetition_penalty),
        logprobs,
        // Placeholder until the request actor clamps it to the context's room.
        max_tokens: max_tokens.unwrap_or(usize::MAX),
        ignore_eos: p.ignore_eos.unwrap_or(false),
        stop_token_ids,
    };
    Ok(ValidRequest {
        model,
        generate: GenerateRequest {
            tenant: Tenant::default(),
            prompt,
            params,
            max_tokens,
            seed,
            n,
            stop,
            skip_special_tokens: p.skip_special_tokens.unwrap_or(true),
            cache_salt: p.cache_salt,
            parse_tool_calls: false,
            constraint: None,
            gate: None,
        },
        options: ResponseOptions {
            stream,
            include_usage: stream && so.include_usage.unwrap_or(false),
            continuous_usage: stream && so.continuous_usage_stats.unwrap_or(false),
            logprobs,
            echo,
            return_token_ids: p.return_token_ids.unwrap_or(false),
        },
    })
}

/// `stop`: at most [`MAX_STOP`] strings. Empty strings are dropped (they
/// would stop before the first token).
fn stop_strings(stop: Option<Stop>) -> Result<Vec<String>, ApiError> {
    let one = matches!(stop, Some(Stop::One(_)));
    let list = match stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(items)) => {
            if items.len() > MAX_STOP {
                return Err(ApiError::invalid(
                    "stop",
                    format!(
                        "stop may hold at most {MAX_STOP} strings, got {}",
                        items.len()
                    ),
                ));
            }
            items
        }
    };
    for (i, s) in list.iter().enumerate() {
        let chars = s.chars().count();
        if chars > MAX_STOP_CHARS {
            return Err(ApiError::invalid(
                if one {
                    "stop".to_string()
                } else {
                    format!("stop[{i}]")
                },
                format!(
                    "a stop string may be at most {MAX_STOP_CHARS} characters long, got {chars}"
                ),
            ));
        }
    }
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

/// `response_format`: `{type: "text"}` (no constraint), `{type:
/// "json_object"}` or `{type: "json_schema", json_schema: {name?, schema?,
/// strict?}}`. Only the shape is checked here; whether the grammar library
/// accepts the schema is known when the request starts (a rejected schema
/// is a 400 naming `response_format.json_schema.schema`).
pub(super) fn response_format(rf: Option<&ResponseFormat>) -> Result<Option<Constraint>, ApiError> {
    let Some(rf) = rf else {
        return Ok(None);
    };
    match rf.kind.as_deref() {
        None => Err(ApiError::invalid(
            "response_format.type",
            "response_format.type is required (text, json_object or json_schema)",
        )),
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Constraint::JsonObject)),
        Some("json_schema") => {
            const PATH: &str = "response_format.json_schema";
            let Some(js) = &rf.json_schema else {
                return Err(ApiError::invalid(
                    "response_format.json_schema",
                    "response_format.json_schema is required when response_format.type is json_schema",
                ));
            };
            let js = js.read(PATH)?;
            Ok(Some(match js.schema {
                // No schema: any JSON object (OpenAI makes `schema` optional).
                None => Constraint::JsonObject,
                Some(schema) => Constraint::JsonSchema {
                    schema: {
                        let schema = Value::Object(schema.0);
                        check_schema_size(&schema, "response_format.json_schema.schema")?;
                        schema
                    },
                    strict: js.strict.unwrap_or(false),
                },
            }))
        }
        Some(other) => Err(ApiError::invalid(
            "response_format.type",
            format!("response_format.type must be text, json_object or json_schema, got `{other}`"),
        )),
    }
}

/// A schema must be no larger than [`MAX_SCHEMA_BYTES`] of compact JSON.
pub(super) fn check_schema_size(schema: &Value, path: &str) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(schema)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if bytes > MAX_SCHEMA_BYTES {
        return Err(ApiError::invalid(
            path,
            format!("{path} may be at most {MAX_SCHEMA_BYTES} bytes of JSON, got {bytes}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::{number_in, response_format, Range};
    use crate::api::wire::{self, generation::GenerationParams};
    use crate::engine::request::Constraint;

    fn format(rf: Value) -> Result<Option<Constraint>, String> {
        let mut body = Map::new();
        body.insert("response_format".into(), rf);
        let p: GenerationParams = wire::parse(&body).map_err(|e| e.param.unwrap_or_default())?;
        response_format(p.response_format.as_ref()).map_err(|e| e.param.unwrap_or_default())
    }

    #[test]
    fn json_schema_is_read_only_for_its_type() {
        assert_eq!(format(json!({"type": "text", "json_schema": 5})), Ok(None));
        assert_eq!(
            format(json!({"type": "json_schema", "json_schema": 5})),
            Err("response_format.json_schema".into())
        );
        assert_eq!(
            format(json!({"type": "json_schema", "json_schema": {"name": 1}})),
            Err("response_format.json_schema.name".into())
        );
        assert_eq!(
            format(json!({"type": "json_schema", "json_schema": {"schema": {"type": "object"}}})),
            Ok(Some(Constraint::JsonSchema {
                schema: json!({"type": "object"}),
                strict: false
            }))
        );
    }

    #[test]
    fn a_range_holds_for_the_f32_the_engine_gets() {
        // Found by the `validate` fuzz target's invariant: 1e-50 is in
        // (0, 1] as an f64, but the engine's f32 would be 0. The value is
        // valid (as the OpenAPI document says), so it is accepted and the
        // engine gets the smallest positive f32 instead.
        let tiny: serde_json::Number = serde_json::from_str("1e-50").unwrap();
        let got = number_in("top_p", Some(&tiny), Range::left_open(0.0, 1.0))
            .unwrap()
            .unwrap();
        assert!(got > 0.0 && got == 0.0f32.next_up(), "{got}");
        // Out of range as an f64 stays refused, though its f32 is 1.
        let close: serde_json::Number = serde_json::from_str("1.00000000001").unwrap();
        assert!(number_in("top_p", Some(&close), Range::left_open(0.0, 1.0)).is_err());
        // Small but still above 0 as an f32: accepted.
        let small: serde_json::Number = serde_json::from_str("1e-30").unwrap();
        assert_eq!(
            number_in("top_p", Some(&small), Range::left_open(0.0, 1.0)).unwrap(),
            Some(1e-30)
        );
    }
}
