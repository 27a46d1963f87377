//! Wire types -> [`GenerateRequest`] ("parse, don't validate").
//!
//! A body is first read into the typed request of its route
//! (`api::wire`), which names any field of the wrong JSON kind and ignores
//! unknown fields. This step then checks what types cannot say: ranges
//! ("temperature must be between 0 and 2, got 3"), required fields,
//! cross-field rules (`top_logprobs` needs `logprobs`, a tool result must
//! answer an earlier call) and limits; every error names its field.
//! Nothing downstream sees unchecked input.
//!
//! A body with several faults is answered with the first one found: the
//! `model` check, then a field of the wrong kind (in the order the body
//! lists them), then the checks here in the order of the code.

mod chat;
mod generation;

use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::api::wire::chat::{ChatCompletionRequest, ChatConversation};
use crate::api::wire::completions::{CompletionPrompt, CompletionRequest};
use crate::api::wire::{self, ModelField, TokensField};
use crate::engine::request::{GenerateRequest, Prompt};

use generation::{int_in, positive, response_format};

/// Most choices per request.
pub const MAX_N: u64 = 128;
/// Most stop strings per request (OpenAI allows 4; vLLM more).
pub const MAX_STOP: usize = 16;
/// Most alternatives per token in logprobs.
pub const MAX_TOP_LOGPROBS: u64 = 20;
/// Longest stop string, in characters (as JSON Schema's `maxLength`
/// counts): every generated token is checked against every stop string,
/// so their length bounds that work.
pub const MAX_STOP_CHARS: usize = 512;
/// Most `stop_token_ids` (checked in O(1) per token, but kept in memory
/// per choice).
pub const MAX_STOP_TOKEN_IDS: usize = 1024;
/// Most messages in one chat (far above any real session: a coding agent
/// compacts long before its context holds this many).
pub const MAX_MESSAGES: usize = 10_000;
/// Most tools offered at once (OpenAI's documented limit is 128).
pub const MAX_TOOLS: usize = 256;
/// Largest JSON schema of one tool's `parameters` (or of a
/// `response_format` schema), in bytes of compact JSON: a schema is
/// rendered into the prompt and compiled into a grammar.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

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
        Value::Number(n) => wire::expect::number_kind(n),
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Check `model` against the served name (exact, case-sensitive). Done
/// before anything else, so a wrong model is a 404 whatever else is wrong.
pub fn check_model(body: &Map<String, Value>, served: &str) -> Result<String, ApiError> {
    match wire::parse::<ModelField>(body)?.model {
        None => Err(ApiError::invalid(
            "model",
            "model is required: you must provide a model parameter",
        )),
        Some(m) if m == served => Ok(m),
        Some(m) => Err(ApiError::model_not_found(&m)),
    }
}

/// Like [`check_model`] but `model` may be absent (vLLM's tokenizer endpoints).
pub fn check_optional_model(body: &Map<String, Value>, served: &str) -> Result<(), ApiError> {
    match wire::parse::<ModelField>(body)?.model {
        Some(m) if m != served => Err(ApiError::model_not_found(&m)),
        _ => Ok(()),
    }
}

/// Parse a `/v1/chat/completions` body.
pub fn chat_request(body: &Map<String, Value>, served: &str) -> Result<ValidRequest, ApiError> {
    let model = check_model(body, served)?;
    let ChatCompletionRequest {
        conversation,
        chat: params,
        generation: gen,
    } = ChatCompletionRequest::from_body(body)?;
    let specs = chat::tool_specs(conversation.tools.as_deref());
    let chat = chat::conversation(conversation, body)?;

    // Chat logprobs: `logprobs: bool` plus `top_logprobs: 0..=20`.
    let logprobs = params.logprobs.unwrap_or(false);
    let top = int_in(
        "top_logprobs",
        params.top_logprobs,
        0,
        MAX_TOP_LOGPROBS as i128,
    )?;
    if !logprobs && top.unwrap_or(0) > 0 {
        return Err(ApiError::invalid(
            "top_logprobs",
            "top_logprobs requires logprobs to be true",
        ));
    }
    let logprobs = logprobs.then(|| top.unwrap_or(0) as usize);

    // `max_completion_tokens` is the current name; `max_tokens` the old one.
    let max_tokens = match positive("max_completion_tokens", params.max_completion_tokens)? {
        Some(m) => Some(m),
        None => positive("max_tokens", gen.max_tokens)?,
    };

    let (parse_tool_calls, tool_constraint) = chat::tool_choice(&params, specs)?;
    // A forced tool call wins over `response_format`: the reply is calls,
    // so there is no content for a format to shape.
    let constraint = match tool_constraint {
        Some(c) => Some(c),
        None => response_format(gen.response_format.as_ref())?,
    };
    let prompt = Prompt::Chat {
        messages: chat.messages,
        tools: chat.tools,
        add_generation_prompt: chat.add_generation_prompt,
        template_kwargs: chat.template_kwargs,
    };
    let mut valid = generation::common(gen, model, prompt, logprobs, max_tokens, false)?;
    valid.generate.parse_tool_calls = parse_tool_calls;
    valid.generate.constraint = constraint;
    Ok(valid)
}

