#!/usr/bin/env bash
# Time to reach a validation loss on Tiny Shakespeare (last 5% held out):
# rnn-fast with its default settings (`rnn-fast train CORPUS`, only the
# thread count and the log given) at 1 and 2 threads (avg: the same model
# at both), and PyTorch (perf/pytorch_rnn.py: nn.RNN H 256, T 40, Adam
# 0.002, batch 32, the issue's reference) at 1 and 2 threads. Training time
# only (evaluations excluded), both sides; the epoch of the first report at
# or under the target is printed beside its time.
#
# usage: perf/time_to_loss.sh [CORPUS] [TARGET] [SECONDS]
#   CORPUS   default: $RNN_FAST_CORPORA/tinyshakespeare.txt or ../shared/corpora/...
#   TARGET   validation loss in nats/char (default 1.80)
#   SECONDS  time limit of each PyTorch run (default 60); rnn-fast runs its default epochs
# PyTorch runs when `python3 -c 'import torch'` works (or set PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-${RNN_FAST_CORPORA:-../shared/corpora}/tinyshakespeare.txt}"
target="${2:-1.80}"
secs="${3:-60}"
python="${PYTHON:-python3}"
out="$(mktemp -d /tmp/rnn-fast-ttl.XXXXXX)"
cargo build --release --quiet

# first_hit CSV: elapsed_s and epoch of the first row with val_loss <= target, and the best val_loss.
first_hit() {
    python3 - "$1" "$target" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["val_loss"]]
t = float(sys.argv[2])
hit = next((r for r in rows if float(r["val_loss"]) <= t), None)
best = min(float(r["val_loss"]) for r in rows)
print(f"{float(hit['elapsed_s']):.1f} s (epoch {float(hit['epoch']):.2f})" if hit else "not reached", f"| {best:.3f}")
PY
}

echo "| run | threads | time to val $target | best val |"
echo "|---|---|---|---|"
for threads in 1 2; do
    log="$out/rnn-fast-$threads.csv"
    target/release/rnn-fast train "$corpus" --threads "$threads" --sample-len 0 \
        --log "$log" -o "$out/rnn-fast-$threads.safetensors" > "$out/rnn-fast-$threads.out" 2>&1
    echo "| rnn-fast, default settings | $threads | $(first_hit "$log") |"
done
if "$python" -c 'import torch' 2>/dev/null; then
    for threads in 1 2; do
        log="$out/pytorch-$threads.csv"
        "$python" perf/pytorch_rnn.py "$corpus" --hidden 256 --seq-len 40 --optimizer adam \
            --shards 32 --threads "$threads" --max-seconds "$secs" --target "$target" \
            --log "$log" > /dev/null 2>&1
        echo "| PyTorch $("$python" -c 'import torch; print(torch.__version__)') nn.RNN, batch 32 | $threads | $(first_hit "$log") |"
    done
else
    echo "(PyTorch not installed: pip install torch, or set PYTHON to an interpreter that has it)"
fi
echo "logs: $out"
