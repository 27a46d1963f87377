//! The scheduler actor: one per model replica. It owns the [`Scheduler`]
//! (waiting queue, running batch, block manager) and the executor thread,
//! keeps exactly one step in flight, and fans each step's tokens out to the
//! sequences' stream actors. While the executor computes step N, the stream
//! actors detokenize step N-1's tokens and the HTTP layer writes them.
//!
//! It heals itself: a panic while it handles a message (queueing, scheduling,
//! recording a step, aborting) is caught, every sequence it knew fails with
//! an error saying the engine restarted, and it goes on with a fresh
//! [`Scheduler`] and block manager of the same size; the executor forgets
//! every sequence, and the result of a step in flight at the time is ignored
//! (its epoch is stale). `weir:engine_restarts_total` counts these restarts.
//!
//! Why `catch_unwind` in the actor and not a ractor supervisor that respawns
//! it: the executor thread (the model's weights and KV memory) and the
//! actor's address must survive the panic. A respawned actor would need the
//! runner back from its dead predecessor's state, and every holder of the
//! old `ActorRef` (the engine handle, live stream actors) a new one; here the
//! state that may be broken (the scheduler and its block manager, which the
//! panic may have left half-updated) is simply replaced, in place, before the
//! next message is read. The panic never crosses `handle`, so ractor never
//! sees the actor fail and `/health` stays 200.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::engine::kv::BlockManager;
use crate::engine::request::{SeqId, StreamEvent};
use crate::engine::sched::{NewSequence, Scheduler, SchedulerConfig};
use crate::metrics::{Metrics, RejectReason};
use crate::runner::ModelRunner;
use crate::runtime::admission::QueueTicket;
use crate::runtime::executor::{panic_message, Executor, StepDone};
use crate::runtime::stream_actor::StreamMsg;

/// One sequence handed over by a request actor.
pub struct SubmitSeq {
    /// What to schedule.
    pub seq: NewSequence,
    /// Where its tokens go.
    pub stream: ActorRef<StreamMsg>,
    /// The request's event channel, only to notice a client that left
    /// while its sequence is still queued or prefilling.
    pub client: flume::Sender<StreamEvent>,
    /// The request's place in the waiting room (on its first choice
    /// only): given back when that choice is first scheduled, dropped if
    /// it ends before; the queue timeout runs from its arrival.
    pub ticket: Option<QueueTicket>,
}

/// How often the scheduler looks for clients that left and requests past
/// the queue timeout, even while no step runs or one step runs long.
pub const TICK: Duration = Duration::from_millis(100);

/// What the scheduler actor is told.
pub enum SchedulerMsg {
    /// New sequences (all choices of one request).
    Submit(Vec<SubmitSeq>),
    /// A sequence must stop now (client gone, stop string); frees its blocks.
    Abort(SeqId),
    /// The executor finished a step.
    StepDone(Box<StepDone>),
    /// Every [`TICK`]: drop queued sequences whose client left or that
    /// waited past the queue timeout.
    Tick,
    /// The service each tenant received so far (fairness; tests and
    /// metrics read it through `EngineHandle::tenant_service`).
    TenantService(ractor::RpcReplyPort<Vec<crate::engine::fair::TenantService>>),
    /// Test-only: make the next scheduling pass panic, a real panic inside
    /// the supervised region, to exercise the restart
    /// (`EngineHandle::inject_scheduler_panic`). Nothing else sends it.
    #[doc(hidden)]
    InjectPanic,
}

/// What every sequence in flight is told when the scheduler restarts.
pub const RESTART_MESSAGE: &str =
    "the engine hit an internal error and restarted; this request was stopped and can be retried";

/// How to build the scheduler actor.
pub struct SchedulerArgs {
    /// Limits.
    pub config: SchedulerConfig,
    /// KV blocks in the cache.
    pub num_blocks: usize,
    /// Tokens per block.
    pub block_size: usize,
    /// Reuse the KV of common prefixes across requests.
    pub prefix_caching: bool,
    /// The model runner; it moves to the executor thread.
    pub runner: Box<dyn ModelRunner>,
    /// Metrics to update every step.
    pub metrics: Arc<Metrics>,
}

/// The scheduler actor's behaviour.
pub struct SchedulerActor;

