//! The narrow types that cross the engine's edges: what a validated request
//! asks for (`GenerateRequest`), and what comes back to the HTTP layer
//! (`Generation`, a channel of `StreamEvent`s).
//!
//! Nothing here is unchecked input: the `api` module builds these only after
//! validation, so every actor downstream can trust them.

use serde_json::{Map, Value};

/// Identifies one sequence (one choice of one request) inside the engine:
/// the request's id and the choice's index packed into one word, so the
/// scheduler's and executor's maps key on a plain integer. Only
/// [`SeqId::new`] builds one, and it refuses a choice index that would spill
/// into the next request's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqId(u64);

impl SeqId {
    /// Choices one request may have (`n`): the low bits of a [`SeqId`].
    pub const MAX_CHOICES: usize = 1024;

    /// The sequence of choice `choice` of request `request_id`; `None` if
    /// the choice index is out of range or the packed id would overflow.
    pub fn new(request_id: u64, choice: usize) -> Option<SeqId> {
        if choice >= Self::MAX_CHOICES {
            return None;
        }
        request_id
            .checked_mul(Self::MAX_CHOICES as u64)
            .map(|base| SeqId(base + choice as u64))
    }

    /// The request this sequence belongs to.
    pub fn request_id(self) -> u64 {
        self.0 / Self::MAX_CHOICES as u64
    }

    /// The choice's index within its request.
    pub fn choice(self) -> usize {
        (self.0 % Self::MAX_CHOICES as u64) as usize
    }

    /// The packed value (a stable per-sequence number, e.g. to seed a
    /// random stream).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for SeqId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.request_id(), self.choice())
    }
}

/// Who a request belongs to: the project id (empty on a server without
/// tenancy). The scheduler's fairness is keyed by it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct TenantId(pub String);

/// A request's owner as the engine sees it: whose share of the batch it
/// draws on, how large that share is, and which prefix-cache entries it
/// may hit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tenant {
    /// The fairness key (the project).
    pub id: TenantId,
    /// Fair-share weight (>= 1): a tenant of weight 2 gets twice the
    /// service of one of weight 1 while both are backlogged.
    pub weight: u32,
    /// The prefix-cache salt: the project's own id unless the operator
    /// put it in a group that shares.
    pub cache_group: String,
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant {
            id: TenantId::default(),
            weight: 1,
            cache_group: String::new(),
        }
    }
}

/// How the next token is chosen. Defaults are OpenAI's (temperature 1, no
/// truncation, no penalties).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 disables.
    pub top_k: usize,
    /// Nucleus sampling mass; 1.0 disables.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times the top one; 0 disables.
    pub min_p: f32,
    /// Seed of this choice's random stream. Always set by the request actor
    /// (drawn at random when the client gave none) so sampling is a pure
    /// function of (seed, position) and identical alone or in any batch.
    pub seed: u64,
    /// OpenAI presence penalty, subtracted once from every token already generated.
    pub presence_penalty: f32,
    /// OpenAI frequency penalty, subtracted per occurrence in the output.
    pub frequency_penalty: f32,
    /// CTRL-style multiplicative penalty over prompt and output tokens; 1.0 disables.
    pub repetition_penalty: f32,
    /// `Some(k)`: report the chosen token's logprob and the k most likely alternatives.
    pub logprobs: Option<usize>,
    /// Most tokens to generate (already clamped to the context's room).
    pub max_tokens: usize,
    /// Keep generating past end-of-sequence tokens (benchmarks).
    pub ignore_eos: bool,
    /// Extra token ids that end generation, beside the model's eos ids.
    pub stop_token_ids: Vec<u32>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: 0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repetition_penalty: 1.0,
            logprobs: None,
            max_tokens: 16,
            ignore_eos: false,
            stop_token_ids: Vec::new(),
        }
    }
}

impl SamplingParams {
    /// True when the choice is deterministic argmax.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }
}

/// What the model is asked to continue.
#[derive(Clone, Debug)]
pub enum Prompt {
    /// Chat messages rendered through the model's chat template.
    Chat {
        /// OpenAI-shaped messages (already validated).
        messages: Value,
        /// OpenAI-shaped tool definitions, passed to the template.
        tools: Option<Value>,
        /// Append the assistant header so the model answers.
        add_generation_prompt: bool,
        /// Extra template variables (`chat_template_kwargs`, e.g. `enable_thinking`).
        template_kwargs: Map<String, Value>,
    },
    /// Raw text, tokenized with the tokenizer's special tokens (BOS).
    Text(String),
    /// Pre-tokenized ids (the legacy completions API accepts them).
    Tokens(Vec<u32>),
}

