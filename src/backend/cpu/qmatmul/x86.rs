//! AVX2 tiles: `MR` activation rows times `NR` weight rows share their
//! loads; each element keeps the reference's accumulation structure
//! (`reference.rs`), so the two agree bit for bit.

use super::{hsum_tree, unpack_q4_k_scales, QuantizedRows, SyncPtr, XRow};
use crate::quant::{q4_0, q4_k, q5_0, q5_k, q6_k, q8_0, QuantFormat};
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
    // K-quant weights take tiles of 4 activation rows x 2 weight rows
    // where the block has 4 rows (a prefill, a batched decode): each
    // super-block's unpacking is then shared by 4 rows, in the same 8
    // accumulators (measured faster; for Q8_0, whose unpacking is one
    // load, 4 x 2 measured no better than 2 x 4).
    let tall = i1 - i0 >= 4
        && matches!(
            format,
            QuantFormat::Q4K | QuantFormat::Q5K | QuantFormat::Q6K
        );
    let nr_max = if tall { 2 } else { 4 };
    let mut j = j0;
    while j < j1 {
        let nr = (j1 - j).min(nr_max);
        let next: [*const u8; 4] = std::array::from_fn(|t| {
            w.as_ptr()
                .wrapping_add((j + ahead + t).min(j1 - 1) * row_bytes)
        });
        let mut i = i0;
        while i < i1 {
            let mr = match i1 - i {
                r if r >= 4 && tall => 4,
                r if r >= 2 => 2,
                _ => 1,
            };
            let pf = if i == i0 { nr } else { 0 };
            macro_rules! go {
                ($mr:literal, $nr:literal) => {{
                    let xs: [XRow<'_>; $mr] = std::array::from_fn(|t| xq.row(i + t));
                    let ws: [&[u8]; $nr] =
                        std::array::from_fn(|t| &w[(j + t) * row_bytes..(j + t + 1) * row_bytes]);
                    let next = &next[..pf];
                    let r: [[f32; $nr]; $mr] = match format {
                        QuantFormat::Q8_0 => tile_b32::<Q8_0, $mr, $nr>(xs, ws, next),
                        QuantFormat::Q5_0 => tile_b32::<Q5_0, $mr, $nr>(xs, ws, next),
                        QuantFormat::Q4_0 => tile_b32::<Q4_0, $mr, $nr>(xs, ws, next),
                        QuantFormat::Q4K => tile_kmin::<Q4K, $mr, $nr>(xs, ws, next),
                        QuantFormat::Q5K => tile_kmin::<Q5K, $mr, $nr>(xs, ws, next),
                        QuantFormat::Q6K => tile_q6_k::<$mr, $nr>(xs, ws, next),
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
                (4, 2) => go!(4, 2),
                (4, _) => go!(4, 1),
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

/// One activation row quantized, with the scalar path's bits (`block` 32:
/// llama.cpp's `Q8_0`; 256: its `Q8_K`, see `quantize_q8_k`): the largest
/// magnitude by `vmaxps` (exact), `v * id` and round-to-nearest-even as
/// the scalar path computes them, then each 32 quants' sum.
///
/// # Safety
/// AVX2, FMA and F16C must be available; `block` is 32 or 256 and
/// `x.len() == q.len() == d.len() * block == sums.len() * 32`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row(
    x: &[f32],
    q: &mut [i8],
    d: &mut [f32],
    sums: &mut [i16],
    block: usize,
) {
    debug_assert!(x.len() == q.len() && x.len() == d.len() * block && x.len() == sums.len() * 32);
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let (lo, hi) = (_mm256_set1_ps(-127.0), _mm256_set1_ps(127.0));
    for (b, d) in d.iter_mut().enumerate() {
        let xb = &x[b * block..(b + 1) * block];
        let mut mx = _mm256_setzero_ps();
        for c in (0..block).step_by(8) {
            mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(xb.as_ptr().add(c)), abs));
        }
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), mx);
        let amax = lanes.iter().fold(0.0f32, |a, &v| a.max(v));
        let mul = if block == 32 {
            *d = half::f16::from_f32(amax / 127.0).to_f32();
            if amax != 0.0 {
                127.0 / amax
            } else {
                0.0
            }
        } else {
            // The first element of largest magnitude, with its sign.
            let max = xb.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0);
            if amax == 0.0 {
                *d = 0.0;
                0.0
            } else {
                let iscale = -127.0 / max;
                *d = 1.0 / iscale;
                iscale
            }
        };
        let vm = _mm256_set1_ps(mul);
        for c in (0..block).step_by(32) {
            let quant = |o: usize| {
                let v = _mm256_mul_ps(_mm256_loadu_ps(xb.as_ptr().add(c + o)), vm);
                let v = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
                _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi))
            };
            // Packing interleaves the four vectors by 4-byte groups per
            // 128-bit lane; the permutation puts them back in order.
            let ab = _mm256_packs_epi32(quant(0), quant(8));
            let cd = _mm256_packs_epi32(quant(16), quant(24));
            let v = _mm256_permutevar8x32_epi32(
                _mm256_packs_epi16(ab, cd),
                _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
            );
            _mm256_storeu_si256(q.as_mut_ptr().add(b * block + c) as *mut __m256i, v);
        }
    }
    let (ones8, ones16) = (_mm256_set1_epi8(1), _mm256_set1_epi16(1));
    for (s, qb) in sums.iter_mut().zip(q.chunks_exact(32)) {
        let v = _mm256_loadu_si256(qb.as_ptr() as *const __m256i);
        let v = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16);
        let v = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
        let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b10_11_00_01>(v));
        *s = _mm_cvtsi128_si32(v) as i16;
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

