//! The paged KV cache's bookkeeping: which fixed-size blocks exist, which are
//! free, who holds each one, and which full blocks hold a known prefix. The
//! memory itself belongs to the model runner; this module only hands out
//! block ids (plain integers, the same ones the runner indexes its cache with).
//!
//! A sequence's [`BlockTable`] lists the blocks holding its positions
//! `0..len`, block `i` holding positions `i*block_size .. (i+1)*block_size`.
//! Blocks are reference-counted: the choices of an `n > 1` request, and
//! requests with a common prefix, share full blocks. A shared block is only
//! ever a full one, so nobody writes into a block someone else reads.
//!
//! ## Automatic prefix caching
//!
//! Every full block can be registered under a [`BlockHash`]: BLAKE3 over the
//! parent block's hash and the block's own token ids, the chain starting from
//! a salt (the tenant, or a request's `cache_salt`), so one tenant can never
//! hit — or time — another's blocks. A new request takes the longest chain of
//! cached blocks and computes only the rest. A released block keeps its
//! content and its hash while it sits in the free pool; it is evicted only
//! when the pool hands it out again, least recently used first, and a
//! sequence releases its blocks leaf first, so the leaves of a chain go
//! before its root. A 256-bit cryptographic hash, not a 64-bit one: a
//! collision would serve one prompt another's KV.

use std::collections::{HashMap, VecDeque};

/// The cache is full: the caller must wait, or preempt someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("out of KV cache blocks: need {needed}, {free} free")]
pub struct OutOfBlocks {
    /// Blocks the request needed.
    pub needed: usize,
    /// Blocks that were free.
    pub free: usize,
}

/// Identity of a full block's content and everything before it.
pub type BlockHash = [u8; 32];

/// The hash chain's start for a salt (tenant or request `cache_salt`).
pub fn chain_root(salt: &str) -> BlockHash {
    let mut h = blake3::Hasher::new();
    h.update(b"weir-kv-prefix-v1\0");
    h.update(salt.as_bytes());
    *h.finalize().as_bytes()
}

/// The hash of a full block: BLAKE3(parent hash || token ids, little endian).
pub fn block_hash(parent: &BlockHash, tokens: &[u32]) -> BlockHash {
    let mut h = blake3::Hasher::new();
    h.update(parent);
    for t in tokens {
        h.update(&t.to_le_bytes());
    }
    *h.finalize().as_bytes()
}

/// The blocks of one sequence, in position order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockTable {
    blocks: Vec<u32>,
}

impl BlockTable {
    /// Block ids in position order.
    pub fn blocks(&self) -> &[u32] {
        &self.blocks
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when no block is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
struct BlockMeta {
    refcount: u32,
    /// Set while the block is registered in the prefix cache.
    hash: Option<BlockHash>,
    /// Which entry of the free queue is this block's live one (lazy deletion).
    free_stamp: u64,
}

/// Owns every block id: the free pool, the reference counts and the prefix
/// cache index.
#[derive(Debug)]
pub struct BlockManager {
    block_size: usize,
    meta: Vec<BlockMeta>,
    /// Free blocks, evicted from the front. Entries whose stamp no longer
    /// matches (the block was taken back from the cache) are skipped.
    free: VecDeque<(u32, u64)>,
    num_free: usize,
    next_stamp: u64,
    cached: HashMap<BlockHash, u32>,
    caching: bool,
}

impl BlockManager {
    /// A cache of `num_blocks` blocks of `block_size` token slots each, with
    /// prefix caching on or off.
    pub fn new(num_blocks: usize, block_size: usize) -> Self {
        Self::with_prefix_caching(num_blocks, block_size, true)
    }

    /// As [`BlockManager::new`], choosing whether full blocks are cached.
    pub fn with_prefix_caching(num_blocks: usize, block_size: usize, caching: bool) -> Self {
        assert!(block_size > 0, "block_size must be positive");
        Self {
            block_size,
            meta: vec![BlockMeta::default(); num_blocks],
            free: (0..num_blocks as u32).map(|b| (b, 0)).collect(),
            num_free: num_blocks,
            next_stamp: 1,
            cached: HashMap::new(),
            caching,
        }
    }

    /// Token slots per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks in the cache.
    pub fn num_blocks(&self) -> usize {
        self.meta.len()
    }

    /// Blocks nobody holds (including cached ones that may be evicted).
    pub fn num_free(&self) -> usize {
        self.num_free
    }

    /// True when full blocks are registered for reuse.
    pub fn prefix_caching(&self) -> bool {
        self.caching
    }

    /// Blocks registered in the prefix cache (held or free).
    pub fn num_cached(&self) -> usize {
        self.cached.len()
    }

    /// Fraction of blocks in use, 0..=1 (the `kv_cache_usage_perc` gauge).
    pub fn usage(&self) -> f64 {
        if self.meta.is_empty() {
            return 0.0;
        }
        1.0 - self.num_free as f64 / self.meta.len() as f64
    }

    /// Blocks needed to hold `tokens` positions.
    pub fn blocks_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.block_size)
    }

