//! Request JSON -> [`GenerateRequest`] ("parse, don't validate").
//!
//! The body is first parsed into a `serde_json::Value`, then each known field
//! is read with its type and range checked, so every error names its field
//! ("temperature must be between 0 and 2, got 3") and unknown fields are
//! accepted and ignored. Nothing downstream sees unchecked input.

use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::engine::request::{
    Constraint, GenerateRequest, Prompt, SamplingParams, TenantId, ToolSpec,
};

/// Most choices per request.
pub const MAX_N: u64 = 128;
/// Most stop strings per request (OpenAI allows 4; vLLM more).
pub const MAX_STOP: usize = 16;
/// Most alternatives per token in logprobs.
pub const MAX_TOP_LOGPROBS: u64 = 20;

/// What the HTTP layer needs to shape the reply, beside what the engine gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseOptions {
    /// Reply as SSE.
    pub stream: bool,
    /// `stream_options.include_usage`: a final usage chunk (and `usage: null` before).
    pub include_usage: bool,
    /// `stream_options.continuous_usage_stats` (vLLM): running usage on every chunk.
    pub continuous_usage: bool,
    /// `Some(k)`: the client asked for logprobs with k alternatives.
    pub logprobs: Option<usize>,
    /// Completions only: prepend the prompt text to each choice.
    pub echo: bool,
    /// vLLM extension: return each choice's generated token ids (non-streamed).
    pub return_token_ids: bool,
}

/// A parsed request: what the engine runs and how to answer.
#[derive(Clone, Debug)]
pub struct ValidRequest {
    /// The model name the client asked for (equal to the served one).
    pub model: String,
    /// What goes to the engine.
    pub generate: GenerateRequest,
    /// How to shape the reply.
    pub options: ResponseOptions,
}

/// The validated fields of a chat conversation (shared with `/tokenize`).
#[derive(Clone, Debug)]
pub struct ChatInput {
    /// Normalised messages (content parts joined into strings).
    pub messages: Value,
    /// Tool definitions, as given.
    pub tools: Option<Value>,
    /// Append the assistant header (default true).
    pub add_generation_prompt: bool,
    /// `chat_template_kwargs`.
    pub template_kwargs: Map<String, Value>,
}

/// Parse a body into a JSON object. Invalid UTF-8, malformed JSON and a
/// non-object are 400s with OpenAI's error body.
pub fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ApiError::bad_body(format!(
            "The request body is not valid UTF-8 (invalid byte at offset {}).",
            e.valid_up_to()
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_body(
            "The request body is empty; expected a JSON object.",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::bad_body(format!(
            "The request body must be a JSON object, got {}.",
            type_name(&other)
        ))),
        Err(e) => Err(ApiError::bad_body(format!(
            "The request body is not valid JSON: {e}."
        ))),
    }
}

/// JSON type names as error messages spell them.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::invalid(
        path,
        format!("{path} must be {expected}, got {}", type_name(got)),
    )
}

/// Typed access to an object's fields; `null` reads as absent.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    /// Path prefix for nested objects (`stream_options.`).
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Map<String, Value>) -> Self {
        Self { obj, prefix: "" }
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(wrong_type(&self.path(key), "a boolean", v)),
        }
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong_type(&self.path(key), "a string", v)),
        }
    }

    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(wrong_type(&self.path(key), "an object", v)),
        }
    }

    /// A number, checked against `range`; returned with its JSON spelling.
    fn number(&self, key: &str, range: Range) -> Result<Option<f64>, ApiError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Some(x) = v.as_f64() else {
            return Err(wrong_type(&self.path(key), "a number", v));
        };
        if !range.contains(x) {
            return Err(ApiError::invalid(
                self.path(key),
                format!("{} must be {}, got {v}", self.path(key), range.describe()),
            ));
        }
        Ok(Some(x))
    }

    /// An integer (an integral float such as `100.0` is accepted too).
    fn int(&self, key: &str) -> Result<Option<i128>, ApiError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        as_int(v)
            .map(Some)
            .ok_or_else(|| wrong_type(&self.path(key), "an integer", v))
    }

    /// An integer in `[lo, hi]`.
    fn int_in(&self, key: &str, lo: i128, hi: i128) -> Result<Option<i128>, ApiError> {
        let Some(x) = self.int(key)? else {
            return Ok(None);
        };
        if x < lo || x > hi {
            let what = if hi == i128::MAX {
                format!("at least {lo}")
            } else {
                format!("between {lo} and {hi}")
            };
            return Err(ApiError::invalid(
                self.path(key),
                format!("{} must be {what}, got {x}", self.path(key)),
            ));
        }
        Ok(Some(x))
    }
}

fn as_int(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i as i128)
            } else if let Some(u) = n.as_u64() {
                Some(u as i128)
            } else {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i128)
            }
        }
        _ => None,
    }
}

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

/// Check `model` against the served name (exact, case-sensitive).
pub fn check_model(body: &Map<String, Value>, served: &str) -> Result<String, ApiError> {
    let f = Fields::new(body);
    match f.str("model")? {
        None => Err(ApiError::invalid(
            "model",
            "model is required: you must provide a model parameter",
        )),
        Some(m) if m == served => Ok(m.to_string()),
        Some(m) => Err(ApiError::model_not_found(m)),
    }
}

/// Like [`check_model`] but `model` may be absent (vLLM's tokenizer endpoints).
pub fn check_optional_model(body: &Map<String, Value>, served: &str) -> Result<(), ApiError> {
    match Fields::new(body).str("model")? {
        Some(m) if m != served => Err(ApiError::model_not_found(m)),
        _ => Ok(()),
    }
}

