//! Block-quantized weight formats, in the byte layout of llama.cpp's GGUF
//! files (so a GGUF tensor's bytes are used as they are, and a safetensors
//! checkpoint quantized at load is laid out the same way).
//!
//! A quantized matrix `[rows, cols]` stores each row as `cols / block_len`
//! consecutive blocks; a block holds its own scale(s) and small integers.
//! The formats here are the ones the CPU kernels multiply directly:
//!
//! | format | block | bytes | bits/weight | value |
//! |--------|-------|-------|-------------|-------|
//! | `Q8_0` | 32    | 34    | 8.5         | `d * q`, `q` in -128..=127 |
//! | `Q5_0` | 32    | 22    | 5.5         | `d * (q - 16)`, `q` in 0..=31 |
//! | `Q4_0` | 32    | 18    | 4.5         | `d * (q - 8)`, `q` in 0..=15 |
//! | `Q6_K` | 256   | 210   | 6.5625      | `d * sc_s * (q - 32)`, `q` in 0..=63, 8-bit `sc_s` per 16 |
//! | `Q5_K` | 256   | 176   | 5.5         | `d * sc_j * q - dmin * m_j`, `q` in 0..=31, 6-bit `sc_j`, `m_j` per 32 |
//! | `Q4_K` | 256   | 144   | 4.5         | `d * sc_j * q - dmin * m_j`, `q` in 0..=15, 6-bit `sc_j`, `m_j` per 32 |
//!
//! weir quantizes to `Q8_0` and `Q4_K` (`--quantize`); the others are read
//! from GGUF files (what `Q4_K_M`, `Q5_K_M`, `Q4_0` files hold).
//!
//! Dequantization ([`QuantMatrix::dequantize_row`]) is the reference the
//! kernels and the tests are checked against; it equals the reference
//! dequantizers of the `gguf` Python package bit for bit
//! (`tests/python/test_quant_gguf.py`).

pub mod q4_0;
pub mod q4_k;
pub mod q5_0;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;

use rayon::prelude::*;

/// A block-quantized weight format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantFormat {
    /// 32 weights: an f16 scale and 32 signed bytes (llama.cpp `Q8_0`).
    Q8_0,
    /// 32 weights: an f16 scale and 5-bit quants (llama.cpp `Q5_0`).
    Q5_0,
    /// 32 weights: an f16 scale and 4-bit quants (llama.cpp `Q4_0`).
    Q4_0,
    /// 256 weights: f16 `d` and `dmin`, eight 6-bit scales and mins, 4-bit
    /// quants (llama.cpp `Q4_K`, the bulk of a `Q4_K_M` file).
    Q4K,
    /// `Q4_K` with 5-bit quants (llama.cpp `Q5_K`).
    Q5K,
    /// 256 weights: f16 `d`, sixteen 8-bit scales, 6-bit quants (llama.cpp
    /// `Q6_K`).
    Q6K,
}

impl QuantFormat {
    /// Weights per block.
    pub fn block_len(self) -> usize {
        match self {
            QuantFormat::Q8_0 | QuantFormat::Q5_0 | QuantFormat::Q4_0 => 32,
            QuantFormat::Q4K | QuantFormat::Q5K | QuantFormat::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            QuantFormat::Q8_0 => q8_0::BLOCK_BYTES,
            QuantFormat::Q5_0 => q5_0::BLOCK_BYTES,
            QuantFormat::Q4_0 => q4_0::BLOCK_BYTES,
            QuantFormat::Q4K => q4_k::BLOCK_BYTES,
            QuantFormat::Q5K => q5_k::BLOCK_BYTES,
            QuantFormat::Q6K => q6_k::BLOCK_BYTES,
        }
    }

