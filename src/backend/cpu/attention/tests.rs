use super::*;
use crate::backend::cpu::sample::rand_vec;

/// Naive f64 attention for one sequence over contiguous K/V `[ctx, kv_heads, hd]`.
#[allow(clippy::too_many_arguments)]
fn reference(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    ctx: usize,
    q_len: usize,
    heads: usize,
    kvh: usize,
    hd: usize,
    scale: f32,
    window: Option<usize>,
) -> Vec<f32> {
    let mut out = vec![0.0f32; q_len * heads * hd];
    for i in 0..q_len {
        let pos = ctx - q_len + i;
        for h in 0..heads {
            let g = h / (heads / kvh);
            let qr = &q[(i * heads + h) * hd..][..hd];
            let keys: Vec<usize> = (0..=pos)
                .filter(|&p| window.is_none_or(|w| p + w > pos))
                .collect();
            let s: Vec<f64> = keys
                .iter()
                .map(|&p| {
                    qr.iter()
                        .zip(&k[(p * kvh + g) * hd..][..hd])
                        .map(|(a, b)| *a as f64 * *b as f64)
                        .sum::<f64>()
                        * scale as f64
                })
                .collect();
            let mx = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            for d in 0..hd {
                let val: f64 = keys
                    .iter()
                    .zip(&e)
                    .map(|(&p, w)| w * v[(p * kvh + g) * hd + d] as f64)
                    .sum::<f64>()
                    / z;
                out[(i * heads + h) * hd + d] = val as f32;
            }
        }
    }
    out
}

struct Case {
    heads: usize,
    kvh: usize,
    hd: usize,
    bs: usize,
    window: Option<usize>,
    ctxs: Vec<usize>,
    q_lens: Vec<usize>,
}

/// Builds a paged cache with shuffled block ids for several sequences,
/// runs paged_attention on all of them at once and checks each against
/// the reference (abs 2e-5 on outputs of magnitude <= 1); returns the
/// outputs per sequence for further comparisons.
fn run_case(c: &Case, isa: Isa, seed: u64) -> Vec<Vec<f32>> {
    let kv_dim = c.kvh * c.hd;
    let total_blocks: usize = c.ctxs.iter().map(|&x| x.div_ceil(c.bs)).sum::<usize>() + 3;
    // Shuffled permutation of block ids.
    let mut ids: Vec<u32> = (0..total_blocks as u32).collect();
    let r = rand_vec(total_blocks, seed + 1);
    for i in (1..ids.len()).rev() {
        let j = ((r[i] + 1.0) * 0.5 * (i + 1) as f32) as usize % (i + 1);
        ids.swap(i, j);
    }
    let mut kc = vec![f32::NAN; total_blocks * c.bs * kv_dim];
    let mut vc = vec![f32::NAN; total_blocks * c.bs * kv_dim];
    let mut next = 0;
    let mut tables = Vec::new();
    let mut contig = Vec::new();
    for (s, &ctx) in c.ctxs.iter().enumerate() {
        let nb = ctx.div_ceil(c.bs);
        let table: Vec<u32> = ids[next..next + nb].to_vec();
        next += nb;
        let k: Vec<f32> = rand_vec(ctx * kv_dim, seed * 31 + s as u64)
            .iter()
            .map(|v| v * 2.0)
            .collect();
        let v = rand_vec(ctx * kv_dim, seed * 37 + s as u64);
        let slots: Vec<u32> = (0..ctx)
            .map(|p| table[p / c.bs] * c.bs as u32 + (p % c.bs) as u32)
            .collect();
        write_kv(&k, &v, &slots, kv_dim, &mut kc, &mut vc);
        tables.push(table);
        contig.push((k, v));
    }
    let row = c.heads * c.hd;
    let total_q: usize = c.q_lens.iter().sum();
    let q = rand_vec(total_q * row, seed + 99);
    let mut seqs = Vec::new();
    let mut start = 0;
    for (s, &ql) in c.q_lens.iter().enumerate() {
        seqs.push(AttnSeq {
            q_start: start,
            q_len: ql,
            ctx_len: c.ctxs[s],
            block_table: &tables[s],
        });
        start += ql;
    }
    let mut out = vec![0.0; total_q * row];
    let scale = 1.0 / (c.hd as f32).sqrt();
    paged_attention_with_isa(
        isa, &q, &kc, &vc, c.bs, c.heads, c.kvh, c.hd, scale, c.window, &seqs, &mut out,
    );
    let mut res = Vec::new();
    for (s, sq) in seqs.iter().enumerate() {
        let qs = &q[sq.q_start * row..(sq.q_start + sq.q_len) * row];
        let want = reference(
            qs,
            &contig[s].0,
            &contig[s].1,
            sq.ctx_len,
            sq.q_len,
            c.heads,
            c.kvh,
            c.hd,
            scale,
            c.window,
        );
        let got = &out[sq.q_start * row..(sq.q_start + sq.q_len) * row];
        for (e, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 2e-5,
                "{isa:?} seq {s} elem {e}: {a} vs {b}"
            );
        }
        res.push(got.to_vec());
    }
    res
}

