//! GGUF files (llama.cpp's single-file format, version 2 and 3), read
//! directly: memory-mapped, header and metadata parsed once, tensors read
//! out by name in their stored type.
//!
//! # The format
//!
//! ```text
//! "GGUF" | version u32 | tensor count u64 | metadata count u64
//! metadata: key (u64 length + UTF-8) | value type u32 | value
//! tensor infos: name | n_dims u32 | ne[n_dims] u64 | ggml type u32 | offset u64
//! padding to `general.alignment` (default 32)
//! tensor data: each tensor at data start + offset (a multiple of the alignment)
//! ```
//!
//! All little-endian. `ne[0]` is the fastest-varying dimension, so an
//! `nn.Linear` weight `[out, in]` is stored with `ne = [in, out]`.
//!
//! A small reader of our own rather than a dependency: the format is a
//! page of code, the crates that parse it bring a tensor library with them
//! (candle-core), and every count here is checked against the bytes that
//! are left before anything is allocated, so a hostile file (a 2^60-element
//! array, an offset past the end, a truncated header) is a one-line error
//! naming the file and the tensor or key, never a panic or a huge
//! allocation.

pub mod hf;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use memmap2::Mmap;

use super::ModelError;
use crate::backend::HostMatrix;
use crate::quant::{QuantFormat, QuantMatrix};

/// Most nested arrays a metadata value may have (the spec allows arrays of
/// arrays; real files use one level).
const MAX_DEPTH: usize = 4;

/// Most dimensions a tensor has in ggml.
const MAX_DIMS: usize = 4;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Unsigned integer (u8, u16, u32, u64 in the file).
    Uint(u64),
    /// Signed integer (i8, i16, i32, i64 in the file).
    Int(i64),
    /// Float (f32 or f64 in the file).
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string.
    Str(String),
    /// Array of values of one type.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Uint(v) => Some(v),
            Value::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(v) => Some(v),
            Value::Uint(v) => Some(v as f64),
            Value::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A tensor's element type (ggml's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
    /// A block-quantized type weir multiplies directly.
    Quant(QuantFormat),
    /// A known type weir cannot read yet (its name and block geometry).
    Unsupported(&'static str, usize, usize),
}

impl GgmlType {
    /// The type of ggml's id `id`; `None` for an id ggml does not define.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Quant(QuantFormat::Q4_0),
            3 => Unsupported("Q4_1", 32, 20),
            6 => Quant(QuantFormat::Q5_0),
            7 => Unsupported("Q5_1", 32, 24),
            8 => Quant(QuantFormat::Q8_0),
            9 => Unsupported("Q8_1", 32, 36),
            10 => Unsupported("Q2_K", 256, 84),
            11 => Unsupported("Q3_K", 256, 110),
            12 => Quant(QuantFormat::Q4K),
            13 => Quant(QuantFormat::Q5K),
            14 => Quant(QuantFormat::Q6K),
            15 => Unsupported("Q8_K", 256, 292),
            16 => Unsupported("IQ2_XXS", 256, 66),
            17 => Unsupported("IQ2_XS", 256, 74),
            18 => Unsupported("IQ3_XXS", 256, 98),
            19 => Unsupported("IQ1_S", 256, 50),
            20 => Unsupported("IQ4_NL", 32, 18),
            21 => Unsupported("IQ3_S", 256, 110),
            22 => Unsupported("IQ2_S", 256, 82),
            23 => Unsupported("IQ4_XS", 256, 136),
            24 => Unsupported("I8", 1, 1),
            25 => Unsupported("I16", 1, 2),
            26 => Unsupported("I32", 1, 4),
            27 => Unsupported("I64", 1, 8),
            28 => Unsupported("F64", 1, 8),
            29 => Unsupported("IQ1_M", 256, 56),
            30 => Bf16,
            34 => Unsupported("TQ1_0", 256, 54),
            35 => Unsupported("TQ2_0", 256, 66),
            39 => Unsupported("MXFP4", 32, 17),
            _ => return None,
        })
    }

    /// ggml's name for it.
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Bf16 => "BF16",
            GgmlType::Quant(QuantFormat::Q8_0) => "Q8_0",
            GgmlType::Quant(QuantFormat::Q5_0) => "Q5_0",
            GgmlType::Quant(QuantFormat::Q4_0) => "Q4_0",
            GgmlType::Quant(QuantFormat::Q4K) => "Q4_K",
            GgmlType::Quant(QuantFormat::Q5K) => "Q5_K",
            GgmlType::Quant(QuantFormat::Q6K) => "Q6_K",
            GgmlType::Unsupported(name, _, _) => name,
        }
    }

    /// (elements per block, bytes per block).
    fn geometry(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::Bf16 => (1, 2),
            GgmlType::Quant(f) => (f.block_len(), f.block_bytes()),
            GgmlType::Unsupported(_, n, b) => (n, b),
        }
    }
}

