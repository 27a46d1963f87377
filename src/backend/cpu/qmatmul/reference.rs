//! The scalar reference dot products: the accumulation structure of the
//! module docs written out plainly, per format. The AVX2 tiles must give
//! these bits.

use super::{hsum_tree, unpack_q4_k_scales, XRow};
use crate::quant::{f16_at, q4_0, q4_k, q5_0, q5_k, q6_k, q8_0, QuantFormat};

/// `w · x` for one weight row `w` (its blocks) and one quantized
/// activation row.
pub(super) fn dot(format: QuantFormat, w: &[u8], x: XRow<'_>) -> f32 {
    match format {
        QuantFormat::Q8_0 => dot_b32(w, x, q8_0::BLOCK_BYTES, |b| {
            std::array::from_fn(|t| b[2 + t] as i8)
        }),
        QuantFormat::Q5_0 => dot_b32(w, x, q5_0::BLOCK_BYTES, q5_0::quants),
        QuantFormat::Q4_0 => dot_b32(w, x, q4_0::BLOCK_BYTES, q4_0::quants),
        QuantFormat::Q4K => dot_kmin(w, x, q4_k::BLOCK_BYTES, |b, j| {
            let qs = &b[16 + 32 * (j / 2)..];
            std::array::from_fn(|t| (qs[t] >> (4 * (j % 2))) & 0xF)
        }),
        QuantFormat::Q5K => dot_kmin(w, x, q5_k::BLOCK_BYTES, q5_k::quants),
        QuantFormat::Q6K => dot_q6_k(w, x),
    }
}

/// The eight lane sums of 32 products (lane `l`: weights `4l..4l+4`).
#[inline(always)]
fn lanes<Q: Copy + Into<i32>>(q: &[Q], qx: &[i8]) -> [i32; 8] {
    std::array::from_fn(|l| (4 * l..4 * l + 4).map(|t| q[t].into() * qx[t] as i32).sum())
}

/// Formats of 32-weight blocks with one f16 scale first and signed quants
/// (`quants(block)`).
fn dot_b32(w: &[u8], x: XRow<'_>, bytes: usize, quants: impl Fn(&[u8]) -> [i8; 32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (b, blk) in w.chunks_exact(bytes).enumerate() {
        let scale = f16_at(blk, 0) * x.d[b];
        let isum = lanes(&quants(blk), &x.q[32 * b..32 * b + 32]);
        for (a, s) in acc.iter_mut().zip(isum) {
            *a = (s as f32).mul_add(scale, *a);
        }
    }
    hsum_tree(&mut acc)
}

/// Q4_K and Q5_K: `quants(block, j)` gives sub-block `j`'s unsigned quants.
fn dot_kmin(w: &[u8], x: XRow<'_>, bytes: usize, quants: impl Fn(&[u8], usize) -> [u8; 32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut mins = 0.0f32;
    for (sb, blk) in w.chunks_exact(bytes).enumerate() {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let (sc, m) = unpack_q4_k_scales(&blk[4..16]);
        let mut isum = [0i32; 8];
        let mut msum = 0i32;
        for j in 0..8 {
            let qx = &x.q[256 * sb + 32 * j..256 * sb + 32 * j + 32];
            for (s, v) in isum.iter_mut().zip(lanes(&quants(blk, j), qx)) {
                *s += sc[j] as i32 * v;
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

/// Q6_K: sixteen signed 8-bit scales per super-block, one per 16 weights,
/// so lanes `0..4` of each 32 take scale `2c`, lanes `4..8` scale `2c + 1`.
fn dot_q6_k(w: &[u8], x: XRow<'_>) -> f32 {
    let mut acc = [0.0f32; 8];
    for (sb, blk) in w.chunks_exact(q6_k::BLOCK_BYTES).enumerate() {
        let q = q6_k::quants(blk);
        let mut isum = [0i32; 8];
        for c in 0..8 {
            let qx = &x.q[256 * sb + 32 * c..256 * sb + 32 * c + 32];
            for (l, (s, v)) in isum.iter_mut().zip(lanes(&q[32 * c..], qx)).enumerate() {
                *s += (blk[q6_k::SCALES + 2 * c + l / 4] as i8) as i32 * v;
            }
        }
        let scale = f16_at(blk, q6_k::D) * x.d[sb];
        for (a, s) in acc.iter_mut().zip(isum) {
            *a = (s as f32).mul_add(scale, *a);
        }
    }
    hsum_tree(&mut acc)
}
