//! Matmul against block-quantized weights ([`QuantMatrix`]: Q8_0, Q4_K),
//! with the activations quantized to 8 bits on the way in, as llama.cpp
//! does, so the inner products are exact integer dot products.
//!
//! # The math
//!
//! Each activation row is cut into blocks and quantized with an f32 scale
//! per block: `dx = max|x| / 127`, `qx = round(x / dx)` (ties to even). The
//! block is the weight format's: 32 for Q8_0, 256 for Q4_K (llama.cpp's
//! `Q8_K`, with the sum of each 32 quants kept for the mins). Then for
//! `out[i][j] = x[i] · w[j]`:
//!
//! ```text
//! Q8_0:  sum over blocks b:      (dw_b * dx_b) * sum_t qw_t * qx_t
//! Q4_K:  sum over super-blocks:  (d * dx) * sum_s sc_s * sum_t q_t * qx_t
//!                              - (dmin * dx) * sum_s m_s * sum_t qx_t
//! ```
//!
//! In Q4_K everything inside a super-block is integer (the 6-bit scales
//! multiply in `vpmaddwd`), so a super-block costs one conversion to f32
//! instead of eight.
//!
//! # Batch invariance (the contract of `matmul.rs`, kept here)
//!
//! Every output element has one accumulation structure, fixed by `k` only:
//! eight f32 lanes; lane `l` of block `b` gets an exact integer `isum_l`
//! (the products of bytes `4l..4l+4` of each 32, what `vpmaddubsw` +
//! `vpmaddwd` produce; in Q4_K summed over the eight sub-blocks with their
//! scales) added as `acc_l = fma(isum_l, scale_b, acc_l)`, blocks in
//! increasing `k`. Q4_K's min terms (an exact integer per super-block)
//! go into one more f32 by `fma`, super-blocks in order. The lanes are
//! reduced by [`hsum_tree`]. The activation quantization is per row.
//! So the SIMD path and the scalar reference agree bit for bit, and an
//! element never depends on `m`, the tile it falls in or the thread count.
//!
//! # Paths
//!
//! AVX2 (`vpmaddubsw`: unsigned x signed bytes, pairs summed into i16, then
//! `vpmaddwd` by ones into i32) on every x86-64 with AVX2, AVX-512 machines
//! included; the portable scalar path elsewhere. In Q8_0 the unsigned
//! operand is `|qw|` and the signed one `qx` with `qw`'s sign (`vpsignb`),
//! so a weight of -128 is still exact and no i16 pair can saturate
//! (`128 * 127 * 2 < 2^15`). Q4_K's quants are already unsigned.
//!
//! Not yet: an AVX-512 VNNI (`vpdpbusd`) path, and repacking the weights
//! at load into an interleaved layout; both keep this accumulation
//! structure, so they can be added behind the same tests.

use super::matmul::{for_each_block, hsum_tree, Isa, SyncPtr};
use crate::quant::{q4_k, q8_0, QuantFormat, QuantMatrix};

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
    /// multiplies them (`k` a multiple of its block).
    pub fn quantize(x: &[f32], m: usize, k: usize, format: QuantFormat) -> Self {
        let block = match format {
            QuantFormat::Q8_0 => 32,
            QuantFormat::Q4K => 256,
        };
        let mut r = QuantizedRows {
            q: vec![0; m * k],
            d: vec![0.0; m * k / block],
            sums: vec![0; m * k / 32],
            k,
            block,
        };
        for ((xb, qb), d) in x[..m * k]
            .chunks_exact(block)
            .zip(r.q.chunks_exact_mut(block))
            .zip(r.d.iter_mut())
        {
            let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let dx = amax / 127.0;
            let id = if dx != 0.0 { 1.0 / dx } else { 0.0 };
            for (q, v) in qb.iter_mut().zip(xb) {
                // |v * id| <= 127 up to rounding, so the clamp only guards
                // against -128 (which `vpsignb` could not negate).
                *q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8;
            }
            *d = dx;
        }
        for (s, qb) in r.sums.iter_mut().zip(r.q.chunks_exact(32)) {
            *s = qb.iter().map(|&v| v as i16).sum();
        }
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
    let xq = QuantizedRows::quantize(x, m, k, format);
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
                let v = match format {
                    QuantFormat::Q8_0 => dot_q8_0(wr, xq.row(i)),
                    QuantFormat::Q4K => dot_q4_k(wr, xq.row(i)),
                };
                // SAFETY: (i, j) lies in this task's block; blocks are
                // disjoint and `out` holds m * n values.
                unsafe { *out_ptr.get().add(i * n + j) = v };
            }
        }
    });
}

/// Sub-block scales and mins of a Q4_K super-block as bytes
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

/// The reference Q8_0 dot product (the structure in the module docs).
fn dot_q8_0(w: &[u8], x: XRow<'_>) -> f32 {
    let mut acc = [0.0f32; 8];
    for (b, blk) in w.chunks_exact(q8_0::BLOCK_BYTES).enumerate() {
        let scale = crate::quant::f16_at(blk, 0) * x.d[b];
        let (qw, qx) = (&blk[2..], &x.q[32 * b..32 * b + 32]);
        for (l, a) in acc.iter_mut().enumerate() {
            let isum: i32 = (4 * l..4 * l + 4)
                .map(|t| (qw[t] as i8 as i32) * qx[t] as i32)
                .sum();
            *a = (isum as f32).mul_add(scale, *a);
        }
    }
    hsum_tree(&mut acc)
}