impl SchedulerActor {
    /// Spawn the actor on a thread of its own (a one-thread tokio runtime),
    /// so that turning a finished step into the next one never waits behind
    /// the HTTP layer's tasks: with a thousand streams, the shared runtime's
    /// queue holds two thousand tasks per step, and the engine would idle
    /// while they run (vLLM keeps its engine core in a process of its own
    /// for the same reason). Messages cross runtimes unchanged.
    pub async fn spawn_dedicated(
        args: SchedulerArgs,
    ) -> Result<ActorRef<SchedulerMsg>, ractor::SpawnErr> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("weir-scheduler".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(ractor::SpawnErr::StartupFailed(Box::new(e))));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Actor::spawn(None, SchedulerActor, args).await {
                        Ok((actor, handle)) => {
                            // ractor marks the actor running from its own
                            // task, after `spawn` returns: let that task run
                            // first, so the caller never sees it "starting"
                            // (`/health` would say 503 for a moment).
                            while actor.get_status() == ractor::ActorStatus::Starting {
                                tokio::task::yield_now().await;
                            }
                            let _ = tx.send(Ok(actor));
                            // The thread lives as long as the actor.
                            let _ = handle.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            });
        if let Err(e) = thread {
            return Err(ractor::SpawnErr::StartupFailed(Box::new(e)));
        }
        rx.await.unwrap_or_else(|_| {
            Err(ractor::SpawnErr::StartupFailed(
                "the scheduler thread ended before its actor started".into(),
            ))
        })
    }
}

/// How to build a clean scheduler: at start, and after every restart.
struct SchedulerRecipe {
    config: SchedulerConfig,
    num_blocks: usize,
    block_size: usize,
    prefix_caching: bool,
}

impl SchedulerRecipe {
    fn build(&self) -> Scheduler {
        Scheduler::new(
            self.config.clone(),
            BlockManager::with_prefix_caching(
                self.num_blocks,
                self.block_size,
                self.prefix_caching,
            ),
        )
    }
}

struct Live {
    stream: ActorRef<StreamMsg>,
    client: flume::Sender<StreamEvent>,
    /// Set until the request's first sequence is scheduled.
    ticket: Option<QueueTicket>,
}

/// The scheduler actor's private state.
pub struct SchedulerState {
    sched: Scheduler,
    recipe: SchedulerRecipe,
    /// Set by [`SchedulerMsg::InjectPanic`]: the next scheduling pass panics.
    panic_armed: bool,
    executor: Executor,
    live: HashMap<SeqId, Live>,
    in_flight: bool,
    metrics: Arc<Metrics>,
    preemptions_seen: u64,
    prefix_seen: (u64, u64),
}

