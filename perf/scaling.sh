#!/usr/bin/env bash
# Throughput against threads: `rnn-fast bench` for avg and hogwild, H 256 and
# 512, at 1, 2, 4, ... threads up to the number of cores (or the list given),
# with train's default shards for the corpus (64 in groups of 4 streams on a
# megabyte corpus: 16 groups), and the scaling
# efficiency (chars/s at N threads / (N × chars/s at 1 thread)).
#
# usage: perf/scaling.sh [CORPUS] [THREADS...]
#   perf/scaling.sh ../shared/corpora/tinyshakespeare.txt 1 2 4 8 16
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-${RNN_FAST_CORPORA:-../shared/corpora}/tinyshakespeare.txt}"
shift || true
threads=("$@")
if [ ${#threads[@]} -eq 0 ]; then
    n=$(nproc); t=1
    while [ "$t" -le "$n" ]; do threads+=("$t"); t=$((t * 2)); done
fi
cargo build --release --quiet
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "| H | parallel | threads | chars/s | GFLOP/s | scaling efficiency |"
echo "|---|---|---|---|---|---|"
for h in 256 512; do
    for parallel in avg hogwild; do
        base=""
        for t in "${threads[@]}"; do
            json=$(target/release/rnn-fast bench --corpus "$corpus" --hidden "$h" --threads "$t" \
                --parallel "$parallel" --seconds 3 --json)
            read -r cps gflops < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["chars_per_sec"], d["gflops"])' "$json")
            [ -n "$base" ] || base=$cps
            eff=$(python3 -c "print(f'{$cps / ($t * $base):.2f}')")
            printf '| %s | %s | %s | %.0f | %.1f | %s |\n' "$h" "$parallel" "$t" "$cps" "$gflops" "$eff"
        done
    done
done
