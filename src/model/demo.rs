//! The built-in demo model: a small Qwen2-architecture network whose weights
//! are generated deterministically on first start and written to a cache
//! directory as an ordinary Hugging Face model directory (config.json,
//! model.safetensors, tokenizer files). Its text is meaningless; everything
//! else about it — loading, tokenizer, chat template, arithmetic, KV cache —
//! is the real path a downloaded checkpoint takes.
//!
//! [`write_random_qwen2`] also makes larger random models of any shape for
//! benchmarks (e.g. the Qwen2-0.5B shape) with the same code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use half::bf16;
use safetensors::tensor::{Dtype, TensorView};
use serde_json::json;

use super::ModelError;

/// The name the demo model is served under.
pub const DEMO_MODEL_NAME: &str = "weir-demo";

/// Bump when the demo's shape or generator changes, so caches regenerate.
const DEMO_VERSION: u32 = 1;

/// The byte-level BPE tokenizer shipped with weir (ChatML special tokens).
pub const TOKENIZER_JSON: &str = include_str!("../../assets/tokenizer/tokenizer.json");

/// A ChatML template with tools, in the style of Qwen2.5's.
pub const CHAT_TEMPLATE: &str = include_str!("../../assets/demo/chat_template.jinja");

/// Shape of a random Qwen2 model.
#[derive(Clone, Debug)]
pub struct Qwen2Shape {
    /// Residual width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Vocabulary rows (at least the tokenizer's size).
    pub vocab_size: usize,
    /// Context window.
    pub max_position_embeddings: usize,
    /// Share the embedding with the output projection.
    pub tie_word_embeddings: bool,
}

impl Qwen2Shape {
    /// The demo: about 8M parameters, 32k context.
    pub fn demo() -> Self {
        Self {
            hidden_size: 256,
            intermediate_size: 704,
            num_layers: 4,
            num_heads: 8,
            num_kv_heads: 2,
            vocab_size: 16384,
            max_position_embeddings: 32768,
            tie_word_embeddings: true,
        }
    }

    /// Llama-3.2-1B's matrix shapes (hidden 2048, 16 layers, 32 / 8 heads,
    /// MLP 8192, vocabulary 128256 tied; about 1.24B parameters) in the
    /// Qwen2 layout: every width a multiple of 256, so `--quantize q4_k`
    /// quantizes every matrix to Q4_K (benchmarks).
    pub fn llama_3_2_1b() -> Self {
        Self {
            hidden_size: 2048,
            intermediate_size: 8192,
            num_layers: 16,
            num_heads: 32,
            num_kv_heads: 8,
            vocab_size: 128256,
            max_position_embeddings: 32768,
            tie_word_embeddings: true,
        }
    }

    /// Qwen2-0.5B's shape (for benchmarks; about 494M parameters).
    pub fn qwen2_0_5b() -> Self {
        Self {
            hidden_size: 896,
            intermediate_size: 4864,
            num_layers: 24,
            num_heads: 14,
            num_kv_heads: 2,
            vocab_size: 151936,
            max_position_embeddings: 32768,
            tie_word_embeddings: true,
        }
    }
}

/// Where the demo model lives under `cache_dir`; generated there on first use.
pub fn ensure_demo_model(cache_dir: &Path) -> Result<PathBuf, ModelError> {
    let dir = cache_dir.join(format!("demo-v{DEMO_VERSION}"));
    if dir.join("model.safetensors").exists() && dir.join("config.json").exists() {
        return Ok(dir);
    }
    tracing::info!(dir = %dir.display(), "generating the built-in demo model (first start)");
    // Write into a temporary sibling and rename, so a crash never leaves a
    // half-written model that a later start would trust.
    let tmp = cache_dir.join(format!("demo-v{DEMO_VERSION}.tmp-{}", std::process::id()));
    write_random_qwen2(&tmp, &Qwen2Shape::demo(), 0x5eed_0001)?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process won the race: use its copy.
        Err(_) if dir.join("model.safetensors").exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(ModelError::Io {
            path: dir,
            source: e,
        }),
    }
}

/// splitmix64: a tiny, well-mixed deterministic generator.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (-1, 1) times `scale`: cheap, and enough for random weights.
    fn weight(&mut self, scale: f32) -> bf16 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        bf16::from_f32((2.0 * u - 1.0) * scale)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ModelError + '_ {
    move |e| ModelError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Write a random bf16 Qwen2 model with the shipped tokenizer into `dir`.