    /// The name users write (`--quantize q8_0`) and logs print.
    pub fn name(self) -> &'static str {
        match self {
            QuantFormat::Q8_0 => "q8_0",
            QuantFormat::Q5_0 => "q5_0",
            QuantFormat::Q4_0 => "q4_0",
            QuantFormat::Q4K => "q4_k",
            QuantFormat::Q5K => "q5_k",
            QuantFormat::Q6K => "q6_k",
        }
    }

    /// Parses the formats weir quantizes to, `q8_0` or `q4_k`
    /// (case-insensitive; `q4_k_m` is accepted as `q4_k`, the format a
    /// `Q4_K_M` file is mostly made of).
    pub fn parse(s: &str) -> Option<QuantFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "q8_0" | "q8" => Some(QuantFormat::Q8_0),
            "q4_k" | "q4_k_m" | "q4k" => Some(QuantFormat::Q4K),
            _ => None,
        }
    }

    /// The format a matrix with `cols` columns is quantized to when `self`
    /// is asked for: `self` when `cols` is a whole number of blocks, else
    /// `Q8_0` (as llama.cpp falls back for rows not divisible by 256), else
    /// None (the matrix stays unquantized).
    pub fn for_cols(self, cols: usize) -> Option<QuantFormat> {
        [self, QuantFormat::Q8_0]
            .into_iter()
            .find(|f| cols > 0 && cols.is_multiple_of(f.block_len()))
    }
}

/// Why a quantized matrix could not be built.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The row length is not a whole number of blocks.
    #[error("{format}: {cols} columns are not a multiple of the {block}-weight block")]
    Ragged {
        /// Format name.
        format: &'static str,
        /// Columns asked for.
        cols: usize,
        /// Weights per block.
        block: usize,
    },
    /// weir reads this format but does not quantize to it.
    #[error("{format}: weir reads this format from GGUF files but does not quantize to it")]
    NoQuantizer {
        /// Format name.
        format: &'static str,
    },
    /// The bytes given do not hold `rows` rows.
    #[error("{format}: {have} bytes given, [{rows}, {cols}] needs {need}")]
    Size {
        /// Format name.
        format: &'static str,
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
}

/// A quantized weight matrix `[rows, cols]` (nn.Linear's `[out, in]`):
/// each row is `cols / block_len` blocks of `format`, rows one after another.
#[derive(Clone, Debug)]
pub struct QuantMatrix {
    format: QuantFormat,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

impl QuantMatrix {
    /// Wraps bytes already in `format`'s block layout (a GGUF tensor).
    pub fn from_bytes(
        format: QuantFormat,
        rows: usize,
        cols: usize,
        data: Vec<u8>,
    ) -> Result<Self, QuantError> {
        let need = Self::bytes_for(format, rows, cols)?;
        if data.len() != need {
            return Err(QuantError::Size {
                format: format.name(),
                rows,
                cols,
                need,
                have: data.len(),
            });
        }
        Ok(Self {
            format,
            rows,
            cols,
            data,
        })
    }

    /// Quantizes `[rows, cols]` row-major values (rows in parallel; each
    /// row's bytes depend only on that row).
    pub fn quantize(
        format: QuantFormat,
        rows: usize,
        cols: usize,
        values: &[f32],
    ) -> Result<Self, QuantError> {
        Self::quantize_rows(format, rows, cols, |r, out| {
            out.copy_from_slice(&values[r * cols..(r + 1) * cols])
        })
    }

    /// Quantizes a matrix whose row `r` is written into the given buffer by
    /// `row(r, buf)` (so a bf16 checkpoint never exists whole as f32).
    pub fn quantize_rows(
        format: QuantFormat,
        rows: usize,
        cols: usize,
        row: impl Fn(usize, &mut [f32]) + Sync,
    ) -> Result<Self, QuantError> {
        let quantize_row: fn(&[f32], &mut [u8]) = match format {
            QuantFormat::Q8_0 => q8_0::quantize_row,
            QuantFormat::Q4K => q4_k::quantize_row,
            f => return Err(QuantError::NoQuantizer { format: f.name() }),
        };
        let need = Self::bytes_for(format, rows, cols)?;
        let row_bytes = need.checked_div(rows).unwrap_or(0);
        let mut data = vec![0u8; need];
        if row_bytes > 0 {
            data.par_chunks_mut(row_bytes).enumerate().for_each_init(
                || vec![0.0f32; cols],
                |buf, (r, out)| {
                    row(r, buf);
                    quantize_row(buf, out);
                },
            );
        }
        Ok(Self {
            format,
            rows,
            cols,
            data,
        })
    }

