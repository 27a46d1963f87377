//! Responses being generated right now, per project: so that
//! `POST /v1/responses/{id}/cancel` can stop one, `GET /v1/responses/{id}`
//! shows one in progress, and a continuation of one is refused clearly
//! rather than answered as a missing id.
//!
//! A response is registered before its generation starts and leaves when
//! its [`RunningGuard`] drops, after it was stored (or failed, or its
//! client left): it is never neither running nor stored in between. A
//! cancel flips the response's [`Cancel`] signal; the events of its
//! generation end there with a `cancelled` finish ([`cancellable`]), which
//! aborts the engine's request, and the handler finishes the response as
//! usual with status `cancelled`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::api::responses::object::ResponseObject;
use crate::engine::request::{FinishReason, StreamEvent};

/// How long a cancel waits for the response to wind down before answering
/// with what it has.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// The responses in progress, keyed by id (ids are unique across
/// projects; the project is checked on every lookup).
#[derive(Debug, Default)]
pub struct Running {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    project: String,
    /// The response as created (in progress, no output yet).
    snapshot: ResponseObject,
    cancel: watch::Sender<bool>,
    /// The finished response, once there is one.
    done: watch::Receiver<Option<ResponseObject>>,
}

/// What a cancel found.
#[derive(Debug)]
pub enum Cancelled {
    /// No running response of the project has this id.
    NotRunning,
    /// It wound down: the finished response (status `cancelled`, or
    /// whatever it reached first).
    Finished(Box<ResponseObject>),
    /// It did not wind down within the wait: the snapshot, in progress.
    StillRunning(Box<ResponseObject>),
}

impl Running {
    /// Register `response` (in progress) of `project`; it stays registered
    /// until the guard drops.
    pub fn register(
        self: &Arc<Self>,
        project: &str,
        response: &ResponseObject,
    ) -> (RunningGuard, Cancel) {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(None);
        let entry = Entry {
            project: project.to_string(),
            snapshot: response.clone(),
            cancel: cancel_tx,
            done: done_rx,
        };
        self.lock().insert(response.id.clone(), entry);
        let guard = RunningGuard {
            running: self.clone(),
            id: response.id.clone(),
            done: done_tx,
        };
        (guard, Cancel(cancel_rx))
    }

    /// The response `id` of `project` as it stands, if it is running.
    pub fn snapshot(&self, project: &str, id: &str) -> Option<ResponseObject> {
        self.lock()
            .get(id)
            .filter(|e| e.project == project)
            .map(|e| e.snapshot.clone())
    }

    /// Cancel the running response `id` of `project` and wait (a while)
    /// for it to finish.
    pub async fn cancel(&self, project: &str, id: &str) -> Cancelled {
        let (mut done, snapshot) = {
            let entries = self.lock();
            let Some(e) = entries.get(id).filter(|e| e.project == project) else {
                return Cancelled::NotRunning;
            };
            e.cancel.send_replace(true);
            (e.done.clone(), e.snapshot.clone())
        };
        let waited = tokio::time::timeout(CANCEL_WAIT, done.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(finished)) => match finished.clone() {
                Some(r) => Cancelled::Finished(Box::new(r)),
                None => Cancelled::StillRunning(Box::new(snapshot)),
            },
            // The guard dropped without a finished response (its client
            // left, or it failed): it is over all the same.
            Ok(Err(_)) => {
                let mut r = snapshot;
                r.status = "cancelled";
                Cancelled::Finished(Box::new(r))
            }
            Err(_) => Cancelled::StillRunning(Box::new(snapshot)),
        }
    }

    /// How many responses are running.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps a response registered as running; dropping it unregisters.
#[derive(Debug)]
pub struct RunningGuard {
    running: Arc<Running>,
    id: String,
    done: watch::Sender<Option<ResponseObject>>,
}

impl RunningGuard {
    /// The response finished (and was stored, if it is kept): a waiting
    /// cancel gets it.
    pub fn finished(self, response: &ResponseObject) {
        self.done.send_replace(Some(response.clone()));
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running.lock().remove(&self.id);
    }
}

/// The cancel signal of one running response.
#[derive(Debug, Clone)]
pub struct Cancel(watch::Receiver<bool>);

impl Cancel {
    /// Resolves once the response is cancelled (never, if its registry
    /// entry is gone without a cancel).
    async fn cancelled(&mut self) {
        if self.0.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The events of a generation, ended early by `cancel`: the engine's
/// receiver is dropped (which aborts its request) and a `cancelled`
/// finish (FinishReason::Abort) follows what was generated, with the
/// tokens counted so far. Cached and reasoning token counts are not known
/// at that point and read 0.
pub fn cancellable(
    events: flume::Receiver<StreamEvent>,
    mut cancel: Cancel,
) -> flume::Receiver<StreamEvent> {
    let (tx, rx) = flume::bounded(64);
    tokio::spawn(async move {
        let mut generated = 0;
        loop {
            tokio::select! {
                event = events.recv_async() => {
                    let Ok(event) = event else { return };
                    if let StreamEvent::Delta { token_ids, .. } = &event {
                        generated += token_ids.len();
                    }
                    if tx.send_async(event).await.is_err() {
                        return;
                    }
                }
                () = cancel.cancelled() => {
                    drop(events);
                    let _ = tx
                        .send_async(StreamEvent::Finished {
                            choice: 0,
                            reason: FinishReason::Abort,
                            completion_tokens: generated,
                            matched_stop: None,
                            cached_tokens: 0,
                            reasoning_tokens: 0,
                        })
                        .await;
                    return;
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::responses::request::Echo;

    fn response(id: &str) -> ResponseObject {
        ResponseObject::in_progress(id.into(), 1, "m".into(), &Echo::default(), true)
    }

    #[tokio::test]
    async fn a_cancel_ends_the_events_and_waits_for_the_finished_response() {
        let running = Arc::new(Running::default());
        let (guard, cancel) = running.register("p", &response("resp_1"));
        assert!(running.snapshot("p", "resp_1").is_some());
        assert!(
            running.snapshot("q", "resp_1").is_none(),
            "another project's"
        );
        let (engine_tx, engine_rx) = flume::unbounded();
        let events = cancellable(engine_rx, cancel);
        engine_tx
            .send(StreamEvent::Delta {
                choice: 0,
                text: "a".into(),
                reasoning: String::new(),
                tool_calls: Vec::new(),
                token_ids: vec![1, 2],
                logprobs: Vec::new(),
            })
            .unwrap();
        assert!(matches!(
            events.recv_async().await,
            Ok(StreamEvent::Delta { .. })
        ));
        assert!(matches!(
            running.cancel("q", "resp_1").await,
            Cancelled::NotRunning
        ));
        let handler = tokio::spawn(async move {
            // The handler: reads to the end, finishes, unregisters.
            let mut last = None;
            while let Ok(e) = events.recv_async().await {
                last = Some(e);
            }
            let mut r = response("resp_1");
            r.status = "cancelled";
            guard.finished(&r);
            last
        });
        let got = running.cancel("p", "resp_1").await;
        assert!(matches!(got, Cancelled::Finished(r) if r.status == "cancelled"));
        let last = handler.await.unwrap();
        assert!(matches!(
            last,
            Some(StreamEvent::Finished {
                reason: FinishReason::Abort,
                completion_tokens: 2,
                ..
            })
        ));
        // The engine's receiver is gone: its request is aborted.
        assert!(engine_tx
            .send(StreamEvent::Failed {
                message: String::new()
            })
            .is_err());
        assert!(running.is_empty());
    }
}
