#!/usr/bin/env bash
# weir against llama.cpp on the same GGUF files, runs alternating, on this
# machine: batch-1 decode (llama-bench tg32 / weir bench) and prefill of
# 512 tokens (llama-bench pp512 / weir bench), for Q8_0 and Q4_K_M files
# quantized by llama.cpp's own llama-quantize from one random checkpoint.
#
#   LLAMA_CPP_BIN=.../llama.cpp/build/bin scripts/bench_llama_cpp.sh [model-dir] [rounds]
#
# model-dir: a safetensors checkpoint with its tokenizer files (default: the
# Llama-3.2-1B shape `weir gen-model --shape llama-3.2-1b` writes). llama.cpp
# is built as scripts/make_llama_cpp_goldens.py says; nothing is downloaded.
set -euo pipefail
BIN=${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to llama.cpp build/bin}
DIR=${1:-${WEIR_CACHE_DIR:-$HOME/.cache/weir}/bench-llama-1b}
ROUNDS=${2:-2}
WEIR=${WEIR:-target/release/weir}
NAME=$(basename "$DIR")
[ -f "$DIR/$NAME-native.gguf" ] || .venv/bin/python scripts/make_gguf_models.py "$DIR" native
[ -f "$DIR/$NAME-q8_0.gguf" ] || "$BIN/llama-quantize" "$DIR/$NAME-native.gguf" "$DIR/$NAME-q8_0.gguf" Q8_0 2 > /dev/null 2>&1
[ -f "$DIR/$NAME-q4_k_m.gguf" ] || "$BIN/llama-quantize" "$DIR/$NAME-native.gguf" "$DIR/$NAME-q4_k_m.gguf" Q4_K_M 2 > /dev/null 2>&1
echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) threads, $(date -u +%F)"
for round in $(seq "$ROUNDS"); do
  for q in q8_0 q4_k_m; do
    f="$DIR/$NAME-$q.gguf"
    echo "## round $round, $q"
    "$BIN/llama-bench" -m "$f" -t "$(nproc)" -p 512 -n 32 -r 2 2>/dev/null | grep -E "pp512|tg32" | awk -F'|' '{print "llama.cpp", $7, $8}'
    "$WEIR" bench --model "$f" --prefill-len 512 --concurrency 16 2>/dev/null | grep -E "probe|prefill|decode" | sed 's/^/weir /'
  done
done
