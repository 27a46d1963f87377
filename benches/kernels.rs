//! CPU kernel benchmarks: matmul on Qwen2-0.5B shapes, a memory-read
//! bandwidth probe, rms_norm and paged-attention decode.
//!
//! Run: `cargo bench --bench kernels` (criterion, `harness = false`).
//! Before criterion's own output, a summary table is printed with the figures
//! that matter: GB/s of weights streamed for m = 1 (decode is memory bound,
//! compared with the probe's read bandwidth) and GFLOP/s (2*m*n*k per call)
//! for m = 16, 64, 512 (compute bound, compared with the `vdpbf16ps` peak).
//! Then one whole decode step's matmuls (24 layers + lm_head, ~0.99 GB of
//! distinct weights, so every step streams them from DRAM as serving does)
//! at batch 1, 8, 16, 32 and 64: the figure batched decode depends on, where
//! both the memory stream and the arithmetic are near their limits and only
//! overlapping them helps.
//!
//! Environment:
//! * `WEIR_CPU_ISA=scalar|avx2|avx512|avx512bf16` lowers the ISA.
//! * `WEIR_BENCH_SUMMARY_ONLY=1` prints the summary and skips criterion.
//! * `WEIR_BENCH_DECODE_ONLY=1` prints only the probe, the decode step and
//!   attention.
//! * `WEIR_BENCH_ATTENTION_ONLY=1` prints only attention.
//! * `WEIR_BENCH_QUANT_ONLY=1` prints only the probe and the quantized
//!   matmuls (bf16 beside Q8_0 and Q4_K on the Llama-3.2-1B shape, whose
//!   widths are multiples of 256 as Q4_K needs).

use std::hint::black_box;
use std::time::{Duration, Instant};
use weir::backend::cpu::sample::rand_vec;

use criterion::{BenchmarkId, Criterion, Throughput};
use half::bf16;
use rayon::prelude::*;

use weir::backend::cpu::{attention, matmul, ops};

use attention::{paged_attention, AttnSeq};
use matmul::{matmul, Isa, WeightView};

/// (name, k, n) of the Qwen2-0.5B linear layers.
const SHAPES: [(&str, usize, usize); 5] = [
    ("qkv", 896, 1152),
    ("o_proj", 896, 896),
    ("gate_up", 896, 9728),
    ("down", 4864, 896),
    ("lm_head", 896, 151936),
];
const MS: [usize; 4] = [1, 16, 64, 512];

/// [`rand_vec`] rounded to bf16 (the weights every matmul figure uses).
fn rand_bf16(n: usize, seed: u64) -> Vec<bf16> {
    rand_vec(n, seed)
        .iter()
        .map(|&v| bf16::from_f32(v))
        .collect()
}

/// The Qwen2-0.5B attention shape: (query heads, KV heads, head_dim, block size).
const ATTN: (usize, usize, usize, usize) = (14, 2, 64, 16);

/// The built-in demo model's attention shape (what `weir serve` runs by
/// default, and the agent example in docs/load-testing.md).
const ATTN_DEMO: (usize, usize, usize, usize) = (8, 2, 32, 16);

/// K and V caches holding `ctx` tokens of the `shape` (as [`ATTN`]), and a
/// shuffled (non-contiguous) block table over them.
fn attention_cache(
    ctx: usize,
    shape: (usize, usize, usize, usize),
) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let (_, kv_heads, hd, bs) = shape;
    let blocks = ctx.div_ceil(bs);
    let kc = rand_vec(blocks * bs * kv_heads * hd, 5);
    let vc = rand_vec(blocks * bs * kv_heads * hd, 6);
    let table = (0..blocks as u32)
        .map(|b| (b * 7919) % blocks as u32)
        .collect();
    (kc, vc, table)
}