/// A validated generation request, the only thing the engine accepts.
#[derive(Clone, Debug)]
pub struct GenerateRequest {
    /// Owner of the request (fairness, cache salt).
    pub tenant: Tenant,
    /// What to continue.
    pub prompt: Prompt,
    /// Sampling for every choice. `max_tokens: None` means "as many as fit".
    pub params: SamplingParams,
    /// The client's max_tokens (None when absent); clamped by the request actor.
    pub max_tokens: Option<usize>,
    /// Client-provided seed; None draws one at random.
    pub seed: Option<u64>,
    /// Number of choices; they share the prompt's KV blocks.
    pub n: usize,
    /// Stop strings: generation ends before them and they are not emitted.
    pub stop: Vec<String>,
    /// Drop special tokens from the text (OpenAI default: true).
    pub skip_special_tokens: bool,
    /// vLLM's `cache_salt`: prefix-cache hits only among requests with the
    /// same salt (on top of the tenant's own isolation).
    pub cache_salt: Option<String>,
    /// Parse tool calls out of the output (chat with tools offered and
    /// `tool_choice` not `none`).
    pub parse_tool_calls: bool,
    /// Constrained decoding: what the output must be (`response_format`,
    /// `tool_choice` `required` or a named function). `None`: free text.
    pub constraint: Option<Constraint>,
    /// Checked once the prompt is tokenized and the output budget known,
    /// before any model work (the tenancy layer's rate limits).
    pub gate: Option<std::sync::Arc<dyn AdmissionGate>>,
}

/// A check a request must pass once its exact prompt length and output
/// budget are known and before anything is computed for it: the tenancy
/// layer's token rate limits reserve exactly what the request may use, and
/// a refused request costs a tokenization, never a prefill.
pub trait AdmissionGate: Send + Sync + std::fmt::Debug {
    /// Admit a request of `prompt_tokens` that may generate up to
    /// `max_output_tokens` (all choices together), or refuse it with a
    /// message (the gate keeps the details for its caller).
    fn admit(&self, prompt_tokens: usize, max_output_tokens: usize) -> Result<(), String>;
}

/// What a constrained request's output must be. Built by validation from
/// `response_format` and `tool_choice`; compiled into a grammar by
/// [`crate::engine::guided`] when the request starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// `response_format: {type: "json_object"}`: any JSON object.
    JsonObject,
    /// `response_format: {type: "json_schema", json_schema: {schema, strict}}`.
    JsonSchema {
        /// The JSON schema the output must satisfy.
        schema: Value,
        /// The client's `strict` flag. The schema is enforced either way
        /// (as vLLM does); the flag is kept for the record.
        strict: bool,
    },
    /// `tool_choice: "required"` or a named function: the output is the
    /// model family's tool-call markup around calls to these tools.
    ToolCalls {
        /// The callable tools, in the order offered (only the named one
        /// for a named `tool_choice`).
        tools: Vec<ToolSpec>,
        /// `required`: one or more calls; a named function: exactly one.
        one_or_more: bool,
    },
}

/// One function a constrained tool call may name.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Its index in the request's `tools` (error messages name
    /// `tools[i].function.parameters`).
    pub index: usize,
    /// The function's name.
    pub name: String,
    /// The arguments' JSON schema (`{"type": "object"}` when none is given).
    pub parameters: Value,
}

/// Why a choice ended, as OpenAI spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// An eos token, a stop token id or a stop string.
    Stop,
    /// `max_tokens` or the context window was reached.
    Length,
    /// The turn ended in tool calls.
    ToolCalls,
    /// The client went away or the request was cancelled.
    Abort,
}

impl FinishReason {
    /// The OpenAI wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Abort => "abort",
        }
    }
}

/// One generated token's log probability and its most likely alternatives.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprob {
    /// The token's text (may be a partial UTF-8 piece, shown lossily).
    pub token: String,
    /// The token's raw bytes.
    pub bytes: Vec<u8>,
    /// Natural-log probability under the model's (unpenalised, untempered) distribution.
    pub logprob: f32,
    /// The top alternatives, most likely first: (token text, bytes, logprob).
    pub top: Vec<(String, Vec<u8>, f32)>,
}

