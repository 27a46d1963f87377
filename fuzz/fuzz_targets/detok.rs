//! The incremental detokenizer over arbitrary token ids of a real
//! tokenizer (the test models' byte-level BPE, `tests/models/qwen2-bf16`):
//! its deltas, joined, must equal one decode of all the ids, on both of its
//! paths (the byte table, and the window method, forced here by wrapping
//! the same decoder in a `Sequence`), with special tokens skipped or not
//! and with a kept marker token. Never a panic, never broken UTF-8.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use weir::tokenize::{IncrementalDetokenizer, Tokenizer};

/// The model directory whose tokenizer is fuzzed.
const MODEL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/models/qwen2-bf16");

/// The two tokenizers (byte table, window method) and the special ids.
struct Tokenizers {
    bytes: Arc<Tokenizer>,
    window: Arc<Tokenizer>,
    special: Vec<u32>,
}

fn tokenizers() -> &'static Tokenizers {
    static TOKENIZERS: OnceLock<Tokenizers> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let bytes = Tokenizer::from_dir(std::path::Path::new(MODEL_DIR)).expect("test tokenizer");
        assert!(
            bytes.byte_decoder().is_some(),
            "expected the byte-level fast path"
        );
        let json = std::fs::read_to_string(format!("{MODEL_DIR}/tokenizer.json"))
            .expect("read tokenizer.json");
        let mut value: serde_json::Value = serde_json::from_str(&json).expect("tokenizer JSON");
        // The same decoding, but not a lone ByteLevel decoder: the window path.
        let decoder = value["decoder"].take();
        value["decoder"] = serde_json::json!({"type": "Sequence", "decoders": [decoder]});
        let inner: tokenizers::Tokenizer = value.to_string().parse().expect("wrapped tokenizer");
        let window = Tokenizer::from_tokenizers(inner);
        assert!(window.byte_decoder().is_none(), "expected the window path");
        let mut special: Vec<u32> = bytes
            .inner()
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        special.sort_unstable();
        Tokenizers {
            bytes: Arc::new(bytes),
            window: Arc::new(window),
            special,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let t = tokenizers();
    let skip = flags & 1 != 0;
    let tokenizer = if flags & 2 != 0 { &t.window } else { &t.bytes };
    let kept: Vec<u32> = if flags & 4 != 0 && !t.special.is_empty() {
        vec![t.special[(flags >> 3) as usize % t.special.len()]]
    } else {
        Vec::new()
    };
    // Ids a little past the vocabulary too: decode drops unknown ids.
    let span = tokenizer.vocab_size() as u32 + 4;
    let ids: Vec<u32> = rest
        .chunks_exact(2)
        .take(1024)
        .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])) % span)
        .collect();

    let mut detok = IncrementalDetokenizer::new(tokenizer.clone(), skip).keeping(kept.clone());
    let mut streamed = String::new();
    for &id in &ids {
        match detok.push(id) {
            Ok(delta) => streamed.push_str(&delta),
            Err(_) => return,
        }
    }
    match detok.flush() {
        Ok(delta) => streamed.push_str(&delta),
        Err(_) => return,
    }

    // The documented contract: the same text as one decode of all ids
    // (with kept markers: of the ids the stream keeps, nothing skipped).
    let want = if kept.is_empty() {
        tokenizer.decode(&ids, skip)
    } else {
        let shown: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !skip || kept.contains(id) || !t.special.contains(id))
            .collect();
        tokenizer.decode(&shown, false)
    };
    if let Ok(want) = want {
        assert_eq!(streamed, want, "ids {ids:?} skip {skip} kept {kept:?}");
    }
});
