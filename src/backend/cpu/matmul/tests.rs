//! Tests of the matmul kernels: every ISA path against the scalar reference.

use super::*;
pub(crate) use crate::backend::cpu::sample::rand_vec;

/// f64 reference: returns (value, sum |x w|).
fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<(f64, f64)> {
    let mut r = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut a) = (0.0f64, 0.0f64);
            for kk in 0..k {
                let p = x[i * k + kk] as f64 * w[j * k + kk] as f64;
                s += p;
                a += p.abs();
            }
            r.push((s, a));
        }
    }
    r
}

enum Dt {
    F32,
    Bf16,
    F16,
}

fn weights(dt: &Dt, n: usize, k: usize, seed: u64) -> (Vec<f32>, Vec<bf16>, Vec<f16>) {
    let w = rand_vec(n * k, seed);
    match dt {
        Dt::F32 => (w, vec![], vec![]),
        Dt::Bf16 => {
            let b: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            (b.iter().map(|v| v.to_f32()).collect(), b, vec![])
        }
        Dt::F16 => {
            let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            (h.iter().map(|v| v.to_f32()).collect(), vec![], h)
        }
    }
}

fn view<'a>(dt: &Dt, w: &'a (Vec<f32>, Vec<bf16>, Vec<f16>)) -> WeightView<'a> {
    match dt {
        Dt::F32 => WeightView::F32(&w.0),
        Dt::Bf16 => WeightView::Bf16(&w.1),
        Dt::F16 => WeightView::F16(&w.2),
    }
}

/// Every ISA, failing on one this CPU lacks unless opted out (see `test_isas`).
fn isas() -> Vec<Isa> {
    crate::backend::cpu::test_isas::all()
}

/// Every ISA and dtype against the f64 reference on odd shapes.
///
/// Tolerance per element, relative to `S = sum |x w|`:
/// * f32 accumulation (all non-dpbf16 paths): `(k/8 + 8) * 2^-24 * S`
///   (8 or 16 lanes each summing k/L terms, plus the 4-level tree).
/// * dpbf16 path: activations rounded to bf16 add `2^-9 * S`.
#[test]
fn matches_reference_all_isas_odd_shapes() {
    let shapes = [
        (1, 1, 1),
        (1, 37, 5),
        (3, 95, 7),
        (17, 130, 33),
        (5, 896, 19),
        (4, 64, 8),
        (9, 33, 4),
    ];
    for isa in isas() {
        for dt in [Dt::F32, Dt::Bf16, Dt::F16] {
            for &(m, k, n) in &shapes {
                let x = rand_vec(m * k, 7 + m as u64);
                let ws = weights(&dt, n, k, 11 + k as u64);
                let mut out = vec![f32::NAN; m * n];
                matmul_with_isa(isa, &x, m, k, view(&dt, &ws), n, &mut out);
                let r = reference(&x, m, k, &ws.0, n);
                let dp = isa == Isa::Avx512Bf16 && matches!(dt, Dt::Bf16);
                for (e, (&o, &(v, s))) in out.iter().zip(&r).enumerate() {
                    let mut tol = (k as f64 / 8.0 + 8.0) * 2f64.powi(-24) * s;
                    if dp {
                        tol += 2f64.powi(-9) * s;
                    }
                    assert!(
                        (o as f64 - v).abs() <= tol + 1e-30,
                        "{isa:?} {} m={m} k={k} n={n} elem {e}: got {o}, want {v} (tol {tol})",
                        view(&dt, &ws).dtype_name()
                    );
                }
            }
        }
    }
}