pub fn write_random_qwen2(dir: &Path, shape: &Qwen2Shape, seed: u64) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let s = shape;
    let head_dim = s.hidden_size / s.num_heads;
    let q_dim = s.num_heads * head_dim;
    let kv_dim = s.num_kv_heads * head_dim;
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut rng = SplitMix(seed);
    // Uniform(-a, a) has std a/sqrt(3); a = 0.035 gives std ~0.02 (HF's default init).
    let mut mat = |name: String, rows: usize, cols: usize, rng: &mut SplitMix| {
        let mut bytes = Vec::with_capacity(rows * cols * 2);
        for _ in 0..rows * cols {
            bytes.extend_from_slice(&rng.weight(0.035).to_bits().to_le_bytes());
        }
        tensors.push((name, vec![rows, cols], bytes));
    };
    mat(
        "model.embed_tokens.weight".into(),
        s.vocab_size,
        s.hidden_size,
        &mut rng,
    );
    let mut vectors: Vec<(String, usize, f32)> =
        vec![("model.norm.weight".into(), s.hidden_size, 1.0)];
    for i in 0..s.num_layers {
        let p = format!("model.layers.{i}");
        mat(
            format!("{p}.self_attn.q_proj.weight"),
            q_dim,
            s.hidden_size,
            &mut rng,
        );
        mat(
            format!("{p}.self_attn.k_proj.weight"),
            kv_dim,
            s.hidden_size,
            &mut rng,
        );
        mat(
            format!("{p}.self_attn.v_proj.weight"),
            kv_dim,
            s.hidden_size,
            &mut rng,
        );
        mat(
            format!("{p}.self_attn.o_proj.weight"),
            s.hidden_size,
            q_dim,
            &mut rng,
        );
        mat(
            format!("{p}.mlp.gate_proj.weight"),
            s.intermediate_size,
            s.hidden_size,
            &mut rng,
        );
        mat(
            format!("{p}.mlp.up_proj.weight"),
            s.intermediate_size,
            s.hidden_size,
            &mut rng,
        );
        mat(
            format!("{p}.mlp.down_proj.weight"),
            s.hidden_size,
            s.intermediate_size,
            &mut rng,
        );
        vectors.push((format!("{p}.self_attn.q_proj.bias"), q_dim, 0.0));
        vectors.push((format!("{p}.self_attn.k_proj.bias"), kv_dim, 0.0));
        vectors.push((format!("{p}.self_attn.v_proj.bias"), kv_dim, 0.0));
        vectors.push((format!("{p}.input_layernorm.weight"), s.hidden_size, 1.0));
        vectors.push((
            format!("{p}.post_attention_layernorm.weight"),
            s.hidden_size,
            1.0,
        ));
    }
    if !s.tie_word_embeddings {
        mat(
            "lm_head.weight".into(),
            s.vocab_size,
            s.hidden_size,
            &mut rng,
        );
    }
    for (name, len, value) in vectors {
        let bytes = (0..len)
            .flat_map(|_| bf16::from_f32(value).to_bits().to_le_bytes())
            .collect();
        tensors.push((name, vec![len], bytes));
    }
    let views: HashMap<String, TensorView<'_>> = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(Dtype::BF16, shape.clone(), bytes).map_err(|e| {
                ModelError::BadTensor {
                    name: name.clone(),
                    path: dir.to_path_buf(),
                    msg: e.to_string(),
                }
            })?;
            Ok((name.clone(), view))
        })
        .collect::<Result<_, ModelError>>()?;
    let weights = dir.join("model.safetensors");
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::tensor::serialize_to_file(views, Some(meta), &weights).map_err(|e| {
        ModelError::Config {
            path: weights.clone(),
            msg: format!("cannot write: {e}"),
        }
    })?;

    let tok: serde_json::Value =
        serde_json::from_str(TOKENIZER_JSON).map_err(|e| ModelError::Config {
            path: dir.join("tokenizer.json"),
            msg: format!("the shipped tokenizer is not valid JSON: {e}"),
        })?;
    let id_of = |content: &str| {
        tok["added_tokens"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["content"] == content))
            .and_then(|t| t["id"].as_u64())
    };
    let im_end = id_of("<|im_end|>");
    let eot = id_of("<|endoftext|>");
    let config = json!({
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": s.hidden_size,
        "intermediate_size": s.intermediate_size,
        "num_hidden_layers": s.num_layers,
        "num_attention_heads": s.num_heads,
        "num_key_value_heads": s.num_kv_heads,
        "hidden_act": "silu",
        "max_position_embeddings": s.max_position_embeddings,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": s.tie_word_embeddings,
        "torch_dtype": "bfloat16",
        "use_sliding_window": false,
        "vocab_size": s.vocab_size,
        "bos_token_id": eot,
        "eos_token_id": im_end,
    });
    let generation = json!({
        "bos_token_id": eot,
        "eos_token_id": [im_end, eot],
        "do_sample": true,
        "temperature": 0.7,
        "top_p": 0.8,
    });
    let tokenizer_config = json!({
        "bos_token": null,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": s.max_position_embeddings,
        "tokenizer_class": "Qwen2Tokenizer",
        "chat_template": CHAT_TEMPLATE,
    });
    let write_json = |name: &str, v: &serde_json::Value| {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(v).map_err(|e| ModelError::Config {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(io(&path))
    };
    write_json("config.json", &config)?;
    write_json("generation_config.json", &generation)?;
    write_json("tokenizer_config.json", &tokenizer_config)?;
    let tok_path = dir.join("tokenizer.json");
    std::fs::write(&tok_path, TOKENIZER_JSON).map_err(io(&tok_path))?;
    Ok(())
}
