#!/usr/bin/env bash
# RUSTC_WRAPPER for scripts/fuzz.sh: adds libFuzzer's coverage
# instrumentation to weir and the fuzz targets only. Dependencies compile
# exactly as in `cargo build --release`, so the fuzz build reuses them from
# target/release instead of compiling the whole tree again.
rustc="$1"
shift
crate=""
prev=""
for arg in "$@"; do
  if [ "$prev" = "--crate-name" ]; then
    crate="$arg"
    break
  fi
  prev="$arg"
done
case "$crate" in
  weir | validate | template | detok | parsers | sse)
    exec "$rustc" "$@" $WEIR_FUZZ_RUSTFLAGS
    ;;
esac
exec "$rustc" "$@"
