//! The model: a Hugging Face checkpoint directory read into one
//! Llama-family decoder (Llama, Mistral, Qwen2, Qwen3), written once against
//! the [`crate::backend::Backend`] operations.

pub mod config;
pub mod decoder;
pub mod demo;
pub mod gguf;
pub mod weights;

use std::path::PathBuf;

pub use config::{Architecture, ModelConfig, StoredDtype};
pub use decoder::Decoder;

/// Why a checkpoint could not be loaded. Every message names the file and,
/// where there is one, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A required file is absent.
    #[error("{}: missing {what}", path.display())]
    MissingFile {
        /// Where it was looked for.
        path: PathBuf,
        /// What it should have held.
        what: &'static str,
    },
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A config file is malformed or describes something unsupported.
    #[error("{}: {msg}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A tensor the architecture needs is not in the checkpoint.
    #[error("tensor `{name}` not found in {files}")]
    MissingTensor {
        /// Tensor name.
        name: String,
        /// The safetensors files searched.
        files: String,
    },
    /// A tensor has the wrong shape or dtype.
    #[error("{}: tensor `{name}`: {msg}", path.display())]
    BadTensor {
        /// Tensor name.
        name: String,
        /// Its file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The backend refused (out of memory, device error).
    #[error("backend: {0}")]
    Backend(#[from] crate::backend::BackendError),
}
