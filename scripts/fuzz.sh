#!/usr/bin/env bash
# Builds the coverage-guided fuzz targets of fuzz/ on the stable toolchain and
# runs each for SECONDS (default 30); exits non-zero on any crash, failed
# invariant, timeout or memory blow-up. See docs/fuzzing.md.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# The engine is libFuzzer (the libfuzzer-sys crate). The instrumentation is
# the one cargo-fuzz asks rustc for, less the sanitizers, which need a
# nightly compiler: every flag below is a stable `-C` or `--cfg` flag.
# scripts/fuzz-rustc.sh adds it to weir and the targets only, so the
# dependencies already built in target/release by `cargo build --release`
# are reused rather than compiled again. (With cargo-fuzz installed,
# `cd fuzz && cargo fuzz run --sanitizer none TARGET` runs the same targets,
# instrumenting every crate.)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(validate template detok parsers sse)
fi

flags=(
  --cfg fuzzing
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cdebug-assertions
  -Coverflow-checks
)

echo "== building fuzz targets ($(rustc --version))"
# Not --locked: a dependency weir gains after fuzz/Cargo.lock was last
# refreshed is resolved here rather than failing the build (refresh the
# lock from the main one: see docs/fuzzing.md).
RUSTC_WRAPPER="$PWD/scripts/fuzz-rustc.sh" WEIR_FUZZ_RUSTFLAGS="${flags[*]}" \
  CARGO_TARGET_DIR="$PWD/target" \
  cargo build --release --manifest-path fuzz/Cargo.toml \
  $(printf -- '--bin %s ' "${targets[@]}")

# One target's run; its log goes to target/fuzz-logs/TARGET.log.
run_target() {
  local target="$1"
  local corpus="fuzz/corpus/$target"      # the committed seeds
  local work="target/fuzz-corpus/$target" # what a run adds; not committed
  local artifacts="fuzz/artifacts/$target/"
  mkdir -p "$corpus" "$work" "$artifacts" target/fuzz-logs
  local options=()
  if [ -f "fuzz/dicts/$target.dict" ]; then
    options+=(-dict="fuzz/dicts/$target.dict")
  fi
  # Replies long enough to reach the parsers' 4 KiB call-head window, from
  # the start (libFuzzer otherwise grows its length limit slowly).
  if [ "$target" = parsers ]; then
    options+=(-max_len=8192 -len_control=0)
  fi
  # A panic, a timeout (10 s for one input) or 4 GiB of memory stops the
  # run with a non-zero status and leaves the input in fuzz/artifacts/;
  # `target/release/$target fuzz/artifacts/$target/crash-...` replays it.
  local status=0
  "target/release/$target" "$work" "$corpus" "${options[@]}" \
    -max_total_time="$seconds" -artifact_prefix="$artifacts" \
    -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
    >"target/fuzz-logs/$target.log" 2>&1 || status=$?
  echo "$status" >"target/fuzz-logs/$target.status"
}

# As many targets at once as there are cores (FUZZ_JOBS to change it).
jobs="${FUZZ_JOBS:-$(nproc)}"
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  echo "== fuzzing $target for ${seconds}s"
  rm -f "target/fuzz-logs/$target.status"
  run_target "$target" &
done
wait
failed=()
for target in "${targets[@]}"; do
  if [ "$(cat "target/fuzz-logs/$target.status" 2>/dev/null)" != 0 ]; then
    failed+=("$target")
  fi
  log="target/fuzz-logs/$target.log"
  echo "== $target: $(grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units)' "$log" | tr '\n' ' ')"
done
if [ "${#failed[@]}" -gt 0 ]; then
  for target in "${failed[@]}"; do
    echo "== $target FAILED; the end of its log (target/fuzz-logs/$target.log):"
    tail -n 60 "target/fuzz-logs/$target.log"
  done
  exit 1
fi
echo "== fuzz: ${#targets[@]} targets ran ${seconds}s each with no crash"
