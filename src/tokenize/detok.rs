//! Incremental detokenization: generated ids in, valid UTF-8 text deltas out.
//!
//! Decoding one token at a time is wrong twice over: a byte-level BPE token may hold
//! half of a multi-byte character, and decoders treat the first token of a decode
//! call specially (SentencePiece's `▁` prefix is stripped there). So, as vLLM and TGI
//! do, we keep two offsets into the generated ids:
//!
//! ```text
//!   ids:  ... [prefix_offset ........ read_offset) [new ids ...]
//!              `- already emitted, decoded again only as context
//! ```
//!
//! On each push we decode `ids[prefix_offset..read_offset]` (the prefix text) and
//! `ids[prefix_offset..]` (the new text). If the new text is longer and does not end
//! in U+FFFD (an incomplete character), its suffix past the prefix text is emitted and
//! both offsets move forward; otherwise nothing is emitted and we wait for more ids.
//! Both decodes start at the same token, so first-token effects cancel out.
//!
//! Fast path: when the decoder is plain byte-level BPE (GPT-2, Llama 3,
//! Qwen), decoding is the concatenation of each token's bytes read as UTF-8
//! with invalid sequences replaced by U+FFFD. [`ByteDecoder`] holds every
//! token's bytes, and the detokenizer appends them and emits the longest
//! prefix whose rendering no later byte can change: everything but an
//! incomplete character at the end. The concatenated deltas equal the full
//! decode all the same, at a fraction of the cost (two window decodes
//! allocate a string per token; this copies a few bytes).

use std::collections::HashMap;
use std::sync::Arc;

use super::{byte_level_table, TokenizeError, Tokenizer};

/// Every token id's output bytes under a tokenizer whose decoder is
/// byte-level BPE alone, so that decoding ids is concatenating their bytes
/// (what `tokenizers`' `ByteLevel` decoder does: each token's chars mapped
/// back through GPT-2's byte table, a token with any other char taken as its
/// UTF-8 bytes, then one lossy UTF-8 read of the whole).
pub struct ByteDecoder {
    /// `bytes[starts[id]..starts[id + 1]]` is token `id`'s output.
    bytes: Vec<u8>,
    starts: Vec<u32>,
    /// Per id: whether `decode` drops it when skipping special tokens.
    special: Vec<bool>,
    /// Per id: whether the id is in the vocabulary at all (`decode` drops
    /// unknown ids).
    known: Vec<bool>,
}

impl std::fmt::Debug for ByteDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteDecoder")
            .field("tokens", &self.known.len())
            .finish_non_exhaustive()
    }
}

impl ByteDecoder {
    /// The table for `inner`, or `None` when its decoder is anything but a
    /// lone byte-level one (SentencePiece's `▁` handling, byte fallback and
    /// the like keep the window method).
    pub fn for_tokenizer(inner: &tokenizers::Tokenizer, vocab_size: usize) -> Option<Self> {
        use tokenizers::decoders::DecoderWrapper;
        if !matches!(inner.get_decoder(), Some(DecoderWrapper::ByteLevel(_))) {
            return None;
        }
        let inverse: HashMap<char, u8> = byte_level_table()
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let added = inner.get_added_vocabulary();
        let mut out = ByteDecoder {
            bytes: Vec::new(),
            starts: Vec::with_capacity(vocab_size + 1),
            special: Vec::with_capacity(vocab_size),
            known: Vec::with_capacity(vocab_size),
        };
        out.starts.push(0);
        for id in 0..vocab_size as u32 {
            match inner.id_to_token(id) {
                Some(token) => {
                    out.special.push(added.is_special_token(&token));
                    out.known.push(true);
                    let mapped: Option<Vec<u8>> =
                        token.chars().map(|c| inverse.get(&c).copied()).collect();
                    match mapped {
                        Some(b) => out.bytes.extend_from_slice(&b),
                        None => out.bytes.extend_from_slice(token.as_bytes()),
                    }
                }
                None => {
                    out.special.push(false);
                    out.known.push(false);
                }
            }
            // A vocabulary's bytes are far below 4 GiB; refuse the table otherwise.
            out.starts.push(u32::try_from(out.bytes.len()).ok()?);
        }
        Some(out)
    }

