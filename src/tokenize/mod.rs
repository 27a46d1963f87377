//! Tokenization: a model's tokenizer, its chat template, incremental detokenization
//! and stop strings.
//!
//! - [`Tokenizer`] loads `tokenizer.json` and the files around it from a Hugging Face
//!   model directory and knows the model's special tokens and end-of-generation ids.
//! - [`ChatTemplate`] renders a conversation to prompt text, byte-identical to
//!   transformers' `apply_chat_template(..., tokenize=False)`.
//! - [`conversation::for_template`] turns the wire conversation into the one templates
//!   expect (arguments as mappings, named tool results, Mistral ids);
//!   [`tool_fallback`] carries tools to templates that know none.
//! - [`IncrementalDetokenizer`] turns generated ids into valid UTF-8 text deltas.
//! - [`StopMatcher`] finds stop strings across token boundaries.
//!
//! A prompt rendered from a chat template already holds the BOS token the template
//! wrote, so it is encoded with `add_special_tokens = false` (as vLLM does); see
//! [`Tokenizer::encode_chat_prompt`].

pub mod conversation;
pub mod detok;
pub mod gguf_vocab;
pub mod stop_strings;
pub mod template;
pub mod tool_fallback;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use detok::IncrementalDetokenizer;
pub use stop_strings::{StopMatcher, StopOutcome};
pub use template::{ChatTemplate, TemplateError};

/// Why a tokenizer could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// A file of the model directory is missing, unreadable or malformed.
    #[error("{file} in {}: {reason}", dir.display())]
    File {
        /// The file's name, e.g. `tokenizer.json`.
        file: String,
        /// The model directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A chat template shipped with the model does not compile.
    #[error("{file} in {}: chat template {name:?}: {source}", dir.display())]
    Template {
        /// The file the template came from.
        file: String,
        /// The model directory.
        dir: PathBuf,
        /// The template's name (`default` when unnamed).
        name: String,
        /// The compile error.
        #[source]
        source: TemplateError,
    },
    /// The tokenizer failed to encode text.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The tokenizer failed to decode ids (e.g. an id outside the vocabulary).
    #[error("decoding failed: {0}")]
    Decode(String),
}

/// A model's tokenizer with the special tokens and chat template that come with it.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    vocab_size: usize,
    bos_token: Option<String>,
    eos_token: Option<String>,
    bos_token_id: Option<u32>,
    add_bos_token: Option<bool>,
    eos_token_ids: Vec<u32>,
    templates: HashMap<String, ChatTemplate>,
    /// Each token's output bytes, when the decoder is plain byte-level BPE
    /// (the streaming detokenizer's fast path).
    byte_decoder: Option<detok::ByteDecoder>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .field("eos_token_ids", &self.eos_token_ids)
            .field("templates", &self.templates.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Name of the chat template used when a request names none.
const DEFAULT_TEMPLATE: &str = "default";

/// Reads and parses an optional JSON file of the model directory.
fn read_json(dir: &Path, file: &str) -> Result<Option<serde_json::Value>, TokenizeError> {
    let path = dir.join(file);
    if !path.exists() {
        return Ok(None);
    }
    let err = |reason: String| TokenizeError::File {
        file: file.to_owned(),
        dir: dir.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| err(format!("invalid JSON: {e}")))
}

/// A special token given as `"<s>"` or as `{"content": "<s>", ...}`.
fn token_string(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A token id given as an integer or a list of integers.
fn token_ids(v: Option<&serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| n as u32).into_iter().collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64().map(|n| n as u32))
            .collect(),
        _ => Vec::new(),
    }
}