/// Parse a `/v1/chat/completions` body.
pub fn chat_request(body: &Map<String, Value>, served: &str) -> Result<ValidRequest, ApiError> {
    let model = check_model(body, served)?;
    let f = Fields::new(body);
    let chat = chat_input(body)?;

    // Chat logprobs: `logprobs: bool` plus `top_logprobs: 0..=20`.
    let logprobs = f.bool("logprobs")?.unwrap_or(false);
    let top = f.int_in("top_logprobs", 0, MAX_TOP_LOGPROBS as i128)?;
    if !logprobs && top.unwrap_or(0) > 0 {
        return Err(ApiError::invalid(
            "top_logprobs",
            "top_logprobs requires logprobs to be true",
        ));
    }
    let logprobs = logprobs.then(|| top.unwrap_or(0) as usize);

    // `max_completion_tokens` is the current name; `max_tokens` the old one.
    let max_tokens = match positive(&f, "max_completion_tokens")? {
        Some(m) => Some(m),
        None => positive(&f, "max_tokens")?,
    };

    let (parse_tool_calls, tool_constraint) = tool_choice(&f, chat.tools.as_ref())?;
    // A forced tool call wins over `response_format`: the reply is calls,
    // so there is no content for a format to shape.
    let constraint = match tool_constraint {
        Some(c) => Some(c),
        None => response_format(&f)?,
    };
    let prompt = Prompt::Chat {
        messages: chat.messages,
        tools: chat.tools,
        add_generation_prompt: chat.add_generation_prompt,
        template_kwargs: chat.template_kwargs,
    };
    let mut valid = common(&f, model, prompt, logprobs, max_tokens, false)?;
    valid.generate.parse_tool_calls = parse_tool_calls;
    valid.generate.constraint = constraint;
    Ok(valid)
}

/// `response_format`: `{type: "text"}` (no constraint), `{type:
/// "json_object"}` or `{type: "json_schema", json_schema: {name?, schema?,
/// strict?}}`. Only the shape is checked here; whether the grammar library
/// accepts the schema is known when the request starts (a rejected schema
/// is a 400 naming `response_format.json_schema.schema`).
fn response_format(f: &Fields<'_>) -> Result<Option<Constraint>, ApiError> {
    let Some(rf) = f.object("response_format")? else {
        return Ok(None);
    };
    let rf = Fields {
        obj: rf,
        prefix: "response_format.",
    };
    match rf.str("type")? {
        None => Err(ApiError::invalid(
            "response_format.type",
            "response_format.type is required (text, json_object or json_schema)",
        )),
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Constraint::JsonObject)),
        Some("json_schema") => {
            let Some(js) = rf.object("json_schema")? else {
                return Err(ApiError::invalid(
                    "response_format.json_schema",
                    "response_format.json_schema is required when response_format.type is json_schema",
                ));
            };
            let js = Fields {
                obj: js,
                prefix: "response_format.json_schema.",
            };
            js.str("name")?;
            let strict = js.bool("strict")?.unwrap_or(false);
            let schema = match js.get("schema") {
                // No schema: any JSON object (OpenAI makes `schema` optional).
                None => return Ok(Some(Constraint::JsonObject)),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(v) => {
                    return Err(wrong_type(
                        "response_format.json_schema.schema",
                        "a JSON schema object",
                        v,
                    ))
                }
            };
            Ok(Some(Constraint::JsonSchema { schema, strict }))
        }
        Some(other) => Err(ApiError::invalid(
            "response_format.type",
            format!("response_format.type must be text, json_object or json_schema, got `{other}`"),
        )),
    }
}

/// Check `tool_choice` against the offered tools. Returns whether the
/// output should be parsed for tool calls (tools offered and the choice is
/// not `none`), and the constraint that enforces `required` (one or more
/// calls to offered tools; exactly one with `parallel_tool_calls: false`)
/// or a named function (exactly one call to it). `auto` is not constrained.
fn tool_choice(
    f: &Fields<'_>,
    tools: Option<&Value>,
) -> Result<(bool, Option<Constraint>), ApiError> {
    let specs: Vec<ToolSpec> = tools
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .filter_map(|(index, t)| {
                    let fun = t.get("function")?;
                    Some(ToolSpec {
                        index,
                        name: fun.get("name")?.as_str()?.to_string(),
                        parameters: fun
                            .get("parameters")
                            .filter(|p| !p.is_null())
                            .cloned()
                            .unwrap_or_else(|| serde_json::json!({"type": "object"})),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let parallel = f.bool("parallel_tool_calls")?.unwrap_or(true);
    let choice = f.get("tool_choice");
    let mut constraint = None;
    let none = match choice {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => match s.as_str() {
            "none" => true,
            "auto" => false,
            "required" => {
                if names.is_empty() {
                    return Err(ApiError::invalid(
                        "tool_choice",
                        "tool_choice `required` needs at least one tool in `tools`",
                    ));
                }
                constraint = Some(Constraint::ToolCalls {
                    tools: specs.clone(),
                    one_or_more: parallel,
                });
                false
            }
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!(
                        "tool_choice must be none, auto, required or a function; got `{other}`"
                    ),
                ))
            }
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|fun| fun.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::invalid("tool_choice.function.name", "tool_choice names no function")
                })?;
            let Some(spec) = specs.iter().find(|s| s.name == name) else {
                return Err(ApiError::invalid(
                    "tool_choice.function.name",
                    format!("tool_choice names `{name}`, which is not among the offered tools"),
                ));
            };
            constraint = Some(Constraint::ToolCalls {
                tools: vec![spec.clone()],
                one_or_more: false,
            });
            false
        }
        Some(v) => return Err(wrong_type("tool_choice", "a string or an object", v)),
    };
    Ok((!none && !names.is_empty(), constraint))
}

