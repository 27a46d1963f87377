//! The stream actor: one per sequence (one choice of one request). It turns
//! token ids into text — incremental detokenization that never emits broken
//! UTF-8, stop strings that may span tokens, logprob text — and writes
//! [`StreamEvent`]s into the request's channel, which is the HTTP body. When
//! that channel is closed the client has gone: it tells the scheduler to
//! abort, which frees the sequence's blocks at once. The channel is bounded
//! ([`EventSink`]): while it is full the actor waits (its mailbox keeps the
//! scheduler's token ids, a few bytes each, not their text), and a client
//! that reads nothing for the stall timeout is treated as gone.
//!
//! [`EventSink`]: crate::runtime::event_sink::EventSink

use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::engine::request::{FinishReason, SeqId, StreamEvent, TokenLogprob, ToolCallDelta};
use crate::engine::sampling::SampledToken;
use crate::metrics::Metrics;
use crate::parse::{OutputParser, ParsedDelta};
use crate::runtime::event_sink::{EventSink, SinkError};
use crate::runtime::request_actor::RequestMsg;
use crate::runtime::scheduler_actor::SchedulerMsg;
use crate::tokenize::detok::IncrementalDetokenizer;
use crate::tokenize::stop_strings::{StopMatcher, StopOutcome};
use crate::tokenize::Tokenizer;

/// What a stream actor is told.
#[derive(Debug)]
pub enum StreamMsg {
    /// The scheduler sampled a token for this sequence; `finish` is set
    /// when it was the last one (eos, stop token id, length).
    Token {
        /// The token and its logprobs.
        token: SampledToken,
        /// Why the sequence ended, if it did.
        finish: Option<FinishReason>,
        /// Prompt tokens served from the prefix cache.
        cached_prompt_tokens: usize,
    },
    /// The engine failed the sequence.
    Failed(String),
    /// The scheduler noticed the client left before any token came.
    ClientGone,
    /// The scheduler dropped the sequence: it waited past the queue
    /// timeout without starting.
    QueueTimedOut {
        /// How long it waited.
        waited: std::time::Duration,
        /// When the client may retry.
        retry_after: std::time::Duration,
    },
}

/// How to build a stream actor.
pub struct StreamArgs {
    /// Choice index within the request.
    pub choice: usize,
    /// The sequence.
    pub seq_id: SeqId,
    /// For detokenization.
    pub tokenizer: Arc<Tokenizer>,
    /// Drop special tokens from the text.
    pub skip_special_tokens: bool,
    /// Special tokens kept in the text all the same: the markers `parser`
    /// reads (see [`IncrementalDetokenizer::keeping`]).
    pub kept_special_tokens: Vec<u32>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// The request's event channel (the HTTP body), bounded.
    pub events: EventSink,
    /// To abort the sequence.
    pub scheduler: ActorRef<SchedulerMsg>,
    /// To report the choice's end.
    pub request: ActorRef<RequestMsg>,
    /// Latency histograms.
    pub metrics: Arc<Metrics>,
    /// When the request arrived (time to first token is measured from here).
    pub arrived: Instant,
    /// Splits reasoning and tool calls out of the text (chat requests).
    pub parser: Option<Box<dyn OutputParser>>,
}

/// The stream actor's behaviour.
pub struct StreamActor;

/// The stream actor's private state.
pub struct StreamState {
    args: StreamArgs,
    detok: IncrementalDetokenizer,
    stop: StopMatcher,
    completion_tokens: usize,
    cached_prompt_tokens: usize,
    last_token_at: Option<Instant>,
    in_reasoning: bool,
    reasoning_tokens: usize,
}

