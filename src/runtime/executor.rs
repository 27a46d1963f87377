//! The executor: a dedicated OS thread (never a tokio worker) that owns the
//! model runner, and with it the weights and the KV memory. It takes one
//! [`SchedulerOutput`] at a time over a flume channel, computes it, samples
//! the next token of every sequence that reached the end of its known
//! tokens, and reports [`StepDone`].
//!
//! It keeps its own copy of each sequence's tokens (sent in full once, in
//! `new_seqs`, then extended by what it samples), so a step carries only
//! what changed.
//!
//! Constrained sequences also keep their grammar state here
//! ([`SeqConstraint`]), beside the tokens: it is built when the sequence
//! arrives (replaying any output it already has, after a preemption), masks
//! the logits before each draw and advances only by newly sampled tokens.
//! A sequence whose mask fails is reported in [`StepDone::failed`]; the
//! rest of the step goes on. The `sim` runner's one-hot "logits" carry no
//! distribution to mask: constraints are not applied to them.
//!
//! Faults stay as small as they can: a panic in the forward pass fails
//! that step's sequences; a panic while one sequence draws its token
//! (sampling, masking, advancing its grammar) or replays its grammar fails
//! that sequence alone; the thread itself never ends on a panic. (llguidance
//! also turns a panic inside its matcher into an error of its own, which
//! reaches the same per-sequence path.) After the scheduler restarts
//! ([`Executor::reset`]) the thread forgets every sequence, and the
//! [`StepDone::epoch`] of a step submitted before the reset tells the
//! scheduler to ignore its result.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::engine::guided::SeqConstraint;
use crate::engine::request::{SamplingParams, SeqId};
use crate::engine::sampling::{sample, SampledToken};
use crate::engine::sched::SchedulerOutput;
use crate::runner::{ForwardSeq, Logits, ModelRunner, PromptHint};

/// A finished step, sent back to the scheduler.
#[derive(Debug)]
pub struct StepDone {
    /// The step as it was scheduled.
    pub step: SchedulerOutput,
    /// One sampled token per sequence that sampled (and did not fail), or
    /// the error that failed the whole step.
    pub result: Result<Vec<(SeqId, SampledToken)>, String>,
    /// Sequences that failed alone this step (constrained decoding), with
    /// the reason; they sampled nothing.
    pub failed: Vec<(SeqId, String)>,
    /// Wall time of the forward pass and sampling.
    pub elapsed: Duration,
    /// The executor's epoch when the step was submitted: a step submitted
    /// before the last [`Executor::reset`] belongs to a scheduler that is
    /// gone, and its result must be ignored.
    pub epoch: u64,
}

/// What the executor thread is told, in order.
enum Command {
    /// Compute a step, submitted in `epoch`.
    Step { step: SchedulerOutput, epoch: u64 },
    /// Forget every sequence (the scheduler restarted with a clean state).
    Reset,
}

struct ExecSeq {
    tokens: Vec<u32>,
    prompt_len: usize,
    params: Arc<SamplingParams>,
    hint: Arc<PromptHint>,
    /// Grammar state: `Some(Ok)` for a constrained sequence, `Some(Err)`
    /// when it could not be built (the sequence fails at its next draw).
    constraint: Option<Result<SeqConstraint, String>>,
}

/// What `run_step` produces: sampled tokens and sequences that failed alone.
type StepResult = (Vec<(SeqId, SampledToken)>, Vec<(SeqId, String)>);

/// The scheduler's side of the executor thread.
pub struct Executor {
    tx: flume::Sender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
    epoch: u64,
}

