//! The CPU backend: f32 activations in plain `Vec`s, weights in their stored
//! dtype, and the SIMD kernels of this folder (`matmul`, `ops`,
//! `attention`), each with a scalar reference beside it. Threads come from
//! rayon's global pool; the ISA (AVX-512 BF16, AVX-512, AVX2, scalar) is
//! picked once at run time.

pub mod attention;
pub mod matmul;
pub mod ops;
#[cfg(test)]
mod test_isas;

use self::attention::AttnSeq;
use self::matmul::WeightView;
use super::{AttnSeqInfo, AttnShape, Backend, BackendError, HostMatrix};

/// The CPU implementation of [`Backend`].
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

/// One layer's K and V cache in host memory, `[slots, kv_dim]` each.
pub struct CpuKvLayer {
    k: Vec<f32>,
    v: Vec<f32>,
}

fn view(m: &HostMatrix) -> (WeightView<'_>, usize, usize) {
    match m {
        HostMatrix::F32 { data, rows, cols } => (WeightView::F32(data), *rows, *cols),
        HostMatrix::Bf16 { data, rows, cols } => (WeightView::Bf16(data), *rows, *cols),
        HostMatrix::F16 { data, rows, cols } => (WeightView::F16(data), *rows, *cols),
    }
}

impl CpuBackend {
    /// The SIMD level the kernels run at (for logs and benchmarks).
    pub fn isa_name() -> &'static str {
        matmul::Isa::active().name()
    }
}

impl Backend for CpuBackend {
    type Matrix = HostMatrix;
    type Vector = Vec<f32>;
    type Buf = Vec<f32>;
    type KvLayer = CpuKvLayer;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn upload_matrix(&self, m: HostMatrix) -> Result<HostMatrix, BackendError> {
        Ok(m)
    }

    fn upload_vector(&self, v: Vec<f32>) -> Result<Vec<f32>, BackendError> {
        Ok(v)
    }

    fn alloc(&self, len: usize) -> Result<Vec<f32>, BackendError> {
        Ok(vec![0.0; len])
    }

    fn alloc_kv(&self, slots: usize, kv_dim: usize) -> Result<CpuKvLayer, BackendError> {
        let len = slots
            .checked_mul(kv_dim)
            .ok_or_else(|| BackendError::Device("KV cache size overflows".into()))?;
        // `vec![0.0; n]` is a zeroed allocation: the OS hands out pages
        // lazily, so a large cache costs nothing until it is used.
        Ok(CpuKvLayer {
            k: vec![0.0; len],
            v: vec![0.0; len],
        })
    }

    fn to_host(&self, buf: &Vec<f32>, len: usize) -> Result<Vec<f32>, BackendError> {
        Ok(buf[..len].to_vec())
    }

    fn embedding(&self, table: &HostMatrix, ids: &[u32], out: &mut Vec<f32>) {
        let (w, _, dim) = view(table);
        ops::embedding_gather(w, dim, ids, &mut out[..ids.len() * dim]);
    }

    fn matmul(&self, x: &Vec<f32>, m: usize, w: &HostMatrix, out: &mut Vec<f32>) {
        let (w, n, k) = view(w);
        matmul::matmul(&x[..m * k], m, k, w, n, &mut out[..m * n]);
    }

    fn add_bias(&self, x: &mut Vec<f32>, rows: usize, bias: &Vec<f32>) {
        let n = bias.len();
        ops::add_bias(&mut x[..rows * n], bias, n);
    }

    fn rms_norm(&self, x: &Vec<f32>, w: &Vec<f32>, eps: f32, rows: usize, out: &mut Vec<f32>) {
        let dim = w.len();
        ops::rms_norm(&x[..rows * dim], w, eps, dim, &mut out[..rows * dim]);
    }

    fn add_rms_norm(
        &self,
        residual: &mut Vec<f32>,
        x: &Vec<f32>,
        w: &Vec<f32>,
        eps: f32,
        rows: usize,
        out: &mut Vec<f32>,
    ) {
        let dim = w.len();
        ops::add_rms_norm(
            &mut residual[..rows * dim],
            &x[..rows * dim],
            w,
            eps,
            dim,
            &mut out[..rows * dim],
        );
    }

    fn split_qkv(
        &self,
        qkv: &Vec<f32>,
        rows: usize,
        q_dim: usize,
        kv_dim: usize,
        q: &mut Vec<f32>,
        k: &mut Vec<f32>,
        v: &mut Vec<f32>,
    ) {
        let w = q_dim + 2 * kv_dim;
        for r in 0..rows {
            let row = &qkv[r * w..(r + 1) * w];
            q[r * q_dim..(r + 1) * q_dim].copy_from_slice(&row[..q_dim]);
            k[r * kv_dim..(r + 1) * kv_dim].copy_from_slice(&row[q_dim..q_dim + kv_dim]);
            v[r * kv_dim..(r + 1) * kv_dim].copy_from_slice(&row[q_dim + kv_dim..]);
        }
    }

    fn rope(
        &self,
        x: &mut Vec<f32>,
        positions: &[u32],
        heads: usize,
        head_dim: usize,
        inv_freq: &[f32],
        scaling: f32,
    ) {
        let len = positions.len() * heads * head_dim;
        ops::rope_neox(&mut x[..len], positions, heads, head_dim, inv_freq, scaling);
    }

    fn silu_mul(&self, gate_up: &Vec<f32>, rows: usize, inter: usize, out: &mut Vec<f32>) {
        ops::silu_mul(
            &gate_up[..rows * 2 * inter],
            inter,
            &mut out[..rows * inter],
        );
    }

    fn write_kv(
        &self,
        k: &Vec<f32>,
        v: &Vec<f32>,
        slots: &[u32],
        kv_dim: usize,
        cache: &mut CpuKvLayer,
    ) {
        let n = slots.len() * kv_dim;
        attention::write_kv(&k[..n], &v[..n], slots, kv_dim, &mut cache.k, &mut cache.v);
    }

    fn attention(
        &self,
        q: &Vec<f32>,
        cache: &CpuKvLayer,
        shape: AttnShape,
        seqs: &[AttnSeqInfo<'_>],
        out: &mut Vec<f32>,
    ) {
        let rows: usize = seqs.iter().map(|s| s.q_len).sum();
        let width = shape.num_heads * shape.head_dim;
        let seqs: Vec<AttnSeq<'_>> = seqs
            .iter()
            .map(|s| AttnSeq {
                q_start: s.q_start,
                q_len: s.q_len,
                ctx_len: s.ctx_len,
                block_table: s.block_table,
            })
            .collect();
        attention::paged_attention(
            &q[..rows * width],
            &cache.k,
            &cache.v,
            shape.block_size,
            shape.num_heads,
            shape.num_kv_heads,
            shape.head_dim,
            shape.scale,
            shape.sliding_window,
            &seqs,
            &mut out[..rows * width],
        );
    }

    fn gather_rows(&self, x: &Vec<f32>, rows: &[usize], dim: usize, out: &mut Vec<f32>) {
        for (i, &r) in rows.iter().enumerate() {
            out[i * dim..(i + 1) * dim].copy_from_slice(&x[r * dim..(r + 1) * dim]);
        }
    }
}
