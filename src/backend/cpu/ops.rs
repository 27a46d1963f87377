//! Element-wise and per-row CPU ops of a Llama/Qwen2 forward pass: RMSNorm,
//! NeoX rotary embedding, SwiGLU, embedding gather, bias add, log-softmax.
//!
//! All take and return f32. Every op is row-independent, so a row's result
//! never depends on the other rows of the batch (batch invariance).
//!
//! # Vectorisation without changing the numbers
//!
//! The hot loops are written once in plain Rust, with explicit lanes where a
//! sum is involved (e.g. 16 partial sums, then [`hsum_tree`]), and compiled
//! several times by `multiversion!`: for the baseline target, for AVX2+FMA
//! and for AVX-512. The compiler vectorises them, but Rust never contracts
//! `a * b + c` into an FMA nor reorders float sums, so all versions give the
//! same bits; [`Isa::active`] only picks the fastest.

use super::matmul::{hsum_tree, Isa, WeightView};

/// Defines `fn $name(isa: Isa, args..)` running `$body` compiled for the
/// baseline target, for AVX2+FMA and for AVX-512, picked by `isa`.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name(isa: Isa, $($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
            fn v512($($arg: $ty),*) { body($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn v256($($arg: $ty),*) { body($($arg),*) }
            match isa {
                // SAFETY: `isa` is supported by this CPU (callers pass
                // `Isa::active()` or a checked value), so are its features.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 | Isa::Avx512Bf16 => unsafe { v512($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2Fma => unsafe { v256($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

// ---------------------------------------------------------------------------
// exp
// ---------------------------------------------------------------------------

/// `e^x` in f32, written to vectorise (no calls, no branches).
///
/// Cephes `expf`: `n = round(x log2 e)`, `r = x - n ln2` (ln 2 split in two
/// for an exact product), `e^r` by a degree-5 polynomial on
/// `|r| <= ln2/2`, times `2^n` built in the exponent bits. Max error about
/// 2 ulp over the normal range (tested against f64). Saturates: `x > 88.376`
/// gives `+inf` (true value overflows at 88.72), `x < -87.336` gives `0`
/// (true value is subnormal there), NaN gives NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4; // ln 2 high part (exact in 9 bits)
    const C2: f32 = -2.121_944_4e-4; // ln 2 - C1
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    const HI: f32 = 88.376_26;
    const LO: f32 = -87.336_55;
    let xc = x.clamp(LO, HI);
    let t = xc * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = (xc - n * C1) - n * C2;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * (r * r) + r + 1.0;
    let ni = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    let scale = f32::from_bits(((ni + 127) << 23) as u32);
    let y = er * scale;
    let y = if x > HI { f32::INFINITY } else { y };
    if x < LO {
        0.0
    } else {
        y
    }
}

// ---------------------------------------------------------------------------
// RMSNorm
// ---------------------------------------------------------------------------

/// Lanes of the sum of squares in [`rms_row`].
const RMS_LANES: usize = 16;

/// One row of RMSNorm (the reference and the vectorised kernel are this same
/// code, see the module docs):
/// `ms = mean(x^2)` summed in 16 f32 lanes in order then [`hsum_tree`],
/// divided in f32; `inv = 1 / sqrt(ms + eps)` in f32;
/// `y[i] = w[i] * (x[i] * inv)` (PyTorch's `weight * (x * rsqrt(var + eps))`).
#[inline(always)]
fn rms_row(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let mut acc = [0.0f32; RMS_LANES];
    let mut chunks = x.chunks_exact(RMS_LANES);
    for c in &mut chunks {
        for l in 0..RMS_LANES {
            acc[l] += c[l] * c[l];
        }
    }
    for (l, v) in chunks.remainder().iter().enumerate() {
        acc[l] += v * v;
    }
    let ms = hsum_tree(&mut acc) / x.len() as f32;
    let inv = 1.0 / (ms + eps).sqrt();
    for ((o, &xv), &wv) in out.iter_mut().zip(x).zip(w) {
        *o = wv * (xv * inv);
    }
}

multiversion! {
    fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, dim: usize, out: &mut [f32]) {
        for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            rms_row(xr, w, eps, or);
        }
    }
}

multiversion! {
    fn add_rms_norm_rows(residual: &mut [f32], x: &[f32], w: &[f32], eps: f32, dim: usize, out: &mut [f32]) {
        for ((rr, xr), or) in residual.chunks_exact_mut(dim).zip(x.chunks_exact(dim)).zip(out.chunks_exact_mut(dim)) {
            for (r, &v) in rr.iter_mut().zip(xr) {
                *r += v;
            }
            rms_row(rr, w, eps, or);
        }
    }
}