/// Median and best seconds per call of `f`, running for about `budget`.
fn time_it(budget: Duration, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 3 {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (samples[samples.len() / 2], samples[0])
}

/// Multi-threaded memory read bandwidth (GB/s, best of several passes) over
/// a buffer far larger than the L3.
fn read_bandwidth_gbs() -> f64 {
    let bytes = 1usize << 30;
    let buf: Vec<u64> = (0..bytes / 8).map(|i| i as u64).collect();
    let chunk = 1 << 20; // u64s per task (8 MiB)
    let pass = || {
        buf.par_chunks(chunk)
            .map(read_sum)
            .reduce(|| 0, |a, b| a ^ b)
    };
    let (_, best) = time_it(Duration::from_secs(2), || {
        black_box(pass());
    });
    bytes as f64 / best / 1e9
}

/// XOR of all words, with wide loads and several independent accumulators.
fn read_sum(s: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if Isa::detected() >= Isa::Avx512 {
        // SAFETY: AVX-512F is available (checked above).
        return unsafe { read_sum_avx512(s) };
    }
    s.chunks_exact(8)
        .fold([0u64; 8], |mut a, c| {
            for i in 0..8 {
                a[i] ^= c[i];
            }
            a
        })
        .iter()
        .fold(0, |a, b| a ^ b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_sum_avx512(s: &[u64]) -> u64 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_si512(); 4];
    for c in s.chunks_exact(32) {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk holds 32 u64 = 4 x 64 bytes.
            *a = _mm512_xor_si512(*a, unsafe {
                _mm512_loadu_si512(c.as_ptr().add(8 * i).cast())
            });
        }
    }
    let v = _mm512_xor_si512(
        _mm512_xor_si512(acc[0], acc[1]),
        _mm512_xor_si512(acc[2], acc[3]),
    );
    _mm512_reduce_add_epi64(v) as u64
}

/// Prints the summary table (GB/s for m = 1, GFLOP/s otherwise).
fn summary() {
    println!(
        "weir CPU kernels: ISA {:?}, {} rayon threads",
        Isa::active(),
        rayon::current_num_threads()
    );
    if std::env::var_os("WEIR_BENCH_ATTENTION_ONLY").is_some() {
        attention_summary();
        return;
    }
    let bw = read_bandwidth_gbs();
    println!("memory read bandwidth (multi-threaded, 1 GiB): {bw:.1} GB/s");
    if std::env::var_os("WEIR_BENCH_QUANT_ONLY").is_some() {
        quant_summary(bw);
        return;
    }
    if std::env::var_os("WEIR_BENCH_DECODE_ONLY").is_none() {
        matmul_summary(bw);
    }
    decode_step_summary(bw);
    attention_summary();
}

/// Paged attention (shuffled blocks), one layer: a 512-token prefill chunk
/// at the end of a long context (a coding agent's turn: the conversation is
/// cached, the new tool output is not) and one decode row, in GFLOP/s
/// (QK^T and PV: 4 * head_dim FLOPs per query head per visible key); on the
/// Qwen2-0.5B shape, then on the demo model's.
fn attention_summary() {
    for (name, shape) in [("Qwen2-0.5B", ATTN), ("demo", ATTN_DEMO)] {
        attention_shape_summary(name, shape);
    }
}

fn attention_shape_summary(name: &str, shape: (usize, usize, usize, usize)) {
    let (heads, kv_heads, hd, bs) = shape;
    println!(
        "paged attention, one layer, {name} ({heads} heads, {kv_heads} KV heads, head_dim {hd}):"
    );
    for (q_len, ctx) in [(512usize, 4096usize), (512, 16384), (1, 16384)] {
        let (kc, vc, table) = attention_cache(ctx, shape);
        let q = rand_vec(q_len * heads * hd, 7);
        let mut out = vec![0.0; q_len * heads * hd];
        let seqs = [AttnSeq {
            q_start: 0,
            q_len,
            ctx_len: ctx,
            block_table: &table,
        }];
        let (med, _) = time_it(Duration::from_secs(2), || {
            paged_attention(
                &q, &kc, &vc, bs, heads, kv_heads, hd, 0.125, None, &seqs, &mut out,
            )
        });
        // The same cache in bf16 (`--kv-cache-dtype bf16`): half the bytes.
        let (kb, vb): (Vec<bf16>, Vec<bf16>) = (
            kc.iter().map(|&x| bf16::from_f32(x)).collect(),
            vc.iter().map(|&x| bf16::from_f32(x)).collect(),
        );
        let (med_bf16, _) = time_it(Duration::from_secs(2), || {
            paged_attention(
                &q, &kb, &vb, bs, heads, kv_heads, hd, 0.125, None, &seqs, &mut out,
            )
        });
        // Row i sees ctx - q_len + i + 1 keys.
        let keys: f64 = (0..q_len).map(|i| (ctx - q_len + i + 1) as f64).sum();
        let flops = 4.0 * hd as f64 * heads as f64 * keys;
        println!(
            "  q_len {q_len:4} at context {ctx:6}: f32 cache median {:8.2} ms {:6.1} GFLOP/s; \
             bf16 cache {:8.2} ms {:6.1} GFLOP/s",
            med * 1e3,
            flops / med / 1e9,
            med_bf16 * 1e3,
            flops / med_bf16 / 1e9
        );
    }
}

