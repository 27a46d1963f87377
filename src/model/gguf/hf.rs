//! A GGUF file seen as a Hugging Face checkpoint: its metadata as a
//! `config.json` value (so one parser validates both), and its tensors
//! under the Hugging Face names the decoder asks for.
//!
//! llama.cpp's converter (`convert_hf_to_gguf.py`) renames every tensor
//! (`model.layers.3.self_attn.q_proj.weight` -> `blk.3.attn_q.weight`) and,
//! for the `llama` architecture only, permutes the rows of `q_proj` and
//! `k_proj` within each head so that ggml can rotate interleaved pairs:
//! GGUF row `2j + half` of a head is Hugging Face row `half * d/2 + j`.
//! Rows are whole quantization blocks, so undoing it is a row gather that
//! works for every tensor type.

use serde_json::{json, Map, Value as Json};

use super::{GgufFile, Value};
use crate::backend::HostMatrix;
use crate::model::weights::WeightSource;
use crate::model::ModelError;

/// The `config.json` a Hugging Face checkpoint of this file would have;
/// the error names the metadata key.
pub fn config_json(g: &GgufFile) -> Result<Json, String> {
    let arch = g
        .get("general.architecture")
        .and_then(Value::as_str)
        .ok_or("missing `general.architecture`")?;
    let class = match arch {
        "llama" => "LlamaForCausalLM",
        "qwen2" => "Qwen2ForCausalLM",
        "qwen3" => "Qwen3ForCausalLM",
        other => {
            return Err(format!(
                "`general.architecture` is `{other}` (llama, qwen2 and qwen3 are served)"
            ))
        }
    };
    let key = |k: &str| format!("{arch}.{k}");
    let uint = |k: &str| g.get(&key(k)).and_then(Value::as_u64);
    let need = |k: &str| uint(k).ok_or_else(|| format!("missing or invalid `{}`", key(k)));
    let heads = need("attention.head_count")?;
    let hidden = need("embedding_length")?;
    let vocab = match uint("vocab_size") {
        Some(v) => v,
        None => match g.get("tokenizer.ggml.tokens").and_then(Value::as_array) {
            Some(t) => t.len() as u64,
            None => g
                .tensor("token_embd.weight")
                .and_then(|t| t.dims.get(1).copied())
                .ok_or("no vocabulary size: neither a `vocab_size` key, tokens nor token_embd")?
                as u64,
        },
    };
    let mut c = Map::new();
    c.insert("architectures".into(), json!([class]));
    c.insert("hidden_size".into(), json!(hidden));
    c.insert(
        "intermediate_size".into(),
        json!(need("feed_forward_length")?),
    );
    c.insert("num_hidden_layers".into(), json!(need("block_count")?));
    c.insert("num_attention_heads".into(), json!(heads));
    c.insert(
        "num_key_value_heads".into(),
        json!(uint("attention.head_count_kv").unwrap_or(heads)),
    );
    if let Some(d) = uint("attention.key_length") {
        c.insert("head_dim".into(), json!(d));
    }
    c.insert("vocab_size".into(), json!(vocab));
    if let Some(eps) = g
        .get(&key("attention.layer_norm_rms_epsilon"))
        .and_then(Value::as_f64)
    {
        c.insert("rms_norm_eps".into(), json!(eps));
    }
    if let Some(n) = uint("context_length") {
        c.insert("max_position_embeddings".into(), json!(n));
    }
    let theta = g
        .get(&key("rope.freq_base"))
        .and_then(Value::as_f64)
        .unwrap_or(10000.0);
    c.insert("rope_theta".into(), json!(theta));
    // A `rope_freqs.weight` tensor (Llama 3.1's scaling as divisors) is
    // read by `Config::from_path`: it is data, not metadata.
    match g.get(&key("rope.scaling.type")).and_then(Value::as_str) {
        None | Some("none") => {}
        Some(ty @ ("linear" | "yarn")) => {
            let factor = g
                .get(&key("rope.scaling.factor"))
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("missing `{}`", key("rope.scaling.factor")))?;
            let mut s = json!({"rope_type": ty, "factor": factor});
            if let Some(orig) = uint("rope.scaling.original_context_length") {
                s["original_max_position_embeddings"] = json!(orig);
            }
            // YaRN's optional parameters, as the converter copies them.
            for (gguf_key, hf_key) in [
                ("rope.scaling.yarn_attn_factor", "attention_factor"),
                ("rope.scaling.yarn_beta_fast", "beta_fast"),
                ("rope.scaling.yarn_beta_slow", "beta_slow"),
            ] {
                if let Some(v) = g.get(&key(gguf_key)).and_then(Value::as_f64) {
                    s[hf_key] = json!(v);
                }
            }
            c.insert("rope_scaling".into(), s);
        }
        Some(other) => {
            return Err(format!(
                "`{}` is `{other}` (linear, yarn)",
                key("rope.scaling.type")
            ))
        }
    }
    let bias = g.tensor("blk.0.attn_q.bias").is_some();
    if arch == "llama" {
        c.insert("attention_bias".into(), json!(bias));
    }
    c.insert(
        "tie_word_embeddings".into(),
        json!(g.tensor("output.weight").is_none()),
    );
    if let Some(id) = g.get("tokenizer.ggml.bos_token_id").and_then(Value::as_u64) {
        c.insert("bos_token_id".into(), json!(id));
    }
    if let Some(id) = g.get("tokenizer.ggml.eos_token_id").and_then(Value::as_u64) {
        c.insert("eos_token_id".into(), json!(id));
    }
    Ok(Json::Object(c))
}

