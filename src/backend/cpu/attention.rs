//! Causal attention over a paged KV cache (f32).
//!
//! # Layout
//!
//! One cache per layer for K and one for V, each
//! `[num_blocks, block_size, num_kv_heads, head_dim]`. A token's *slot* is
//! `block_id * block_size + offset_in_block`; a sequence's block table lists
//! the blocks holding its positions `0, block_size, 2 * block_size, ..`.
//!
//! # The math
//!
//! For query row `i` of a sequence (absolute position
//! `pos = ctx_len - q_len + i`) and query head `h` (KV head
//! `g = h / (num_heads / num_kv_heads)`), over the allowed keys
//! `P = { p : p <= pos and (no window or p > pos - w) }`:
//!
//! ```text
//! s_p = scale * q[i][h] . K[p][g]
//! out[i][h] = sum_{p in P} softmax(s)_p * V[p][g]
//! ```
//!
//! # How it is computed (and why it is batch invariant)
//!
//! Online ("flash") softmax in f32 over *key tiles* of [`KEY_TILE`] positions
//! aligned to absolute positions (`[32t, 32t + 32)`, clipped to `P`). Per
//! tile: scores, tile max `mt`, `m' = max(m, mt)`, `c = e^(m - m')`,
//! `l = l c + sum_p e^(s_p - m')` (summed in key order),
//! `acc = acc c + sum_p e^(s_p - m') V[p]` (key order); at the end
//! `out = acc / l`. Everything a row computes depends only on its own
//! position, its query and the cache contents, never on how the batch or a
//! prefill was split into chunks, nor on threads.
//!
//! Dot products (scores) use 16 f32 lanes in order, multiply then add, and
//! [`hsum_tree`]: [`dot16`] is the plain reference, the AVX-512 and AVX2
//! kernels in the `x86` module compute exactly the same operations (16 keys
//! at a time with a transposed reduction on AVX-512). The softmax update and
//! `acc += p V` are element-wise plain Rust compiled per ISA by
//! `multiversion!` (auto-vectorised). So every ISA gives identical bits
//! (tested). `exp` is [`exp_f32`].
//!
//! A work item is up to [`Q_CHUNK`] query rows of one sequence times the
//! query heads sharing one KV head; it walks the key tiles outermost, so a
//! tile of K/V rows is read once and reused from L1 by every row and head of
//! the item. (Walking rows outermost re-read the whole context per row: a
//! 512-token prefill chunk at the end of a 16k context went from ~750 to
//! ~460 ms per layer with the tiles outermost, `cargo bench --bench kernels`.)
//! Within a tile, the heads of the group go two at a time: each V row is
//! read once for both heads' `acc += p V`, and on AVX-512 each K row once for
//! both heads' scores (8 keys x 2 heads in 16 accumulators); an odd group's
//! last head goes alone; the pair's serial softmax max and sum chains run
//! side by side in one loop. Each head's operations and their order are the
//! one-head ones, so the bits are too (tested); a 512-token chunk at 16k
//! went from ~535-570 to ~400-408 ms (Qwen2-0.5B shape) and ~213 to ~153 ms
//! (demo shape), interleaved runs of `WEIR_BENCH_ATTENTION_ONLY=1`.
//!
//! Measured (`benches/kernels.rs`, Qwen2-0.5B shapes: 14 heads, 2 KV heads,
//! head_dim 64, block 16, shuffled blocks; 2-core Zen 4 VM shared with other
//! builds): decode at context 512 ~40-60 us, at 4096 ~0.3-0.5 ms.

use rayon::prelude::*;

use super::matmul::{hsum_tree, Isa, SyncPtr};
use super::ops::{exp_f32, multiversion};

/// Keys per online-softmax step; tiles are aligned to absolute positions.
pub const KEY_TILE: usize = 32;

/// Query rows of one sequence handled by one parallel work item.
const Q_CHUNK: usize = 16;

/// Write the new tokens' K and V (`[tokens, kv_dim]`, `kv_dim =
/// num_kv_heads * head_dim`) into their slots of the caches.
///
/// # Panics
/// If a slot lies outside the caches or the inputs are shorter than `slots`.
pub fn write_kv(
    k: &[f32],
    v: &[f32],
    slots: &[u32],
    kv_dim: usize,
    k_cache: &mut [f32],
    v_cache: &mut [f32],
) {
    let tokens = slots.len();
    assert!(
        k.len() >= tokens * kv_dim && v.len() >= tokens * kv_dim,
        "write_kv: k/v hold {}/{} elements, need tokens*kv_dim = {}",
        k.len(),
        v.len(),
        tokens * kv_dim
    );
    let cap = k_cache.len().min(v_cache.len()) / kv_dim.max(1);
    for (t, &slot) in slots.iter().enumerate() {
        let s = slot as usize;
        assert!(s < cap, "write_kv: slot {s} outside cache of {cap} slots");
        k_cache[s * kv_dim..(s + 1) * kv_dim].copy_from_slice(&k[t * kv_dim..(t + 1) * kv_dim]);
        v_cache[s * kv_dim..(s + 1) * kv_dim].copy_from_slice(&v[t * kv_dim..(t + 1) * kv_dim]);
    }
}

