//! The request actor: one per request. It turns a validated request into
//! token ids (chat template, tokenizer), compiles its constraint (constrained
//! decoding) if it has one, clamps `max_tokens` to the room the
//! context leaves, starts one stream actor per choice, submits the sequences
//! to the scheduler, and hands the event channel back to the HTTP layer.
//! It then waits for every choice to end and records the request's usage
//! and latency once, so no usage record is lost however a choice ends.
//!
//! The request arrives holding its place in the waiting room (a
//! [`QueueTicket`]). Template, tokenizer and grammar work runs on the
//! blocking pool under one of a bounded number of permits, so a burst of
//! queued requests cannot take every core; a request waiting for a permit
//! still counts as waiting, is refused once it has waited past the queue
//! timeout, and is dropped without any work if its client has left. The
//! ticket then travels with the first choice to the scheduler.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::Value;

use crate::engine::guided::{CompiledConstraint, GuidedError, ReasoningPrefix};
use crate::engine::request::{
    Constraint, FinishReason, GenerateRequest, Generation, Prompt, SeqId,
};
use crate::engine::sched::NewSequence;
use crate::metrics::RejectReason;
use crate::runner::PromptHint;
use crate::runtime::admission::QueueTicket;
use crate::runtime::event_sink::EventSink;
use crate::runtime::handle::{EngineError, EngineHandle};
use crate::runtime::scheduler_actor::{SchedulerMsg, SubmitSeq};
use crate::runtime::stream_actor::{StreamActor, StreamArgs};

/// What the request actor is told.
#[derive(Debug)]
pub enum RequestMsg {
    /// A choice ended (for any reason, including the client leaving).
    ChoiceDone {
        /// Choice index.
        choice: usize,
        /// Why.
        reason: FinishReason,
        /// Tokens it generated.
        completion_tokens: usize,
    },
}

/// The request actor's behaviour.
pub struct RequestActor;

/// How to build a request actor.
pub struct RequestArgs {
    engine: EngineHandle,
    req: GenerateRequest,
    ticket: QueueTicket,
    reply: tokio::sync::oneshot::Sender<Result<Generation, EngineError>>,
}

/// The request actor's private state.
pub struct RequestState {
    engine: EngineHandle,
    arrived: Instant,
    prompt_tokens: usize,
    choices_left: usize,
    completion_tokens: usize,
    last_reason: FinishReason,
}

/// Run a request that holds a place in the waiting room: spawn its actor
/// and wait for it to accept or refuse.
pub async fn run(
    engine: EngineHandle,
    req: GenerateRequest,
    ticket: QueueTicket,
) -> Result<Generation, EngineError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    Actor::spawn(
        None,
        RequestActor,
        RequestArgs {
            engine,
            req,
            ticket,
            reply: tx,
        },
    )
    .await
    .map_err(|e| EngineError::Unavailable(format!("cannot start a request actor: {e}")))?;
    rx.await
        .map_err(|_| EngineError::Unavailable("the request actor stopped early".into()))?
}

/// A validated prompt, tokenized.
struct Tokenized {
    /// The prompt's token ids.
    ids: Vec<u32>,
    /// The last user or tool message, for the `sim` runner.
    hint: PromptHint,
    /// The rendered chat ends inside an open `<think>` block (the template
    /// opened the model's reasoning for it).
    opens_reasoning: bool,
}

fn tokenize(engine: &EngineHandle, prompt: &Prompt) -> Result<Tokenized, EngineError> {
    let tok = engine.tokenizer();
    match prompt {
        Prompt::Chat {
            messages,
            tools,
            add_generation_prompt,
            template_kwargs,
        } => {
            let text = engine.render_chat(
                messages,
                tools.as_ref(),
                *add_generation_prompt,
                template_kwargs,
            )?;
            let ids = tok
                .encode(&text, false)
                .map_err(|e| EngineError::Tokenize(e.to_string()))?;
            let opens_reasoning = text.trim_end().ends_with("<think>");
            Ok(Tokenized {
                ids,
                hint: chat_hint(messages),
                opens_reasoning,
            })
        }
        Prompt::Text(text) => {
            let ids = tok
                .encode(text, true)
                .map_err(|e| EngineError::Tokenize(e.to_string()))?;
            Ok(Tokenized {
                ids,
                hint: PromptHint {
                    role: "prompt".into(),
                    text: text.clone(),
                },
                opens_reasoning: false,
            })
        }
        Prompt::Tokens(ids) => {
            let vocab = tok.vocab_size();
            if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
                return Err(EngineError::TokenOutOfRange {
                    id,
                    vocab_size: vocab,
                });
            }
            let text = tok.decode(ids, false).unwrap_or_default();
            Ok(Tokenized {
                ids: ids.clone(),
                hint: PromptHint {
                    role: "prompt".into(),
                    text,
                },
                opens_reasoning: false,
            })
        }
    }
}