    /// The bytes `id` adds to a decode, or `None` when the decode drops it
    /// (an unknown id, or a special token while skipping them).
    pub fn token(&self, id: u32, skip_special_tokens: bool) -> Option<&[u8]> {
        let i = id as usize;
        if !*self.known.get(i)? || (skip_special_tokens && self.special[i]) {
            return None;
        }
        Some(&self.bytes[self.starts[i] as usize..self.starts[i + 1] as usize])
    }
}

/// Turns a stream of token ids into text deltas that are always valid UTF-8 and identical, concatenated, to decoding all ids at once (vLLM/TGI's prefix-offset/read-offset method: decode a small window of recent tokens, emit only the new suffix once it no longer ends in U+FFFD).
pub struct IncrementalDetokenizer {
    tokenizer: Arc<Tokenizer>,
    skip_special_tokens: bool,
    /// Special tokens kept although `skip_special_tokens` is set: the
    /// markers the output parser reads (see [`Self::keeping`]).
    kept: Vec<u32>,
    /// Take the byte-level fast path (the tokenizer has a [`ByteDecoder`]).
    use_bytes: bool,
    /// Byte-level fast path: the bytes not emitted yet (an incomplete
    /// character at the end, at most three bytes). Unused otherwise.
    pending: Vec<u8>,
    /// Ids from `prefix_offset` on; earlier ones are no longer needed.
    ids: Vec<u32>,
    /// End of the emitted ids, relative to `ids` (the start of `ids` is `prefix_offset`).
    read_offset: usize,
}

impl IncrementalDetokenizer {
    /// A detokenizer for one generated sequence.
    pub fn new(tokenizer: Arc<Tokenizer>, skip_special_tokens: bool) -> Self {
        Self {
            use_bytes: tokenizer.byte_decoder().is_some(),
            tokenizer,
            skip_special_tokens,
            kept: Vec::new(),
            pending: Vec::new(),
            ids: Vec::new(),
            read_offset: 0,
        }
    }

    /// Keep the text of the special tokens among `ids` even while special
    /// tokens are skipped. Some models' tool-call and reasoning markers are
    /// special tokens (gpt-oss's `<|channel|>`, Kimi K2's
    /// `<|tool_calls_section_begin|>`, Mistral's `[TOOL_CALLS]`): the output
    /// parser must see them, while bos, eos and padding stay out.
    pub fn keeping(mut self, ids: Vec<u32>) -> Self {
        self.kept = ids;
        self
    }

    /// True when `id` is left out of the text: a special token, special
    /// tokens skipped, and not one of the kept ones.
    fn dropped(&self, id: u32) -> bool {
        if !self.skip_special_tokens || self.kept.contains(&id) {
            return false;
        }
        let inner = self.tokenizer.inner();
        inner
            .id_to_token(id)
            .is_some_and(|t| inner.get_added_vocabulary().is_special_token(&t))
    }

    /// Whether the window decodes skip special tokens themselves: not when
    /// some are kept, since [`Self::push`] then leaves out the others.
    fn decode_skips(&self) -> bool {
        self.skip_special_tokens && self.kept.is_empty()
    }

