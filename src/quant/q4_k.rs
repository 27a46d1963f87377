//! `Q4_K`: 256 weights per super-block,
//! `{ d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128] }` (144 bytes).
//!
//! The super-block is eight sub-blocks of 32. Sub-block `j` has a 6-bit
//! scale `sc_j` and a 6-bit min `m_j` packed into `scales` (see
//! [`scale_min`]); weight `i` of it is
//!
//! ```text
//! value = (d * sc_j) * q_i - (dmin * m_j),   q_i in 0..=15
//! ```
//!
//! computed in f32 in that order (no fused multiply-add), as llama.cpp's
//! `dequantize_row_q4_K` and gguf-py's numpy dequantizer do. The quants of
//! sub-blocks `2c` and `2c + 1` share the 32 bytes `qs[32c..32c + 32]`:
//! low nibbles for `2c`, high nibbles for `2c + 1`.
//!
//! Quantization is a port of llama.cpp's `quantize_row_q4_K_ref` (a
//! weighted least-squares search for each sub-block's scale and min,
//! `make_qkx2_quants`), so a checkpoint quantized at load is as close to
//! its source as llama.cpp's own files are.

use super::f16_at;

/// Weights per super-block.
pub const BLOCK_LEN: usize = 256;
/// Bytes per super-block.
pub const BLOCK_BYTES: usize = 144;

