//! `EngineHandle`: the facade the HTTP layer calls (TGI's `Infer`). It owns
//! nothing mutable: it spawns a request actor per call and hands back the
//! event channel the stream actors write into.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::engine::request::{GenerateRequest, Generation};
use crate::metrics::{Metrics, RejectReason};
use crate::runtime::admission::Admission;
use crate::tokenize::conversation::{self, ConversationError};
use crate::tokenize::tool_fallback::{self, FallbackFormat};
use crate::tokenize::Tokenizer;

/// Why the engine refused a request before generating anything.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The prompt alone does not fit the context window (a client error: 400).
    #[error("This model's maximum context length is {max_model_len} tokens. However, your prompt has {prompt_tokens} tokens (plus at least 1 token for the completion). Please reduce the length of the messages or prompt.")]
    PromptTooLong {
        /// Tokens in the rendered prompt.
        prompt_tokens: usize,
        /// The model's context window.
        max_model_len: usize,
    },
    /// The prompt is empty after rendering (400).
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// A token id outside the vocabulary (400).
    #[error("token id {id} is out of range: the vocabulary has {vocab_size} tokens")]
    TokenOutOfRange {
        /// The offending id.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// The conversation cannot be shown to the template (400 naming the
    /// field: a tool result answering no call, arguments the template
    /// cannot render).
    #[error(transparent)]
    Conversation(#[from] ConversationError),
    /// The chat template refused the conversation (400), with its message.
    #[error("chat template error: {0}")]
    Template(String),
    /// The model has no chat template and the request is a chat (400).
    #[error("this model has no chat template; use /v1/completions with a prompt")]
    NoChatTemplate,
    /// Tokenization failed (400).
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    /// A constraint (`response_format`, forced `tool_choice`) cannot be
    /// enforced (400 naming `param`).
    #[error("{message}")]
    Constraint {
        /// The request field at fault.
        param: String,
        /// What is wrong with it.
        message: String,
    },
    /// The choices together ask for more tokens than one request may
    /// ([`crate::runtime::limits::MAX_TOTAL_TOKENS`]; 400 naming `n`).
    #[error("n x max_tokens may be at most {limit} tokens, got {n} x {max_tokens} (max_tokens after clamping to the context)")]
    TooManyTokens {
        /// Choices asked for.
        n: usize,
        /// Tokens per choice, after clamping to the context's room.
        max_tokens: usize,
        /// The limit.
        limit: usize,
    },
    /// The request's [`crate::engine::request::AdmissionGate`] refused it
    /// (its caller, which set the gate, answers with the details: a 429).
    #[error("{0}")]
    Refused(String),
    /// The engine is shutting down or its actors died (503).
    #[error("the engine is unavailable: {0}")]
    Unavailable(String),
    /// The waiting room is full (`max_waiting_requests`): refused before
    /// any work was spent on the request (503 with `retry-after`). The
    /// message starts with "Overloaded", which OpenCode shows as "Provider
    /// is overloaded".
    #[error("Overloaded: {waiting} requests are already waiting for this server, the most it queues. Please retry after {} s.", retry_secs(*retry_after))]
    Overloaded {
        /// Requests waiting when this one came.
        waiting: usize,
        /// When a retry has a fair chance.
        retry_after: Duration,
    },
    /// The request waited past the queue timeout without starting (503
    /// with `retry-after`, or an error frame once a stream has begun).
    #[error("Overloaded: the request waited {:.1} s in the queue without starting, longer than this server lets a request wait. Please retry after {} s.", waited.as_secs_f64(), retry_secs(*retry_after))]
    QueueTimeout {
        /// How long it waited.
        waited: Duration,
        /// When a retry has a fair chance.
        retry_after: Duration,
    },
}

/// A retry hint in whole seconds, rounded up (what `retry-after` says).
pub fn retry_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs();
    if retry_after.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

impl EngineError {
    /// True when the client caused it (maps to 4xx rather than 5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            EngineError::Unavailable(_)
                | EngineError::Overloaded { .. }
                | EngineError::QueueTimeout { .. }
        )
    }

    /// When the client should retry, for refusals that say so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EngineError::Overloaded { retry_after, .. }
            | EngineError::QueueTimeout { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// What every handler needs to reach the engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) inner: Arc<EngineShared>,
}