/// Where one tensor lies in the file.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// Its name (`blk.0.attn_q.weight`).
    pub name: String,
    /// `ne`: dimensions, fastest-varying first.
    pub dims: Vec<usize>,
    /// Element type.
    pub ty: GgmlType,
    /// Byte range in the file.
    range: std::ops::Range<usize>,
}

/// An open GGUF file.
pub struct GgufFile {
    path: PathBuf,
    mmap: Mmap,
    /// The format version (2 or 3).
    pub version: u32,
    metadata: HashMap<String, Value>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
}

/// Reads little-endian values off the front of the header, every length
/// checked against what is left.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.left() {
            return Err(format!(
                "truncated: {n} bytes wanted at byte {}, the file ends at {}",
                self.pos,
                self.bytes.len()
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items each at least `min_bytes` long: refused when the
    /// rest of the file could not hold that many.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, String> {
        let n = self.u64()?;
        if n > (self.left() / min_bytes.max(1)) as u64 {
            return Err(format!(
                "{what} count {n} cannot fit in the {} bytes left",
                self.left()
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.count("string length", 1)?;
        let at = self.pos;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("string at byte {at} is not UTF-8"))
    }

    fn value(&mut self, ty: u32, depth: usize) -> Result<Value, String> {
        Ok(match ty {
            0 => Value::Uint(self.array::<1>()?[0] as u64),
            1 => Value::Int(self.array::<1>()?[0] as i8 as i64),
            2 => Value::Uint(u16::from_le_bytes(self.array()?) as u64),
            3 => Value::Int(i16::from_le_bytes(self.array()?) as i64),
            4 => Value::Uint(self.u32()? as u64),
            5 => Value::Int(i32::from_le_bytes(self.array()?) as i64),
            6 => Value::Float(f32::from_le_bytes(self.array()?) as f64),
            7 => match self.array::<1>()?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("bool byte {b} at byte {}", self.pos - 1)),
            },
            8 => Value::Str(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("arrays nested deeper than {MAX_DEPTH}"));
                }
                let elem = self.u32()?;
                let min = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => return Err(format!("unknown array element type {other}")),
                };
                let n = self.count("array", min)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::Uint(self.u64()?),
            11 => Value::Int(i64::from_le_bytes(self.array()?)),
            12 => Value::Float(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown value type {other}")),
        })
    }
}

impl GgufFile {
    /// Opens and parses `path` (header, metadata and tensor table; the
    /// tensor data stays mapped until read).
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let file = File::open(path).map_err(|e| ModelError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        // SAFETY: mapped read-only and privately; weir never writes to it.
        // Another process truncating the file while it is served is outside
        // what any loader can defend against (as for safetensors).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| ModelError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(path, mmap)
    }

