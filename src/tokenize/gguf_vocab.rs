//! A tokenizer from a GGUF file's own metadata (`tokenizer.ggml.*`), so a
//! file is served without the Hugging Face tokenizer files beside it.
//!
//! llama.cpp's converter stores a byte-level BPE tokenizer (`model` =
//! `gpt2`) as its token strings (in the byte-to-unicode alphabet, as in
//! `tokenizer.json`), token types, merges, and the name of the
//! pre-tokenizer (`pre`) whose split regex llama.cpp hard-codes. This
//! builds the equivalent `tokenizer.json` value (the same BPE model, that
//! regex, byte-level pre-tokenizer and decoder, the control tokens as
//! special added tokens) and the `tokenizer_config.json` / `config.json`
//! values (bos, eos, `add_bos_token`, chat template) the rest of
//! [`super::Tokenizer`] reads. Pre-tokenizers not in [`pre_tokenizer`] are
//! refused by name.
//!
//! A SentencePiece file (`model` = `llama`: Llama 2, Mistral 7B, TinyLlama)
//! stores pieces with scores instead of merges. It becomes what Hugging
//! Face's converter makes of the same `tokenizer.model`: a BPE model with
//! byte fallback whose merges are every split of a piece into two pieces,
//! ranked by the merged piece's score ([`spm_merges`]), behind a normalizer
//! that turns spaces into `▁` and puts one in front (`add_space_prefix`).
//! That is also llama.cpp's SentencePiece tokenizer: repeatedly merge the
//! adjacent pair whose concatenation scores best, bytes for what is left.

use serde_json::{json, Value as Json};

use crate::model::gguf::{GgufFile, Value};

/// What llama.cpp's pre-tokenizer `pre` means (its `llama-vocab.cpp`,
/// for the families weir serves).
#[derive(Clone, Copy, Debug)]
pub struct PreTokenizer {
    /// The split regex.
    pub regex: &'static str,
    /// NFC-normalize the text first.
    pub nfc: bool,
    /// A word already in the vocabulary is one token, merges or not
    /// (tiktoken's rule, Llama 3's `ignore_merges`).
    pub ignore_merges: bool,
    /// Add bos when the file does not say (llama.cpp forces it for Llama 3).
    pub add_bos: bool,
}

/// The pre-tokenizer `pre` names, if weir knows it.
pub fn pre_tokenizer(pre: &str) -> Option<PreTokenizer> {
    Some(match pre {
        // Qwen2 / Qwen2.5 / Qwen3: single digits.
        "qwen2" => PreTokenizer {
            regex: r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            nfc: true,
            ignore_merges: false,
            add_bos: false,
        },
        // Llama 3: digits in groups of up to three.
        "llama-bpe" | "llama3" | "llama-v3" => PreTokenizer {
            regex: r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            nfc: false,
            ignore_merges: true,
            add_bos: true,
        },
        // GPT-2's own.
        "default" | "gpt-2" | "gpt2" => PreTokenizer {
            regex: r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
            nfc: false,
            ignore_merges: false,
            add_bos: false,
        },
        _ => return None,
    })
}

/// ggml's token types: 2 is the unknown token, 3 a control token, 4
/// user-defined.
const UNKNOWN: u64 = 2;
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

/// The parts of a model directory's tokenizer files, built from `g`.
pub struct GgufTokenizer {
    /// `tokenizer.json`.
    pub tokenizer_json: Json,
    /// `tokenizer_config.json`.
    pub tokenizer_config: Json,
    /// `config.json`'s token ids.
    pub config: Json,
}

/// Builds the tokenizer files' contents from `g`'s metadata; `Err` says
/// why (missing keys, an unsupported model or pre-tokenizer).
pub fn from_gguf(g: &GgufFile) -> Result<GgufTokenizer, String> {
    let key = |k: &str| g.get(&format!("tokenizer.ggml.{k}"));
    let model = key("model")
        .and_then(Value::as_str)
        .ok_or("it has no tokenizer.ggml.model")?;
    let strings = |k: &str| -> Result<Vec<&str>, String> {
        key(k)
            .and_then(Value::as_array)
            .ok_or(format!("it has no tokenizer.ggml.{k}"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or(format!("tokenizer.ggml.{k} holds a non-string"))
            })
            .collect()
    };
    let tokens = strings("tokens")?;
    let types: Vec<u64> = key("token_type")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
        .unwrap_or_default();
    let ty = |id: usize| types.get(id).copied().unwrap_or(1);
    let (tokenizer_json, default_add_bos) = match model {
        "gpt2" => {
            let pre = key("pre").and_then(Value::as_str).unwrap_or("default");
            let pt = pre_tokenizer(pre).ok_or_else(|| {
                format!("pre-tokenizer `{pre}` is not supported (qwen2, llama-bpe, default are)")
            })?;
            (
                byte_level_bpe(&tokens, &ty, &strings("merges")?, &pt),
                pt.add_bos,
            )
        }
        "llama" => {
            let scores: Vec<f64> = key("scores")
                .and_then(Value::as_array)
                .ok_or("it has no tokenizer.ggml.scores")?
                .iter()
                .map(|v| v.as_f64().ok_or("tokenizer.ggml.scores holds a non-number"))
                .collect::<Result<_, _>>()?;
            if scores.len() != tokens.len() {
                return Err(format!(
                    "tokenizer.ggml.scores has {} entries for {} tokens",
                    scores.len(),
                    tokens.len()
                ));
            }
            let unk = key("unknown_token_id")
                .and_then(Value::as_u64)
                .and_then(|i| tokens.get(i as usize).copied());
            let prefix = !matches!(key("add_space_prefix"), Some(Value::Bool(false)));
            (sentencepiece(&tokens, &ty, &scores, unk, prefix), true)
        }
        _ => {
            return Err(format!(
                "tokenizer.ggml.model `{model}` is not supported (byte-level BPE `gpt2` and \
                 SentencePiece `llama` are)"
            ))
        }
    };
    let id = |k: &str| key(k).and_then(Value::as_u64);
    let name = |i: Option<u64>| i.and_then(|i| tokens.get(i as usize)).map(|t| json!(t));
    let eos: Vec<u64> = [id("eos_token_id"), id("eot_token_id")]
        .into_iter()
        .flatten()
        .collect();
    let mut tokenizer_config = json!({
        "bos_token": name(id("bos_token_id")),
        "eos_token": name(id("eos_token_id")),
        "add_bos_token": match key("add_bos_token") {
            Some(Value::Bool(b)) => *b,
            _ => default_add_bos,
        },
    });
    if let Some(t) = g.get("tokenizer.chat_template").and_then(Value::as_str) {
        tokenizer_config["chat_template"] = json!(t);
    }
    Ok(GgufTokenizer {
        tokenizer_json,
        tokenizer_config,
        config: json!({"bos_token_id": id("bos_token_id"), "eos_token_id": eos}),
    })
}

