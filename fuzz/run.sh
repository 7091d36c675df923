#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 20), one after another;
# the first crash fails the script and leaves the input in fuzz/crashes/. Builds the driver in
# the workspace's target directory, with the workspace's locked dependency versions.
#
#   fuzz/run.sh                 # every target, 20 s each
#   fuzz/run.sh markdown 300    # one target, five minutes
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}"
seconds="${FUZZ_SECONDS:-20}"
cargo build --locked --bin accord-fuzz
bin="$CARGO_TARGET_DIR/debug/accord-fuzz"
if [ $# -gt 0 ]; then
  "$bin" "$1" --seconds "${2:-$seconds}"
  exit
fi
for target in $("$bin" list); do
  "$bin" "$target" --seconds "$seconds"
done
