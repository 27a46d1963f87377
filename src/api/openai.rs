//! OpenAI wire types for what weir sends: completions, chunks, usage,
//! logprobs, model cards and the vLLM tokenizer endpoints' replies.
//!
//! Requests have their own types in `wire`.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::engine::request::{FinishReason, TokenLogprob};

/// Token counts of one request (summed over its choices).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated, over all choices.
    pub completion_tokens: usize,
    /// `prompt_tokens + completion_tokens`.
    pub total_tokens: usize,
    /// What part of the prompt came from the prefix cache.
    pub prompt_tokens_details: PromptTokensDetails,
    /// What part of the completion was reasoning.
    pub completion_tokens_details: CompletionTokensDetails,
}

/// OpenAI's `usage.completion_tokens_details`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CompletionTokensDetails {
    /// Generated tokens that were reasoning.
    pub reasoning_tokens: usize,
}

/// OpenAI's `usage.prompt_tokens_details`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PromptTokensDetails {
    /// Prompt tokens whose KV was reused from the prefix cache.
    pub cached_tokens: usize,
}

impl Usage {
    /// Usage with the total filled in.
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptTokensDetails::default(),
            completion_tokens_details: CompletionTokensDetails::default(),
        }
    }

    /// The same usage with `reasoning_tokens` set.
    pub fn with_reasoning(mut self, reasoning_tokens: usize) -> Self {
        self.completion_tokens_details.reasoning_tokens = reasoning_tokens;
        self
    }

    /// The same usage with `cached_tokens` set.
    pub fn with_cached(mut self, cached_tokens: usize) -> Self {
        self.prompt_tokens_details.cached_tokens = cached_tokens;
        self
    }
}

/// The wire string of a finish reason. `abort` only happens when the client
/// left, so a client that still reads sees it as `stop`.
pub fn finish_reason_str(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Abort => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
    }
}

/// A tool call on the wire: `{index?, id, type: "function", function: {name, arguments}}`.
///
/// In a stream a call comes in pieces: its first delta carries `index`,
/// `id`, `type`, `function.name` and the first `function.arguments` (maybe
/// `""`); later deltas carry only `index` and more `function.arguments`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WireToolCall {
    /// Position among the choice's calls (streamed chunks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// `call_...` (a call's first streamed delta, and every whole call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always `function`, where `id` is set.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<&'static str>,
    /// Name and (more of the) JSON arguments.
    pub function: WireFunction,
}

/// The `function` of a tool call.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WireFunction {
    /// Function name (where `id` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments, a JSON object as a string (a piece of it in a stream).
    pub arguments: String,
}

impl WireToolCall {
    /// A whole call, for a non-streamed message.
    pub fn from_engine(c: &crate::engine::request::ToolCall) -> Self {
        Self {
            index: None,
            id: Some(c.id.clone()),
            kind: Some("function"),
            function: WireFunction {
                name: Some(c.name.clone()),
                arguments: c.arguments.clone(),
            },
        }
    }

    /// One streamed piece of a call.
    pub fn from_delta(d: &crate::engine::request::ToolCallDelta) -> Self {
        let (id, name) = match &d.start {
            Some((id, name)) => (Some(id.clone()), Some(name.clone())),
            None => (None, None),
        };
        Self {
            index: Some(d.index),
            kind: id.as_ref().map(|_| "function"),
            id,
            function: WireFunction {
                name,
                arguments: d.arguments.clone(),
            },
        }
    }
}

/// JSON has no infinities; OpenAI reports impossible tokens as -9999.
fn wire_logprob(lp: f32) -> f32 {
    if lp.is_finite() {
        lp
    } else {
        -9999.0
    }
}

// ---------------------------------------------------------------------------
// Chat completions
// ---------------------------------------------------------------------------

/// A non-streamed chat completion (`object: "chat.completion"`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-...`.
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The served model name.
    pub model: String,
    /// One entry per choice, in index order.
    pub choices: Vec<ChatChoice>,
    /// Token counts.
    pub usage: Usage,
}

/// One choice of a [`ChatCompletion`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatChoice {
    /// Choice index.
    pub index: usize,
    /// The assistant's message.
    pub message: ChatMessage,
    /// Per-token logprobs when requested, else null.
    pub logprobs: Option<ChatLogprobs>,
    /// `stop` or `length`.
    pub finish_reason: &'static str,
    /// vLLM extension: the stop string that ended the choice, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

/// The assistant message of a non-streamed choice.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// The answer text (null when the turn is only tool calls).
    pub content: Option<String>,
    /// The reasoning, when a reasoning parser split it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool calls parsed from the output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<WireToolCall>>,
}

