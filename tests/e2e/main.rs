//! weir's end-to-end tests, one test binary: each module is one area, run
//! through real parts (a real HTTP server on loopback, the real tiny models
//! of tests/models, real SQLite). One binary rather than one per file: each
//! test binary links the whole server, and 24 of them took most of the test
//! command's compile time. The burst tests (admission, backpressure: a few
//! thousand sockets each) and the load tests (they time the server) stay
//! binaries of their own, so no other test shares their process.

#[path = "../common/mod.rs"]
mod common;

mod admin_api;
mod admin_cli;
mod backend_faults;
mod batch_invariance;
mod deployment;
mod fairness;
mod gguf;
mod gguf_tokenizer;
mod guided;
mod kv_pressure;
mod lifecycle;
mod llama_cpp_parity;
mod load_html;
mod model_errors;
mod parity;
mod prefix_cache;
mod quantized;
mod scheduler_restart;
mod sim_backend;
mod template_parity;
mod tenancy;
mod tool_fallback;
mod tool_parsers;
mod usage_durability;