fn check_rows(op: &str, len: usize, dim: usize) -> usize {
    assert!(
        dim > 0 && len.is_multiple_of(dim),
        "{op}: length {len} is not a multiple of dim {dim}"
    );
    len / dim
}

/// `y = x / sqrt(mean(x^2) + eps) * w`, per row of length `dim`
/// (Llama/Qwen RMSNorm, computed in f32; the mean of squares is summed in 16
/// f32 lanes then a fixed tree). `x` and `out` hold whole rows.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, dim: usize, out: &mut [f32]) {
    rms_norm_with_isa(Isa::active(), x, w, eps, dim, out);
}

/// [`rms_norm`] with an explicit ISA (all ISAs give identical bits).
pub fn rms_norm_with_isa(isa: Isa, x: &[f32], w: &[f32], eps: f32, dim: usize, out: &mut [f32]) {
    let rows = check_rows("rms_norm", x.len(), dim);
    assert_eq!(
        w.len(),
        dim,
        "rms_norm: weight has {} elements, dim is {dim}",
        w.len()
    );
    assert_eq!(
        out.len(),
        rows * dim,
        "rms_norm: out has {} elements, need {}",
        out.len(),
        rows * dim
    );
    assert!(isa.is_supported(), "rms_norm: ISA {isa:?} not supported");
    rms_norm_rows(isa, x, w, eps, dim, out);
}

/// In-place [`rms_norm`]: `x = rms_norm(x) * w`.
pub fn rms_norm_inplace(x: &mut [f32], w: &[f32], eps: f32, dim: usize) {
    let rows = check_rows("rms_norm_inplace", x.len(), dim);
    assert_eq!(
        w.len(),
        dim,
        "rms_norm_inplace: weight has {} elements, dim is {dim}",
        w.len()
    );
    let mut tmp = vec![0.0f32; dim];
    for r in 0..rows {
        let row = &mut x[r * dim..(r + 1) * dim];
        rms_norm_rows(Isa::active(), row, w, eps, dim, &mut tmp);
        row.copy_from_slice(&tmp);
    }
}

/// Fused pre-norm step: `residual += x; out = rms_norm(residual) * w`, per row.
pub fn add_rms_norm(
    residual: &mut [f32],
    x: &[f32],
    w: &[f32],
    eps: f32,
    dim: usize,
    out: &mut [f32],
) {
    let rows = check_rows("add_rms_norm", residual.len(), dim);
    assert_eq!(
        x.len(),
        residual.len(),
        "add_rms_norm: x has {} elements, residual {}",
        x.len(),
        residual.len()
    );
    assert_eq!(
        w.len(),
        dim,
        "add_rms_norm: weight has {} elements, dim is {dim}",
        w.len()
    );
    assert_eq!(
        out.len(),
        rows * dim,
        "add_rms_norm: out has {} elements, need {}",
        out.len(),
        rows * dim
    );
    add_rms_norm_rows(Isa::active(), residual, x, w, eps, dim, out);
}

// ---------------------------------------------------------------------------
// RoPE
// ---------------------------------------------------------------------------