impl Tokenizer {
    /// Load from a Hugging Face model directory.
    ///
    /// Reads `tokenizer.json` (required); `tokenizer_config.json` (`chat_template` as a
    /// string or a list of `{name, template}`; `bos_token` / `eos_token` as strings or
    /// `{content: ...}` objects; `add_bos_token`); `chat_template.jinja`, which wins over
    /// tokenizer_config's default template; and `config.json` / `generation_config.json`
    /// (`eos_token_id` as an int or a list, `bos_token_id`). Every file but
    /// `tokenizer.json` is optional.
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizeError> {
        let file_err = |file: &str, reason: String| TokenizeError::File {
            file: file.to_owned(),
            dir: dir.to_owned(),
            reason,
        };
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.exists() {
            return Err(file_err("tokenizer.json", "not found".into()));
        }
        let inner = tokenizers::Tokenizer::from_file(&tok_path)
            .map_err(|e| file_err("tokenizer.json", e.to_string()))?;
        let jinja_path = dir.join("chat_template.jinja");
        let jinja = if jinja_path.exists() {
            Some(
                std::fs::read_to_string(&jinja_path)
                    .map_err(|e| file_err("chat_template.jinja", e.to_string()))?,
            )
        } else {
            None
        };
        Self::from_parts(
            inner,
            read_json(dir, "tokenizer_config.json")?,
            read_json(dir, "config.json")?,
            read_json(dir, "generation_config.json")?,
            jinja,
            dir,
        )
    }

    /// From a GGUF file's own metadata (`tokenizer.ggml.*`, see
    /// [`gguf_vocab`]), for a file served without tokenizer files beside it.
    pub fn from_gguf(g: &crate::model::gguf::GgufFile) -> Result<Self, TokenizeError> {
        let err = |reason: String| TokenizeError::File {
            file: "tokenizer.ggml.*".into(),
            dir: g.path().to_owned(),
            reason,
        };
        let parts = gguf_vocab::from_gguf(g).map_err(err)?;
        let inner: tokenizers::Tokenizer = parts
            .tokenizer_json
            .to_string()
            .parse()
            .map_err(|e: tokenizers::Error| err(e.to_string()))?;
        Self::from_parts(
            inner,
            Some(parts.tokenizer_config),
            Some(parts.config),
            None,
            None,
            g.path(),
        )
    }

    /// A tokenizer from the contents of a model directory's files (parsed
    /// already: a GGUF file's metadata gives them too). `dir` names the
    /// origin in errors.
    pub fn from_parts(
        inner: tokenizers::Tokenizer,
        tok_config: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
        gen_config: Option<serde_json::Value>,
        jinja: Option<String>,
        dir: &Path,
    ) -> Result<Self, TokenizeError> {
        let file_err = |file: &str, reason: String| TokenizeError::File {
            file: file.to_owned(),
            dir: dir.to_owned(),
            reason,
        };
        let mut tok = Self::from_tokenizers(inner);

        // Special tokens: tokenizer_config first, then the ids of config files.
        let tc = tok_config.as_ref();
        tok.bos_token = token_string(tc.and_then(|c| c.get("bos_token")));
        tok.eos_token = token_string(tc.and_then(|c| c.get("eos_token")));
        tok.add_bos_token = tc
            .and_then(|c| c.get("add_bos_token"))
            .and_then(|v| v.as_bool());
        let bos_ids: Vec<u32> = [&gen_config, &config]
            .iter()
            .flat_map(|c| token_ids(c.as_ref().and_then(|c| c.get("bos_token_id"))))
            .collect();
        tok.bos_token_id = match &tok.bos_token {
            Some(t) => tok.inner.token_to_id(t),
            None => bos_ids.first().copied(),
        };
        if tok.bos_token.is_none() {
            tok.bos_token = tok.bos_token_id.and_then(|id| tok.inner.id_to_token(id));
        }

        let mut eos = Vec::new();
        for c in [&gen_config, &config] {
            eos.extend(token_ids(c.as_ref().and_then(|c| c.get("eos_token_id"))));
        }
        if let Some(id) = tok
            .eos_token
            .as_deref()
            .and_then(|t| tok.inner.token_to_id(t))
        {
            eos.push(id);
        }
        let mut seen = std::collections::HashSet::new();
        eos.retain(|id| seen.insert(*id));
        if tok.eos_token.is_none() {
            tok.eos_token = eos.first().and_then(|id| tok.inner.id_to_token(*id));
        }
        tok.eos_token_ids = eos;

        // Chat templates.
        let mut sources: Vec<(String, String, &str)> = Vec::new();
        match tc.and_then(|c| c.get("chat_template")) {
            Some(serde_json::Value::String(s)) => {
                sources.push((DEFAULT_TEMPLATE.into(), s.clone(), "tokenizer_config.json"))
            }
            Some(serde_json::Value::Array(list)) => {
                for entry in list {
                    let name = entry.get("name").and_then(|v| v.as_str());
                    let src = entry.get("template").and_then(|v| v.as_str());
                    match (name, src) {
                        (Some(n), Some(s)) => {
                            sources.push((n.to_owned(), s.to_owned(), "tokenizer_config.json"))
                        }
                        _ => {
                            return Err(file_err(
                                "tokenizer_config.json",
                                "chat_template list entries need string `name` and `template`"
                                    .into(),
                            ))
                        }
                    }
                }
            }
            Some(serde_json::Value::Null) | None => {}
            Some(_) => {
                return Err(file_err(
                    "tokenizer_config.json",
                    "chat_template must be a string or a list of {name, template}".into(),
                ))
            }
        }
        if let Some(src) = jinja {
            sources.retain(|(n, _, _)| n != DEFAULT_TEMPLATE);
            sources.push((DEFAULT_TEMPLATE.into(), src, "chat_template.jinja"));
        }
        for (name, src, file) in sources {
            let t = ChatTemplate::new(&src, tok.bos_token.clone(), tok.eos_token.clone()).map_err(
                |source| TokenizeError::Template {
                    file: file.to_owned(),
                    dir: dir.to_owned(),
                    name: name.clone(),
                    source,
                },
            )?;
            tok.templates.insert(name, t);
        }
        tracing::debug!(
            dir = %dir.display(),
            vocab_size = tok.vocab_size,
            eos = ?tok.eos_token_ids,
            templates = tok.templates.len(),
            "loaded tokenizer"
        );
        Ok(tok)
    }