/// One sequence's share of a step.
#[derive(Clone, Copy, Debug)]
pub struct AttnSeq<'a> {
    /// First row of this sequence's queries in `q`.
    pub q_start: usize,
    /// Number of query tokens this step (1 for decode, a chunk for prefill).
    pub q_len: usize,
    /// Tokens in the cache for this sequence after this step's write (the
    /// queries are its last `q_len` positions).
    pub ctx_len: usize,
    /// Block ids holding positions `0..` of this sequence, in order.
    pub block_table: &'a [u32],
}

/// Shapes shared by every work item.
#[derive(Clone, Copy)]
struct Geom {
    block_size: usize,
    num_kv_heads: usize,
    head_dim: usize,
    scale: f32,
    window: Option<usize>,
}

/// `out[q][h] = softmax(q . K^T * scale over allowed keys) . V`.
///
/// Query `i` of a sequence has absolute position `ctx_len - q_len + i` and
/// sees keys at positions `p <= pos` and, with `sliding_window = Some(w)`,
/// `p > pos - w`. GQA: query head `h` reads KV head
/// `h / (num_heads / num_kv_heads)`.
/// `q: [total_q, num_heads, head_dim]`; `out: [total_q, num_heads * head_dim]`;
/// rows of `out` not covered by `seqs` are left untouched.
///
/// Parallel (rayon) over (sequence, KV head, chunk of 16 query rows); the
/// query heads sharing a KV head are computed together to reuse K/V from L1. The result
/// of a row is independent of the batch composition and of chunking (see the
/// module docs).
///
/// # Panics
/// On inconsistent shapes, a block table too short for `ctx_len`, a block id
/// outside the caches, or `sliding_window = Some(0)`.
#[allow(clippy::too_many_arguments)]
pub fn paged_attention(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    block_size: usize,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    scale: f32,
    sliding_window: Option<usize>,
    seqs: &[AttnSeq<'_>],
    out: &mut [f32],
) {
    paged_attention_with_isa(
        Isa::active(),
        q,
        k_cache,
        v_cache,
        block_size,
        num_heads,
        num_kv_heads,
        head_dim,
        scale,
        sliding_window,
        seqs,
        out,
    );
}

/// [`paged_attention`] with an explicit ISA (all ISAs give identical bits).
#[allow(clippy::too_many_arguments)]
pub fn paged_attention_with_isa(
    isa: Isa,
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    block_size: usize,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    scale: f32,
    sliding_window: Option<usize>,
    seqs: &[AttnSeq<'_>],
    out: &mut [f32],
) {
    assert!(
        isa.is_supported(),
        "paged_attention: ISA {isa:?} not supported"
    );
    assert!(
        block_size > 0 && head_dim > 0 && num_kv_heads > 0,
        "paged_attention: zero block_size/head_dim/num_kv_heads"
    );
    assert!(
        num_heads.is_multiple_of(num_kv_heads),
        "paged_attention: num_heads {num_heads} not a multiple of num_kv_heads {num_kv_heads}"
    );
    assert!(
        sliding_window != Some(0),
        "paged_attention: sliding_window must be >= 1"
    );
    let kv_dim = num_kv_heads * head_dim;
    assert_eq!(
        k_cache.len(),
        v_cache.len(),
        "paged_attention: k_cache and v_cache differ in size"
    );
    assert!(
        k_cache.len().is_multiple_of(kv_dim),
        "paged_attention: cache size {} not a multiple of kv_dim {kv_dim}",
        k_cache.len()
    );
    // A trailing partial block is allowed; every key's slot is bounds-checked
    // again when it is read.
    let num_blocks = k_cache.len().div_ceil(block_size * kv_dim);
    let row = num_heads * head_dim;
    let mut items = Vec::new();
    let mut work = 0usize;
    for (s, seq) in seqs.iter().enumerate() {
        assert!(
            seq.q_len <= seq.ctx_len,
            "paged_attention: seq {s}: q_len {} > ctx_len {}",
            seq.q_len,
            seq.ctx_len
        );
        assert!(
            (seq.q_start + seq.q_len) * row <= q.len().min(out.len()),
            "paged_attention: seq {s}: rows {}..{} outside q/out",
            seq.q_start,
            seq.q_start + seq.q_len
        );
        assert!(
            seq.block_table.len() * block_size >= seq.ctx_len,
            "paged_attention: seq {s}: block table of {} blocks too short for ctx_len {}",
            seq.block_table.len(),
            seq.ctx_len
        );
        if let Some(&b) = seq.block_table[..seq.ctx_len.div_ceil(block_size)]
            .iter()
            .find(|&&b| b as usize >= num_blocks)
        {
            panic!("paged_attention: seq {s}: block id {b} outside cache of {num_blocks} blocks");
        }
        for kvh in 0..num_kv_heads {
            for c in (0..seq.q_len).step_by(Q_CHUNK) {
                items.push((s, kvh, c, (c + Q_CHUNK).min(seq.q_len)));
            }
        }
        work += seq.q_len * seq.ctx_len.min(sliding_window.unwrap_or(usize::MAX)) * num_heads;
    }
    let g = Geom {
        block_size,
        num_kv_heads,
        head_dim,
        scale,
        window: sliding_window,
    };
    let outp = SyncPtr(out.as_mut_ptr());
    let group = num_heads / num_kv_heads;
    let run = |&(s, kvh, r0, r1): &(usize, usize, usize, usize)| {
        let seq = &seqs[s];
        let h0 = kvh * group;
        let mut rows: Vec<RowJob<'_>> = (r0..r1)
            .map(|r| {
                let qi = seq.q_start + r;
                // SAFETY: (row qi, heads h0..h0+group) are written by exactly
                // one work item; bounds checked above (qi < q_start + q_len,
                // rows fit in out), and `out` outlives the parallel loop.
                let out = unsafe {
                    std::slice::from_raw_parts_mut(
                        outp.get().add(qi * row + h0 * head_dim),
                        group * head_dim,
                    )
                };
                RowJob {
                    q: &q[qi * row + h0 * head_dim..qi * row + (h0 + group) * head_dim],
                    out,
                    pos: seq.ctx_len - seq.q_len + r,
                }
            })
            .collect();
        attend_rows_group(isa, &mut rows, k_cache, v_cache, seq.block_table, kvh, &g);
    };
    if work * head_dim < (1 << 16) || rayon::current_num_threads() <= 1 {
        items.iter().for_each(run);
    } else {
        items.par_iter().for_each(run);
    }
}

/// One query row of a work item: its query heads sharing one KV head (back
/// to back), where their output goes, and its absolute position.
struct RowJob<'a> {
    q: &'a [f32],
    out: &'a mut [f32],
    pos: usize,
}

/// Computes a run of query rows of one sequence for all the query heads
/// sharing KV head `kvh`: the online softmax over key tiles, with the tiles
/// outermost, so each tile's K/V rows are read once and reused from L1 by
/// every row and every head of the group (a 512-row prefill chunk over a
/// long context used to stream the whole context once per row).
///
/// Each row still visits its own tiles in order, clipped to its own causal
/// (and window) range, with exactly the one-row, one-head arithmetic: the
/// loop order across rows changes nothing in any row's result.
#[allow(clippy::too_many_arguments)]
fn attend_rows_group(
    isa: Isa,
    rows: &mut [RowJob<'_>],
    k_cache: &[f32],
    v_cache: &[f32],
    table: &[u32],
    kvh: usize,
    g: &Geom,
) {
    let hd = g.head_dim;
    let lo_of = |pos: usize| g.window.map_or(0, |w| (pos + 1).saturating_sub(w));
    let (Some(min_lo), Some(max_pos)) = (
        rows.iter().map(|r| lo_of(r.pos)).min(),
        rows.iter().map(|r| r.pos).max(),
    ) else {
        return;
    };
    let mut states: Vec<Vec<RowState>> = rows
        .iter()
        .map(|r| {
            (0..r.q.len() / hd)
                .map(|_| RowState {
                    m: f32::NEG_INFINITY,
                    l: 0.0,
                })
                .collect()
        })
        .collect();
    for r in rows.iter_mut() {
        r.out.fill(0.0);
    }
    let mut offs = [0usize; KEY_TILE];
    let mut t0 = min_lo / KEY_TILE * KEY_TILE;
    while t0 <= max_pos {
        // Keys [ta, tb] of this tile that any row sees; each row takes its
        // own sub-range [a, b] of them.
        let ta = t0.max(min_lo);
        let tb = (t0 + KEY_TILE - 1).min(max_pos);
        let (mut blk, mut off) = (ta / g.block_size, ta % g.block_size);
        for o in offs[..tb - ta + 1].iter_mut() {
            *o = ((table[blk] as usize * g.block_size + off) * g.num_kv_heads + kvh) * hd;
            off += 1;
            if off == g.block_size {
                off = 0;
                blk += 1;
            }
        }
        for (r, st) in rows.iter_mut().zip(states.iter_mut()) {
            let a = t0.max(lo_of(r.pos));
            let b = (t0 + KEY_TILE - 1).min(r.pos);
            if a > b {
                continue;
            }
            let offs = &offs[a - ta..b - ta + 1];
            // Two heads at a time share each V row read (and each K row
            // read, on AVX-512); an odd group's last head goes alone. Each
            // head's arithmetic is the one-head arithmetic either way.
            let mut heads =
                r.q.chunks_exact(hd)
                    .zip(r.out.chunks_exact_mut(hd))
                    .zip(st.iter_mut());
            while let Some(((qa, oa), sa)) = heads.next() {
                match heads.next() {
                    Some(((qb, ob), sb)) => tile_step_pair(
                        isa,
                        [qa, qb],
                        k_cache,
                        v_cache,
                        offs,
                        hd,
                        g.scale,
                        [sa, sb],
                        [oa, ob],
                    ),
                    None => tile_step(isa, qa, k_cache, v_cache, offs, hd, g.scale, sa, oa),
                }
            }
        }
        t0 += KEY_TILE;
    }
    for (r, st) in rows.iter_mut().zip(&states) {
        for (oh, st) in r.out.chunks_exact_mut(hd).zip(st) {
            let inv = 1.0 / st.l;
            for v in oh.iter_mut() {
                *v *= inv;
            }
        }
    }
}

/// Running max and sum of the online softmax.
struct RowState {
    m: f32,
    l: f32,
}

/// Lanes of the attention dot product.
const DOT_LANES: usize = 16;

/// `sum_d a[d] b[d]`: lane `l` (of 16) sums `a[d] * b[d]` (multiply, then
/// add; no FMA) for `d = l, l + 16, ..` in order, lanes past the end adding
/// `+0`; then [`hsum_tree`]. The reference for the SIMD versions in
/// the `x86` module, which give the same bits.
pub fn dot16(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0.0f32; DOT_LANES];
    let mut d = 0;
    while d < n {
        let mut x = [0.0f32; DOT_LANES];
        let mut y = [0.0f32; DOT_LANES];
        let len = (n - d).min(DOT_LANES);
        x[..len].copy_from_slice(&a[d..d + len]);
        y[..len].copy_from_slice(&b[d..d + len]);
        for l in 0..DOT_LANES {
            acc[l] += x[l] * y[l];
        }
        d += DOT_LANES;
    }
    hsum_tree(&mut acc)
}

/// Every key row `k_cache[o..o + hd]` of a tile lies in the cache (what the
/// SIMD score kernels' unchecked loads rely on).
fn assert_keys_in_cache(k_cache: &[f32], offs: &[usize], hd: usize) {
    for &o in offs {
        assert!(
            o + hd <= k_cache.len(),
            "paged_attention: key offset {o} outside the cache"
        );
    }
}

/// `s[j] = scale * dot16(q, k_cache[offs[j]..][..hd])` for every key of a tile.
fn tile_scores(
    isa: Isa,
    q: &[f32],
    k_cache: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    s: &mut [f32],
) {
    assert_keys_in_cache(k_cache, offs, hd);
    match isa {
        // SAFETY: the features were checked (isa is supported); offsets
        // checked above, q has hd elements.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Bf16 => unsafe {
            x86::scores_avx512(q, k_cache, offs, hd, scale, s)
        },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86::scores_avx2(q, k_cache, offs, hd, scale, s) },
        _ => {
            for (j, &o) in offs.iter().enumerate() {
                s[j] = dot16(q, &k_cache[o..o + hd]) * scale;
            }
        }
    }
}

