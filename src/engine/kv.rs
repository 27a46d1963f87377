//! The paged KV cache's bookkeeping: which fixed-size blocks exist, which are
//! free, and who holds each one. The memory itself belongs to the model
//! runner; this module only hands out block ids (plain integers, the same
//! ones the runner indexes its cache with).
//!
//! A sequence's [`BlockTable`] lists the blocks holding its positions
//! `0..len`, block `i` holding positions `i*block_size .. (i+1)*block_size`.
//! Blocks are reference-counted so that the choices of an `n > 1` request
//! share the blocks of their common prompt; a shared block is only ever a
//! full one, so nobody writes into a block someone else reads.

use std::collections::VecDeque;

/// The cache is full: the caller must wait, or preempt someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("out of KV cache blocks: need {needed}, {free} free")]
pub struct OutOfBlocks {
    /// Blocks the request needed.
    pub needed: usize,
    /// Blocks that were free.
    pub free: usize,
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

/// Owns every block id: the free pool and the reference counts.
#[derive(Debug)]
pub struct BlockManager {
    block_size: usize,
    free: VecDeque<u32>,
    refcount: Vec<u32>,
}

impl BlockManager {
    /// A cache of `num_blocks` blocks of `block_size` token slots each.
    pub fn new(num_blocks: usize, block_size: usize) -> Self {
        assert!(block_size > 0, "block_size must be positive");
        Self {
            block_size,
            free: (0..num_blocks as u32).collect(),
            refcount: vec![0; num_blocks],
        }
    }

    /// Token slots per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks in the cache.
    pub fn num_blocks(&self) -> usize {
        self.refcount.len()
    }

    /// Blocks nobody holds.
    pub fn num_free(&self) -> usize {
        self.free.len()
    }

    /// Fraction of blocks in use, 0..=1 (the `kv_cache_usage_perc` gauge).
    pub fn usage(&self) -> f64 {
        if self.refcount.is_empty() {
            return 0.0;
        }
        1.0 - self.free.len() as f64 / self.refcount.len() as f64
    }

    /// Blocks needed to hold `tokens` positions.
    pub fn blocks_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.block_size)
    }

    /// Extra blocks `table` needs to hold `tokens` positions.
    pub fn extra_blocks_needed(&self, table: &BlockTable, tokens: usize) -> usize {
        self.blocks_for(tokens).saturating_sub(table.len())
    }

    /// Grow `table` so it holds `tokens` positions. All or nothing: on
    /// failure the table and the pool are unchanged.
    pub fn grow(&mut self, table: &mut BlockTable, tokens: usize) -> Result<(), OutOfBlocks> {
        let needed = self.extra_blocks_needed(table, tokens);
        if needed > self.free.len() {
            return Err(OutOfBlocks {
                needed,
                free: self.free.len(),
            });
        }
        for _ in 0..needed {
            // The length check above guarantees the pool has `needed` ids.
            let Some(id) = self.free.pop_front() else {
                break;
            };
            self.refcount[id as usize] = 1;
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
            self.refcount[b as usize] += 1;
        }
        BlockTable { blocks }
    }

    /// Give back every block of `table`; a block returns to the pool when
    /// its last holder lets go.
    pub fn release(&mut self, table: &mut BlockTable) {
        for b in table.blocks.drain(..) {
            let rc = &mut self.refcount[b as usize];
            debug_assert!(*rc > 0, "block {b} released more often than held");
            *rc = rc.saturating_sub(1);
            if *rc == 0 {
                self.free.push_back(b);
            }
        }
    }

    /// Reference count of a block (tests and invariants).
    pub fn refcount(&self, block: u32) -> u32 {
        self.refcount[block as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
