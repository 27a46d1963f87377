//! Where arithmetic happens: [`Backend`], the tensor operations one decoder
//! layer needs (matmul, norms, rotary, paged attention). `cpu` implements it
//! today; a `cuda` backend implements the same trait later, and the decoder
//! ([`crate::model::Decoder`]) is written once against it. What the
//! executor drives is a [`crate::runner::ModelRunner`]; the decoder over a
//! backend is one, the `sim` runner another.

pub mod cpu;

use crate::quant::{QuantFormat, QuantMatrix};

/// The element type the KV cache stores (`--kv-cache-dtype`). Attention
/// computes in f32 either way; bf16 rounds each K/V value once when it is
/// written and halves the cache's memory, so twice the tokens fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvDtype {
    /// Four bytes per value: exactly the values the layer computed.
    F32,
    /// Two bytes per value, rounded to nearest even.
    Bf16,
}

impl KvDtype {
    /// Bytes one value takes.
    pub fn size(self) -> usize {
        match self {
            KvDtype::F32 => 4,
            KvDtype::Bf16 => 2,
        }
    }

    /// `f32` or `bf16`, as the flag spells it.
    pub fn name(self) -> &'static str {
        match self {
            KvDtype::F32 => "f32",
            KvDtype::Bf16 => "bf16",
        }
    }

    /// Parses [`KvDtype::name`]'s spelling (also `float32` / `bfloat16`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => Some(KvDtype::F32),
            "bf16" | "bfloat16" => Some(KvDtype::Bf16),
            _ => None,
        }
    }
}

/// Errors a runner can hit while computing a step (all are server faults).
/// Every op returns one instead of panicking, so a failed step fails only
/// its own sequences and the engine keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// An op was given buffers too short for the rows it was asked to touch.
    #[error("{op}: `{arg}` needs {needed} values, the buffer holds {have}")]
    Shape {
        /// The op.
        op: &'static str,
        /// Which argument.
        arg: &'static str,
        /// Values the call needs.
        needed: usize,
        /// Values the buffer holds.
        have: usize,
    },
    /// A step referenced a block or position outside what was allocated.
    #[error("invalid step: {0}")]
    InvalidStep(String),
    /// Anything the device reports.
    #[error("backend failure: {0}")]
    Device(String),
}

/// A weight matrix on the host, in its stored dtype, `[rows, cols]`
/// row-major (nn.Linear's `[out_features, in_features]`).
#[derive(Clone, Debug)]
pub enum HostMatrix {
    /// 32-bit floats.
    F32 {
        /// Row-major values.
        data: Vec<f32>,
        /// Rows (output features).
        rows: usize,
        /// Columns (input features).
        cols: usize,
    },
    /// bfloat16, kept as bf16.
    Bf16 {
        /// Row-major values.
        data: Vec<half::bf16>,
        /// Rows (output features).
        rows: usize,
        /// Columns (input features).
        cols: usize,
    },
    /// IEEE half, kept as f16.
    F16 {
        /// Row-major values.
        data: Vec<half::f16>,
        /// Rows (output features).
        rows: usize,
        /// Columns (input features).
        cols: usize,
    },
    /// Block-quantized (Q8_0, Q4_K, ...): from a GGUF file or `--quantize`.
    Quant(QuantMatrix),
    /// Row blocks of different dtypes stacked on top of each other (a fused
    /// q/k/v whose `v` a `Q4_K_M` file keeps in Q6_K): at least two parts,
    /// one width, none of them stacked.
    Stacked(Vec<HostMatrix>),
}

