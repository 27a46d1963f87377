//! Durable usage: a write-ahead `pending` record when a request starts, and
//! its final record committed before the last chunk leaves, through one
//! writer thread that group-commits (many requests per transaction).
//!
//! The writer thread owns every usage write. It blocks for the next
//! record, then drains whatever else is queued (up to [`MAX_BATCH`]),
//! writes the lot in one transaction and only then wakes the requests
//! waiting in [`UsageLog::finish`]: a thousand requests finishing together
//! cost a handful of commits, not a thousand. A failed transaction is
//! logged (request ids and counts, never keys) and its error handed to
//! every waiter of that batch, so no record is lost silently; the pending
//! records of a failed batch are still marked `interrupted` at the next
//! start if their final write never lands.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::tenancy::model::UsageRecord;
use crate::tenancy::store::{Store, StoreError};

/// The most records one transaction writes.
pub const MAX_BATCH: usize = 4096;

/// What the writer thread is asked to write.
enum Write {
    /// A write-ahead record; nobody waits for it.
    Begin(UsageRecord),
    /// A final record and who waits for its commit.
    Finish(UsageRecord, oneshot::Sender<Result<(), StoreError>>),
}

/// The usage writer.
pub struct UsageLog {
    tx: Option<flume::Sender<Write>>,
    thread: Option<JoinHandle<()>>,
}