impl Actor for StreamActor {
    type Msg = StreamMsg;
    type State = StreamState;
    type Arguments = StreamArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<StreamMsg>,
        args: StreamArgs,
    ) -> Result<StreamState, ActorProcessingErr> {
        Ok(StreamState {
            detok: IncrementalDetokenizer::new(args.tokenizer.clone(), args.skip_special_tokens)
                .keeping(args.kept_special_tokens.clone()),
            stop: StopMatcher::new(args.stop.clone()),
            args,
            completion_tokens: 0,
            cached_prompt_tokens: 0,
            last_token_at: None,
            in_reasoning: false,
            reasoning_tokens: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<StreamMsg>,
        msg: StreamMsg,
        st: &mut StreamState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StreamMsg::Token {
                token,
                finish,
                cached_prompt_tokens,
            } => {
                st.cached_prompt_tokens = cached_prompt_tokens;
                if let Some(end) = Self::on_token(st, token, finish).await {
                    Self::finish(&myself, st, end).await;
                }
            }
            StreamMsg::Failed(message) => {
                let _ = st.args.events.send(StreamEvent::Failed { message }).await;
                Self::finish(&myself, st, End::Finished(FinishReason::Abort)).await;
            }
            StreamMsg::ClientGone => {
                Self::finish(&myself, st, End::Finished(FinishReason::Abort)).await;
            }
            StreamMsg::QueueTimedOut {
                waited,
                retry_after,
            } => {
                let _ = st
                    .args
                    .events
                    .send(StreamEvent::QueueTimedOut {
                        waited,
                        retry_after,
                    })
                    .await;
                Self::finish(&myself, st, End::Finished(FinishReason::Abort)).await;
            }
        }
        Ok(())
    }
}

/// How a sequence ended, as the stream actor saw it.
enum End {
    /// The scheduler ended the sequence (eos, length, abort, failure):
    /// it already knows.
    Finished(FinishReason),
    /// A stop string matched here: the sequence ends with `stop`, and the
    /// scheduler must be told to abort it.
    StopString(String),
    /// The client is gone, or read nothing for the stall timeout; abort.
    ClientGone,
}

impl From<SinkError> for End {
    fn from(e: SinkError) -> Self {
        log_stall(&e);
        End::ClientGone
    }
}

/// A stalled client is worth a line in the log; one that left is not.
fn log_stall(e: &SinkError) {
    if let SinkError::Stalled(after) = e {
        tracing::info!(
            ?after,
            "a client stopped reading its stream; disconnecting it"
        );
    }
}

