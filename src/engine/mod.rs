//! The engine core (plain Rust, no actors, unit-tested alone) and the
//! start-up that wires it to the actors and the executor.
//!
//! - [`request`]: the narrow types at the engine's edges.
//! - [`kv`]: the paged KV cache's blocks and reference counts.
//! - [`sched`]: continuous batching under a token budget.
//! - [`sampling`]: next-token choice from logits.
//! - [`guided`]: constrained decoding (grammars from `response_format` and
//!   forced tool calls, token masks).
//! - [`handle`]: the facade the HTTP layer calls.
//! - [`start`]: builds a running engine from [`EngineConfig`].

pub mod guided;
pub mod handle;
pub mod kv;
pub mod request;
pub mod sampling;
pub mod sched;
pub mod start;

pub use handle::{EngineError, EngineHandle};
pub use start::{start, EngineConfig, RunnerKind, StartError};
