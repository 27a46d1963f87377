//! weir: an OpenAI-compatible LLM inference server.
//!
//! The pipeline, module by module (docs/architecture.md has the full map):
//!
//! ```text
//! api (HTTP, validation, SSE)  ->  runtime::request_actor  ->  runtime::scheduler_actor
//!                                                               |  engine::sched + engine::kv
//!                                                               v
//!                                                   runtime::executor (its own thread)
//!                                                               |  runner::{sim, model::Decoder}
//!                                                               |  backend::cpu
//!                                                               v
//!                      runtime::stream_actor (detokenize, stop strings, parse) -> SSE
//! ```
//!
//! `engine` is the actor-free core; `runtime` wires it to actors and
//! threads. The `weir` binary's subcommands live in `src/bin/weir/`; the
//! load tester (`weir load`) is its own crate, `crates/weir-load`.

pub mod api;
pub mod backend;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod quant;
pub mod runner;
pub mod runtime;
pub mod tenancy;
pub mod tokenize;
