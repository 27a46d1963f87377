use super::*;
use crate::backend::cpu::sample::rand_vec;
use crate::backend::cpu::test_isas;

/// A matrix with rows of different magnitudes (and one all-zero row), so
/// scales differ from block to block.
fn weights(format: QuantFormat, n: usize, k: usize, seed: u64) -> QuantMatrix {
    let mut v = rand_vec(n * k, seed);
    for (r, row) in v.chunks_exact_mut(k).enumerate() {
        let g = match r % 5 {
            0 => 0.02,
            1 => 1.0,
            2 => 7.5,
            3 if r == 3 => 0.0,
            _ => 0.3,
        };
        row.iter_mut().for_each(|x| *x *= g);
    }
    match QuantMatrix::quantize(format, n, k, &v) {
        Ok(q) => q,
        // Formats weir only reads: random blocks.
        Err(_) => crate::quant::random_matrix(format, n, k, seed),
    }
}

const CASES: [(QuantFormat, usize); 13] = [
    (QuantFormat::Q8_0, 32),
    (QuantFormat::Q8_0, 96),
    (QuantFormat::Q8_0, 896),
    (QuantFormat::Q5_0, 32),
    (QuantFormat::Q5_0, 896),
    (QuantFormat::Q4_0, 64),
    (QuantFormat::Q4_0, 896),
    (QuantFormat::Q4K, 256),
    (QuantFormat::Q4K, 768),
    (QuantFormat::Q5K, 256),
    (QuantFormat::Q5K, 768),
    (QuantFormat::Q6K, 256),
    (QuantFormat::Q6K, 768),
];

/// Every ISA gives the scalar reference's bits, at ragged m and n.
#[test]
fn every_isa_matches_the_scalar_reference_bit_for_bit() {
    for (format, k) in CASES {
        for (m, n) in [(1, 1), (1, 7), (2, 5), (3, 13), (5, 4), (9, 33)] {
            let w = weights(format, n, k, 11);
            let x = rand_vec(m * k, 5);
            let mut want = vec![0.0; m * n];
            qmatmul_with_isa(Isa::Scalar, &x, m, &w, &mut want);
            for isa in test_isas::all() {
                let mut got = vec![f32::NAN; m * n];
                qmatmul_with_isa(isa, &x, m, &w, &mut got);
                for (e, (g, r)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        g.to_bits(),
                        r.to_bits(),
                        "{format:?} {isa:?} m={m} n={n} k={k} elem {e}: {g} vs {r}"
                    );
                }
            }
        }
    }
}

/// The result is the product with the dequantized weights, up to the
/// activations' 8-bit quantization: within 1% of `sum |x| |w|`.
#[test]
fn close_to_the_dequantized_product() {
    for (format, k) in CASES {
        let (m, n) = (3, 10);
        let w = weights(format, n, k, 3);
        let wd = w.dequantize();
        let x = rand_vec(m * k, 8);
        let mut got = vec![0.0; m * n];
        qmatmul(&x, m, &w, &mut got);
        for i in 0..m {
            for j in 0..n {
                let (mut exact, mut mag) = (0.0f64, 0.0f64);
                for t in 0..k {
                    let (a, b) = (x[i * k + t] as f64, wd[j * k + t] as f64);
                    exact += a * b;
                    mag += (a * b).abs();
                }
                let err = (got[i * n + j] as f64 - exact).abs();
                assert!(
                    err <= 0.01 * mag + 1e-6,
                    "{format:?} ({i},{j}): {} vs {exact} (mag {mag})",
                    got[i * n + j]
                );
            }
        }
    }
}