impl UsageLog {
    /// Mark records the last process left `pending` as `interrupted`, then
    /// start the writer thread.
    pub fn start(store: Arc<Store>) -> Result<UsageLog, StoreError> {
        let interrupted = store.interrupt_pending()?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "usage: requests left running by the previous process marked interrupted"
            );
        }
        let (tx, rx) = flume::unbounded();
        let thread = std::thread::Builder::new()
            .name("weir-usage".into())
            .spawn(move || writer(&store, &rx))
            .map_err(|e| StoreError::Invalid(format!("cannot start the usage writer: {e}")))?;
        Ok(UsageLog {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queue the write-ahead record of a starting request (not awaited).
    pub fn begin(&self, record: UsageRecord) {
        let Some(tx) = &self.tx else { return };
        if let Err(flume::SendError(Write::Begin(record))) = tx.send(Write::Begin(record)) {
            tracing::error!(
                request_id = %record.request_id,
                "usage: the writer has stopped; write-ahead record not written"
            );
        }
    }

    /// Write the final record; returns once it is committed.
    pub async fn finish(&self, record: UsageRecord) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        let request_id = record.request_id.clone();
        let stopped = || {
            StoreError::Invalid(format!(
                "usage writer stopped before request {request_id} was recorded"
            ))
        };
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        tx.send(Write::Finish(record, done))
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

impl Drop for UsageLog {
    /// Closes the queue and waits for the writer to commit what was queued.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: block for one write, drain the rest, commit once,
/// wake the waiters. Ends when every sender is gone and the queue is empty.
fn writer(store: &Store, rx: &flume::Receiver<Write>) {
    let mut records = Vec::new();
    let mut waiters = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(w) = next.take() {
            match w {
                Write::Begin(r) => records.push(r),
                Write::Finish(r, done) => {
                    records.push(r);
                    waiters.push(done);
                }
            }
            if records.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let result = store.write_usage(&records);
        if let Err(e) = &result {
            let first = records.first().map_or("", |r| r.request_id.as_str());
            tracing::error!(
                error = %e,
                records = records.len(),
                first_request_id = %first,
                "usage: writing a batch of usage records failed"
            );
        }
        for done in waiters.drain(..) {
            // A waiter that went away (its client left) needs no answer.
            let _ = done.send(result.clone());
        }
        records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::model::{ProjectId, UsageStatus};
    use crate::tenancy::store::UsageGroupBy;
    use crate::tenancy::test_dir::TestDir;

    fn record(id: &str, status: UsageStatus, completion: u64) -> UsageRecord {
        UsageRecord {
            request_id: id.into(),
            project: Some(ProjectId("proj_usage".into())),
            endpoint: Some("coder".into()),
            key_prefix: Some("weir_usage_AbCd".into()),
            model: "m".into(),
            prompt_tokens: 10,
            cached_tokens: 2,
            completion_tokens: completion,
            reasoning_tokens: 0,
            ttft_ms: Some(1.5),
            latency_ms: 3.0,
            status,
            created_at_ms: 1_000,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn thousands_of_requests_are_group_committed_exactly_once() {
        let dir = TestDir::new("usage-many");
        let store = Arc::new(Store::open(&dir.path().join("weir.db")).unwrap());
        let log = Arc::new(UsageLog::start(store.clone()).unwrap());
        const N: u64 = 4000;
        let started = std::time::Instant::now();
        runtime().block_on(async {
            let mut tasks = Vec::new();
            for i in 0..N {
                let log = log.clone();
                tasks.push(tokio::spawn(async move {
                    let id = format!("chatcmpl-{i}");
                    log.begin(record(&id, UsageStatus::Pending, 0));
                    log.finish(record(&id, UsageStatus::Completed, i % 7)).await
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        });
        // Measured, not asserted (the machine may be busy): the figure
        // shows whether group commit works (seconds would mean it does not).
        eprintln!(
            "{N} begin+finish pairs committed in {:?}",
            started.elapsed()
        );
        let totals = store
            .usage_summary(&ProjectId("proj_usage".into()), 0, UsageGroupBy::Total)
            .unwrap();
        assert_eq!(totals.len(), 1);
        assert_eq!(totals[0].requests, N);
        assert_eq!(totals[0].unfinished, 0);
        assert_eq!(totals[0].prompt_tokens, 10 * N);
        assert_eq!(
            totals[0].completion_tokens,
            (0..N).map(|i| i % 7).sum::<u64>()
        );
    }

    #[test]
    fn a_crash_leaves_pending_records_that_the_next_start_interrupts() {
        let dir = TestDir::new("usage-crash");
        let path = dir.path().join("weir.db");
        let store = Arc::new(Store::open(&path).unwrap());
        {
            let log = UsageLog::start(store.clone()).unwrap();
            log.begin(record("a", UsageStatus::Pending, 0));
            log.begin(record("b", UsageStatus::Pending, 0));
            runtime()
                .block_on(log.finish(record("b", UsageStatus::Completed, 5)))
                .unwrap();
            // Dropping the log commits what was queued (`a` stays pending,
            // as after a crash).
        }
        drop(store);
        let store = Arc::new(Store::open(&path).unwrap());
        let got = store.usage_record("a").unwrap().unwrap();
        assert_eq!(got.status, UsageStatus::Pending);
        let _log = UsageLog::start(store.clone()).unwrap();
        let a = store.usage_record("a").unwrap().unwrap();
        assert_eq!(a.status, UsageStatus::Interrupted);
        let b = store.usage_record("b").unwrap().unwrap();
        assert_eq!(b.status, UsageStatus::Completed);
        assert_eq!(b.completion_tokens, 5);
    }

    #[test]
    fn a_failed_write_reaches_the_waiter() {
        let dir = TestDir::new("usage-fail");
        let path = dir.path().join("weir.db");
        let store = Arc::new(Store::open(&path).unwrap());
        let log = UsageLog::start(store.clone()).unwrap();
        // Another connection takes the write lock and keeps it past the
        // busy timeout, so the writer's transaction fails.
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = runtime()
            .block_on(log.finish(record("x", UsageStatus::Completed, 1)))
            .unwrap_err();
        assert!(err.to_string().contains("weir.db"), "{err}");
        other.execute_batch("ROLLBACK").unwrap();
        runtime()
            .block_on(log.finish(record("x", UsageStatus::Completed, 1)))
            .unwrap();
        assert!(store.usage_record("x").unwrap().is_some());
    }
}
