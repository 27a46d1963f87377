//! Matmul against block-quantized weights ([`QuantMatrix`]: Q8_0, Q5_0,
//! Q4_0, Q4_K, Q5_K, Q6_K), with the activations quantized to 8 bits on
//! the way in, as llama.cpp does, so the inner products are exact integer
//! dot products.
//!
//! # The math
//!
//! Each activation row is cut into blocks and quantized with a scale per
//! block, exactly as llama.cpp's CPU backend quantizes a row (so on the
//! same file the two compute the same integer sums; `tests/
//! llama_cpp_parity.rs`): for 32-blocks (Q8_0/Q5_0/Q4_0 weights, its
//! `Q8_0`) `qx = round(x * 127 / amax)` (ties to even) with the scale
//! `amax / 127` rounded to f16; for 256-blocks (the K-quants, its `Q8_K`,
//! with the sum of each 32 quants kept for the mins) the element of
//! largest magnitude maps to -127 and the scale is `1 / (-127 / max)`. Then for `out[i][j] = x[i] · w[j]`, with `q` the weight's
//! integer (signed: `q - 16` for Q5_0, `q - 8` for Q4_0, `q - 32` for
//! Q6_K):
//!
//! ```text
//! Q8_0/Q5_0/Q4_0:  sum over blocks b:      (dw_b * dx_b) * sum_t q_t * qx_t
//! Q6_K:            sum over super-blocks:  (d * dx) * sum_s sc_s * sum_t q_t * qx_t   (s: 16 sub-blocks of 16)
//! Q4_K/Q5_K:       sum over super-blocks:  (d * dx) * sum_s sc_s * sum_t q_t * qx_t   (s: 8 sub-blocks of 32)
//!                                        - (dmin * dx) * sum_s m_s * sum_t qx_t
//! ```
//!
//! In the K-quants everything inside a super-block is integer (the scales
//! multiply in `vpmaddwd`), so a super-block costs one conversion to f32.
//!
//! # Batch invariance (the contract of `matmul.rs`, kept here)
//!
//! Every output element has one accumulation structure, fixed by `k` only:
//! eight f32 lanes; lane `l` of block `b` gets an exact integer `isum_l`
//! (the products of weights `4l..4l+4` of each 32, what `vpmaddubsw` +
//! `vpmaddwd` produce; in the K-quants summed over the super-block's
//! sub-blocks with their scales) added as `acc_l = fma(isum_l, scale_b,
//! acc_l)`, blocks in increasing `k`. The min terms of Q4_K/Q5_K (an exact
//! integer per super-block) go into one more f32 by `fma`, super-blocks in
//! order. The lanes are reduced by [`hsum_tree`]. The activation
//! quantization is per row. So the SIMD path and the scalar reference
//! (`reference.rs`) agree bit for bit, and an element never depends on
//! `m`, the tile it falls in or the thread count.
//!
//! # Paths
//!
//! AVX2 (`x86.rs`: `vpmaddubsw`, unsigned x signed bytes, pairs summed
//! into i16, then `vpmaddwd` into i32) on every x86-64 with AVX2, AVX-512
//! machines included; the portable scalar path elsewhere. For the signed
//! formats the unsigned operand is `|q|` and the signed one `qx` with
//! `q`'s sign (`vpsignb`), so a Q8_0 weight of -128 is still exact and no
//! i16 pair can saturate (`128 * 127 * 2 < 2^15`); Q4_K/Q5_K quants are
//! already unsigned.
//!
//! Not yet: an AVX-512 VNNI (`vpdpbusd`) path, and repacking the weights
//! at load into an interleaved layout; both keep this accumulation
//! structure, so they can be added behind the same tests.

mod reference;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::matmul::{for_each_block, hsum_tree, Isa, SyncPtr};
#[cfg(test)]
use crate::quant::q4_k;
use crate::quant::{QuantFormat, QuantMatrix};
use rayon::prelude::*;