impl Actor for SchedulerActor {
    type Msg = SchedulerMsg;
    type State = SchedulerState;
    type Arguments = SchedulerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SchedulerMsg>,
        args: SchedulerArgs,
    ) -> Result<SchedulerState, ActorProcessingErr> {
        let me = myself.clone();
        let executor = Executor::spawn(args.runner, move |done| {
            // The actor outlives the executor; a send failure means shutdown.
            let _ = me.send_message(SchedulerMsg::StepDone(Box::new(done)));
        })?;
        // Stops by itself when the actor does.
        myself.send_interval(TICK, || SchedulerMsg::Tick);
        let recipe = SchedulerRecipe {
            config: args.config,
            num_blocks: args.num_blocks,
            block_size: args.block_size,
            prefix_caching: args.prefix_caching,
        };
        Ok(SchedulerState {
            sched: recipe.build(),
            recipe,
            panic_armed: false,
            executor,
            live: HashMap::new(),
            in_flight: false,
            metrics: args.metrics,
            preemptions_seen: 0,
            prefix_seen: (0, 0),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SchedulerMsg>,
        msg: SchedulerMsg,
        st: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        Self::supervise(st, msg);
        Ok(())
    }
}

impl SchedulerActor {
    /// Handle one message; a panic inside restarts the scheduler
    /// ([`Self::restart`]) instead of killing the actor. A step submitted
    /// before the last restart reports with a stale epoch and is ignored:
    /// its sequences have already failed.
    fn supervise(st: &mut SchedulerState, msg: SchedulerMsg) {
        if let SchedulerMsg::StepDone(done) = &msg {
            if done.epoch != st.executor.epoch() {
                tracing::debug!("ignoring a step from before the scheduler restarted");
                return;
            }
        }
        let handled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::on_message(st, msg)));
        if let Err(panic) = handled {
            Self::restart(st, &panic_message(&*panic));
        }
    }

    /// The scheduler panicked: fail every sequence it knew, replace it with
    /// a clean one (an empty block manager of the same size), tell the
    /// executor to forget every sequence, and count the restart.
    fn restart(st: &mut SchedulerState, why: &str) {
        tracing::error!(
            panic = %why,
            failed = st.live.len(),
            "the scheduler panicked; failing its sequences and restarting with a clean KV cache"
        );
        st.metrics.inc_engine_restarts();
        for (_, live) in st.live.drain() {
            let _ = live
                .stream
                .send_message(StreamMsg::Failed(RESTART_MESSAGE.into()));
        }
        st.sched = st.recipe.build();
        if !st.executor.reset() {
            tracing::error!("the executor thread is gone; steps will fail");
        }
        st.in_flight = false;
        st.panic_armed = false;
        // The new scheduler counts from zero.
        st.preemptions_seen = 0;
        st.prefix_seen = (0, 0);
        Self::publish_gauges(st);
    }

    /// What `handle` does with a message, under [`Self::supervise`].
    fn on_message(st: &mut SchedulerState, msg: SchedulerMsg) {
        match msg {
            SchedulerMsg::Submit(seqs) => {
                // Every sequence is live before any is queued, so a panic
                // while queueing still fails them all.
                let mut queued = Vec::with_capacity(seqs.len());
                for s in seqs {
                    st.live.insert(
                        s.seq.seq_id,
                        Live {
                            stream: s.stream,
                            client: s.client,
                            ticket: s.ticket,
                        },
                    );
                    queued.push(s.seq);
                }
                for seq in queued {
                    st.sched.add(seq);
                }
            }
            SchedulerMsg::Abort(id) => {
                st.sched.abort(id);
                st.live.remove(&id);
            }
            SchedulerMsg::StepDone(done) => {
                st.in_flight = false;
                let step_seqs: Vec<SeqId> = done.step.scheduled.iter().map(|s| s.seq_id).collect();
                // Sequences that failed alone (constrained decoding) end
                // with an error; the rest of the step stands.
                for (id, msg) in done.failed {
                    tracing::warn!(seq = %id, error = %msg, "a sequence failed");
                    st.sched.abort(id);
                    if let Some(live) = st.live.remove(&id) {
                        let _ = live.stream.send_message(StreamMsg::Failed(msg));
                    }
                }
                match done.result {
                    Ok(sampled) => {
                        let n_tokens = sampled.len() as u64;
                        st.metrics.add_generation_tokens(n_tokens);
                        let updates = st.sched.on_step_done(&done.step, sampled);
                        // Finished sequences have freed their blocks: the
                        // gauges say so before any client sees its last token.
                        Self::publish_gauges(st);
                        for u in updates {
                            let finished = u.finish.is_some();
                            if let Some(live) = st.live.get(&u.seq_id) {
                                let _ = live.stream.send_message(StreamMsg::Token {
                                    token: u.token,
                                    finish: u.finish,
                                    cached_prompt_tokens: u.cached_prompt_tokens,
                                });
                            }
                            if finished {
                                st.live.remove(&u.seq_id);
                            }
                        }
                    }
                    Err(msg) => {
                        tracing::error!(error = %msg, "step failed; failing its sequences");
                        for id in step_seqs {
                            st.sched.abort(id);
                            if let Some(live) = st.live.remove(&id) {
                                let _ = live.stream.send_message(StreamMsg::Failed(msg.clone()));
                            }
                        }
                    }
                }
            }
            SchedulerMsg::InjectPanic => st.panic_armed = true,
            SchedulerMsg::TenantService(reply) => {
                // The caller may have given up waiting: nothing to do then.
                let _ = reply.send(st.sched.tenant_service());
            }
            SchedulerMsg::Tick => {
                // Queued sequences leave now even if no step ends soon.
                if Self::drop_departed(st) + Self::expire_waiting(st) > 0 {
                    Self::publish_gauges(st);
                }
            }
        }
        Self::maybe_step(st);
    }

    /// Set the running / waiting / KV-usage gauges from the scheduler's
    /// state; returns that state's counters.
    fn publish_gauges(st: &SchedulerState) -> crate::engine::sched::SchedulerStats {
        let stats = st.sched.stats();
        st.metrics.set_running(stats.running);
        st.metrics.set_waiting(stats.waiting);
        st.metrics.set_kv_cache_usage(st.sched.blocks().usage());
        stats
    }

    /// Sequences whose client left (while queued or prefilling, when no
    /// token would tell) free their blocks now; returns how many.
    fn drop_departed(st: &mut SchedulerState) -> usize {
        let gone: Vec<SeqId> = st
            .live
            .iter()
            .filter(|(_, l)| l.client.is_disconnected())
            .map(|(&id, _)| id)
            .collect();
        for &id in &gone {
            st.sched.abort(id);
            if let Some(l) = st.live.remove(&id) {
                let _ = l.stream.send_message(StreamMsg::ClientGone);
            }
        }
        gone.len()
    }

    /// Requests that never started and waited past the queue timeout are
    /// dropped (every choice, blocks freed) and their clients told the
    /// server is overloaded; returns how many sequences left.
    fn expire_waiting(st: &mut SchedulerState) -> usize {
        let now = Instant::now();
        let expired: HashMap<u64, (Duration, Duration)> = st
            .live
            .iter()
            .filter_map(|(id, l)| {
                let t = l.ticket.as_ref().filter(|t| t.expired(now))?;
                Some((id.request_id(), (t.waited(), t.retry_after())))
            })
            .collect();
        if expired.is_empty() {
            return 0;
        }
        let seqs: Vec<SeqId> = st
            .live
            .keys()
            .filter(|id| expired.contains_key(&id.request_id()))
            .copied()
            .collect();
        for &id in &seqs {
            st.sched.abort(id);
            if let (Some(l), Some(&(waited, retry_after))) =
                (st.live.remove(&id), expired.get(&id.request_id()))
            {
                let _ = l.stream.send_message(StreamMsg::QueueTimedOut {
                    waited,
                    retry_after,
                });
            }
        }
        for _ in 0..expired.len() {
            st.metrics.inc_rejected(RejectReason::QueueTimeout);
        }
        tracing::debug!(
            requests = expired.len(),
            "requests waited past the queue timeout"
        );
        seqs.len()
    }

    /// The requests of `step`'s newly scheduled sequences are running:
    /// their places in the waiting room are given back.
    fn give_back_tickets(st: &mut SchedulerState, step: &crate::engine::sched::SchedulerOutput) {
        for s in &step.new_seqs {
            // The ticket rides with choice 0.
            let first = SeqId::new(s.seq_id.request_id(), 0);
            if let Some(ticket) = first
                .and_then(|id| st.live.get_mut(&id))
                .and_then(|l| l.ticket.take())
            {
                ticket.started();
            }
        }
    }

    /// Start the next step if none is running and there is work.
    fn maybe_step(st: &mut SchedulerState) {
        if std::mem::take(&mut st.panic_armed) {
            panic!("injected scheduler panic (test hook)");
        }
        if st.in_flight {
            return;
        }
        // Clients that left while queued or prefilling free their blocks now.
        Self::drop_departed(st);
        let step = st.sched.schedule();
        Self::give_back_tickets(st, &step);
        let stats = Self::publish_gauges(st);
        if stats.preemptions_total > st.preemptions_seen {
            st.metrics
                .inc_preemptions(stats.preemptions_total - st.preemptions_seen);
            st.preemptions_seen = stats.preemptions_total;
        }
        let (q, h) = (stats.prefix_cache_queries, stats.prefix_cache_hits);
        if (q, h) != st.prefix_seen {
            st.metrics
                .add_prefix_cache(q - st.prefix_seen.0, h - st.prefix_seen.1);
            st.prefix_seen = (q, h);
        }
        if step.is_empty() && step.released.is_empty() {
            return;
        }
        if !step.is_empty() {
            st.metrics.observe_step_sequences(step.scheduled.len());
        }
        match st.executor.submit(step) {
            Ok(()) => st.in_flight = true,
            Err(step) => {
                tracing::error!("executor thread is gone; failing the step's sequences");
                for s in step.scheduled {
                    st.sched.abort(s.seq_id);
                    if let Some(live) = st.live.remove(&s.seq_id) {
                        let _ = live
                            .stream
                            .send_message(StreamMsg::Failed("the executor stopped".into()));
                    }
                }
            }
        }
    }
}