/// Every accumulator of a tile reduced.
#[inline(always)]
unsafe fn reduce_tile<const MR: usize, const NR: usize>(
    acc: [[__m256; NR]; MR],
) -> [[f32; NR]; MR] {
    acc.map(|row| row.map(|v| reduce(v)))
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
unsafe fn dot_u8_i8(a: __m256i, b: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(a, b);
    _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
}

/// Prefetches (into L2) the `bytes` from `off` of each row in `next`
/// (hints: an address past the matrix is harmless).
#[inline(always)]
unsafe fn prefetch(next: &[*const u8], off: usize, bytes: usize) {
    for p in next {
        for line in (0..bytes).step_by(64) {
            _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(off + line).cast());
        }
    }
}

/// A format of 32-weight blocks: an f16 scale first, quants read as 32
/// signed bytes.
trait Block32 {
    const BYTES: usize;
    /// The block at `p`: its scale and its 32 signed quants.
    unsafe fn load(p: *const u8) -> (f32, __m256i);
}

struct Q8_0;
struct Q5_0;
struct Q4_0;

impl Block32 for Q8_0 {
    const BYTES: usize = q8_0::BLOCK_BYTES;
    #[inline(always)]
    unsafe fn load(p: *const u8) -> (f32, __m256i) {
        (f16_at(p), _mm256_loadu_si256(p.add(2) as *const __m256i))
    }
}

/// 16 bytes of nibbles as 32 bytes: low nibbles first, then high (the
/// weight order of Q4_0 and Q5_0).
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    let q = _mm_loadu_si128(p as *const __m128i);
    let low = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(q, low);
    let hi = _mm_and_si128(_mm_srli_epi16(q, 4), low);
    _mm256_set_m128i(hi, lo)
}

impl Block32 for Q4_0 {
    const BYTES: usize = q4_0::BLOCK_BYTES;
    #[inline(always)]
    unsafe fn load(p: *const u8) -> (f32, __m256i) {
        (
            f16_at(p),
            _mm256_sub_epi8(nibbles(p.add(2)), _mm256_set1_epi8(8)),
        )
    }
}

impl Block32 for Q5_0 {
    const BYTES: usize = q5_0::BLOCK_BYTES;
    #[inline(always)]
    unsafe fn load(p: *const u8) -> (f32, __m256i) {
        // Byte i gets bit i of `qh` as 0x10: broadcast, spread byte i / 8
        // of `qh` to byte i, and test bit i % 8 against a mask with every
        // other bit set.
        let qh = std::ptr::read_unaligned(p.add(2) as *const u32);
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(qh as i32),
            _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            ),
        );
        let set = _mm256_cmpeq_epi8(
            _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe)),
            _mm256_set1_epi8(-1),
        );
        let q = _mm256_or_si256(
            nibbles(p.add(6)),
            _mm256_and_si256(set, _mm256_set1_epi8(0x10)),
        );
        (f16_at(p), _mm256_sub_epi8(q, _mm256_set1_epi8(16)))
    }
}

