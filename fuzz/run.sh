#!/usr/bin/env bash
# Fuzzes the model/checkpoint loader and the corpus reader for a bounded time
# with the mutation harness in tests/fuzz.rs (random and mutated bytes of a
# valid model and checkpoint; a panic saves the input under $TMPDIR and fails).
#
# usage: fuzz/run.sh [SECONDS] [SEED]     (default 60 s, seed 24301)
set -euo pipefail
cd "$(dirname "$0")/.."
RNN_FAST_FUZZ_SECONDS="${1:-60}" RNN_FAST_FUZZ_SEED="${2:-24301}" \
    cargo test --release --test fuzz -- --ignored --nocapture fuzz_for_a_while
