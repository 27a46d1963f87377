//! The bounded channel from a request's stream actors to its HTTP body.
//!
//! Each request gets one channel of [`ServingLimits::stream_buffer_events`]
//! events, shared by its choices. A stream actor that finds it full waits
//! for room without blocking a runtime thread (`send_async`); if the client
//! reads nothing for [`ServingLimits::stream_stall_timeout`], the send gives
//! up with [`SinkError::Stalled`] and the stream actor aborts its sequence.
//! So a client that stops reading costs the server at most one full buffer
//! of events, not `max_tokens x n` of them.
//!
//! [`ServingLimits::stream_buffer_events`]: crate::runtime::ServingLimits::stream_buffer_events
//! [`ServingLimits::stream_stall_timeout`]: crate::runtime::ServingLimits::stream_stall_timeout

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::request::StreamEvent;

/// Why an event could not be handed to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The HTTP body dropped its receiver: the client disconnected.
    #[error("the client disconnected")]
    ClientGone,
    /// The buffer stayed full and the client read nothing for this long.
    #[error("the client read nothing for {0:?}")]
    Stalled(Duration),
}

/// The sending side of one request's event channel: cloned into each of its
/// stream actors. Sends wait (asynchronously) while the buffer is full, for
/// as long as the client keeps reading.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: flume::Sender<StreamEvent>,
    /// Events put into the channel by every clone; with the channel's
    /// length this gives how many the client has taken out.
    sent: Arc<AtomicU64>,
    stall_timeout: Duration,
}

impl EventSink {
    /// A channel of `capacity` events (at least one) whose sends give up
    /// after `stall_timeout` without the client reading anything.
    pub fn channel(
        capacity: usize,
        stall_timeout: Duration,
    ) -> (EventSink, flume::Receiver<StreamEvent>) {
        let (tx, rx) = flume::bounded(capacity.max(1));
        let sink = EventSink {
            tx,
            sent: Arc::new(AtomicU64::new(0)),
            stall_timeout,
        };
        (sink, rx)
    }

    /// A plain sender of the same channel, for whoever only needs to notice
    /// that the client left (`is_disconnected`).
    pub fn sender(&self) -> flume::Sender<StreamEvent> {
        self.tx.clone()
    }

    /// Events the client has taken out of the channel so far.
    fn received(&self) -> u64 {
        self.sent
            .load(Ordering::Acquire)
            .saturating_sub(self.tx.len() as u64)
    }

    /// Hand `event` to the client, waiting while the buffer is full. Gives
    /// up when the client has gone, or has read nothing for the stall
    /// timeout. With several choices on one channel a waiting send may be
    /// passed over while the client reads the others' events: that counts
    /// as reading, so only a client that reads nothing at all is cut off
    /// (within one to two stall timeouts of its last read).
    pub async fn send(&self, event: StreamEvent) -> Result<(), SinkError> {
        let event = match self.tx.try_send(event) {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::AcqRel);
                return Ok(());
            }
            Err(flume::TrySendError::Disconnected(_)) => return Err(SinkError::ClientGone),
            Err(flume::TrySendError::Full(event)) => event,
        };
        let mut send = std::pin::pin!(self.tx.send_async(event));
        let mut seen = self.received();
        loop {
            tokio::select! {
                sent = &mut send => {
                    return match sent {
                        Ok(()) => {
                            self.sent.fetch_add(1, Ordering::AcqRel);
                            Ok(())
                        }
                        Err(_) => Err(SinkError::ClientGone),
                    };
                }
                () = tokio::time::sleep(self.stall_timeout) => {
                    let now = self.received();
                    if now == seen {
                        return Err(SinkError::Stalled(self.stall_timeout));
                    }
                    seen = now;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::request::FinishReason;

    fn fin(choice: usize) -> StreamEvent {
        StreamEvent::Finished {
            choice,
            reason: FinishReason::Stop,
            completion_tokens: 1,
            matched_stop: None,
            cached_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    #[tokio::test]
    async fn a_full_buffer_nobody_reads_stalls_after_the_timeout() {
        let (sink, rx) = EventSink::channel(2, Duration::from_millis(50));
        sink.send(fin(0)).await.unwrap();
        sink.send(fin(0)).await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            sink.send(fin(0)).await,
            Err(SinkError::Stalled(Duration::from_millis(50)))
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        // The buffer holds what fitted, no more.
        assert_eq!(rx.len(), 2);
    }

    #[tokio::test]
    async fn a_slow_reader_is_waited_for_and_gets_everything() {
        let (sink, rx) = EventSink::channel(1, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut got = 0;
            while rx.recv_async().await.is_ok() {
                got += 1;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            got
        });
        for _ in 0..10 {
            sink.send(fin(0)).await.unwrap();
        }
        drop(sink);
        assert_eq!(reader.await.unwrap(), 10);
    }

    #[tokio::test]
    async fn reading_another_choices_events_is_not_a_stall() {
        // Two choices share a one-event buffer; the reader takes one event
        // every 60 ms, so each sender is passed over for longer than the
        // 100 ms timeout now and then, yet the client keeps reading.
        let (sink, rx) = EventSink::channel(1, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut got = 0;
            while rx.recv_async().await.is_ok() {
                got += 1;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            got
        });
        let senders: Vec<_> = (0..3)
            .map(|choice| {
                let sink = sink.clone();
                tokio::spawn(async move {
                    for _ in 0..5 {
                        sink.send(fin(choice)).await?;
                    }
                    Ok::<_, SinkError>(())
                })
            })
            .collect();
        drop(sink);
        for s in senders {
            s.await.unwrap().unwrap();
        }
        assert_eq!(reader.await.unwrap(), 15);
    }

    #[tokio::test]
    async fn a_dropped_receiver_ends_a_waiting_send_at_once() {
        let (sink, rx) = EventSink::channel(1, Duration::from_secs(60));
        sink.send(fin(0)).await.unwrap();
        let waiting = tokio::spawn({
            let sink = sink.clone();
            async move { sink.send(fin(0)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        let r = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r, Err(SinkError::ClientGone));
        assert_eq!(sink.send(fin(0)).await, Err(SinkError::ClientGone));
    }
}