    /// New text made complete by this token ("" while a multi-byte char is still incomplete).
    pub fn push(&mut self, id: u32) -> Result<String, TokenizeError> {
        if self.use_bytes {
            let skip = self.skip_special_tokens && !self.kept.contains(&id);
            if let Some(b) = self
                .tokenizer
                .byte_decoder()
                .and_then(|t| t.token(id, skip))
            {
                self.pending.extend_from_slice(b);
            }
            return Ok(take_complete_utf8(&mut self.pending));
        }
        if !self.kept.is_empty() && self.dropped(id) {
            return Ok(String::new());
        }
        self.ids.push(id);
        let (prefix, new) = self.decode_window()?;
        if new.len() > prefix.len() && !new.ends_with('\u{FFFD}') {
            if let Some(delta) = new.strip_prefix(prefix.as_str()) {
                let delta = delta.to_owned();
                self.advance();
                return Ok(delta);
            }
            // The prefix decodes differently in context (an invalid byte-fallback run
            // turned earlier bytes into U+FFFD): count its chars as emitted already.
            let delta = skip_chars(&new, prefix.chars().count()).to_owned();
            self.advance();
            return Ok(delta);
        }
        Ok(String::new())
    }

    /// End of generation: text still held back (it ends in U+FFFD, e.g. the sequence
    /// stopped inside a multi-byte character), exactly as a full decode renders it.
    pub fn flush(&mut self) -> Result<String, TokenizeError> {
        if self.use_bytes {
            let tail = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            return Ok(tail);
        }
        let (prefix, new) = self.decode_window()?;
        let delta = match new.strip_prefix(prefix.as_str()) {
            Some(d) => d.to_owned(),
            None => skip_chars(&new, prefix.chars().count()).to_owned(),
        };
        self.advance();
        Ok(delta)
    }

    fn decode_window(&self) -> Result<(String, String), TokenizeError> {
        let skip = self.decode_skips();
        let prefix = self.tokenizer.decode(&self.ids[..self.read_offset], skip)?;
        let new = self.tokenizer.decode(&self.ids, skip)?;
        Ok((prefix, new))
    }

    /// Everything decoded so far is emitted: the last read window becomes the prefix.
    fn advance(&mut self) {
        self.ids.drain(..self.read_offset);
        self.read_offset = self.ids.len();
    }
}

/// Remove and return the text of `pending` that no later byte can change:
/// valid UTF-8 as is, each invalid sequence as one U+FFFD (as
/// `String::from_utf8_lossy` renders it); an incomplete character at the end
/// stays in `pending`.
fn take_complete_utf8(pending: &mut Vec<u8>) -> String {
    let mut out = String::new();
    let mut rest: &[u8] = pending;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                rest = &[];
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // `valid_up_to` is the end of the valid prefix by definition.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        out.push('\u{FFFD}');
                        rest = &after[n..];
                    }
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let keep = rest.len();
    let start = pending.len() - keep;
    pending.drain(..start);
    out
}

