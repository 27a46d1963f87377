"""GGUF copies of the test models, written with gguf-py (llama.cpp's own
Python library) the way llama.cpp's `convert_hf_to_gguf.py` writes them:
gguf-py's tensor-name map, llama.cpp's q/k row permutation for the `llama`
architecture (`LlamaModel.permute`, copied below), 1-D tensors kept F32,
and for `q8_0` every 2-D tensor quantized by gguf-py's Q8_0 quantizer.
The tokenizer goes in as the converter writes a byte-level BPE one
(`tokenizer.ggml.*`: model `gpt2`, pre-tokenizer `qwen2`, whose split
regex the test tokenizer uses), so llama.cpp itself loads these files.

Writes, beside each model's tokenizer files:
  tests/models/qwen2-bf16/qwen2-bf16.gguf         BF16 (the checkpoint's own values)
  tests/models/qwen2-bf16/qwen2-bf16-q8_0.gguf    Q8_0
  tests/models/llama-sharded/llama-sharded.gguf   F16 (the checkpoint's own values)
  tests/models/llama-sharded/llama-sharded-q8_0.gguf
  tests/models/llama-gqa/llama-gqa.gguf           F32, Llama 3.1's rope scaling
                                                  as the converter stores it
                                                  (a `rope_freqs` tensor)
  tests/models/qwen3-qknorm/qwen3-qknorm.gguf     F32, q/k norms, YaRN
  tests/models/mistral/mistral.gguf               F32, a `llama` file, linear rope

Run from the repository root: .venv/bin/python scripts/make_gguf_models.py
(gguf==0.19.0, numpy as in requirements-models.txt).
"""
import json
import math
import pathlib
import struct

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

MODELS = pathlib.Path("tests/models")