/// The softmax half of one online-softmax step: the tile's scores `s`
/// become `e^(s - m')`, the row's max and sum move on, and `acc` is rescaled
/// by `e^(m - m')`. Inlined into the per-ISA bodies below.
#[inline(always)]
fn softmax_step(s: &mut [f32], st: &mut RowState, acc: &mut [f32]) {
    let mt = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let m_new = st.m.max(mt);
    let corr = exp_f32(st.m - m_new);
    let mut sum = 0.0f32;
    for v in s.iter_mut() {
        *v = exp_f32(*v - m_new);
    }
    for v in s.iter() {
        sum += v;
    }
    st.l = st.l * corr + sum;
    st.m = m_new;
    if corr != 1.0 {
        for a in acc.iter_mut() {
            *a *= corr;
        }
    }
}

/// [`tile_scores`] for two query heads over the same keys: on AVX-512 each
/// K row is read once for both (the same bits as two calls).
fn tile_scores_pair(
    isa: Isa,
    q: [&[f32]; 2],
    k_cache: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    s: [&mut [f32]; 2],
) {
    let [sa, sb] = s;
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Bf16 => {
            assert_keys_in_cache(k_cache, offs, hd);
            assert!(
                q[0].len() >= hd
                    && q[1].len() >= hd
                    && sa.len() >= offs.len()
                    && sb.len() >= offs.len(),
                "paged_attention: a query shorter than head_dim or fewer outputs than keys"
            );
            // SAFETY: the features were checked (isa is supported); offsets,
            // queries and outputs checked above.
            unsafe { x86::scores_pair_avx512(q, k_cache, offs, hd, scale, [sa, sb]) }
        }
        _ => {
            tile_scores(isa, q[0], k_cache, offs, hd, scale, sa);
            tile_scores(isa, q[1], k_cache, offs, hd, scale, sb);
        }
    }
}

