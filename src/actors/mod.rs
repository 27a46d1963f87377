//! The actors of the pipeline (ractor): one request actor per request, one
//! scheduler actor per model replica, one stream actor per sequence. Each
//! keeps its state private; messages are the only way in.

pub mod request;
pub mod scheduler;
pub mod stream;