/// Sub-block `j`'s (scale, min), 6 bits each, from the 12 packed bytes:
/// `j < 4` in the low 6 bits of bytes `j` and `j + 4`; `j >= 4` split
/// between a nibble of byte `j + 4` and the top 2 bits of bytes `j - 4`
/// and `j`.
#[inline(always)]
pub fn scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Packs eight 6-bit (scale, min) pairs into the 12 bytes [`scale_min`]
/// reads.
pub fn pack_scale_min(pairs: &[(u8, u8); 8]) -> [u8; 12] {
    let mut p = [0u8; 12];
    for (j, &(ls, lm)) in pairs.iter().enumerate() {
        if j < 4 {
            p[j] = ls;
            p[j + 4] = lm;
        } else {
            p[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            p[j - 4] |= (ls >> 4) << 6;
            p[j] |= (lm >> 4) << 6;
        }
    }
    p
}

/// Dequantizes super-blocks into `out`.
pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks
        .chunks_exact(BLOCK_BYTES)
        .zip(out.chunks_exact_mut(BLOCK_LEN))
    {
        let d = f16_at(b, 0);
        let dmin = f16_at(b, 2);
        let scales = &b[4..16];
        let qs = &b[16..];
        for j in 0..8 {
            let (sc, m) = scale_min(j, scales);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            let q = &qs[32 * (j / 2)..32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            for (v, &byte) in o[32 * j..32 * j + 32].iter_mut().zip(q) {
                *v = d1 * ((byte >> shift) & 0xF) as f32 - m1;
            }
        }
    }
}

/// llama.cpp's `nearest_int`: round half to even.
#[inline(always)]
fn nearest_int(v: f32) -> i32 {
    v.round_ties_even() as i32
}

/// Scale and min (returned as `-min >= 0`) of one sub-block, with its
/// quants in `l`: llama.cpp's `make_qkx2_quants(32, 15, .., -1, 0.1, 20)`.
fn make_qkx2_quants(x: &[f32], weights: &[f32], l: &mut [u8]) -> (f32, f32) {
    const NMAX: f32 = 15.0;
    let (rmin, rdelta, nstep) = (-1.0f32, 0.1f32, 20);
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..x.len() {
        min = min.min(x[i]);
        max = max.max(x[i]);
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l.fill(0);
        return (0.0, -min);
    }
    let mut iscale = NMAX / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_mad = 0.0f32;
    for i in 0..x.len() {
        let q = nearest_int(iscale * (x[i] - min)).clamp(0, 15);
        l[i] = q as u8;
        let diff = scale * q as f32 + min - x[i];
        best_mad += weights[i] * diff * diff;
    }
    let mut aux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + NMAX) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..x.len() {
            let q = nearest_int(iscale * (x[i] - min)).clamp(0, 15);
            aux[i] = q as u8;
            let (w, q) = (weights[i], q as f32);
            sum_l += w * q;
            sum_l2 += w * q * q;
            sum_xl += w * q * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut mad = 0.0f32;
            for i in 0..x.len() {
                let diff = this_scale * aux[i] as f32 + this_min - x[i];
                mad += weights[i] * diff * diff;
            }
            if mad < best_mad {
                l[..x.len()].copy_from_slice(&aux[..x.len()]);
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Quantizes `x` (a whole number of super-blocks) into `out`.
pub fn quantize_row(x: &[f32], out: &mut [u8]) {
    for (xb, ob) in x
        .chunks_exact(BLOCK_LEN)
        .zip(out.chunks_exact_mut(BLOCK_BYTES))
    {
        let mut l = [0u8; BLOCK_LEN];
        let mut scales = [0.0f32; 8];
        let mut mins = [0.0f32; 8];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        let mut weights = [0.0f32; 32];
        for j in 0..8 {
            let xs = &xb[32 * j..32 * j + 32];
            let sum_x2: f32 = xs.iter().map(|v| v * v).sum();
            let av_x = (sum_x2 / 32.0).sqrt();
            for (w, v) in weights.iter_mut().zip(xs) {
                *w = av_x + v.abs();
            }
            let (s, m) = make_qkx2_quants(xs, &weights, &mut l[32 * j..32 * j + 32]);
            scales[j] = s;
            mins[j] = m;
            max_scale = max_scale.max(s);
            max_min = max_min.max(m);
        }
        let inv_scale = if max_scale > 0.0 {
            63.0 / max_scale
        } else {
            0.0
        };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        let pairs: [(u8, u8); 8] = std::array::from_fn(|j| {
            (
                nearest_int(inv_scale * scales[j]).clamp(0, 63) as u8,
                nearest_int(inv_min * mins[j]).clamp(0, 63) as u8,
            )
        });
        ob[4..16].copy_from_slice(&pack_scale_min(&pairs));
        let d = half::f16::from_f32(max_scale / 63.0);
        let dmin = half::f16::from_f32(max_min / 63.0);
        ob[0..2].copy_from_slice(&d.to_bits().to_le_bytes());
        ob[2..4].copy_from_slice(&dmin.to_bits().to_le_bytes());
        for j in 0..8 {
            let (sc, m) = scale_min(j, &ob[4..16]);
            let dj = f16_at(ob, 0) * sc as f32;
            if dj == 0.0 {
                continue;
            }
            let dm = f16_at(ob, 2) * m as f32;
            for i in 0..32 {
                l[32 * j + i] = nearest_int((xb[32 * j + i] + dm) / dj).clamp(0, 15) as u8;
            }
        }
        let qs = &mut ob[16..];
        for c in 0..4 {
            for i in 0..32 {
                qs[32 * c + i] = l[64 * c + i] | (l[64 * c + 32 + i] << 4);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_mins_pack_and_unpack() {
        // Every 6-bit value in every position survives packing.
        for v in 0..64u8 {
            let pairs: [(u8, u8); 8] =
                std::array::from_fn(|j| ((v + 7 * j as u8) % 64, (63 - v + 5 * j as u8) % 64));
            let p = pack_scale_min(&pairs);
            for (j, &pair) in pairs.iter().enumerate() {
                assert_eq!(scale_min(j, &p), pair, "sub-block {j}");
            }
        }
    }

    #[test]
    fn nibbles_are_laid_out_as_llama_cpp_does() {
        // One super-block with d = 1, dmin = 0, every scale 1: values are the quants.
        let mut b = [0u8; BLOCK_BYTES];
        b[0..2].copy_from_slice(&half::f16::ONE.to_bits().to_le_bytes());
        for j in 0..4 {
            b[4 + j] = 1;
        }
        for j in 8..12 {
            b[4 + j] = 0x01;
        }
        b[16] = 0x3A; // weight 0 = 0xA, weight 32 = 0x3
        let mut out = [0.0f32; BLOCK_LEN];
        dequantize_row(&b, &mut out);
        assert_eq!(out[0], 10.0);
        assert_eq!(out[32], 3.0);
        assert_eq!(out[1], 0.0);
    }

    #[test]
    fn a_constant_block_is_exact() {
        let x = [0.25f32; BLOCK_LEN];
        let mut b = [0u8; BLOCK_BYTES];
        quantize_row(&x, &mut b);
        let mut y = [0.0f32; BLOCK_LEN];
        dequantize_row(&b, &mut y);
        for v in y {
            assert!((v - 0.25).abs() < 2e-3, "{v}");
        }
    }
}
