#!/usr/bin/env bash
# Cross-checks `weir load` against NVIDIA's aiperf (PyPI `aiperf`) on weir
# `sim` servers with a known modelled speed (docs/load-testing.md), two
# workloads measured by both tools:
#   single: one turn, about 1,000 prompt tokens, 100 output tokens, 8
#           concurrent streams, no prefix caching;
#   multi:  conversations of 4 turns (a shared 1,000-token system prompt, 300
#           new user tokens a turn, the 100 output tokens kept in the
#           history), 8 concurrent, prefix caching on; per-turn figures side
#           by side, and the server's own TTFT (from /metrics) during each
#           tool's run.
#
#   AIPERF=/path/to/venv/bin/aiperf scripts/crosscheck_aiperf.sh [single|multi|both]
#
# Not part of the test command (aiperf is a large install); run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIR=${WEIR:-target/release/weir}
AIPERF=${AIPERF:-aiperf}
PORT=${PORT:-8013}
OUT=${OUT:-/tmp/weir-crosscheck}
CONCURRENCY=${CONCURRENCY:-8}
TOKENIZER=${TOKENIZER:-$HOME/.cache/weir/demo-v1}
WORKLOAD=${1:-both}
mkdir -p "$OUT"
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null || true' EXIT

start_sim() { # start_sim LOG FLAGS...: a sim server on $PORT, once healthy
  local log=$1
  shift
  "$WEIR" serve --backend sim --sim-mode random --port "$PORT" --max-num-seqs 64 "$@" >"$log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return
    sleep 0.1
  done
  echo "the sim server did not come up: $log" >&2
  exit 1
}

stop_sim() {
  kill "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=
}

# The server's own TTFT histogram (arrival to first token; no client in it).
server_ttft() { curl -sf "http://127.0.0.1:$PORT/metrics" | grep '^vllm:time_to_first_token_seconds_'; }

single_turn() {
  start_sim "$OUT/server.log" --no-prefix-caching \
    --sim-prefill-us-per-token 20 --sim-decode-step-us 10000 --sim-decode-us-per-seq 500

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
    --tokenizer "$TOKENIZER" --per-chunk-usage --use-server-token-count \
    --random-seed 1 --output-artifact-dir "$OUT/aiperf" </dev/null >"$OUT/aiperf.log" 2>&1 || {
    tail -30 "$OUT/aiperf.log"
    exit 1
  }
  echo "aiperf's figures: $OUT/aiperf/profile_export_aiperf.json"

  echo "== weir load: $CONCURRENCY sessions of one request each, the same shape"
  "$WEIR" load --base-url "http://127.0.0.1:$PORT/v1" --model weir-demo \
    --profile "$OUT/single_turn.toml" --sessions "$CONCURRENCY" --duration 30s --warmup 3s \
    --max-tokens 100 --ignore-eos --quiet --output "$OUT/weir.json"
  stop_sim
}

