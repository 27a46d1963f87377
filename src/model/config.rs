//! `config.json` of a Hugging Face checkpoint, read into the one shape the
//! decoder needs. Both rope forms are accepted: the older top-level
//! `rope_theta` + `rope_scaling`, and the newer `rope_parameters` dict.

use std::path::Path;

use serde_json::Value;

use super::ModelError;

/// The model families the decoder covers (all Llama-shaped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// `LlamaForCausalLM`.
    Llama,
    /// `MistralForCausalLM` (Llama with an optional sliding window).
    Mistral,
    /// `Qwen2ForCausalLM` (bias on q/k/v).
    Qwen2,
    /// `Qwen3ForCausalLM` (RMSNorm on q and k per head).
    Qwen3,
}

impl Architecture {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "LlamaForCausalLM" => Self::Llama,
            "MistralForCausalLM" => Self::Mistral,
            "Qwen2ForCausalLM" => Self::Qwen2,
            "Qwen3ForCausalLM" => Self::Qwen3,
            _ => return None,
        })
    }
}

/// How rotary frequencies are scaled for long contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        /// Divisor of every frequency.
        factor: f64,
    },
    /// Llama 3.1's smooth per-wavelength interpolation.
    Llama3 {
        /// Scale for low frequencies.
        factor: f64,
        /// Wavelength bound (in `original_max / low_freq_factor`).
        low_freq_factor: f64,
        /// Wavelength bound (in `original_max / high_freq_factor`).
        high_freq_factor: f64,
        /// Pre-training context length.
        original_max_position_embeddings: f64,
    },
    /// One divisor per frequency (`head_dim / 2` of them): a GGUF file's
    /// `rope_freqs` tensor, llama.cpp's form of Llama 3.1's scaling (its
    /// converter computes the divisors from the `llama3` parameters).
    FreqFactors(Vec<f32>),
    /// YaRN: NTK-by-parts interpolation plus an attention temperature.
    Yarn {
        /// Context extension factor.
        factor: f64,
        /// Pre-training context length.
        original_max_position_embeddings: f64,
        /// Extrapolation bound (rotations), default 32.
        beta_fast: f64,
        /// Interpolation bound (rotations), default 1.
        beta_slow: f64,
        /// Scale applied to cos/sin (derived from `factor` when absent).
        attention_factor: Option<f64>,
        /// DeepSeek-style mscale numerator.
        mscale: Option<f64>,
        /// DeepSeek-style mscale denominator.
        mscale_all_dim: Option<f64>,
        /// Round the correction range to whole dims (default true).
        truncate: bool,
    },
}

/// How a checkpoint stores its weights (config.json's `dtype` /
/// `torch_dtype`, or a GGUF file's tensor type): what `--kv-cache-dtype
/// auto` follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredDtype {
    /// `float32`.
    F32,
    /// `float16`.
    F16,
    /// `bfloat16`.
    Bf16,
    /// Block-quantized (a GGUF Q8_0 / Q4_K_M file).
    Quantized,
    /// Not said.
    Unknown,
}

impl StoredDtype {
    /// The dtype a config.json names.
    pub fn from_config_name(name: &str) -> Self {
        match name {
            "float32" | "float" => StoredDtype::F32,
            "float16" | "half" => StoredDtype::F16,
            "bfloat16" => StoredDtype::Bf16,
            _ => StoredDtype::Unknown,
        }
    }
}

/// Everything about the network's shape the decoder needs.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Family.
    pub architecture: Architecture,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (GQA when fewer than `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Rows of the embedding table.
    pub vocab_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// Longest context the weights were trained for.
    pub max_position_embeddings: usize,
    /// The output projection is the embedding table.
    pub tie_word_embeddings: bool,
    /// Bias on q/k/v projections (Qwen2; Llama's `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (Llama's `attention_bias`).
    pub o_bias: bool,
    /// RMSNorm on q and k per head (Qwen3).
    pub qk_norm: bool,
    /// Attend only to the last `w` positions (Mistral).
    pub sliding_window: Option<usize>,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// `bos_token_id` from config.json.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id` from config.json (int or list).
    pub eos_token_ids: Vec<u32>,
    /// How the weights are stored.
    pub stored_dtype: StoredDtype,
}

fn get_usize(v: &Value, key: &str) -> Option<usize> {
    v.get(key).and_then(Value::as_u64).map(|x| x as usize)
}

fn get_f64(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Token ids given as an int or a list of ints.
pub(crate) fn id_list(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|x| x as u32)
            .collect(),
        _ => vec![],
    }
}