/// Every ISA, failing on one this CPU lacks unless opted out (see `test_isas`).
fn isas() -> Vec<Isa> {
    crate::backend::cpu::test_isas::all()
}

#[test]
fn matches_reference_gqa_shuffled_blocks() {
    for isa in isas() {
        // Qwen2-0.5B-like GQA (14/2, 64), decode + prefill mix.
        run_case(
            &Case {
                heads: 14,
                kvh: 2,
                hd: 64,
                bs: 16,
                window: None,
                ctxs: vec![1, 37, 100, 300],
                q_lens: vec![1, 1, 100, 45],
            },
            isa,
            1,
        );
        // head_dim 128, MHA, block size not a power of two.
        run_case(
            &Case {
                heads: 4,
                kvh: 4,
                hd: 128,
                bs: 5,
                window: None,
                ctxs: vec![70, 9],
                q_lens: vec![3, 9],
            },
            isa,
            2,
        );
        // Odd head_dim (scalar-tail lanes), sliding window.
        run_case(
            &Case {
                heads: 6,
                kvh: 3,
                hd: 24,
                bs: 8,
                window: Some(40),
                ctxs: vec![150, 30],
                q_lens: vec![150, 2],
            },
            isa,
            3,
        );
        // head_dim 48: a 32-column and a 16-column PV block (the demo
        // model's 32 takes the 32-column block alone).
        run_case(
            &Case {
                heads: 8,
                kvh: 2,
                hd: 48,
                bs: 16,
                window: None,
                ctxs: vec![90, 1],
                q_lens: vec![40, 1],
            },
            isa,
            5,
        );
        run_case(
            &Case {
                heads: 2,
                kvh: 1,
                hd: 10,
                bs: 16,
                window: Some(1),
                ctxs: vec![20],
                q_lens: vec![20],
            },
            isa,
            4,
        );
    }
}