multi_turn() {
  start_sim "$OUT/server_multi.log" \
    --sim-prefill-us-per-token 200 --sim-decode-step-us 10000 --sim-decode-us-per-seq 500

  # The shared system prompt, and a weir load profile of 200 distinct 4-turn
  # conversations (words of one token each in this tokenizer).
  python3 - "$OUT" <<'PY'
import random, sys
out = sys.argv[1]
random.seed(2)
words = "the of and to in is that for it as was with be by on not this are or from at which but have".split()
para = lambda n: " ".join(random.choice(words) for _ in range(n))
system = para(1000)
open(f"{out}/system.txt", "w").write(system)
tasks = "".join(
    f'[[tasks]]\nprompt = "{para(300)}"\n'
    + "".join(f'[[tasks.steps]]\nkind = "user"\ntext = "{para(300)}"\n' for _ in range(3))
    for _ in range(200))
open(f"{out}/multi_turn.toml", "w").write(f'''name = "multi-turn"
system_prompt = "{system}"
turns_per_session = 4
[tool_think]
dist = "zero"
[user_think]
dist = "zero"
{tasks}''')
PY

  echo "== aiperf: $CONCURRENCY concurrent, 48 conversations of 4 turns, 300 new tokens a turn, 100 out"
  server_ttft >"$OUT/ttft0"
  "$AIPERF" profile -m weir-demo --url "http://127.0.0.1:$PORT" --endpoint-type chat \
    --streaming --concurrency "$CONCURRENCY" --conversation-num 48 --conversation-turn-mean 4 \
    --conversation-turn-stddev 0 --conversation-turn-delay-mean 0 --isl 300 --isl-stddev 0 \
    --osl 100 --osl-stddev 0 --system-prompt-file "$OUT/system.txt" \
    --extra-inputs ignore_eos:true --tokenizer "$TOKENIZER" --per-chunk-usage \
    --use-server-token-count --random-seed 1 --output-artifact-dir "$OUT/aiperf_multi" \
    </dev/null >"$OUT/aiperf_multi.log" 2>&1 || {
    tail -30 "$OUT/aiperf_multi.log"
    exit 1
  }
  server_ttft >"$OUT/ttft1"

  echo "== weir load: $CONCURRENCY sessions of the same 4-turn shape, 40 s after 3 s of warm-up"
  "$WEIR" load --base-url "http://127.0.0.1:$PORT/v1" --model weir-demo \
    --profile "$OUT/multi_turn.toml" --sessions "$CONCURRENCY" --duration 40s --warmup 3s \
    --max-tokens 100 --ignore-eos --quiet --output "$OUT/weir_multi.json" >"$OUT/weir_multi.txt"
  server_ttft >"$OUT/ttft2"
  stop_sim

  python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
pct = lambda v, p: sorted(v)[min(len(v) - 1, int(p * len(v)))]
aiperf = {}
for line in open(f"{out}/aiperf_multi/profile_export.jsonl"):
    r = json.loads(line)
    m = r["metrics"]
    aiperf.setdefault(r["metadata"]["turn_index"] + 1, []).append(
        (m["time_to_first_token"]["value"], m["input_sequence_length"]["value"],
         m.get("usage_prompt_cache_read_tokens", {}).get("value", 0)))
weir = {t["turn"]: t for t in json.load(open(f"{out}/weir_multi.json"))["runs"][0]["by_turn"]}
print("turn  prompt tokens      cached share      TTFT p50 ms        TTFT p90 ms")
print("      aiperf / weir      aiperf / weir     aiperf / weir      aiperf / weir")
for k in sorted(aiperf):
    a, w = aiperf[k], weir[k]
    ttft = [x[0] for x in a]
    prompt = sum(x[1] for x in a) / len(a)
    cached = sum(x[2] for x in a) / sum(x[1] for x in a)
    print(f"{k:4}  {prompt:6.0f} / {w['prompt_tokens_mean']:<6.0f}    "
          f"{cached:5.1%} / {w['cache_hit_share']:<6.1%}    "
          f"{pct(ttft, .5):6.1f} / {w['ttft_p50_ms']:<6.1f}    {pct(ttft, .9):6.1f} / {w['ttft_p90_ms']:.1f}")
def hist(path):
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in open(path))}
h = [hist(f"{out}/ttft{i}") for i in range(3)]
key = lambda s: f'vllm:time_to_first_token_seconds_{s}'
for tool, a, b in (("aiperf", h[0], h[1]), ("weir load", h[1], h[2])):
    d = {k: b[k] - a.get(k, 0.0) for k in b}
    n = d[key('count{model_name="weir-demo"}')]
    s = d[key('sum{model_name="weir-demo"}')]
    fast = d[key('bucket{model_name="weir-demo",le="0.25"}')]
    print(f"server's TTFT during the {tool} run: mean {1000 * s / n:.1f} ms over {n:.0f} "
          f"requests, {1 - fast / n:.1%} over 250 ms")
PY
}

case "$WORKLOAD" in
  single) single_turn ;;
  multi) multi_turn ;;
  both) single_turn; multi_turn ;;
  *) echo "usage: $0 [single|multi|both]" >&2; exit 2 ;;
esac