/// Parse a `/v1/completions` body.
pub fn completion_request(
    body: &Map<String, Value>,
    served: &str,
) -> Result<ValidRequest, ApiError> {
    let model = check_model(body, served)?;
    let f = Fields::new(body);
    let prompt = completion_prompt(f.get("prompt"))?;

    if let Some(s) = f.str("suffix")? {
        if !s.is_empty() {
            return Err(ApiError::unsupported("suffix", "suffix is not supported"));
        }
    }
    let logprobs = f
        .int_in("logprobs", 0, MAX_TOP_LOGPROBS as i128)?
        .map(|k| k as usize);
    // OpenAI's and vLLM's default for the legacy endpoint is 16 tokens.
    let max_tokens = Some(positive(&f, "max_tokens")?.unwrap_or(16));
    let echo = f.bool("echo")?.unwrap_or(false);
    let constraint = response_format(&f)?;

    let mut valid = common(&f, model, prompt, logprobs, max_tokens, echo)?;
    valid.generate.constraint = constraint;
    if let Some(best_of) = f.int_in("best_of", 1, MAX_N as i128)? {
        if best_of as usize != valid.generate.n {
            return Err(ApiError::unsupported(
                "best_of",
                format!(
                    "best_of is not supported (it must equal n = {}), got {best_of}",
                    valid.generate.n
                ),
            ));
        }
    }
    valid.options.echo = echo;
    Ok(valid)
}

/// A `max_tokens`-like field: an integer of at least 1.
fn positive(f: &Fields<'_>, key: &str) -> Result<Option<usize>, ApiError> {
    Ok(f.int_in(key, 1, i128::MAX)?
        .map(|x| usize::try_from(x).unwrap_or(usize::MAX)))
}

/// The fields chat and completions share: sampling, n, stop, stream.
fn common(
    f: &Fields<'_>,
    model: String,
    prompt: Prompt,
    logprobs: Option<usize>,
    max_tokens: Option<usize>,
    echo: bool,
) -> Result<ValidRequest, ApiError> {
    let d = SamplingParams::default();
    let temperature = f.number("temperature", Range::closed(0.0, 2.0))?;
    let top_p = f.number("top_p", Range::left_open(0.0, 1.0))?;
    let min_p = f.number("min_p", Range::closed(0.0, 1.0))?;
    let presence = f.number("presence_penalty", Range::closed(-2.0, 2.0))?;
    let frequency = f.number("frequency_penalty", Range::closed(-2.0, 2.0))?;
    let repetition = f.number("repetition_penalty", Range::left_open(0.0, 2.0))?;
    let top_k = match f.int("top_k")? {
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
    let seed = match f.get("seed") {
        None => None,
        Some(v) => match as_int(v) {
            Some(i) if i >= i64::MIN as i128 && i <= u64::MAX as i128 => {
                Some(if i < 0 { i as i64 as u64 } else { i as u64 })
            }
            Some(i) => {
                return Err(ApiError::invalid(
                    "seed",
                    format!("seed must fit in 64 bits, got {i}"),
                ))
            }
            None => return Err(wrong_type("seed", "an integer", v)),
        },
    };
    let n = f.int_in("n", 1, MAX_N as i128)?.unwrap_or(1) as usize;
    let stop = stop_strings(f.get("stop"))?;
    let stop_token_ids = token_ids(f.get("stop_token_ids"), "stop_token_ids")?;
    let ignore_eos = f.bool("ignore_eos")?.unwrap_or(false);
    let skip_special_tokens = f.bool("skip_special_tokens")?.unwrap_or(true);
    let cache_salt = f.str("cache_salt")?.map(str::to_owned);

    let stream = f.bool("stream")?.unwrap_or(false);
    let (mut include_usage, mut continuous_usage) = (false, false);
    if let Some(opts) = f.object("stream_options")? {
        let so = Fields {
            obj: opts,
            prefix: "stream_options.",
        };
        include_usage = so.bool("include_usage")?.unwrap_or(false);
        continuous_usage = so.bool("continuous_usage_stats")?.unwrap_or(false);
    }

    let params = SamplingParams {
        temperature: temperature.map_or(d.temperature, |x| x as f32),
        top_k,
        top_p: top_p.map_or(d.top_p, |x| x as f32),
        min_p: min_p.map_or(d.min_p, |x| x as f32),
        seed: seed.unwrap_or(0),
        presence_penalty: presence.map_or(d.presence_penalty, |x| x as f32),
        frequency_penalty: frequency.map_or(d.frequency_penalty, |x| x as f32),
        repetition_penalty: repetition.map_or(d.repetition_penalty, |x| x as f32),
        logprobs,
        // Placeholder until the request actor clamps it to the context's room.
        max_tokens: max_tokens.unwrap_or(usize::MAX),
        ignore_eos,
        stop_token_ids,
    };
    Ok(ValidRequest {
        model,
        generate: GenerateRequest {
            tenant: TenantId::default(),
            prompt,
            params,
            max_tokens,
            seed,
            n,
            stop,
            skip_special_tokens,
            cache_salt,
            parse_tool_calls: false,
            constraint: None,
        },
        options: ResponseOptions {
            stream,
            include_usage: stream && include_usage,
            continuous_usage: stream && continuous_usage,
            logprobs,
            echo,
            return_token_ids: f.bool("return_token_ids")?.unwrap_or(false),
        },
    })
}

/// `stop`: a string or an array of up to [`MAX_STOP`] strings. Empty strings
/// are dropped (they would stop before the first token).
fn stop_strings(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let list: Vec<String> = match v {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
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
                .iter()
                .enumerate()
                .map(|(i, s)| match s {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(wrong_type(&format!("stop[{i}]"), "a string", other)),
                })
                .collect::<Result<_, _>>()?
        }
        Some(other) => return Err(wrong_type("stop", "a string or an array of strings", other)),
    };
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

/// An array of token ids (non-negative integers that fit in u32).
fn token_ids(v: Option<&Value>, path: &str) -> Result<Vec<u32>, ApiError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| token_id(x, &format!("{path}[{i}]")))
            .collect(),
        Some(other) => Err(wrong_type(path, "an array of token ids", other)),
    }
}