    /// Wraps an already built `tokenizers` tokenizer, with no special tokens or templates
    /// beyond what it holds itself (mostly for tests).
    pub fn from_tokenizers(inner: tokenizers::Tokenizer) -> Self {
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .max()
            .map_or(0, |m| *m as usize + 1);
        let byte_decoder = detok::ByteDecoder::for_tokenizer(&inner, vocab_size);
        Self {
            byte_decoder,
            inner,
            vocab_size,
            bos_token: None,
            eos_token: None,
            bos_token_id: None,
            add_bos_token: None,
            eos_token_ids: Vec::new(),
            templates: HashMap::new(),
        }
    }

    /// Encodes text to ids; `add_special_tokens` applies the tokenizer's post-processor
    /// (e.g. a leading BOS), adjusted by tokenizer_config's `add_bos_token`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TokenizeError> {
        let enc = self
            .inner
            .encode_fast(text, add_special_tokens)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        if add_special_tokens {
            if let (Some(add), Some(bos)) = (self.add_bos_token, self.bos_token_id) {
                let starts_with_bos = ids.first() == Some(&bos);
                if add && !starts_with_bos {
                    ids.insert(0, bos);
                } else if !add && starts_with_bos {
                    // Drop the BOS only if the post-processor added it, not the text.
                    let plain = self.encode(text, false)?;
                    if plain.first() != Some(&bos) {
                        ids.remove(0);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Encodes a prompt rendered by a chat template: the template wrote the special
    /// tokens itself, so none are added.
    pub fn encode_chat_prompt(&self, prompt: &str) -> Result<Vec<u32>, TokenizeError> {
        self.encode(prompt, false)
    }

    /// Decodes ids to text.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizeError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| TokenizeError::Decode(e.to_string()))
    }

    /// Each token's output bytes, when decoding is a plain concatenation of
    /// them (a byte-level BPE decoder and nothing else): what
    /// [`IncrementalDetokenizer`] uses instead of re-decoding a window.
    pub fn byte_decoder(&self) -> Option<&detok::ByteDecoder> {
        self.byte_decoder.as_ref()
    }

    /// Number of token ids, added tokens included (the largest id plus one).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The id of a token (vocabulary or added token), given its string.
    pub fn token_to_id(&self, s: &str) -> Option<u32> {
        self.inner.token_to_id(s)
    }

    /// The raw bytes a token adds to the output (OpenAI's `logprobs[].bytes`).
    /// A byte-level BPE token or a `<0xHH>` byte-fallback token may hold only
    /// part of a UTF-8 character: its bytes are then those raw bytes, not the
    /// replacement character its lone decode shows.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let text = self.inner.decode(&[id], false).unwrap_or_default();
        let Some(piece) = self.inner.id_to_token(id) else {
            return text.into_bytes();
        };
        if let Some(hex) = piece.strip_prefix("<0x").and_then(|r| r.strip_suffix('>')) {
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                return vec![b];
            }
        }
        // SentencePiece writes a space as U+2581, which a lone decode drops
        // at the start (byte-level pieces never hold U+2581).
        if piece.contains('\u{2581}') {
            return piece.replace('\u{2581}', " ").into_bytes();
        }
        if !text.contains('\u{FFFD}') {
            return text.into_bytes();
        }
        // Byte-level BPE: each char of the piece stands for one byte.
        let table = byte_level_table();
        piece
            .chars()
            .map(|c| table.iter().position(|&t| t == c).map(|b| b as u8))
            .collect::<Option<Vec<u8>>>()
            .unwrap_or_else(|| text.into_bytes())
    }

    /// The string of a token id, as stored in the vocabulary (e.g. `Ġhello`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// All ids that end generation: union of config.json, generation_config.json and
    /// tokenizer_config's eos_token.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_token_ids
    }

