#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 20), one after another;
# the first crash fails the script and leaves the input in fuzz/crashes/. The driver is the
# workspace member `accord-fuzz` (a binary; `cargo test` runs no fuzzing).
#
#   fuzz/run.sh                 # every target, 20 s each
#   fuzz/run.sh markdown 300    # one target, five minutes
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
cargo build --locked -p accord-fuzz
bin="${CARGO_TARGET_DIR:-target}/debug/accord-fuzz"
if [ $# -gt 0 ]; then
  "$bin" "$1" --seconds "${2:-$seconds}"
  exit
fi
for target in $("$bin" list); do
  "$bin" "$target" --seconds "$seconds"
done
