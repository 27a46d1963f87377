#!/usr/bin/env bash
# Runs `weir load --api responses` (chained: `previous_response_id`,
# `store: true`) against a server that keeps Responses state: Llama Stack's
# built-in Responses provider (PyPI `llama-stack`), which stores each response
# in SQLite and computes every turn through its inference provider, here a
# weir `sim` server's /v1/chat/completions (docs/load-testing.md, "The
# Responses API"). Then the same sessions with `--api responses-stateless`,
# and the per-turn prompt sizes side by side: they match only if the server
# rebuilt each chained turn's conversation from its stored state.
#
#   scripts/crosscheck_responses_llama_stack.sh
#   PYTHON312=/path/to/python3.12 scripts/crosscheck_responses_llama_stack.sh
#   LLAMA_STACK_VENV=/path/to/venv OUT=/tmp/x scripts/crosscheck_responses_llama_stack.sh
#
# Not part of the test command (Llama Stack is a large install that needs
# Python >= 3.12); run by hand. Without LLAMA_STACK_VENV it makes a venv in
# $OUT with the versions this was checked with.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIR=${WEIR:-target/release/weir}
OUT=${OUT:-/tmp/weir-responses-check}
WEIR_PORT=${WEIR_PORT:-8411}
STACK_PORT=${STACK_PORT:-8321}
SESSIONS=${SESSIONS:-8}
TURNS=${TURNS:-5}
mkdir -p "$OUT"

VENV=${LLAMA_STACK_VENV:-$OUT/venv}
if [ ! -x "$VENV/bin/llama" ]; then
  PY=${PYTHON312:-$(command -v python3.12 || command -v python3)}
  "$PY" -c 'import sys; assert sys.version_info >= (3, 12), "llama-stack needs Python >= 3.12 (set PYTHON312)"'
  "$PY" -m venv "$VENV"
  # mcp 2 renamed McpError, which llama-stack 0.7.3 imports; chardet, faiss
  # and the others are what its vector-store and Responses providers load.
  "$VENV/bin/pip" install -q 'llama-stack==0.7.3' 'mcp>=1.23,<2' chardet faiss-cpu \
    matplotlib pandas scikit-learn pypdf
fi

# Llama Stack's vector stores load tiktoken's cl100k_base at start-up, which
# tiktoken fetches from a blob store this machine cannot reach. litellm's
# wheel (PyPI) carries that file under tiktoken's cache name.
TIKTOKEN_CACHE_DIR=$OUT/tiktoken
if [ ! -s "$TIKTOKEN_CACHE_DIR/9b5ad71b2ce5302211f9c61530b329a4922fc6a4" ]; then
  "$VENV/bin/pip" download -q --no-deps litellm -d "$OUT/litellm"
  mkdir -p "$TIKTOKEN_CACHE_DIR"
  unzip -o -j -q "$OUT"/litellm/litellm-*.whl \
    'litellm/litellm_core_utils/tokenizers/9b5ad71b2ce5302211f9c61530b329a4922fc6a4' \
    -d "$TIKTOKEN_CACHE_DIR"
fi
export TIKTOKEN_CACHE_DIR

# weir sim with a real 32k-context tokenizer (the OpenCode profile's prompts
# are ~10k tokens); random tokens, so no tool calls: sessions take their
# scripted steps.
"$WEIR" serve --backend sim --sim-mode random --model bench-models/qwen2-0.5b \
  --served-model-name qwen2 --port "$WEIR_PORT" --sim-decode-step-us 5000 \
  >"$OUT/weir.log" 2>&1 &
WEIR_PID=$!
STACK_PID=
trap 'kill $WEIR_PID $STACK_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$WEIR_PORT/health" >/dev/null && break
  sleep 0.1
done

# The smallest Llama Stack that serves /v1/responses: the Responses provider
# and the APIs it depends on, state in SQLite files under $OUT.
rm -f "$OUT"/*.db
cat >"$OUT/stack.yaml" <<EOF
version: 2
distro_name: weir-responses-check
apis: [files, inference, responses, tool_runtime, vector_io]
providers:
  inference:
  - provider_id: vllm
    provider_type: remote::vllm
    config: {base_url: "http://127.0.0.1:$WEIR_PORT/v1", max_tokens: 4096, api_token: fake}
  vector_io:
  - provider_id: faiss
    provider_type: inline::faiss
    config: {persistence: {namespace: "vector_io::faiss", backend: kv_default}}
  files:
  - provider_id: builtin-files
    provider_type: inline::localfs
    config:
      storage_dir: $OUT/files
      metadata_store: {table_name: files_metadata, backend: sql_default}
  tool_runtime:
  - provider_id: model-context-protocol
    provider_type: remote::model-context-protocol
  responses:
  - provider_id: builtin
    provider_type: inline::builtin
    config:
      persistence:
        agent_state: {namespace: agents, backend: kv_default}
        responses: {table_name: responses, backend: sql_default}
storage:
  backends:
    kv_default: {type: kv_sqlite, db_path: $OUT/kvstore.db}
    sql_default: {type: sql_sqlite, db_path: $OUT/sql_store.db}
  stores:
    metadata: {namespace: registry, backend: kv_default}
    inference: {table_name: inference_store, backend: sql_default}
    conversations: {table_name: openai_conversations, backend: sql_default}
    prompts: {namespace: prompts, backend: kv_default}
    connectors: {namespace: connectors, backend: kv_default}
registered_resources: {models: [], shields: [], vector_dbs: [], datasets: [], scoring_fns: [], benchmarks: []}
server: {port: $STACK_PORT}
EOF
"$VENV/bin/llama" stack run "$OUT/stack.yaml" >"$OUT/stack.log" 2>&1 &
STACK_PID=$!
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$STACK_PORT/v1/models" | grep -q vllm/qwen2 && break
  sleep 0.5
done

for api in responses responses-stateless; do
  echo "== weir load --api $api: $SESSIONS OpenCode sessions, $TURNS turns each, through Llama Stack"
  "$WEIR" load --base-url "http://127.0.0.1:$STACK_PORT/v1" --model vllm/qwen2 --api "$api" \
    --profile opencode --sessions "$SESSIONS" --turns-per-session "$TURNS" --max-tokens 64 \
    --think-scale 0 --seed 7 --quiet --output "$OUT/$api.json"
done

python3 - "$OUT/responses.json" "$OUT/responses-stateless.json" <<'PY'
import json, sys
chained, stateless = (json.load(open(p))["runs"][0] for p in sys.argv[1:])
for name, run in (("chained", chained), ("stateless", stateless)):
    print(f"{name:9}  {run['requests_ok']} ok, errors {run['errors'] or 'none'}")
print("turn  prompt tokens (chained / stateless)  cached share (chained / stateless)")
for a, b in zip(chained["by_turn"], stateless["by_turn"]):
    print(f"{a['turn']:4}  {a['prompt_tokens_mean']:10.0f} / {b['prompt_tokens_mean']:<10.0f}"
          f"            {a['cache_hit_share']:6.1%} / {b['cache_hit_share']:.1%}")
PY
