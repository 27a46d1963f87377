//! One simulated agent session: a conversation that grows turn by turn the
//! way a coding agent's does.
//!
//! Every request carries the profile's system prompt and `tools` array
//! unchanged (the same bytes every turn, so a server's prefix cache sees
//! what it would see from the real agent) plus the whole history so far,
//! or, with the chained Responses API, what is new since the last response
//! (`request.rs` writes the bodies).
//! When the model calls tools, the session answers each call from its
//! simulated [`Workspace`] as `role: tool` messages with the call's id and
//! continues from the model's own output. When it does not (a random-weight
//! model will not), the session keeps the model's reply and takes its next
//! step from the profile's script: a scripted tool's output, run against the
//! workspace, comes back as the next user message, so the context grows as
//! it would with real tool results. Between turns the session thinks
//! (holding its slot), drawn from the profile's distributions.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use super::body::{request_body, Chain};
use super::client::{self, Endpoint, TokenCounter};
use super::interrupt::{Stop, StopLevel};
use super::profile::{Profile, Step};
use super::stats::Recorder;
use super::workspace::Workspace;

/// A small deterministic generator (splitmix64): sessions draw their task
/// and think times from it, so a seed repeats a run.
#[derive(Clone, Debug)]
pub struct SessionRng(u64);