impl ModelConfig {
    /// Read `dir/config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io {
            path: path.clone(),
            source: e,
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.clone(),
            msg: format!("not valid JSON: {e}"),
        })?;
        Self::from_json(&v).map_err(|msg| ModelError::Config { path, msg })
    }

    /// The configuration of a model path: `config.json` of a directory, or
    /// a GGUF file's metadata read as one (the error names the key).
    pub fn from_path(path: &Path) -> Result<Self, ModelError> {
        if !crate::model::gguf::is_gguf(path) {
            return Self::from_dir(path);
        }
        let g = crate::model::gguf::GgufFile::open(path)?;
        let bad = |msg: String| ModelError::Config {
            path: path.to_path_buf(),
            msg,
        };
        let v = crate::model::gguf::hf::config_json(&g).map_err(bad)?;
        let mut cfg = Self::from_json(&v).map_err(bad)?;
        // Llama 3.1 / 3.2 files: the converter stores the rope scaling as
        // one divisor per frequency instead of its parameters.
        if g.tensor("rope_freqs.weight").is_some() {
            let factors = g.vector("rope_freqs.weight", cfg.head_dim / 2)?;
            if let Some(bad_factor) = factors.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
                return Err(bad(format!(
                    "`rope_freqs.weight` holds {bad_factor}, not a positive frequency divisor"
                )));
            }
            cfg.rope_scaling = RopeScaling::FreqFactors(factors);
        }
        use crate::model::gguf::GgmlType;
        cfg.stored_dtype = match g.tensor("blk.0.attn_q.weight").map(|t| t.ty) {
            Some(GgmlType::F32) => StoredDtype::F32,
            Some(GgmlType::F16) => StoredDtype::F16,
            Some(GgmlType::Bf16) => StoredDtype::Bf16,
            Some(GgmlType::Quant(_)) => StoredDtype::Quantized,
            _ => StoredDtype::Unknown,
        };
        Ok(cfg)
    }

    /// Parse a config.json value; the error names the field.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let arch_name = v
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            .ok_or("missing `architectures`")?;
        let architecture = Architecture::parse(arch_name).ok_or_else(|| {
            format!(
                "unsupported architecture `{arch_name}` (supported: LlamaForCausalLM, \
                 MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)"
            )
        })?;
        let need = |k: &str| get_usize(v, k).ok_or_else(|| format!("missing or invalid `{k}`"));
        let hidden_size = need("hidden_size")?;
        let num_heads = need("num_attention_heads")?;
        let num_kv_heads = get_usize(v, "num_key_value_heads").unwrap_or(num_heads);
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(format!(
                "`num_attention_heads` ({num_heads}) must be a positive multiple of \
                 `num_key_value_heads` ({num_kv_heads})"
            ));
        }
        let head_dim = match v.get("head_dim") {
            Some(Value::Number(n)) => n.as_u64().ok_or("invalid `head_dim`")? as usize,
            _ => hidden_size / num_heads,
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(format!(
                "`head_dim` must be even and positive, got {head_dim}"
            ));
        }
        let attention_bias = v
            .get("attention_bias")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (qkv_bias, o_bias) = match architecture {
            Architecture::Qwen2 => (true, false),
            Architecture::Qwen3 | Architecture::Llama | Architecture::Mistral => {
                (attention_bias, attention_bias)
            }
        };
        if v.get("mlp_bias").and_then(Value::as_bool) == Some(true) {
            return Err("`mlp_bias: true` is not supported".into());
        }
        let sliding_window = match architecture {
            Architecture::Mistral => get_usize(v, "sliding_window"),
            Architecture::Qwen2 | Architecture::Qwen3 => {
                if v.get("use_sliding_window").and_then(Value::as_bool) == Some(true) {
                    return Err("`use_sliding_window: true` is not supported yet".into());
                }
                None
            }
            Architecture::Llama => None,
        };
        let max_position_embeddings = get_usize(v, "max_position_embeddings").unwrap_or(4096);
        let (rope_theta, rope_scaling) = parse_rope(v, max_position_embeddings)?;
        Ok(Self {
            architecture,
            hidden_size,
            intermediate_size: need("intermediate_size")?,
            num_layers: need("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size: need("vocab_size")?,
            rms_norm_eps: get_f64(v, "rms_norm_eps").unwrap_or(1e-6) as f32,
            max_position_embeddings,
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            qkv_bias,
            o_bias,
            qk_norm: architecture == Architecture::Qwen3,
            sliding_window,
            rope_theta,
            rope_scaling,
            bos_token_id: v
                .get("bos_token_id")
                .and_then(Value::as_u64)
                .map(|x| x as u32),
            eos_token_ids: id_list(v.get("eos_token_id")),
            stored_dtype: v
                .get("dtype")
                .or_else(|| v.get("torch_dtype"))
                .and_then(Value::as_str)
                .map_or(StoredDtype::Unknown, StoredDtype::from_config_name),
        })
    }

    /// Inverse frequencies (`head_dim / 2` of them) and the cos/sin scale,
    /// computed as transformers' `modeling_rope_utils` does.
    pub fn rope_inv_freq(&self) -> (Vec<f32>, f32) {
        let dim = self.head_dim;
        let base = self.rope_theta;
        let half = dim / 2;
        // pos_freqs[i] = base^(2i/dim); torch computes the exponent in f32.
        let exponent = |i: usize| ((2 * i) as f32 / dim as f32) as f64;
        let plain: Vec<f64> = (0..half).map(|i| 1.0 / base.powf(exponent(i))).collect();
        match &self.rope_scaling {
            RopeScaling::Default => (plain.iter().map(|&x| x as f32).collect(), 1.0),
            RopeScaling::Linear { factor } => {
                (plain.iter().map(|&x| (x / factor) as f32).collect(), 1.0)
            }
            // llama.cpp: theta = pos * base^(-2i/d) / factor[i].
            RopeScaling::FreqFactors(factors) => (
                plain
                    .iter()
                    .zip(factors)
                    .map(|(&x, &f)| (x / f as f64) as f32)
                    .collect(),
                1.0,
            ),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old_ctx,
            } => {
                let low_wavelen = old_ctx / low_freq_factor;
                let high_wavelen = old_ctx / high_freq_factor;
                let out = plain
                    .iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        let scaled = if wavelen > low_wavelen { f / factor } else { f };
                        // transformers: `~(wavelen < high) & ~(wavelen > low)`; wavelengths are finite.
                        let is_medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                        if is_medium {
                            let smooth = (old_ctx / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            ((1.0 - smooth) * scaled / factor + smooth * scaled) as f32
                        } else {
                            scaled as f32
                        }
                    })
                    .collect();
                (out, 1.0)
            }
            RopeScaling::Yarn {
                factor,
                original_max_position_embeddings,
                beta_fast,
                beta_slow,
                attention_factor,
                mscale,
                mscale_all_dim,
                truncate,
            } => {
                let get_mscale = |scale: f64, m: f64| {
                    if scale <= 1.0 {
                        1.0
                    } else {
                        0.1 * m * scale.ln() + 1.0
                    }
                };
                let attn = attention_factor.unwrap_or_else(|| match (mscale, mscale_all_dim) {
                    (Some(m), Some(ma)) if *m != 0.0 && *ma != 0.0 => {
                        get_mscale(*factor, *m) / get_mscale(*factor, *ma)
                    }
                    _ => get_mscale(*factor, 1.0),
                });
                let correction_dim = |rot: f64| {
                    (dim as f64
                        * (original_max_position_embeddings / (rot * 2.0 * std::f64::consts::PI))
                            .ln())
                        / (2.0 * base.ln())
                };
                let (mut low, mut high) = (correction_dim(*beta_fast), correction_dim(*beta_slow));
                if *truncate {
                    low = low.floor();
                    high = high.ceil();
                }
                let low = low.max(0.0);
                let high = high.min(dim as f64 - 1.0);
                let high = if low == high { high + 0.001 } else { high };
                let out = plain
                    .iter()
                    .enumerate()
                    .map(|(i, &extra)| {
                        let inter = extra / factor;
                        let ramp = ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
                        let extra_factor = 1.0 - ramp;
                        (inter * (1.0 - extra_factor) + extra * extra_factor) as f32
                    })
                    .collect();
                (out, attn as f32)
            }
        }
    }
}