/// Prefill in chunks (and decode one by one) gives the same bits as one
/// pass; a sequence alone gives the same bits as inside a batch; every
/// ISA gives the same bits.
#[test]
fn chunked_and_batched_bit_identical() {
    let (heads, kvh, hd, bs) = (4, 2, 64, 16);
    let ctx = 200;
    let full = run_case(
        &Case {
            heads,
            kvh,
            hd,
            bs,
            window: Some(70),
            ctxs: vec![ctx],
            q_lens: vec![ctx],
        },
        Isa::Scalar,
        5,
    );
    let row = heads * hd;
    let mut isas_out = vec![];
    for isa in isas() {
        let a = run_case(
            &Case {
                heads,
                kvh,
                hd,
                bs,
                window: Some(70),
                ctxs: vec![ctx],
                q_lens: vec![ctx],
            },
            isa,
            5,
        );
        isas_out.push(a[0].clone());
        // Same data, chunks of 64 (the same cache, ctx_len growing).
        let mut chunks = vec![];
        for end in [64usize, 128, 190, 199, 200] {
            let start = chunks.len() / row;
            let r = run_case_prefix(heads, kvh, hd, bs, Some(70), ctx, end, end - start, isa, 5);
            chunks.extend(r);
        }
        assert!(
            chunks
                .iter()
                .zip(&full[0])
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{isa:?} chunked"
        );
        // Inside a batch with other sequences.
        let b = run_case(
            &Case {
                heads,
                kvh,
                hd,
                bs,
                window: Some(70),
                ctxs: vec![ctx, 33, 500],
                q_lens: vec![ctx, 1, 7],
            },
            isa,
            5,
        );
        assert!(
            b[0].iter()
                .zip(&full[0])
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{isa:?} batched"
        );
    }
    for o in isas_out {
        assert!(o
            .iter()
            .zip(&full[0])
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

/// Like `run_case` for one sequence whose cache holds the first `ctx_len`
/// of the same `full_ctx` tokens, querying its last `q_len` positions.
#[allow(clippy::too_many_arguments)]
fn run_case_prefix(
    heads: usize,
    kvh: usize,
    hd: usize,
    bs: usize,
    window: Option<usize>,
    full_ctx: usize,
    ctx_len: usize,
    q_len: usize,
    isa: Isa,
    seed: u64,
) -> Vec<f32> {
    let kv_dim = kvh * hd;
    let nb = full_ctx.div_ceil(bs);
    let table: Vec<u32> = (0..nb as u32).rev().collect();
    let k: Vec<f32> = rand_vec(full_ctx * kv_dim, seed * 31)
        .iter()
        .map(|v| v * 2.0)
        .collect();
    let v = rand_vec(full_ctx * kv_dim, seed * 37);
    let mut kc = vec![0.0; nb * bs * kv_dim];
    let mut vc = vec![0.0; nb * bs * kv_dim];
    let slots: Vec<u32> = (0..ctx_len)
        .map(|p| table[p / bs] * bs as u32 + (p % bs) as u32)
        .collect();
    write_kv(&k, &v, &slots, kv_dim, &mut kc, &mut vc);
    let row = heads * hd;
    let q = rand_vec(full_ctx * row, seed + 99);
    let q = &q[(ctx_len - q_len) * row..ctx_len * row];
    let mut out = vec![0.0; q_len * row];
    let seqs = [AttnSeq {
        q_start: 0,
        q_len,
        ctx_len,
        block_table: &table,
    }];
    paged_attention_with_isa(
        isa,
        q,
        &kc,
        &vc,
        bs,
        heads,
        kvh,
        hd,
        1.0 / (hd as f32).sqrt(),
        window,
        &seqs,
        &mut out,
    );
    out
}

/// The SIMD score kernels give dot16's bits for every head_dim (tails included).
#[test]
fn scores_identical_across_isas() {
    for hd in [1, 8, 10, 16, 24, 64, 80, 128, 130] {
        let q = rand_vec(hd, hd as u64);
        let k = rand_vec(hd * 40, 3);
        let offs: Vec<usize> = (0..KEY_TILE).map(|j| (j * 7 % 40) * hd).collect();
        let mut base = [0.0f32; KEY_TILE];
        tile_scores(Isa::Scalar, &q, &k, &offs, hd, 0.3, &mut base);
        for isa in isas() {
            let mut s = [0.0f32; KEY_TILE];
            tile_scores(isa, &q, &k, &offs, hd, 0.3, &mut s);
            assert!(
                s.iter().zip(&base).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa:?} hd {hd}"
            );
        }
    }
}

/// Two heads' scores at once (each K row read once on AVX-512) are the
/// one-head scores, bit for bit, for every tile length (groups of 8 keys
/// and the remainder).
#[test]
fn paired_scores_are_the_single_head_scores() {
    for hd in [8, 10, 24, 32, 64, 130] {
        let qa = rand_vec(hd, hd as u64);
        let qb = rand_vec(hd, hd as u64 + 100);
        let k = rand_vec(hd * 40, 3);
        for n in [1, 7, 8, 9, 16, 23, KEY_TILE] {
            let offs: Vec<usize> = (0..n).map(|j| (j * 7 % 40) * hd).collect();
            let mut base = [[0.0f32; KEY_TILE]; 2];
            for (q, b) in [&qa, &qb].into_iter().zip(base.iter_mut()) {
                tile_scores(Isa::Scalar, q, &k, &offs, hd, 0.3, &mut b[..n]);
            }
            for isa in isas() {
                let (mut sa, mut sb) = ([0.0f32; KEY_TILE], [0.0f32; KEY_TILE]);
                tile_scores_pair(
                    isa,
                    [&qa, &qb],
                    &k,
                    &offs,
                    hd,
                    0.3,
                    [&mut sa[..n], &mut sb[..n]],
                );
                for (got, want) in [(&sa, &base[0]), (&sb, &base[1])] {
                    assert!(
                        got[..n]
                            .iter()
                            .zip(&want[..n])
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa:?} hd {hd} n {n}"
                    );
                }
            }
        }
    }
}

#[test]
fn dot16_matches_f64() {
    for n in [1, 15, 16, 17, 64, 128, 130] {
        let a = rand_vec(n, 1);
        let b = rand_vec(n, 2);
        let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((dot16(&a, &b) as f64 - want).abs() < 1e-5);
    }
}

#[test]
fn write_kv_rounds_to_nearest_even_bf16() {
    let one = 1.0f32.to_bits();
    // 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7: even
    // (1) wins; 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6:
    // even (1 + 2^-6) wins; just above halfway rounds up.
    let k = [
        f32::from_bits(one + (1 << 15)),
        f32::from_bits(one + (3 << 15)),
        f32::from_bits(one + (1 << 15) + 1),
        -2.5,
    ];
    let v = [f32::NAN, f32::INFINITY, 0.0, -0.0];
    let (mut kc, mut vc) = (vec![bf16::ZERO; 8], vec![bf16::ZERO; 8]);
    write_kv(&k, &v, &[1], 4, &mut kc, &mut vc);
    let got: Vec<f32> = kc[4..].iter().map(|x| x.to_f32()).collect();
    assert_eq!(got, [1.0, 1.0 + 1.0 / 64.0, 1.0 + 1.0 / 128.0, -2.5]);
    assert!(kc[..4].iter().all(|x| x.to_bits() == 0), "slot 0 untouched");
    assert!(vc[4].is_nan() && vc[5] == bf16::INFINITY && vc[6] == bf16::ZERO);
    assert!(vc[7].is_sign_negative());
}

/// A bf16 cache gives exactly the bits of an f32 cache holding the same
/// rounded values, on every ISA, for decode rows, prefill chunks and a
/// sliding window, over shuffled blocks: the widened tile feeds the f32
/// kernels unchanged.
#[test]
fn a_bf16_cache_is_an_f32_cache_of_rounded_values() {
    let (heads, kvh, hd, bs) = (6, 2, 40, 16);
    let kv_dim = kvh * hd;
    let ctxs = [1usize, 33, 250];
    let q_lens = [1usize, 33, 17];
    let blocks: usize = ctxs.iter().map(|c| c.div_ceil(bs)).sum::<usize>() + 2;
    let slots_total = blocks * bs;
    let (mut kb, mut vb) = (
        vec![bf16::ZERO; slots_total * kv_dim],
        vec![bf16::ZERO; slots_total * kv_dim],
    );
    let (mut kf, mut vf) = (
        vec![0.0f32; slots_total * kv_dim],
        vec![0.0f32; slots_total * kv_dim],
    );
    // Blocks handed out back to front, so tables are not in order.
    let mut next = blocks as u32;
    let mut tables = Vec::new();
    for (s, &ctx) in ctxs.iter().enumerate() {
        let table: Vec<u32> = (0..ctx.div_ceil(bs))
            .map(|_| {
                next -= 1;
                next
            })
            .collect();
        let slots: Vec<u32> = (0..ctx)
            .map(|p| table[p / bs] * bs as u32 + (p % bs) as u32)
            .collect();
        let k: Vec<f32> = rand_vec(ctx * kv_dim, 11 + s as u64)
            .iter()
            .map(|x| x * 3.0)
            .collect();
        let v = rand_vec(ctx * kv_dim, 17 + s as u64);
        write_kv(&k, &v, &slots, kv_dim, &mut kb, &mut vb);
        let round =
            |x: &Vec<f32>| -> Vec<f32> { x.iter().map(|&e| bf16::from_f32(e).to_f32()).collect() };
        write_kv(&round(&k), &round(&v), &slots, kv_dim, &mut kf, &mut vf);
        tables.push(table);
    }
    let row = heads * hd;
    let total_q: usize = q_lens.iter().sum();
    let q = rand_vec(total_q * row, 5);
    let mut start = 0;
    let seqs: Vec<AttnSeq<'_>> = ctxs
        .iter()
        .zip(&q_lens)
        .zip(&tables)
        .map(|((&ctx_len, &q_len), table)| {
            let s = AttnSeq {
                q_start: start,
                q_len,
                ctx_len,
                block_table: table,
            };
            start += q_len;
            s
        })
        .collect();
    let scale = 1.0 / (hd as f32).sqrt();
    for window in [None, Some(20)] {
        let mut first: Option<Vec<f32>> = None;
        for isa in isas() {
            let mut from_bf16 = vec![0.0f32; total_q * row];
            let mut from_f32 = vec![0.0f32; total_q * row];
            paged_attention_with_isa(
                isa,
                &q,
                &kb,
                &vb,
                bs,
                heads,
                kvh,
                hd,
                scale,
                window,
                &seqs,
                &mut from_bf16,
            );
            paged_attention_with_isa(
                isa,
                &q,
                &kf,
                &vf,
                bs,
                heads,
                kvh,
                hd,
                scale,
                window,
                &seqs,
                &mut from_f32,
            );
            let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&from_bf16), bits(&from_f32), "{isa:?} {window:?}");
            assert!(from_bf16.iter().all(|x| x.is_finite()));
            match &first {
                None => first = Some(from_bf16),
                Some(f) => assert_eq!(bits(f), bits(&from_bf16), "{isa:?} vs the first ISA"),
            }
        }
    }
}
