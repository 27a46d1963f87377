//! `Q5_0`: 32 weights per block, `{ d: f16, qh: u32, qs: [u8; 16] }`
//! (22 bytes), value `d * (q - 16)`, `q` in 0..=31: the low 4 bits as in
//! `Q4_0` (weight `i < 16` low nibble of `qs[i]`, `i + 16` high nibble),
//! bit 4 of weight `i` is bit `i` of the little-endian `qh`. llama.cpp
//! falls back to it for `Q4_K` rows not a multiple of 256 (Qwen2-0.5B's
//! 896), so a `Q4_K_M` file of such a model is partly `Q5_0`. Read from
//! GGUF files only.

/// Weights per block.
pub const BLOCK_LEN: usize = 32;
/// Bytes per block: the f16 scale, the 32 high bits, 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 22;

/// The block's quants as signed values `q - 16` (in -16..=15), in weight
/// order.
#[inline(always)]
pub fn quants(block: &[u8]) -> [i8; 32] {
    let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
    std::array::from_fn(|i| {
        let b = block[6 + i % 16];
        let nib = if i < 16 { b & 0xF } else { b >> 4 };
        let hi = ((qh >> i) & 1) as u8;
        (nib | (hi << 4)) as i8 - 16
    })
}

/// Dequantizes blocks into `out` (`d * (q - 16)`, exact in f32).
pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    super::dequantize_b32(blocks, out, BLOCK_BYTES, quants);
}
