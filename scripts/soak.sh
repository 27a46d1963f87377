#!/usr/bin/env bash
# The soak: `scripts/soak.sh [MINUTES]` (default 30) starts `weir serve` (the
# CPU backend, the built-in demo model) on a free port and runs for MINUTES:
#   - OpenCode-profile `weir load` sessions (closed loop, think times on);
#   - fault clients (scripts/soak/faults.py): streams that hang up before
#     their first token or mid-stream, and stalled readers that stop reading
#     for longer than --stream-stall-timeout, then read on;
#   - a sampler (scripts/soak/sample.py): the server's RSS and /metrics
#     every few seconds into samples.csv.
# Before the run, scripts/soak/fill_kv.py writes every KV block once, so the
# cache's pages are resident from the start and RSS growth means something;
# the server's counters are read then and the checks count from there.
# Then it drains (the load and the fault clients finish what they started,
# the server's queues empty) and scripts/soak/check.py prints PASS/FAIL for:
# RSS flat within 10% after warm-up, 0 leaked KV blocks, 0 unexpected
# errors, usage totals exact. Exit status 1 on any FAIL.
#
# Results go to $SOAK_RESULTS (default target/soak/<UTC time>). The load's
# size is set by SOAK_* variables (defaults below, sized for the demo model
# on a 2-core machine: its prefill of OpenCode's 8-12k-token contexts, not
# the client, limits the request rate). WEIR_BIN picks the binary (default:
# target/release/weir, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-30}"
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
  echo "usage: scripts/soak.sh [MINUTES]  (a whole number, at least 1)" >&2
  exit 2
fi
run_s=$((minutes * 60))
sessions="${SOAK_SESSIONS:-3}"
turns="${SOAK_TURNS:-6}"
max_tokens="${SOAK_MAX_TOKENS:-48}"
think_scale="${SOAK_THINK_SCALE:-0.5}"
kv_blocks="${SOAK_KV_BLOCKS:-4096}"
stall_timeout="${SOAK_STALL_TIMEOUT:-5}"
disconnect_every="${SOAK_DISCONNECT_EVERY:-2}"
stall_every="${SOAK_STALL_EVERY:-15}"
sample_every="${SOAK_SAMPLE_EVERY:-5}"
seed="${SOAK_SEED:-0}"
# `cpu` (the demo model's real arithmetic: the soak) or `sim` (no arithmetic,
# random tokens at a modelled speed: many more requests through the same
# serving pipeline, for a pass that is labelled as such).
backend="${SOAK_BACKEND:-cpu}"
results="${SOAK_RESULTS:-target/soak/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$results"

weir="${WEIR_BIN:-target/release/weir}"
if [ ! -x "$weir" ]; then
  cargo build --release --bin weir
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== soak: $minutes min against $base ($backend backend), results in $results"
server_cmd=("$weir" serve --port "$port" --num-kv-blocks "$kv_blocks"
  --stream-stall-timeout "$stall_timeout")
case "$backend" in
  cpu) ;;
  sim) server_cmd+=(--backend sim --sim-mode random) ;;
  *) echo "SOAK_BACKEND: cpu or sim, not $backend" >&2; exit 2 ;;
esac
echo "${server_cmd[*]}" >"$results/server.cmd"
"${server_cmd[@]}" >"$results/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 300); do
  curl -sf "$base/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "weir serve exited:" >&2; tail "$results/server.log" >&2; exit 1; }
  sleep 1
done
curl -sf "$base/health" >/dev/null || { echo "weir serve did not come up" >&2; exit 1; }

echo "== writing the whole KV cache once (its pages resident before the run)"
python3 scripts/soak/fill_kv.py --base-url "$base" --blocks "$kv_blocks"
curl -sf "$base/metrics" >"$results/metrics_start.txt"

python3 scripts/soak/sample.py --base-url "$base" --pid "$server" --every "$sample_every" \
  --out "$results/samples.csv" &
sampler=$!
pids+=("$sampler")

python3 scripts/soak/faults.py --base-url "$base" --duration "$run_s" --seed "$seed" \
  --disconnect-every "$disconnect_every" --stall-every "$stall_every" \
  --out "$results/faults.json" >"$results/faults.log" 2>&1 &
faults=$!
pids+=("$faults")

load_cmd=("$weir" load --base-url "$base/v1" --profile opencode --sessions "$sessions"
  --turns-per-session "$turns" --max-tokens "$max_tokens" --think-scale "$think_scale"
  --duration "${run_s}s" --warmup 0s --seed "$seed" --quiet
  --output "$results/load.json" --html "$results/load.html")
echo "${load_cmd[*]}" >"$results/load.cmd"
load_status=0
"${load_cmd[@]}" >"$results/load.log" 2>&1 || load_status=$?
echo "weir load exited with $load_status"
grep -E '^(requests|throughput|prompt)' "$results/load.log" || true

fault_status=0
wait "$faults" || fault_status=$?
cat "$results/faults.log"
[ "$fault_status" -eq 0 ] || echo "fault clients exited with $fault_status"

echo "== drain: waiting for the server's queues and KV cache to empty"
for _ in $(seq 120); do
  m="$(curl -sf "$base/metrics" || true)"
  if grep -qE '^vllm:num_requests_running\{[^}]*\} 0$' <<<"$m" &&
    grep -qE '^vllm:num_requests_waiting\{[^}]*\} 0$' <<<"$m" &&
    grep -qE '^vllm:kv_cache_usage_perc\{[^}]*\} 0(\.0)?$' <<<"$m"; then
    break
  fi
  sleep 1
done
# One more sample after the drain, then stop sampling.
sleep "$sample_every"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

echo "== checks"
lscpu 2>/dev/null | grep 'Model name' | sed 's/  */ /g' >"$results/machine.txt" || true
check_status=0
python3 scripts/soak/check.py --results "$results" --base-url "$base" --run-seconds "$run_s" ||
  check_status=$?
[ "$load_status" -eq 0 ] || { echo "FAIL weir load exited with $load_status"; check_status=1; }
[ "$fault_status" -eq 0 ] || { echo "FAIL the fault clients exited with $fault_status"; check_status=1; }
exit "$check_status"