    /// The default chat template, if the model has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.templates.get(DEFAULT_TEMPLATE)
    }

    /// A named chat template, e.g. `"tool_use"` (`"default"` is the default one).
    pub fn chat_template_named(&self, name: &str) -> Option<&ChatTemplate> {
        self.templates.get(name)
    }

    /// Replaces every chat template the model came with by `source` (the
    /// `--chat-template` flag): it is then used for every request, with or
    /// without tools, as vLLM does. On a compile error nothing is replaced.
    pub fn replace_chat_template(&mut self, source: &str) -> Result<(), TemplateError> {
        let template = ChatTemplate::new(source, self.bos_token.clone(), self.eos_token.clone())?;
        self.templates.clear();
        self.templates.insert(DEFAULT_TEMPLATE.into(), template);
        Ok(())
    }

    /// The template transformers would pick: `tool_use` when tools are given and the
    /// model has one, else the default.
    pub fn chat_template_for(&self, has_tools: bool) -> Option<&ChatTemplate> {
        if has_tools {
            if let Some(t) = self.chat_template_named("tool_use") {
                return Some(t);
            }
        }
        self.chat_template()
    }

    /// The BOS token string.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// The EOS token string.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// GPT-2's byte-to-char table used by byte-level BPE vocabularies: byte `b`
/// is written as `table[b]` in token strings (printable bytes as themselves,
/// the others shifted past U+0100).
pub fn byte_level_table() -> &'static [char; 256] {
    static TABLE: std::sync::OnceLock<[char; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut out = [' '; 256];
        let mut shifted = 0u32;
        for b in 0..256u32 {
            let printable = (0x21..=0x7E).contains(&b)
                || (0xA1..=0xAC).contains(&b)
                || (0xAE..=0xFF).contains(&b);
            let c = if printable {
                b
            } else {
                shifted += 1;
                255 + shifted
            };
            // Every value here is below U+0200: always a valid char.
            out[b as usize] = char::from_u32(c).unwrap_or(' ');
        }
        out
    })
}

#[cfg(test)]
pub(crate) mod test_tokenizers {
    //! Small tokenizers built in code for tests.

    /// GPT-2's byte to printable-char mapping used by byte-level BPE vocabularies
    /// (written out independently of [`super::byte_level_table`], which a test
    /// checks against it).
    pub fn byte_chars() -> Vec<char> {
        let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
            .chain(0xA1..=0xAC)
            .chain(0xAE..=0xFF)
            .collect();
        let mut cs = bs.clone();
        let mut n = 0;
        for b in 0..256u32 {
            if !bs.contains(&b) {
                bs.push(b);
                cs.push(256 + n);
                n += 1;
            }
        }
        let mut out = vec![' '; 256];
        for (b, c) in bs.iter().zip(cs) {
            out[*b as usize] = char::from_u32(c).unwrap();
        }
        out
    }

    fn byte_level_str(s: &str) -> String {
        let map = byte_chars();
        s.bytes().map(|b| map[b as usize]).collect()
    }

