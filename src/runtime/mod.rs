//! The running engine: start-up, the handle HTTP handlers call, the
//! executor thread and the actors (ractor) that carry a request through
//! [`crate::engine`]'s core.
//!
//! - [`start`]: builds a running engine from [`EngineConfig`] (model or
//!   demo, tokenizer, KV sizing, runner, scheduler actor).
//! - [`handle`]: [`EngineHandle`], the facade the HTTP layer calls.
//! - [`admission`]: the bounded waiting room every request enters first.
//! - [`request_actor`]: one per request: template, tokenize, compile the
//!   constraint, clamp `max_tokens`, one stream actor per choice.
//! - [`scheduler_actor`]: one per model replica, on a thread of its own;
//!   owns [`crate::engine::sched::Scheduler`] and feeds the executor.
//! - [`executor`]: the OS thread that owns the model runner and samples.
//! - [`stream_actor`]: one per choice: detokenize, stop strings, parsers.
//! - [`event_sink`]: the bounded channel from stream actors to the HTTP
//!   body; a client that reads nothing for the stall timeout is cut off.

pub mod admission;
pub mod deployment;
pub mod event_sink;
pub mod executor;
pub mod handle;
pub mod limits;
pub mod request_actor;
pub mod scheduler_actor;
pub mod start;
pub mod stream_actor;

pub use handle::{EngineError, EngineHandle};
pub use limits::ServingLimits;
pub use start::{
    start, EngineConfig, LoadOptions, RunnerFactory, RunnerKind, RunnerSpec, StartError,
};