/// Read `rope_parameters` (new form) or `rope_theta` + `rope_scaling` (old form).
fn parse_rope(v: &Value, max_pos: usize) -> Result<(f64, RopeScaling), String> {
    let params = v
        .get("rope_parameters")
        .filter(|p| p.is_object())
        .or_else(|| v.get("rope_scaling").filter(|p| p.is_object()));
    let theta = params
        .and_then(|p| get_f64(p, "rope_theta"))
        .or_else(|| get_f64(v, "rope_theta"))
        .unwrap_or(10000.0);
    let Some(p) = params else {
        return Ok((theta, RopeScaling::Default));
    };
    let kind = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let factor = || get_f64(p, "factor").ok_or_else(|| format!("rope `{kind}` needs `factor`"));
    let orig = get_f64(p, "original_max_position_embeddings")
        .or_else(|| get_f64(v, "original_max_position_embeddings"))
        .unwrap_or(max_pos as f64);
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "linear" => RopeScaling::Linear { factor: factor()? },
        "llama3" => RopeScaling::Llama3 {
            factor: factor()?,
            low_freq_factor: get_f64(p, "low_freq_factor")
                .ok_or("llama3 rope needs `low_freq_factor`")?,
            high_freq_factor: get_f64(p, "high_freq_factor")
                .ok_or("llama3 rope needs `high_freq_factor`")?,
            original_max_position_embeddings: orig,
        },
        "yarn" => RopeScaling::Yarn {
            factor: get_f64(p, "factor").unwrap_or(max_pos as f64 / orig),
            original_max_position_embeddings: orig,
            beta_fast: get_f64(p, "beta_fast")
                .filter(|x| *x != 0.0)
                .unwrap_or(32.0),
            beta_slow: get_f64(p, "beta_slow").filter(|x| *x != 0.0).unwrap_or(1.0),
            attention_factor: get_f64(p, "attention_factor"),
            mscale: get_f64(p, "mscale"),
            mscale_all_dim: get_f64(p, "mscale_all_dim"),
            truncate: p.get("truncate").and_then(Value::as_bool).unwrap_or(true),
        },
        other => {
            return Err(format!(
                "unsupported rope type `{other}` (supported: default, linear, llama3, yarn)"
            ))
        }
    };
    Ok((theta, scaling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
               "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
               "vocab_size": 100, "rope_theta": 10000.0})
    }

    #[test]
    fn old_and_new_rope_forms_agree() {
        let mut old = base();
        old["rope_scaling"] = json!({"type": "linear", "factor": 2.0});
        let mut new = base();
        new.as_object_mut().unwrap().remove("rope_theta");
        new["rope_parameters"] =
            json!({"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0});
        let a = ModelConfig::from_json(&old).unwrap();
        let b = ModelConfig::from_json(&new).unwrap();
        assert_eq!(a.rope_scaling, b.rope_scaling);
        assert_eq!(a.rope_theta, b.rope_theta);
        assert_eq!(a.rope_inv_freq(), b.rope_inv_freq());
        assert_eq!(a.head_dim, 16);
        assert!(a.qkv_bias && !a.o_bias);
    }

    #[test]
    fn unsupported_architecture_names_itself() {
        let mut v = base();
        v["architectures"] = json!(["GPT2LMHeadModel"]);
        let e = ModelConfig::from_json(&v).unwrap_err();
        assert!(e.contains("GPT2LMHeadModel"), "{e}");
    }

    #[test]
    fn default_inv_freq_matches_the_formula() {
        let c = ModelConfig::from_json(&base()).unwrap();
        let (f, s) = c.rope_inv_freq();
        assert_eq!(f.len(), 8);
        assert_eq!(f[0], 1.0);
        assert!((f[1] - 1.0 / 10000f32.powf(2.0 / 16.0)).abs() < 1e-7);
        assert_eq!(s, 1.0);
    }
}
