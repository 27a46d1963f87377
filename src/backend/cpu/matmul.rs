//! Dense matmul against a weight matrix in Hugging Face `nn.Linear` layout.
//!
//! # The math
//!
//! `x: [m, k]` f32 activations, `w: [n, k]` weights (f32, bf16 or f16),
//! `out: [m, n]` f32:
//!
//! ```text
//! out[i][j] = sum_{kk < k} x[i][kk] * w[j][kk]
//! ```
//!
//! # Batch invariance (the contract every path keeps)
//!
//! Every output element is computed in *dot-product form* with an
//! accumulation structure that depends only on `k` and the ISA, never on `m`,
//! `n`, the other rows of `x`, the tile an element falls into or how the work
//! is split across threads:
//!
//! 1. `L` lanes (16 for AVX-512, 8 for AVX2 and scalar); lane `l` accumulates
//!    the products of the `k` positions assigned to it, chunk by chunk in
//!    increasing `k` order. The last, partial chunk is zero-padded.
//! 2. A fixed halving tree reduces the `L` lanes: `s[i] = v[i] + v[i + L/2]`,
//!    repeated down to one value (see [`hsum_tree`]).
//!
//! Tiling only decides *which* elements are computed together (so that loads
//! are shared), never the order of operations inside one element. So a
//! seeded request yields the same logits alone or inside a batch of 64.
//!
//! # Paths
//!
//! | ISA          | bf16 weights                                   | f32 / f16 weights            |
//! |--------------|------------------------------------------------|------------------------------|
//! | Avx512Bf16   | `vdpbf16ps`, x rounded to bf16 (RNE) once      | 16-lane FMA (f16 via `vcvtph2ps`) |
//! | Avx512       | 16-lane FMA, bf16 widened exactly to f32       | 16-lane FMA                  |
//! | Avx2Fma      | 8-lane FMA                                     | 8-lane FMA (F16C)            |
//! | Scalar       | 8-lane multiply-then-add in plain Rust         | same                         |
//!
//! With `vdpbf16ps` lane `l` of chunk `c` covers the pair
//! `kk = 32c + 2l, 32c + 2l + 1`; the instruction adds both (exact) products
//! into the f32 lane. The activations lose precision once (rounding to bf16,
//! relative error <= 2^-9); products and sums stay f32.
//!
//! # Performance notes
//!
//! Measured with `benches/kernels.rs` on the 2-core AMD EPYC (Zen 4) dev VM,
//! `Isa::Avx512Bf16`, bf16 weights. The VM was shared with other builds, so
//! figures are best-of and single-core figures are the more reliable ones.
//! `vdpbf16ps zmm` peaks at ~235 GFLOP/s per core (register-only loop), so
//! ~470 GFLOP/s for 2 cores.
//!
//! | version | idea | m = 512, k = 896, 1 core | lm_head m = 1 |
//! |---|---|---|---|
//! | v1 | 4x4 tile, reduce + store outside the `target_feature` fn, no m-blocking when serial | ~165 GFLOP/s (70%) | ~45% of probe |
//! | v2 | store inside the kernel, m blocks of <= 256 KiB of x always, next-w-tile prefetch into L2 (`T1`, ~24 KiB ahead for decode) | ~205 GFLOP/s (87%) | ~75-100% of probe |
//!
//! v2 on both cores (when the VM was quiet): m = 64 ~375 GFLOP/s, m = 512
//! ~410 GFLOP/s (k = 896, n = 1152). k = 4864 (down_proj) runs ~6% below
//! k = 896 on one core: neither its 4-row x tile nor its w tile fits L1.
//! Blocking k while spilling the 16 accumulators to memory would keep every
//! element's summation order and could close that gap.
//!
//! * Register tile: 4 rows of x times 4 rows of w = 16 zmm accumulators; the
//!   16 accumulators are reduced together with a transposed version of the
//!   same halving tree (`x86::reduce_4x4`), which is bit-identical to the
//!   one-accumulator tree (`x86::hsum16`).
//! * Cache blocking over m and n only (k is never split): a task owns an
//!   `mc x nc` block; for each 4-row w tile (kept in L1) it sweeps the `mc`
//!   x rows (kept in L2).
//! * Decode (`m <= 4`) is memory bound: w tiles ~24 KiB ahead are
//!   prefetched into L2 while the current one is computed.

use std::sync::OnceLock;

use half::{bf16, f16};
use rayon::prelude::*;

/// Borrowed view of a weight matrix `[n, k]` row-major (the Hugging Face
/// `nn.Linear` layout: out_features x in_features), in its stored dtype.
#[derive(Clone, Copy, Debug)]
pub enum WeightView<'a> {
    /// f32 weights.
    F32(&'a [f32]),
    /// bfloat16 weights.
    Bf16(&'a [bf16]),
    /// IEEE half weights.
    F16(&'a [f16]),
}

impl WeightView<'_> {
    /// Number of elements in the view.
    pub fn len(&self) -> usize {
        match self {
            WeightView::F32(w) => w.len(),
            WeightView::Bf16(w) => w.len(),
            WeightView::F16(w) => w.len(),
        }
    }

    /// True when the view holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Name of the stored dtype (`"f32"`, `"bf16"`, `"f16"`), for errors and logs.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            WeightView::F32(_) => "f32",
            WeightView::Bf16(_) => "bf16",
            WeightView::F16(_) => "f16",
        }
    }

    /// Copies elements `start..start + out.len()` into `out`, widened to f32 (exact).
    pub fn copy_to_f32(&self, start: usize, out: &mut [f32]) {
        let end = start + out.len();
        match self {
            WeightView::F32(w) => out.copy_from_slice(&w[start..end]),
            WeightView::Bf16(w) => {
                for (o, v) in out.iter_mut().zip(&w[start..end]) {
                    *o = v.to_f32();
                }
            }
            WeightView::F16(w) => {
                for (o, v) in out.iter_mut().zip(&w[start..end]) {
                    *o = v.to_f32();
                }
            }
        }
    }
}

