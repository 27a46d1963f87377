//! Durable usage: a write-ahead `pending` record when a request starts, and
//! its final record committed before the last chunk leaves, through one
//! writer thread that group-commits (many requests per transaction).

use std::sync::Arc;

use crate::tenancy::model::UsageRecord;
use crate::tenancy::store::{Store, StoreError};

/// The usage writer.
pub struct UsageLog {
    _store: Arc<Store>,
}

impl UsageLog {
    /// Mark records the last process left `pending` as `interrupted`, then
    /// start the writer thread.
    pub fn start(_store: Arc<Store>) -> Result<UsageLog, StoreError> {
        todo!("usage")
    }

    /// Queue the write-ahead record of a starting request (not awaited).
    pub fn begin(&self, _record: UsageRecord) {
        todo!("usage")
    }

    /// Write the final record; returns once it is committed.
    pub async fn finish(&self, _record: UsageRecord) -> Result<(), StoreError> {
        todo!("usage")
    }
}