    fn bytes_for(format: QuantFormat, rows: usize, cols: usize) -> Result<usize, QuantError> {
        let block = format.block_len();
        if !cols.is_multiple_of(block) {
            return Err(QuantError::Ragged {
                format: format.name(),
                cols,
                block,
            });
        }
        Ok(rows
            .saturating_mul(cols / block)
            .saturating_mul(format.block_bytes()))
    }

    /// The block format.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// (rows, cols).
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// All blocks, row after row.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.format.block_len() * self.format.block_bytes()
    }

    /// Row `r`'s blocks.
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Row `r` as f32 (the reference dequantization).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let row = self.row(r);
        match self.format {
            QuantFormat::Q8_0 => q8_0::dequantize_row(row, out),
            QuantFormat::Q5_0 => q5_0::dequantize_row(row, out),
            QuantFormat::Q4_0 => q4_0::dequantize_row(row, out),
            QuantFormat::Q4K => q4_k::dequantize_row(row, out),
            QuantFormat::Q5K => q5_k::dequantize_row(row, out),
            QuantFormat::Q6K => q6_k::dequantize_row(row, out),
        }
    }

    /// The whole matrix as f32 (tests and small tools).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        for (r, o) in out.chunks_exact_mut(self.cols.max(1)).enumerate() {
            self.dequantize_row(r, o);
        }
        out
    }

    /// A matrix whose row `i` is this one's row `rows[i]`.
    pub fn gather_rows(&self, rows: &[usize]) -> QuantMatrix {
        let mut data = Vec::with_capacity(rows.len() * self.row_bytes());
        for &r in rows {
            data.extend_from_slice(self.row(r));
        }
        QuantMatrix {
            format: self.format,
            rows: rows.len(),
            cols: self.cols,
            data,
        }
    }

    /// Stacks matrices of one format and width (fused q/k/v, gate/up).
    pub fn vstack(parts: Vec<QuantMatrix>) -> Option<QuantMatrix> {
        let first = parts.first()?;
        let (format, cols) = (first.format, first.cols);
        if parts.iter().any(|p| p.format != format || p.cols != cols) {
            return None;
        }
        let rows = parts.iter().map(|p| p.rows).sum();
        let mut data = Vec::with_capacity(parts.iter().map(|p| p.data.len()).sum());
        for p in parts {
            data.extend_from_slice(&p.data);
        }
        Some(QuantMatrix {
            format,
            rows,
            cols,
            data,
        })
    }
}

/// A matrix of random blocks of `format` (every byte random but the f16
/// scales, which are finite, of mixed sign, and sized like a real model's):
/// the kernels must be right for every block a file can hold, including
/// formats weir cannot quantize to.
#[cfg(test)]
pub(crate) fn random_matrix(
    format: QuantFormat,
    rows: usize,
    cols: usize,
    seed: u64,
) -> QuantMatrix {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let bytes = QuantMatrix::bytes_for(format, rows, cols).expect("whole blocks");
    let mut data: Vec<u8> = (0..bytes).map(|_| next() as u8).collect();
    let mut scale = |b: &mut [u8], at: usize, size: f32| {
        let v = ((next() >> 11) as f32 / (1u64 << 53) as f32 - 0.5) * size;
        b[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes());
    };
    for b in data.chunks_exact_mut(format.block_bytes()) {
        match format {
            QuantFormat::Q8_0 | QuantFormat::Q5_0 | QuantFormat::Q4_0 => scale(b, 0, 0.02),
            QuantFormat::Q4K | QuantFormat::Q5K => {
                scale(b, 0, 0.004);
                scale(b, 2, 0.004);
            }
            QuantFormat::Q6K => scale(b, q6_k::D, 0.0004),
        }
    }
    QuantMatrix::from_bytes(format, rows, cols, data).expect("sized above")
}

/// Dequantizes 32-weight blocks whose f16 scale comes first and whose
/// signed quants `quants(block)` gives: `d * q`, exact in f32.
pub(crate) fn dequantize_b32(
    blocks: &[u8],
    out: &mut [f32],
    bytes: usize,
    quants: impl Fn(&[u8]) -> [i8; 32],
) {
    for (b, o) in blocks.chunks_exact(bytes).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(b, 0);
        for (v, q) in o.iter_mut().zip(quants(b)) {
            *v = d * q as f32;
        }
    }
}