    /// Extra blocks `table` needs to hold `tokens` positions.
    pub fn extra_blocks_needed(&self, table: &BlockTable, tokens: usize) -> usize {
        self.blocks_for(tokens).saturating_sub(table.len())
    }

    fn pop_free(&mut self) -> Option<u32> {
        while let Some((b, stamp)) = self.free.pop_front() {
            let m = &mut self.meta[b as usize];
            if m.refcount != 0 || m.free_stamp != stamp {
                continue; // stale entry: taken back from the cache since
            }
            if let Some(h) = m.hash.take() {
                // Evict: its content is about to be overwritten.
                if self.cached.get(&h) == Some(&b) {
                    self.cached.remove(&h);
                }
            }
            m.refcount = 1;
            self.num_free -= 1;
            return Some(b);
        }
        None
    }

    /// Grow `table` so it holds `tokens` positions. All or nothing: on
    /// failure the table and the pool are unchanged.
    pub fn grow(&mut self, table: &mut BlockTable, tokens: usize) -> Result<(), OutOfBlocks> {
        let needed = self.extra_blocks_needed(table, tokens);
        if needed > self.num_free {
            return Err(OutOfBlocks {
                needed,
                free: self.num_free,
            });
        }
        for _ in 0..needed {
            // `num_free` counts exactly the live entries of `free`.
            let Some(id) = self.pop_free() else {
                break;
            };
            table.blocks.push(id);
        }
        Ok(())
    }

    /// A new table sharing the first `n_blocks` blocks of `src` (each one's
    /// reference count goes up). Only full blocks may be shared.
    pub fn share_prefix(&mut self, src: &BlockTable, n_blocks: usize) -> BlockTable {
        let n = n_blocks.min(src.blocks.len());
        let blocks = src.blocks[..n].to_vec();
        for &b in &blocks {
            self.meta[b as usize].refcount += 1;
        }
        BlockTable { blocks }
    }

    /// How many leading blocks of `hashes` are in the cache.
    pub fn cached_prefix_len(&self, hashes: &[BlockHash]) -> usize {
        if !self.caching {
            return 0;
        }
        hashes
            .iter()
            .take_while(|h| self.cached.contains_key(*h))
            .count()
    }

    /// Append the cached blocks for `hashes` (all must be cached, see
    /// [`BlockManager::cached_prefix_len`]) to an empty `table`. Blocks in
    /// the free pool are taken back out of it.
    pub fn take_cached(&mut self, table: &mut BlockTable, hashes: &[BlockHash]) {
        for h in hashes {
            let Some(&b) = self.cached.get(h) else {
                break;
            };
            let m = &mut self.meta[b as usize];
            if m.refcount == 0 {
                // Its free-queue entry goes stale through the stamp.
                m.free_stamp = 0;
                self.num_free -= 1;
            }
            m.refcount += 1;
            table.blocks.push(b);
        }
    }

