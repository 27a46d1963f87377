//! `Q4_0`: 32 weights per block, `{ d: f16, qs: [u8; 16] }` (18 bytes),
//! value `d * (q - 8)`, `q` in 0..=15: weight `i < 16` in the low nibble
//! of `qs[i]`, weight `i + 16` in its high nibble (llama.cpp's
//! `dequantize_row_q4_0`). Read from GGUF files only (weir does not make
//! this format: its accuracy is below Q4_K's at the same size).

/// Weights per block.
pub const BLOCK_LEN: usize = 32;
/// Bytes per block: the f16 scale, then 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 18;

/// The block's quants as signed values `q - 8` (in -8..=7), in weight order.
#[inline(always)]
pub fn quants(block: &[u8]) -> [i8; 32] {
    std::array::from_fn(|i| {
        let b = block[2 + i % 16];
        let nib = if i < 16 { b & 0xF } else { b >> 4 };
        nib as i8 - 8
    })
}

/// Dequantizes blocks into `out` (`d * (q - 8)`, exact in f32).
pub fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    super::dequantize_b32(blocks, out, BLOCK_BYTES, quants);
}