/// Reads the little-endian f16 at `b[i..i + 2]` as f32 (exact).
#[inline(always)]
pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn round_trip_error_is_what_the_bits_allow() {
        for (format, bound) in [(QuantFormat::Q8_0, 0.005), (QuantFormat::Q4K, 0.09)] {
            let (rows, cols) = (5, 512);
            let v = lcg(7, rows * cols);
            let q = QuantMatrix::quantize(format, rows, cols, &v).unwrap();
            assert_eq!(q.bytes().len(), rows * q.row_bytes());
            let d = q.dequantize();
            let rms = (v.iter().zip(&d).map(|(a, b)| (a - b).powi(2)).sum::<f32>()
                / v.len() as f32)
                .sqrt();
            assert!(rms < bound, "{format:?}: rms error {rms}");
            assert!(rms > 0.0, "{format:?}: lossless is impossible here");
        }
    }

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// Goldens from gguf-py (`scripts/make_quant_fixtures.py`): its
    /// dequantization of blocks of every format equals ours bit for bit,
    /// and its Q8_0 quantization of the same values gives our bytes.
    #[test]
    fn gguf_py_goldens_bit_for_bit() {
        let (rows, cols) = (6, 512);
        macro_rules! golden {
            ($format:expr, $name:literal) => {
                (
                    $format,
                    &include_bytes!(concat!("../../tests/data/quant/", $name, ".blocks"))[..],
                    &include_bytes!(concat!("../../tests/data/quant/", $name, ".f32"))[..],
                )
            };
        }
        let cases = [
            golden!(QuantFormat::Q8_0, "q8_0"),
            golden!(QuantFormat::Q5_0, "q5_0"),
            golden!(QuantFormat::Q4_0, "q4_0"),
            golden!(QuantFormat::Q4K, "q4_k"),
            golden!(QuantFormat::Q5K, "q5_k"),
            golden!(QuantFormat::Q6K, "q6_k"),
        ];
        for (format, blocks, want) in cases {
            let q = QuantMatrix::from_bytes(format, rows, cols, blocks.to_vec()).unwrap();
            let got = q.dequantize();
            let want = f32s(want);
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{format:?} value {i}: {g} vs gguf-py {w}"
                );
            }
        }
        let src = f32s(include_bytes!("../../tests/data/quant/q8_0.src.f32"));
        let ours = QuantMatrix::quantize(QuantFormat::Q8_0, rows, cols, &src).unwrap();
        assert_eq!(
            ours.bytes(),
            &include_bytes!("../../tests/data/quant/q8_0.blocks")[..]
        );
        assert!(matches!(
            QuantMatrix::quantize(QuantFormat::Q6K, 1, 256, &[0.0; 256]),
            Err(QuantError::NoQuantizer { .. })
        ));
    }

    #[test]
    fn ragged_widths_and_wrong_sizes_are_errors() {
        assert!(matches!(
            QuantMatrix::quantize(QuantFormat::Q8_0, 1, 33, &[0.0; 33]),
            Err(QuantError::Ragged { .. })
        ));
        assert!(matches!(
            QuantMatrix::from_bytes(QuantFormat::Q4K, 2, 256, vec![0; 144]),
            Err(QuantError::Size { need: 288, .. })
        ));
        assert_eq!(QuantFormat::Q4K.for_cols(896), Some(QuantFormat::Q8_0));
        assert_eq!(QuantFormat::Q4K.for_cols(2048), Some(QuantFormat::Q4K));
        assert_eq!(QuantFormat::Q8_0.for_cols(20), None);
    }

    #[test]
    fn vstack_concatenates_rows() {
        let a = QuantMatrix::quantize(QuantFormat::Q8_0, 2, 64, &lcg(1, 128)).unwrap();
        let b = QuantMatrix::quantize(QuantFormat::Q8_0, 3, 64, &lcg(2, 192)).unwrap();
        let s = QuantMatrix::vstack(vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(s.shape(), (5, 64));
        assert_eq!(s.row(3), b.row(1));
        assert_eq!(s.row(1), a.row(1));
    }
}