/// The SIMD activation rounding equals `half`'s RNE conversion bit for bit.
#[cfg(target_arch = "x86_64")]
#[test]
fn bf16_rounding_matches_half() {
    if !crate::backend::cpu::test_isas::runs(Isa::Avx512Bf16) {
        return;
    }
    let mut x = rand_vec(1000, 3);
    // Ties and specials.
    x.extend([
        f32::from_bits(0x3f80_8000),
        f32::from_bits(0x3f81_8000),
        0.0,
        -0.0,
        1e-40,
        f32::INFINITY,
        65504.0,
    ]);
    let k = x.len();
    // SAFETY: feature checked above.
    let xb = unsafe { x86::round_rows_bf16(&x, 1, k, k.next_multiple_of(32)) };
    for (i, &v) in x.iter().enumerate() {
        // vcvtne2ps2bf16 treats subnormal inputs as zero (so does vdpbf16ps).
        let want = if v.is_subnormal() {
            f32_to_bf16_rne(0.0f32.copysign(v))
        } else {
            f32_to_bf16_rne(v)
        };
        assert_eq!(xb[i], want.to_bits(), "elem {i} = {v}");
    }
    assert!(xb[k..].iter().all(|&b| b == 0));
}

/// The transposed 16-accumulator reduction equals the one-accumulator tree.
#[cfg(target_arch = "x86_64")]
#[test]
fn reduce_4x4_matches_hsum_tree() {
    use std::arch::x86_64::*;
    if !crate::backend::cpu::test_isas::runs(Isa::Avx512) {
        return;
    }
    let v = rand_vec(256, 5);
    let v: Vec<f32> = v
        .iter()
        .enumerate()
        .map(|(i, &a)| a * 10f32.powi((i % 7) as i32 - 3))
        .collect();
    // SAFETY: feature checked above; loads read 16 f32 from v.
    let (r, singles) = unsafe {
        let acc: [__m512; 16] = std::array::from_fn(|a| _mm512_loadu_ps(v[16 * a..].as_ptr()));
        let r = x86::reduce_4x4(&acc);
        let s: Vec<f32> = acc.iter().map(|&a| x86::hsum16(a)).collect();
        let mut out = [0f32; 16];
        _mm512_storeu_ps(out.as_mut_ptr(), r);
        (out, s)
    };
    for i in 0..4 {
        for j in 0..4 {
            let mut lanes = v[16 * (4 * j + i)..16 * (4 * j + i + 1)].to_vec();
            let t = hsum_tree(&mut lanes);
            assert_eq!(r[4 * i + j].to_bits(), t.to_bits());
            assert_eq!(singles[4 * j + i].to_bits(), t.to_bits());
        }
    }
}

/// Batch invariance: row 0's output is bit-identical alone and inside any
/// batch of 1..=67 rows, at any thread count, for every ISA and dtype.
/// The k-blocked walk (long rows, batched decode) gives every element the
/// same bits as the plain walk: a row computed alone (m = 1, plain) equals
/// the same row inside batches that take the k-blocked path.
#[test]
#[cfg(target_arch = "x86_64")]
fn k_blocked_walk_keeps_bits() {
    if !crate::backend::cpu::test_isas::runs(Isa::Avx512Bf16) {
        return;
    }
    let k = x86::KBLOCK_MIN_K + 32 * 40 + 19; // several spans and a tail
    let n = 37;
    let x = rand_vec((x86::KBLOCK_MAX_M + 2) * k, 7);
    let ws = weights(&Dt::Bf16, n, k, 3);
    let w = view(&Dt::Bf16, &ws);
    let mut alone = vec![0.0; n];
    matmul_with_isa(Isa::Avx512Bf16, &x[..k], 1, k, w, n, &mut alone);
    for m in [5, 8, 16, 23, x86::KBLOCK_MAX_M, x86::KBLOCK_MAX_M + 1] {
        let mut out = vec![0.0; m * n];
        matmul_with_isa(Isa::Avx512Bf16, &x[..m * k], m, k, w, n, &mut out);
        for j in 0..n {
            assert_eq!(out[j].to_bits(), alone[j].to_bits(), "m={m} j={j}");
        }
    }
}