/// Parse a `/v1/completions` body.
pub fn completion_request(
    body: &Map<String, Value>,
    served: &str,
) -> Result<ValidRequest, ApiError> {
    let model = check_model(body, served)?;
    let CompletionRequest {
        completion,
        generation: gen,
    } = CompletionRequest::from_body(body)?;
    let prompt = match completion.prompt {
        None => return Err(ApiError::invalid("prompt", "prompt is required")),
        Some(CompletionPrompt::Text(s)) => Prompt::Text(s),
        Some(CompletionPrompt::Tokens(ids)) => Prompt::Tokens(ids),
        Some(CompletionPrompt::Batched) => {
            return Err(ApiError::unsupported(
                "prompt",
                "batched prompts are not supported: send one prompt per request",
            ))
        }
    };
    if completion.suffix.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::unsupported("suffix", "suffix is not supported"));
    }
    let logprobs =
        int_in("logprobs", completion.logprobs, 0, MAX_TOP_LOGPROBS as i128)?.map(|k| k as usize);
    // OpenAI's and vLLM's default for the legacy endpoint is 16 tokens.
    let max_tokens = Some(positive("max_tokens", gen.max_tokens)?.unwrap_or(16));
    let echo = completion.echo.unwrap_or(false);
    let constraint = response_format(gen.response_format.as_ref())?;

    let mut valid = generation::common(gen, model, prompt, logprobs, max_tokens, echo)?;
    valid.generate.constraint = constraint;
    if let Some(best_of) = int_in("best_of", completion.best_of, 1, MAX_N as i128)? {
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

/// Parse `/tokenize`'s and `/detokenize`'s `tokens` field.
pub fn tokens_field(body: &Map<String, Value>) -> Result<Vec<u32>, ApiError> {
    match wire::parse::<TokensField>(body)?.tokens {
        None => Err(ApiError::invalid("tokens", "tokens is required")),
        Some(ids) => Ok(ids.0),
    }
}

/// Parse the chat fields: `messages`, `tools`, `add_generation_prompt`,
/// `continue_final_message`, `chat_template_kwargs`.
pub fn chat_input(body: &Map<String, Value>) -> Result<ChatInput, ApiError> {
    let conversation: ChatConversation = wire::parse(body)?;
    chat::conversation(conversation, body)
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

    /// Every list and string field has a cap; one past it is a 400 that
    /// names the field and says the limit, and the cap itself is accepted.
    #[test]
    fn caps_name_the_field_and_the_limit() {
        let tool = |i: usize| json!({"type": "function", "function": {"name": format!("f{i}")}});
        let user = json!({"role": "user", "content": "hi"});
        let big_schema = |bytes: usize| json!({"type": "object", "description": "x".repeat(bytes)});
        let cases: Vec<(Value, Value, &str, String)> = vec![
            (
                json!({"stop": vec!["ab"; MAX_STOP]}),
                json!({"stop": vec!["ab"; MAX_STOP + 1]}),
                "stop",
                format!("at most {MAX_STOP} strings"),
            ),
            (
                json!({"stop": ["a", "b".repeat(MAX_STOP_CHARS)]}),
                json!({"stop": ["a", "b".repeat(MAX_STOP_CHARS + 1)]}),
                "stop[1]",
                format!("at most {MAX_STOP_CHARS} characters"),
            ),
            (
                json!({"stop": "b".repeat(MAX_STOP_CHARS)}),
                json!({"stop": "b".repeat(MAX_STOP_CHARS + 1)}),
                "stop",
                format!("at most {MAX_STOP_CHARS} characters"),
            ),
            (
                json!({"stop_token_ids": vec![5; MAX_STOP_TOKEN_IDS]}),
                json!({"stop_token_ids": vec![5; MAX_STOP_TOKEN_IDS + 1]}),
                "stop_token_ids",
                format!("at most {MAX_STOP_TOKEN_IDS} ids"),
            ),
            (
                json!({"messages": vec![user.clone(); MAX_MESSAGES]}),
                json!({"messages": vec![user.clone(); MAX_MESSAGES + 1]}),
                "messages",
                format!("at most {MAX_MESSAGES} messages"),
            ),
            (
                json!({"tools": (0..MAX_TOOLS).map(tool).collect::<Vec<_>>()}),
                json!({"tools": (0..=MAX_TOOLS).map(tool).collect::<Vec<_>>()}),
                "tools",
                format!("at most {MAX_TOOLS} tools"),
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f",
                    "parameters": big_schema(MAX_SCHEMA_BYTES - 100)}}]}),
                json!({"tools": [{"type": "function", "function": {"name": "f",
                    "parameters": big_schema(MAX_SCHEMA_BYTES)}}]}),
                "tools[0].function.parameters",
                format!("at most {MAX_SCHEMA_BYTES} bytes"),
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {
                    "name": "x", "schema": big_schema(MAX_SCHEMA_BYTES - 100)}}}),
                json!({"response_format": {"type": "json_schema", "json_schema": {
                    "name": "x", "schema": big_schema(MAX_SCHEMA_BYTES)}}}),
                "response_format.json_schema.schema",
                format!("at most {MAX_SCHEMA_BYTES} bytes"),
            ),
        ];
        for (at_cap, over, param, msg) in cases {
            assert!(
                chat(at_cap.clone()).is_ok(),
                "the cap itself is accepted: {param}"
            );
            let e = err(chat(over));
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{param}");
            assert_eq!(e.param.as_deref(), Some(param), "{}", e.message);
            assert!(e.message.contains(&msg), "{param}: {}", e.message);
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