/// Activations quantized per row, in blocks of the weight format's
/// choosing (the `x` side of every quantized matmul).
#[derive(Debug, Default)]
pub struct QuantizedRows {
    /// `[m, k]` quants in -127..=127.
    q: Vec<i8>,
    /// `[m, k / block]` scales.
    d: Vec<f32>,
    /// `[m, k / 32]` sums of each 32 quants (Q4_K's mins).
    sums: Vec<i16>,
    k: usize,
    block: usize,
}

impl QuantizedRows {
    /// Quantizes the first `m` rows of `x: [m, k]` as the weight `format`
    /// multiplies them (`k` a multiple of its block), with [`Isa::active`].
    pub fn quantize(x: &[f32], m: usize, k: usize, format: QuantFormat) -> Self {
        Self::quantize_with_isa(Isa::active(), x, m, k, format)
    }

    /// [`QuantizedRows::quantize`] with an explicit ISA: every ISA gives
    /// the scalar path's bits. Rows are independent, so a prefill's rows
    /// are quantized in parallel (serially this was a tenth of a 512-row
    /// matmul's time).
    fn quantize_with_isa(isa: Isa, x: &[f32], m: usize, k: usize, format: QuantFormat) -> Self {
        // The weight format's block: 32, or 256 for the K-quants (whose
        // 8-bit activation blocks are llama.cpp's `Q8_K`).
        let block = format.block_len();
        let mut r = QuantizedRows {
            q: vec![0; m * k],
            d: vec![0.0; m * k / block],
            sums: vec![0; m * k / 32],
            k,
            block,
        };
        if m == 0 || k == 0 {
            return r;
        }
        let rows = x[..m * k]
            .par_chunks(k)
            .zip(r.q.par_chunks_mut(k))
            .zip(r.d.par_chunks_mut(k / block))
            .zip(r.sums.par_chunks_mut(k / 32));
        rows.with_min_len((QUANTIZE_PAR_MIN / k).max(1))
            .for_each(|(((x, q), d), sums)| quantize_row(isa, x, q, d, sums, block));
        r
    }

    fn row(&self, i: usize) -> XRow<'_> {
        let (kb, ks) = (self.k / self.block, self.k / 32);
        XRow {
            q: &self.q[i * self.k..(i + 1) * self.k],
            d: &self.d[i * kb..(i + 1) * kb],
            sums: &self.sums[i * ks..(i + 1) * ks],
        }
    }
}

/// Values quantized per rayon task at least (smaller problems, a decode
/// step's rows, stay on the calling thread).
const QUANTIZE_PAR_MIN: usize = 1 << 15;

/// One activation row: its quants, a scale per `block`, the sum of each
/// 32 quants.
fn quantize_row(isa: Isa, x: &[f32], q: &mut [i8], d: &mut [f32], sums: &mut [i16], block: usize) {
    #[cfg(target_arch = "x86_64")]
    if isa >= Isa::Avx2Fma {
        // SAFETY: AVX2/FMA/F16C are present (`isa` is supported, checked
        // by the callers, and at least Avx2Fma); the slices are one row's,
        // `x.len() == q.len() == d.len() * block == sums.len() * 32`.
        unsafe { x86::quantize_row(x, q, d, sums, block) };
        return;
    }
    let _ = isa;
    for ((xb, qb), d) in x.chunks_exact(block).zip(q.chunks_exact_mut(block)).zip(d) {
        *d = if block == 32 {
            quantize_q8_0(xb, qb)
        } else {
            quantize_q8_k(xb, qb)
        };
    }
    for (s, qb) in sums.iter_mut().zip(q.chunks_exact(32)) {
        *s = qb.iter().map(|&v| v as i16).sum();
    }
}

/// llama.cpp's activation quantization for 32-weight blocks (its AVX2
/// `quantize_row_q8_0`): `q = round(x * 127 / amax)` (ties to even), the
/// scale `amax / 127` rounded to f16 as its `block_q8_0` stores it.
/// Returns the scale.
fn quantize_q8_0(x: &[f32], q: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    for (q, v) in q.iter_mut().zip(x) {
        // |v * id| <= 127 up to rounding; the clamp keeps -128 out (which
        // `vpsignb` could not negate).
        *q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
    half::f16::from_f32(amax / 127.0).to_f32()
}

/// llama.cpp's `quantize_row_q8_K_ref` for 256-weight blocks: the element
/// of largest magnitude `max` (signed, the first one on a tie) maps to
/// -127, `q = min(127, round(x * -127 / max))`, scale `1 / (-127 / max)`
/// (negative when `max` is positive). Returns the scale.
fn quantize_q8_k(x: &[f32], q: &mut [i8]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        q.fill(0);
        return 0.0;
    }
    let iscale = -127.0 / max;
    for (q, v) in q.iter_mut().zip(x) {
        *q = ((iscale * v).round_ties_even() as i32).clamp(-127, 127) as i8;
    }
    1.0 / iscale
}