/// The shared, immutable part of a running engine.
pub(crate) struct EngineShared {
    pub(crate) model_name: String,
    pub(crate) max_model_len: usize,
    pub(crate) tokenizer: Arc<Tokenizer>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) scheduler: ractor::ActorRef<crate::runtime::scheduler_actor::SchedulerMsg>,
    pub(crate) next_request_id: std::sync::atomic::AtomicU64,
    /// Tool-call and reasoning formats of this model's output.
    pub(crate) output_formats: crate::parse::OutputFormats,
    /// The grammar compiler for constrained decoding (built on first use).
    pub(crate) guidance: crate::engine::guided::Guidance,
    /// The waiting room: requests accepted and not yet running, bounded.
    pub(crate) admission: Arc<Admission>,
    /// Admission and backpressure limits.
    pub(crate) limits: crate::runtime::ServingLimits,
}

impl Drop for EngineShared {
    /// The last handle is gone, so nothing can submit work any more: the
    /// scheduler actor stops and takes its executor (and the model's memory)
    /// with it. It runs on a thread of its own, so it would otherwise
    /// outlive the runtime that started it.
    fn drop(&mut self) {
        self.scheduler.stop(Some("the engine was dropped".into()));
    }
}

impl EngineHandle {
    /// True while the scheduler actor runs: what `GET /health` reports.
    pub fn is_serving(&self) -> bool {
        matches!(
            self.inner.scheduler.get_status(),
            ractor::ActorStatus::Running
        )
    }

    /// Stops the engine: the scheduler actor ends (its executor thread with
    /// it), streams still open end with an error, and from then on requests
    /// get 503 and `/health` says 503.
    pub fn shutdown(&self) {
        self.inner.scheduler.stop(Some("shutdown".into()));
    }

    /// Test-only: make the scheduler panic for real on its next scheduling
    /// pass, so tests can check that it restarts (failing the requests in
    /// flight) and the engine keeps serving. No route calls it.
    #[doc(hidden)]
    pub fn inject_scheduler_panic(&self) {
        let _ = self
            .inner
            .scheduler
            .send_message(crate::runtime::scheduler_actor::SchedulerMsg::InjectPanic);
    }

    /// The service each tenant received from the scheduler so far (tokens
    /// charged, weighted and raw; what each has waiting and running): what
    /// fair scheduling shares out, docs/fairness.md.
    pub async fn tenant_service(
        &self,
    ) -> Result<Vec<crate::engine::fair::TenantService>, EngineError> {
        ractor::call!(
            self.inner.scheduler,
            crate::runtime::scheduler_actor::SchedulerMsg::TenantService
        )
        .map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    /// The served model name (`model` must match it exactly).
    pub fn model_name(&self) -> &str {
        &self.inner.model_name
    }

    /// The context window in tokens (prompt + completion).
    pub fn max_model_len(&self) -> usize {
        self.inner.max_model_len
    }

    /// The model's tokenizer (for /tokenize and /detokenize).
    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.inner.tokenizer
    }