    /// A byte-level BPE tokenizer (GPT-2 style): all 256 bytes, a few merges (including
    /// ones that split multi-byte chars), and the special tokens `<s>` and `</s>`.
    pub fn byte_level_json() -> String {
        let map = byte_chars();
        let mut vocab = serde_json::Map::new();
        for c in &map {
            let n = vocab.len();
            vocab.insert(c.to_string(), n.into());
        }
        // Merges: "Ġh"+"e"... and the first two bytes of "你" and of "🦀".
        let words = ["Ġhello", "Ġworld", "你", "🦀", "hi"];
        let mut merges = Vec::new();
        for w in words {
            let chars: Vec<String> = if w.starts_with('Ġ') {
                let mut v = vec!["Ġ".to_string()];
                v.extend(
                    byte_level_str(&w['Ġ'.len_utf8()..])
                        .chars()
                        .map(|c| c.to_string()),
                );
                v
            } else {
                byte_level_str(w).chars().map(|c| c.to_string()).collect()
            };
            // Only merge pairs left to right up to 2 symbols for the multi-byte chars,
            // so that `你` (3 bytes) becomes two tokens: 2 bytes + 1 byte.
            let limit = if w.is_ascii() || w.starts_with('Ġ') {
                chars.len()
            } else {
                2
            };
            let mut cur = chars[0].clone();
            for c in chars.iter().take(limit).skip(1) {
                merges.push(format!("{cur} {c}"));
                cur = format!("{cur}{c}");
                if !vocab.contains_key(&cur) {
                    let n = vocab.len();
                    vocab.insert(cur.clone(), n.into());
                }
            }
        }
        let n = vocab.len();
        serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [
                {"id": n, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": n + 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
            ],
            "normalizer": null,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [n], "tokens": ["<s>"]}}
            },
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": false, "vocab": vocab, "merges": merges}
        })
        .to_string()
    }

    /// A SentencePiece-style tokenizer (Llama 2 style): Metaspace `▁`, byte fallback
    /// `<0xNN>` tokens for characters outside the vocabulary.
    pub fn sentencepiece_json() -> String {
        let mut vocab: Vec<(String, f64)> = vec![
            ("<unk>".into(), 0.0),
            ("<s>".into(), 0.0),
            ("</s>".into(), 0.0),
        ];
        for b in 0..256 {
            vocab.push((format!("<0x{b:02X}>"), 0.0));
        }
        for (i, p) in [
            "▁", "▁Hello", "▁world", "Hello", "!", "▁the", "a", "b", "c", "▁a", "é", "中",
        ]
        .iter()
        .enumerate()
        {
            vocab.push(((*p).into(), -(i as f64) - 1.0));
        }
        serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [
                {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
            ],
            "normalizer": null,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false},
            "post_processor": null,
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}
            ]},
            "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": true}
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weir-tok-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn token_bytes_are_raw_even_inside_a_character() {
        assert_eq!(byte_level_table().to_vec(), test_tokenizers::byte_chars());
        for json in [
            test_tokenizers::byte_level_json(),
            test_tokenizers::sentencepiece_json(),
        ] {
            let tok = Tokenizer::from_tokenizers(tokenizers::Tokenizer::from_str(&json).unwrap());
            let text = "naïve 日本 café";
            let ids = tok.encode(text, false).unwrap();
            let partial = ids
                .iter()
                .filter(|&&id| tok.decode(&[id], false).unwrap().contains('\u{FFFD}'))
                .count();
            assert!(partial > 0, "the test text must split a character");
            let bytes: Vec<u8> = ids.iter().flat_map(|&id| tok.token_bytes(id)).collect();
            let decoded = tok.decode(&ids, false).unwrap();
            // SentencePiece's decode drops the first token's leading space.
            assert_eq!(
                String::from_utf8(bytes).unwrap().trim_start(),
                decoded.trim_start(),
                "{ids:?}"
            );
        }
    }

    #[test]
    fn missing_tokenizer_json_names_the_file() {
        let dir = temp_dir("missing");
        let err = Tokenizer::from_dir(&dir).unwrap_err().to_string();
        assert!(err.starts_with("tokenizer.json in "), "{err}");
        assert!(err.contains(&dir.display().to_string()));
    }

    #[test]
    fn loads_a_model_directory() {
        let dir = temp_dir("full");
        std::fs::write(
            dir.join("tokenizer.json"),
            test_tokenizers::byte_level_json(),
        )
        .unwrap();
        std::fs::write(
            dir.join("tokenizer_config.json"),
            r#"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                "chat_template": [{"name": "default", "template": "old"}, {"name": "tool_use", "template": "{{ bos_token }}tools"}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("chat_template.jinja"),
            "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}",
        )
        .unwrap();
        std::fs::write(dir.join("config.json"), r#"{"eos_token_id": [7, 8]}"#).unwrap();
        std::fs::write(
            dir.join("generation_config.json"),
            r#"{"eos_token_id": 8, "bos_token_id": 1}"#,
        )
        .unwrap();
        let tok = Tokenizer::from_dir(&dir).unwrap();
        let eos_id = tok.token_to_id("</s>").unwrap();
        assert_eq!(tok.eos_token_ids(), &[8, 7, eos_id]);
        assert_eq!(tok.bos_token(), Some("<s>"));
        assert_eq!(tok.eos_token(), Some("</s>"));
        assert_eq!(tok.vocab_size(), eos_id as usize + 1);
        let msgs = serde_json::json!([{"role": "user", "content": "hi"}]);
        let map = serde_json::Map::new();
        let out = tok
            .chat_template()
            .unwrap()
            .render(&msgs, None, false, &map)
            .unwrap();
        assert_eq!(out, "<s>hi</s>");
        let tools = tok
            .chat_template_for(true)
            .unwrap()
            .render(&msgs, None, false, &map)
            .unwrap();
        assert_eq!(tools, "<s>tools");
        let ids = tok.encode_chat_prompt(&out).unwrap();
        assert_eq!(ids.first(), tok.token_to_id("<s>").as_ref());
        assert_eq!(tok.decode(&ids, false).unwrap(), "<s>hi</s>");
        assert_eq!(tok.decode(&ids, true).unwrap(), "hi");
    }

    #[test]
    fn bad_template_names_file_and_template() {
        let dir = temp_dir("badtpl");
        std::fs::write(
            dir.join("tokenizer.json"),
            test_tokenizers::byte_level_json(),
        )
        .unwrap();
        std::fs::write(
            dir.join("tokenizer_config.json"),
            r#"{"chat_template": "{% if %}"}"#,
        )
        .unwrap();
        let err = Tokenizer::from_dir(&dir).unwrap_err().to_string();
        assert!(err.starts_with("tokenizer_config.json in "), "{err}");
    }

    #[test]
    fn a_replaced_chat_template_serves_every_request() {
        let dir = temp_dir("replace");
        std::fs::write(
            dir.join("tokenizer.json"),
            test_tokenizers::byte_level_json(),
        )
        .unwrap();
        std::fs::write(
            dir.join("tokenizer_config.json"),
            r#"{"bos_token": "<s>", "chat_template": [{"name": "default", "template": "old"}, {"name": "tool_use", "template": "old tools"}]}"#,
        )
        .unwrap();
        let mut tok = Tokenizer::from_dir(&dir).unwrap();
        let source = "{{ bos_token }}[CUSTOM]{% for m in messages %}{{ m.content }}{% endfor %}";
        tok.replace_chat_template(source).unwrap();
        let msgs = serde_json::json!([{"role": "user", "content": "hi"}]);
        let map = serde_json::Map::new();
        for has_tools in [false, true] {
            let template = tok.chat_template_for(has_tools).unwrap();
            assert_eq!(template.source(), source);
            assert_eq!(
                template.render(&msgs, None, false, &map).unwrap(),
                "<s>[CUSTOM]hi"
            );
        }
        assert!(tok.chat_template_named("tool_use").is_none());

        // A template that does not compile leaves the current one in place.
        assert!(tok.replace_chat_template("{% if %}").is_err());
        assert_eq!(tok.chat_template().unwrap().source(), source);
    }

    #[test]
    fn add_special_tokens_adds_bos() {
        let inner = tokenizers::Tokenizer::from_str(&test_tokenizers::byte_level_json()).unwrap();
        let tok = Tokenizer::from_tokenizers(inner);
        let bos = tok.token_to_id("<s>").unwrap();
        let with = tok.encode("hello", true).unwrap();
        let without = tok.encode("hello", false).unwrap();
        assert_eq!(with[0], bos);
        assert_eq!(&with[1..], &without[..]);
    }
}