/// (name, k, n) of the Llama-3.2-1B linear layers (hidden 2048).
const SHAPES_1B: [(&str, usize, usize); 4] = [
    ("qkv", 2048, 3072),
    ("o_proj", 2048, 2048),
    ("gate_up", 2048, 16384),
    ("down", 8192, 2048),
];

/// Quantized matmuls beside bf16 at the same shapes: GB/s of weights at
/// m = 1 (against the probe), GFLOP/s (2*m*n*k) at m = 16, 64, 512.
fn quant_summary(bw: f64) {
    use weir::backend::cpu::qmatmul::qmatmul;
    use weir::quant::{QuantFormat, QuantMatrix};
    for &(name, k, n) in &SHAPES_1B {
        let v = rand_vec(n * k, 3);
        let w16: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
        let qs = [QuantFormat::Q8_0, QuantFormat::Q4K]
            .map(|f| QuantMatrix::quantize(f, n, k, &v).expect("whole blocks"));
        for &m in &MS {
            let x = rand_vec(m * k, 4);
            let mut out = vec![0.0f32; m * n];
            let flops = 2.0 * (m * n * k) as f64;
            let budget = Duration::from_millis(if flops > 1e10 { 3000 } else { 700 });
            let mut line = format!("{name:8} k={k:5} n={n:6} m={m:3}:");
            let (med, _) = time_it(budget, || {
                matmul(&x, m, k, WeightView::Bf16(&w16), n, &mut out)
            });
            let mut report = |label: &str, bytes: f64, med: f64| {
                line += &format!(
                    "  {label} {:7.1} us {:5.1} GB/s ({:3.0}%) {:6.1} GFLOP/s",
                    med * 1e6,
                    bytes / med / 1e9,
                    100.0 * bytes / med / 1e9 / bw,
                    flops / med / 1e9
                );
            };
            report("bf16", (n * k * 2) as f64, med);
            for q in &qs {
                let (med, _) = time_it(budget, || qmatmul(&x, m, q, &mut out));
                report(q.format().name(), q.bytes().len() as f64, med);
            }
            println!("{line}");
        }
    }
}

/// Per-shape matmul figures (see the module docs).
fn matmul_summary(bw: f64) {
    let only: Option<usize> = std::env::var("WEIR_BENCH_M")
        .ok()
        .and_then(|v| v.parse().ok());
    for &(name, k, n) in &SHAPES {
        let w: Vec<bf16> = rand_bf16(n * k, 3);
        for &m in &MS {
            if only.is_some_and(|o| o != m) {
                continue;
            }
            let x = rand_vec(m * k, 4);
            let mut out = vec![0.0f32; m * n];
            let flops = 2.0 * (m * n * k) as f64;
            let budget = Duration::from_millis(if flops > 1e10 { 3000 } else { 700 });
            let (med, best) = time_it(budget, || {
                matmul(&x, m, k, WeightView::Bf16(&w), n, &mut out)
            });
            let wbytes = (n * k * 2) as f64;
            println!(
                "matmul bf16 {name:8} k={k:5} n={n:6} m={m:3}: median {:9.1} us  {:6.1} GB/s ({:4.0}% of probe)  {:6.1} GFLOP/s (best {:6.1})",
                med * 1e6,
                wbytes / med / 1e9,
                100.0 * wbytes / med / 1e9 / bw,
                flops / med / 1e9,
                flops / best / 1e9,
            );
        }
    }
}

fn bench_matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul_bf16");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for &(name, k, n) in &SHAPES {
        let w: Vec<bf16> = rand_bf16(n * k, 3);
        for &m in &MS {
            let x = rand_vec(m * k, 4);
            let mut out = vec![0.0f32; m * n];
            if m == 1 {
                g.throughput(Throughput::Bytes((n * k * 2) as u64));
            } else {
                g.throughput(Throughput::Elements((2 * m * n * k) as u64));
            }
            g.bench_with_input(BenchmarkId::new(name, m), &m, |b, &m| {
                b.iter(|| matmul(black_box(&x), m, k, WeightView::Bf16(&w), n, &mut out))
            });
        }
    }
    g.finish();
}

