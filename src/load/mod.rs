//! `weir load`: how many concurrent coding-agent sessions does an endpoint
//! hold? A load generator that speaks only HTTP (OpenAI chat completions,
//! streamed), so it measures weir, vLLM, SGLang, llama.cpp's server or a
//! hosted endpoint alike.

pub mod profile;
pub mod report;
pub mod workspace;