/// [`softmax_step`] for two heads, their serial max and sum chains (key
/// order, one add after another) run side by side in one loop so that each
/// hides the other's latency; per head the same operations in the same order.
#[inline(always)]
fn softmax_step_pair(s: [&mut [f32]; 2], st: [&mut RowState; 2], acc: [&mut [f32]; 2]) {
    let [sa, sb] = s;
    let [sta, stb] = st;
    let [acc_a, acc_b] = acc;
    let (mut mta, mut mtb) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for (&a, &b) in sa.iter().zip(sb.iter()) {
        mta = mta.max(a);
        mtb = mtb.max(b);
    }
    let (ma, mb) = (sta.m.max(mta), stb.m.max(mtb));
    let (corr_a, corr_b) = (exp_f32(sta.m - ma), exp_f32(stb.m - mb));
    for v in sa.iter_mut() {
        *v = exp_f32(*v - ma);
    }
    for v in sb.iter_mut() {
        *v = exp_f32(*v - mb);
    }
    let (mut suma, mut sumb) = (0.0f32, 0.0f32);
    for (&a, &b) in sa.iter().zip(sb.iter()) {
        suma += a;
        sumb += b;
    }
    for (st, m, corr, sum, acc) in [
        (sta, ma, corr_a, suma, acc_a),
        (stb, mb, corr_b, sumb, acc_b),
    ] {
        st.l = st.l * corr + sum;
        st.m = m;
        if corr != 1.0 {
            for a in acc.iter_mut() {
                *a *= corr;
            }
        }
    }
}

