#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs all of them.
#   - Rust: fmt, clippy, unit tests and end-to-end tests (real HTTP server on
#     loopback, real tiny models from tests/models, real SQLite later, the
#     load report's HTML in headless Chromium).
#   - Python: the official OpenAI SDK and OpenCode against a running `weir serve`.
#   - JavaScript: the Vercel AI SDK (@ai-sdk/openai-compatible) against weir.
#   - Fuzzing: each fuzz target of fuzz/ for 30 seconds (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# The burst and stalled-reader tests open a few thousand sockets at once:
# lift the soft open-file limit to the hard one (1,024 is a common default).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open-file limit: $(ulimit -n)"

# Each phase's header says the seconds since the start, so a log shows
# where the time goes.
start_s=$(date +%s)
phase() { echo "== [$(($(date +%s) - start_s)) s] $*"; }

# Servers the tests start read the tenancy store at WEIR_DB (auth turns on
# once it holds a key): a fresh path of their own, never a developer's
# default store.
WEIR_DB="$(mktemp -d)/weir.db"
export WEIR_DB

phase "python test clients"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/python/requirements.txt

phase "llama.cpp's tokenizer test vocabularies (the llama-cpp-python sdist on PyPI)"
# tests/e2e/gguf_tokenizer.rs checks weir's GGUF tokenizer against them.
if [ -z "${WEIR_LLAMA_VOCAB_DIR:-}" ]; then
  WEIR_LLAMA_VOCAB_DIR="${WEIR_CACHE_DIR:-$HOME/.cache/weir}/llama-vocab-0.3.36"
  [ -f "$WEIR_LLAMA_VOCAB_DIR/ggml-vocab-llama-spm.gguf.out" ] ||
    .venv/bin/python scripts/fetch_llama_vocab.py "$WEIR_LLAMA_VOCAB_DIR"
  export WEIR_LLAMA_VOCAB_DIR
fi

phase "javascript test clients (OpenCode, the Vercel AI SDK)"
# `npm ci` refuses this lock file (it lacks the other platforms' optional
# OpenCode binaries); `npm install` follows the lock and changes nothing.
(cd tests/js && npm install --silent --no-audit --no-fund)

phase "cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings

phase "headless chromium (tests/e2e/load_html.rs opens weir load's HTML report in it)"
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "chromium is missing and we are not root (no sudo): install Debian's chromium" >&2
    exit 1
  fi
fi

phase "CPU ISAs the kernel tests run"
# The CPU kernel tests (src/backend/cpu/) run every ISA and fail on one this
# CPU lacks unless WEIR_TEST_SKIP_ISA names it (so a plain `cargo test` on an
# AVX2-only machine cannot pass with the AVX-512 paths silently untested).
# This script names the ISAs this CPU lacks itself, says so loudly here and
# again at the end, and never counts them as passed; set WEIR_TEST_SKIP_ISA
# yourself to choose otherwise (set but empty: a lacking ISA fails the tests,
# as on a plain `cargo test`). The levels below mirror the
# run-time detection in src/backend/cpu/matmul.rs.
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
isas="scalar"
missing=()
if has avx2 fma f16c; then isas+=" avx2"; else missing+=(avx2); fi
if has avx2 fma f16c avx512f avx512bw avx512vl avx512dq; then isas+=" avx512"; else missing+=(avx512); fi
if has avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512_bf16; then isas+=" avx512bf16"; else missing+=(avx512bf16); fi
echo "this CPU has, and the kernel tests run: $isas"
if [ "${#missing[@]}" -gt 0 ]; then
  if [ -z "${WEIR_TEST_SKIP_ISA+set}" ]; then
    WEIR_TEST_SKIP_ISA="$(IFS=,; echo "${missing[*]}")"
    export WEIR_TEST_SKIP_ISA
  fi
  [ -n "$WEIR_TEST_SKIP_ISA" ] || echo "WEIR_TEST_SKIP_ISA is set but empty: the kernel tests fail on the ISAs this CPU lacks"
  not_run="NOT RUN on this CPU (it lacks them): the ${missing[*]} kernel paths; WEIR_TEST_SKIP_ISA=$WEIR_TEST_SKIP_ISA. Run the test command on a CPU that has them to test those paths."
  banner() { printf '\n!!!!!!!!!!\n!!! %s\n!!!!!!!!!!\n\n' "$not_run"; }
  banner
  trap banner EXIT
fi

phase "cargo test (unit + end-to-end)"
cargo test --release --workspace

phase "fuzz targets, 30 s each (libFuzzer on the stable toolchain; docs/fuzzing.md)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
CARGO_TARGET_DIR="$PWD/target" cargo clippy --release --manifest-path fuzz/Cargo.toml \
  --all-targets -- -D warnings
scripts/fuzz.sh 30

phase "OpenAI SDK and OpenCode against weir"
# The `weir` binary `cargo test` built for the end-to-end tests: a separate
# `cargo build --release --bin weir` would compile the crate a third time
# (without the dev-dependencies' features), about three minutes here.
[ -x target/release/weir ] || { echo "cargo test left no target/release/weir" >&2; exit 1; }
WEIR_BIN="$PWD/target/release/weir" .venv/bin/python -m pytest -q tests/python

phase "Vercel AI SDK against weir"
(cd tests/js && WEIR_BIN="$PWD/../../target/release/weir" node --test ai_sdk.test.mjs ai_sdk_tenancy.test.mjs \
  ai_sdk_responses.test.mjs)

phase "soak, short version (scripts/soak.sh; docs/reliability.md has the 30-minute run)"
WEIR_BIN="$PWD/target/release/weir" scripts/soak.sh 3
phase "all tests passed"
