//! The Llama-family decoder, written once against [`Backend`].
//!
//! One step computes a flat batch: the new tokens of every scheduled
//! sequence, concatenated (decode tokens and prefill chunks alike), each
//! with its absolute position and KV slot. Per layer:
//!
//! ```text
//! h = rmsnorm(residual)                       (fused with the residual add)
//! q, k, v = h·Wqkvᵀ (+ bias: Qwen2)            one fused matmul
//! q, k = rmsnorm per head (Qwen3)
//! q, k = rope(q, k, position)                 NeoX halves layout
//! cache[slot] = k, v
//! a = softmax(q·Kᵀ/√d + causal) · V           paged, through block tables
//! residual += a·Woᵀ
//! h = rmsnorm(residual)
//! residual += down(silu(h·Wgateᵀ) ⊙ h·Wupᵀ)   gate and up fused
//! ```
//!
//! then a final norm and the output projection for the last token of each
//! sequence that samples.

use std::path::Path;

use super::config::{ModelConfig, StoredDtype};
use super::gguf::hf::GgufWeights;
use super::gguf::GgufFile;
use super::weights::{WeightSource, WeightStore};
use super::ModelError;
use crate::backend::{AttnSeqInfo, AttnShape, Backend, BackendError, HostMatrix, KvDtype};
use crate::quant::QuantFormat;
use crate::runner::{ForwardSeq, Logits, ModelRunner};

struct Layer<B: Backend> {
    input_norm: B::Vector,
    post_norm: B::Vector,
    qkv: B::Matrix,
    qkv_bias: Option<B::Vector>,
    o: B::Matrix,
    o_bias: Option<B::Vector>,
    q_norm: Option<B::Vector>,
    k_norm: Option<B::Vector>,
    gate_up: B::Matrix,
    down: B::Matrix,
    kv: B::KvLayer,
}

/// Activation buffers, kept across steps so a step allocates nothing (and
/// touches no fresh pages) unless it is larger than every step before it.
struct Workspace<B: Backend> {
    tokens: usize,
    residual: B::Buf,
    hbuf: B::Buf,
    qkv: B::Buf,
    q: B::Buf,
    k: B::Buf,
    v: B::Buf,
    tmp: B::Buf,
    tmp_k: B::Buf,
    attn_out: B::Buf,
    proj: B::Buf,
    gate_up: B::Buf,
    act: B::Buf,
    samples: usize,
    last: B::Buf,
    logits: B::Buf,
}

impl<B: Backend> Workspace<B> {
    fn new(b: &B, cfg: &ModelConfig, tokens: usize, samples: usize) -> Result<Self, BackendError> {
        let (h, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let q_dim = cfg.num_heads * cfg.head_dim;
        let kv_dim = cfg.num_kv_heads * cfg.head_dim;
        Ok(Self {
            tokens,
            residual: b.alloc(tokens * h)?,
            hbuf: b.alloc(tokens * h)?,
            qkv: b.alloc(tokens * (q_dim + 2 * kv_dim))?,
            q: b.alloc(tokens * q_dim)?,
            k: b.alloc(tokens * kv_dim)?,
            v: b.alloc(tokens * kv_dim)?,
            tmp: b.alloc(tokens * q_dim)?,
            tmp_k: b.alloc(tokens * kv_dim)?,
            attn_out: b.alloc(tokens * q_dim)?,
            proj: b.alloc(tokens * h)?,
            gate_up: b.alloc(tokens * 2 * inter)?,
            act: b.alloc(tokens * inter)?,
            samples,
            last: b.alloc(samples * h)?,
            logits: b.alloc(samples * cfg.vocab_size)?,
        })
    }
}

/// A loaded model with its KV cache, ready to run steps.
pub struct Decoder<B: Backend> {
    backend: B,
    cfg: ModelConfig,
    layers: Vec<Layer<B>>,
    embed: B::Matrix,
    lm_head: Option<B::Matrix>,
    final_norm: B::Vector,
    inv_freq: Vec<f32>,
    rope_scale: f32,
    block_size: usize,
    num_blocks: usize,
    ws: Option<Workspace<B>>,
}

/// Bytes of KV cache one block takes for this model (K and V of `dtype`,
/// all layers).
pub fn kv_bytes_per_block(cfg: &ModelConfig, block_size: usize, dtype: KvDtype) -> usize {
    2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * block_size * dtype.size()
}

/// How weights are prepared at load, and what the KV cache holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    /// Quantize every weight matrix to this format (`--quantize`); a
    /// matrix whose width the format's block does not divide falls back
    /// as [`QuantFormat::for_cols`] says.
    pub quantize: Option<QuantFormat>,
    /// The KV cache's element type (`--kv-cache-dtype`); `None` is `auto`
    /// ([`LoadOptions::kv_dtype`]).
    pub kv_cache_dtype: Option<KvDtype>,
}