/// A tool call parsed from the model's output, its deltas joined (the
/// non-streamed response's `tool_calls`).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// Position among this choice's calls (0, 1, ...).
    pub index: usize,
    /// `call_...`, unique per call.
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments, a JSON object as a string (cut short when the reply
    /// hit `max_tokens` inside the call).
    pub arguments: String,
}

/// A piece of a tool call as the model writes it: the call's first delta
/// carries its id and name, later ones append to its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCallDelta {
    /// Position among this choice's calls (0, 1, ...).
    pub index: usize,
    /// `(id, name)` on the call's first delta only.
    pub start: Option<(String, String)>,
    /// More of the arguments JSON (may be empty on the first delta).
    pub arguments: String,
}

impl ToolCall {
    /// Folds one delta into a choice's calls: a start opens a call, other
    /// deltas extend the call with their index.
    pub fn absorb(calls: &mut Vec<ToolCall>, delta: ToolCallDelta) {
        match delta.start {
            Some((id, name)) => calls.push(ToolCall {
                index: delta.index,
                id,
                name,
                arguments: delta.arguments,
            }),
            None => {
                if let Some(c) = calls.iter_mut().rev().find(|c| c.index == delta.index) {
                    c.arguments.push_str(&delta.arguments);
                }
            }
        }
    }
}

/// What a stream actor tells the HTTP layer, in order, for one request.
#[derive(Clone, Debug)]
pub enum StreamEvent {
    /// New text for one choice (may be empty when only logprobs moved).
    Delta {
        /// Choice index.
        choice: usize,
        /// Answer text made complete by these tokens (never broken UTF-8).
        text: String,
        /// Reasoning text (`reasoning_content`), when a reasoning parser runs.
        reasoning: String,
        /// Tool-call pieces written by these tokens, when a tool parser runs.
        tool_calls: Vec<ToolCallDelta>,
        /// Token ids behind this delta.
        token_ids: Vec<u32>,
        /// Per-token logprobs when requested.
        logprobs: Vec<TokenLogprob>,
    },
    /// A choice is done; no more deltas follow for it.
    Finished {
        /// Choice index.
        choice: usize,
        /// Why it ended.
        reason: FinishReason,
        /// Tokens generated for this choice.
        completion_tokens: usize,
        /// The stop string that ended it, if any.
        matched_stop: Option<String>,
        /// Prompt tokens served from the prefix cache.
        cached_tokens: usize,
        /// Generated tokens that were reasoning.
        reasoning_tokens: usize,
    },
    /// The engine failed this request (an internal error, not a client one).
    Failed {
        /// Human-readable cause.
        message: String,
    },
    /// The request waited in the queue past the queue timeout without
    /// starting and was dropped: the server is overloaded (a 503, or an
    /// error frame on a stream). Nothing was generated.
    QueueTimedOut {
        /// How long it waited.
        waited: std::time::Duration,
        /// When a retry has a fair chance.
        retry_after: std::time::Duration,
    },
}

/// An accepted request, handed back to the HTTP layer.
pub struct Generation {
    /// Engine-wide unique id of the request (used in `chatcmpl-...` ids).
    pub request_id: u64,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// max_tokens after clamping to the context's room.
    pub max_tokens: usize,
    /// True when the client's max_tokens was lowered to fit the context.
    pub max_tokens_clamped: bool,
    /// What the stream actors report, in order; dropping it cancels the request.
    pub events: flume::Receiver<StreamEvent>,
}

#[cfg(test)]
mod tests {
    use super::SeqId;

    #[test]
    fn seq_ids_keep_request_and_choice_apart() {
        let a = SeqId::new(7, 0).unwrap();
        let b = SeqId::new(7, SeqId::MAX_CHOICES - 1).unwrap();
        let c = SeqId::new(8, 0).unwrap();
        assert_eq!((b.request_id(), b.choice()), (7, SeqId::MAX_CHOICES - 1));
        assert!(
            a < b && b < c,
            "choices of one request sort before the next request"
        );
        assert_eq!(
            SeqId::new(7, SeqId::MAX_CHOICES),
            None,
            "a choice never spills over"
        );
        assert_eq!(SeqId::new(u64::MAX, 0), None, "no silent overflow");
        assert_eq!(c.to_string(), "8.0");
    }
}