def read_safetensors(path):
    """{name: (dtype, shape, raw little-endian bytes)} without torch."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], raw[8 + n + a : 8 + n + b])
    return out


def to_f32(dtype, shape, data):
    if dtype == "F32":
        return np.frombuffer(data, "<f4").reshape(shape)
    if dtype == "F16":
        return np.frombuffer(data, "<f2").astype(np.float32).reshape(shape)
    if dtype == "BF16":
        bits = np.frombuffer(data, "<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    raise ValueError(dtype)


def permute(weights, n_head, n_head_kv):
    # llama.cpp convert_hf_to_gguf.py, LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def add_tokenizer(w, d, n_vocab=None):
    """tokenizer.ggml.* from the HF tokenizer files in `d`, as
    convert_hf_to_gguf.py's `_set_vocab_gpt2` writes them (padded with
    `[PAD{i}]` tokens to the embedding's `n_vocab` rows)."""
    tok = json.loads((d / "tokenizer.json").read_text())
    vocab = dict(tok["model"]["vocab"])
    added = {t["content"]: t for t in tok["added_tokens"]}
    for t in tok["added_tokens"]:
        vocab[t["content"]] = t["id"]
    n = max(max(vocab.values()) + 1, n_vocab or 0)
    tokens = [f"[PAD{i}]" for i in range(n)]
    types = [gguf.TokenType.UNUSED] * n
    for text, i in vocab.items():
        tokens[i] = text
        if text in added:
            types[i] = gguf.TokenType.CONTROL if added[text]["special"] else gguf.TokenType.USER_DEFINED
        else:
            types[i] = gguf.TokenType.NORMAL
    merges = tok["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_pad_token_id(vocab["<|endoftext|>"])
    w.add_add_bos_token(False)
    template = d / "chat_template.jinja"
    if template.exists():
        w.add_chat_template(template.read_text())


def rope_freqs(cfg):
    """llama.cpp's convert_hf_to_gguf.py (conversion/llama.py,
    LlamaModel.generate_extra_tensors), transcribed from torch to numpy in
    float32: Llama 3.1's `llama3` rope scaling as one divisor per
    frequency, or None for other models."""
    f32 = np.float32
    rope_params = cfg.get("rope_parameters") or dict(cfg.get("rope_scaling") or {}, rope_theta=cfg.get("rope_theta"))
    if rope_params.get("rope_type", "").lower() != "llama3":
        return None
    base = rope_params.get("rope_theta", 10000.0)
    if (dim := cfg.get("head_dim")) is None:
        dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    freqs = f32(1.0) / (f32(base) ** (np.arange(0, dim, 2, dtype=f32) / f32(dim)))
    factor = rope_params.get("factor", 8.0)
    low_freq_factor = rope_params.get("low_freq_factor", 1.0)
    high_freq_factor = rope_params.get("high_freq_factor", 4.0)
    old_context_len = rope_params.get("original_max_position_embeddings", 8192)
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    rope_factors = []
    for freq in freqs:
        wavelen = f32(2 * math.pi) / freq
        if wavelen < high_freq_wavelen:
            rope_factors.append(1)
        elif wavelen > low_freq_wavelen:
            rope_factors.append(factor)
        else:
            smooth = (f32(old_context_len) / wavelen - f32(low_freq_factor)) / f32(high_freq_factor - low_freq_factor)
            rope_factors.append(f32(1) / ((f32(1) - smooth) / f32(factor) + smooth))
    return np.array(rope_factors, dtype=f32)


def convert(model, outtype, out_name, d=None):
    """Writes `out_name` beside the checkpoint `d` (default tests/models/<model>)."""
    d = d or MODELS / model
    cfg = json.loads((d / "config.json").read_text())
    # Mistral files are `llama` files (llama.cpp's MistralModel is a LlamaModel).
    arch_name = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama",
                 "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}[cfg["architectures"][0]]
    arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2,
            "qwen3": gguf.MODEL_ARCH.QWEN3}[arch_name]
    n_layers = cfg["num_hidden_layers"]
    names = gguf.get_tensor_name_map(arch, n_layers)
    tensors = {}
    for f in sorted(d.glob("*.safetensors")):
        tensors.update(read_safetensors(f))
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    rope = cfg.get("rope_parameters") or {}
    w = gguf.GGUFWriter(str(d / out_name), arch=arch_name)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(n_layers)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(rope.get("rope_theta", cfg.get("rope_theta", 10000.0)))
    # The converter's rope scaling keys (conversion/base.py).
    scaling = rope or cfg.get("rope_scaling") or {}
    rope_type = scaling.get("rope_type", scaling.get("type"))
    if rope_type == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(scaling["factor"])
    elif rope_type == "yarn":
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(scaling["factor"])
        w.add_rope_scaling_orig_ctx_len(scaling["original_max_position_embeddings"])
        for k, add in [("attention_factor", w.add_rope_scaling_yarn_attn_factor),
                       ("beta_fast", w.add_rope_scaling_yarn_beta_fast),
                       ("beta_slow", w.add_rope_scaling_yarn_beta_slow)]:
            if scaling.get(k) is not None:
                add(scaling[k])
    if "head_dim" in cfg:
        w.add_key_length(cfg["head_dim"])
        w.add_value_length(cfg["head_dim"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    add_tokenizer(w, d, cfg["vocab_size"])
    factors = rope_freqs(cfg)
    if factors is not None:
        w.add_tensor(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors)
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        gname = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gname is None:
            raise KeyError(name)
        values = to_f32(dtype, shape, data)
        if arch_name == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
            values = permute(values, heads, heads)
        if arch_name == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
            values = permute(values, heads, kv_heads)
        if len(shape) == 1:
            w.add_tensor(gname, np.ascontiguousarray(values, dtype=np.float32))
        elif outtype == "q8_0":
            w.add_tensor(gname, gguf.quants.quantize(np.ascontiguousarray(values), T.Q8_0), raw_dtype=T.Q8_0)
        elif dtype == "BF16":
            w.add_tensor(gname, gguf.quants.quantize(np.ascontiguousarray(values), T.BF16), raw_dtype=T.BF16)
        elif dtype == "F16":
            w.add_tensor(gname, np.ascontiguousarray(values).astype(np.float16))
        else:
            w.add_tensor(gname, np.ascontiguousarray(values))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    """The test models; or, given a checkpoint directory and an output
    type (`native`, `q8_0`), that checkpoint (benchmark models)."""
    import sys
    if len(sys.argv) == 3:
        d = pathlib.Path(sys.argv[1])
        convert(d.name, sys.argv[2], f"{d.name}-{sys.argv[2]}.gguf", d)
        return
    for model in ["qwen2-bf16", "llama-sharded"]:
        convert(model, "native", f"{model}.gguf")
        convert(model, "q8_0", f"{model}-q8_0.gguf")
    for model in ["llama-gqa", "qwen3-qknorm", "mistral"]:
        convert(model, "native", f"{model}.gguf")


if __name__ == "__main__":
    main()