/// Chat logprobs: `{"content": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct ChatLogprobs {
    /// One entry per generated token.
    pub content: Vec<ChatTokenLogprob>,
}

/// One generated token's logprob in the chat format.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ChatTokenLogprob {
    /// Token text.
    pub token: String,
    /// Natural-log probability.
    pub logprob: f32,
    /// The token's UTF-8 bytes.
    pub bytes: Vec<u8>,
    /// The most likely alternatives, most likely first.
    pub top_logprobs: Vec<TopLogprob>,
}

/// An alternative token in [`ChatTokenLogprob::top_logprobs`].
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TopLogprob {
    /// Token text.
    pub token: String,
    /// Natural-log probability.
    pub logprob: f32,
    /// The token's UTF-8 bytes.
    pub bytes: Vec<u8>,
}

impl ChatLogprobs {
    /// Convert the engine's per-token logprobs.
    pub fn from_engine(lps: &[TokenLogprob]) -> Self {
        Self {
            content: lps
                .iter()
                .map(|lp| ChatTokenLogprob {
                    token: lp.token.clone(),
                    logprob: wire_logprob(lp.logprob),
                    bytes: lp.bytes.clone(),
                    top_logprobs: lp
                        .top
                        .iter()
                        .map(|(token, bytes, logprob)| TopLogprob {
                            token: token.clone(),
                            logprob: wire_logprob(*logprob),
                            bytes: bytes.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// One streamed chat chunk (`object: "chat.completion.chunk"`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletionChunk<'a> {
    /// Same for every chunk of a response.
    pub id: &'a str,
    /// Always `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix seconds (same for every chunk).
    pub created: i64,
    /// The served model name.
    pub model: &'a str,
    /// One choice per chunk, or none in the final usage chunk.
    pub choices: Vec<ChatChunkChoice>,
    /// Absent unless usage was asked for; null on content chunks, set on the
    /// usage chunk (or on every chunk with `continuous_usage_stats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Usage>)]
    pub usage: Option<Option<Usage>>,
}

/// A choice inside a [`ChatCompletionChunk`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatChunkChoice {
    /// Choice index.
    pub index: usize,
    /// What is new.
    pub delta: ChatDelta,
    /// Logprobs of the tokens behind this delta, or null.
    pub logprobs: Option<ChatLogprobs>,
    /// Null until the choice's last chunk.
    pub finish_reason: Option<&'static str>,
    /// vLLM extension: the stop string that ended the choice, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

/// The `delta` of a chat chunk; `{}` on the finishing chunk.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ChatDelta {
    /// `assistant` on a choice's first chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// New text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// New reasoning text (vLLM's and DeepSeek's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The same reasoning text under the name newer clients read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Complete tool calls (each carries id, name and all its arguments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<WireToolCall>>,
}

// ---------------------------------------------------------------------------
// Legacy completions
// ---------------------------------------------------------------------------

/// A completion, whole or one streamed chunk (`object: "text_completion"`
/// in both cases, as OpenAI does).
#[derive(Debug, Serialize, ToSchema)]
pub struct Completion<'a> {
    /// `cmpl-...`.
    pub id: &'a str,
    /// Always `text_completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The served model name.
    pub model: &'a str,
    /// The choices (one per chunk when streaming; none in the usage chunk).
    pub choices: Vec<CompletionChoice>,
    /// Whole response: always set. Stream: as for [`ChatCompletionChunk::usage`].
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Usage>)]
    pub usage: Option<Option<Usage>>,
}

/// One choice of a [`Completion`].
#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionChoice {
    /// Choice index.
    pub index: usize,
    /// Generated text (with the prompt in front when `echo`).
    pub text: String,
    /// Logprobs when requested, else null.
    pub logprobs: Option<CompletionLogprobs>,
    /// Null until the choice's last chunk.
    pub finish_reason: Option<&'static str>,
    /// vLLM extension: the stop string that ended the choice, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// vLLM extension (`return_token_ids`): the generated token ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
}

/// Logprobs in the legacy completions format (parallel arrays).
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct CompletionLogprobs {
    /// Token texts.
    pub tokens: Vec<String>,
    /// Each token's logprob.
    pub token_logprobs: Vec<f32>,
    /// Per token, `{token text: logprob}` for the token and its alternatives.
    #[schema(value_type = Vec<HashMap<String, f64>>)]
    pub top_logprobs: Vec<Map<String, Value>>,
    /// Per token, its offset (in characters) in the choice's text.
    pub text_offset: Vec<usize>,
}

impl CompletionLogprobs {
    /// Append the engine's logprobs; `offset` is the running character offset
    /// of the choice's text and is advanced past each token.
    pub fn extend_from_engine(&mut self, lps: &[TokenLogprob], offset: &mut usize) {
        for lp in lps {
            self.tokens.push(lp.token.clone());
            self.token_logprobs.push(wire_logprob(lp.logprob));
            let mut top = Map::new();
            top.insert(lp.token.clone(), Value::from(wire_logprob(lp.logprob)));
            for (token, _, logprob) in &lp.top {
                if !top.contains_key(token) {
                    top.insert(token.clone(), Value::from(wire_logprob(*logprob)));
                }
            }
            self.top_logprobs.push(top);
            self.text_offset.push(*offset);
            *offset += lp.token.chars().count();
        }
    }
}

// ---------------------------------------------------------------------------
// Models and tokenizer endpoints
// ---------------------------------------------------------------------------

/// `GET /v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    /// The served models (one).
    pub data: Vec<ModelCard>,
}

