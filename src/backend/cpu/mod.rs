//! The CPU backend: f32 activations in plain `Vec`s, weights in their stored
//! dtype, and the SIMD kernels of this folder (`matmul`, `ops`,
//! `attention`), each with a scalar reference beside it. Threads come from
//! rayon's global pool; the ISA (AVX-512 BF16, AVX-512, AVX2, scalar) is
//! picked once at run time.

pub mod attention;
pub mod matmul;
pub mod ops;
pub mod qmatmul;
pub mod sample;
#[cfg(test)]
mod test_isas;

use self::attention::AttnSeq;
use self::matmul::WeightView;
use super::{AttnSeqInfo, AttnShape, Backend, BackendError, HostMatrix, KvDtype};
use crate::quant::QuantMatrix;
use half::{bf16, vec::HalfBitsVecExt};

/// The CPU implementation of [`Backend`].
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

/// One layer's K and V cache in host memory, `[slots, kv_dim]` each, in
/// the dtype `--kv-cache-dtype` chose.
pub enum CpuKvLayer {
    /// f32 values.
    F32 {
        /// Keys.
        k: Vec<f32>,
        /// Values.
        v: Vec<f32>,
    },
    /// bf16 values (half the memory).
    Bf16 {
        /// Keys.
        k: Vec<bf16>,
        /// Values.
        v: Vec<bf16>,
    },
}

impl CpuKvLayer {
    /// Slots of `kv_dim` values the cache holds.
    fn slots(&self, kv_dim: usize) -> usize {
        let len = match self {
            CpuKvLayer::F32 { k, .. } => k.len(),
            CpuKvLayer::Bf16 { k, .. } => k.len(),
        };
        len / kv_dim.max(1)
    }
}

