#!/usr/bin/env bash
# What tenancy costs: `weir load` (OpenCode-like chat sessions) against
# `weir serve --backend sim`, alternating two servers started the same way:
#   plain    no store: open access, the /v1 route;
#   tenant   a store with a project, an endpoint (rpm/tpm limits high
#            enough never to refuse), a key: auth, limits, usage records and
#            per-project counters on every request, the endpoint route.
# Prints each run's throughput and TTFT, and the server's CPU time per
# request, so the difference is the per-request cost of tenancy.
#
#   scripts/bench_tenancy.sh [path/to/weir]     (default: target/release/weir)
#   SESSIONS=1000 ROUNDS=4 scripts/bench_tenancy.sh
set -euo pipefail
BIN=${1:-target/release/weir}
PORT=${PORT:-8124}
SESSIONS=${SESSIONS:-1000}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-$(mktemp -d)}
HZ=$(getconf CLK_TCK)

DB="$OUT/tenant/weir.db"
mkdir -p "$OUT/tenant" "$OUT/plain"
WEIR_DB=$DB "$BIN" admin init >/dev/null 2>&1
PROJ=$(WEIR_DB=$DB "$BIN" admin project create bench | grep -o 'proj_[A-Za-z0-9]*' | head -1)
WEIR_DB=$DB "$BIN" admin endpoint create --project "$PROJ" --slug coder --model weir-demo \
  --rpm 1000000 --tpm 1000000000 >/dev/null
KEY=$(WEIR_DB=$DB "$BIN" admin key create --project "$PROJ" --scope inference 2>/dev/null | grep '^weir_')

run() { # run NAME DB BASE [KEY]
  local name=$1 db=$2 base=$3 key=${4:-}
  WEIR_DB=$db "$BIN" serve --backend sim --sim-mode random --port "$PORT" \
    --max-num-seqs 1024 --max-num-batched-tokens 8192 \
    --sim-decode-step-us 2000 --sim-decode-us-per-seq 0 --sim-prefill-us-per-token 0 \
    >"$OUT/$name-server.log" 2>&1 &
  local srv=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 0.2
  done
  local t0; t0=$(awk '{print $14 + $15}' "/proc/$srv/stat")
  WEIR_LOAD_API_KEY=$key "$BIN" load --base-url "$base" --model weir-demo --profile chat \
    --sessions "$SESSIONS" --turns-per-session 3 --max-tokens 200 --ignore-eos \
    --think-scale 0 --output "$OUT/$name-$r.json" >/dev/null
  local t1; t1=$(awk '{print $14 + $15}' "/proc/$srv/stat")
  kill "$srv"; wait "$srv" 2>/dev/null || true
  python3 - "$OUT/$name-$r.json" "$((t1 - t0))" "$HZ" "$name" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
ticks, hz, name = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
reqs, errors = run["requests_ok"], sum(e.get("count", 0) for e in run["errors"])
stream = run["stream_tok_s"]
print(f"{name:7s} requests {reqs} (errors {errors})  output {run['output_tok_s']:.0f} tok/s"
      f"  per-stream p50 {stream['p50']:.1f} tok/s  ttft p50 {run['ttft_ms']['p50']:.1f} ms"
      f" p99 {run['ttft_ms']['p99']:.1f} ms  server CPU {ticks / hz:.2f} s"
      f" = {ticks / hz / max(reqs, 1) * 1e6:.0f} us/request")
PY
}

# Odd rounds run plain first, even rounds tenant first: on a shared machine
# the first run of a pair tends to be the faster one.
plain() { run plain "$OUT/plain/weir.db" "http://127.0.0.1:$PORT/v1"; }
tenant() { run tenant "$DB" "http://127.0.0.1:$PORT/$PROJ/coder/v1" "$KEY"; }
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then plain; tenant; else tenant; plain; fi
done
echo "reports in $OUT"