fn token_id(v: &Value, path: &str) -> Result<u32, ApiError> {
    match as_int(v) {
        Some(i) if (0..=u32::MAX as i128).contains(&i) => Ok(i as u32),
        Some(i) => Err(ApiError::invalid(
            path,
            format!("{path} must be a token id (a non-negative integer), got {i}"),
        )),
        None => Err(wrong_type(path, "a token id (a non-negative integer)", v)),
    }
}

/// Parse `/tokenize`'s and `/detokenize`'s `tokens` field.
pub fn tokens_field(body: &Map<String, Value>) -> Result<Vec<u32>, ApiError> {
    match body.get("tokens").filter(|v| !v.is_null()) {
        None => Err(ApiError::invalid("tokens", "tokens is required")),
        v => token_ids(v, "tokens"),
    }
}

/// The completions `prompt`: a string, one string in an array, token ids,
/// or one array of token ids. Several prompts are refused for now.
fn completion_prompt(v: Option<&Value>) -> Result<Prompt, ApiError> {
    const SHAPE: &str = "prompt must be a string, an array of one string, or an array of token ids";
    let batched = || {
        ApiError::unsupported(
            "prompt",
            "batched prompts are not supported: send one prompt per request",
        )
    };
    match v {
        None => Err(ApiError::invalid("prompt", "prompt is required")),
        Some(Value::String(s)) => Ok(Prompt::Text(s.clone())),
        Some(Value::Array(items)) => match items.first() {
            None => Err(ApiError::invalid("prompt", "prompt must not be empty")),
            Some(Value::String(_)) => {
                if items.len() > 1 {
                    return Err(batched());
                }
                Ok(Prompt::Text(
                    items[0].as_str().unwrap_or_default().to_string(),
                ))
            }
            Some(Value::Array(_)) => {
                if items.len() > 1 {
                    return Err(batched());
                }
                let ids = token_ids(Some(&items[0]), "prompt[0]")?;
                if ids.is_empty() {
                    return Err(ApiError::invalid("prompt", "prompt must not be empty"));
                }
                Ok(Prompt::Tokens(ids))
            }
            Some(Value::Number(_)) => Ok(Prompt::Tokens(token_ids(v, "prompt")?)),
            Some(_) => Err(ApiError::invalid("prompt", SHAPE)),
        },
        Some(_) => Err(ApiError::invalid("prompt", SHAPE)),
    }
}

/// Parse the chat fields: `messages`, `tools`, `add_generation_prompt`,
/// `continue_final_message`, `chat_template_kwargs`.
pub fn chat_input(body: &Map<String, Value>) -> Result<ChatInput, ApiError> {
    let f = Fields::new(body);
    let messages = chat_messages(f.get("messages"))?;
    let tools = chat_tools(f.get("tools"))?;
    let add_generation_prompt = f.bool("add_generation_prompt")?.unwrap_or(true);
    if f.bool("continue_final_message")?.unwrap_or(false) {
        if add_generation_prompt {
            return Err(ApiError::invalid(
                "continue_final_message",
                "continue_final_message and add_generation_prompt cannot both be true",
            ));
        }
        return Err(ApiError::unsupported(
            "continue_final_message",
            "continue_final_message is not supported yet",
        ));
    }
    let template_kwargs = f
        .object("chat_template_kwargs")?
        .cloned()
        .unwrap_or_default();
    Ok(ChatInput {
        messages,
        tools,
        add_generation_prompt,
        template_kwargs,
    })
}

const ROLES: &str = "system, developer, user, assistant, tool";

/// Validate and normalise `messages`: content parts become one string
/// (text parts joined with "\n"), `developer` becomes `system` (chat
/// templates know only the latter), every other field passes through.
pub fn chat_messages(v: Option<&Value>) -> Result<Value, ApiError> {
    let items = match v {
        None => return Err(ApiError::invalid("messages", "messages is required")),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type("messages", "an array", other)),
    };
    if items.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "messages must hold at least one message",
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    // Ids of the tool calls made so far: a tool result must answer one.
    let mut call_ids: Vec<String> = Vec::new();
    for (i, m) in items.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Value::Object(obj) = m else {
            return Err(wrong_type(&path, "an object", m));
        };
        let role = match obj.get("role") {
            Some(Value::String(r)) => r.as_str(),
            None | Some(Value::Null) => {
                return Err(ApiError::invalid(
                    format!("{path}.role"),
                    format!("{path}.role is required"),
                ))
            }
            Some(other) => return Err(wrong_type(&format!("{path}.role"), "a string", other)),
        };
        let role = match role {
            "system" | "user" | "assistant" | "tool" => role,
            "developer" => "system",
            other => {
                return Err(ApiError::invalid(
                    format!("{path}.role"),
                    format!("{path}.role must be one of {ROLES}, got '{other}'"),
                ))
            }
        };
        let mut msg = obj.clone();
        msg.insert("role".into(), Value::from(role));

        let has_tool_calls = match obj.get("tool_calls") {
            None | Some(Value::Null) => false,
            Some(calls) if role == "assistant" => {
                check_tool_calls(calls, &format!("{path}.tool_calls"))?;
                call_ids.extend(
                    calls
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.get("id")?.as_str().map(str::to_owned)),
                );
                calls.as_array().is_some_and(|a| !a.is_empty())
            }
            Some(_) => false,
        };
        let content_path = format!("{path}.content");
        let content = match obj.get("content") {
            None | Some(Value::Null) => {
                if role != "assistant" {
                    return Err(ApiError::invalid(
                        content_path.clone(),
                        format!("{content_path} is required for role {role}"),
                    ));
                }
                if has_tool_calls {
                    Value::Null
                } else {
                    Value::from("")
                }
            }
            Some(Value::String(s)) => Value::from(s.as_str()),
            Some(Value::Array(parts)) => Value::from(join_text_parts(parts, &content_path)?),
            Some(other) => {
                return Err(wrong_type(
                    &content_path,
                    "a string or an array of content parts",
                    other,
                ))
            }
        };
        msg.insert("content".into(), content);
        if let Some(name) = obj.get("name").filter(|v| !v.is_null()) {
            if !name.is_string() {
                return Err(wrong_type(&format!("{path}.name"), "a string", name));
            }
        }
        if role == "tool" {
            if let Some(id) = obj.get("tool_call_id").filter(|v| !v.is_null()) {
                let Some(id) = id.as_str() else {
                    return Err(wrong_type(&format!("{path}.tool_call_id"), "a string", id));
                };
                if !call_ids.iter().any(|c| c == id) {
                    return Err(ApiError::invalid(
                        format!("{path}.tool_call_id"),
                        format!(
                            "{path}.tool_call_id `{id}` answers no tool call of an earlier assistant message"
                        ),
                    ));
                }
            }
        }
        out.push(Value::Object(msg));
    }
    Ok(Value::Array(out))
}

