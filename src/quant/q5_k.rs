//! `Q5_K`: 256 weights per super-block,
//! `{ d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128] }`
//! (176 bytes): `Q4_K` with a fifth bit. Sub-block `j` (of 32) has the
//! 6-bit scale and min of [`super::q4_k::scale_min`]; weight `l` of it is
//!
//! ```text
//! value = (d * sc_j) * q - (dmin * m_j),   q = nibble | (bit j of qh[l]) << 4, in 0..=31
//! ```
//!
//! with the nibble as in `Q4_K` (low nibbles of `qs[32c..]` for `j = 2c`,
//! high for `2c + 1`), in f32 in that order, as llama.cpp's
//! `dequantize_row_q5_K`. Read from GGUF files only (`Q5_K_M` files).

use super::{f16_at, q4_k::scale_min};

/// Weights per super-block.
pub const BLOCK_LEN: usize = 256;
/// Bytes per super-block.
pub const BLOCK_BYTES: usize = 176;

/// Sub-block `j`'s 32 quants (0..=31).
#[inline(always)]
pub fn quants(block: &[u8], j: usize) -> [u8; 32] {
    let (qh, qs) = (&block[16..48], &block[48 + 32 * (j / 2)..]);
    let shift = 4 * (j % 2);
    std::array::from_fn(|l| ((qs[l] >> shift) & 0xF) | (((qh[l] >> j) & 1) << 4))
}

/// Dequantizes super-blocks into `out`.
pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks
        .chunks_exact(BLOCK_BYTES)
        .zip(out.chunks_exact_mut(BLOCK_LEN))
    {
        let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
        for j in 0..8 {
            let (sc, m) = scale_min(j, &b[4..16]);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            for (v, q) in o[32 * j..32 * j + 32].iter_mut().zip(quants(b, j)) {
                *v = d1 * q as f32 - m1;
            }
        }
    }
}