/// How the kernels see a weight matrix.
enum Weights<'a> {
    /// A float matrix for the dense kernels.
    Dense(WeightView<'a>),
    /// A quantized one for `qmatmul`.
    Quant(&'a QuantMatrix),
    /// Row blocks of different dtypes.
    Stacked(&'a [HostMatrix]),
}

fn view(m: &HostMatrix) -> Weights<'_> {
    match m {
        HostMatrix::F32 { data, .. } => Weights::Dense(WeightView::F32(data)),
        HostMatrix::Bf16 { data, .. } => Weights::Dense(WeightView::Bf16(data)),
        HostMatrix::F16 { data, .. } => Weights::Dense(WeightView::F16(data)),
        HostMatrix::Quant(q) => Weights::Quant(q),
        HostMatrix::Stacked(parts) => Weights::Stacked(parts),
    }
}

/// `out = x · wᵀ` for any weight matrix (`x: [m, k]`, `out: [m, n]`). A
/// stacked matrix multiplies part by part, each part's columns copied into
/// place.
fn matmul_any(x: &[f32], m: usize, w: &HostMatrix, out: &mut [f32]) {
    let (n, k) = w.shape();
    match view(w) {
        Weights::Dense(v) => matmul::matmul(x, m, k, v, n, out),
        Weights::Quant(q) => qmatmul::qmatmul(x, m, q, out),
        Weights::Stacked(parts) => {
            let mut col = 0;
            for p in parts {
                let np = p.shape().0;
                let mut part = vec![0.0f32; m * np];
                matmul_any(x, m, p, &mut part);
                for (o, r) in out.chunks_exact_mut(n).zip(part.chunks_exact(np)) {
                    o[col..col + np].copy_from_slice(r);
                }
                col += np;
            }
        }
    }
}

/// [`attention::paged_attention`] with the layer's shape.
fn attend<T: attention::KvElem>(
    q: &[f32],
    k: &[T],
    v: &[T],
    shape: &AttnShape,
    seqs: &[AttnSeq<'_>],
    out: &mut [f32],
) {
    attention::paged_attention(
        q,
        k,
        v,
        shape.block_size,
        shape.num_heads,
        shape.num_kv_heads,
        shape.head_dim,
        shape.scale,
        shape.sliding_window,
        seqs,
        out,
    );
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

    fn alloc_kv(
        &self,
        slots: usize,
        kv_dim: usize,
        dtype: KvDtype,
    ) -> Result<CpuKvLayer, BackendError> {
        let len = slots
            .checked_mul(kv_dim)
            .ok_or_else(|| BackendError::Device("KV cache size overflows".into()))?;
        // `vec![0.0; n]` and `vec![0u16; n]` are zeroed allocations: the OS
        // hands out pages lazily, so a large cache costs nothing until it
        // is used. (`vec![bf16::ZERO; n]` is not: it writes every element,
        // making a whole bf16 cache resident at start. So the bf16 cache is
        // allocated as zero bits and reinterpreted, which copies nothing.)
        let zeroed_bf16 = || vec![0u16; len].reinterpret_into::<bf16>();
        Ok(match dtype {
            KvDtype::F32 => CpuKvLayer::F32 {
                k: vec![0.0; len],
                v: vec![0.0; len],
            },
            KvDtype::Bf16 => CpuKvLayer::Bf16 {
                k: zeroed_bf16(),
                v: zeroed_bf16(),
            },
        })
    }

    fn to_host(&self, buf: &Vec<f32>, len: usize) -> Result<Vec<f32>, BackendError> {
        Ok(rows("to_host", "buf", buf, len)?.to_vec())
    }

    fn embedding(
        &self,
        table: &HostMatrix,
        ids: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let (vocab, dim) = table.shape();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(BackendError::InvalidStep(format!(
                "embedding: token id {id} outside the table's {vocab} rows"
            )));
        }
        let out = rows_mut("embedding", "out", out, ids.len() * dim)?;
        for (o, &id) in out.chunks_exact_mut(dim.max(1)).zip(ids) {
            let (part, r) = table.part_of_row(id as usize);
            match view(part) {
                Weights::Dense(w) => ops::embedding_gather(w, dim, &[r as u32], o),
                Weights::Quant(q) => q.dequantize_row(r, o),
                Weights::Stacked(_) => unreachable!("part_of_row returns a part"),
            }
        }
        Ok(())
    }

    fn matmul(
        &self,
        x: &Vec<f32>,
        m: usize,
        w: &HostMatrix,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let (n, k) = w.shape();
        let x = rows("matmul", "x", x, m * k)?;
        let out = rows_mut("matmul", "out", out, m * n)?;
        matmul_any(x, m, w, out);
        Ok(())
    }

    fn add_bias(&self, x: &mut Vec<f32>, rows: usize, bias: &Vec<f32>) -> Result<(), BackendError> {
        let n = bias.len();
        ops::add_bias(rows_mut("add_bias", "x", x, rows * n)?, bias, n);
        Ok(())
    }

    fn rms_norm(
        &self,
        x: &Vec<f32>,
        w: &Vec<f32>,
        eps: f32,
        rows: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let dim = w.len();
        let x = self::rows("rms_norm", "x", x, rows * dim)?;
        let out = rows_mut("rms_norm", "out", out, rows * dim)?;
        ops::rms_norm(x, w, eps, dim, out);
        Ok(())
    }

    fn add_rms_norm(
        &self,
        residual: &mut Vec<f32>,
        x: &Vec<f32>,
        w: &Vec<f32>,
        eps: f32,
        rows: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let dim = w.len();
        let n = rows * dim;
        ops::add_rms_norm(
            rows_mut("add_rms_norm", "residual", residual, n)?,
            self::rows("add_rms_norm", "x", x, n)?,
            w,
            eps,
            dim,
            rows_mut("add_rms_norm", "out", out, n)?,
        );
        Ok(())
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
    ) -> Result<(), BackendError> {
        let w = q_dim + 2 * kv_dim;
        let qkv = self::rows("split_qkv", "qkv", qkv, rows * w)?;
        let q = rows_mut("split_qkv", "q", q, rows * q_dim)?;
        let k = rows_mut("split_qkv", "k", k, rows * kv_dim)?;
        let v = rows_mut("split_qkv", "v", v, rows * kv_dim)?;
        for (r, row) in qkv.chunks_exact(w).enumerate() {
            q[r * q_dim..(r + 1) * q_dim].copy_from_slice(&row[..q_dim]);
            k[r * kv_dim..(r + 1) * kv_dim].copy_from_slice(&row[q_dim..q_dim + kv_dim]);
            v[r * kv_dim..(r + 1) * kv_dim].copy_from_slice(&row[q_dim + kv_dim..]);
        }
        Ok(())
    }

    fn rope(
        &self,
        x: &mut Vec<f32>,
        positions: &[u32],
        heads: usize,
        head_dim: usize,
        inv_freq: &[f32],
        scaling: f32,
    ) -> Result<(), BackendError> {
        let x = rows_mut("rope", "x", x, positions.len() * heads * head_dim)?;
        if inv_freq.len() < head_dim / 2 {
            return Err(BackendError::Shape {
                op: "rope",
                arg: "inv_freq",
                needed: head_dim / 2,
                have: inv_freq.len(),
            });
        }
        ops::rope_neox(x, positions, heads, head_dim, inv_freq, scaling);
        Ok(())
    }

    fn silu_mul(
        &self,
        gate_up: &Vec<f32>,
        rows: usize,
        inter: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        ops::silu_mul(
            self::rows("silu_mul", "gate_up", gate_up, rows * 2 * inter)?,
            inter,
            rows_mut("silu_mul", "out", out, rows * inter)?,
        );
        Ok(())
    }

    fn write_kv(
        &self,
        k: &Vec<f32>,
        v: &Vec<f32>,
        slots: &[u32],
        kv_dim: usize,
        cache: &mut CpuKvLayer,
    ) -> Result<(), BackendError> {
        let n = slots.len() * kv_dim;
        let cache_slots = cache.slots(kv_dim);
        if let Some(&slot) = slots.iter().find(|&&s| s as usize >= cache_slots) {
            return Err(BackendError::InvalidStep(format!(
                "write_kv: slot {slot} outside the cache's {cache_slots} slots"
            )));
        }
        let (k, v) = (rows("write_kv", "k", k, n)?, rows("write_kv", "v", v, n)?);
        match cache {
            CpuKvLayer::F32 { k: kc, v: vc } => attention::write_kv(k, v, slots, kv_dim, kc, vc),
            CpuKvLayer::Bf16 { k: kc, v: vc } => attention::write_kv(k, v, slots, kv_dim, kc, vc),
        }
        Ok(())
    }

    fn attention(
        &self,
        q: &Vec<f32>,
        cache: &CpuKvLayer,
        shape: AttnShape,
        seqs: &[AttnSeqInfo<'_>],
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let rows: usize = seqs.iter().map(|s| s.q_len).sum();
        let width = shape.num_heads * shape.head_dim;
        // O(1) per sequence: this runs once per layer. Block ids are checked
        // against the cache once per step, by the decoder (`Decoder::check`).
        for s in seqs {
            let blocks_needed = s.ctx_len.div_ceil(shape.block_size.max(1));
            if s.block_table.len() < blocks_needed {
                return Err(BackendError::InvalidStep(format!(
                    "attention: {} tokens of context need {blocks_needed} blocks, the table has {}",
                    s.ctx_len,
                    s.block_table.len()
                )));
            }
            if s.q_start + s.q_len > rows || s.q_len > s.ctx_len {
                return Err(BackendError::InvalidStep(format!(
                    "attention: query rows {}..{} of {rows}, context {}",
                    s.q_start,
                    s.q_start + s.q_len,
                    s.ctx_len
                )));
            }
        }
        let q = self::rows("attention", "q", q, rows * width)?;
        let out = rows_mut("attention", "out", out, rows * width)?;
        let seqs: Vec<AttnSeq<'_>> = seqs
            .iter()
            .map(|s| AttnSeq {
                q_start: s.q_start,
                q_len: s.q_len,
                ctx_len: s.ctx_len,
                block_table: s.block_table,
            })
            .collect();
        match cache {
            CpuKvLayer::F32 { k, v } => attend(q, k, v, &shape, &seqs, out),
            CpuKvLayer::Bf16 { k, v } => attend(q, k, v, &shape, &seqs, out),
        }
        Ok(())
    }

    fn gather_rows(
        &self,
        x: &Vec<f32>,
        rows: &[usize],
        dim: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let out = rows_mut("gather_rows", "out", out, rows.len() * dim)?;
        for (i, &r) in rows.iter().enumerate() {
            let row = x.get(r * dim..(r + 1) * dim).ok_or(BackendError::Shape {
                op: "gather_rows",
                arg: "x",
                needed: (r + 1) * dim,
                have: x.len(),
            })?;
            out[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
        Ok(())
    }
}

/// The first `n` values of an op's input, or the error naming it.
fn rows<'a>(
    op: &'static str,
    arg: &'static str,
    buf: &'a [f32],
    n: usize,
) -> Result<&'a [f32], BackendError> {
    buf.get(..n).ok_or(BackendError::Shape {
        op,
        arg,
        needed: n,
        have: buf.len(),
    })
}

/// The first `n` values of an op's output, or the error naming it.
fn rows_mut<'a>(
    op: &'static str,
    arg: &'static str,
    buf: &'a mut [f32],
    n: usize,
) -> Result<&'a mut [f32], BackendError> {
    let have = buf.len();
    buf.get_mut(..n).ok_or(BackendError::Shape {
        op,
        arg,
        needed: n,
        have,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{random_matrix, QuantFormat};

    /// A fused matrix of mixed dtypes (Q4_K, Q6_K and f32 rows, as a
    /// `Q4_K_M` file's q/k/v can be) multiplies, gathers rows and embeds
    /// exactly as its parts do one by one.
    #[test]
    fn stacked_parts_compute_as_their_parts() {
        let k = 256;
        let q4 = HostMatrix::Quant(random_matrix(QuantFormat::Q4K, 3, k, 1));
        let q6 = HostMatrix::Quant(random_matrix(QuantFormat::Q6K, 2, k, 2));
        let f = HostMatrix::F32 {
            data: crate::backend::cpu::sample::rand_vec(2 * k, 3),
            rows: 2,
            cols: k,
        };
        let parts = [q4.clone(), q6.clone(), f.clone()];
        let fused = HostMatrix::vstack(parts.to_vec()).unwrap();
        assert!(matches!(&fused, HostMatrix::Stacked(p) if p.len() == 3));
        assert_eq!(fused.shape(), (7, k));
        // Same-format parts still fuse into one matrix.
        assert!(matches!(
            HostMatrix::vstack(vec![q4.clone(), q4.clone()]),
            Some(HostMatrix::Quant(_))
        ));
        let b = CpuBackend;
        let m = 3;
        let x = crate::backend::cpu::sample::rand_vec(m * k, 4);
        let mut got = vec![0.0; m * 7];
        b.matmul(&x, m, &fused, &mut got).unwrap();
        let mut col = 0;
        for p in &parts {
            let np = p.shape().0;
            let mut want = vec![0.0; m * np];
            b.matmul(&x, m, p, &mut want).unwrap();
            for i in 0..m {
                assert_eq!(
                    &got[i * 7 + col..i * 7 + col + np],
                    &want[i * np..(i + 1) * np]
                );
            }
            col += np;
        }
        // Rows 4 (Q6_K), 0 (Q4_K), 6 (f32): embedding and a gather agree.
        let mut emb = vec![0.0; 3 * k];
        b.embedding(&fused, &[4, 0, 6], &mut emb).unwrap();
        let g = fused.gather_rows(&[4, 0, 6, 5]);
        assert_eq!(g.shape(), (4, k));
        let mut emb_g = vec![0.0; 3 * k];
        b.embedding(&g, &[0, 1, 2], &mut emb_g).unwrap();
        assert_eq!(emb, emb_g);
        let mut one = vec![0.0; k];
        b.embedding(&q6, &[1], &mut one).unwrap();
        assert_eq!(&emb[..k], &one[..]);
        let HostMatrix::F32 { data, .. } = &f else {
            unreachable!()
        };
        assert_eq!(&emb[2 * k..], &data[k..]);
    }

    #[test]
    fn ops_report_short_buffers_instead_of_panicking() {
        let b = CpuBackend;
        let w = HostMatrix::F32 {
            data: vec![1.0; 6],
            rows: 3,
            cols: 2,
        };
        let x = vec![1.0; 4];
        let mut out = vec![0.0; 5];
        let err = b.matmul(&x, 2, &w, &mut out).unwrap_err();
        assert!(
            matches!(
                err,
                BackendError::Shape {
                    op: "matmul",
                    arg: "out",
                    needed: 6,
                    have: 5
                }
            ),
            "{err}"
        );
        let mut out = vec![0.0; 6];
        b.matmul(&x, 2, &w, &mut out).unwrap();
        assert_eq!(out, vec![2.0; 6]);
        let err = b.embedding(&w, &[3], &mut out).unwrap_err();
        assert!(err.to_string().contains("token id 3"), "{err}");
        let mut kv = b.alloc_kv(4, 2, KvDtype::F32).unwrap();
        let err = b.write_kv(&x, &x, &[4], 2, &mut kv).unwrap_err();
        assert!(err.to_string().contains("slot 4"), "{err}");
    }
}