/// Instruction set a CPU kernel runs with. Ordered: a later variant can do
/// everything an earlier one can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust, any target.
    Scalar,
    /// x86-64 AVX2 + FMA + F16C.
    Avx2Fma,
    /// x86-64 AVX-512 F/BW/VL/DQ (+ FMA, F16C).
    Avx512,
    /// [`Isa::Avx512`] plus AVX512_BF16 (`vdpbf16ps`).
    Avx512Bf16,
}

impl Isa {
    /// All variants, lowest first.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2Fma, Isa::Avx512, Isa::Avx512Bf16];

    /// Whether this CPU can run kernels built for `self`.
    pub fn is_supported(self) -> bool {
        self <= Isa::detected()
    }

    /// Best ISA the hardware supports (detected once).
    pub fn detected() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(detect_hardware)
    }

    /// ISA the kernels use: [`Isa::detected`], lowered by the environment
    /// variable `WEIR_CPU_ISA=scalar|avx2|avx512|avx512bf16` when set (a value
    /// above what the hardware supports is clamped down). Read once.
    pub fn active() -> Isa {
        static ACTIVE: OnceLock<Isa> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let hw = Isa::detected();
            match std::env::var("WEIR_CPU_ISA")
                .ok()
                .as_deref()
                .and_then(Isa::parse)
            {
                Some(requested) => requested.min(hw),
                None => hw,
            }
        })
    }

    /// Parses `scalar`, `avx2`, `avx512` or `avx512bf16` (case-insensitive).
    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Isa::Scalar),
            "avx2" | "avx2fma" => Some(Isa::Avx2Fma),
            "avx512" => Some(Isa::Avx512),
            "avx512bf16" => Some(Isa::Avx512Bf16),
            _ => None,
        }
    }

    /// Short lowercase name (the inverse of [`Isa::parse`]).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Bf16 => "avx512bf16",
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect_hardware() -> Isa {
    let avx2 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    let avx512 = avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq");
    if avx512 && is_x86_feature_detected!("avx512bf16") {
        Isa::Avx512Bf16
    } else if avx512 {
        Isa::Avx512
    } else if avx2 {
        Isa::Avx2Fma
    } else {
        Isa::Scalar
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_hardware() -> Isa {
    Isa::Scalar
}

/// `out[i][j] = sum_k x[i][k] * w[j][k]` for `i < m`, `j < n`;
/// `x: [m, k]`, `w: [n, k]`, `out: [m, n]`, all row-major.
///
/// Runs on the global rayon pool with [`Isa::active`]. Every element is
/// bit-identical whatever `m`, `n`, the other rows of `x` or the thread count
/// (see the module docs).
///
/// # Panics
/// If a slice is shorter than its shape says.
pub fn matmul(x: &[f32], m: usize, k: usize, w: WeightView<'_>, n: usize, out: &mut [f32]) {
    matmul_with_isa(Isa::active(), x, m, k, w, n, out);
}

/// [`matmul`] with an explicit ISA (for tests and benches).
///
/// # Panics
/// If `isa` is not supported by this CPU, or a slice is shorter than its shape says.
pub fn matmul_with_isa(
    isa: Isa,
    x: &[f32],
    m: usize,
    k: usize,
    w: WeightView<'_>,
    n: usize,
    out: &mut [f32],
) {
    assert!(
        isa.is_supported(),
        "matmul: ISA {isa:?} not supported by this CPU"
    );
    assert!(
        x.len() >= m * k,
        "matmul: x has {} elements, need m*k = {}",
        x.len(),
        m * k
    );
    assert!(
        w.len() >= n * k,
        "matmul: w ({}) has {} elements, need n*k = {}",
        w.dtype_name(),
        w.len(),
        n * k
    );
    assert!(
        out.len() >= m * n,
        "matmul: out has {} elements, need m*n = {}",
        out.len(),
        m * n
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    let out_ptr = SyncPtr(out.as_mut_ptr());
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Bf16 | Isa::Avx512 | Isa::Avx2Fma => x86::matmul(isa, x, m, k, w, n, out_ptr),
        _ => scalar_matmul(x, m, k, w, n, out_ptr),
    }
}

// ---------------------------------------------------------------------------
// Shared pieces: output pointer, work splitting, the reduction tree.
// ---------------------------------------------------------------------------

/// A raw pointer that may cross threads. Users guarantee that concurrent
/// writers touch disjoint elements and that the pointee outlives them.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr<T>(pub(crate) *mut T);

impl<T> SyncPtr<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: SyncPtr is only a pointer value; every user writes disjoint
// elements from each thread and keeps the allocation alive for the parallel
// section (documented at each use).
unsafe impl<T> Send for SyncPtr<T> {}
// SAFETY: as above; shared access only ever hands out the pointer value.
unsafe impl<T> Sync for SyncPtr<T> {}

/// Below this many multiply-adds a matmul runs on the calling thread.
const PAR_MIN_MACS: usize = 1 << 17;

/// Splits `[0, m) x [0, n)` into blocks and calls `block(i0, i1, j0, j1)` for
/// each, in parallel on the current rayon pool when the problem is big
/// enough. `x_row_bytes` sizes the m blocks (x rows of one block should stay
/// in L2). Block edges are multiples of 4, except at `m` and `n`.
pub(crate) fn for_each_block(
    m: usize,
    n: usize,
    k: usize,
    x_row_bytes: usize,
    block: impl Fn(usize, usize, usize, usize) + Sync,
) {
    // m blocks: keep an x block within ~256 KiB of L2, 4..=256 rows.
    let mc_cap = ((256 * 1024) / x_row_bytes.max(1)).clamp(4, 256) / 4 * 4;
    let m_blocks = m.div_ceil(mc_cap);
    let mc = m.div_ceil(m_blocks).next_multiple_of(4);
    let m_blocks = m.div_ceil(mc);
    let threads = rayon::current_num_threads();
    if threads <= 1 || m * n * k < PAR_MIN_MACS {
        for mb in 0..m_blocks {
            block(mb * mc, ((mb + 1) * mc).min(m), 0, n);
        }
        return;
    }
    // n blocks: enough tasks for load balance (>= 4 per thread), >= 16 rows each.
    let want = (4 * threads).div_ceil(m_blocks).max(1);
    let nc = n.div_ceil(want).next_multiple_of(4).max(16);
    let n_blocks = n.div_ceil(nc);
    (0..m_blocks * n_blocks).into_par_iter().for_each(|t| {
        let (mb, nb) = (t / n_blocks, t % n_blocks);
        let (i0, j0) = (mb * mc, nb * nc);
        block(i0, (i0 + mc).min(m), j0, (j0 + nc).min(n));
    });
}

/// The fixed reduction of `L` lanes (a power of two) every path uses:
/// `v[i] += v[i + h]` for `h = L/2, L/4, .., 1`; returns `v[0]`.
/// Reference form of `x86::hsum16` and `x86::reduce_4x4`.
pub fn hsum_tree(v: &mut [f32]) -> f32 {
    let mut h = v.len() / 2;
    while h >= 1 {
        for i in 0..h {
            v[i] += v[i + h];
        }
        h /= 2;
    }
    v[0]
}

// ---------------------------------------------------------------------------
// Scalar path (and the structure the SIMD paths mirror).
// ---------------------------------------------------------------------------

/// Weight element that widens exactly to f32.
pub(crate) trait WElem: Copy + Send + Sync + 'static {
    /// The value 0 (used to zero-pad a tail chunk: 0 * 0 adds nothing, and
    /// never meets a weight that could be inf/NaN). Only the SIMD paths pad.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    const ZERO: Self;
    /// Exact widening to f32.
    fn to_f32(self) -> f32;
}
impl WElem for f32 {
    const ZERO: Self = 0.0;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl WElem for bf16 {
    const ZERO: Self = bf16::ZERO;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}
impl WElem for f16 {
    const ZERO: Self = f16::ZERO;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

/// Scalar dot product with 8 lanes (`kk % 8`), multiply then add (no FMA),
/// then [`hsum_tree`].
#[inline]
fn dot_scalar<T: WElem>(x: &[f32], w: &[T]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut xc = x.chunks_exact(8);
    let mut wc = w.chunks_exact(8);
    for (xs, ws) in (&mut xc).zip(&mut wc) {
        for l in 0..8 {
            acc[l] += xs[l] * ws[l].to_f32();
        }
    }
    for (l, (xv, wv)) in xc.remainder().iter().zip(wc.remainder()).enumerate() {
        acc[l] += xv * wv.to_f32();
    }
    hsum_tree(&mut acc)
}

fn scalar_matmul(x: &[f32], m: usize, k: usize, w: WeightView<'_>, n: usize, out: SyncPtr<f32>) {
    fn run<T: WElem>(x: &[f32], m: usize, k: usize, w: &[T], n: usize, out: SyncPtr<f32>) {
        for_each_block(m, n, k, k * 4, |i0, i1, j0, j1| {
            for j in j0..j1 {
                let wr = &w[j * k..(j + 1) * k];
                for i in i0..i1 {
                    let v = dot_scalar(&x[i * k..(i + 1) * k], wr);
                    // SAFETY: (i, j) lies in this task's block; blocks are
                    // disjoint and `out` holds m*n elements (checked by the caller).
                    unsafe { *out.get().add(i * n + j) = v };
                }
            }
        });
    }
    match w {
        WeightView::F32(w) => run(x, m, k, w, n, out),
        WeightView::Bf16(w) => run(x, m, k, w, n, out),
        WeightView::F16(w) => run(x, m, k, w, n, out),
    }
}

/// Rounds f32 to bf16 with round-to-nearest-even (NaN stays NaN); the scalar
/// reference for the activation rounding of the `vdpbf16ps` path (which in
/// addition flushes subnormal inputs to zero, as the instruction does).
pub fn f32_to_bf16_rne(v: f32) -> bf16 {
    bf16::from_f32(v)
}

// ---------------------------------------------------------------------------
// x86-64 SIMD paths.
// ---------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    //! AVX-512 / AVX2 kernels. Every `unsafe fn` here requires the CPU
    //! features named in its `target_feature` attribute (checked by the
    //! dispatcher through [`Isa::is_supported`]) and valid pointers as
    //! documented.

    use super::{for_each_block, Isa, SyncPtr, WeightView};
    use half::{bf16, f16};
    use std::arch::x86_64::*;

    /// Register tile width over w rows.
    const NR: usize = 4;

    pub(super) fn matmul(
        isa: Isa,
        x: &[f32],
        m: usize,
        k: usize,
        w: WeightView<'_>,
        n: usize,
        out: SyncPtr<f32>,
    ) {
        match (isa, w) {
            (Isa::Avx512Bf16, WeightView::Bf16(w)) => matmul_dpbf16(x, m, k, w, n, out),
            (Isa::Avx512 | Isa::Avx512Bf16, WeightView::F32(w)) => {
                matmul_fma512(x, m, k, w, n, out)
            }
            (Isa::Avx512, WeightView::Bf16(w)) => matmul_fma512(x, m, k, w, n, out),
            (Isa::Avx512 | Isa::Avx512Bf16, WeightView::F16(w)) => {
                matmul_fma512(x, m, k, w, n, out)
            }
            (_, WeightView::F32(w)) => matmul_fma256(x, m, k, w, n, out),
            (_, WeightView::Bf16(w)) => matmul_fma256(x, m, k, w, n, out),
            (_, WeightView::F16(w)) => matmul_fma256(x, m, k, w, n, out),
        }
    }

    // ----- reductions ------------------------------------------------------

    /// [`super::hsum_tree`] over the 16 lanes of `v` (the one-accumulator
    /// form of [`reduce_4x4`], checked against it in the tests; also used by
    /// the attention score kernel).
    #[target_feature(enable = "avx512f,avx512dq")]
    #[inline]
    pub(crate) fn hsum16(v: __m512) -> f32 {
        let s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v));
        let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
        _mm_cvtss_f32(s1)
    }

    /// [`super::hsum_tree`] over the 8 lanes of `v`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(crate) fn hsum8(v: __m256) -> f32 {
        let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
        _mm_cvtss_f32(s1)
    }

    /// Reduces 16 accumulators at once with the same tree as [`hsum16`]
    /// (bit-identical per accumulator). `a[4 * j + i]` is the accumulator of
    /// tile element (row i, column j); lane `4 * i + j` of the result is its sum.
    ///
    /// Each step adds the two halves of every accumulator while packing two
    /// accumulators into one register: 16 -> 8 -> 4 -> 2 -> 1 registers.
    #[target_feature(enable = "avx512f,avx512dq")]
    #[inline]
    pub(crate) fn reduce_4x4(a: &[__m512; 16]) -> __m512 {
        // s8: t[p] = [a[2p] lanes 0..8 + 8..16 | a[2p+1] same].
        let mut t = [_mm512_setzero_ps(); 8];
        for p in 0..8 {
            let (x, y) = (a[2 * p], a[2 * p + 1]);
            let lo = _mm512_shuffle_f32x4::<0b01_00_01_00>(x, y);
            let hi = _mm512_shuffle_f32x4::<0b11_10_11_10>(x, y);
            t[p] = _mm512_add_ps(lo, hi);
        }
        // s4: u[q] = 128-bit blocks [a[4q], a[4q+1], a[4q+2], a[4q+3]].
        let mut u = [_mm512_setzero_ps(); 4];
        for q in 0..4 {
            let (x, y) = (t[2 * q], t[2 * q + 1]);
            let lo = _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y);
            let hi = _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y);
            u[q] = _mm512_add_ps(lo, hi);
        }
        // s2: v0 block b = [a[b] (2 lanes), a[4+b] (2 lanes)], v1 = a[8+b], a[12+b].
        let v0 = _mm512_add_ps(
            _mm512_shuffle_ps::<0b01_00_01_00>(u[0], u[1]),
            _mm512_shuffle_ps::<0b11_10_11_10>(u[0], u[1]),
        );
        let v1 = _mm512_add_ps(
            _mm512_shuffle_ps::<0b01_00_01_00>(u[2], u[3]),
            _mm512_shuffle_ps::<0b11_10_11_10>(u[2], u[3]),
        );
        // s1: block b = [a[b], a[4+b], a[8+b], a[12+b]]; lane 4b + c = a[4c + b].
        _mm512_add_ps(
            _mm512_shuffle_ps::<0b10_00_10_00>(v0, v1),
            _mm512_shuffle_ps::<0b11_01_11_01>(v0, v1),
        )
    }

    /// Stores lanes `4 * i + j` of `r` to `out_rows[i] + j` for `i < mr`, `j < nv`.
    ///
    /// # Safety
    /// AVX-512F available; `out_rows[i]..+nv` must be writable for `i < mr`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store_tile(r: __m512, out_rows: &[*mut f32; 4], mr: usize, nv: usize) {
        if nv == 4 {
            // SAFETY: each row has 4 writable slots (nv == 4), rows < mr.
            unsafe {
                _mm_storeu_ps(out_rows[0], _mm512_castps512_ps128(r));
                if mr > 1 {
                    _mm_storeu_ps(out_rows[1], _mm512_extractf32x4_ps::<1>(r));
                }
                if mr > 2 {
                    _mm_storeu_ps(out_rows[2], _mm512_extractf32x4_ps::<2>(r));
                }
                if mr > 3 {
                    _mm_storeu_ps(out_rows[3], _mm512_extractf32x4_ps::<3>(r));
                }
            }
            return;
        }
        let mut buf = [0.0f32; 16];
        // SAFETY: buf holds 16 f32; unaligned store.
        unsafe { _mm512_storeu_ps(buf.as_mut_ptr(), r) };
        for i in 0..mr {
            for j in 0..nv {
                // SAFETY: the caller guarantees the destination row has nv slots.
                unsafe { *out_rows[i].add(j) = buf[4 * i + j] };
            }
        }
    }

    /// How far ahead (in w tiles) a block of several x tiles prefetches.
    const BATCHED_PF_TILES: usize = 2;

    /// The rows of the prefetched w tile that pass `pass` of `passes`
    /// prefetches, as (first row, count): row r goes to the pass with
    /// `r * passes / NR == pass`, i.e. the run
    /// `[ceil(pass * NR / passes), ceil((pass + 1) * NR / passes))`.
    fn pass_prefetch_rows(pass: usize, passes: usize) -> (usize, usize) {
        let r0 = (pass * NR).div_ceil(passes);
        let r1 = ((pass + 1) * NR).div_ceil(passes).min(NR);
        (r0, r1.saturating_sub(r0))
    }

    /// Walks one block in 4 x 4 register tiles: w tiles outer (kept hot in
    /// L1), x tiles inner. `tile(xrow, mr, wrows, prefetch_rows, npf, out_rows, nv)`
    /// computes and stores one tile, prefetching (into L2) the first `npf`
    /// of `prefetch_rows` as it goes. Rows beyond `m`/`n` in a tile are
    /// clamped duplicates and not stored.
    ///
    /// Prefetching keeps the weight stream from DRAM running while the
    /// arithmetic runs. A block of at most 4 x rows (decode, memory bound)
    /// prefetches whole w tiles ~24 KiB ahead; measured on Zen 4 this lifts
    /// m = 1 from ~45% to ~75% of the read bandwidth. A block of `P` x tiles
    /// (batched decode: each w tile is swept `P` times) prefetches the w tile
    /// two tiles ahead one row per pass, so the prefetches are spread evenly
    /// over the tile's arithmetic instead of bunched in its first pass. On a
    /// Qwen2-0.5B-shaped decode step streamed from DRAM (`cargo bench
    /// --bench kernels`, "decode step") spreading made m = 16 ~8% faster
    /// (m = 8 ~4%, m = 32 ~3%) and two tiles ahead rather than one ~2% more;
    /// T0 instead of T1 was ~15% slower, no prefetch ~50% slower.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn walk_block<F>(
        i0: usize,
        i1: usize,
        j0: usize,
        j1: usize,
        n: usize,
        w_row_bytes: usize,
        out: SyncPtr<f32>,
        tile: F,
    ) where
        F: Fn(usize, usize, [usize; NR], [usize; NR], usize, [*mut f32; 4], usize),
    {
        let passes = (i1 - i0).div_ceil(4);
        let pf_tiles = if passes == 1 {
            (24 * 1024 / (NR * w_row_bytes).max(1)).clamp(1, 8)
        } else {
            BATCHED_PF_TILES
        };
        let mut j = j0;
        while j < j1 {
            let nv = (j1 - j).min(NR);
            let wrows = std::array::from_fn(|t| (j + t).min(j + nv - 1));
            let first_next = j + pf_tiles * NR;
            let mut i = i0;
            while i < i1 {
                let mr = (i1 - i).min(4);
                let pass = (i - i0) / 4;
                let (r0, npf) = pass_prefetch_rows(pass, passes);
                let next = std::array::from_fn(|t| (first_next + r0 + t).min(n - 1));
                // Rows i..i+mr and columns j..j+nv lie inside this task's
                // block of `out` ([m, n], disjoint between tasks).
                let rows =
                    std::array::from_fn(|t| out.get().wrapping_add((i + t.min(mr - 1)) * n + j));
                tile(i, mr, wrows, next, npf, rows, nv);
                i += 4;
            }
            j += NR;
        }
    }

    // ----- AVX512_BF16: vdpbf16ps -------------------------------------------

    /// Rounds `x[i][..k]` to bf16 (RNE) into rows of `kp` (multiple of 32)
    /// u16, zero padded.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(super) fn round_rows_bf16(x: &[f32], m: usize, k: usize, kp: usize) -> Vec<u16> {
        let mut xb = vec![0u16; m * kp];
        for i in 0..m {
            let src = &x[i * k..(i + 1) * k];
            let dst = &mut xb[i * kp..(i + 1) * kp];
            let mut c = 0;
            while c < k {
                let rem = k - c;
                let m_lo: u16 = if rem >= 16 {
                    0xffff
                } else {
                    ((1u32 << rem) - 1) as u16
                };
                let m_hi: u16 = if rem >= 32 {
                    0xffff
                } else if rem > 16 {
                    ((1u32 << (rem - 16)) - 1) as u16
                } else {
                    0
                };
                // SAFETY: masked loads only touch lanes < rem inside `src`;
                // the store writes 32 u16 inside `dst` (kp is a multiple of 32, c < kp).
                unsafe {
                    let lo = _mm512_maskz_loadu_ps(m_lo, src.as_ptr().add(c));
                    let hi = _mm512_maskz_loadu_ps(m_hi, src.as_ptr().wrapping_add(c + 16));
                    let b: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
                    _mm512_storeu_si512(dst.as_mut_ptr().add(c).cast(), b);
                }
                c += 32;
            }
        }
        xb
    }

    fn matmul_dpbf16(x: &[f32], m: usize, k: usize, w: &[bf16], n: usize, out: SyncPtr<f32>) {
        let kp = k.next_multiple_of(32);
        // SAFETY: the dispatcher checked Isa::Avx512Bf16 is supported.
        let xb = unsafe { round_rows_bf16(x, m, k, kp) };
        let xb = &xb[..];
        let wp = w.as_ptr().cast::<u16>() as usize;
        let k_blocked = k > KBLOCK_MIN_K && m <= KBLOCK_MAX_M;
        for_each_block(m, n, k, kp * 2, |i0, i1, j0, j1| {
            if k_blocked && i1 - i0 > 4 {
                walk_block_kblocked(i0, i1, j0, j1, n, k, kp, xb, wp, out, KBLOCK_CHUNKS);
                return;
            }
            walk_block(
                i0,
                i1,
                j0,
                j1,
                n,
                k * 2,
                out,
                |i, mr, wr, next, npf, orows, nv| {
                    let xr: [*const u16; 4] =
                        std::array::from_fn(|t| xb[(i + t.min(mr - 1)) * kp..].as_ptr());
                    let wrp: [*const u16; 4] =
                        std::array::from_fn(|t| (wp as *const u16).wrapping_add(wr[t] * k));
                    let nxp: [*const u16; 4] =
                        std::array::from_fn(|t| (wp as *const u16).wrapping_add(next[t] * k));
                    // SAFETY: feature checked by the dispatcher; x rows hold kp
                    // u16, w rows k u16 (rows < n); prefetches are hints.
                    unsafe {
                        match mr {
                            1 => tile_dpbf16::<1>(xr, wrp, nxp, npf, k, orows, nv),
                            2 => tile_dpbf16::<2>(xr, wrp, nxp, npf, k, orows, nv),
                            3 => tile_dpbf16::<3>(xr, wrp, nxp, npf, k, orows, nv),
                            _ => tile_dpbf16::<4>(xr, wrp, nxp, npf, k, orows, nv),
                        }
                    }
                },
            );
        });
    }

    /// Long rows (k above this) in batched decode (m up to [`KBLOCK_MAX_M`])
    /// take [`walk_block_kblocked`]. Measured with the weights streamed from
    /// DRAM, `down_proj` of Qwen2-0.5B (k = 4864): ~7% faster at m = 16,
    /// ~17% at m = 64, but ~6% slower at m = 256 (prefill, where each w tile
    /// is reused by many x blocks) and ~10% slower for k = 896 at any m.
    pub(crate) const KBLOCK_MIN_K: usize = 2048;
    /// See [`KBLOCK_MIN_K`].
    pub(crate) const KBLOCK_MAX_M: usize = 64;
    /// 32-element chunks per k span: a w tile's span is 8 KiB.
    const KBLOCK_CHUNKS: usize = 32;

    /// [`tile_dpbf16_span`] for one MR.
    type SpanFn = unsafe fn(
        [*const u16; 4],
        [*const u16; 4],
        [*const u16; 4],
        usize,
        usize,
        std::ops::Range<usize>,
        bool,
        &mut [__m512; 16],
    );

    /// [`walk_block`] for the `vdpbf16ps` kernel with k split into spans of
    /// `kc` chunks: for each w tile, span by span, every x tile of the block
    /// adds that span to its accumulators (kept in a small buffer between
    /// spans). The w tile's span is then reused from L1 by every pass, where
    /// a whole long row (k = 4864: a 39 KiB w tile) would not fit. Each
    /// element still sums its chunks in increasing order: bit-identical.
    #[allow(clippy::too_many_arguments)]
    fn walk_block_kblocked(
        i0: usize,
        i1: usize,
        j0: usize,
        j1: usize,
        n: usize,
        k: usize,
        kp: usize,
        xb: &[u16],
        wp: usize,
        out: SyncPtr<f32>,
        kc: usize,
    ) {
        let passes = (i1 - i0).div_ceil(4);
        let full = k / 32;
        let spans = full.div_ceil(kc).max(1);
        // SAFETY: an all-zero bit pattern is a valid __m512.
        let mut accs: Vec<[__m512; 16]> = vec![unsafe { std::mem::zeroed() }; passes];
        let mut j = j0;
        while j < j1 {
            let nv = (j1 - j).min(NR);
            let wrp: [*const u16; 4] = std::array::from_fn(|t| {
                (wp as *const u16).wrapping_add((j + t).min(j + nv - 1) * k)
            });
            let first_next = j + BATCHED_PF_TILES * NR;
            for a in accs.iter_mut() {
                // SAFETY: as above.
                *a = unsafe { std::mem::zeroed() };
            }
            for sp in 0..spans {
                let chunks = sp * kc..((sp + 1) * kc).min(full);
                let last = sp + 1 == spans;
                for (pass, acc) in accs.iter_mut().enumerate() {
                    let i = i0 + 4 * pass;
                    let mr = (i1 - i).min(4);
                    let (r0, npf) = pass_prefetch_rows(pass, passes);
                    let nxp: [*const u16; 4] = std::array::from_fn(|t| {
                        (wp as *const u16).wrapping_add((first_next + r0 + t).min(n - 1) * k)
                    });
                    let xr: [*const u16; 4] =
                        std::array::from_fn(|t| xb[(i + t.min(mr - 1)) * kp..].as_ptr());
                    let span: SpanFn = match mr {
                        1 => tile_dpbf16_span::<1>,
                        2 => tile_dpbf16_span::<2>,
                        3 => tile_dpbf16_span::<3>,
                        _ => tile_dpbf16_span::<4>,
                    };
                    // SAFETY: the dispatcher checked the features; x rows hold
                    // kp u16 and w rows k u16 (rows < n); `chunks` ends at or
                    // before k / 32; prefetches are hints.
                    unsafe { span(xr, wrp, nxp, npf, k, chunks.clone(), last, acc) };
                    if last {
                        // Rows i..i+mr, columns j..j+nv: inside this task's block of out.
                        let rows: [*mut f32; 4] = std::array::from_fn(|t| {
                            out.get().wrapping_add((i + t.min(mr - 1)) * n + j)
                        });
                        // SAFETY: features checked; rows writable for nv f32.
                        unsafe { finish_tile(acc, &rows, mr, nv) };
                    }
                }
            }
            j += NR;
        }
    }

    #[inline(always)]
    fn as_bh(v: __m512i) -> __m512bh {
        // SAFETY: both are 512-bit plain-data vectors.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
    }

    /// One 4 x 4 (MR x 4) tile with `vdpbf16ps`: lane l of accumulator
    /// (i, j) gains `x[i][32c+2l] w[j][32c+2l] + x[i][32c+2l+1] w[j][32c+2l+1]`
    /// for c = 0, 1, .. in order; the last partial chunk is zero-masked.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/DQ/BF16 available; `xr[i]` (i < MR) readable for
    /// `k.next_multiple_of(32)` u16; `wr[j]` readable for `k` u16;
    /// `out_rows[i]` (i < MR) writable for `nv <= 4` f32. Stores the tile.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    unsafe fn tile_dpbf16<const MR: usize>(
        xr: [*const u16; 4],
        wr: [*const u16; 4],
        next: [*const u16; 4],
        npf: usize,
        k: usize,
        out_rows: [*mut f32; 4],
        nv: usize,
    ) {
        let mut acc = [_mm512_setzero_ps(); 16];
        // SAFETY: forwarded from this function's contract (whole k range).
        unsafe {
            tile_dpbf16_span::<MR>(xr, wr, next, npf, k, 0..k / 32, true, &mut acc);
            store_tile(reduce_4x4(&acc), &out_rows, MR, nv);
        }
    }

    /// The chunks `chunks` (32 elements each) of one MR x 4 tile, added to
    /// `acc` in increasing order, then the zero-masked tail chunk when `tail`
    /// and `k` has one. Running a tile's chunks as consecutive spans gives
    /// bit-identical sums to one pass over all of them.
    ///
    /// # Safety
    /// As [`tile_dpbf16`], and `chunks.end <= k / 32`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn tile_dpbf16_span<const MR: usize>(
        xr: [*const u16; 4],
        wr: [*const u16; 4],
        next: [*const u16; 4],
        npf: usize,
        k: usize,
        chunks: std::ops::Range<usize>,
        tail: bool,
        acc_io: &mut [__m512; 16],
    ) {
        let mut acc = *acc_io;
        let full = k / 32;
        let mut xv = [_mm512_setzero_si512(); 4];
        for c in chunks {
            let o = c * 32;
            // SAFETY (whole block): o + 32 <= k <= row lengths (see # Safety).
            unsafe {
                for p in &next[..npf] {
                    _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(o).cast());
                }
                for i in 0..MR {
                    xv[i] = _mm512_loadu_si512(xr[i].add(o).cast());
                }
                for j in 0..NR {
                    let wv = as_bh(_mm512_loadu_si512(wr[j].add(o).cast()));
                    for i in 0..MR {
                        acc[4 * j + i] = _mm512_dpbf16_ps(acc[4 * j + i], as_bh(xv[i]), wv);
                    }
                }
            }
        }
        let rem = k - full * 32;
        if tail && rem > 0 {
            let o = full * 32;
            let mask: u32 = ((1u64 << rem) - 1) as u32;
            // SAFETY: masked lanes < rem stay inside the rows.
            unsafe {
                for i in 0..MR {
                    xv[i] = _mm512_maskz_loadu_epi16(mask, xr[i].add(o).cast());
                }
                for j in 0..NR {
                    let wv = as_bh(_mm512_maskz_loadu_epi16(mask, wr[j].add(o).cast()));
                    for i in 0..MR {
                        acc[4 * j + i] = _mm512_dpbf16_ps(acc[4 * j + i], as_bh(xv[i]), wv);
                    }
                }
            }
        }
        *acc_io = acc;
    }

    /// Reduces and stores a finished tile (see [`tile_dpbf16`]).
    ///
    /// # Safety
    /// AVX-512 F/DQ available; `out_rows[i]` (i < mr) writable for `nv` f32.
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn finish_tile(acc: &[__m512; 16], out_rows: &[*mut f32; 4], mr: usize, nv: usize) {
        // SAFETY: forwarded.
        unsafe { store_tile(reduce_4x4(acc), out_rows, mr, nv) };
    }

    // ----- AVX-512 FMA (f32 / bf16 / f16 weights) -------------------------

    /// Weight dtypes the FMA kernels widen to f32.
    pub(crate) trait SimdW: super::WElem {
        /// 16 elements from `p` widened to f32, lanes not in `mask` zero.
        ///
        /// # Safety
        /// AVX-512 F/BW/VL + F16C; lanes in `mask` readable.
        unsafe fn load16(p: *const Self, mask: u16) -> __m512;
        /// 8 elements from `p` widened to f32.
        ///
        /// # Safety
        /// AVX2 + F16C; 8 elements readable.
        unsafe fn load8(p: *const Self) -> __m256;
    }

    impl SimdW for f32 {
        #[inline(always)]
        unsafe fn load16(p: *const f32, mask: u16) -> __m512 {
            // SAFETY: per the trait contract.
            unsafe { _mm512_maskz_loadu_ps(mask, p) }
        }
        #[inline(always)]
        unsafe fn load8(p: *const f32) -> __m256 {
            // SAFETY: per the trait contract.
            unsafe { _mm256_loadu_ps(p) }
        }
    }

    impl SimdW for bf16 {
        #[inline(always)]
        unsafe fn load16(p: *const bf16, mask: u16) -> __m512 {
            // bf16 -> f32 is exact: the bits shifted into the high half.
            // SAFETY: per the trait contract.
            unsafe {
                let h = _mm256_maskz_loadu_epi16(mask, p.cast());
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
        }
        #[inline(always)]
        unsafe fn load8(p: *const bf16) -> __m256 {
            // SAFETY: per the trait contract.
            unsafe {
                let h = _mm_loadu_si128(p.cast());
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
            }
        }
    }

    impl SimdW for f16 {
        #[inline(always)]
        unsafe fn load16(p: *const f16, mask: u16) -> __m512 {
            // SAFETY: per the trait contract.
            unsafe { _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p.cast())) }
        }
        #[inline(always)]
        unsafe fn load8(p: *const f16) -> __m256 {
            // SAFETY: per the trait contract.
            unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
        }
    }

    fn matmul_fma512<T: SimdW>(
        x: &[f32],
        m: usize,
        k: usize,
        w: &[T],
        n: usize,
        out: SyncPtr<f32>,
    ) {
        let xp = x.as_ptr() as usize;
        let wp = w.as_ptr() as usize;
        for_each_block(m, n, k, k * 4, |i0, i1, j0, j1| {
            walk_block(
                i0,
                i1,
                j0,
                j1,
                n,
                k * std::mem::size_of::<T>(),
                out,
                |i, mr, wr, next, npf, orows, nv| {
                    let xr: [*const f32; 4] = std::array::from_fn(|t| {
                        (xp as *const f32).wrapping_add((i + t.min(mr - 1)) * k)
                    });
                    let wrp: [*const T; 4] =
                        std::array::from_fn(|t| (wp as *const T).wrapping_add(wr[t] * k));
                    let nxp: [*const T; 4] =
                        std::array::from_fn(|t| (wp as *const T).wrapping_add(next[t] * k));
                    // SAFETY: feature checked by the dispatcher; rows hold k elements.
                    unsafe {
                        match mr {
                            1 => tile_fma512::<T, 1>(xr, wrp, nxp, npf, k, orows, nv),
                            2 => tile_fma512::<T, 2>(xr, wrp, nxp, npf, k, orows, nv),
                            3 => tile_fma512::<T, 3>(xr, wrp, nxp, npf, k, orows, nv),
                            _ => tile_fma512::<T, 4>(xr, wrp, nxp, npf, k, orows, nv),
                        }
                    }
                },
            );
        });
    }

    /// MR x 4 tile, 16 lanes: lane l of (i, j) accumulates
    /// `fma(x[i][16c+l], w[j][16c+l], acc)` for c = 0, 1, .. (tail masked to 0).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/DQ + FMA + F16C; `xr[i]` (i < MR) and `wr[j]` readable for `k`;
    /// `out_rows[i]` (i < MR) writable for `nv <= 4` f32. Stores the tile.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")]
    unsafe fn tile_fma512<T: SimdW, const MR: usize>(
        xr: [*const f32; 4],
        wr: [*const T; 4],
        next: [*const T; 4],
        npf: usize,
        k: usize,
        out_rows: [*mut f32; 4],
        nv: usize,
    ) {
        let mut acc = [_mm512_setzero_ps(); 16];
        let mut xv = [_mm512_setzero_ps(); 4];
        let full = k / 16;
        let line = 64 / std::mem::size_of::<T>();
        for c in 0..full {
            let o = c * 16;
            // SAFETY (whole block): o + 16 <= k; prefetches are hints.
            unsafe {
                if o % line == 0 {
                    for p in &next[..npf] {
                        _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(o).cast());
                    }
                }
                for i in 0..MR {
                    xv[i] = _mm512_loadu_ps(xr[i].add(o));
                }
                for j in 0..NR {
                    let wv = T::load16(wr[j].add(o), 0xffff);
                    for i in 0..MR {
                        acc[4 * j + i] = _mm512_fmadd_ps(xv[i], wv, acc[4 * j + i]);
                    }
                }
            }
        }
        let rem = k - full * 16;
        if rem > 0 {
            let o = full * 16;
            let mask = ((1u32 << rem) - 1) as u16;
            // SAFETY: masked lanes < rem stay inside the rows.
            unsafe {
                for i in 0..MR {
                    xv[i] = _mm512_maskz_loadu_ps(mask, xr[i].add(o));
                }
                for j in 0..NR {
                    let wv = T::load16(wr[j].add(o), mask);
                    for i in 0..MR {
                        acc[4 * j + i] = _mm512_fmadd_ps(xv[i], wv, acc[4 * j + i]);
                    }
                }
            }
        }
        // SAFETY: the caller guarantees the output rows (see # Safety).
        unsafe { store_tile(reduce_4x4(&acc), &out_rows, MR, nv) };
    }

    // ----- AVX2 FMA ----------------------------------------------------------

    fn matmul_fma256<T: SimdW>(
        x: &[f32],
        m: usize,
        k: usize,
        w: &[T],
        n: usize,
        out: SyncPtr<f32>,
    ) {
        for_each_block(m, n, k, k * 4, |i0, i1, j0, j1| {
            let mut j = j0;
            while j < j1 {
                let nv = (j1 - j).min(2);
                let wrows: [&[T]; 2] = std::array::from_fn(|t| {
                    let r = (j + t).min(j + nv - 1);
                    &w[r * k..(r + 1) * k]
                });
                let mut i = i0;
                while i < i1 {
                    let mr = (i1 - i).min(4);
                    let xrows: [&[f32]; 4] = std::array::from_fn(|t| {
                        let r = i + t.min(mr - 1);
                        &x[r * k..(r + 1) * k]
                    });
                    // SAFETY: the dispatcher checked AVX2/FMA/F16C.
                    let r = unsafe { tile_fma256(xrows, wrows) };
                    for (t, row) in r.iter().enumerate().take(mr) {
                        for (u, v) in row.iter().enumerate().take(nv) {
                            // SAFETY: (i+t, j+u) is inside this task's disjoint block of out [m, n].
                            unsafe { *out.get().add((i + t) * n + j + u) = *v };
                        }
                    }
                    i += 4;
                }
                j += 2;
            }
        });
    }

    /// Up to 4 x 2 tile, 8 lanes: lane l of (i, j) accumulates
    /// `fma(x[i][8c+l], w[j][8c+l], acc)` for c = 0, 1, .. (tail zero padded),
    /// then [`hsum8`]. Rows `>= mr` are computed but ignored by the caller.
    ///
    /// # Safety
    /// AVX2 + FMA + F16C available.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile_fma256<T: SimdW>(xr: [&[f32]; 4], wr: [&[T]; 2]) -> [[f32; 2]; 4] {
        let k = xr[0].len();
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let full = k / 8;
        let mut xv = [_mm256_setzero_ps(); 4];
        for c in 0..full {
            let o = c * 8;
            // SAFETY: o + 8 <= k = every row's length.
            unsafe {
                for i in 0..4 {
                    xv[i] = _mm256_loadu_ps(xr[i].as_ptr().add(o));
                }
                for j in 0..2 {
                    let wv = T::load8(wr[j].as_ptr().add(o));
                    for i in 0..4 {
                        acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
                    }
                }
            }
        }
        let rem = k - full * 8;
        if rem > 0 {
            let o = full * 8;
            for i in 0..4 {
                let mut b = [0.0f32; 8];
                b[..rem].copy_from_slice(&xr[i][o..]);
                // SAFETY: b holds 8 f32.
                xv[i] = unsafe { _mm256_loadu_ps(b.as_ptr()) };
            }
            for j in 0..2 {
                let mut b = [T::ZERO; 8];
                b[..rem].copy_from_slice(&wr[j][o..]);
                // SAFETY: b holds 8 elements; lanes >= rem are multiplied by x lanes that are 0.
                let wv = unsafe { T::load8(b.as_ptr()) };
                for i in 0..4 {
                    acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
                }
            }
        }
        let mut r = [[0.0f32; 2]; 4];
        for i in 0..4 {
            for j in 0..2 {
                r[i][j] = hsum8(acc[i][j]);
            }
        }
        r
    }
}

#[cfg(test)]
mod tests;
