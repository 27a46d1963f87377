"""GGUF files quantized by llama.cpp itself, and llama.cpp's own outputs on
them, for `tests/e2e/llama_cpp_parity.rs`.

llama.cpp is built once from the llama-cpp-python sdist on PyPI (its
vendored llama.cpp; CI never builds it):

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36  (or fetch the sdist)
    cd llama_cpp_python-0.3.36/vendor/llama.cpp
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON
    cmake --build build --target llama-quantize llama-server llama-bench

then, from the repository root (after scripts/make_gguf_models.py):

    LLAMA_CPP_BIN=.../build/bin .venv/bin/python scripts/make_llama_cpp_goldens.py

Writes:
  tests/models/llama-k256/           a random Llama-architecture model of
                                     width 256 (so the K-quants apply), as
                                     llama.cpp's converter lays it out, with
                                     the test tokenizer's files beside it
  tests/models/llama-k256/llama-k256-q4_k_m.gguf   llama-quantize Q4_K_M
                                     (Q4_K and Q6_K tensors)
  tests/models/qwen2-bf16/qwen2-bf16-q4_k_m.gguf   llama-quantize Q4_K_M of
                                     the width-64 model (every tensor falls
                                     back: Q5_0 and Q8_0, mixed within q/k/v)
  {file}.llama-cpp.json              llama-server's greedy tokens and top-5
                                     logprobs for three prompts
  tests/models/qwen2-bf16/f32.llama-cpp.json      the same from an F32 GGUF
                                     of the checkpoint (not kept): llama.cpp
                                     and weir computing in f32 on the same
                                     values, the calibration of the others

llama-server runs with an f32 KV cache (`-ctk f32 -ctv f32`, flash
attention off), as weir keeps its cache, so what differs is the matmuls.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import gguf

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import make_gguf_models as mgm  # noqa: E402

MODELS = pathlib.Path("tests/models")
BIN = pathlib.Path(os.environ.get("LLAMA_CPP_BIN", ""))
PORT = 18093
N_PREDICT = 12


def make_llama_k256(f16_path):
    """A random Llama model of width 256, written F16 with gguf-py."""
    d = MODELS / "llama-k256"
    d.mkdir(exist_ok=True)
    for f in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"]:
        shutil.copy(MODELS / "qwen2-bf16" / f, d / f)
    hidden, inter, layers, heads, kv_heads, vocab = 256, 512, 2, 4, 2, 16384
    head_dim = hidden // heads
    rng = np.random.default_rng(20261207)
    w = gguf.GGUFWriter(str(f16_path), arch="llama")
    w.add_context_length(512)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(vocab)
    w.add_bos_token_id(16377)
    w.add_eos_token_id(16379)
    mgm.add_tokenizer(w, d)
    # Linear weights N(0, 0.09) (the test models' N(0, 0.25) scaled to the
    # width), norms 1 + N(0, 0.2), the final norm x5 so logits are decisive.
    lin = lambda rows, cols: (rng.standard_normal((rows, cols)) * 0.09).astype(np.float16)
    norm = lambda n, g=1.0: ((1.0 + rng.standard_normal(n) * 0.2) * g).astype(np.float32)
    w.add_tensor("token_embd.weight", lin(vocab, hidden))
    for i in range(layers):
        p = f"blk.{i}"
        w.add_tensor(f"{p}.attn_norm.weight", norm(hidden))
        w.add_tensor(f"{p}.attn_q.weight", lin(heads * head_dim, hidden))
        w.add_tensor(f"{p}.attn_k.weight", lin(kv_heads * head_dim, hidden))
        w.add_tensor(f"{p}.attn_v.weight", lin(kv_heads * head_dim, hidden))
        w.add_tensor(f"{p}.attn_output.weight", lin(hidden, heads * head_dim))
        w.add_tensor(f"{p}.ffn_norm.weight", norm(hidden))
        w.add_tensor(f"{p}.ffn_gate.weight", lin(inter, hidden))
        w.add_tensor(f"{p}.ffn_up.weight", lin(inter, hidden))
        w.add_tensor(f"{p}.ffn_down.weight", lin(hidden, inter))
    w.add_tensor("output_norm.weight", norm(hidden, 5.0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(src, dst, ftype):
    subprocess.run([BIN / "llama-quantize", src, dst, ftype], check=True, capture_output=True)


def prompts():
    golden = json.loads((MODELS / "qwen2-bf16" / "golden.json").read_text())
    return [c["prompt_ids"] for c in golden["cases"][:3]]


def outputs(path):
    """llama-server's greedy completions of the prompts."""
    server = subprocess.Popen(
        [BIN / "llama-server", "-m", path, "--port", str(PORT), "-c", "1024", "-np", "1",
         "-t", "2", "-ctk", "f32", "-ctv", "f32", "-fa", "off", "--no-warmup"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health")
                break
            except Exception:
                time.sleep(0.2)
        cases = []
        for ids in prompts():
            body = json.dumps({"prompt": ids, "n_predict": N_PREDICT, "temperature": 0,
                               "n_probs": 5, "cache_prompt": False, "ignore_eos": True,
                               "return_tokens": True}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{PORT}/completion", body,
                                         {"content-type": "application/json"})
            out = json.load(urllib.request.urlopen(req))
            probs = out["completion_probabilities"]
            cases.append({
                "prompt_ids": ids,
                "tokens": out["tokens"],
                "logprobs": [p["logprob"] for p in probs],
                "top_logprobs": [[[t["id"], t["logprob"]] for t in p["top_logprobs"]] for p in probs],
            })
        return cases
    finally:
        server.terminate()
        server.wait()


def write_golden(gguf_path, name):
    golden = {
        "llama_cpp": "vendored llama.cpp of the llama-cpp-python 0.3.36 sdist",
        "server_args": "-c 1024 -np 1 -t 2 -ctk f32 -ctv f32 -fa off; temperature 0, n_probs 5",
        "file": gguf_path.name,
        "cases": outputs(gguf_path),
    }
    (gguf_path.parent / name).write_text(json.dumps(golden, indent=1) + "\n")


def main():
    if not (BIN / "llama-quantize").exists():
        sys.exit("set LLAMA_CPP_BIN to llama.cpp's build/bin (see this file's docs)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        make_llama_k256(tmp / "llama-k256-f16.gguf")
        out = MODELS / "llama-k256" / "llama-k256-q4_k_m.gguf"
        quantize(tmp / "llama-k256-f16.gguf", out, "Q4_K_M")
        write_golden(out, "llama-k256-q4_k_m.llama-cpp.json")

        out = MODELS / "qwen2-bf16" / "qwen2-bf16-q4_k_m.gguf"
        quantize(MODELS / "qwen2-bf16" / "qwen2-bf16.gguf", out, "Q4_K_M")
        write_golden(out, "qwen2-bf16-q4_k_m.llama-cpp.json")

        f32 = tmp / "qwen2-bf16-f32.gguf"
        quantize(MODELS / "qwen2-bf16" / "qwen2-bf16.gguf", f32, "F32")
        write_golden(f32, "unused.json")
        shutil.move(tmp / "unused.json", MODELS / "qwen2-bf16" / "f32.llama-cpp.json")


if __name__ == "__main__":
    main()
