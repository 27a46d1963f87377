//! weir: an OpenAI-compatible LLM inference server.
//!
//! The pipeline, module by module (docs/architecture.md has the full map):
//!
//! ```text
//! api (HTTP, validation, SSE)  ->  actors::request  ->  actors::scheduler
//!                                                         |  engine::sched + engine::kv
//!                                                         v
//!                                                       exec (executor thread)
//!                                                         |  backend::{cpu, sim}, model
//!                                                         v
//!                                  actors::stream (detokenize, stop strings) -> SSE
//! ```

pub mod actors;
pub mod api;
pub mod backend;
pub mod bench;
pub mod engine;
pub mod exec;
pub mod load;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod tokenize;