/// Join `[{type: "text", text}]` parts with "\n"; other part types are refused.
fn join_text_parts(parts: &[Value], path: &str) -> Result<String, ApiError> {
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let ppath = format!("{path}[{j}]");
        let Value::Object(p) = part else {
            // A bare string in the array is read as a text part (lenient).
            if let Value::String(s) = part {
                texts.push(s.as_str());
                continue;
            }
            return Err(wrong_type(&ppath, "a content part object", part));
        };
        match p.get("type").and_then(Value::as_str) {
            Some("text") | Some("input_text") => match p.get("text") {
                Some(Value::String(t)) => texts.push(t.as_str()),
                Some(other) => return Err(wrong_type(&format!("{ppath}.text"), "a string", other)),
                None => {
                    return Err(ApiError::invalid(
                        format!("{ppath}.text"),
                        format!("{ppath}.text is required"),
                    ))
                }
            },
            Some(other) => {
                return Err(ApiError::unsupported(
                    format!("{ppath}.type"),
                    format!("{ppath}: content parts of type '{other}' are not supported by this model; only 'text' is"),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    format!("{ppath}.type"),
                    format!("{ppath}.type is required"),
                ))
            }
        }
    }
    Ok(texts.join("\n"))
}

/// Assistant `tool_calls`: `[{id?, type: "function", function: {name, arguments}}]`.
fn check_tool_calls(calls: &Value, path: &str) -> Result<(), ApiError> {
    let Value::Array(items) = calls else {
        return Err(wrong_type(path, "an array", calls));
    };
    for (k, call) in items.iter().enumerate() {
        let cpath = format!("{path}[{k}]");
        let Value::Object(c) = call else {
            return Err(wrong_type(&cpath, "an object", call));
        };
        check_function_type(c, &cpath)?;
        let Some(Value::Object(func)) = c.get("function") else {
            return Err(ApiError::invalid(
                format!("{cpath}.function"),
                format!("{cpath}.function must be an object with a name"),
            ));
        };
        if !func.get("name").is_some_and(Value::is_string) {
            return Err(ApiError::invalid(
                format!("{cpath}.function.name"),
                format!("{cpath}.function.name must be a string"),
            ));
        }
    }
    Ok(())
}

fn check_function_type(obj: &Map<String, Value>, path: &str) -> Result<(), ApiError> {
    match obj.get("type") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(t)) if t == "function" => Ok(()),
        Some(other) => Err(ApiError::invalid(
            format!("{path}.type"),
            format!("{path}.type must be 'function', got {other}"),
        )),
    }
}

/// `tools`: `[{type: "function", function: {name, ...}}]`, passed through as
/// given. An empty array reads as no tools.
/// Structural checks of a tool's JSON schema: an object whose `type`,
/// `properties`, `required` and `items` have the shapes JSON Schema gives
/// them, recursively. (A forced call compiles the schemas with the grammar
/// library when the request starts, which rejects what it cannot enforce.)
fn check_schema(v: &Value, path: &str) -> Result<(), ApiError> {
    let Value::Object(o) = v else {
        return Err(wrong_type(path, "a JSON schema object", v));
    };
    const TYPES: [&str; 7] = [
        "object", "array", "string", "number", "integer", "boolean", "null",
    ];
    match o.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts))
            if ts
                .iter()
                .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
        Some(t) => {
            return Err(ApiError::invalid(
                format!("{path}.type"),
                format!("{path}.type must be a JSON Schema type name, got {t}"),
            ))
        }
    }
    if let Some(props) = o.get("properties") {
        let Value::Object(props) = props else {
            return Err(wrong_type(
                &format!("{path}.properties"),
                "an object",
                props,
            ));
        };
        for (name, sub) in props {
            check_schema(sub, &format!("{path}.properties.{name}"))?;
        }
    }
    if let Some(req) = o.get("required") {
        if !req
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err(wrong_type(
                &format!("{path}.required"),
                "an array of strings",
                req,
            ));
        }
    }
    if let Some(items) = o.get("items").filter(|i| !i.is_boolean()) {
        check_schema(items, &format!("{path}.items"))?;
    }
    Ok(())
}