/// Compile a request's constraint for this model's output formats.
fn compile(
    engine: &EngineHandle,
    constraint: &Constraint,
    tools: crate::parse::ToolFormat,
    opens_reasoning: bool,
) -> Result<CompiledConstraint, EngineError> {
    let reasoning =
        if engine.inner.output_formats.reasoning == crate::parse::ReasoningFormat::Harmony {
            ReasoningPrefix::Harmony
        } else if opens_reasoning {
            ReasoningPrefix::Open
        } else if engine.inner.output_formats.reasoning == crate::parse::ReasoningFormat::Think {
            ReasoningPrefix::Optional
        } else {
            ReasoningPrefix::None
        };
    engine
        .inner
        .guidance
        .compile(constraint, tools, reasoning)
        .map_err(|e| match e {
            GuidedError::Rejected { param, message } => EngineError::Constraint { param, message },
            GuidedError::Unavailable(_) => EngineError::Constraint {
                param: match constraint {
                    Constraint::ToolCalls { .. } => "tool_choice".into(),
                    _ => "response_format".into(),
                },
                message: e.to_string(),
            },
        })
}

/// The last user or tool message's text.
fn chat_hint(messages: &Value) -> PromptHint {
    let Some(list) = messages.as_array() else {
        return PromptHint::default();
    };
    for m in list.iter().rev() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role == "user" || role == "tool" {
            let text = match m.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            return PromptHint {
                role: role.into(),
                text,
            };
        }
    }
    PromptHint::default()
}

fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

impl Actor for RequestActor {
    type Msg = RequestMsg;
    type State = RequestState;
    type Arguments = RequestArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RequestMsg>,
        args: RequestArgs,
    ) -> Result<RequestState, ActorProcessingErr> {
        let RequestArgs {
            engine,
            req,
            ticket,
            reply,
        } = args;
        // Latencies count from admission, queueing included.
        let arrived = ticket.arrived();
        let mut state = RequestState {
            engine: engine.clone(),
            arrived,
            prompt_tokens: 0,
            choices_left: 0,
            completion_tokens: 0,
            last_reason: FinishReason::Stop,
        };
        match Self::start(&myself, &engine, req, ticket, &reply).await {
            Ok((generation, n)) => {
                state.prompt_tokens = generation.prompt_tokens;
                state.choices_left = n;
                if reply.send(Ok(generation)).is_err() {
                    // The handler is gone already; the stream actors will
                    // see the closed channel and abort.
                    tracing::debug!("request handler left before the reply");
                }
            }
            Err(e) => {
                let _ = reply.send(Err(e));
                myself.stop(None);
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<RequestMsg>,
        msg: RequestMsg,
        st: &mut RequestState,
    ) -> Result<(), ActorProcessingErr> {
        let RequestMsg::ChoiceDone {
            reason,
            completion_tokens,
            ..
        } = msg;
        Self::choice_done(&myself, st, reason, completion_tokens);
        Ok(())
    }

    /// Stream actors are linked children. ractor's default stops the parent
    /// when any child ends, which would kill the other choices: a normal end
    /// is already counted by `ChoiceDone`, and a crashed stream actor counts
    /// as an aborted choice (its sequence is aborted by the scheduler when
    /// the channel closes).
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RequestMsg>,
        event: SupervisionEvent,
        st: &mut RequestState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(who, err) = event {
            tracing::error!(actor = ?who.get_id(), error = %err, "a stream actor failed");
            Self::choice_done(&myself, st, FinishReason::Abort, 0);
        }
        Ok(())
    }
}

impl RequestActor {
    /// The tool-call markup of a chat request's output: none unless tools
    /// are parsed; the fallback prompt's markup when the template ignores
    /// tools; Hermes for a forced call when the model's own format is
    /// unknown (the grammar then writes Hermes markup, so that is what must
    /// be parsed).
    fn tool_format(engine: &EngineHandle, req: &GenerateRequest) -> crate::parse::ToolFormat {
        use crate::parse::ToolFormat;
        let forced = matches!(req.constraint, Some(Constraint::ToolCalls { .. }));
        match &req.prompt {
            Prompt::Chat { .. } if !req.parse_tool_calls => ToolFormat::None,
            // The fallback prompt asks for calls in its own markup.
            Prompt::Chat { tools: t, .. } if engine.uses_tool_fallback(t.as_ref()) => {
                engine.fallback_format().parser()
            }
            Prompt::Chat { .. } => match engine.inner.output_formats.tools {
                ToolFormat::None if forced => ToolFormat::Hermes,
                f => f,
            },
            _ => ToolFormat::None,
        }
    }