/// One quantized activation row.
#[derive(Clone, Copy)]
struct XRow<'a> {
    q: &'a [i8],
    d: &'a [f32],
    sums: &'a [i16],
}

/// `out[i][j] = x[i] · w[j]` for `i < m`, `j < n` (`w: [n, k]` quantized,
/// `x: [m, k]`, `out: [m, n]`), with [`Isa::active`].
///
/// # Panics
/// If a slice is shorter than its shape says.
pub fn qmatmul(x: &[f32], m: usize, w: &QuantMatrix, out: &mut [f32]) {
    qmatmul_with_isa(Isa::active(), x, m, w, out);
}

/// [`qmatmul`] with an explicit ISA (tests and benches).
///
/// # Panics
/// If `isa` is not supported here, or a slice is shorter than its shape says.
pub fn qmatmul_with_isa(isa: Isa, x: &[f32], m: usize, w: &QuantMatrix, out: &mut [f32]) {
    assert!(isa.is_supported(), "qmatmul: ISA {isa:?} not supported");
    let (n, k) = w.shape();
    assert!(
        x.len() >= m * k,
        "qmatmul: x has {}, need {}",
        x.len(),
        m * k
    );
    assert!(
        out.len() >= m * n,
        "qmatmul: out has {}, need {}",
        out.len(),
        m * n
    );
    if m == 0 || n == 0 {
        return;
    }
    let format = w.format();
    let xq = QuantizedRows::quantize_with_isa(isa, x, m, k, format);
    let out_ptr = SyncPtr(out.as_mut_ptr());
    let row_bytes = w.row_bytes();
    let bytes = w.bytes();
    for_each_block(m, n, k, k + k / 8, |i0, i1, j0, j1| {
        #[cfg(target_arch = "x86_64")]
        if isa >= Isa::Avx2Fma {
            // SAFETY: AVX2/FMA/F16C are present (`isa` is supported and at
            // least Avx2Fma); rows i0..i1 of `xq` and j0..j1 of `w` exist;
            // this task's output block is disjoint from every other task's
            // and `out` holds m * n values (checked above).
            unsafe { x86::block(format, &xq, bytes, row_bytes, i0, i1, j0, j1, out_ptr, n) };
            return;
        }
        for j in j0..j1 {
            let wr = &bytes[j * row_bytes..(j + 1) * row_bytes];
            for i in i0..i1 {
                let v = reference::dot(format, wr, xq.row(i));
                // SAFETY: (i, j) lies in this task's block; blocks are
                // disjoint and `out` holds m * n values.
                unsafe { *out_ptr.get().add(i * n + j) = v };
            }
        }
    });
}

/// Sub-block scales and mins of a Q4_K / Q5_K super-block as bytes
/// (`[sc_0..sc_7]`, `[m_0..m_7]`): llama.cpp's word-mask unpacking, the
/// same values as [`q4_k::scale_min`].
#[inline(always)]
pub(crate) fn unpack_q4_k_scales(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]]);
    let (u0, u1, u2) = (w(0), w(4), w(8));
    let sc_lo = u0 & KMASK1;
    let sc_hi = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let m_lo = u1 & KMASK1;
    let m_hi = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    sc[..4].copy_from_slice(&sc_lo.to_le_bytes());
    sc[4..].copy_from_slice(&sc_hi.to_le_bytes());
    m[..4].copy_from_slice(&m_lo.to_le_bytes());
    m[4..].copy_from_slice(&m_hi.to_le_bytes());
    (sc, m)
}

#[cfg(test)]
mod tests;