/// NeoX-style rotary embedding (rotate halves: pairs `(i, i + d/2)`) applied
/// in place to `x` laid out `[tokens, heads, head_dim]`, token `t` at absolute
/// position `positions[t]`.
///
/// As in Hugging Face: `angle = (pos as f32) * inv_freq[i]` (one f32
/// product, like `positions.float() @ inv_freq.float()`),
/// `cos = cos(angle) * attention_scaling`, `sin = sin(angle) * attention_scaling`
/// (f32 `cos`/`sin` from the platform libm), then
/// `y[i] = x[i] cos - x[i + d/2] sin`, `y[i + d/2] = x[i + d/2] cos + x[i] sin`.
/// `attention_scaling` is YaRN's mscale (1.0 otherwise).
pub fn rope_neox(
    x: &mut [f32],
    positions: &[u32],
    heads: usize,
    head_dim: usize,
    inv_freq: &[f32],
    attention_scaling: f32,
) {
    let half = head_dim / 2;
    assert!(
        head_dim.is_multiple_of(2) && head_dim > 0,
        "rope_neox: head_dim {head_dim} must be even and positive"
    );
    assert_eq!(
        inv_freq.len(),
        half,
        "rope_neox: inv_freq has {} entries, need head_dim/2 = {half}",
        inv_freq.len()
    );
    let row = heads * head_dim;
    assert_eq!(
        x.len(),
        positions.len() * row,
        "rope_neox: x has {} elements, need tokens*heads*head_dim = {}",
        x.len(),
        positions.len() * row
    );
    let mut cos = vec![0.0f32; half];
    let mut sin = vec![0.0f32; half];
    for (t, &pos) in positions.iter().enumerate() {
        for i in 0..half {
            let angle = pos as f32 * inv_freq[i];
            cos[i] = angle.cos() * attention_scaling;
            sin[i] = angle.sin() * attention_scaling;
        }
        for hx in x[t * row..(t + 1) * row].chunks_exact_mut(head_dim) {
            let (a, b) = hx.split_at_mut(half);
            for i in 0..half {
                let (x1, x2) = (a[i], b[i]);
                a[i] = x1 * cos[i] - x2 * sin[i];
                b[i] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }
}

// ---------------------------------------------------------------------------
// SwiGLU
// ---------------------------------------------------------------------------

/// `silu(g) * u` with `silu(g) = g / (1 + e^-g)` and [`exp_f32`]; the
/// reference and the kernel of [`silu_mul`].
#[inline(always)]
pub fn silu_mul_scalar(g: f32, u: f32) -> f32 {
    g / (1.0 + exp_f32(-g)) * u
}

multiversion! {
    fn silu_mul_rows(gate_up: &[f32], inter: usize, out: &mut [f32]) {
        for (gu, o) in gate_up.chunks_exact(2 * inter).zip(out.chunks_exact_mut(inter)) {
            let (g, u) = gu.split_at(inter);
            for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                *o = silu_mul_scalar(g, u);
            }
        }
    }
}

/// SwiGLU: `gate_up` is `[tokens, 2*inter]` with the gate in the first half
/// of each row and up in the second; `out[t][i] = silu(gate) * up`,
/// `silu(g) = g / (1 + exp(-g))` (exp within ~2 ulp, see [`exp_f32`]).
pub fn silu_mul(gate_up: &[f32], inter: usize, out: &mut [f32]) {
    silu_mul_with_isa(Isa::active(), gate_up, inter, out);
}

/// [`silu_mul`] with an explicit ISA (all ISAs give identical bits).
pub fn silu_mul_with_isa(isa: Isa, gate_up: &[f32], inter: usize, out: &mut [f32]) {
    let tokens = check_rows("silu_mul", gate_up.len(), 2 * inter);
    assert_eq!(
        out.len(),
        tokens * inter,
        "silu_mul: out has {} elements, need {}",
        out.len(),
        tokens * inter
    );
    assert!(isa.is_supported(), "silu_mul: ISA {isa:?} not supported");
    silu_mul_rows(isa, gate_up, inter, out);
}

// ---------------------------------------------------------------------------
// Embedding, bias, log-softmax
// ---------------------------------------------------------------------------

/// Rows of an embedding table `[vocab, dim]` (any [`WeightView`] dtype)
/// gathered into f32 (`out: [ids.len(), dim]`; widening is exact).
///
/// # Panics
/// If an id is outside the table.
pub fn embedding_gather(table: WeightView<'_>, dim: usize, ids: &[u32], out: &mut [f32]) {
    let vocab = table.len().checked_div(dim).unwrap_or(0);
    assert_eq!(
        out.len(),
        ids.len() * dim,
        "embedding_gather: out has {} elements, need ids*dim = {}",
        out.len(),
        ids.len() * dim
    );
    for (o, &id) in out.chunks_exact_mut(dim.max(1)).zip(ids) {
        assert!(
            (id as usize) < vocab,
            "embedding_gather: token id {id} >= vocab size {vocab}"
        );
        table.copy_to_f32(id as usize * dim, o);
    }
}

/// `x[r][j] += bias[j]` for every row `r` of length `n`.
pub fn add_bias(x: &mut [f32], bias: &[f32], n: usize) {
    check_rows("add_bias", x.len(), n);
    assert_eq!(
        bias.len(),
        n,
        "add_bias: bias has {} elements, row length is {n}",
        bias.len()
    );
    for row in x.chunks_exact_mut(n) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// `out[i] = logits[i] - max - ln(sum_j e^(logits[j] - max))` over one row.
///
/// Stable: max-subtracted; the exponentials ([`exp_f32`]) are summed in f64
/// in index order, the log taken in f64. `-inf` logits give `-inf`; a row of
/// all `-inf` gives NaN (like PyTorch).
pub fn log_softmax(logits: &[f32], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        logits.len(),
        "log_softmax: out has {} elements, logits {}",
        out.len(),
        logits.len()
    );
    if logits.is_empty() {
        return;
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut e = [0.0f64; 8];
    let mut chunks = logits.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            e[l] += exp_f32(c[l] - max) as f64;
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        e[l] += exp_f32(v - max) as f64;
    }
    let sum = ((e[0] + e[4]) + (e[2] + e[6])) + ((e[1] + e[5]) + (e[3] + e[7]));
    let lse = max as f64 + sum.ln();
    for (o, &v) in out.iter_mut().zip(logits) {
        *o = (v as f64 - lse) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::sample::rand_vec;
    use half::{bf16, f16};

    /// Every ISA, failing on one this CPU lacks unless opted out (see `test_isas`).
    fn isas() -> Vec<Isa> {
        crate::backend::cpu::test_isas::all()
    }

    fn ulp_diff(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32)
            .wrapping_sub(b.to_bits() as i32)
            .unsigned_abs()
    }

    #[test]
    fn exp_within_2ulp_of_f64() {
        let mut worst = 0;
        let mut x = -87.3f32;
        while x < 88.3 {
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulp_diff(exp_f32(x), want));
            x += 0.001_3;
        }
        assert!(worst <= 2, "worst {worst} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-100.0), 0.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    /// RMSNorm vs an f64 reference (rel. 1e-6), identical bits on every ISA,
    /// and the fused and in-place variants agree with the plain one.
    #[test]
    fn rms_norm_reference_and_isas() {
        for dim in [1, 7, 64, 896, 901] {
            let rows = 3;
            let x: Vec<f32> = rand_vec(rows * dim, dim as u64)
                .iter()
                .map(|v| v * 3.0)
                .collect();
            let w = rand_vec(dim, 9);
            let eps = 1e-6;
            let mut base = vec![0.0; rows * dim];
            rms_norm_with_isa(Isa::Scalar, &x, &w, eps, dim, &mut base);
            for r in 0..rows {
                let xr = &x[r * dim..(r + 1) * dim];
                let ms: f64 = xr.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / dim as f64;
                let inv = 1.0 / (ms + eps as f64).sqrt();
                for i in 0..dim {
                    let want = w[i] as f64 * xr[i] as f64 * inv;
                    let got = base[r * dim + i] as f64;
                    assert!(
                        (got - want).abs() <= 1e-6 * want.abs().max(1e-3),
                        "dim {dim} row {r} i {i}: {got} vs {want}"
                    );
                }
            }
            for isa in isas() {
                let mut o = vec![0.0; rows * dim];
                rms_norm_with_isa(isa, &x, &w, eps, dim, &mut o);
                assert!(
                    o.iter().zip(&base).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa:?} dim {dim}"
                );
            }
            let mut inpl = x.clone();
            rms_norm_inplace(&mut inpl, &w, eps, dim);
            assert!(inpl
                .iter()
                .zip(&base)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            // add_rms_norm: residual r0 + delta == x.
            let delta = rand_vec(rows * dim, 77);
            let mut residual: Vec<f32> = x.iter().zip(&delta).map(|(a, d)| a - d).collect();
            let summed: Vec<f32> = residual.iter().zip(&delta).map(|(a, d)| a + d).collect();
            let mut fused = vec![0.0; rows * dim];
            add_rms_norm(&mut residual, &delta, &w, eps, dim, &mut fused);
            assert_eq!(residual, summed);
            let mut plain = vec![0.0; rows * dim];
            rms_norm(&summed, &w, eps, dim, &mut plain);
            assert_eq!(fused, plain);
        }
    }

    #[test]
    fn silu_mul_reference_and_isas() {
        let inter = 37;
        let tokens = 4;
        let gu: Vec<f32> = rand_vec(tokens * 2 * inter, 4)
            .iter()
            .map(|v| v * 20.0)
            .collect();
        let mut base = vec![0.0; tokens * inter];
        silu_mul_with_isa(Isa::Scalar, &gu, inter, &mut base);
        for t in 0..tokens {
            for i in 0..inter {
                let g = gu[t * 2 * inter + i] as f64;
                let u = gu[t * 2 * inter + inter + i] as f64;
                let want = g / (1.0 + (-g).exp()) * u;
                let got = base[t * inter + i] as f64;
                assert!(
                    (got - want).abs() <= 4e-7 * want.abs() + 1e-30,
                    "{got} vs {want}"
                );
            }
        }
        for isa in isas() {
            let mut o = vec![0.0; tokens * inter];
            silu_mul_with_isa(isa, &gu, inter, &mut o);
            assert!(
                o.iter().zip(&base).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa:?}"
            );
        }
    }

    #[test]
    fn rope_matches_reference() {
        let (heads, hd) = (3, 8);
        let positions = [0u32, 5, 1000, 32767];
        let base = 10000f64;
        let inv_freq: Vec<f32> = (0..hd / 2)
            .map(|i| (1.0 / base.powf(2.0 * i as f64 / hd as f64)) as f32)
            .collect();
        let x0 = rand_vec(positions.len() * heads * hd, 8);
        for scaling in [1.0f32, 1.2] {
            let mut x = x0.clone();
            rope_neox(&mut x, &positions, heads, hd, &inv_freq, scaling);
            for (t, &p) in positions.iter().enumerate() {
                for h in 0..heads {
                    let o = (t * heads + h) * hd;
                    for i in 0..hd / 2 {
                        let a = (p as f32 * inv_freq[i]) as f64;
                        let (c, s) = (a.cos() * scaling as f64, a.sin() * scaling as f64);
                        let (x1, x2) = (x0[o + i] as f64, x0[o + i + hd / 2] as f64);
                        assert!((x[o + i] as f64 - (x1 * c - x2 * s)).abs() < 1e-5);
                        assert!((x[o + i + hd / 2] as f64 - (x2 * c + x1 * s)).abs() < 1e-5);
                    }
                }
            }
        }
        // Position 0 is the identity.
        let mut x = x0[..heads * hd].to_vec();
        rope_neox(&mut x, &[0], heads, hd, &inv_freq, 1.0);
        assert_eq!(x, &x0[..heads * hd]);
    }

    #[test]
    fn embedding_gather_all_dtypes() {
        let (vocab, dim) = (10, 6);
        let t = rand_vec(vocab * dim, 1);
        let tb: Vec<bf16> = t.iter().map(|&v| bf16::from_f32(v)).collect();
        let th: Vec<f16> = t.iter().map(|&v| f16::from_f32(v)).collect();
        let ids = [3u32, 0, 9, 3];
        let mut out = vec![0.0; ids.len() * dim];
        embedding_gather(WeightView::F32(&t), dim, &ids, &mut out);
        assert_eq!(&out[..dim], &t[3 * dim..4 * dim]);
        assert_eq!(&out[2 * dim..3 * dim], &t[9 * dim..]);
        embedding_gather(WeightView::Bf16(&tb), dim, &ids, &mut out);
        assert_eq!(out[dim], tb[0].to_f32());
        embedding_gather(WeightView::F16(&th), dim, &ids, &mut out);
        assert_eq!(out[3 * dim + 1], th[3 * dim + 1].to_f32());
    }

    #[test]
    #[should_panic(expected = "token id 10 >= vocab size 10")]
    fn embedding_gather_rejects_bad_id() {
        let t = vec![0.0f32; 20];
        let mut out = vec![0.0; 2];
        embedding_gather(WeightView::F32(&t), 2, &[10], &mut out);
    }

    #[test]
    fn bias_and_log_softmax() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        add_bias(&mut x, &[0.5, -1.0], 2);
        assert_eq!(x, vec![1.5, 1.0, 3.5, 3.0]);

        let logits: Vec<f32> = rand_vec(1001, 3).iter().map(|v| v * 30.0 + 500.0).collect();
        let mut out = vec![0.0; logits.len()];
        log_softmax(&logits, &mut out);
        let max = logits.iter().copied().fold(f32::MIN, f32::max) as f64;
        let lse = max
            + logits
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln();
        for (o, &l) in out.iter().zip(&logits) {
            assert!((*o as f64 - (l as f64 - lse)).abs() < 1e-5);
        }
        let total: f64 = out.iter().map(|&v| (v as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        let mut o2 = [0.0; 3];
        log_softmax(&[f32::NEG_INFINITY, 0.0, 0.0], &mut o2);
        assert_eq!(o2[0], f32::NEG_INFINITY);
        assert!((o2[1] - (-std::f32::consts::LN_2)).abs() < 1e-7);
    }
}
