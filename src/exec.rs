//! The executor: a dedicated OS thread (never a tokio worker) that owns the
//! model runner, and with it the weights and the KV memory. It takes one
//! [`SchedulerOutput`] at a time over a flume channel, computes it, samples
//! the next token of every sequence that reached the end of its known
//! tokens, and reports [`StepDone`].
//!
//! It keeps its own copy of each sequence's tokens (sent in full once, in
//! `new_seqs`, then extended by what it samples), so a step carries only
//! what changed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::backend::{ForwardSeq, ModelRunner, PromptHint};
use crate::engine::request::{SamplingParams, SeqId};
use crate::engine::sampling::{sample, SampledToken};
use crate::engine::sched::SchedulerOutput;

/// A finished step, sent back to the scheduler.
#[derive(Debug)]
pub struct StepDone {
    /// The step as it was scheduled.
    pub step: SchedulerOutput,
    /// One sampled token per sequence that sampled, or the error that
    /// failed the whole step.
    pub result: Result<Vec<(SeqId, SampledToken)>, String>,
    /// Wall time of the forward pass and sampling.
    pub elapsed: Duration,
}

struct ExecSeq {
    tokens: Vec<u32>,
    prompt_len: usize,
    params: Arc<SamplingParams>,
    hint: Arc<PromptHint>,
}

/// The scheduler's side of the executor thread.
pub struct Executor {
    tx: flume::Sender<SchedulerOutput>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Executor {
    /// Start the thread. `on_done` is called on the executor thread after
    /// every step; it must not block.
    pub fn spawn(
        mut runner: Box<dyn ModelRunner>,
        on_done: impl Fn(StepDone) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = flume::unbounded::<SchedulerOutput>();
        // The step runs inside a pool of its own, on one of the pool's
        // threads: every kernel's fork-join then happens between pool
        // workers, instead of each op waking the pool from outside and
        // putting the caller to sleep (about 10% of a decode step).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("weir-compute-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        let thread = std::thread::Builder::new()
            .name("weir-executor".into())
            .spawn(move || {
                let mut seqs: HashMap<SeqId, ExecSeq> = HashMap::new();
                while let Ok(step) = rx.recv() {
                    let start = Instant::now();
                    // A panic in a kernel must not take the executor down
                    // (every later request would hang): it fails this step's
                    // sequences, which the scheduler then aborts.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        pool.install(|| run_step(runner.as_mut(), &mut seqs, &step))
                    }))
                    .unwrap_or_else(|panic| {
                        let msg = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".into());
                        Err(format!("the executor panicked: {msg}"))
                    });
                    on_done(StepDone {
                        step,
                        result,
                        elapsed: start.elapsed(),
                    });
                }
            })?;
        Ok(Self {
            tx,
            thread: Some(thread),
        })
    }

    /// Queue a step. Fails only when the thread is gone.
    pub fn submit(&self, step: SchedulerOutput) -> Result<(), SchedulerOutput> {
        self.tx.send(step).map_err(|e| e.into_inner())
    }
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

fn run_step(
    runner: &mut dyn ModelRunner,
    seqs: &mut HashMap<SeqId, ExecSeq>,
    step: &SchedulerOutput,
) -> Result<Vec<(SeqId, SampledToken)>, String> {
    for id in &step.released {
        seqs.remove(id);
        runner.release(*id);
    }
    for init in &step.new_seqs {
        seqs.insert(
            init.seq_id,
            ExecSeq {
                tokens: init.tokens.clone(),
                prompt_len: init.prompt_len,
                params: init.params.clone(),
                hint: init.hint.clone(),
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
    let seqs_ref = &*seqs;
    let sampled: Vec<(SeqId, SampledToken)> = sampling
        .par_iter()
        .zip(logits.par_iter())
        .map(|(id, l)| {
            // Every sampling id was looked up above.
            let seq = &seqs_ref[id];
            let (prompt, output) = seq.tokens.split_at(seq.prompt_len);
            (*id, sample(l, &seq.params, prompt, output))
        })
        .collect();
    for (id, t) in &sampled {
        if let Some(seq) = seqs.get_mut(id) {
            seq.tokens.push(t.token);
        }
    }
    Ok(sampled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendError, Logits};
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

    fn step(id: SeqId) -> SchedulerOutput {
        SchedulerOutput {
            new_seqs: vec![ExecSeqInit {
                seq_id: id,
                tokens: vec![0, 2],
                prompt_len: 2,
                params: Arc::new(SamplingParams::default()),
                hint: Arc::new(PromptHint::default()),
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
        assert_eq!(second[0].0, 2);
        assert_eq!(second[0].1.token, 1);
    }
}
