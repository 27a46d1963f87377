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
//! [`super::Tokenizer`] reads. SentencePiece files (`model` = `llama`) and
//! pre-tokenizers not in [`pre_tokenizer`] are refused by name.

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

/// ggml's token types: 3 is a control token, 4 user-defined.
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
    if model != "gpt2" {
        return Err(format!(
            "tokenizer.ggml.model `{model}` is not supported yet (byte-level BPE, `gpt2`, is)"
        ));
    }
    let pre = key("pre").and_then(Value::as_str).unwrap_or("default");
    let pt = pre_tokenizer(pre).ok_or_else(|| {
        format!("pre-tokenizer `{pre}` is not supported (qwen2, llama-bpe, default are)")
    })?;
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
    let merges = strings("merges")?;
    let types: Vec<u64> = key("token_type")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
        .unwrap_or_default();
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        vocab.insert((*t).to_owned(), json!(id));
        let ty = types.get(id).copied().unwrap_or(1);
        if ty == CONTROL || ty == USER_DEFINED {
            added.push(
                json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                              "rstrip": false, "normalized": false, "special": ty == CONTROL}),
            );
        }
    }
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
                            "trim_offsets": false, "use_regex": false});
    let tokenizer_json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
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
                  "vocab": vocab, "merges": merges},
    });
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
            _ => pt.add_bos,
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