multiversion! {
    /// The rest of one online-softmax step, given the tile's scores `s`
    /// (element-wise loops: vectorised, same bits on every ISA).
    #[allow(clippy::too_many_arguments)]
    fn tile_update(s: &mut [f32], v_cache: &[f32], offs: &[usize], hd: usize, st: &mut RowState, acc: &mut [f32]) {
        let n = offs.len();
        softmax_step(&mut s[..n], st, acc);
        // acc[d] += p_j * V_j[d] in key order for every d; done in column
        // blocks held in registers (64, 32, then 16, then single columns) so
        // the running sums are not stored and reloaded per key, and several
        // independent sums are in flight (one 16-column block alone waits on
        // its add's latency every key: head_dim 32 ran ~2x slower as two of
        // them). The blocking only changes which columns are live together,
        // not any sum's order.
        let mut d = 0;
        while d + 64 <= hd {
            axpy_block::<64>(&s[..n], v_cache, offs, d, &mut acc[d..d + 64]);
            d += 64;
        }
        while d + 32 <= hd {
            axpy_block::<32>(&s[..n], v_cache, offs, d, &mut acc[d..d + 32]);
            d += 32;
        }
        while d + 16 <= hd {
            axpy_block::<16>(&s[..n], v_cache, offs, d, &mut acc[d..d + 16]);
            d += 16;
        }
        while d < hd {
            axpy_block::<1>(&s[..n], v_cache, offs, d, &mut acc[d..d + 1]);
            d += 1;
        }
    }
}