#[inline(always)]
unsafe fn tile_b32<F: Block32, const MR: usize, const NR: usize>(
    xs: [XRow<'_>; MR],
    ws: [&[u8]; NR],
    next: &[*const u8],
) -> [[f32; NR]; MR] {
    let blocks = ws[0].len() / F::BYTES;
    let mut acc = [[_mm256_setzero_ps(); NR]; MR];
    for b in 0..blocks {
        // One prefetch per 64-byte line: the block that starts in the
        // first `BYTES` of a line.
        if (b * F::BYTES) % 64 < F::BYTES {
            prefetch(next, b * F::BYTES, 1);
        }
        for (t, w) in ws.iter().enumerate() {
            let (dw, qw) = F::load(w.as_ptr().add(b * F::BYTES));
            let aw = _mm256_abs_epi8(qw);
            for (s, x) in xs.iter().enumerate() {
                let qx = _mm256_loadu_si256(x.q.as_ptr().add(32 * b) as *const __m256i);
                let prod = _mm256_cvtepi32_ps(dot_u8_i8(aw, _mm256_sign_epi8(qx, qw)));
                let scale = _mm256_set1_ps(dw * *x.d.get_unchecked(b));
                acc[s][t] = _mm256_fmadd_ps(prod, scale, acc[s][t]);
            }
        }
    }
    reduce_tile(acc)
}

/// Q4_K or Q5_K: unsigned quants with 6-bit scales and mins.
trait KMin {
    const BYTES: usize;
    /// Sub-blocks `2c` and `2c + 1` of the super-block at `p` (quants
    /// unsigned, one per byte).
    unsafe fn pair(p: *const u8, c: usize) -> (__m256i, __m256i);
}

struct Q4K;
struct Q5K;

impl KMin for Q4K {
    const BYTES: usize = q4_k::BLOCK_BYTES;
    #[inline(always)]
    unsafe fn pair(p: *const u8, c: usize) -> (__m256i, __m256i) {
        let low = _mm256_set1_epi8(0x0F);
        let q = _mm256_loadu_si256(p.add(16 + 32 * c) as *const __m256i);
        (
            _mm256_and_si256(q, low),
            _mm256_and_si256(_mm256_srli_epi16(q, 4), low),
        )
    }
}

impl KMin for Q5K {
    const BYTES: usize = q5_k::BLOCK_BYTES;
    #[inline(always)]
    unsafe fn pair(p: *const u8, c: usize) -> (__m256i, __m256i) {
        let (lo, hi) = Q4K::pair(p.add(32), c);
        // Bits 2c and 2c + 1 of each qh byte, moved to bit 4. A 16-bit
        // shift moves bits across bytes, but only into bits the mask drops.
        let qh = _mm256_loadu_si256(p.add(16) as *const __m256i);
        let qh = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c as i32));
        let bit = _mm256_set1_epi8(0x10);
        (
            _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit)),
            _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit)),
        )
    }
}

/// One sub-block pair at a time, so the registers hold the pair, its two
/// scales and one integer sum per activation row; the accumulators, touched
/// once per super-block, may live in memory. (Unpacking all four pairs and
/// eight scales first took all 16 registers and spilled in the inner loop.)
#[inline(always)]
unsafe fn tile_kmin<F: KMin, const MR: usize, const NR: usize>(
    xs: [XRow<'_>; MR],
    ws: [&[u8]; NR],
    next: &[*const u8],
) -> [[f32; NR]; MR] {
    let blocks = ws[0].len() / F::BYTES;
    let mut acc = [[_mm256_setzero_ps(); NR]; MR];
    let mut mins = [[0.0f32; NR]; MR];
    for sb in 0..blocks {
        prefetch(next, sb * F::BYTES, F::BYTES);
        for (t, w) in ws.iter().enumerate() {
            let p = w.as_ptr().add(sb * F::BYTES);
            let (sc, m) = unpack_q4_k_scales(std::slice::from_raw_parts(p.add(4), 12));
            let mut isum = [_mm256_setzero_si256(); MR];
            for c in 0..4 {
                let (lo, hi) = F::pair(p, c);
                let sc_lo = _mm256_set1_epi16(sc[2 * c] as i16);
                let sc_hi = _mm256_set1_epi16(sc[2 * c + 1] as i16);
                for (s, x) in xs.iter().enumerate() {
                    let xq = x.q.as_ptr().add(256 * sb + 64 * c);
                    let x_lo = _mm256_loadu_si256(xq as *const __m256i);
                    let x_hi = _mm256_loadu_si256(xq.add(32) as *const __m256i);
                    let p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), sc_lo);
                    let p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), sc_hi);
                    isum[s] = _mm256_add_epi32(isum[s], _mm256_add_epi32(p_lo, p_hi));
                }
            }
            let d = f16_at(p);
            let dmin = f16_at(p.add(2));
            let m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(m.as_ptr() as *const __m128i));
            for (s, x) in xs.iter().enumerate() {
                let dx = *x.d.get_unchecked(sb);
                acc[s][t] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(isum[s]),
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
    let mut out = reduce_tile(acc);
    for (o, m) in out.iter_mut().flatten().zip(mins.iter().flatten()) {
        *o -= m;
    }
    out
}