impl StreamActor {
    async fn on_token(
        st: &mut StreamState,
        token: SampledToken,
        finish: Option<FinishReason>,
    ) -> Option<End> {
        let now = Instant::now();
        match st.last_token_at {
            None => st
                .args
                .metrics
                .observe_ttft(now.duration_since(st.args.arrived).as_secs_f64()),
            Some(prev) => st
                .args
                .metrics
                .observe_itl(now.duration_since(prev).as_secs_f64()),
        }
        st.last_token_at = Some(now);
        st.completion_tokens += 1;

        // A token that ended the sequence with `Stop` is an eos or a stop
        // token id: it is not part of the text.
        let is_stop_token = finish == Some(FinishReason::Stop);
        let piece = if is_stop_token {
            String::new()
        } else {
            match st.detok.push(token.token) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "detokenization failed; dropping the piece");
                    String::new()
                }
            }
        };
        let logprobs = token
            .logprob
            .map(|lp| {
                vec![Self::logprob_text(
                    &st.args.tokenizer,
                    token.token,
                    lp,
                    &token.top_logprobs,
                )]
            })
            .unwrap_or_default();
        let (mut text, mut stopped) = match st.stop.push(&piece) {
            StopOutcome::Continue { emit } => (emit, None),
            StopOutcome::Stopped { emit, matched } => (emit, Some(matched)),
        };
        if stopped.is_none() && finish.is_some() {
            // The end: release what the detokenizer and the stop matcher held back.
            let tail = st.detok.flush().unwrap_or_default();
            match st.stop.push(&tail) {
                StopOutcome::Continue { emit } => {
                    text.push_str(&emit);
                    text.push_str(&st.stop.flush());
                }
                StopOutcome::Stopped { emit, matched } => {
                    text.push_str(&emit);
                    stopped = Some(matched);
                }
            }
        }
        // Reasoning and tool calls are split out of the text here.
        let ended = stopped.is_some() || finish.is_some();
        let cut = stopped.is_none() && finish == Some(FinishReason::Length);
        let (text, reasoning, tool_calls) = Self::parse(st, text, ended, cut);
        if !is_stop_token {
            if !reasoning.is_empty() && text.is_empty() && tool_calls.is_empty() {
                st.in_reasoning = true;
            } else if !text.is_empty() || !tool_calls.is_empty() {
                st.in_reasoning = false;
            }
            if st.in_reasoning {
                st.reasoning_tokens += 1;
            }
        }
        // Every generated token is reported (its id, even while its text is
        // held back); an eos / stop token id is not part of the output.
        if !text.is_empty()
            || !reasoning.is_empty()
            || !tool_calls.is_empty()
            || !logprobs.is_empty()
            || !is_stop_token
        {
            let delta = StreamEvent::Delta {
                choice: st.args.choice,
                text,
                reasoning,
                tool_calls,
                token_ids: if is_stop_token {
                    vec![]
                } else {
                    vec![token.token]
                },
                logprobs,
            };
            if let Err(e) = st.args.events.send(delta).await {
                return Some(e.into());
            }
        }
        if let Some(matched) = stopped {
            return Some(End::StopString(matched));
        }
        finish.map(End::Finished)
    }

    /// Run the output parser (if any) over newly emitted text; at the end,
    /// release what it held back (`cut`: the reply hit `max_tokens`).
    fn parse(
        st: &mut StreamState,
        text: String,
        ended: bool,
        cut: bool,
    ) -> (String, String, Vec<ToolCallDelta>) {
        let Some(parser) = st.args.parser.as_mut() else {
            return (text, String::new(), Vec::new());
        };
        let mut deltas = parser.push(&text);
        if ended && cut {
            deltas.extend(parser.finish_cut());
        } else if ended {
            deltas.extend(parser.finish());
        }
        let (mut content, mut reasoning, mut calls) = (String::new(), String::new(), Vec::new());
        for d in deltas {
            match d {
                ParsedDelta::Content(s) => content.push_str(&s),
                ParsedDelta::Reasoning(s) => reasoning.push_str(&s),
                ParsedDelta::ToolCallStart { index, id, name } => calls.push(ToolCallDelta {
                    index,
                    start: Some((id, name)),
                    arguments: String::new(),
                }),
                ParsedDelta::ToolCallArguments { index, text } => match calls.last_mut() {
                    Some(last) if last.index == index => last.arguments.push_str(&text),
                    _ => calls.push(ToolCallDelta {
                        index,
                        start: None,
                        arguments: text,
                    }),
                },
            }
        }
        (content, reasoning, calls)
    }

    fn logprob_text(tok: &Tokenizer, id: u32, logprob: f32, top: &[(u32, f32)]) -> TokenLogprob {
        // The token's raw bytes (part of a character for some byte tokens)
        // and its text as those bytes read as UTF-8.
        let text = |id: u32| {
            let bytes = tok.token_bytes(id);
            (String::from_utf8_lossy(&bytes).into_owned(), bytes)
        };
        // JSON has no -inf: report impossible tokens as vLLM does.
        let finite = |lp: f32| if lp.is_finite() { lp } else { -9999.0 };
        let (token, bytes) = text(id);
        TokenLogprob {
            token,
            bytes,
            logprob: finite(logprob),
            top: top
                .iter()
                .map(|&(t, lp)| {
                    let (s, b) = text(t);
                    (s, b, finite(lp))
                })
                .collect(),
        }
    }

    async fn finish(myself: &ActorRef<StreamMsg>, st: &mut StreamState, end: End) {
        // `abort`: the scheduler does not know yet that the sequence ended.
        let (reason, matched, abort) = match end {
            End::Finished(reason) => (reason, None, false),
            End::StopString(matched) => (FinishReason::Stop, Some(matched), true),
            End::ClientGone => (FinishReason::Abort, None, true),
        };
        let saw_calls = st.args.parser.as_ref().is_some_and(|p| p.saw_tool_calls());
        let reason = if reason == FinishReason::Stop && saw_calls {
            FinishReason::ToolCalls
        } else {
            reason
        };
        // A client that never takes the last event did not get the reply:
        // its choice counts as aborted.
        let reason = if reason == FinishReason::Abort {
            reason
        } else {
            let finished = StreamEvent::Finished {
                choice: st.args.choice,
                reason,
                completion_tokens: st.completion_tokens,
                matched_stop: matched,
                cached_tokens: st.cached_prompt_tokens,
                reasoning_tokens: st.reasoning_tokens,
            };
            match st.args.events.send(finished).await {
                Ok(()) => reason,
                Err(e) => {
                    log_stall(&e);
                    FinishReason::Abort
                }
            }
        };
        if abort {
            let _ = st
                .args
                .scheduler
                .send_message(SchedulerMsg::Abort(st.args.seq_id));
        }
        let _ = st.args.request.send_message(RequestMsg::ChoiceDone {
            choice: st.args.choice,
            reason,
            completion_tokens: st.completion_tokens,
        });
        myself.stop(None);
    }
}
