//! Load levels: closed loop (N sessions always running), open loop
//! (sessions arriving at a Poisson rate), and the live display while they run.
//!
//! Closed loop: slot i starts after `ramp_up * i / N`, runs a session, and
//! as soon as one ends starts the next (a new user), until the deadline
//! (`--duration`) or, without one, after a single session each.
//!
//! Open loop: arrivals are drawn up front from the seed; each arriving
//! session's first request is *intended* at its arrival instant. With
//! `--max-concurrency` an arrival may wait for a free slot, and that wait
//! counts in its TTFT: a slow server cannot hide behind a slow client.
//!
//! Either ends early on a [`Stop`] (Ctrl-C): draining starts no new
//! sessions or requests and waits for those in flight, aborting drops them;
//! the level then reports what finished, over the time it ran.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::interrupt::{join_unless_aborted, Stop, StopLevel};
use super::report::{ClientHealth, RunReport};
use super::selfcheck::SelfCheck;
use super::session::{run_session, SessionContext, SessionRng};
use super::stats::Recorder;

/// How long a level runs.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Measured time after warm-up; None: run every session once to its end.
    pub duration: Option<Duration>,
    /// Excluded from the statistics.
    pub warmup: Duration,
    /// Closed loop: sessions start spread over this long.
    pub ramp_up: Duration,
    /// Requests per session.
    pub turns: usize,
}

/// What watches a running level: the display ticker (redraws the live line,
/// samples active sessions) and the client's [`SelfCheck`].
pub struct Live {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    check: SelfCheck,
    recorder: Arc<Recorder>,
}

impl Live {
    /// Starts both; `quiet` (or stderr not a terminal) draws nothing.
    pub fn start(recorder: Arc<Recorder>, label: String, quiet: bool) -> Live {
        let check = SelfCheck::start();
        let watched = recorder.clone();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let draw = !quiet && std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let bar = if draw {
                let b = indicatif::ProgressBar::new_spinner();
                b.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                Some(b)
            } else {
                None
            };
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut last_tokens = 0u64;
            let mut last_at = Instant::now();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                recorder.sample_active(Instant::now());
                let Some(bar) = &bar else { continue };
                let l = &recorder.live;
                let tokens = l.output_tokens.load(Ordering::Relaxed);
                let rate =
                    (tokens - last_tokens) as f64 / last_at.elapsed().as_secs_f64().max(1e-3);
                (last_tokens, last_at) = (tokens, Instant::now());
                let (ttft, itl) = recorder.take_recent();
                let prompt = l.prompt_tokens.load(Ordering::Relaxed).max(1);
                let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
                bar.set_message(format!(
                    "{label}: {} active ({} thinking) · {} requests · {} errors · TTFT p50 {} ms · ITL p50 {} ms · cached {:.0}% · {:.0} tok/s",
                    l.active.load(Ordering::Relaxed),
                    l.thinking.load(Ordering::Relaxed),
                    l.requests.load(Ordering::Relaxed),
                    l.errors.load(Ordering::Relaxed),
                    fmt(ttft),
                    fmt(itl),
                    100.0 * l.cached_tokens.load(Ordering::Relaxed) as f64 / prompt as f64,
                    rate,
                ));
                bar.tick();
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        Live {
            stop,
            task,
            check,
            recorder: watched,
        }
    }

    /// Stops both; what the self-check saw over the level.
    pub async fn stop(self) -> ClientHealth {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let tokens = self.recorder.live.output_tokens.load(Ordering::Relaxed);
        self.check.finish(tokens)
    }
}

/// Builds a fresh recorder for a level starting now.
fn recorder_for(
    timing: &Timing,
    slo: Option<super::stats::Slo>,
) -> (Instant, Instant, Option<Instant>, Arc<Recorder>) {
    let start = Instant::now();
    let measure_from = start + timing.warmup;
    let deadline = timing.duration.map(|d| measure_from + d);
    let rec = Arc::new(Recorder::new(start, measure_from, deadline, slo));
    (start, measure_from, deadline, rec)
}