    /// Server metrics (rendered by /metrics).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Render a chat through the model's template (what /tokenize shows).
    ///
    /// The wire conversation is first turned into what the template expects
    /// ([`conversation::for_template`]: arguments as mappings, tool results
    /// named, Mistral ids), then rendered, through the tool fallback when
    /// the template ignores `tools`. A template that fails on arguments
    /// left as they were sent (not a JSON object), and renders with `{}` in
    /// their place, is answered with a 400 naming that field.
    pub fn render_chat(
        &self,
        messages: &Value,
        tools: Option<&Value>,
        add_generation_prompt: bool,
        template_kwargs: &Map<String, Value>,
    ) -> Result<String, EngineError> {
        let template = self
            .inner
            .tokenizer
            .chat_template()
            .ok_or(EngineError::NoChatTemplate)?;
        let messages = conversation::for_template(messages, self.inner.output_formats.tools)?;
        let fallback = self
            .uses_tool_fallback(tools)
            .then(|| self.fallback_format());
        let render = |messages: &Value| match (fallback, tools) {
            // A template that knows no tools gets them in the system prompt.
            (Some(format), Some(t)) => template.render(
                &tool_fallback::rewrite_messages(messages, t, format),
                None,
                add_generation_prompt,
                template_kwargs,
            ),
            _ => template.render(messages, tools, add_generation_prompt, template_kwargs),
        };
        render(&messages).map_err(|err| {
            let unmapped = conversation::unmapped_arguments(&messages);
            match unmapped.into_iter().next() {
                Some((path, found))
                    if render(&conversation::with_empty_arguments(&messages)).is_ok() =>
                {
                    EngineError::Conversation(ConversationError::ArgumentsNotAnObject {
                        path,
                        found,
                        template_error: err.to_string(),
                    })
                }
                _ => EngineError::Template(err.to_string()),
            }
        })
    }

    /// True when `tools` are given but the chat template ignores them, so
    /// they travel in the documented fallback system prompt
    /// ([`Self::fallback_format`]).
    pub fn uses_tool_fallback(&self, tools: Option<&Value>) -> bool {
        tools.is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()))
            && self
                .inner
                .tokenizer
                .chat_template()
                .is_some_and(|t| tool_fallback::template_ignores_tools(t.source()))
    }

    /// The markup of the fallback tool prompt: the one this model's output
    /// parser reads (DeepSeek's for DeepSeek, Hermes otherwise), so the
    /// calls the prompt asks for are the calls that get parsed.
    pub fn fallback_format(&self) -> FallbackFormat {
        FallbackFormat::for_parser(self.inner.output_formats.tools)
    }

    /// Requests accepted and not yet running (rendering, tokenizing or in
    /// the scheduler's waiting queue).
    pub fn waiting_requests(&self) -> usize {
        self.inner.admission.waiting()
    }

    /// Start generating: takes a place in the waiting room first (a full
    /// room is an [`EngineError::Overloaded`] before any work is spent),
    /// then spawns a request actor, which renders, tokenizes and clamps,
    /// then submits to the scheduler. Dropping the returned receiver
    /// cancels the request and frees its KV blocks.
    pub async fn generate(&self, req: GenerateRequest) -> Result<Generation, EngineError> {
        let ticket = self.inner.admission.try_enter().map_err(|full| {
            self.inner.metrics.inc_rejected(RejectReason::QueueFull);
            EngineError::Overloaded {
                waiting: full.waiting,
                retry_after: full.retry_after,
            }
        })?;
        crate::runtime::request_actor::run(self.clone(), req, ticket).await
    }
}

#[cfg(test)]
mod tests {
    use crate::runner::sim::SimSpeed;
    use crate::runtime::{start, EngineConfig, RunnerKind};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_last_handle_stops_the_scheduler() {
        let handle = start(EngineConfig {
            model: None,
            served_model_name: None,
            runner: RunnerKind::Sim {
                mode: "random".into(),
                script: None,
                speed: SimSpeed {
                    prefill_us_per_token: 0.0,
                    decode_step_us: 100.0,
                    decode_us_per_seq: 0.0,
                },
            },
            kv_cache_gib: None,
            num_kv_blocks: Some(64),
            block_size: 16,
            max_num_seqs: 8,
            max_num_batched_tokens: 256,
            max_model_len: None,
            cache_dir: std::env::temp_dir().join("weir-test-cache"),
            prefix_caching: true,
            tool_call_parser: "auto".into(),
            reasoning_parser: "auto".into(),
            chat_template: None,
            limits: Default::default(),
        })
        .await
        .expect("engine starts");
        let scheduler = handle.inner.scheduler.clone();
        let second = handle.clone();
        drop(handle);
        assert!(second.is_serving(), "a handle is still alive");
        drop(second);
        for _ in 0..200 {
            if matches!(scheduler.get_status(), ractor::ActorStatus::Stopped) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the scheduler still runs: {:?}", scheduler.get_status());
    }
}
