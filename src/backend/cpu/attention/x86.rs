//! Explicit SIMD score kernels with exactly [`super::dot16`]'s arithmetic.

use super::super::matmul::x86::{hsum16, hsum8, reduce_4x4};
use std::arch::x86_64::*;

/// 16 keys at once: 16 accumulators (one per key, exactly as in
/// [`scores_avx512`]) reduced together by [`reduce_4x4`], which applies
/// the same tree as [`hsum16`] to each (bit-identical, tested in
/// `matmul`), at a third of the shuffles and without a latency chain per key.
///
/// # Safety
/// As [`scores_avx512`], with `offs.len() == 16`, `s.len() >= 16`.
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn scores16_avx512(
    q: &[f32],
    k: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    s: &mut [f32],
) {
    let full = hd / 16;
    let rem = hd % 16;
    let mask = ((1u32 << rem) - 1) as u16;
    let mut acc = [_mm512_setzero_ps(); 16];
    let kp: [*const f32; 16] = std::array::from_fn(|t| k.as_ptr().wrapping_add(offs[t]));
    // SAFETY: full chunks end at or before hd; the tail is masked to lanes < rem.
    unsafe {
        for c in 0..full {
            let qa = _mm512_loadu_ps(q.as_ptr().add(16 * c));
            for t in 0..16 {
                acc[t] = _mm512_add_ps(
                    acc[t],
                    _mm512_mul_ps(qa, _mm512_loadu_ps(kp[t].add(16 * c))),
                );
            }
        }
        if rem > 0 {
            let qa = _mm512_maskz_loadu_ps(mask, q.as_ptr().add(16 * full));
            for t in 0..16 {
                let ka = _mm512_maskz_loadu_ps(mask, kp[t].add(16 * full));
                acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(qa, ka));
            }
        }
    }
    // reduce_4x4 puts accumulator 4j + i in lane 4i + j: permute back.
    let r = reduce_4x4(&acc);
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let r = _mm512_mul_ps(_mm512_permutexvar_ps(idx, r), _mm512_set1_ps(scale));
    // SAFETY: s holds at least 16 f32.
    unsafe { _mm512_storeu_ps(s.as_mut_ptr(), r) };
}

/// 8 keys for 2 query heads: 16 accumulators (head `h`'s key `t` in
/// accumulator `8h + t`, each exactly as in [`scores16_avx512`]) reduced
/// together by [`reduce_4x4`], reading each K row once for both heads.
///
/// # Safety
/// As [`scores_avx512`] for both queries, with `offs.len() == 8` and 8
/// outputs in each of `s`.
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn scores8x2_avx512(
    q: [&[f32]; 2],
    k: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    s: [&mut [f32]; 2],
) {
    let full = hd / 16;
    let rem = hd % 16;
    let mask = ((1u32 << rem) - 1) as u16;
    let mut acc = [_mm512_setzero_ps(); 16];
    let kp: [*const f32; 8] = std::array::from_fn(|t| k.as_ptr().wrapping_add(offs[t]));
    // SAFETY: full chunks end at or before hd; the tail is masked to lanes < rem.
    unsafe {
        for c in 0..full {
            let qa = _mm512_loadu_ps(q[0].as_ptr().add(16 * c));
            let qb = _mm512_loadu_ps(q[1].as_ptr().add(16 * c));
            for t in 0..8 {
                let ka = _mm512_loadu_ps(kp[t].add(16 * c));
                acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(qa, ka));
                acc[8 + t] = _mm512_add_ps(acc[8 + t], _mm512_mul_ps(qb, ka));
            }
        }
        if rem > 0 {
            let qa = _mm512_maskz_loadu_ps(mask, q[0].as_ptr().add(16 * full));
            let qb = _mm512_maskz_loadu_ps(mask, q[1].as_ptr().add(16 * full));
            for t in 0..8 {
                let ka = _mm512_maskz_loadu_ps(mask, kp[t].add(16 * full));
                acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(qa, ka));
                acc[8 + t] = _mm512_add_ps(acc[8 + t], _mm512_mul_ps(qb, ka));
            }
        }
    }
    // As in scores16_avx512: lane t holds accumulator t after the permute.
    let r = reduce_4x4(&acc);
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let r = _mm512_mul_ps(_mm512_permutexvar_ps(idx, r), _mm512_set1_ps(scale));
    let [sa, sb] = s;
    // SAFETY: each output holds at least 8 f32.
    unsafe {
        _mm256_storeu_ps(sa.as_mut_ptr(), _mm512_castps512_ps256(r));
        _mm256_storeu_ps(sb.as_mut_ptr(), _mm512_extractf32x8_ps::<1>(r));
    }
}