impl HostMatrix {
    /// (rows, cols).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            HostMatrix::F32 { rows, cols, .. }
            | HostMatrix::Bf16 { rows, cols, .. }
            | HostMatrix::F16 { rows, cols, .. } => (*rows, *cols),
            HostMatrix::Quant(q) => q.shape(),
            HostMatrix::Stacked(parts) => (
                parts.iter().map(|p| p.shape().0).sum(),
                parts.first().map_or(0, |p| p.shape().1),
            ),
        }
    }

    /// Quantizes a float matrix to `format` (or to the fallback
    /// [`QuantFormat::for_cols`] picks for its width); a matrix no format
    /// fits, or one already quantized, is returned as it is.
    ///
    /// # Panics
    /// If `format` is one weir reads but does not make (Q6_K, ...):
    /// [`QuantFormat::parse`], behind `--quantize`, never names one.
    pub fn quantized(self, format: QuantFormat) -> HostMatrix {
        let (rows, cols) = self.shape();
        let Some(format) = format.for_cols(cols) else {
            return self;
        };
        let q = match self {
            HostMatrix::Stacked(parts) => {
                let parts = parts.into_iter().map(|p| p.quantized(format)).collect();
                // A stacked matrix's parts share one width (vstack made it).
                return HostMatrix::vstack(parts).expect("parts of one width"); // ok: see above
            }
            HostMatrix::Quant(_) => return self,
            HostMatrix::F32 { data, .. } => QuantMatrix::quantize(format, rows, cols, &data),
            HostMatrix::Bf16 { data, .. } => {
                QuantMatrix::quantize_rows(format, rows, cols, |r, out| {
                    for (o, v) in out.iter_mut().zip(&data[r * cols..]) {
                        *o = v.to_f32();
                    }
                })
            }
            HostMatrix::F16 { data, .. } => {
                QuantMatrix::quantize_rows(format, rows, cols, |r, out| {
                    for (o, v) in out.iter_mut().zip(&data[r * cols..]) {
                        *o = v.to_f32();
                    }
                })
            }
        };
        match q {
            Ok(q) => HostMatrix::Quant(q),
            // Unreachable: `for_cols` picked a format the width divides and
            // `parse` only names formats weir quantizes to.
            Err(e) => panic!("quantizing to {format:?}: {e}"),
        }
    }

    /// Stack matrices with the same columns on top of each other (fusing
    /// q/k/v or gate/up into one matmul): one matrix of their dtype when
    /// they share one, else [`HostMatrix::Stacked`]. None if the widths
    /// differ or there are no parts.
    pub fn vstack(parts: Vec<HostMatrix>) -> Option<HostMatrix> {
        let cols = parts.first()?.shape().1;
        let rows: usize = parts.iter().map(|p| p.shape().0).sum();
        if parts.iter().any(|p| p.shape().1 != cols) {
            return None;
        }
        let parts: Vec<HostMatrix> = parts
            .into_iter()
            .flat_map(|p| match p {
                HostMatrix::Stacked(inner) => inner,
                p => vec![p],
            })
            .collect();
        let same = |a: &HostMatrix, b: &HostMatrix| match (a, b) {
            (HostMatrix::Quant(x), HostMatrix::Quant(y)) => x.format() == y.format(),
            _ => std::mem::discriminant(a) == std::mem::discriminant(b),
        };
        if parts.len() > 1 && parts.iter().any(|p| !same(p, &parts[0])) {
            return Some(HostMatrix::Stacked(parts));
        }
        macro_rules! stack {
            ($variant:ident) => {{
                let mut data = Vec::with_capacity(rows * cols);
                for p in parts {
                    match p {
                        HostMatrix::$variant { data: d, .. } => data.extend_from_slice(&d),
                        _ => return None,
                    }
                }
                Some(HostMatrix::$variant { data, rows, cols })
            }};
        }
        match &parts[0] {
            HostMatrix::Quant(_) => {
                let qs = parts
                    .into_iter()
                    .map(|p| match p {
                        HostMatrix::Quant(q) => Some(q),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                QuantMatrix::vstack(qs).map(HostMatrix::Quant)
            }
            HostMatrix::F32 { .. } => stack!(F32),
            HostMatrix::Bf16 { .. } => stack!(Bf16),
            HostMatrix::F16 { .. } => stack!(F16),
            HostMatrix::Stacked(_) => unreachable!("flattened above"),
        }
    }

    /// The part holding row `r` of a stacked matrix and the row within it
    /// (`self` and `r` for any other matrix).
    pub fn part_of_row(&self, r: usize) -> (&HostMatrix, usize) {
        let HostMatrix::Stacked(parts) = self else {
            return (self, r);
        };
        let mut r = r;
        for p in parts {
            let n = p.shape().0;
            if r < n {
                return (p, r);
            }
            r -= n;
        }
        (self, r)
    }

    /// A matrix whose row `i` is this one's row `rows[i]` (undoing a row
    /// permutation; quantized rows move whole).
    pub fn gather_rows(&self, rows: &[usize]) -> HostMatrix {
        fn gather<T: Copy>(data: &[T], cols: usize, rows: &[usize]) -> Vec<T> {
            rows.iter()
                .flat_map(|&r| data[r * cols..(r + 1) * cols].iter().copied())
                .collect()
        }
        let cols = self.shape().1;
        let n = rows.len();
        match self {
            HostMatrix::F32 { data, .. } => HostMatrix::F32 {
                data: gather(data, cols, rows),
                rows: n,
                cols,
            },
            HostMatrix::Bf16 { data, .. } => HostMatrix::Bf16 {
                data: gather(data, cols, rows),
                rows: n,
                cols,
            },
            HostMatrix::F16 { data, .. } => HostMatrix::F16 {
                data: gather(data, cols, rows),
                rows: n,
                cols,
            },
            HostMatrix::Quant(q) => HostMatrix::Quant(q.gather_rows(rows)),
            HostMatrix::Stacked(parts) => {
                // Runs of rows from one part gather within that part.
                let starts: Vec<usize> = parts
                    .iter()
                    .scan(0, |at, p| {
                        let s = *at;
                        *at += p.shape().0;
                        Some(s)
                    })
                    .collect();
                let part = |r: usize| starts.partition_point(|&s| s <= r) - 1;
                let mut runs = Vec::new();
                let mut i = 0;
                while i < rows.len() {
                    let p = part(rows[i]);
                    let len = rows[i..].iter().take_while(|&&r| part(r) == p).count();
                    let local: Vec<usize> =
                        rows[i..i + len].iter().map(|r| r - starts[p]).collect();
                    runs.push(parts[p].gather_rows(&local));
                    i += len;
                }
                HostMatrix::vstack(runs).unwrap_or(HostMatrix::F32 {
                    data: Vec::new(),
                    rows: 0,
                    cols,
                })
            }
        }
    }

    /// Bytes held.
    pub fn size_bytes(&self) -> usize {
        match self {
            HostMatrix::F32 { data, .. } => data.len() * 4,
            HostMatrix::Bf16 { data, .. } => data.len() * 2,
            HostMatrix::F16 { data, .. } => data.len() * 2,
            HostMatrix::Quant(q) => q.bytes().len(),
            HostMatrix::Stacked(parts) => parts.iter().map(HostMatrix::size_bytes).sum(),
        }
    }
}

/// One sequence's queries in a paged-attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnSeqInfo<'a> {
    /// First row of this sequence's queries.
    pub q_start: usize,
    /// Query rows this step.
    pub q_len: usize,
    /// Tokens in the cache after this step's write.
    pub ctx_len: usize,
    /// Blocks holding positions `0..ctx_len`.
    pub block_table: &'a [u32],
}