    /// Register a full block's content under `hash`, so later requests with
    /// the same prefix reuse it. A hash already registered keeps its block.
    pub fn register(&mut self, block: u32, hash: BlockHash) {
        if !self.caching || self.meta[block as usize].hash.is_some() {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.cached.entry(hash) {
            e.insert(block);
            self.meta[block as usize].hash = Some(hash);
        }
    }

    /// Give back every block of `table`, last block first (so a chain's
    /// leaves are evicted before its root); a block returns to the pool when
    /// its last holder lets go. Cached blocks keep their content until evicted.
    pub fn release(&mut self, table: &mut BlockTable) {
        for b in table.blocks.drain(..).rev() {
            let m = &mut self.meta[b as usize];
            debug_assert!(m.refcount > 0, "block {b} released more often than held");
            m.refcount = m.refcount.saturating_sub(1);
            if m.refcount == 0 {
                let stamp = self.next_stamp;
                self.next_stamp += 1;
                m.free_stamp = stamp;
                if m.hash.is_some() {
                    // Most recently used: evicted last.
                    self.free.push_back((b, stamp));
                } else {
                    // Nothing worth keeping: reuse first.
                    self.free.push_front((b, stamp));
                }
                self.num_free += 1;
            }
        }
        // Entries made stale by `take_cached` leave the queue when they reach
        // its front; compact if they pile up faster than that.
        if self.free.len() > 4 * self.meta.len() + 64 {
            let meta = &self.meta;
            self.free.retain(|&(b, s)| {
                meta[b as usize].refcount == 0 && meta[b as usize].free_stamp == s
            });
        }
    }

    /// Reference count of a block (tests and invariants).
    pub fn refcount(&self, block: u32) -> u32 {
        self.meta[block as usize].refcount
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(salt: &str, tokens: &[u32], bs: usize) -> Vec<BlockHash> {
        let mut parent = chain_root(salt);
        tokens
            .chunks_exact(bs)
            .map(|c| {
                parent = block_hash(&parent, c);
                parent
            })
            .collect()
    }

    #[test]
    fn grow_allocates_whole_blocks_and_release_returns_them() {
        let mut m = BlockManager::new(8, 16);
        let mut t = BlockTable::default();
        m.grow(&mut t, 1).unwrap();
        assert_eq!(t.len(), 1);
        m.grow(&mut t, 16).unwrap();
        assert_eq!(t.len(), 1, "16 tokens fit one block");
        m.grow(&mut t, 17).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(m.num_free(), 6);
        m.release(&mut t);
        assert!(t.is_empty());
        assert_eq!(m.num_free(), 8);
    }

    #[test]
    fn grow_is_all_or_nothing() {
        let mut m = BlockManager::new(2, 4);
        let mut t = BlockTable::default();
        let err = m.grow(&mut t, 12).unwrap_err();
        assert_eq!(err, OutOfBlocks { needed: 3, free: 2 });
        assert!(t.is_empty());
        assert_eq!(m.num_free(), 2);
    }

    #[test]
    fn shared_blocks_free_only_when_the_last_holder_releases() {
        let mut m = BlockManager::new(4, 4);
        let mut a = BlockTable::default();
        m.grow(&mut a, 8).unwrap();
        let mut b = m.share_prefix(&a, 2);
        assert_eq!(b.blocks(), a.blocks());
        assert_eq!(m.refcount(a.blocks()[0]), 2);
        m.release(&mut a);
        assert_eq!(m.num_free(), 2, "b still holds both blocks");
        m.release(&mut b);
        assert_eq!(m.num_free(), 4);
    }

    #[test]
    fn usage_tracks_held_blocks() {
        let mut m = BlockManager::new(4, 4);
        let mut a = BlockTable::default();
        assert_eq!(m.usage(), 0.0);
        m.grow(&mut a, 5).unwrap();
        assert!((m.usage() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_hash_chain_depends_on_every_earlier_token_and_the_salt() {
        let a = hashes("t1", &[1, 2, 3, 4, 5, 6, 7, 8], 4);
        let b = hashes("t1", &[1, 2, 3, 9, 5, 6, 7, 8], 4);
        let c = hashes("t2", &[1, 2, 3, 4, 5, 6, 7, 8], 4);
        assert_ne!(a[0], b[0]);
        assert_ne!(a[1], b[1], "same block tokens, different parent");
        assert_ne!(a[0], c[0], "another tenant's chain never meets this one");
        assert_eq!(a, hashes("t1", &[1, 2, 3, 4, 5, 6, 7, 8], 4));
    }

    #[test]
    fn released_cached_blocks_are_reused_until_evicted() {
        let mut m = BlockManager::new(4, 4);
        let toks = [1, 2, 3, 4, 5, 6, 7, 8];
        let hs = hashes("", &toks, 4);
        let mut a = BlockTable::default();
        m.grow(&mut a, 8).unwrap();
        m.register(a.blocks()[0], hs[0]);
        m.register(a.blocks()[1], hs[1]);
        let held = a.blocks().to_vec();
        m.release(&mut a);
        assert_eq!(m.num_free(), 4);
        assert_eq!(m.cached_prefix_len(&hs), 2);
        let mut b = BlockTable::default();
        m.take_cached(&mut b, &hs);
        assert_eq!(b.blocks(), &held[..]);
        assert_eq!(m.num_free(), 2);
        // Growing past the cache evicts nothing held.
        m.grow(&mut b, 16).unwrap();
        assert_eq!(m.num_free(), 0);
        assert_eq!(m.cached_prefix_len(&hs), 2);
        m.release(&mut b);
        assert_eq!(m.num_free(), 4);
    }

    #[test]
    fn eviction_takes_uncached_blocks_first_then_lru_leaves_first() {
        let mut m = BlockManager::new(4, 2);
        let hs = hashes("", &[1, 2, 3, 4, 5, 6], 2);
        let mut a = BlockTable::default();
        m.grow(&mut a, 6).unwrap();
        for (i, h) in hs.iter().enumerate() {
            m.register(a.blocks()[i], *h);
        }
        let mut scratch = BlockTable::default();
        m.grow(&mut scratch, 2).unwrap(); // the fourth, uncached block
        m.release(&mut a);
        m.release(&mut scratch);
        // The uncached block goes first; then the chain's leaf, then its parent.
        let mut t = BlockTable::default();
        m.grow(&mut t, 2).unwrap();
        assert_eq!(m.cached_prefix_len(&hs), 3, "uncached block used first");
        m.grow(&mut t, 4).unwrap();
        assert_eq!(m.cached_prefix_len(&hs), 2, "the leaf went first");
        m.grow(&mut t, 6).unwrap();
        assert_eq!(m.cached_prefix_len(&hs), 1, "then its parent");
        assert_eq!(m.num_cached(), 1);
    }

    #[test]
    fn caching_off_never_hits() {
        let mut m = BlockManager::with_prefix_caching(4, 2, false);
        let hs = hashes("", &[1, 2], 2);
        let mut a = BlockTable::default();
        m.grow(&mut a, 2).unwrap();
        m.register(a.blocks()[0], hs[0]);
        m.release(&mut a);
        assert_eq!(m.cached_prefix_len(&hs), 0);
    }
}