fn bench_rms_norm(c: &mut Criterion) {
    let dim = 896;
    let mut g = c.benchmark_group("rms_norm");
    for tokens in [1usize, 64, 512] {
        let x = rand_vec(tokens * dim, 1);
        let w = rand_vec(dim, 2);
        let mut out = vec![0.0; tokens * dim];
        g.throughput(Throughput::Bytes((tokens * dim * 8) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(tokens), &tokens, |b, _| {
            b.iter(|| ops::rms_norm(black_box(&x), &w, 1e-6, dim, &mut out))
        });
    }
    g.finish();
}

fn bench_attention(c: &mut Criterion) {
    let (heads, kv_heads, hd, bs) = ATTN;
    let mut g = c.benchmark_group("paged_attention_decode");
    g.sample_size(20);
    for ctx in [512usize, 4096] {
        let (kc, vc, table) = attention_cache(ctx, ATTN);
        let q = rand_vec(heads * hd, 7);
        let mut out = vec![0.0; heads * hd];
        let seqs = [AttnSeq {
            q_start: 0,
            q_len: 1,
            ctx_len: ctx,
            block_table: &table,
        }];
        g.throughput(Throughput::Bytes((2 * ctx * kv_heads * hd * 4) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(ctx), &ctx, |b, _| {
            b.iter(|| {
                paged_attention(
                    black_box(&q),
                    &kc,
                    &vc,
                    bs,
                    heads,
                    kv_heads,
                    hd,
                    0.125,
                    None,
                    &seqs,
                    &mut out,
                )
            })
        });
    }
    g.finish();
}

/// One decode step's matmuls on the Qwen2-0.5B shape, weights streamed
/// from DRAM: ms per step, GB/s of weights, GFLOP/s and the tok/s the
/// matmuls alone would allow, per batch size.
fn decode_step_summary(bw: f64) {
    let layers = 24;
    let per_layer = &SHAPES[..4];
    let (lm_k, lm_n) = (SHAPES[4].1, SHAPES[4].2);
    let weights: Vec<Vec<bf16>> = (0..layers * per_layer.len())
        .into_par_iter()
        .map(|i| {
            let (_, k, n) = per_layer[i % per_layer.len()];
            rand_bf16(n * k, 10 + i as u64)
        })
        .collect();
    let lm = rand_bf16(lm_n * lm_k, 9);
    let params = weights.iter().map(Vec::len).sum::<usize>() + lm.len();
    let bytes = (params * 2) as f64;
    println!(
        "decode step (24 layers + lm_head, {:.2} GB of bf16 weights streamed from DRAM):",
        bytes / 1e9
    );
    for m in [1usize, 8, 16, 32, 64] {
        let x = rand_vec(m * 4864, 5);
        let mut out = vec![0.0f32; m * lm_n];
        let (med, _) = time_it(Duration::from_secs(2), || {
            for (i, w) in weights.iter().enumerate() {
                let (_, k, n) = per_layer[i % per_layer.len()];
                matmul(&x[..m * k], m, k, WeightView::Bf16(w), n, &mut out[..m * n]);
            }
            matmul(
                &x[..m * lm_k],
                m,
                lm_k,
                WeightView::Bf16(&lm),
                lm_n,
                &mut out,
            );
        });
        println!(
            "  m={m:3}: median {:6.1} ms/step  {:5.1} GB/s ({:3.0}% of probe)  {:5.0} GFLOP/s  -> {:5.0} tok/s",
            med * 1e3,
            bytes / med / 1e9,
            100.0 * bytes / med / 1e9 / bw,
            2.0 * m as f64 * params as f64 / med / 1e9,
            m as f64 / med
        );
    }
}

fn main() {
    summary();
    if [
        "WEIR_BENCH_SUMMARY_ONLY",
        "WEIR_BENCH_ATTENTION_ONLY",
        "WEIR_BENCH_QUANT_ONLY",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
    {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_matmul(&mut c);
    bench_rms_norm(&mut c);
    bench_attention(&mut c);
    c.final_summary();
}