/// [`super::tile_scores_pair`] on AVX-512: groups of 8 keys for both
/// heads at once, the last `n % 8` keys one head at a time.
///
/// # Safety
/// As [`scores_avx512`] for both queries; `s[h].len() >= offs.len()`.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) unsafe fn scores_pair_avx512(
    q: [&[f32]; 2],
    k: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    s: [&mut [f32]; 2],
) {
    let [sa, sb] = s;
    let groups = offs.len() / 8;
    for g in 0..groups {
        let o = &offs[8 * g..8 * g + 8];
        // SAFETY: forwarded contract; 8 offsets and 8 outputs each.
        unsafe { scores8x2_avx512(q, k, o, hd, scale, [&mut sa[8 * g..], &mut sb[8 * g..]]) };
    }
    let rest = &offs[8 * groups..];
    // SAFETY: forwarded contract (fewer than 8 offsets: one key at a time).
    unsafe {
        scores_avx512(q[0], k, rest, hd, scale, &mut sa[8 * groups..]);
        scores_avx512(q[1], k, rest, hd, scale, &mut sb[8 * groups..]);
    }
}

/// AVX-512 [`super::tile_scores`]: one zmm = the 16 lanes.
///
/// # Safety
/// AVX-512 F/DQ available; `q.len() >= hd`; `o + hd <= k.len()` for every `o` in `offs`.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) unsafe fn scores_avx512(
    q: &[f32],
    k: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    s: &mut [f32],
) {
    let full = hd / 16;
    let rem = hd % 16;
    let mask = ((1u32 << rem) - 1) as u16;
    let groups = offs.len() / 16;
    for g in 0..groups {
        // SAFETY: forwarded contract; 16 offsets and 16 outputs.
        unsafe {
            scores16_avx512(
                q,
                k,
                &offs[16 * g..16 * g + 16],
                hd,
                scale,
                &mut s[16 * g..],
            )
        };
    }
    for (j, &o) in offs.iter().enumerate().skip(16 * groups) {
        let kp = k.as_ptr().wrapping_add(o);
        let mut acc = _mm512_setzero_ps();
        // SAFETY: d + 16 <= hd for full chunks; the tail is masked to lanes < rem.
        unsafe {
            for c in 0..full {
                let qa = _mm512_loadu_ps(q.as_ptr().add(16 * c));
                let ka = _mm512_loadu_ps(kp.add(16 * c));
                acc = _mm512_add_ps(acc, _mm512_mul_ps(qa, ka));
            }
            if rem > 0 {
                let qa = _mm512_maskz_loadu_ps(mask, q.as_ptr().add(16 * full));
                let ka = _mm512_maskz_loadu_ps(mask, kp.add(16 * full));
                acc = _mm512_add_ps(acc, _mm512_mul_ps(qa, ka));
            }
        }
        s[j] = hsum16(acc) * scale;
    }
}

/// AVX2 [`super::tile_scores`]: lanes 0..8 and 8..16 in two ymm; the
/// first tree step (lane i + lane i+8) adds them, then [`hsum8`].
///
/// # Safety
/// AVX2 + FMA available; `q.len() >= hd`; `o + hd <= k.len()` for every `o` in `offs`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn scores_avx2(
    q: &[f32],
    k: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    s: &mut [f32],
) {
    let full = hd / 16;
    let rem = hd % 16;
    let mut qt = [0.0f32; 16];
    qt[..rem].copy_from_slice(&q[16 * full..hd]);
    for (j, &o) in offs.iter().enumerate() {
        let kr = &k[o..o + hd];
        let mut lo = _mm256_setzero_ps();
        let mut hi = _mm256_setzero_ps();
        // SAFETY: 16 * c + 16 <= hd for full chunks; the tail uses padded copies.
        unsafe {
            for c in 0..full {
                let (qp, kp) = (q.as_ptr().add(16 * c), kr.as_ptr().add(16 * c));
                lo = _mm256_add_ps(lo, _mm256_mul_ps(_mm256_loadu_ps(qp), _mm256_loadu_ps(kp)));
                hi = _mm256_add_ps(
                    hi,
                    _mm256_mul_ps(_mm256_loadu_ps(qp.add(8)), _mm256_loadu_ps(kp.add(8))),
                );
            }
            if rem > 0 {
                let mut kt = [0.0f32; 16];
                kt[..rem].copy_from_slice(&kr[16 * full..]);
                lo = _mm256_add_ps(
                    lo,
                    _mm256_mul_ps(_mm256_loadu_ps(qt.as_ptr()), _mm256_loadu_ps(kt.as_ptr())),
                );
                hi = _mm256_add_ps(
                    hi,
                    _mm256_mul_ps(
                        _mm256_loadu_ps(qt.as_ptr().add(8)),
                        _mm256_loadu_ps(kt.as_ptr().add(8)),
                    ),
                );
            }
        }
        s[j] = hsum8(_mm256_add_ps(lo, hi)) * scale;
    }
}