impl LoadOptions {
    /// The KV cache's element type for a model: the flag's, else (`auto`)
    /// bf16 for quantized weights and f32 for float ones. Measured on the
    /// test models (tests/e2e/quantized.rs): with quantized weights a bf16
    /// cache moves the mean KL divergence from the f32 model by under 10%
    /// of what quantizing the weights costs; on float checkpoints the
    /// transformers parity tests see it (chosen-token logprobs move from
    /// within 5e-5 to within 0.1-0.18 on those hypersensitive models), so
    /// there it is a choice (`--kv-cache-dtype bf16`), not the default.
    pub fn kv_dtype(&self, cfg: &ModelConfig) -> KvDtype {
        if let Some(d) = self.kv_cache_dtype {
            return d;
        }
        if self.quantize.is_some() || cfg.stored_dtype == StoredDtype::Quantized {
            KvDtype::Bf16
        } else {
            KvDtype::F32
        }
    }
}

impl<B: Backend> Decoder<B> {
    /// Load weights from `dir` onto `backend` and allocate a KV cache of
    /// `num_blocks` blocks of `block_size` tokens.
    pub fn load(
        backend: B,
        dir: &Path,
        cfg: ModelConfig,
        num_blocks: usize,
        block_size: usize,
    ) -> Result<Self, ModelError> {
        Self::load_with(
            backend,
            dir,
            cfg,
            num_blocks,
            block_size,
            &LoadOptions::default(),
        )
    }

    /// [`Decoder::load`] with the weights prepared as `opts` says. `dir` is
    /// a Hugging Face directory or a `.gguf` file.
    pub fn load_with(
        backend: B,
        dir: &Path,
        cfg: ModelConfig,
        num_blocks: usize,
        block_size: usize,
        opts: &LoadOptions,
    ) -> Result<Self, ModelError> {
        if crate::model::gguf::is_gguf(dir) {
            let file = GgufFile::open(dir)?;
            let store = GgufWeights::new(&file, cfg.head_dim);
            return Self::load_from(backend, &store, dir, cfg, num_blocks, block_size, opts);
        }
        let store = WeightStore::open(dir)?;
        Self::load_from(backend, &store, dir, cfg, num_blocks, block_size, opts)
    }

