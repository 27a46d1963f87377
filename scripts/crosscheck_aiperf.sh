#!/usr/bin/env bash
# Cross-checks `weir load` against NVIDIA's aiperf (PyPI `aiperf`) on one
# weir `sim` server with a known modelled speed (docs/load-testing.md):
# the same single-turn workload (about 1,000 prompt tokens, 100 output tokens,
# 8 concurrent streams, no prefix caching) measured by both tools.
#
#   AIPERF=/path/to/venv/bin/aiperf scripts/crosscheck_aiperf.sh
#
# Not part of the test command (aiperf is a large install); run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIR=${WEIR:-target/release/weir}
AIPERF=${AIPERF:-aiperf}
PORT=${PORT:-8013}
OUT=${OUT:-/tmp/weir-crosscheck}
CONCURRENCY=${CONCURRENCY:-8}
mkdir -p "$OUT"

"$WEIR" serve --backend sim --sim-mode random --port "$PORT" --no-prefix-caching \
  --sim-prefill-us-per-token 20 --sim-decode-step-us 10000 --sim-decode-us-per-seq 500 \
  --max-num-seqs 64 >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.1
done

# A one-turn profile whose prompt is about 1,000 tokens of plain words.
python3 - "$OUT/single_turn.toml" <<'PY'
import random, sys
random.seed(1)
words = "the of and to in is that for it as was with be by on not this are or from at which but have".split()
prompt = " ".join(random.choice(words) for _ in range(1000))
open(sys.argv[1], "w").write(f'''name = "single-turn"
system_prompt = "You are a helpful assistant."
turns_per_session = 1
[tool_think]
dist = "zero"
[user_think]
dist = "zero"
[[tasks]]
prompt = "{prompt}"
steps = []
''')
PY

echo "== aiperf: $CONCURRENCY concurrent, 1000 in / 100 out, 200 requests"
"$AIPERF" profile -m weir-demo --url "http://127.0.0.1:$PORT" --endpoint-type chat \
  --streaming --concurrency "$CONCURRENCY" --request-count 200 --warmup-request-count 16 \
  --isl 1000 --isl-stddev 0 --osl 100 --osl-stddev 0 --extra-inputs ignore_eos:true \
  --tokenizer "${TOKENIZER:-$HOME/.cache/weir/demo-v1}" --per-chunk-usage --use-server-token-count \
  --random-seed 1 --output-artifact-dir "$OUT/aiperf" </dev/null >"$OUT/aiperf.log" 2>&1 || {
  tail -30 "$OUT/aiperf.log"; exit 1; }
find "$OUT/aiperf" -name 'profile_export_aiperf.json' | head -1

echo "== weir load: $CONCURRENCY sessions of one request each, the same shape"
"$WEIR" load --base-url "http://127.0.0.1:$PORT/v1" --model weir-demo \
  --profile "$OUT/single_turn.toml" --sessions "$CONCURRENCY" --duration 30s --warmup 3s \
  --max-tokens 100 --ignore-eos --quiet --output "$OUT/weir.json"