impl SessionRng {
    /// A generator for `stream` under `seed`.
    pub fn new(seed: u64, stream: u64) -> SessionRng {
        SessionRng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Request options every turn carries.
#[derive(Clone, Debug, Serialize)]
pub struct RequestOptions {
    /// `model`.
    pub model: String,
    /// `max_tokens` (profile's, or `--max-tokens`).
    pub max_tokens: Option<u32>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// Ask for `stream_options.continuous_usage_stats` (vLLM, weir).
    pub continuous_usage: bool,
    /// Send `ignore_eos: true` (vLLM, weir), so outputs run to `max_tokens`.
    pub ignore_eos: bool,
    /// Think-time multiplier (0: none).
    pub think_scale: f64,
}

/// What every session of a run shares.
pub struct SessionContext {
    /// Where requests go.
    pub endpoint: Endpoint,
    /// What they carry.
    pub options: RequestOptions,
    /// The profile.
    pub profile: Arc<Profile>,
    /// The workspace every session starts from.
    pub workspace: Arc<Workspace>,
    /// Where measurements go.
    pub recorder: Arc<Recorder>,
    /// Token counter for ITL (`--tokenizer`).
    pub counter: Option<Arc<TokenCounter>>,
    /// The run's seed.
    pub seed: u64,
    /// No request starts after this instant.
    pub deadline: Option<Instant>,
    /// Ctrl-C: once draining, no request starts.
    pub stop: Stop,
}

impl SessionContext {
    /// Sleeps until `at`, when a request is meant to go out; false when the
    /// run's deadline or a stop comes first (no request may start).
    async fn wait_to_send(&self, at: Instant) -> bool {
        if self.deadline.is_some_and(|d| at >= d) {
            return false;
        }
        tokio::select! {
            biased;
            _ = self.stop.reached(StopLevel::Drain) => false,
            _ = tokio::time::sleep_until(at.into()) => true,
        }
    }
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// All its turns ran.
    Completed,
    /// A request failed; the session stopped there.
    Failed,
    /// The run's deadline, or a stop, came first.
    Cut,
}

/// Runs session number `index` for `turns` requests, its first meant to go
/// out at `first`.
pub async fn run_session(
    ctx: &SessionContext,
    index: u64,
    turns: usize,
    first: Instant,
) -> SessionEnd {
    let live = &ctx.recorder.live;
    live.active.fetch_add(1, Ordering::Relaxed);
    let (_, end) = tokio::join!(
        title_request(ctx, index, first),
        session_body(ctx, index, turns, first)
    );
    live.active.fetch_sub(1, Ordering::Relaxed);
    end
}

/// The profile's title request, sent beside the first turn (as OpenCode
/// does) and recorded as turn 0.
async fn title_request(ctx: &SessionContext, index: u64, first: Instant) {
    let profile = &*ctx.profile;
    let Some(title) = &profile.title else { return };
    // The session's first draw picks its task: the same draw here.
    let task = SessionRng::new(ctx.seed, index).below(profile.tasks.len());
    let messages = [
        json!({"role": "system", "content": title.system_prompt}),
        json!({"role": "user", "content": title.instruction}),
        json!({"role": "user", "content": profile.tasks[task].prompt}),
    ];
    let max_tokens = ctx.options.max_tokens.or(profile.max_tokens);
    if !ctx.wait_to_send(first).await {
        return;
    }
    let body = request_body(
        &ctx.options,
        ctx.endpoint.api,
        &messages,
        &[],
        max_tokens,
        None,
    );
    let out = client::send(&ctx.endpoint, body, first, ctx.counter.as_deref()).await;
    ctx.recorder.record_turn(&out, 0);
}

async fn session_body(
    ctx: &SessionContext,
    index: u64,
    turns: usize,
    first: Instant,
) -> SessionEnd {
    let profile = &*ctx.profile;
    let mut rng = SessionRng::new(ctx.seed, index);
    let mut workspace = (*ctx.workspace).clone();
    let mut messages = vec![json!({"role": "system", "content": profile.system_prompt})];
    let mut task = rng.below(profile.tasks.len());
    let mut step = 0usize;
    messages.push(json!({"role": "user", "content": profile.tasks[task].prompt}));
    let max_tokens = ctx.options.max_tokens.or(profile.max_tokens);
    let mut intended = first;
    let mut all_good = true;
    // Responses API, chained: where the server's copy of the conversation ends.
    let mut chain: Option<Chain> = None;
    for turn in 1..=turns {
        if !ctx.wait_to_send(intended).await {
            return SessionEnd::Cut;
        }
        let body = request_body(
            &ctx.options,
            ctx.endpoint.api,
            &messages,
            &profile.tools,
            max_tokens,
            chain.as_ref(),
        );
        let out = client::send(&ctx.endpoint, body, intended, ctx.counter.as_deref()).await;
        all_good &= ctx.recorder.record_turn(&out, turn);
        if out.error.is_some() {
            return SessionEnd::Failed;
        }
        if turn == turns {
            break;
        }
        // The model's reply joins the history; with the chained Responses
        // API it is also where the server's copy now ends.
        if out.tool_calls.is_empty() {
            messages.push(json!({"role": "assistant", "content": out.content}));
        } else {
            let calls: Vec<Value> = out
                .tool_calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
            let content = if out.content.is_empty() {
                Value::Null
            } else {
                Value::String(out.content.clone())
            };
            messages.push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
        }
        if let Some(id) = &out.response_id {
            chain = Some(Chain {
                previous_response_id: id.clone(),
                server_has: messages.len(),
            });
        }
        let think = if !out.tool_calls.is_empty() {
            // The model drives: answer its calls.
            for c in &out.tool_calls {
                let result = workspace.run_tool(&c.name, &c.arguments);
                messages.push(json!({"role": "tool", "tool_call_id": c.id, "content": result}));
            }
            &profile.tool_think
        } else {
            // The script drives: take the next step.
            let steps = &profile.tasks[task].steps;
            if let Some(next) = steps.get(step) {
                step += 1;
                match next {
                    Step::Tool { name, arguments } => {
                        let args = arguments.to_string();
                        let result = workspace.run_tool(name, &args);
                        messages.push(json!({"role": "user", "content": format!(
                            "I ran the `{name}` tool with {args}. Output:\n\n{result}"
                        )}));
                        &profile.tool_think
                    }
                    Step::User { text } => {
                        messages.push(json!({"role": "user", "content": text}));
                        &profile.user_think
                    }
                }
            } else {
                task = rng.below(profile.tasks.len());
                step = 0;
                messages.push(json!({"role": "user", "content": profile.tasks[task].prompt}));
                &profile.user_think
            }
        };
        let pause = think
            .scaled(ctx.options.think_scale)
            .sample(rng.unit(), rng.unit());
        let ended = out.intended + out.e2e;
        intended = ended.max(Instant::now()) + pause;
        if !pause.is_zero() {
            // Thinking past the deadline, or through a stop, ends the session now.
            ctx.recorder.live.thinking.fetch_add(1, Ordering::Relaxed);
            let go_on = ctx.wait_to_send(intended).await;
            ctx.recorder.live.thinking.fetch_sub(1, Ordering::Relaxed);
            if !go_on {
                return SessionEnd::Cut;
            }
        }
    }
    ctx.recorder
        .record_session(first, first.elapsed(), all_good);
    SessionEnd::Completed
}