impl Executor {
    /// Start the thread. `on_done` is called on the executor thread after
    /// every step; it must not block.
    pub fn spawn(
        mut runner: Box<dyn ModelRunner>,
        on_done: impl Fn(StepDone) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = flume::unbounded::<Command>();
        // A computing runner's step runs inside a pool of its own, on one of
        // the pool's threads: every kernel's fork-join then happens between
        // pool workers, instead of each op waking the pool from outside and
        // putting the caller to sleep (about 10% of a decode step). A runner
        // without arithmetic runs on this thread alone.
        let pool = if runner.uses_thread_pool() {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(rayon::current_num_threads())
                    .thread_name(|i| format!("weir-compute-{i}"))
                    .build()
                    .map_err(std::io::Error::other)?,
            )
        } else {
            None
        };
        let thread = std::thread::Builder::new()
            .name("weir-executor".into())
            .spawn(move || {
                let mut seqs: HashMap<SeqId, ExecSeq> = HashMap::new();
                while let Ok(cmd) = rx.recv() {
                    let (step, epoch) = match cmd {
                        Command::Step { step, epoch } => (step, epoch),
                        Command::Reset => {
                            forget_all(runner.as_mut(), &mut seqs);
                            continue;
                        }
                    };
                    let start = Instant::now();
                    // A panic in a kernel must not take the executor down
                    // (every later request would hang): it fails this step's
                    // sequences, which the scheduler then aborts.
                    let result = catch_panic("the executor", || match &pool {
                        Some(pool) => pool.install(|| run_step(runner.as_mut(), &mut seqs, &step)),
                        None => run_step(runner.as_mut(), &mut seqs, &step),
                    });
                    let (result, failed) = match result {
                        Ok((sampled, failed)) => (Ok(sampled), failed),
                        Err(e) => (Err(e), Vec::new()),
                    };
                    on_done(StepDone {
                        step,
                        result,
                        failed,
                        elapsed: start.elapsed(),
                        epoch,
                    });
                }
            })?;
        Ok(Self {
            tx,
            thread: Some(thread),
            epoch: 0,
        })
    }

    /// Queue a step, stamped with the current epoch. Fails only when the
    /// thread is gone.
    pub fn submit(&self, step: SchedulerOutput) -> Result<(), SchedulerOutput> {
        let cmd = Command::Step {
            step,
            epoch: self.epoch,
        };
        self.tx.send(cmd).map_err(|e| match e.into_inner() {
            Command::Step { step, .. } => step,
            Command::Reset => SchedulerOutput::default(),
        })
    }

    /// Start a new epoch: once the step in flight (if any) is done, the
    /// thread forgets every sequence and releases it from the runner, so
    /// the next step may come from a fresh scheduler. The step in flight
    /// still reports, with the old epoch. Returns false when the thread is
    /// gone.
    pub fn reset(&mut self) -> bool {
        self.epoch += 1;
        self.tx.send(Command::Reset).is_ok()
    }

    /// The epoch steps submitted now carry (see [`StepDone::epoch`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// Drop every sequence's state, and the runner's.
fn forget_all(runner: &mut dyn ModelRunner, seqs: &mut HashMap<SeqId, ExecSeq>) {
    let ids: Vec<SeqId> = seqs.drain().map(|(id, _)| id).collect();
    let released = catch_panic("releasing sequences", || {
        for id in ids {
            runner.release(id);
        }
        Ok(())
    });
    if let Err(e) = released {
        tracing::error!(error = %e, "the runner failed to release its sequences");
    }
}

/// Run `f`, turning a panic into an error that says `what` panicked and why.
pub(crate) fn catch_panic<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(format!("{what} panicked: {}", panic_message(&*panic))))
}

/// The text of a panic's payload (`panic!` with a message gives a `&str`
/// or a `String`).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (dead, _) = flume::bounded(0);
        self.tx = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How one sequence's next token is drawn from its logits: [`draw_token`];
/// a test puts a faulty one in its place.
type Draw = dyn Fn(
        &Logits,
        &SamplingParams,
        &[u32],
        &[u32],
        Option<&mut SeqConstraint>,
    ) -> Result<SampledToken, String>
    + Sync;

fn run_step(
    runner: &mut dyn ModelRunner,
    seqs: &mut HashMap<SeqId, ExecSeq>,
    step: &SchedulerOutput,
) -> Result<StepResult, String> {
    run_step_with(runner, seqs, step, &draw_token)
}