/// The GGUF name of a Hugging Face tensor name, if it has one.
pub fn gguf_name(hf: &str) -> Option<String> {
    let fixed = match hf {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (stem, suffix) = rest.rsplit_once('.')?;
    let part = match stem {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{part}.{suffix}"))
}

/// The permutation that undoes llama.cpp's q/k row order: Hugging Face row
/// `h * d + half * d/2 + j` is GGUF row `h * d + 2j + half`.
fn unpermute_rows(rows: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..rows)
        .map(|r| {
            let (h, i) = (r / head_dim, r % head_dim);
            let (which, j) = (i / half, i % half);
            h * head_dim + 2 * j + which
        })
        .collect()
}

/// A GGUF file's tensors under Hugging Face names.
pub struct GgufWeights<'a> {
    file: &'a GgufFile,
    /// `llama`: q/k rows to un-permute, with the head width.
    permuted_head_dim: Option<usize>,
}

impl<'a> GgufWeights<'a> {
    /// Reads `file`; `head_dim` is the model's (for llama's q/k rows).
    pub fn new(file: &'a GgufFile, head_dim: usize) -> Self {
        let llama = file.get("general.architecture").and_then(Value::as_str) == Some("llama");
        GgufWeights {
            file,
            permuted_head_dim: llama.then_some(head_dim),
        }
    }

    fn name(&self, hf: &str) -> Result<String, ModelError> {
        gguf_name(hf).ok_or_else(|| ModelError::MissingTensor {
            name: hf.to_string(),
            files: self.file.path().display().to_string(),
        })
    }

    fn permuted(&self, hf: &str) -> Option<usize> {
        let qk = hf.contains("self_attn.q_proj.") || hf.contains("self_attn.k_proj.");
        self.permuted_head_dim.filter(|_| qk)
    }
}

impl WeightSource for GgufWeights<'_> {
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<HostMatrix, ModelError> {
        let m = self.file.matrix(&self.name(name)?, rows, cols)?;
        Ok(match self.permuted(name) {
            Some(d) => m.gather_rows(&unpermute_rows(rows, d)),
            None => m,
        })
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let v = self.file.vector(&self.name(name)?, len)?;
        Ok(match self.permuted(name) {
            Some(d) => unpermute_rows(len, d).into_iter().map(|i| v[i]).collect(),
            None => v,
        })
    }

    fn contains(&self, name: &str) -> bool {
        gguf_name(name).is_some_and(|n| self.file.tensor(&n).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_as_llama_cpp_converts_them() {
        for (hf, gg) in [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("lm_head.weight", "output.weight"),
            (
                "model.layers.11.self_attn.q_proj.bias",
                "blk.11.attn_q.bias",
            ),
            (
                "model.layers.0.self_attn.k_norm.weight",
                "blk.0.attn_k_norm.weight",
            ),
            (
                "model.layers.3.mlp.down_proj.weight",
                "blk.3.ffn_down.weight",
            ),
            (
                "model.layers.2.post_attention_layernorm.weight",
                "blk.2.ffn_norm.weight",
            ),
        ] {
            assert_eq!(gguf_name(hf).as_deref(), Some(gg));
        }
        assert_eq!(gguf_name("model.layers.x.mlp.up_proj.weight"), None);
    }

    /// The inverse of llama.cpp's `LlamaModel.permute` (reshape to
    /// `(heads, 2, d/2)`, swap the last two axes), written out for d = 4.
    #[test]
    fn unpermute_inverts_the_converters_permutation() {
        // llama.cpp puts HF rows [0, 2, 1, 3] of each 4-row head at GGUF rows 0..4.
        let gguf_of_hf = unpermute_rows(8, 4);
        assert_eq!(gguf_of_hf, [0, 2, 1, 3, 4, 6, 5, 7]);
        // For d = 8: HF row 1 (first half, j = 1) is GGUF row 2; HF row 4
        // (second half, j = 0) is GGUF row 1.
        let p = unpermute_rows(8, 8);
        assert_eq!((p[1], p[4]), (2, 1));
    }
}
