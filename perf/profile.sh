#!/usr/bin/env bash
# Profiles rnn-fast training with perf and draws a flamegraph.
#
# usage: perf/profile.sh [OUT.svg] [rnn-fast bench options...]
#   perf/profile.sh                                   # H 256, 1 stream, the built-in text
#   perf/profile.sh perf/h256-b32.svg --hidden 256 --streams 32 --corpus input.txt
#
# Installs what it needs: perf (Debian's linux-perf, as root) and inferno
# (crates.io) for the flamegraph. The release profile keeps debug info
# (Cargo.toml), so stacks unwind through DWARF and show Rust names.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-perf/flamegraph-h256.svg}"
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--hidden 256)

if ! command -v perf >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null
    else
        echo "perf is not installed (Debian: apt-get install linux-perf)" >&2
        exit 1
    fi
fi
if ! command -v inferno-flamegraph >/dev/null; then
    cargo install inferno --locked --quiet
fi

cargo build --release --quiet
data="$(mktemp /tmp/rnn-fast-perf.XXXXXX)"
trap 'rm -f "$data"' EXIT
perf record --quiet -F 499 --call-graph dwarf,16384 -o "$data" -- \
    target/release/rnn-fast bench --seconds 3 "${args[@]}"
perf report -i "$data" --no-children --stdio --sort symbol 2>/dev/null \
    | grep -E '^ +[0-9]+\.[0-9]+%' | head -15
perf script -i "$data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph \
    --title "rnn-fast bench ${args[*]}" > "$out"
echo "flamegraph: $out"
