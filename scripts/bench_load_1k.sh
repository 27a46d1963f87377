#!/usr/bin/env bash
# The load client's ceiling: `weir load` with 1,000 concurrent chat sessions
# against a `weir serve --backend sim` on the same machine, as in
# docs/load-testing.md ("The client's own cost"). Prints the load report's
# summary, then the server's CPU time and socket writes per streamed token.
#
#   scripts/bench_load_1k.sh [path/to/weir]   (default: target/release/weir)
#   SESSIONS=500 PORT=8200 scripts/bench_load_1k.sh
set -euo pipefail
BIN=${1:-target/release/weir}
PORT=${PORT:-8123}
SESSIONS=${SESSIONS:-1000}
OUT=${OUT:-$(mktemp -d)}

# A modelled GPU: 2 ms per decode step whatever the batch, no prefill cost,
# room for every session in one batch (vLLM's GPU default of 8,192 batched
# tokens; the CPU default of 512 would hold only ~250 of them decoding).
"$BIN" serve --backend sim --sim-mode random --port "$PORT" \
  --max-num-seqs 1024 --max-num-batched-tokens 8192 \
  --sim-decode-step-us 2000 --sim-decode-us-per-seq 0 --sim-prefill-us-per-token 0 \
  >"$OUT/server.log" 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.2
done

ticks() { awk '{print $14 + $15}' "/proc/$SRV/stat"; }
writes() { awk '/^syscw/ {print $2}' "/proc/$SRV/io"; }
T0=$(ticks); W0=$(writes)
"$BIN" load --base-url "http://127.0.0.1:$PORT/v1" --model weir-demo --profile chat \
  --sessions "$SESSIONS" --turns-per-session 3 --max-tokens 200 --ignore-eos \
  --think-scale 0 --output "$OUT/report.json"
T1=$(ticks); W1=$(writes)
HZ=$(getconf CLK_TCK)
python3 - "$OUT/report.json" "$((T1 - T0))" "$HZ" "$((W1 - W0))" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
ticks, hz, writes = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tokens = run["output_tokens"]
print(f"server: {ticks / hz:.2f} s CPU, {ticks / hz / tokens * 1e6:.1f} us per token, "
      f"{writes} socket writes ({tokens / max(writes, 1):.2f} tokens per write)")
PY