    /// The output parser for one choice of a chat request, if the model's
    /// formats call for one.
    fn parser(
        engine: &EngineHandle,
        req: &GenerateRequest,
        opens_reasoning: bool,
        id_seed: u64,
    ) -> Option<Box<dyn crate::parse::OutputParser>> {
        use crate::parse::{ReasoningFormat, ToolFormat};
        if !matches!(req.prompt, Prompt::Chat { .. }) {
            return None;
        }
        let reasoning = engine.inner.output_formats.reasoning;
        let tools = Self::tool_format(engine, req);
        if tools == ToolFormat::None && reasoning == ReasoningFormat::None {
            return None;
        }
        let offered = match &req.prompt {
            Prompt::Chat { tools, .. } => tools.as_ref(),
            _ => None,
        };
        Some(crate::parse::build(
            tools,
            reasoning,
            opens_reasoning,
            id_seed,
            offered,
        ))
    }

    /// The ids of the special tokens the output parser reads (its markers
    /// that are single tokens), kept in the text although special tokens
    /// are skipped. None for requests without a parser.
    fn kept_special_tokens(
        engine: &EngineHandle,
        req: &GenerateRequest,
        opens_reasoning: bool,
    ) -> Vec<u32> {
        use crate::parse::{OutputFormats, ReasoningFormat};
        if !matches!(req.prompt, Prompt::Chat { .. }) {
            return Vec::new();
        }
        let reasoning = match engine.inner.output_formats.reasoning {
            ReasoningFormat::None if opens_reasoning => ReasoningFormat::Think,
            r => r,
        };
        let formats = OutputFormats {
            tools: Self::tool_format(engine, req),
            reasoning,
        };
        let tok = engine.tokenizer();
        formats
            .markers()
            .into_iter()
            .filter_map(|m| tok.token_to_id(m))
            .collect()
    }

    fn choice_done(
        myself: &ActorRef<RequestMsg>,
        st: &mut RequestState,
        reason: FinishReason,
        completion_tokens: usize,
    ) {
        st.completion_tokens += completion_tokens;
        st.last_reason = reason;
        st.choices_left = st.choices_left.saturating_sub(1);
        if st.choices_left == 0 {
            let m = st.engine.metrics();
            m.observe_e2e(st.arrived.elapsed().as_secs_f64());
            m.observe_request(
                st.prompt_tokens,
                st.completion_tokens,
                st.last_reason.as_str(),
            );
            myself.stop(None);
        }
    }

    /// One of the bounded permits to render and tokenize, waited for no
    /// longer than the request's queue timeout allows.
    async fn tokenization_permit(
        engine: &EngineHandle,
        ticket: &QueueTicket,
    ) -> Result<OwnedSemaphorePermit, EngineError> {
        let acquire = engine
            .inner
            .admission
            .tokenizations()
            .clone()
            .acquire_owned();
        let permit = match ticket.time_left(Instant::now()) {
            None => acquire.await,
            Some(left) => match tokio::time::timeout(left, acquire).await {
                Ok(permit) => permit,
                Err(_) => {
                    engine.metrics().inc_rejected(RejectReason::QueueTimeout);
                    return Err(EngineError::QueueTimeout {
                        waited: ticket.waited(),
                        retry_after: ticket.retry_after(),
                    });
                }
            },
        };
        permit.map_err(|_| EngineError::Unavailable("the tokenization permits are closed".into()))
    }