multiversion! {
    /// [`tile_update`] for two heads that share the tile's V rows: each V
    /// block is read once for both heads' sums. Per head, the same
    /// operations in the same order as [`tile_update`].
    #[allow(clippy::too_many_arguments)]
    fn tile_update_pair(s: [&mut [f32]; 2], v_cache: &[f32], offs: &[usize], hd: usize, st: [&mut RowState; 2], acc: [&mut [f32]; 2]) {
        let n = offs.len();
        let [sa, sb] = s;
        let [sta, stb] = st;
        let [acc_a, acc_b] = acc;
        softmax_step_pair([&mut sa[..n], &mut sb[..n]], [sta, stb], [&mut *acc_a, &mut *acc_b]);
        let p = [&sa[..n], &sb[..n]];
        let mut d = 0;
        while d + 64 <= hd {
            axpy_block_pair::<64>(p, v_cache, offs, d, [&mut acc_a[d..d + 64], &mut acc_b[d..d + 64]]);
            d += 64;
        }
        while d + 32 <= hd {
            axpy_block_pair::<32>(p, v_cache, offs, d, [&mut acc_a[d..d + 32], &mut acc_b[d..d + 32]]);
            d += 32;
        }
        while d + 16 <= hd {
            axpy_block_pair::<16>(p, v_cache, offs, d, [&mut acc_a[d..d + 16], &mut acc_b[d..d + 16]]);
            d += 16;
        }
        while d < hd {
            axpy_block_pair::<1>(p, v_cache, offs, d, [&mut acc_a[d..d + 1], &mut acc_b[d..d + 1]]);
            d += 1;
        }
    }
}

/// [`axpy_block`] for two heads: `acc[h][c] += p[h][j] * v[c]`, one read of
/// each V block for both.
#[inline(always)]
fn axpy_block_pair<const W: usize>(
    p: [&[f32]; 2],
    v_cache: &[f32],
    offs: &[usize],
    d: usize,
    acc: [&mut [f32]; 2],
) {
    let [acc_a, acc_b] = acc;
    let mut a = [0.0f32; W];
    let mut b = [0.0f32; W];
    a.copy_from_slice(acc_a);
    b.copy_from_slice(acc_b);
    for ((&pa, &pb), &o) in p[0].iter().zip(p[1]).zip(offs) {
        let v: &[f32; W] = v_cache[o + d..o + d + W].try_into().expect("W columns");
        for c in 0..W {
            a[c] += pa * v[c];
            b[c] += pb * v[c];
        }
    }
    acc_a.copy_from_slice(&a);
    acc_b.copy_from_slice(&b);
}

/// `acc[c] += p[j] * v_cache[offs[j] + d + c]` for `c < W`, keys `j` in order.
#[inline(always)]
fn axpy_block<const W: usize>(
    p: &[f32],
    v_cache: &[f32],
    offs: &[usize],
    d: usize,
    acc: &mut [f32],
) {
    let mut a = [0.0f32; W];
    a.copy_from_slice(acc);
    for (&pj, &o) in p.iter().zip(offs) {
        let v: &[f32; W] = v_cache[o + d..o + d + W].try_into().expect("W columns");
        for c in 0..W {
            a[c] += pj * v[c];
        }
    }
    acc.copy_from_slice(&a);
}

/// One online-softmax step over the keys at cache offsets `offs`.
#[allow(clippy::too_many_arguments)]
fn tile_step(
    isa: Isa,
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    st: &mut RowState,
    acc: &mut [f32],
) {
    let mut s = [0.0f32; KEY_TILE];
    tile_scores(isa, q, k_cache, offs, hd, scale, &mut s[..offs.len()]);
    tile_update(isa, &mut s, v_cache, offs, hd, st, acc);
}