#[test]
fn batch_invariant_bits() {
    let (k, n) = (200, 75);
    let x = rand_vec(68 * k, 99);
    for dt in [Dt::Bf16, Dt::F32, Dt::F16] {
        let ws = weights(&dt, n, k, 5);
        let w = view(&dt, &ws);
        for isa in isas() {
            let mut alone = vec![0.0; n];
            matmul_with_isa(isa, &x[..k], 1, k, w, n, &mut alone);
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for m in 1..=67 {
                    // Put the probe row at a varying position.
                    let pos = (m * 7 + 3) % m;
                    let mut xb = x[k..(m + 1) * k].to_vec();
                    xb.truncate(m * k);
                    xb[pos * k..(pos + 1) * k].copy_from_slice(&x[..k]);
                    let mut out = vec![0.0; m * n];
                    pool.install(|| matmul_with_isa(isa, &xb, m, k, w, n, &mut out));
                    let got = &out[pos * n..(pos + 1) * n];
                    for j in 0..n {
                        assert_eq!(
                            got[j].to_bits(),
                            alone[j].to_bits(),
                            "{isa:?} m={m} threads={threads} j={j}"
                        );
                    }
                }
                // A sub-range of n (row j of w alone) gives the same bits.
                let mut one = vec![0.0; 3];
                let wsub = match w {
                    WeightView::F32(s) => WeightView::F32(&s[10 * k..13 * k]),
                    WeightView::Bf16(s) => WeightView::Bf16(&s[10 * k..13 * k]),
                    WeightView::F16(s) => WeightView::F16(&s[10 * k..13 * k]),
                };
                pool.install(|| matmul_with_isa(isa, &x[..k], 1, k, wsub, 3, &mut one));
                for j in 0..3 {
                    assert_eq!(
                        one[j].to_bits(),
                        alone[10 + j].to_bits(),
                        "{isa:?} n-subset j={j}"
                    );
                }
            }
        }
    }
}

/// A large problem that takes the parallel, blocked path agrees with the
/// single-thread result bit for bit.
#[test]
fn parallel_blocked_equals_single_thread() {
    let (m, k, n) = (70, 900, 300);
    let x = rand_vec(m * k, 1);
    let ws = weights(&Dt::Bf16, n, k, 2);
    for isa in isas() {
        let mut a = vec![0.0; m * n];
        let mut b = vec![0.0; m * n];
        let p1 = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let p4 = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        p1.install(|| matmul_with_isa(isa, &x, m, k, WeightView::Bf16(&ws.1), n, &mut a));
        p4.install(|| matmul_with_isa(isa, &x, m, k, WeightView::Bf16(&ws.1), n, &mut b));
        assert!(
            a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
            "{isa:?}"
        );
    }
}

/// An infinite weight gives an infinite (not NaN) output on every path:
/// tail padding must multiply zeros, never a real weight.
#[test]
fn infinite_weight_stays_infinite() {
    let (k, n) = (13, 2);
    let x = vec![0.5f32; k];
    let mut w = vec![0.25f32; n * k];
    w[k] = f32::INFINITY; // row 1, column 0
    let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    for isa in isas() {
        for view in [
            WeightView::F32(&w),
            WeightView::Bf16(&wb),
            WeightView::F16(&wh),
        ] {
            let mut out = vec![0.0; n];
            matmul_with_isa(isa, &x, 1, k, view, n, &mut out);
            assert_eq!(out[1], f32::INFINITY, "{isa:?} {}", view.dtype_name());
            assert!(
                (out[0] - 0.125 * k as f32).abs() < 1e-3,
                "{isa:?} {}",
                view.dtype_name()
            );
        }
    }
}

#[test]
fn isa_parse_roundtrip() {
    for isa in Isa::ALL {
        assert_eq!(Isa::parse(isa.name()), Some(isa));
    }
    assert_eq!(Isa::parse("nope"), None);
    assert!(Isa::Scalar.is_supported());
    assert!(Isa::active() <= Isa::detected());
}

#[test]
fn zero_k_and_empty() {
    let mut out = vec![1.0; 6];
    matmul(&[], 2, 0, WeightView::F32(&[]), 3, &mut out);
    assert!(out.iter().all(|&v| v == 0.0));
    matmul(&[], 0, 4, WeightView::F32(&[0.0; 12]), 3, &mut out);
}