/// The measured window of a level that just ended: `--duration`, unless
/// there was none or a stop cut it short (then up to now).
fn measured_time(timing: &Timing, stop: &Stop, measure_from: Instant) -> Duration {
    match timing.duration {
        Some(d) if stop.level() == StopLevel::Running => d,
        _ => Instant::now().saturating_duration_since(measure_from),
    }
}

/// Runs `sessions` concurrent sessions (closed loop).
pub async fn closed_loop(
    make_ctx: impl Fn(Arc<Recorder>, Option<Instant>) -> SessionContext,
    sessions: usize,
    timing: Timing,
    slo: Option<super::stats::Slo>,
    quiet: bool,
    stop: &Stop,
) -> RunReport {
    let (start, measure_from, deadline, rec) = recorder_for(&timing, slo);
    let ctx = Arc::new(make_ctx(rec.clone(), deadline));
    let label = format!("{sessions} sessions");
    let live = Live::start(rec.clone(), label.clone(), quiet);
    let n = sessions.max(1);
    let mut slots = tokio::task::JoinSet::new();
    for slot in 0..n {
        let ctx = ctx.clone();
        let first = start + timing.ramp_up.mul_f64(slot as f64 / n as f64);
        slots.spawn(async move {
            let mut k = 0u64;
            let mut first = first;
            loop {
                let index = slot as u64 + k * n as u64;
                run_session(&ctx, index, timing.turns, first).await;
                k += 1;
                match deadline {
                    Some(d) if Instant::now() < d && !ctx.stop.is_draining() => {
                        first = Instant::now()
                    }
                    _ => break,
                }
            }
        });
    }
    join_unless_aborted(&mut slots, stop).await;
    let client = live.stop().await;
    let measured = measured_time(&timing, stop, measure_from);
    rec.report(label, Some(sessions), None, measured, client)
}

/// Runs sessions arriving at `rate` per second (open loop) for the level's
/// duration (required), at most `max_concurrency` at once if given.
pub async fn open_loop(
    make_ctx: impl Fn(Arc<Recorder>, Option<Instant>) -> SessionContext,
    rate: f64,
    max_concurrency: Option<usize>,
    timing: Timing,
    slo: Option<super::stats::Slo>,
    quiet: bool,
    stop: &Stop,
) -> RunReport {
    let (start, measure_from, deadline, rec) = recorder_for(&timing, slo);
    let ctx = Arc::new(make_ctx(rec.clone(), deadline));
    let label = format!("{rate} sessions/s");
    let live = Live::start(rec.clone(), label.clone(), quiet);
    let total = timing.warmup + timing.duration.unwrap_or(Duration::from_secs(60));
    let limit = max_concurrency.map(|c| Arc::new(tokio::sync::Semaphore::new(c.max(1))));
    let mut rng = SessionRng::new(ctx.seed, u64::MAX);
    let mut at = Duration::ZERO;
    let mut index = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        // Exponential inter-arrival times: a Poisson process.
        at += Duration::from_secs_f64(-rng.unit().ln() / rate.max(1e-9));
        if at >= total {
            break;
        }
        let arrival = start + at;
        tokio::select! {
            biased;
            _ = stop.reached(StopLevel::Drain) => break,
            _ = tokio::time::sleep_until(arrival.into()) => {}
        }
        let (ctx, limit) = (ctx.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = match &limit {
                Some(sem) => sem.clone().acquire_owned().await.ok(),
                None => None,
            };
            run_session(&ctx, index, timing.turns, arrival).await;
        });
        index += 1;
        // Reap finished sessions so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    join_unless_aborted(&mut tasks, stop).await;
    let client = live.stop().await;
    let measured = measured_time(&timing, stop, measure_from);
    rec.report(label, None, Some(rate), measured, client)
}