/// [`tile_step`] for two query heads that share one KV head.
#[allow(clippy::too_many_arguments)]
fn tile_step_pair(
    isa: Isa,
    q: [&[f32]; 2],
    k_cache: &[f32],
    v_cache: &[f32],
    offs: &[usize],
    hd: usize,
    scale: f32,
    st: [&mut RowState; 2],
    acc: [&mut [f32]; 2],
) {
    let mut sa = [0.0f32; KEY_TILE];
    let mut sb = [0.0f32; KEY_TILE];
    let n = offs.len();
    tile_scores_pair(
        isa,
        q,
        k_cache,
        offs,
        hd,
        scale,
        [&mut sa[..n], &mut sb[..n]],
    );
    tile_update_pair(isa, [&mut sa, &mut sb], v_cache, offs, hd, st, acc);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Explicit SIMD score kernels with exactly [`super::dot16`]'s arithmetic.

    use super::super::matmul::x86::{hsum16, hsum8, reduce_4x4};
    use std::arch::x86_64::*;

    /// 16 keys at once: 16 accumulators (one per key, exactly as in
    /// [`scores_avx512`]) reduced together by [`reduce_4x4`], which applies
    /// the same tree as [`hsum16`] to each (bit-identical, tested in
    /// `matmul`), at a third of the shuffles and without a latency chain per key.
    ///
    /// # Safety
    /// As [`scores_avx512`], with `offs.len() == 16`, `s.len() >= 16`.
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn scores16_avx512(
        q: &[f32],
        k: &[f32],
        offs: &[usize],
        hd: usize,
        scale: f32,
        s: &mut [f32],
    ) {
        let full = hd / 16;
        let rem = hd % 16;
        let mask = ((1u32 << rem) - 1) as u16;
        let mut acc = [_mm512_setzero_ps(); 16];
        let kp: [*const f32; 16] = std::array::from_fn(|t| k.as_ptr().wrapping_add(offs[t]));
        // SAFETY: full chunks end at or before hd; the tail is masked to lanes < rem.
        unsafe {
            for c in 0..full {
                let qa = _mm512_loadu_ps(q.as_ptr().add(16 * c));
                for t in 0..16 {
                    acc[t] = _mm512_add_ps(
                        acc[t],
                        _mm512_mul_ps(qa, _mm512_loadu_ps(kp[t].add(16 * c))),
                    );
                }
            }
            if rem > 0 {
                let qa = _mm512_maskz_loadu_ps(mask, q.as_ptr().add(16 * full));
                for t in 0..16 {
                    let ka = _mm512_maskz_loadu_ps(mask, kp[t].add(16 * full));
                    acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(qa, ka));
                }
            }
        }
        // reduce_4x4 puts accumulator 4j + i in lane 4i + j: permute back.
        let r = reduce_4x4(&acc);
        let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        let r = _mm512_mul_ps(_mm512_permutexvar_ps(idx, r), _mm512_set1_ps(scale));
        // SAFETY: s holds at least 16 f32.
        unsafe { _mm512_storeu_ps(s.as_mut_ptr(), r) };
    }

    /// 8 keys for 2 query heads: 16 accumulators (head `h`'s key `t` in
    /// accumulator `8h + t`, each exactly as in [`scores16_avx512`]) reduced
    /// together by [`reduce_4x4`], reading each K row once for both heads.
    ///
    /// # Safety
    /// As [`scores_avx512`] for both queries, with `offs.len() == 8` and 8
    /// outputs in each of `s`.
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn scores8x2_avx512(
        q: [&[f32]; 2],
        k: &[f32],
        offs: &[usize],
        hd: usize,
        scale: f32,
        s: [&mut [f32]; 2],
    ) {
        let full = hd / 16;
        let rem = hd % 16;
        let mask = ((1u32 << rem) - 1) as u16;
        let mut acc = [_mm512_setzero_ps(); 16];
        let kp: [*const f32; 8] = std::array::from_fn(|t| k.as_ptr().wrapping_add(offs[t]));
        // SAFETY: full chunks end at or before hd; the tail is masked to lanes < rem.
        unsafe {
            for c in 0..full {
                let qa = _mm512_loadu_ps(q[0].as_ptr().add(16 * c));
                let qb = _mm512_loadu_ps(q[1].as_ptr().add(16 * c));
                for t in 0..8 {
                    let ka = _mm512_loadu_ps(kp[t].add(16 * c));
                    acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(qa, ka));
                    acc[8 + t] = _mm512_add_ps(acc[8 + t], _mm512_mul_ps(qb, ka));
                }
            }
            if rem > 0 {
                let qa = _mm512_maskz_loadu_ps(mask, q[0].as_ptr().add(16 * full));
                let qb = _mm512_maskz_loadu_ps(mask, q[1].as_ptr().add(16 * full));
                for t in 0..8 {
                    let ka = _mm512_maskz_loadu_ps(mask, kp[t].add(16 * full));
                    acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(qa, ka));
                    acc[8 + t] = _mm512_add_ps(acc[8 + t], _mm512_mul_ps(qb, ka));
                }
            }
        }
        // As in scores16_avx512: lane t holds accumulator t after the permute.
        let r = reduce_4x4(&acc);
        let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        let r = _mm512_mul_ps(_mm512_permutexvar_ps(idx, r), _mm512_set1_ps(scale));
        let [sa, sb] = s;
        // SAFETY: each output holds at least 8 f32.
        unsafe {
            _mm256_storeu_ps(sa.as_mut_ptr(), _mm512_castps512_ps256(r));
            _mm256_storeu_ps(sb.as_mut_ptr(), _mm512_extractf32x8_ps::<1>(r));
        }
    }

    /// [`super::tile_scores_pair`] on AVX-512: groups of 8 keys for both
    /// heads at once, the last `n % 8` keys one head at a time.
    ///
    /// # Safety
    /// As [`scores_avx512`] for both queries; `s[h].len() >= offs.len()`.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn scores_pair_avx512(
        q: [&[f32]; 2],
        k: &[f32],
        offs: &[usize],
        hd: usize,
        scale: f32,
        s: [&mut [f32]; 2],
    ) {
        let [sa, sb] = s;
        let groups = offs.len() / 8;
        for g in 0..groups {
            let o = &offs[8 * g..8 * g + 8];
            // SAFETY: forwarded contract; 8 offsets and 8 outputs each.
            unsafe { scores8x2_avx512(q, k, o, hd, scale, [&mut sa[8 * g..], &mut sb[8 * g..]]) };
        }
        let rest = &offs[8 * groups..];
        // SAFETY: forwarded contract (fewer than 8 offsets: one key at a time).
        unsafe {
            scores_avx512(q[0], k, rest, hd, scale, &mut sa[8 * groups..]);
            scores_avx512(q[1], k, rest, hd, scale, &mut sb[8 * groups..]);
        }
    }

    /// AVX-512 [`super::tile_scores`]: one zmm = the 16 lanes.
    ///
    /// # Safety
    /// AVX-512 F/DQ available; `q.len() >= hd`; `o + hd <= k.len()` for every `o` in `offs`.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn scores_avx512(
        q: &[f32],
        k: &[f32],
        offs: &[usize],
        hd: usize,
        scale: f32,
        s: &mut [f32],
    ) {
        let full = hd / 16;
        let rem = hd % 16;
        let mask = ((1u32 << rem) - 1) as u16;
        let groups = offs.len() / 16;
        for g in 0..groups {
            // SAFETY: forwarded contract; 16 offsets and 16 outputs.
            unsafe {
                scores16_avx512(
                    q,
                    k,
                    &offs[16 * g..16 * g + 16],
                    hd,
                    scale,
                    &mut s[16 * g..],
                )
            };
        }
        for (j, &o) in offs.iter().enumerate().skip(16 * groups) {
            let kp = k.as_ptr().wrapping_add(o);
            let mut acc = _mm512_setzero_ps();
            // SAFETY: d + 16 <= hd for full chunks; the tail is masked to lanes < rem.
            unsafe {
                for c in 0..full {
                    let qa = _mm512_loadu_ps(q.as_ptr().add(16 * c));
                    let ka = _mm512_loadu_ps(kp.add(16 * c));
                    acc = _mm512_add_ps(acc, _mm512_mul_ps(qa, ka));
                }
                if rem > 0 {
                    let qa = _mm512_maskz_loadu_ps(mask, q.as_ptr().add(16 * full));
                    let ka = _mm512_maskz_loadu_ps(mask, kp.add(16 * full));
                    acc = _mm512_add_ps(acc, _mm512_mul_ps(qa, ka));
                }
            }
            s[j] = hsum16(acc) * scale;
        }
    }

    /// AVX2 [`super::tile_scores`]: lanes 0..8 and 8..16 in two ymm; the
    /// first tree step (lane i + lane i+8) adds them, then [`hsum8`].
    ///
    /// # Safety
    /// AVX2 + FMA available; `q.len() >= hd`; `o + hd <= k.len()` for every `o` in `offs`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scores_avx2(
        q: &[f32],
        k: &[f32],
        offs: &[usize],
        hd: usize,
        scale: f32,
        s: &mut [f32],
    ) {
        let full = hd / 16;
        let rem = hd % 16;
        let mut qt = [0.0f32; 16];
        qt[..rem].copy_from_slice(&q[16 * full..hd]);
        for (j, &o) in offs.iter().enumerate() {
            let kr = &k[o..o + hd];
            let mut lo = _mm256_setzero_ps();
            let mut hi = _mm256_setzero_ps();
            // SAFETY: 16 * c + 16 <= hd for full chunks; the tail uses padded copies.
            unsafe {
                for c in 0..full {
                    let (qp, kp) = (q.as_ptr().add(16 * c), kr.as_ptr().add(16 * c));
                    lo = _mm256_add_ps(lo, _mm256_mul_ps(_mm256_loadu_ps(qp), _mm256_loadu_ps(kp)));
                    hi = _mm256_add_ps(
                        hi,
                        _mm256_mul_ps(_mm256_loadu_ps(qp.add(8)), _mm256_loadu_ps(kp.add(8))),
                    );
                }
                if rem > 0 {
                    let mut kt = [0.0f32; 16];
                    kt[..rem].copy_from_slice(&kr[16 * full..]);
                    lo = _mm256_add_ps(
                        lo,
                        _mm256_mul_ps(_mm256_loadu_ps(qt.as_ptr()), _mm256_loadu_ps(kt.as_ptr())),
                    );
                    hi = _mm256_add_ps(
                        hi,
                        _mm256_mul_ps(
                            _mm256_loadu_ps(qt.as_ptr().add(8)),
                            _mm256_loadu_ps(kt.as_ptr().add(8)),
                        ),
                    );
                }
            }
            s[j] = hsum8(_mm256_add_ps(lo, hi)) * scale;
        }
    }
}

#[cfg(test)]
mod tests {
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
                let r =
                    run_case_prefix(heads, kvh, hd, bs, Some(70), ctx, end, end - start, isa, 5);
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
}
