//! The engine core: plain Rust, no actors, no HTTP, unit-tested alone. What
//! a request becomes once it is valid, and every decision about it that is
//! not arithmetic. [`crate::runtime`] wires it to the actors and the
//! executor thread; a fleet's router can use [`kv`]'s block keys without
//! either.
//!
//! - [`request`]: the narrow types at the engine's edges (token ids and
//!   sampling parameters in, token ids and logprobs out).
//! - [`kv`]: the paged KV cache's blocks, reference counts and prefix keys.
//! - [`sched`]: continuous batching under a token budget.
//! - [`fair`]: the tenants' queues and virtual token counters (fair share).
//! - [`sampling`]: next-token choice from logits.
//! - [`guided`]: constrained decoding (grammars from `response_format` and
//!   forced tool calls, token masks).

pub mod fair;
pub mod guided;
pub mod kv;
pub mod request;
pub mod sampling;
pub mod sched;
#[cfg(test)]
mod sched_props;