    /// [`Decoder::load_with`] from an open checkpoint (`dir` for errors).
    fn load_from(
        backend: B,
        store: &dyn WeightSource,
        dir: &Path,
        cfg: ModelConfig,
        num_blocks: usize,
        block_size: usize,
        opts: &LoadOptions,
    ) -> Result<Self, ModelError> {
        let kv_dtype = opts.kv_dtype(&cfg);
        let prep = |m: HostMatrix| match opts.quantize {
            Some(f) => m.quantized(f),
            None => m,
        };
        let h = cfg.hidden_size;
        let q_dim = cfg.num_heads * cfg.head_dim;
        let kv_dim = cfg.num_kv_heads * cfg.head_dim;
        let inter = cfg.intermediate_size;
        let fuse = |names: &[String], rows: &[usize]| -> Result<HostMatrix, ModelError> {
            let parts = names
                .iter()
                .zip(rows)
                .map(|(n, &r)| store.matrix(n, r, h))
                .collect::<Result<Vec<_>, _>>()?;
            HostMatrix::vstack(parts).ok_or_else(|| ModelError::BadTensor {
                name: names.join(" + "),
                path: dir.to_path_buf(),
                msg: "fused tensors differ in width".into(),
            })
        };
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let p = format!("model.layers.{i}");
            let attn = format!("{p}.self_attn");
            let qkv_names = [
                format!("{attn}.q_proj.weight"),
                format!("{attn}.k_proj.weight"),
                format!("{attn}.v_proj.weight"),
            ];
            let qkv = fuse(&qkv_names, &[q_dim, kv_dim, kv_dim])?;
            let qkv_bias = if cfg.qkv_bias {
                let mut b = store.vector(&format!("{attn}.q_proj.bias"), q_dim)?;
                b.extend(store.vector(&format!("{attn}.k_proj.bias"), kv_dim)?);
                b.extend(store.vector(&format!("{attn}.v_proj.bias"), kv_dim)?);
                Some(backend.upload_vector(b)?)
            } else {
                None
            };
            let o_bias = if cfg.o_bias {
                Some(backend.upload_vector(store.vector(&format!("{attn}.o_proj.bias"), h)?)?)
            } else {
                None
            };
            let (q_norm, k_norm) = if cfg.qk_norm {
                (
                    Some(backend.upload_vector(
                        store.vector(&format!("{attn}.q_norm.weight"), cfg.head_dim)?,
                    )?),
                    Some(backend.upload_vector(
                        store.vector(&format!("{attn}.k_norm.weight"), cfg.head_dim)?,
                    )?),
                )
            } else {
                (None, None)
            };
            let gate_up = fuse(
                &[
                    format!("{p}.mlp.gate_proj.weight"),
                    format!("{p}.mlp.up_proj.weight"),
                ],
                &[inter, inter],
            )?;
            layers.push(Layer {
                input_norm: backend
                    .upload_vector(store.vector(&format!("{p}.input_layernorm.weight"), h)?)?,
                post_norm: backend.upload_vector(
                    store.vector(&format!("{p}.post_attention_layernorm.weight"), h)?,
                )?,
                qkv: backend.upload_matrix(prep(qkv))?,
                qkv_bias,
                o: backend.upload_matrix(prep(store.matrix(
                    &format!("{attn}.o_proj.weight"),
                    h,
                    q_dim,
                )?))?,
                o_bias,
                q_norm,
                k_norm,
                gate_up: backend.upload_matrix(prep(gate_up))?,
                down: backend.upload_matrix(prep(store.matrix(
                    &format!("{p}.mlp.down_proj.weight"),
                    h,
                    inter,
                )?))?,
                kv: backend.alloc_kv(num_blocks * block_size, kv_dim, kv_dtype)?,
            });
        }
        let embed = backend.upload_matrix(prep(store.matrix(
            "model.embed_tokens.weight",
            cfg.vocab_size,
            h,
        )?))?;
        let lm_head = if cfg.tie_word_embeddings || !store.contains("lm_head.weight") {
            None
        } else {
            Some(backend.upload_matrix(prep(store.matrix(
                "lm_head.weight",
                cfg.vocab_size,
                h,
            )?))?)
        };
        let final_norm = backend.upload_vector(store.vector("model.norm.weight", h)?)?;
        let (inv_freq, rope_scale) = cfg.rope_inv_freq();
        Ok(Self {
            backend,
            cfg,
            layers,
            embed,
            lm_head,
            final_norm,
            inv_freq,
            rope_scale,
            block_size,
            num_blocks,
            ws: None,
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn check(&self, s: &ForwardSeq<'_>) -> Result<(), BackendError> {
        let end = s.start + s.len;
        if s.len == 0 || end > s.all_tokens.len() {
            return Err(BackendError::InvalidStep(format!(
                "seq {}: positions {}..{} but {} tokens known",
                s.seq_id,
                s.start,
                end,
                s.all_tokens.len()
            )));
        }
        if s.block_table.len() * self.block_size < end
            || s.block_table.iter().any(|&b| b as usize >= self.num_blocks)
        {
            return Err(BackendError::InvalidStep(format!(
                "seq {}: block table of {} blocks cannot hold {} positions",
                s.seq_id,
                s.block_table.len(),
                end
            )));
        }
        if let Some(&t) = s.all_tokens[s.start..end]
            .iter()
            .find(|&&t| t as usize >= self.cfg.vocab_size)
        {
            return Err(BackendError::InvalidStep(format!(
                "seq {}: token id {t} outside the vocabulary",
                s.seq_id
            )));
        }
        Ok(())
    }
}

impl<B: Backend> ModelRunner for Decoder<B> {
    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn forward(&mut self, seqs: &[ForwardSeq<'_>]) -> Result<Vec<Logits>, BackendError> {
        let bs = self.block_size;
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut slots = Vec::new();
        let mut attn = Vec::with_capacity(seqs.len());
        let mut sample_rows = Vec::new();
        for s in seqs {
            self.check(s)?;
            let q_start = ids.len();
            for p in s.start..s.start + s.len {
                ids.push(s.all_tokens[p]);
                positions.push(p as u32);
                slots.push(s.block_table[p / bs] * bs as u32 + (p % bs) as u32);
            }
            attn.push(AttnSeqInfo {
                q_start,
                q_len: s.len,
                ctx_len: s.start + s.len,
                block_table: s.block_table,
            });
            if s.sample {
                sample_rows.push(q_start + s.len - 1);
            }
        }
        let t = ids.len();
        if t == 0 {
            return Ok(Vec::new());
        }
        let cfg = &self.cfg;
        let b = &self.backend;
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (nh, nkv) = (cfg.num_heads, cfg.num_kv_heads);
        let (q_dim, kv_dim, inter) = (nh * hd, nkv * hd, cfg.intermediate_size);
        let eps = cfg.rms_norm_eps;
        let shape = AttnShape {
            num_heads: nh,
            num_kv_heads: nkv,
            head_dim: hd,
            block_size: bs,
            scale: 1.0 / (hd as f32).sqrt(),
            sliding_window: cfg.sliding_window,
        };

        let ns = sample_rows.len();
        let ws = match self.ws.take() {
            Some(ws) if ws.tokens >= t && ws.samples >= ns => ws,
            old => {
                let (tokens, samples) =
                    old.map_or((t, ns), |w| (w.tokens.max(t), w.samples.max(ns)));
                Workspace::new(b, cfg, tokens, samples)?
            }
        };
        let ws = self.ws.insert(ws);
        let Workspace {
            residual,
            hbuf,
            qkv,
            q,
            k,
            v,
            tmp,
            tmp_k,
            attn_out,
            proj,
            gate_up,
            act,
            last,
            logits,
            ..
        } = ws;

        b.embedding(&self.embed, &ids, residual)?;
        for (li, layer) in self.layers.iter_mut().enumerate() {
            if li == 0 {
                b.rms_norm(&*residual, &layer.input_norm, eps, t, hbuf)?;
            } else {
                b.add_rms_norm(residual, &*proj, &layer.input_norm, eps, t, hbuf)?;
            }
            b.matmul(&*hbuf, t, &layer.qkv, qkv)?;
            if let Some(bias) = &layer.qkv_bias {
                b.add_bias(qkv, t, bias)?;
            }
            b.split_qkv(&*qkv, t, q_dim, kv_dim, q, k, v)?;
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                b.rms_norm(&*q, qn, eps, t * nh, tmp)?;
                std::mem::swap(q, tmp);
                b.rms_norm(&*k, kn, eps, t * nkv, tmp_k)?;
                std::mem::swap(k, tmp_k);
            }
            b.rope(q, &positions, nh, hd, &self.inv_freq, self.rope_scale)?;
            b.rope(k, &positions, nkv, hd, &self.inv_freq, self.rope_scale)?;
            b.write_kv(&*k, &*v, &slots, kv_dim, &mut layer.kv)?;
            b.attention(&*q, &layer.kv, shape, &attn, attn_out)?;
            b.matmul(&*attn_out, t, &layer.o, proj)?;
            if let Some(bias) = &layer.o_bias {
                b.add_bias(proj, t, bias)?;
            }
            b.add_rms_norm(residual, &*proj, &layer.post_norm, eps, t, hbuf)?;
            b.matmul(&*hbuf, t, &layer.gate_up, gate_up)?;
            b.silu_mul(&*gate_up, t, inter, act)?;
            b.matmul(&*act, t, &layer.down, proj)?;
        }
        b.add_rms_norm(residual, &*proj, &self.final_norm, eps, t, hbuf)?;

        if ns == 0 {
            return Ok(Vec::new());
        }
        b.gather_rows(&*hbuf, &sample_rows, h, last)?;
        let vocab = cfg.vocab_size;
        b.matmul(
            &*last,
            ns,
            self.lm_head.as_ref().unwrap_or(&self.embed),
            logits,
        )?;
        let host = b.to_host(&*logits, ns * vocab)?;
        Ok(host
            .chunks_exact(vocab)
            .map(|row| Logits::Dense(row.to_vec()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dtype: &str) -> ModelConfig {
        ModelConfig::from_json(&serde_json::json!({
            "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 100, "torch_dtype": dtype
        }))
        .unwrap()
    }

    #[test]
    fn auto_kv_cache_is_bf16_for_quantized_weights_only() {
        let auto = LoadOptions::default();
        assert_eq!(auto.kv_dtype(&config("float32")), KvDtype::F32);
        assert_eq!(auto.kv_dtype(&config("bfloat16")), KvDtype::F32);
        let mut gguf_q8 = config("float32");
        gguf_q8.stored_dtype = StoredDtype::Quantized;
        assert_eq!(auto.kv_dtype(&gguf_q8), KvDtype::Bf16);
        let quantized = LoadOptions {
            quantize: Some(QuantFormat::Q8_0),
            ..Default::default()
        };
        assert_eq!(quantized.kv_dtype(&config("bfloat16")), KvDtype::Bf16);
        let forced = LoadOptions {
            quantize: Some(QuantFormat::Q8_0),
            kv_cache_dtype: Some(KvDtype::F32),
        };
        assert_eq!(forced.kv_dtype(&config("bfloat16")), KvDtype::F32);
        // Half the bytes per block.
        let c = config("float32");
        assert_eq!(
            kv_bytes_per_block(&c, 16, KvDtype::F32),
            2 * kv_bytes_per_block(&c, 16, KvDtype::Bf16)
        );
    }
}