    async fn start(
        myself: &ActorRef<RequestMsg>,
        engine: &EngineHandle,
        req: GenerateRequest,
        ticket: QueueTicket,
        reply: &tokio::sync::oneshot::Sender<Result<Generation, EngineError>>,
    ) -> Result<(Generation, usize), EngineError> {
        let arrived = ticket.arrived();
        let permit = Self::tokenization_permit(engine, &ticket).await?;
        if reply.is_closed() {
            // The client left while the request waited: spend nothing on
            // it (nobody reads this error).
            return Err(EngineError::Unavailable(
                "the client left before its request started".into(),
            ));
        }
        // Templates, tokenizers and grammar compilers are CPU work: keep
        // them off the reactor, at most as many at once as there are
        // permits (the permit is held until the work ends, even if this
        // request is dropped meanwhile).
        let (
            Tokenized {
                ids,
                hint,
                opens_reasoning,
            },
            constraint,
        ) = {
            let engine = engine.clone();
            let prompt = req.prompt.clone();
            let constraint = req.constraint.clone();
            let tools = Self::tool_format(&engine, &req);
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let tokenized = tokenize(&engine, &prompt)?;
                let compiled = match &constraint {
                    None => None,
                    Some(c) => Some(Arc::new(compile(
                        &engine,
                        c,
                        tools,
                        tokenized.opens_reasoning,
                    )?)),
                };
                Ok::<_, EngineError>((tokenized, compiled))
            })
            .await
            .map_err(|e| EngineError::Unavailable(format!("tokenizer task failed: {e}")))??
        };
        if ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        let max_len = engine.max_model_len();
        if ids.len() >= max_len {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: ids.len(),
                max_model_len: max_len,
            });
        }
        let room = max_len - ids.len();
        let (max_tokens, clamped) = match req.max_tokens {
            Some(m) if m > room => (room, true),
            Some(m) => (m, false),
            None => (room, false),
        };
        let limit = crate::runtime::limits::MAX_TOTAL_TOKENS;
        if req.n > 1 && req.n.saturating_mul(max_tokens) > limit {
            return Err(EngineError::TooManyTokens {
                n: req.n,
                max_tokens,
                limit,
            });
        }
        if let Some(gate) = &req.gate {
            gate.admit(ids.len(), req.n.max(1).saturating_mul(max_tokens))
                .map_err(EngineError::Refused)?;
        }
        let shared = &engine.inner;
        let request_id = shared.next_request_id.fetch_add(1, Ordering::Relaxed);
        let base_seed = req.seed.unwrap_or_else(random_seed);
        let eos_ids = Arc::new(engine.tokenizer().eos_token_ids().to_vec());
        let prompt = Arc::new(ids);
        let hint = Arc::new(hint);
        let (tx, rx) = EventSink::channel(
            shared.limits.stream_buffer_events,
            shared.limits.stream_stall_timeout,
        );
        let n = req.n.max(1);
        let mut seqs = Vec::with_capacity(n);
        let mut leader: Option<SeqId> = None;
        // The waiting room's place rides with the first choice.
        let mut ticket = Some(ticket);
        for choice in 0..n {
            // Validation caps `n` far below MAX_CHOICES (checked where the
            // cap is defined); an id that does not fit is a server fault.
            let seq_id = SeqId::new(request_id, choice).ok_or_else(|| {
                EngineError::Unavailable(format!(
                    "choice {choice} of request {request_id} has no sequence id"
                ))
            })?;
            let mut params = req.params.clone();
            params.max_tokens = max_tokens;
            params.seed = base_seed.wrapping_add(choice as u64);
            let (stream, _) = Actor::spawn_linked(
                None,
                StreamActor,
                StreamArgs {
                    choice,
                    seq_id,
                    tokenizer: engine.tokenizer().clone(),
                    skip_special_tokens: req.skip_special_tokens,
                    kept_special_tokens: Self::kept_special_tokens(engine, &req, opens_reasoning),
                    stop: req.stop.clone(),
                    events: tx.clone(),
                    scheduler: shared.scheduler.clone(),
                    request: myself.clone(),
                    metrics: engine.metrics().clone(),
                    arrived,
                    parser: Self::parser(
                        engine,
                        &req,
                        opens_reasoning,
                        base_seed ^ (request_id << 16) ^ choice as u64,
                    ),
                },
                myself.get_cell(),
            )
            .await
            .map_err(|e| EngineError::Unavailable(format!("cannot start a stream actor: {e}")))?;
            seqs.push(SubmitSeq {
                seq: NewSequence {
                    seq_id,
                    group: request_id,
                    tenant: req.tenant.clone(),
                    prompt: prompt.clone(),
                    params: Arc::new(params),
                    eos_ids: eos_ids.clone(),
                    hint: hint.clone(),
                    share_prompt_with: leader,
                    cache_salt: format!(
                        "{}\u{0}{}",
                        req.tenant.cache_group,
                        req.cache_salt.as_deref().unwrap_or("")
                    ),
                    constraint: constraint.clone(),
                },
                stream,
                client: tx.sender(),
                ticket: ticket.take(),
            });
            leader.get_or_insert(seq_id);
        }
        drop(tx);
        engine.metrics().add_prompt_tokens(prompt.len() as u64);
        shared
            .scheduler
            .send_message(SchedulerMsg::Submit(seqs))
            .map_err(|_| EngineError::Unavailable("the scheduler is not running".into()))?;
        Ok((
            Generation {
                request_id,
                prompt_tokens: prompt.len(),
                max_tokens,
                max_tokens_clamped: clamped,
                events: rx,
            },
            n,
        ))
    }
}
