//! `Q8_0`: 32 weights per block, `{ d: f16, qs: [i8; 32] }` (34 bytes),
//! value `d * q`. Quantization is llama.cpp's reference
//! (`quantize_row_q8_0_ref`): `d = max|x| / 127`, `q = round(x / d)` with
//! ties away from zero, so every `q` is in -127..=127.

use super::f16_at;

/// Weights per block.
pub const BLOCK_LEN: usize = 32;
/// Bytes per block: the f16 scale, then the 32 quants.
pub const BLOCK_BYTES: usize = 34;

/// Quantizes `x` (a whole number of blocks) into `out`.
pub fn quantize_row(x: &[f32], out: &mut [u8]) {
    for (xb, ob) in x
        .chunks_exact(BLOCK_LEN)
        .zip(out.chunks_exact_mut(BLOCK_BYTES))
    {
        let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        ob[..2].copy_from_slice(&half::f16::from_f32(d).to_bits().to_le_bytes());
        for (o, v) in ob[2..].iter_mut().zip(xb) {
            *o = ((v * id).round() as i8) as u8;
        }
    }
}

/// Dequantizes blocks into `out` (`d * q`, exact in f32).
pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks
        .chunks_exact(BLOCK_BYTES)
        .zip(out.chunks_exact_mut(BLOCK_LEN))
    {
        let d = f16_at(b, 0);
        for (v, &q) in o.iter_mut().zip(&b[2..]) {
            *v = d * (q as i8) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_layout_and_rounding() {
        let mut x = [0.0f32; 32];
        x[0] = 1.27;
        x[1] = -0.5;
        x[2] = 0.005; // 0.5 of a step: ties away from zero
        let mut b = [0u8; 34];
        quantize_row(&x, &mut b);
        assert_eq!(f16_at(&b, 0), half::f16::from_f32(0.01).to_f32());
        assert_eq!(b[2] as i8, 127);
        assert_eq!(b[3] as i8, -50);
        assert_eq!(b[4] as i8, 1);
        let mut y = [0.0f32; 32];
        dequantize_row(&b, &mut y);
        assert!((y[1] + 0.5).abs() < 1e-3);
        // An all-zero block: scale 0, quants 0.
        quantize_row(&[0.0; 32], &mut b);
        assert!(b.iter().all(|&v| v == 0));
    }
}
