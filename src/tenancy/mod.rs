//! Tenancy: who may use which model, how much, and what they used.
//!
//! A *project* owns *endpoints* (a named deployment of one served model,
//! reached at `/{project_id}/{endpoint_slug}/v1/...`) and *API keys*
//! (scoped, hashed at rest). Requests are rate limited per key, endpoint
//! and project, shared fairly inside the engine (the scheduler's virtual
//! token counters, keyed by project) and recorded as usage.
//!
//! The rooms, each with one concern:
//! - [`model`]: the plain records (projects, endpoints, keys, usage).
//! - [`store`]: the one data-access layer (SQLite now, PostgreSQL later for
//!   the fleet): migrations, every read and write of those records.
//! - [`keys`]: key generation, the keyed hash kept at rest, the key's shape.
//! - [`directory`]: the in-memory view the request path reads (refreshed
//!   from the store, so admin changes and revocations apply within a second).
//! - [`ratelimit`]: requests and tokens per minute, reserved at admission
//!   and reconciled at the end.
//! - [`usage`]: durable usage records (group-committed, crash-safe).
//! - [`admin`]: the operator's operations (`weir admin` and the admin HTTP
//!   API both call these, so each stays a thin layer of parsing and output).
//! - [`metrics`]: per-project request and token counters for `/metrics`.
//! - [`service`]: `Tenancy`, the three above as the server holds them.

pub mod admin;
pub mod directory;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod ratelimit;
pub mod service;
pub mod store;
pub mod usage;

#[cfg(test)]
pub(crate) mod test_dir;

pub use model::*;