/// Batch invariance: a row alone and inside batches of 1..=40 rows, on one
/// or three threads, gives the same bits.
#[test]
fn batch_invariant_bits() {
    for (format, k) in [
        (QuantFormat::Q8_0, 896),
        (QuantFormat::Q5_0, 896),
        (QuantFormat::Q4K, 512),
        (QuantFormat::Q6K, 512),
    ] {
        let n = 70;
        let w = weights(format, n, k, 21);
        let x = rand_vec(40 * k, 2);
        for isa in test_isas::all() {
            let mut alone = vec![0.0; n];
            qmatmul_with_isa(isa, &x[..k], 1, &w, &mut alone);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for m in [1, 2, 3, 8, 17, 40] {
                    let mut out = vec![0.0; m * n];
                    pool.install(|| qmatmul_with_isa(isa, &x[..m * k], m, &w, &mut out));
                    for j in 0..n {
                        assert_eq!(
                            out[j].to_bits(),
                            alone[j].to_bits(),
                            "{format:?} {isa:?} m={m} t={threads} j={j}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn zero_activations_give_zero() {
    for (format, k) in CASES {
        let w = weights(format, 6, k, 4);
        let mut out = vec![f32::NAN; 2 * 6];
        qmatmul(&vec![0.0; 2 * k], 2, &w, &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "{format:?}: {out:?}");
    }
}

/// The activations are quantized as llama.cpp quantizes them: for 32-blocks
/// (its AVX2 `quantize_row_q8_0`) the scale rounded to f16 and
/// `q = round(x * 127 / amax)`; for 256-blocks (`quantize_row_q8_K_ref`)
/// the largest-magnitude element mapped to -127 and a negative scale for a
/// positive one.
#[test]
fn activations_quantize_as_llama_cpp_does() {
    let mut x: Vec<f32> = (0..256).map(|i| (i as f32 - 100.3) * 0.013).collect();
    x[7] = 2.5; // the largest magnitude, positive
    let r = QuantizedRows::quantize(&x, 1, 256, QuantFormat::Q8_0);
    let amax0 = x[..32].iter().fold(0.0f32, |a, v| a.max(v.abs()));
    assert_eq!(r.d[0], half::f16::from_f32(amax0 / 127.0).to_f32());
    assert_eq!(r.q[7], 127);
    assert_eq!(r.q[0], (x[0] * (127.0 / amax0)).round_ties_even() as i8);
    let r = QuantizedRows::quantize(&x, 1, 256, QuantFormat::Q4K);
    assert_eq!(r.d[0], 1.0 / (-127.0 / 2.5));
    assert_eq!(r.q[7], -127);
    assert_eq!(r.sums[0], r.q[..32].iter().map(|&v| v as i16).sum::<i16>());
}

/// Every ISA quantizes activations to the scalar path's bits: ties
/// (`x * id` exactly half-way), a largest magnitude that is negative or
/// tied with its opposite (the first wins), all-zero and -0.0 blocks, and
/// enough rows for the parallel path.
#[test]
fn every_isa_quantizes_activations_as_the_scalar_path() {
    let (m, k) = (40, 1024);
    let mut x = rand_vec(m * k, 17);
    // Row 0: every block's largest magnitude is 127 (its first element),
    // so the multiplier is exactly +-1 and the half-integers elsewhere are
    // ties.
    for (i, v) in x[..k].iter_mut().enumerate() {
        *v = if i % 32 == 0 {
            127.0
        } else {
            (i % 64) as f32 - 31.5
        };
    }
    x[k..k + 256].fill(0.0);
    x[k + 256..k + 512].fill(-0.0);
    x[2 * k + 3] = -9.0; // the largest magnitude, negative
    x[3 * k + 5] = 9.0; // tied magnitudes, opposite signs: the first wins
    x[3 * k + 6] = -9.0;
    x[4 * k..5 * k].iter_mut().for_each(|v| *v *= 1e-30);
    for format in [QuantFormat::Q8_0, QuantFormat::Q4K] {
        let want = QuantizedRows::quantize_with_isa(Isa::Scalar, &x, m, k, format);
        for isa in test_isas::all() {
            let got = QuantizedRows::quantize_with_isa(isa, &x, m, k, format);
            assert_eq!(got.q, want.q, "{format:?} {isa:?} quants");
            assert_eq!(got.sums, want.sums, "{format:?} {isa:?} sums");
            let bits = |d: &[f32]| d.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.d), bits(&want.d), "{format:?} {isa:?} scales");
        }
    }
}

#[test]
fn word_mask_unpacking_equals_scale_min() {
    let bytes: Vec<u8> = rand_vec(12 * 50, 9)
        .iter()
        .map(|v| (v.to_bits() >> 3) as u8)
        .collect();
    for p in bytes.chunks_exact(12) {
        let (sc, m) = unpack_q4_k_scales(p);
        for j in 0..8 {
            assert_eq!(
                (sc[j], m[j]),
                q4_k::scale_min(j, p),
                "sub-block {j} of {p:?}"
            );
        }
    }
}

/// A weight of -128 (never made by our quantizer, legal in a GGUF file) is
/// still multiplied exactly.
#[test]
fn q8_0_minus_128_is_exact() {
    let mut bytes = vec![0u8; 34];
    bytes[..2].copy_from_slice(&half::f16::ONE.to_bits().to_le_bytes());
    bytes[2] = (-128i8) as u8;
    let w = QuantMatrix::from_bytes(QuantFormat::Q8_0, 1, 32, bytes).unwrap();
    let mut x = vec![0.0f32; 32];
    // amax 127: the activation scale is 1 (exact in f16), q = -127.
    x[0] = -127.0;
    for isa in test_isas::all() {
        let mut out = [0.0f32];
        qmatmul_with_isa(isa, &x, 1, &w, &mut out);
        assert_eq!(out[0], 128.0 * 127.0, "{isa:?}");
    }
}