/// One model in [`ModelList`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelCard {
    /// The served model name (what `model` must equal).
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Unix seconds (server start).
    pub created: i64,
    /// Always `weir`.
    pub owned_by: &'static str,
    /// vLLM extension: the model the name serves.
    pub root: String,
    /// vLLM extension: null (no adapters).
    pub parent: Option<String>,
    /// vLLM extension: the context window.
    pub max_model_len: usize,
}

/// `POST /tokenize` reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenizeResponse {
    /// Number of tokens.
    pub count: usize,
    /// The context window.
    pub max_model_len: usize,
    /// The token ids.
    pub tokens: Vec<u32>,
    /// The text that was tokenized (the rendered chat for `messages`).
    pub prompt: String,
}

/// `POST /detokenize` reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetokenizeResponse {
    /// The decoded text.
    pub prompt: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(token: &str, logprob: f32, top: &[(&str, f32)]) -> TokenLogprob {
        TokenLogprob {
            token: token.into(),
            bytes: token.as_bytes().to_vec(),
            logprob,
            top: top
                .iter()
                .map(|(t, l)| (t.to_string(), t.as_bytes().to_vec(), *l))
                .collect(),
        }
    }

    #[test]
    fn chat_logprobs_shape() {
        let l = ChatLogprobs::from_engine(&[lp("Hi", -0.5, &[("Hi", -0.5), ("Yo", -1.5)])]);
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"content": [{
                "token": "Hi", "logprob": -0.5, "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.5, "bytes": [72, 105]},
                    {"token": "Yo", "logprob": -1.5, "bytes": [89, 111]},
                ],
            }]})
        );
    }

    #[test]
    fn non_finite_logprob_becomes_minus_9999() {
        let l = ChatLogprobs::from_engine(&[lp("x", f32::NEG_INFINITY, &[])]);
        assert_eq!(l.content[0].logprob, -9999.0);
    }

    #[test]
    fn completion_logprobs_offsets_and_dedup() {
        let mut c = CompletionLogprobs::default();
        let mut off = 3;
        c.extend_from_engine(
            &[
                lp("é", -0.25, &[("é", -0.25), ("a", -2.0)]),
                lp("bc", -1.0, &[]),
            ],
            &mut off,
        );
        assert_eq!(c.text_offset, vec![3, 4]);
        assert_eq!(off, 6);
        assert_eq!(c.tokens, vec!["é", "bc"]);
        assert_eq!(c.top_logprobs[0].len(), 2);
        assert_eq!(c.top_logprobs[1].len(), 1);
    }

    #[test]
    fn usage_absent_null_or_set() {
        let mk = |usage| ChatCompletionChunk {
            id: "x",
            object: "chat.completion.chunk",
            created: 1,
            model: "m",
            choices: vec![],
            usage,
        };
        let v = serde_json::to_value(mk(None)).unwrap();
        assert!(v.get("usage").is_none());
        let v = serde_json::to_value(mk(Some(None))).unwrap();
        assert!(v["usage"].is_null() && v.get("usage").is_some());
        let v = serde_json::to_value(mk(Some(Some(Usage::new(2, 3))))).unwrap();
        assert_eq!(v["usage"]["total_tokens"], 5);
    }

    #[test]
    fn abort_reads_as_stop() {
        assert_eq!(finish_reason_str(FinishReason::Abort), "stop");
        assert_eq!(finish_reason_str(FinishReason::Length), "length");
    }
}
