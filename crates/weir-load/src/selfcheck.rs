//! Is the load generator itself the bottleneck? Measures the client's
//! event-loop lag (how late a 10 ms timer fires) and its CPU time, so a run
//! where the client, not the server, was saturated is marked as such.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::report::ClientHealth;

/// Timer period of the lag probe.
const TICK: Duration = Duration::from_millis(10);

/// A running probe; [`SelfCheck::finish`] stops it and reports.
pub struct SelfCheck {
    lag: Arc<Mutex<Histogram<u64>>>,
    task: tokio::task::JoinHandle<()>,
    cpu0: Option<Duration>,
    wall0: Instant,
}

impl SelfCheck {
    /// Starts the lag probe on the current runtime.
    pub fn start() -> SelfCheck {
        // 1 us .. 1 min at 3 significant digits: valid constant bounds.
        let lag = Arc::new(Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid constant histogram bounds"),
        ));
        let sink = lag.clone();
        let task = tokio::spawn(async move {
            loop {
                let t = Instant::now();
                tokio::time::sleep(TICK).await;
                let late = t.elapsed().saturating_sub(TICK);
                let mut h = sink.lock().unwrap_or_else(|p| p.into_inner());
                let _ = h.record((late.as_micros() as u64).clamp(1, 60_000_000));
            }
        });
        SelfCheck {
            lag,
            task,
            cpu0: process_cpu_time(),
            wall0: Instant::now(),
        }
    }

    /// Stops the probe; `output_tokens` is what the run streamed, for the
    /// CPU cost per token.
    pub fn finish(self, output_tokens: u64) -> ClientHealth {
        self.task.abort();
        let wall = self.wall0.elapsed().as_secs_f64().max(1e-9);
        let cpu = match (self.cpu0, process_cpu_time()) {
            (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
            _ => 0.0,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let h = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        let (p99, max) = if h.is_empty() {
            (0.0, 0.0)
        } else {
            (h.value_at_quantile(0.99) as f64 / 1e3, h.max() as f64 / 1e3)
        };
        let cpu_cores_used = cpu / wall;
        ClientHealth {
            cpu_cores_used,
            cores,
            loop_lag_p99_ms: p99,
            loop_lag_max_ms: max,
            cpu_us_per_token: if output_tokens == 0 {
                0.0
            } else {
                cpu * 1e6 / output_tokens as f64
            },
            // A timer 50 ms late or 90% of every core busy: the client's
            // clock readings are no longer the server's latency.
            client_bound: p99 > 50.0 || cpu_cores_used > 0.9 * cores as f64,
        }
    }
}

/// User + system CPU time of this process (Linux `/proc/self/stat`; None elsewhere).
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in USER_HZ (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_advances_with_work() {
        let a = process_cpu_time().expect("linux /proc");
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let b = process_cpu_time().expect("linux /proc");
        assert!(b > a, "{a:?} -> {b:?}");
    }

    #[tokio::test]
    async fn lag_probe_sees_a_blocked_loop() {
        let check = SelfCheck::start();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Block this (current-thread) runtime for 120 ms.
        std::thread::sleep(Duration::from_millis(120));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let h = check.finish(1000);
        assert!(h.loop_lag_max_ms >= 80.0, "{h:?}");
        assert!(h.cores >= 1);
    }
}