    fn parse(path: &Path, mmap: Mmap) -> Result<Self, ModelError> {
        let bad = |msg: String| ModelError::Config {
            path: path.to_path_buf(),
            msg: format!("not a usable GGUF file: {msg}"),
        };
        let mut c = Cursor {
            bytes: &mmap,
            pos: 0,
        };
        if c.take(4).map_err(&bad)? != b"GGUF" {
            return Err(bad("it does not start with `GGUF`".into()));
        }
        let version = c.u32().map_err(&bad)?;
        if !(2..=3).contains(&version) {
            return Err(bad(format!("version {version} (2 and 3 are read)")));
        }
        // A tensor info is at least 8 + 4 + 8 + 4 + 8 bytes; a key-value
        // pair at least 8 + 4 + 1.
        let n_tensors = c.count("tensor", 32).map_err(&bad)?;
        let n_kv = c.count("metadata", 13).map_err(&bad)?;
        let mut metadata = HashMap::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = c.string().map_err(&bad)?;
            let ty = c.u32().map_err(&bad)?;
            let v = c
                .value(ty, 0)
                .map_err(|e| bad(format!("metadata `{key}`: {e}")))?;
            metadata.insert(key, v);
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a as usize,
                _ => {
                    return Err(bad(format!(
                        "general.alignment {v:?} is not a power of two"
                    )))
                }
            },
        };
        let mut infos = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = c.string().map_err(&bad)?;
            let tbad = |msg: String| ModelError::BadTensor {
                name: name.clone(),
                path: path.to_path_buf(),
                msg,
            };
            let n_dims = c.u32().map_err(&bad)? as usize;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(tbad(format!("{n_dims} dimensions (1 to {MAX_DIMS})")));
            }
            let mut dims = Vec::with_capacity(n_dims);
            for _ in 0..n_dims {
                let d = c.u64().map_err(&bad)?;
                dims.push(usize::try_from(d).map_err(|_| tbad(format!("dimension {d}")))?);
            }
            let id = c.u32().map_err(&bad)?;
            let ty =
                GgmlType::from_id(id).ok_or_else(|| tbad(format!("unknown ggml type {id}")))?;
            let offset = c.u64().map_err(&bad)?;
            infos.push((name, dims, ty, offset));
        }
        let data_start = c.pos.next_multiple_of(alignment);
        let data_len = mmap.len().saturating_sub(data_start);
        let mut tensors = Vec::with_capacity(infos.len());
        let mut by_name = HashMap::with_capacity(infos.len());
        for (name, dims, ty, offset) in infos {
            let tbad = |msg: String| ModelError::BadTensor {
                name: name.clone(),
                path: path.to_path_buf(),
                msg,
            };
            let elems = dims
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| tbad(format!("dimensions {dims:?} overflow")))?;
            let (block, block_bytes) = ty.geometry();
            if dims[0] % block != 0 {
                return Err(tbad(format!(
                    "{} rows of {} elements are not whole {block}-element blocks",
                    ty.name(),
                    dims[0]
                )));
            }
            let size = (elems / block)
                .checked_mul(block_bytes)
                .ok_or_else(|| tbad("size overflows".into()))?;
            if offset % alignment as u64 != 0 {
                return Err(tbad(format!("offset {offset} is not {alignment}-aligned")));
            }
            let end = offset
                .checked_add(size as u64)
                .filter(|&e| e <= data_len as u64);
            let Some(end) = end else {
                return Err(tbad(format!(
                    "{size} bytes at offset {offset} run past the end of the file ({data_len} bytes of tensor data)"
                )));
            };
            if by_name.insert(name.clone(), tensors.len()).is_some() {
                return Err(tbad("listed twice".into()));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                range: data_start + offset as usize..data_start + end as usize,
            });
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            mmap,
            version,
            metadata,
            tensors,
            by_name,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// A tensor's description by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    fn bad(&self, name: &str, msg: String) -> ModelError {
        ModelError::BadTensor {
            name: name.to_string(),
            path: self.path.clone(),
            msg,
        }
    }

    fn find(&self, name: &str) -> Result<(&TensorInfo, &[u8]), ModelError> {
        let t = self.tensor(name).ok_or_else(|| ModelError::MissingTensor {
            name: name.to_string(),
            files: self.path.display().to_string(),
        })?;
        Ok((t, &self.mmap[t.range.clone()]))
    }

    /// A matrix `[rows, cols]` (stored `ne = [cols, rows]`) in its stored type.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<HostMatrix, ModelError> {
        let (t, bytes) = self.find(name)?;
        if t.dims != [cols, rows] {
            return Err(self.bad(name, format!("ne {:?}, expected [{cols}, {rows}]", t.dims)));
        }
        Ok(match t.ty {
            GgmlType::F32 => HostMatrix::F32 {
                data: f32s(bytes),
                rows,
                cols,
            },
            GgmlType::F16 => HostMatrix::F16 {
                data: bytes
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]))
                    .collect(),
                rows,
                cols,
            },
            GgmlType::Bf16 => HostMatrix::Bf16 {
                data: bytes
                    .chunks_exact(2)
                    .map(|b| bf16::from_le_bytes([b[0], b[1]]))
                    .collect(),
                rows,
                cols,
            },
            GgmlType::Quant(f) => HostMatrix::Quant(
                QuantMatrix::from_bytes(f, rows, cols, bytes.to_vec())
                    .map_err(|e| self.bad(name, e.to_string()))?,
            ),
            GgmlType::Unsupported(ty, _, _) => {
                return Err(self.bad(
                    name,
                    format!(
                        "type {ty} is not supported \
                         (F32, F16, BF16, Q8_0, Q5_0, Q4_0, Q6_K, Q5_K, Q4_K are)"
                    ),
                ))
            }
        })
    }

    /// A vector of `len` values as f32 (norm weights, biases).
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let (t, bytes) = self.find(name)?;
        if t.dims != [len] {
            return Err(self.bad(name, format!("ne {:?}, expected [{len}]", t.dims)));
        }
        match t.ty {
            GgmlType::F32 => Ok(f32s(bytes)),
            GgmlType::F16 => Ok(bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()),
            GgmlType::Bf16 => Ok(bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()),
            other => Err(self.bad(
                name,
                format!(
                    "a vector stored as {} (F32, F16, BF16 are read)",
                    other.name()
                ),
            )),
        }
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Whether `path` names a GGUF file (by its extension).
pub fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        && !path.is_dir()
}

#[cfg(test)]
mod tests;