/// The reference Q4_K dot product (the structure in the module docs).
fn dot_q4_k(w: &[u8], x: XRow<'_>) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut mins = 0.0f32;
    for (sb, blk) in w.chunks_exact(q4_k::BLOCK_BYTES).enumerate() {
        let d = crate::quant::f16_at(blk, 0);
        let dmin = crate::quant::f16_at(blk, 2);
        let (sc, m) = unpack_q4_k_scales(&blk[4..16]);
        let mut isum = [0i32; 8];
        let mut msum = 0i32;
        for j in 0..8 {
            let qs = &blk[16 + 32 * (j / 2)..16 + 32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            let qx = &x.q[256 * sb + 32 * j..256 * sb + 32 * j + 32];
            for (l, s) in isum.iter_mut().enumerate() {
                let dot: i32 = (4 * l..4 * l + 4)
                    .map(|t| ((qs[t] >> shift) & 0xF) as i32 * qx[t] as i32)
                    .sum();
                *s += sc[j] as i32 * dot;
            }
            msum += m[j] as i32 * x.sums[8 * sb + j] as i32;
        }
        let scale = d * x.d[sb];
        for (a, s) in acc.iter_mut().zip(isum) {
            *a = (s as f32).mul_add(scale, *a);
        }
        mins = (msum as f32).mul_add(dmin * x.d[sb], mins);
    }
    hsum_tree(&mut acc) - mins
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! AVX2 tiles: `MR` activation rows times `NR` weight rows share their
    //! loads; each element keeps the reference's accumulation structure.

    use super::{hsum_tree, unpack_q4_k_scales, QuantizedRows, SyncPtr, XRow};
    use crate::quant::{q4_k, q8_0, QuantFormat};
    use std::arch::x86_64::*;

    /// Computes the output block `[i0, i1) x [j0, j1)`.
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be available; `w` holds the rows `j0..j1`
    /// of `row_bytes` each, `xq` the rows `i0..i1`, and `out` points at an
    /// `[.., n]` buffer whose block this caller alone writes.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn block(
        format: QuantFormat,
        xq: &QuantizedRows,
        w: &[u8],
        row_bytes: usize,
        i0: usize,
        i1: usize,
        j0: usize,
        j1: usize,
        out: SyncPtr<f32>,
        n: usize,
    ) {
        // Prefetch (into L2) the rows ~24 KiB ahead while a weight tile is
        // computed, in its first pass over the activations: decode streams
        // the weights from DRAM, and the hardware prefetcher alone leaves
        // much of the bandwidth unused (as in `matmul.rs`).
        let ahead = (24 * 1024 / (4 * row_bytes).max(1)).clamp(1, 8) * 4;
        let mut j = j0;
        while j < j1 {
            let nr = (j1 - j).min(4);
            let next: [*const u8; 4] = std::array::from_fn(|t| {
                w.as_ptr()
                    .wrapping_add((j + ahead + t).min(j1 - 1) * row_bytes)
            });
            let mut i = i0;
            while i < i1 {
                let mr = if i1 - i >= 2 { 2 } else { 1 };
                let pf = if i == i0 { nr } else { 0 };
                macro_rules! go {
                    ($mr:literal, $nr:literal) => {{
                        let xs: [XRow<'_>; $mr] = std::array::from_fn(|t| xq.row(i + t));
                        let ws: [&[u8]; $nr] = std::array::from_fn(|t| {
                            &w[(j + t) * row_bytes..(j + t + 1) * row_bytes]
                        });
                        let r: [[f32; $nr]; $mr] = match format {
                            QuantFormat::Q8_0 => tile_q8_0::<$mr, $nr>(xs, ws, &next[..pf]),
                            QuantFormat::Q4K => tile_q4_k::<$mr, $nr>(xs, ws, &next[..pf]),
                        };
                        for (a, row) in r.iter().enumerate() {
                            for (b, v) in row.iter().enumerate() {
                                // SAFETY: (i + a, j + b) is inside this
                                // caller's block (see the function's contract).
                                unsafe { *out.get().add((i + a) * n + j + b) = *v };
                            }
                        }
                    }};
                }
                match (mr, nr) {
                    (2, 4) => go!(2, 4),
                    (2, 3) => go!(2, 3),
                    (2, 2) => go!(2, 2),
                    (2, _) => go!(2, 1),
                    (_, 4) => go!(1, 4),
                    (_, 3) => go!(1, 3),
                    (_, 2) => go!(1, 2),
                    _ => go!(1, 1),
                }
                i += mr;
            }
            j += nr;
        }
    }

    /// Reduces eight lanes with the reference tree.
    #[inline(always)]
    unsafe fn reduce(v: __m256) -> f32 {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats; unaligned store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        hsum_tree(&mut lanes)
    }

    /// f16 at `p` (unaligned) widened to f32.
    #[inline(always)]
    unsafe fn f16_at(p: *const u8) -> f32 {
        // SAFETY: the caller points at two readable bytes.
        let bits = unsafe { std::ptr::read_unaligned(p as *const u16) };
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
    }

    /// Eight i32 lanes `sum_{t<4} a[4l+t] * b[4l+t]` (a unsigned, b signed).
    #[inline(always)]
    unsafe fn dot_u8_i8(a: __m256i, b: __m256i) -> __m256 {
        let pairs = _mm256_maddubs_epi16(a, b);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    #[inline(always)]
    unsafe fn tile_q8_0<const MR: usize, const NR: usize>(
        xs: [XRow<'_>; MR],
        ws: [&[u8]; NR],
        next: &[*const u8],
    ) -> [[f32; NR]; MR] {
        let blocks = ws[0].len() / q8_0::BLOCK_BYTES;
        let mut acc = [[_mm256_setzero_ps(); NR]; MR];
        for b in 0..blocks {
            // One prefetch per 64-byte line of the rows ahead (hints: an
            // address past the matrix is harmless).
            if b % 2 == 0 {
                for p in next {
                    _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(b * q8_0::BLOCK_BYTES).cast());
                }
            }
            for (t, w) in ws.iter().enumerate() {
                let p = w.as_ptr().add(b * q8_0::BLOCK_BYTES);
                let dw = f16_at(p);
                let qw = _mm256_loadu_si256(p.add(2) as *const __m256i);
                let aw = _mm256_abs_epi8(qw);
                for (s, x) in xs.iter().enumerate() {
                    let qx = _mm256_loadu_si256(x.q.as_ptr().add(32 * b) as *const __m256i);
                    let prod = dot_u8_i8(aw, _mm256_sign_epi8(qx, qw));
                    let scale = _mm256_set1_ps(dw * *x.d.get_unchecked(b));
                    acc[s][t] = _mm256_fmadd_ps(prod, scale, acc[s][t]);
                }
            }
        }
        let mut out = [[0.0f32; NR]; MR];
        for s in 0..MR {
            for t in 0..NR {
                out[s][t] = reduce(acc[s][t]);
            }
        }
        out
    }

    #[inline(always)]
    unsafe fn tile_q4_k<const MR: usize, const NR: usize>(
        xs: [XRow<'_>; MR],
        ws: [&[u8]; NR],
        next: &[*const u8],
    ) -> [[f32; NR]; MR] {
        let blocks = ws[0].len() / q4_k::BLOCK_BYTES;
        let mut acc = [[_mm256_setzero_ps(); NR]; MR];
        let mut mins = [[0.0f32; NR]; MR];
        let low = _mm256_set1_epi8(0x0F);
        for sb in 0..blocks {
            for p in next {
                for line in [0, 64, 128] {
                    let a = p.wrapping_add(sb * q4_k::BLOCK_BYTES + line);
                    _mm_prefetch::<_MM_HINT_T1>(a.cast());
                }
            }
            for (t, w) in ws.iter().enumerate() {
                let p = w.as_ptr().add(sb * q4_k::BLOCK_BYTES);
                let d = f16_at(p);
                let dmin = f16_at(p.add(2));
                let (sc, m) = unpack_q4_k_scales(std::slice::from_raw_parts(p.add(4), 12));
                let sc16: [__m256i; 8] = std::array::from_fn(|j| _mm256_set1_epi16(sc[j] as i16));
                let m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(m.as_ptr() as *const __m128i));
                let qs = p.add(16);
                for (s, x) in xs.iter().enumerate() {
                    let mut isum = _mm256_setzero_si256();
                    let xq = x.q.as_ptr().add(256 * sb);
                    for c in 0..4 {
                        let q = _mm256_loadu_si256(qs.add(32 * c) as *const __m256i);
                        let lo = _mm256_and_si256(q, low);
                        let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                        let x_lo = _mm256_loadu_si256(xq.add(64 * c) as *const __m256i);
                        let x_hi = _mm256_loadu_si256(xq.add(64 * c + 32) as *const __m256i);
                        let p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), sc16[2 * c]);
                        let p_hi =
                            _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), sc16[2 * c + 1]);
                        isum = _mm256_add_epi32(isum, _mm256_add_epi32(p_lo, p_hi));
                    }
                    let dx = *x.d.get_unchecked(sb);
                    acc[s][t] = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(isum),
                        _mm256_set1_ps(d * dx),
                        acc[s][t],
                    );
                    let sums = _mm_loadu_si128(x.sums.as_ptr().add(8 * sb) as *const __m128i);
                    let ms = _mm_madd_epi16(m16, sums);
                    let ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0b01_00_11_10));
                    let ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0b10_11_00_01));
                    let msum = _mm_cvtsi128_si32(ms);
                    mins[s][t] = (msum as f32).mul_add(dmin * dx, mins[s][t]);
                }
            }
        }
        let mut out = [[0.0f32; NR]; MR];
        for s in 0..MR {
            for t in 0..NR {
                out[s][t] = reduce(acc[s][t]) - mins[s][t];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