/// Shapes of an attention layer, shared by every call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// Tokens per KV block.
    pub block_size: usize,
    /// Softmax scale (1/sqrt(head_dim)).
    pub scale: f32,
    /// Mistral's window, if any.
    pub sliding_window: Option<usize>,
}

/// The tensor operations a Llama-family decoder needs. Buffers are f32
/// activations laid out `[rows, cols]`; matrices keep their stored dtype.
/// A buffer may be longer than the rows an op is given (the decoder keeps
/// its buffers across steps); ops touch only the rows they are given.
/// Every op returns a [`BackendError`] rather than panicking (a GPU backend
/// has out-of-memory and launch failures to report).
/// Every op computes each row independently of the others and of the
/// batch's make-up (batch invariance: a seeded request samples the same
/// tokens alone or in a batch of 64).
pub trait Backend: Send + 'static {
    /// A weight matrix on the device.
    type Matrix: Send;
    /// A small f32 vector on the device (norm weights, biases).
    type Vector: Send;
    /// An f32 activation buffer on the device.
    type Buf: Send;
    /// One layer's K and V cache.
    type KvLayer: Send;

    /// Short name for logs (`cpu`, `cuda`).
    fn name(&self) -> &'static str;
    /// Move a weight matrix to the device.
    fn upload_matrix(&self, m: HostMatrix) -> Result<Self::Matrix, BackendError>;
    /// Move an f32 vector to the device.
    fn upload_vector(&self, v: Vec<f32>) -> Result<Self::Vector, BackendError>;
    /// A zeroed buffer of `len` floats.
    fn alloc(&self, len: usize) -> Result<Self::Buf, BackendError>;
    /// A zeroed K/V cache of `num_blocks * block_size` slots of `kv_dim`
    /// values of `dtype`.
    fn alloc_kv(
        &self,
        slots: usize,
        kv_dim: usize,
        dtype: KvDtype,
    ) -> Result<Self::KvLayer, BackendError>;
    /// Copy a buffer's first `len` floats to the host.
    fn to_host(&self, buf: &Self::Buf, len: usize) -> Result<Vec<f32>, BackendError>;

    /// out[t] = table[ids[t]] (rows of `dim`).
    fn embedding(
        &self,
        table: &Self::Matrix,
        ids: &[u32],
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// out[m, n] = x[m, k] · w[n, k]ᵀ, with (n, k) the matrix's shape.
    fn matmul(
        &self,
        x: &Self::Buf,
        m: usize,
        w: &Self::Matrix,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// x[r] += bias for `rows` rows.
    fn add_bias(
        &self,
        x: &mut Self::Buf,
        rows: usize,
        bias: &Self::Vector,
    ) -> Result<(), BackendError>;
    /// out[r] = rmsnorm(x[r]) * w for `rows` rows of w's length.
    fn rms_norm(
        &self,
        x: &Self::Buf,
        w: &Self::Vector,
        eps: f32,
        rows: usize,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// residual += x; out = rmsnorm(residual) * w.
    fn add_rms_norm(
        &self,
        residual: &mut Self::Buf,
        x: &Self::Buf,
        w: &Self::Vector,
        eps: f32,
        rows: usize,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// Split rows of `[q | k | v]` into three buffers.
    #[allow(clippy::too_many_arguments)]
    fn split_qkv(
        &self,
        qkv: &Self::Buf,
        rows: usize,
        q_dim: usize,
        kv_dim: usize,
        q: &mut Self::Buf,
        k: &mut Self::Buf,
        v: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// NeoX rotary embedding in place on `[rows, heads, head_dim]`.
    fn rope(
        &self,
        x: &mut Self::Buf,
        positions: &[u32],
        heads: usize,
        head_dim: usize,
        inv_freq: &[f32],
        scaling: f32,
    ) -> Result<(), BackendError>;
    /// out[r] = silu(gate) * up, with `[gate | up]` rows of 2*inter.
    fn silu_mul(
        &self,
        gate_up: &Self::Buf,
        rows: usize,
        inter: usize,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// Store new K/V rows at `slots` (block * block_size + offset).
    fn write_kv(
        &self,
        k: &Self::Buf,
        v: &Self::Buf,
        slots: &[u32],
        kv_dim: usize,
        cache: &mut Self::KvLayer,
    ) -> Result<(), BackendError>;
    /// Causal attention of `q` over the paged cache.
    fn attention(
        &self,
        q: &Self::Buf,
        cache: &Self::KvLayer,
        shape: AttnShape,
        seqs: &[AttnSeqInfo<'_>],
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// out[i] = x[rows[i]] for rows of `dim` floats.
    fn gather_rows(
        &self,
        x: &Self::Buf,
        rows: &[usize],
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
}