/// Q6_K: the super-block's eight chunks of 32 signed quants (`q - 32`),
/// each unpacked once per weight row and shared by the activation rows,
/// one chunk at a time (as `tile_kmin`, so nothing spills in the inner
/// loop).
#[inline(always)]
unsafe fn tile_q6_k<const MR: usize, const NR: usize>(
    xs: [XRow<'_>; MR],
    ws: [&[u8]; NR],
    next: &[*const u8],
) -> [[f32; NR]; MR] {
    let blocks = ws[0].len() / q6_k::BLOCK_BYTES;
    let mut acc = [[_mm256_setzero_ps(); NR]; MR];
    let low = _mm256_set1_epi8(0x0F);
    let top = _mm256_set1_epi8(0x30);
    for sb in 0..blocks {
        prefetch(next, sb * q6_k::BLOCK_BYTES, q6_k::BLOCK_BYTES);
        for (t, w) in ws.iter().enumerate() {
            let p = w.as_ptr().add(sb * q6_k::BLOCK_BYTES);
            let sc = p.add(q6_k::SCALES) as *const i8;
            let mut isum = [_mm256_setzero_si256(); MR];
            for h in 0..2 {
                let ql0 = _mm256_loadu_si256(p.add(64 * h) as *const __m256i);
                let ql1 = _mm256_loadu_si256(p.add(64 * h + 32) as *const __m256i);
                let qh = _mm256_loadu_si256(p.add(128 + 32 * h) as *const __m256i);
                for k in 0..4 {
                    // Bits 2k..2k+2 of qh become bits 4..6 of chunk k.
                    let hb = match k {
                        0 => _mm256_slli_epi16(qh, 4),
                        1 => _mm256_slli_epi16(qh, 2),
                        2 => qh,
                        _ => _mm256_srli_epi16(qh, 2),
                    };
                    let lo = match k {
                        0 => ql0,
                        1 => ql1,
                        2 => _mm256_srli_epi16(ql0, 4),
                        _ => _mm256_srli_epi16(ql1, 4),
                    };
                    let q = _mm256_sub_epi8(
                        _mm256_or_si256(_mm256_and_si256(lo, low), _mm256_and_si256(hb, top)),
                        _mm256_set1_epi8(32),
                    );
                    let aq = _mm256_abs_epi8(q);
                    let c = 4 * h + k;
                    let scv = _mm256_set_m128i(
                        _mm_set1_epi16(*sc.add(2 * c + 1) as i16),
                        _mm_set1_epi16(*sc.add(2 * c) as i16),
                    );
                    for (s, x) in xs.iter().enumerate() {
                        let xq = x.q.as_ptr().add(256 * sb + 32 * c);
                        let qx = _mm256_loadu_si256(xq as *const __m256i);
                        let pairs = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(qx, q));
                        isum[s] = _mm256_add_epi32(isum[s], _mm256_madd_epi16(pairs, scv));
                    }
                }
            }
            let d = f16_at(p.add(q6_k::D));
            for (s, x) in xs.iter().enumerate() {
                let dx = *x.d.get_unchecked(sb);
                acc[s][t] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(isum[s]),
                    _mm256_set1_ps(d * dx),
                    acc[s][t],
                );
            }
        }
    }
    reduce_tile(acc)
}
