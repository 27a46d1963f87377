//! `Q6_K`: 256 weights per super-block,
//! `{ ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16 }` (210 bytes).
//! Sixteen sub-blocks of 16 weights, each with a signed 8-bit scale:
//!
//! ```text
//! value = (d * scales[i / 16]) * (q - 32),   q in 0..=63
//! ```
//!
//! in f32 in that order, as llama.cpp's `dequantize_row_q6_K`. Each half
//! of 128 weights `e` takes its low 4 bits from a nibble of `ql` (low
//! nibbles of `ql[0..64]` for `e < 64`, high nibbles for `e >= 64`) and
//! its top 2 bits from bits `2 * (e / 32)` of `qh[e % 32]`; the second
//! half uses `ql[64..]` and `qh[32..]`. `Q4_K_M` files keep the output
//! matrix and some `attn_v` / `ffn_down` matrices in this format.

use super::f16_at;

/// Weights per super-block.
pub const BLOCK_LEN: usize = 256;
/// Bytes per super-block.
pub const BLOCK_BYTES: usize = 210;
/// Offset of the sixteen scales.
pub const SCALES: usize = 192;
/// Offset of `d`.
pub const D: usize = 208;

/// The super-block's quants as signed values `q - 32` (in -32..=31), in
/// weight order.
#[inline(always)]
pub fn quants(block: &[u8]) -> [i8; 256] {
    std::array::from_fn(|i| {
        let (h, e) = (i / 128, i % 128);
        let ql = block[64 * h + e % 64];
        let lo = if e < 64 { ql & 0xF } else { ql >> 4 };
        let hi = (block[128 + 32 * h + e % 32] >> (2 * (e / 32))) & 3;
        (lo | (hi << 4)) as i8 - 32
    })
}

/// Dequantizes super-blocks into `out`.
pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks
        .chunks_exact(BLOCK_BYTES)
        .zip(out.chunks_exact_mut(BLOCK_LEN))
    {
        let d = f16_at(b, D);
        for (i, (v, q)) in o.iter_mut().zip(quants(b)).enumerate() {
            *v = d * (b[SCALES + i / 16] as i8) as f32 * q as f32;
        }
    }
}
