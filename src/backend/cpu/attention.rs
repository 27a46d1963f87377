//! Causal attention over a paged KV cache (f32 or bf16 elements).
//!
//! # Layout
//!
//! One cache per layer for K and one for V, each
//! `[num_blocks, block_size, num_kv_heads, head_dim]` of [`KvElem`]s (f32,
//! or bf16 for half the memory: `--kv-cache-dtype`). A token's *slot* is
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
//! A bf16 cache is read a key tile at a time: the tile's K and V rows are
//! widened (exactly: bf16 is the top half of an f32) into an f32 scratch
//! that every row and head of the work item then reads from L1, so the score
//! and update kernels are the f32 ones. A bf16 cache therefore gives exactly
//! the bits of an f32 cache holding the same rounded values (tested); the
//! one rounding is at [`write_kv`] (round to nearest even).
//!
//! Measured (`benches/kernels.rs`, Qwen2-0.5B shapes: 14 heads, 2 KV heads,
//! head_dim 64, block 16, shuffled blocks; 2-core Zen 4 VM shared with other
//! builds): decode at context 512 ~40-60 us, at 4096 ~0.3-0.5 ms.

use half::bf16;
use rayon::prelude::*;

use super::matmul::{hsum_tree, Isa, SyncPtr};
use super::ops::{exp_f32, multiversion};

/// Keys per online-softmax step; tiles are aligned to absolute positions.
pub const KEY_TILE: usize = 32;

/// Query rows of one sequence handled by one parallel work item.
const Q_CHUNK: usize = 16;

/// An element type the KV cache can hold.
pub trait KvElem: Copy + Send + Sync + 'static {
    /// The cache as f32 when it already is (the tile is then read in place).
    fn as_f32(cache: &[Self]) -> Option<&[f32]>;
    /// `dst[i] = src[i]` widened to f32 (exact for bf16).
    fn widen(src: &[Self], dst: &mut [f32]);
    /// `dst[i] = src[i]` stored as this type (bf16: round to nearest even).
    fn store(src: &[f32], dst: &mut [Self]);
}

impl KvElem for f32 {
    fn as_f32(cache: &[f32]) -> Option<&[f32]> {
        Some(cache)
    }
    fn widen(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    fn store(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}

impl KvElem for bf16 {
    fn as_f32(_: &[bf16]) -> Option<&[f32]> {
        None
    }
    #[inline]
    fn widen(src: &[bf16], dst: &mut [f32]) {
        // A shift the compiler vectorises (bf16 is an f32's top 16 bits).
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits((s.to_bits() as u32) << 16);
        }
    }
    fn store(src: &[f32], dst: &mut [bf16]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = bf16::from_f32(s);
        }
    }
}

/// Write the new tokens' K and V (`[tokens, kv_dim]`, `kv_dim =
/// num_kv_heads * head_dim`) into their slots of the caches, converted to
/// the caches' element type.
///
/// # Panics
/// If a slot lies outside the caches or the inputs are shorter than `slots`.
pub fn write_kv<T: KvElem>(
    k: &[f32],
    v: &[f32],
    slots: &[u32],
    kv_dim: usize,
    k_cache: &mut [T],
    v_cache: &mut [T],
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
        T::store(
            &k[t * kv_dim..(t + 1) * kv_dim],
            &mut k_cache[s * kv_dim..(s + 1) * kv_dim],
        );
        T::store(
            &v[t * kv_dim..(t + 1) * kv_dim],
            &mut v_cache[s * kv_dim..(s + 1) * kv_dim],
        );
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
pub fn paged_attention<T: KvElem>(
    q: &[f32],
    k_cache: &[T],
    v_cache: &[T],
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
pub fn paged_attention_with_isa<T: KvElem>(
    isa: Isa,
    q: &[f32],
    k_cache: &[T],
    v_cache: &[T],
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
fn attend_rows_group<T: KvElem>(
    isa: Isa,
    rows: &mut [RowJob<'_>],
    k_cache: &[T],
    v_cache: &[T],
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
    let widened = T::as_f32(k_cache).is_none();
    let scratch = if widened { KEY_TILE * hd } else { 0 };
    let (mut k_wide, mut v_wide) = (vec![0.0f32; scratch], vec![0.0f32; scratch]);
    let wide_offs: [usize; KEY_TILE] = std::array::from_fn(|j| j * hd);
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
        // The tile's K/V rows in f32: the cache itself, or (bf16) its rows
        // widened into the scratch, once for every row and head below.
        let (k_tile, v_tile, tile_offs) = match (T::as_f32(k_cache), T::as_f32(v_cache)) {
            (Some(k), Some(v)) => (k, v, &offs),
            _ => {
                for (j, &o) in offs[..tb - ta + 1].iter().enumerate() {
                    T::widen(&k_cache[o..o + hd], &mut k_wide[j * hd..(j + 1) * hd]);
                    T::widen(&v_cache[o..o + hd], &mut v_wide[j * hd..(j + 1) * hd]);
                }
                (&k_wide[..], &v_wide[..], &wide_offs)
            }
        };
        for (r, st) in rows.iter_mut().zip(states.iter_mut()) {
            let a = t0.max(lo_of(r.pos));
            let b = (t0 + KEY_TILE - 1).min(r.pos);
            if a > b {
                continue;
            }
            let offs = &tile_offs[a - ta..b - ta + 1];
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
                        k_tile,
                        v_tile,
                        offs,
                        hd,
                        g.scale,
                        [sa, sb],
                        [oa, ob],
                    ),
                    None => tile_step(isa, qa, k_tile, v_tile, offs, hd, g.scale, sa, oa),
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
mod x86;

#[cfg(test)]
mod tests;