/// `s` without its first `n` chars.
fn skip_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or("", |(i, _)| &s[i..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::test_tokenizers;
    use std::str::FromStr;

    fn byte_level() -> Arc<Tokenizer> {
        let inner = tokenizers::Tokenizer::from_str(&test_tokenizers::byte_level_json()).unwrap();
        Arc::new(Tokenizer::from_tokenizers(inner))
    }

    fn sentencepiece() -> Arc<Tokenizer> {
        let inner =
            tokenizers::Tokenizer::from_str(&test_tokenizers::sentencepiece_json()).unwrap();
        Arc::new(Tokenizer::from_tokenizers(inner))
    }

    fn stream(tok: &Arc<Tokenizer>, ids: &[u32], skip: bool) -> Vec<String> {
        let mut d = IncrementalDetokenizer::new(tok.clone(), skip);
        let mut out: Vec<String> = ids.iter().map(|id| d.push(*id).unwrap()).collect();
        out.push(d.flush().unwrap());
        out
    }

    #[test]
    fn multibyte_chars_split_across_tokens() {
        let tok = byte_level();
        let text = "hi 你好 🦀!";
        let ids = tok.encode(text, false).unwrap();
        // `你` and `🦀` are each split into several byte tokens.
        assert!(ids.len() > text.chars().count());
        let deltas = stream(&tok, &ids, false);
        for d in &deltas {
            assert!(!d.contains('\u{FFFD}'), "{deltas:?}");
        }
        assert!(
            deltas.iter().any(|d| d.is_empty()),
            "a partial char must be held back"
        );
        assert_eq!(deltas.concat(), text);
        assert!(deltas.contains(&"🦀".to_string()) || deltas.iter().any(|d| d.ends_with('🦀')));
    }

    #[test]
    fn byte_level_leading_spaces() {
        let tok = byte_level();
        let text = " hello world  hello";
        let ids = tok.encode(text, false).unwrap();
        assert_eq!(stream(&tok, &ids, false).concat(), text);
    }

    #[test]
    fn sentencepiece_leading_space() {
        let tok = sentencepiece();
        let ids = tok.encode("Hello world! the abc é中ü", false).unwrap();
        let full = tok.decode(&ids, false).unwrap();
        let deltas = stream(&tok, &ids, false);
        assert_eq!(deltas[0], "Hello");
        assert_eq!(deltas[1], " world");
        assert_eq!(deltas.concat(), full);
        // `ü` is not in the vocabulary: two byte-fallback tokens, held until complete.
        assert!(full.ends_with('ü'));
    }

    #[test]
    fn special_tokens_skipped_or_kept() {
        let tok = byte_level();
        let s = tok.token_to_id("<s>").unwrap();
        let e = tok.token_to_id("</s>").unwrap();
        let mut ids = vec![s];
        ids.extend(tok.encode("hi 你", false).unwrap());
        ids.push(e);
        assert_eq!(stream(&tok, &ids, true).concat(), "hi 你");
        assert_eq!(
            stream(&tok, &ids, false).concat(),
            tok.decode(&ids, false).unwrap()
        );
    }

    #[test]
    fn kept_special_tokens_stay_in_the_text() {
        // Harmony-like markers as special tokens, on both decoding paths.
        for json in [
            test_tokenizers::byte_level_json(),
            test_tokenizers::sentencepiece_json(),
        ] {
            let mut inner = tokenizers::Tokenizer::from_str(&json).unwrap();
            inner.add_special_tokens(&[
                tokenizers::AddedToken::from("<|channel|>", true),
                tokenizers::AddedToken::from("<|message|>", true),
            ]);
            let tok = Arc::new(Tokenizer::from_tokenizers(inner));
            let ch = tok.token_to_id("<|channel|>").unwrap();
            let msg = tok.token_to_id("<|message|>").unwrap();
            let s = tok.token_to_id("<s>").unwrap();
            let mut ids = vec![s, ch];
            ids.extend(tok.encode("a", false).unwrap());
            ids.push(msg);
            ids.extend(tok.encode("Hello world 你", false).unwrap());
            ids.push(tok.token_to_id("</s>").unwrap());
            let inner_ids: Vec<u32> = ids[1..ids.len() - 1].to_vec();
            let want = tok.decode(&inner_ids, false).unwrap();
            assert!(
                want.contains("<|channel|>") && want.contains("<|message|>"),
                "{want}"
            );
            for bytes in [true, false] {
                let run = |keep: Vec<u32>| {
                    let mut d = IncrementalDetokenizer::new(tok.clone(), true).keeping(keep);
                    d.use_bytes &= bytes;
                    let mut text: String = ids.iter().map(|id| d.push(*id).unwrap()).collect();
                    text.push_str(&d.flush().unwrap());
                    text
                };
                // bos and eos stay out; the kept markers come through.
                assert_eq!(run(vec![ch, msg]), want);
                assert_eq!(run(Vec::new()), tok.decode(&ids, true).unwrap());
                assert!(!run(Vec::new()).contains("<|channel|>"));
            }
        }
    }

    /// xorshift, so the tests need no rand crate and are reproducible.
    fn rng() -> impl FnMut() -> u64 {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn random_byte_level_sequences_match_one_shot_decode() {
        // Any id sequence, including invalid UTF-8 byte runs, special tokens
        // and ids past the vocabulary; through the byte table and through the
        // window method.
        let tok = byte_level();
        assert!(tok.byte_decoder().is_some());
        let mut next = rng();
        let n = tok.vocab_size() as u64 + 2;
        for _ in 0..500 {
            let len = (next() % 24) as usize;
            let ids: Vec<u32> = (0..len).map(|_| (next() % n) as u32).collect();
            for skip in [false, true] {
                let want = tok.decode(&ids, skip).unwrap();
                let deltas = stream(&tok, &ids, skip);
                assert_eq!(deltas.concat(), want, "{ids:?}");
                let mut d = IncrementalDetokenizer::new(tok.clone(), skip);
                d.use_bytes = false;
                let mut windowed: String = ids.iter().map(|id| d.push(*id).unwrap()).collect();
                windowed.push_str(&d.flush().unwrap());
                assert_eq!(windowed, want, "{ids:?}");
            }
        }
    }

    #[test]
    fn byte_table_only_for_plain_byte_level_decoders() {
        assert!(sentencepiece().byte_decoder().is_none());
        let tok = byte_level();
        let table = tok.byte_decoder().unwrap();
        let hello = tok.encode(" hello", false).unwrap();
        assert_eq!(hello.len(), 1);
        assert_eq!(table.token(hello[0], false), Some(&b" hello"[..]));
        let s = tok.token_to_id("<s>").unwrap();
        assert_eq!(table.token(s, false), Some(&b"<s>"[..]));
        assert_eq!(table.token(s, true), None);
        assert_eq!(table.token(tok.vocab_size() as u32, false), None);
    }

    #[test]
    fn random_sentencepiece_sequences_match_one_shot_decode() {
        // Random pieces mixed with characters spelled in byte-fallback tokens.
        let tok = sentencepiece();
        let mut next = rng();
        let pieces: Vec<u32> = (0..tok.vocab_size() as u32)
            .filter(|id| !tok.id_to_token(*id).unwrap().starts_with("<0x"))
            .collect();
        let byte_chars: Vec<Vec<u32>> = ["ü", "🦀", "ж", "\u{10FFFF}"]
            .iter()
            .map(|c| {
                c.bytes()
                    .map(|b| tok.token_to_id(&format!("<0x{b:02X}>")).unwrap())
                    .collect()
            })
            .collect();
        for _ in 0..300 {
            let mut ids = Vec::new();
            for _ in 0..(next() % 16) {
                if next() & 3 == 0 {
                    ids.extend(&byte_chars[(next() % byte_chars.len() as u64) as usize]);
                } else {
                    ids.push(pieces[(next() % pieces.len() as u64) as usize]);
                }
            }
            for skip in [false, true] {
                let deltas = stream(&tok, &ids, skip);
                assert_eq!(deltas.concat(), tok.decode(&ids, skip).unwrap(), "{ids:?}");
            }
        }
    }

    #[test]
    fn invalid_byte_fallback_runs_keep_earlier_valid_bytes() {
        // Known difference from a one-shot decode: SentencePiece's ByteFallback decoder
        // turns a whole run of byte tokens into U+FFFD when the run is not valid UTF-8,
        // so a valid char already streamed out of that run stays as it was. Models
        // emit such runs only as garbage; holding every byte token back would delay
        // every byte-spelled emoji instead.
        let tok = sentencepiece();
        let b = |x: u8| tok.token_to_id(&format!("<0x{x:02X}>")).unwrap();
        let ids = [b(b'l'), b(0x9E)];
        assert_eq!(stream(&tok, &ids, false).concat(), "l\u{FFFD}");
        assert_eq!(tok.decode(&ids, false).unwrap(), "\u{FFFD}\u{FFFD}");
    }
}