/// Control, unknown and user-defined tokens as `tokenizer.json`'s added
/// tokens (the control and unknown ones special), so text holding them
/// splits on them as Hugging Face's tokenizer does.
fn added_tokens(tokens: &[&str], ty: &dyn Fn(usize) -> u64) -> Vec<Json> {
    let mut added = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        let ty = ty(id);
        if ty == CONTROL || ty == UNKNOWN || ty == USER_DEFINED {
            added.push(
                json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                              "rstrip": false, "normalized": false,
                              "special": ty != USER_DEFINED}),
            );
        }
    }
    added
}

/// The BPE model's vocabulary: each token string to its id.
fn vocab(tokens: &[&str]) -> serde_json::Map<String, Json> {
    tokens
        .iter()
        .enumerate()
        .map(|(id, t)| ((*t).to_owned(), json!(id)))
        .collect()
}

/// `tokenizer.json` for byte-level BPE (`gpt2`).
fn byte_level_bpe(
    tokens: &[&str],
    ty: &dyn Fn(usize) -> u64,
    merges: &[&str],
    pt: &PreTokenizer,
) -> Json {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
                            "trim_offsets": false, "use_regex": false});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens(tokens, ty),
        "normalizer": if pt.nfc { json!({"type": "NFC"}) } else { Json::Null },
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pt.regex}, "behavior": "Isolated", "invert": false},
            byte_level,
        ]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": pt.ignore_merges,
                  "vocab": vocab(tokens), "merges": merges},
    })
}

/// `tokenizer.json` for a SentencePiece vocabulary (`llama`): pieces with
/// `▁` for spaces, `<0xNN>` byte pieces for what no piece covers.
fn sentencepiece(
    tokens: &[&str],
    ty: &dyn Fn(usize) -> u64,
    scores: &[f64],
    unk: Option<&str>,
    add_space_prefix: bool,
) -> Json {
    let merges: Vec<Json> = spm_merges(tokens, scores)
        .into_iter()
        .map(|(l, r)| json!([tokens[l], tokens[r]]))
        .collect();
    let mut normalizers = Vec::new();
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": "▁"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if add_space_prefix {
        normalizers.push(json!({"type": "Prepend", "prepend": "▁"}));
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    normalizers.push(json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"}));
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens(tokens, ty),
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                  "vocab": vocab(tokens), "merges": merges},
    })
}

/// The merges of a SentencePiece vocabulary as Hugging Face's converter
/// derives them (`SentencePieceExtractor`): every split of a piece into two
/// pieces of the vocabulary, ordered by the merged piece's score (best
/// first; a stable sort, so ties keep vocabulary order), the splits of one
/// piece by their halves' ids. Token ids of (left, right).
pub fn spm_merges(tokens: &[&str], scores: &[f64]) -> Vec<(usize, usize)> {
    let ids: std::collections::HashMap<&str, usize> =
        tokens.iter().enumerate().map(|(id, t)| (*t, id)).collect();
    let mut merges: Vec<(usize, usize, f64)> = Vec::new();
    for (piece, &score) in tokens.iter().zip(scores) {
        let start = merges.len();
        for (cut, _) in piece.char_indices().skip(1) {
            if let (Some(&l), Some(&r)) = (ids.get(&piece[..cut]), ids.get(&piece[cut..])) {
                merges.push((l, r, score));
            }
        }
        merges[start..].sort_by_key(|&(l, r, _)| (l, r));
    }
    merges.sort_by(|a, b| b.2.total_cmp(&a.2));
    merges.into_iter().map(|(l, r, _)| (l, r)).collect()
}