fn chat_tools(v: Option<&Value>) -> Result<Option<Value>, ApiError> {
    let items = match v {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type("tools", "an array", other)),
    };
    if items.is_empty() {
        return Ok(None);
    }
    for (i, t) in items.iter().enumerate() {
        let path = format!("tools[{i}]");
        let Value::Object(obj) = t else {
            return Err(wrong_type(&path, "an object", t));
        };
        check_function_type(obj, &path)?;
        let Some(Value::Object(func)) = obj.get("function") else {
            return Err(ApiError::invalid(
                format!("{path}.function"),
                format!("{path}.function must be an object with a name"),
            ));
        };
        if !func.get("name").is_some_and(Value::is_string) {
            return Err(ApiError::invalid(
                format!("{path}.function.name"),
                format!("{path}.function.name must be a string"),
            ));
        }
        if let Some(params) = func.get("parameters").filter(|v| !v.is_null()) {
            check_schema(params, &format!("{path}.function.parameters"))?;
        }
    }
    Ok(Some(Value::Array(items.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    const M: &str = "test-model";

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn chat(extra: Value) -> Result<ValidRequest, ApiError> {
        let mut body = obj(json!({"model": M, "messages": [{"role": "user", "content": "hi"}]}));
        body.extend(obj(extra));
        chat_request(&body, M)
    }

    fn completion(extra: Value) -> Result<ValidRequest, ApiError> {
        let mut body = obj(json!({"model": M, "prompt": "once upon"}));
        body.extend(obj(extra));
        completion_request(&body, M)
    }

    fn err(r: Result<ValidRequest, ApiError>) -> ApiError {
        r.expect_err("expected an error")
    }

    #[test]
    fn body_parse_errors_are_400() {
        assert_eq!(
            parse_json_object(b"{").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_json_object(b"").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert!(parse_json_object(b"[1]")
            .unwrap_err()
            .message
            .contains("array"));
        let e = parse_json_object(b"{\"a\": \"\xff\"}").unwrap_err();
        assert!(e.message.contains("UTF-8"), "{}", e.message);
        assert!(parse_json_object(b" {\"a\": 1} ").is_ok());
    }

    #[test]
    fn defaults() {
        let v = chat(json!({})).unwrap();
        let g = &v.generate;
        assert_eq!(g.n, 1);
        assert_eq!(g.max_tokens, None);
        assert_eq!(g.seed, None);
        assert!(g.skip_special_tokens);
        assert!(g.stop.is_empty());
        assert_eq!(g.params.temperature, 1.0);
        assert_eq!(g.params.top_p, 1.0);
        assert_eq!(g.params.top_k, 0);
        assert_eq!(g.params.logprobs, None);
        assert_eq!(v.options, ResponseOptions::default());
        match &g.prompt {
            Prompt::Chat {
                add_generation_prompt,
                tools,
                template_kwargs,
                ..
            } => {
                assert!(*add_generation_prompt);
                assert!(tools.is_none());
                assert!(template_kwargs.is_empty());
            }
            _ => panic!("not a chat prompt"),
        }
    }

    #[test]
    fn model_must_match_exactly() {
        let e = err(chat(json!({"model": "Test-Model"})));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.code, Some("model_not_found"));
        let mut body = obj(json!({"messages": [{"role": "user", "content": "hi"}]}));
        let e = chat_request(&body, M).unwrap_err();
        assert_eq!(
            (e.status, e.param.as_deref()),
            (StatusCode::BAD_REQUEST, Some("model"))
        );
        body.insert("model".into(), json!(3));
        assert!(chat_request(&body, M)
            .unwrap_err()
            .message
            .contains("model must be a string"));
    }

    #[test]
    fn sampling_ranges_name_field_and_value() {
        let cases = [
            (
                json!({"temperature": 3}),
                "temperature",
                "temperature must be between 0 and 2, got 3",
            ),
            (json!({"temperature": -0.5}), "temperature", "got -0.5"),
            (
                json!({"top_p": 0}),
                "top_p",
                "top_p must be greater than 0 and at most 1, got 0",
            ),
            (json!({"top_p": 1.5}), "top_p", "got 1.5"),
            (json!({"top_k": -2}), "top_k", "got -2"),
            (
                json!({"min_p": 1.1}),
                "min_p",
                "min_p must be between 0 and 1",
            ),
            (
                json!({"presence_penalty": 2.5}),
                "presence_penalty",
                "between -2 and 2",
            ),
            (
                json!({"frequency_penalty": -3}),
                "frequency_penalty",
                "between -2 and 2",
            ),
            (
                json!({"repetition_penalty": 0}),
                "repetition_penalty",
                "greater than 0",
            ),
            (json!({"n": 0}), "n", "n must be between 1 and 128, got 0"),
            (json!({"n": 129}), "n", "got 129"),
            (
                json!({"max_tokens": 0}),
                "max_tokens",
                "max_tokens must be at least 1, got 0",
            ),
            (
                json!({"max_completion_tokens": -5}),
                "max_completion_tokens",
                "got -5",
            ),
            (
                json!({"top_logprobs": 21, "logprobs": true}),
                "top_logprobs",
                "between 0 and 20",
            ),
            (
                json!({"top_logprobs": 2}),
                "top_logprobs",
                "requires logprobs",
            ),
            (
                json!({"temperature": "hot"}),
                "temperature",
                "temperature must be a number, got string",
            ),
            (
                json!({"max_tokens": 1.5}),
                "max_tokens",
                "max_tokens must be an integer",
            ),
            (
                json!({"stream": "yes"}),
                "stream",
                "stream must be a boolean",
            ),
            (
                json!({"stream_options": {"include_usage": 1}}),
                "stream_options.include_usage",
                "must be a boolean",
            ),
            (json!({"seed": "x"}), "seed", "seed must be an integer"),
            (
                json!({"stop": 5}),
                "stop",
                "stop must be a string or an array",
            ),
            (
                json!({"stop": ["a", 1]}),
                "stop[1]",
                "stop[1] must be a string",
            ),
            (
                json!({"stop_token_ids": [1, -1]}),
                "stop_token_ids[1]",
                "non-negative",
            ),
            (
                json!({"logprobs": 1}),
                "logprobs",
                "logprobs must be a boolean",
            ),
        ];
        for (extra, param, msg) in cases {
            let e = err(chat(extra.clone()));
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{extra}");
            assert_eq!(e.param.as_deref(), Some(param), "{extra}: {}", e.message);
            assert!(e.message.contains(msg), "{extra}: {}", e.message);
        }
    }

    #[test]
    fn sampling_values_are_read() {
        let v = chat(json!({
            "temperature": 0, "top_p": 0.9, "top_k": -1, "min_p": 0.05,
            "presence_penalty": 1, "frequency_penalty": -1, "repetition_penalty": 1.1,
            "seed": -1, "n": 3, "max_tokens": 100, "max_completion_tokens": 32000,
            "stop": ["\n\n", "", "END"], "stop_token_ids": [7, 8], "ignore_eos": true,
            "logprobs": true, "top_logprobs": 5, "skip_special_tokens": false,
            "stream": true, "stream_options": {"include_usage": true, "continuous_usage_stats": true},
            "user": "u", "response_format": {"type": "json_object"}, "tool_choice": "auto",
            "parallel_tool_calls": false, "reasoning_effort": "high", "whatever": [1, 2],
        }))
        .unwrap();
        let g = &v.generate;
        assert_eq!(g.params.temperature, 0.0);
        assert!(g.params.is_greedy());
        assert_eq!(g.params.top_k, 0);
        assert_eq!(g.params.top_p, 0.9);
        assert_eq!(g.params.repetition_penalty, 1.1);
        assert_eq!(g.seed, Some(u64::MAX));
        assert_eq!(g.n, 3);
        assert_eq!(g.max_tokens, Some(32000));
        assert_eq!(g.params.max_tokens, 32000);
        assert_eq!(g.stop, vec!["\n\n".to_string(), "END".to_string()]);
        assert_eq!(g.params.stop_token_ids, vec![7, 8]);
        assert!(g.params.ignore_eos);
        assert_eq!(g.params.logprobs, Some(5));
        assert!(!g.skip_special_tokens);
        assert_eq!(
            v.options,
            ResponseOptions {
                stream: true,
                include_usage: true,
                continuous_usage: true,
                logprobs: Some(5),
                echo: false,
                return_token_ids: false,
            }
        );
        assert_eq!(
            chat(json!({"top_k": 40})).unwrap().generate.params.top_k,
            40
        );
        assert_eq!(chat(json!({"stop": "x"})).unwrap().generate.stop, vec!["x"]);
        assert_eq!(chat(json!({"seed": 42})).unwrap().generate.seed, Some(42));
        assert_eq!(
            chat(json!({"max_tokens": 100.0}))
                .unwrap()
                .generate
                .max_tokens,
            Some(100)
        );
        assert_eq!(
            chat(json!({"logprobs": true})).unwrap().options.logprobs,
            Some(0)
        );
        // Nulls read as absent.
        assert_eq!(
            chat(json!({"temperature": null, "n": null}))
                .unwrap()
                .generate
                .n,
            1
        );
        // Usage options only matter when streaming.
        let v = chat(json!({"stream_options": {"include_usage": true}})).unwrap();
        assert!(!v.options.include_usage);
        let e = err(chat(json!({"stop": vec!["x"; 17]})));
        assert!(e.message.contains("at most 16"));
    }

    #[test]
    fn messages_are_normalised() {
        let v = chat(json!({"messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "assistant", "reasoning_content": "hm"},
        ], "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
           "chat_template_kwargs": {"enable_thinking": false}, "add_generation_prompt": false}))
        .unwrap();
        let Prompt::Chat {
            messages,
            tools,
            add_generation_prompt,
            template_kwargs,
        } = v.generate.prompt
        else {
            panic!("not chat")
        };
        assert_eq!(
            messages[0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(messages[1]["content"], "a\nb");
        assert!(messages[2]["content"].is_null());
        assert_eq!(
            messages[2]["tool_calls"][0]["function"]["arguments"],
            "{\"x\":1}"
        );
        assert_eq!(messages[3]["tool_call_id"], "call_1");
        assert_eq!(
            messages[4],
            json!({"role": "assistant", "reasoning_content": "hm", "content": ""})
        );
        assert_eq!(tools.unwrap()[0]["function"]["name"], "f");
        assert!(!add_generation_prompt);
        assert_eq!(template_kwargs["enable_thinking"], false);
    }

    #[test]
    fn bad_messages_name_the_path() {
        let cases = [
            (json!({"messages": []}), "messages", "at least one"),
            (
                json!({"messages": "hi"}),
                "messages",
                "messages must be an array",
            ),
            (
                json!({"messages": [{"content": "x"}]}),
                "messages[0].role",
                "required",
            ),
            (
                json!({"messages": [{"role": "bot", "content": "x"}]}),
                "messages[0].role",
                "got 'bot'",
            ),
            (
                json!({"messages": [{"role": "user"}]}),
                "messages[0].content",
                "required for role user",
            ),
            (
                json!({"messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
                "got integer",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
                "messages[0].content[0].type",
                "not supported",
            ),
            (
                json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]}),
                "messages[0].tool_calls[0].function.name",
                "must be a string",
            ),
            (
                json!({"tools": [{"type": "function"}]}),
                "tools[0].function",
                "object with a name",
            ),
            (
                json!({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}),
                "tools[0].type",
                "'function'",
            ),
            (json!({"tools": {}}), "tools", "tools must be an array"),
            (
                json!({"chat_template_kwargs": []}),
                "chat_template_kwargs",
                "must be an object",
            ),
            (
                json!({"continue_final_message": true}),
                "continue_final_message",
                "cannot both",
            ),
        ];
        for (extra, param, msg) in cases {
            let e = err(chat(extra.clone()));
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{extra}");
            assert_eq!(e.param.as_deref(), Some(param), "{extra}: {}", e.message);
            assert!(e.message.contains(msg), "{extra}: {}", e.message);
        }
        assert!(chat(json!({"tools": []})).is_ok());
    }

    #[test]
    fn response_format_and_tool_choice_become_constraints() {
        use crate::engine::request::Constraint;
        let c = |extra: Value| chat(extra).unwrap().generate.constraint;
        assert_eq!(c(json!({})), None);
        assert_eq!(c(json!({"response_format": {"type": "text"}})), None);
        assert_eq!(
            c(json!({"response_format": {"type": "json_object"}})),
            Some(Constraint::JsonObject)
        );
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        assert_eq!(
            c(json!({"response_format": {"type": "json_schema",
                "json_schema": {"name": "x", "strict": true, "schema": schema}}})),
            Some(Constraint::JsonSchema {
                schema: schema.clone(),
                strict: true
            })
        );
        assert_eq!(
            c(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})),
            Some(Constraint::JsonObject)
        );
        let tools = json!([
            {"type": "function", "function": {"name": "f", "parameters": schema}},
            {"type": "function", "function": {"name": "g"}},
        ]);
        let Some(Constraint::ToolCalls {
            tools: t,
            one_or_more,
        }) = c(json!({"tools": tools, "tool_choice": "required"}))
        else {
            panic!("not a tool constraint")
        };
        assert!(one_or_more);
        assert_eq!(
            t.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["f", "g"]
        );
        assert_eq!(t[1].index, 1);
        assert_eq!(t[1].parameters, json!({"type": "object"}));
        let Some(Constraint::ToolCalls { one_or_more, .. }) =
            c(json!({"tools": tools, "tool_choice": "required", "parallel_tool_calls": false}))
        else {
            panic!("not a tool constraint")
        };
        assert!(!one_or_more);
        // A named function: only it, exactly once; it wins over response_format.
        let Some(Constraint::ToolCalls {
            tools: t,
            one_or_more,
        }) = c(json!({"tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "g"}},
            "response_format": {"type": "json_object"}}))
        else {
            panic!("not a tool constraint")
        };
        assert!(!one_or_more);
        assert_eq!((t.len(), t[0].name.as_str(), t[0].index), (1, "g", 1));
        // `auto` is parsed, not constrained.
        assert_eq!(c(json!({"tools": tools, "tool_choice": "auto"})), None);
        assert_eq!(
            completion(json!({"response_format": {"type": "json_object"}}))
                .unwrap()
                .generate
                .constraint,
            Some(Constraint::JsonObject)
        );
        for (extra, param) in [
            (json!({"response_format": "json"}), "response_format"),
            (json!({"response_format": {}}), "response_format.type"),
            (
                json!({"response_format": {"type": "yaml"}}),
                "response_format.type",
            ),
            (
                json!({"response_format": {"type": "json_schema"}}),
                "response_format.json_schema",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"schema": []}}}),
                "response_format.json_schema.schema",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"strict": 1}}}),
                "response_format.json_schema.strict",
            ),
            (
                json!({"tools": tools, "tool_choice": "required", "parallel_tool_calls": "no"}),
                "parallel_tool_calls",
            ),
        ] {
            let e = err(chat(extra.clone()));
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{extra}");
            assert_eq!(e.param.as_deref(), Some(param), "{extra}: {}", e.message);
        }
    }

    #[test]
    fn completion_prompts() {
        let p = |v: Value| completion(json!({ "prompt": v })).map(|r| r.generate.prompt);
        assert!(matches!(p(json!("x")).unwrap(), Prompt::Text(s) if s == "x"));
        assert!(matches!(p(json!(["x"])).unwrap(), Prompt::Text(s) if s == "x"));
        assert!(matches!(p(json!([1, 2, 3])).unwrap(), Prompt::Tokens(t) if t == vec![1, 2, 3]));
        assert!(matches!(p(json!([[4, 5]])).unwrap(), Prompt::Tokens(t) if t == vec![4, 5]));
        let e = p(json!(["a", "b"])).unwrap_err();
        assert!(e.message.contains("batched"));
        assert!(p(json!([[1], [2]]))
            .unwrap_err()
            .message
            .contains("batched"));
        assert!(p(json!([])).unwrap_err().message.contains("empty"));
        assert_eq!(
            p(json!([1, -1])).unwrap_err().param.as_deref(),
            Some("prompt[1]")
        );
        assert_eq!(
            p(json!({"a": 1})).unwrap_err().param.as_deref(),
            Some("prompt")
        );
        let body = obj(json!({"model": M}));
        assert!(completion_request(&body, M)
            .unwrap_err()
            .message
            .contains("prompt is required"));
    }

    #[test]
    fn completion_options() {
        let v = completion(json!({})).unwrap();
        assert_eq!(v.generate.max_tokens, Some(16));
        let v = completion(json!({"echo": true, "logprobs": 3, "max_tokens": 5})).unwrap();
        assert!(v.options.echo);
        assert_eq!(v.options.logprobs, Some(3));
        assert_eq!(v.generate.params.logprobs, Some(3));
        assert_eq!(v.generate.max_tokens, Some(5));
        assert_eq!(
            err(completion(json!({"logprobs": 21}))).param.as_deref(),
            Some("logprobs")
        );
        assert_eq!(
            err(completion(json!({"suffix": "x"}))).param.as_deref(),
            Some("suffix")
        );
        assert!(completion(json!({"suffix": ""})).is_ok());
        assert_eq!(
            err(completion(json!({"best_of": 2}))).param.as_deref(),
            Some("best_of")
        );
        assert!(completion(json!({"best_of": 2, "n": 2})).is_ok());
    }

    #[test]
    fn tokens_field_checks() {
        assert_eq!(
            tokens_field(&obj(json!({"tokens": [1, 2]}))).unwrap(),
            vec![1, 2]
        );
        assert!(tokens_field(&obj(json!({}))).is_err());
        assert_eq!(
            tokens_field(&obj(json!({"tokens": [1, "a"]})))
                .unwrap_err()
                .param
                .as_deref(),
            Some("tokens[1]")
        );
    }
}
