//! Safetensors checkpoints, single-file or sharded, memory-mapped. Tensors
//! are read out by name with their shape checked; matrices keep their
//! stored dtype (bf16 stays bf16), small vectors become f32.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata};
use safetensors::SafeTensors;

use super::ModelError;
use crate::backend::HostMatrix;

/// A tensor's raw bytes with where they came from.
type RawTensor<'a> = (&'a Shard, Dtype, Vec<usize>, &'a [u8]);

struct Shard {
    path: PathBuf,
    mmap: Mmap,
    header_len: usize,
    meta: Metadata,
}

/// Where the decoder reads its tensors, by their Hugging Face names: a
/// safetensors checkpoint ([`WeightStore`]) or a GGUF file
/// ([`crate::model::gguf::hf::GgufWeights`]).
pub trait WeightSource {
    /// A matrix `[rows, cols]` in its stored type.
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<HostMatrix, ModelError>;
    /// A vector of `len` values as f32.
    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError>;
    /// Whether the checkpoint has this tensor.
    fn contains(&self, name: &str) -> bool;
}

impl WeightSource for WeightStore {
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<HostMatrix, ModelError> {
        WeightStore::matrix(self, name, rows, cols)
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        WeightStore::vector(self, name, len)
    }

    fn contains(&self, name: &str) -> bool {
        WeightStore::contains(self, name)
    }
}

/// Every tensor of a checkpoint, by name.
pub struct WeightStore {
    shards: Vec<Shard>,
    by_name: HashMap<String, usize>,
}

impl WeightStore {
    /// Open `model.safetensors`, or every shard listed in
    /// `model.safetensors.index.json`.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if index.exists() {
            let text = std::fs::read_to_string(&index).map_err(|e| ModelError::Io {
                path: index.clone(),
                source: e,
            })?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| ModelError::Config {
                    path: index.clone(),
                    msg: format!("not valid JSON: {e}"),
                })?;
            let map = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| ModelError::Config {
                    path: index.clone(),
                    msg: "missing `weight_map`".into(),
                })?;
            let mut names: Vec<String> = map
                .values()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|n| dir.join(n)).collect()
        } else if single.exists() {
            vec![single]
        } else {
            return Err(ModelError::MissingFile {
                path: single,
                what: "model weights (model.safetensors or model.safetensors.index.json)",
            });
        };
        let mut shards = Vec::new();
        let mut by_name = HashMap::new();
        for path in files {
            let file = File::open(&path).map_err(|e| ModelError::Io {
                path: path.clone(),
                source: e,
            })?;
            // SAFETY: the file is opened read-only and mapped privately; weir
            // never writes to it. Another process truncating the checkpoint
            // while we load it is outside what any loader can defend against.
            let mmap = unsafe { Mmap::map(&file) }.map_err(|e| ModelError::Io {
                path: path.clone(),
                source: e,
            })?;
            let (header_len, meta) =
                SafeTensors::read_metadata(&mmap).map_err(|e| ModelError::Config {
                    path: path.clone(),
                    msg: format!("not a valid safetensors file: {e}"),
                })?;
            for name in meta.tensors().keys() {
                by_name.insert(name.clone(), shards.len());
            }
            shards.push(Shard {
                path,
                mmap,
                header_len,
                meta,
            });
        }
        Ok(Self { shards, by_name })
    }

    /// True when the checkpoint has a tensor of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    fn raw(&self, name: &str) -> Result<RawTensor<'_>, ModelError> {
        let &i = self
            .by_name
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                files: self
                    .shards
                    .iter()
                    .map(|s| s.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let shard = &self.shards[i];
        let info = shard
            .meta
            .info(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                files: shard.path.display().to_string(),
            })?;
        let start = 8 + shard.header_len + info.data_offsets.0;
        let end = 8 + shard.header_len + info.data_offsets.1;
        let bytes = shard
            .mmap
            .get(start..end)
            .ok_or_else(|| ModelError::BadTensor {
                name: name.to_string(),
                path: shard.path.clone(),
                msg: "data offsets point past the end of the file".into(),
            })?;
        Ok((shard, info.dtype, info.shape.clone(), bytes))
    }

    /// A matrix `[rows, cols]` in its stored dtype.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<HostMatrix, ModelError> {
        let (shard, dtype, shape, bytes) = self.raw(name)?;
        if shape != [rows, cols] {
            return Err(ModelError::BadTensor {
                name: name.to_string(),
                path: shard.path.clone(),
                msg: format!("shape {shape:?}, expected [{rows}, {cols}]"),
            });
        }
        Ok(match dtype {
            Dtype::F32 => HostMatrix::F32 {
                data: bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                rows,
                cols,
            },
            Dtype::BF16 => HostMatrix::Bf16 {
                data: bytes
                    .chunks_exact(2)
                    .map(|b| bf16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                rows,
                cols,
            },
            Dtype::F16 => HostMatrix::F16 {
                data: bytes
                    .chunks_exact(2)
                    .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                rows,
                cols,
            },
            other => {
                return Err(ModelError::BadTensor {
                    name: name.to_string(),
                    path: shard.path.clone(),
                    msg: format!("dtype {other:?} is not supported (F32, BF16, F16 are)"),
                })
            }
        })
    }

    /// A vector of `len` values, converted to f32.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let (shard, dtype, shape, bytes) = self.raw(name)?;
        if shape != [len] {
            return Err(ModelError::BadTensor {
                name: name.to_string(),
                path: shard.path.clone(),
                msg: format!("shape {shape:?}, expected [{len}]"),
            });
        }
        Ok(match dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            other => {
                return Err(ModelError::BadTensor {
                    name: name.to_string(),
                    path: shard.path.clone(),
                    msg: format!("dtype {other:?} is not supported (F32, BF16, F16 are)"),
                })
            }
        })
    }
}