fn run_step_with(
    runner: &mut dyn ModelRunner,
    seqs: &mut HashMap<SeqId, ExecSeq>,
    step: &SchedulerOutput,
    draw_one: &Draw,
) -> Result<StepResult, String> {
    for id in &step.released {
        seqs.remove(id);
        runner.release(*id);
    }
    for init in &step.new_seqs {
        // A fresh grammar state, replayed over any output the sequence has
        // (it may be relearned after a preemption): never advanced twice.
        // A panic while replaying fails this sequence alone, at its draw.
        let constraint = init.constraint.as_ref().map(|c| {
            catch_panic("constrained decoding: replaying the output", || {
                c.start(init.tokens.get(init.prompt_len..).unwrap_or(&[]))
            })
        });
        seqs.insert(
            init.seq_id,
            ExecSeq {
                tokens: init.tokens.clone(),
                prompt_len: init.prompt_len,
                params: init.params.clone(),
                hint: init.hint.clone(),
                constraint,
            },
        );
    }
    let mut batch = Vec::with_capacity(step.scheduled.len());
    for s in &step.scheduled {
        let seq = seqs
            .get(&s.seq_id)
            .ok_or_else(|| format!("step names unknown sequence {}", s.seq_id))?;
        batch.push(ForwardSeq {
            seq_id: s.seq_id,
            all_tokens: &seq.tokens,
            prompt_len: seq.prompt_len,
            start: s.start,
            len: s.len,
            block_table: &s.block_table,
            sample: s.sample,
            hint: &seq.hint,
        });
    }
    let logits = runner.forward(&batch).map_err(|e| e.to_string())?;
    let sampling: Vec<SeqId> = step
        .scheduled
        .iter()
        .filter(|s| s.sample)
        .map(|s| s.seq_id)
        .collect();
    if logits.len() != sampling.len() {
        return Err(format!(
            "runner returned {} logits rows for {} sampling sequences",
            logits.len(),
            sampling.len()
        ));
    }
    // Grammar states move out of the map for the parallel draw (each is
    // mutated by its own sequence only) and back in after.
    let mut constraints: Vec<Option<Result<SeqConstraint, String>>> = sampling
        .iter()
        .map(|id| seqs.get_mut(id).and_then(|s| s.constraint.take()))
        .collect();
    let seqs_ref = &*seqs;
    let draw = |((id, l), constraint): (
        (&SeqId, &Logits),
        &mut Option<Result<SeqConstraint, String>>,
    )| {
        // Every sampling id was looked up above.
        let seq = &seqs_ref[id];
        let (prompt, output) = seq.tokens.split_at(seq.prompt_len);
        // A panic here (sampling, masking, advancing the grammar) fails
        // this sequence alone; its grammar state is dropped with it.
        let token = match constraint {
            None => catch_panic("sampling", || {
                draw_one(l, &seq.params, prompt, output, None)
            }),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(c)) => catch_panic("constrained sampling", || {
                draw_one(l, &seq.params, prompt, output, Some(c))
            }),
        };
        (*id, token)
    };
    let drawn: Vec<(SeqId, Result<SampledToken, String>)> = if runner.uses_thread_pool() {
        sampling
            .par_iter()
            .zip(logits.par_iter())
            .zip(constraints.par_iter_mut())
            .map(draw)
            .collect()
    } else {
        sampling
            .iter()
            .zip(logits.iter())
            .zip(constraints.iter_mut())
            .map(draw)
            .collect()
    };
    let mut sampled = Vec::with_capacity(drawn.len());
    let mut failed = Vec::new();
    for ((id, token), constraint) in drawn.into_iter().zip(constraints) {
        match token {
            Ok(t) => {
                if let Some(seq) = seqs.get_mut(&id) {
                    seq.tokens.push(t.token);
                    seq.constraint = constraint;
                }
                sampled.push((id, t));
            }
            Err(e) => {
                // The scheduler aborts it and releases it; forget it now
                // (the runner too, in case a reset comes first).
                seqs.remove(&id);
                runner.release(id);
                failed.push((id, e));
            }
        }
    }
    Ok((sampled, failed))
}

/// Draw one sequence's next token: plainly, or through its grammar.
fn draw_token(
    logits: &Logits,
    params: &SamplingParams,
    prompt: &[u32],
    output: &[u32],
    constraint: Option<&mut SeqConstraint>,
) -> Result<SampledToken, String> {
    match constraint {
        None => Ok(sample(logits, params, prompt, output)),
        Some(c) => sample_constrained(c, logits, params, prompt, output),
    }
}

