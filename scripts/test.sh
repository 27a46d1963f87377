#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs all of them.
#   - Rust: fmt, clippy, unit tests and end-to-end tests (real HTTP server on
#     loopback, real tiny models from tests/models, real SQLite later).
#   - Python: the official OpenAI SDK against a running `weir serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== python test clients"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/python/requirements.txt

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings

echo "== cargo test (unit + end-to-end)"
cargo test --release

echo "== OpenAI SDK against weir"
cargo build --release --bin weir
WEIR_BIN="$PWD/target/release/weir" .venv/bin/python -m pytest -q tests/python
