//! What the executor thread drives: a [`ModelRunner`] computes a step's
//! tokens over the paged KV cache it owns and returns logits for the
//! sequences that sample. Two implement it: [`crate::model::Decoder`] over a
//! [`crate::backend::Backend`] (real arithmetic), and [`sim::SimRunner`]
//! (no arithmetic: echo, random or scripted tokens at a modelled speed), so
//! the whole pipeline runs for load and client tests without a model.

pub mod sim;

use crate::backend::BackendError;
use crate::engine::request::SeqId;

/// What the last user-or-tool message said. Real models ignore it; the `sim`
/// runner uses it to echo or to pick a scripted reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromptHint {
    /// `user` or `tool` (or `prompt` for a raw completion prompt).
    pub role: String,
    /// That message's text.
    pub text: String,
}

/// One sequence's share of a forward step.
#[derive(Debug)]
pub struct ForwardSeq<'a> {
    /// The sequence.
    pub seq_id: SeqId,
    /// Every token of the sequence known so far (prompt then output).
    pub all_tokens: &'a [u32],
    /// How many of `all_tokens` are prompt.
    pub prompt_len: usize,
    /// First position computed this step (tokens before it are in the KV cache).
    pub start: usize,
    /// Tokens computed this step: `all_tokens[start..start + len]`.
    pub len: usize,
    /// KV blocks holding positions `0..start + len`, in order.
    pub block_table: &'a [u32],
    /// Whether logits for the last computed token are wanted.
    pub sample: bool,
    /// The prompt's last user/tool message (for `sim`).
    pub hint: &'a PromptHint,
}

/// Next-token scores for one sampling sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum Logits {
    /// Raw scores over the whole vocabulary.
    Dense(Vec<f32>),
    /// All mass on one token (the `sim` runner's output).
    OneHot(u32),
}

/// Computes forward steps over a paged KV cache it owns.
pub trait ModelRunner: Send {
    /// Vocabulary size (rows of the output projection).
    fn vocab_size(&self) -> usize;
    /// Compute `seqs` and return one [`Logits`] per sequence with `sample`
    /// set, in the order given.
    fn forward(&mut self, seqs: &[ForwardSeq<'_>]) -> Result<Vec<Logits>, BackendError>;
    /// A sequence is gone; drop any per-sequence state.
    fn release(&mut self, _seq_id: SeqId) {}
    /// Whether steps should run on the executor's compute pool (kernels
    /// fork-join across its threads, sampling runs in parallel). A runner
    /// with no arithmetic (`sim`) says no: handing each step to the pool
    /// and back then only costs thread wake-ups (~10% of a `sim` server's
    /// CPU under 1,000 streams).
    fn uses_thread_pool(&self) -> bool {
        true
    }
}