/// Draw a constrained sequence's next token: mask what the grammar forbids,
/// sample, advance the grammar. One-hot logits (the `sim` runner) are taken
/// as they are: there is no distribution to mask.
fn sample_constrained(
    constraint: &mut SeqConstraint,
    logits: &Logits,
    params: &SamplingParams,
    prompt: &[u32],
    output: &[u32],
) -> Result<SampledToken, String> {
    let Logits::Dense(raw) = logits else {
        return Ok(sample(logits, params, prompt, output));
    };
    let mut masked = raw.clone();
    constraint.apply(&mut masked)?;
    let token = sample(&Logits::Dense(masked), params, prompt, output);
    constraint.commit(token.token)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendError;
    use crate::engine::sched::{ExecSeqInit, ScheduledSeq};

    /// A runner whose forward pass panics on its first call: the failure a
    /// kernel bug would cause, which real inputs cannot trigger on demand.
    struct PanicsOnce(bool);

    impl ModelRunner for PanicsOnce {
        fn vocab_size(&self) -> usize {
            4
        }
        fn forward(&mut self, seqs: &[ForwardSeq<'_>]) -> Result<Vec<Logits>, BackendError> {
            if !std::mem::replace(&mut self.0, true) {
                panic!("kernel bug");
            }
            Ok(seqs
                .iter()
                .filter(|s| s.sample)
                .map(|_| Logits::OneHot(1))
                .collect())
        }
    }

    fn sid(n: u64) -> SeqId {
        SeqId::new(n, 0).unwrap()
    }

    fn step(id: u64) -> SchedulerOutput {
        let id = sid(id);
        SchedulerOutput {
            new_seqs: vec![ExecSeqInit {
                seq_id: id,
                tokens: vec![0, 2],
                prompt_len: 2,
                params: Arc::new(SamplingParams::default()),
                hint: Arc::new(PromptHint::default()),
                constraint: None,
            }],
            scheduled: vec![ScheduledSeq {
                seq_id: id,
                start: 0,
                len: 2,
                block_table: vec![0],
                sample: true,
            }],
            released: vec![],
            num_batched_tokens: 2,
        }
    }

    #[test]
    fn a_panicking_step_fails_that_step_and_the_executor_keeps_going() {
        let (tx, rx) = flume::unbounded();
        let exec = Executor::spawn(Box::new(PanicsOnce(false)), move |d| {
            let _ = tx.send(d.result);
        })
        .unwrap();
        exec.submit(step(1)).unwrap();
        let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(first.unwrap_err().contains("kernel bug"));
        exec.submit(step(2)).unwrap();
        let second = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(second[0].0, sid(2));
        assert_eq!(second[0].1.token, 1);
    }

    /// Answers every sampling sequence with token 1 and records which
    /// sequences it was told to release.
    struct RecordsReleases(Arc<std::sync::Mutex<Vec<SeqId>>>);

    impl ModelRunner for RecordsReleases {
        fn vocab_size(&self) -> usize {
            4
        }
        fn forward(&mut self, seqs: &[ForwardSeq<'_>]) -> Result<Vec<Logits>, BackendError> {
            Ok(seqs
                .iter()
                .filter(|s| s.sample)
                .map(|_| Logits::OneHot(1))
                .collect())
        }
        fn release(&mut self, seq_id: SeqId) {
            if let Ok(mut r) = self.0.lock() {
                r.push(seq_id);
            }
        }
    }

    #[test]
    fn a_reset_forgets_every_sequence_and_later_steps_carry_the_new_epoch() {
        let released = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = flume::unbounded();
        let mut exec = Executor::spawn(Box::new(RecordsReleases(released.clone())), move |d| {
            let _ = tx.send((d.epoch, d.result));
        })
        .unwrap();
        exec.submit(step(1)).unwrap();
        assert!(exec.reset());
        assert_eq!(exec.epoch(), 1);
        // Submitted before the reset: computed, and reported with epoch 0.
        let (epoch, first) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(epoch, 0);
        assert_eq!(first.unwrap()[0].0, sid(1));
        // Sequence 1 is forgotten: a step naming it without its tokens fails.
        let mut again = step(1);
        again.new_seqs.clear();
        exec.submit(again).unwrap();
        let (epoch, second) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(epoch, 1);
        assert!(second.unwrap_err().contains("unknown sequence"));
        assert_eq!(*released.lock().unwrap(), vec![sid(1)]);
    }

    #[test]
    fn a_panic_while_drawing_fails_that_sequence_alone() {
        // The pool path (`Flat` computes): draws run in parallel, and a
        // panic must not cross into the other sequences' results.
        let mut step = step(1);
        let init = step.new_seqs[0].clone();
        for (id, first) in [(2, 9), (3, 0)] {
            let mut s = init.clone();
            s.seq_id = sid(id);
            s.tokens[0] = first;
            step.new_seqs.push(s);
            step.scheduled.push(ScheduledSeq {
                seq_id: sid(id),
                ..step.scheduled[0].clone()
            });
        }
        // Sequence 2 (its prompt starts with 9) panics in its draw.
        let draw = |l: &Logits,
                    p: &SamplingParams,
                    prompt: &[u32],
                    output: &[u32],
                    c: Option<&mut SeqConstraint>| {
            if prompt[0] == 9 {
                panic!("sampler bug");
            }
            draw_token(l, p, prompt, output, c)
        };
        let mut runner = Flat(4);
        let mut seqs = HashMap::new();
        let (sampled, failed) = run_step_with(&mut runner, &mut seqs, &step, &draw).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, sid(2));
        assert!(
            failed[0].1.contains("sampling panicked: sampler bug"),
            "{}",
            failed[0].1
        );
        let ids: Vec<SeqId> = sampled.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![sid(1), sid(3)]);
        assert!(!seqs.contains_key(&sid(2)));
        assert_eq!(seqs[&sid(1)].tokens.len(), 3, "sequence 1 took its token");
    }

    /// Returns dense logits: every token equally likely.
    struct Flat(usize);

    impl ModelRunner for Flat {
        fn vocab_size(&self) -> usize {
            self.0
        }
        fn forward(&mut self, seqs: &[ForwardSeq<'_>]) -> Result<Vec<Logits>, BackendError> {
            Ok(seqs
                .iter()
                .filter(|s| s.sample)
                .map(|_| Logits::Dense(vec![0.0; self.0]))
                .collect())
        }
    }

    #[test]
    fn a_constraint_that_fails_fails_its_sequence_alone() {
        use crate::engine::guided::{Guidance, ReasoningPrefix};
        use crate::engine::request::Constraint;
        use crate::parse::ToolFormat;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/qwen2-bf16");
        let tok = Arc::new(crate::tokenize::Tokenizer::from_dir(&dir).unwrap());
        let compiled = Arc::new(
            Guidance::new(tok.clone())
                .compile(
                    &Constraint::JsonSchema {
                        schema: serde_json::json!({"type": "boolean"}),
                        strict: true,
                    },
                    ToolFormat::None,
                    ReasoningPrefix::None,
                )
                .unwrap(),
        );
        let bad_output = tok.encode("42", false).unwrap();
        let mut step = step(1);
        let good = step.new_seqs[0].clone();
        step.new_seqs[0].constraint = Some(compiled.clone());
        // Sequence 2 arrives with an output the grammar refuses (as a
        // corrupted replay would): it fails; 1 and 3 are unaffected.
        let mut bad = step.new_seqs[0].clone();
        bad.seq_id = sid(2);
        bad.tokens.extend(&bad_output);
        step.new_seqs.push(bad);
        step.new_seqs.push(ExecSeqInit {
            seq_id: sid(3),
            ..good
        });
        step.scheduled = [(1, 2), (2, 2 + bad_output.len()), (3, 2)]
            .into_iter()
            .map(|(id, len)| ScheduledSeq {
                seq_id: sid(id),
                start: 0,
                len,
                block_table: vec![0],
                sample: true,
            })
            .collect();
        let mut runner = Flat(tok.vocab_size());
        let mut seqs = HashMap::new();
        let (sampled, failed) = run_step(&mut runner, &mut seqs, &step).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, sid(2));
        assert!(
            failed[0].1.contains("constrained decoding"),
            "{}",
            failed[0].1
        );
        let ids: Vec<SeqId> = sampled.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![sid(1), sid(3)]);
        // The constrained sequence drew a token that starts `true` or `false`.
        let text = tok.decode(&[sampled[0].1.token], false).unwrap();
        assert!(
            "true".starts_with(&text) || "false".starts_with(&text),
            "{text:?}"
        );
        assert!(!seqs.contains_key(&sid(2)));
    }
}
