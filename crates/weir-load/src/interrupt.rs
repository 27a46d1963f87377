//! Stopping a run early (Ctrl-C), the way k6 does it: the first stop
//! *drains* (no request starts after it, the ones in flight finish and are
//! recorded, sessions thinking end there), the second *aborts* (what is
//! still in flight is dropped, unrecorded). Either way the levels report
//! what finished, and later levels of a sweep or search do not run.

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How far a stop has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopLevel {
    /// Not stopped.
    Running,
    /// No new requests; those in flight finish.
    Drain,
    /// Requests in flight are dropped.
    Abort,
}

/// What a running load watches to stop early; cloned into every level and
/// session. The [`watch::Sender`] from [`Stop::new`] raises the level.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<StopLevel>);

impl Stop {
    /// A stop and the sender that raises it.
    pub fn new() -> (watch::Sender<StopLevel>, Stop) {
        let (tx, rx) = watch::channel(StopLevel::Running);
        (tx, Stop(rx))
    }

    /// A stop that never fires (runs nobody interrupts: tests, libraries).
    pub fn never() -> Stop {
        Stop::new().1
    }

    /// The level reached so far.
    pub fn level(&self) -> StopLevel {
        *self.0.borrow()
    }

    /// Whether new requests must not start.
    pub fn is_draining(&self) -> bool {
        self.level() >= StopLevel::Drain
    }

    /// Resolves once the level reaches `level`; never, if the sender is
    /// gone before it did.
    pub async fn reached(&self, level: StopLevel) {
        let mut rx = self.0.clone();
        if rx.wait_for(|now| *now >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for every task in `set`; an abort drops the rest.
pub async fn join_unless_aborted(set: &mut tokio::task::JoinSet<()>, stop: &Stop) {
    let aborted = tokio::select! {
        _ = async { while set.join_next().await.is_some() {} } => false,
        _ = stop.reached(StopLevel::Abort) => true,
    };
    if aborted {
        set.abort_all();
        while set.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn drain_lets_tasks_finish_and_abort_drops_them() {
        let (tx, stop) = Stop::new();
        assert!(!stop.is_draining());
        let mut set = tokio::task::JoinSet::new();
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let quick = done_tx.clone();
        set.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = quick.send("quick");
        });
        set.spawn(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let _ = done_tx.send("slow");
        });
        tx.send(StopLevel::Drain).expect("receiver alive");
        assert!(stop.is_draining());
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move { join_unless_aborted(&mut set, &stop).await })
        };
        // Draining waits for the tasks: the quick one finishes, the slow one
        // is still running until the abort.
        assert_eq!(done.recv().await, Some("quick"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        tx.send(StopLevel::Abort).expect("receiver alive");
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the abort ends the wait")
            .expect("join");
        assert_eq!(
            done.recv().await,
            None,
            "the slow task was dropped unfinished"
        );
    }

    #[tokio::test]
    async fn never_never_fires() {
        let stop = Stop::never();
        assert_eq!(stop.level(), StopLevel::Running);
        let waited =
            tokio::time::timeout(Duration::from_millis(50), stop.reached(StopLevel::Drain)).await;
        assert!(waited.is_err());
        let mut set = tokio::task::JoinSet::new();
        set.spawn(async {});
        join_unless_aborted(&mut set, &stop).await;
        assert!(set.is_empty());
    }
}
