#!/usr/bin/env bash
# rnn-fast against PyTorch, side by side, in one run on this machine.
#
# usage: perf/compare.sh [SECONDS] [REPS] > perf/compare-MACHINE.md
#
# For each case (corpus, H, streams per thread B, threads) it runs, REPS
# times and interleaved, `rnn-fast bench` and perf/pytorch_bench.py with
# one-hot and with embedding input, each for SECONDS, and writes a markdown
# table of the medians (with the spread) and the ratio to the faster
# PyTorch input: the median (and spread) of each repetition's own ratio,
# its three runs back to back. The same total number of streams is trained on both sides:
# B × threads (rnn-fast: that many shards in groups of B, one group per
# thread). The table's head names the machine (CPU model, caches) and the
# FMA peak rnn-fast measures in the same run.
#
# CASES (optional) limits the cases, e.g. CASES="tinyshakespeare.txt:256:32:1";
# a fifth field names the cell (rnn, the default; gru; lstm): both sides then
# train that cell (rnn-fast bench --cell, nn.GRU / nn.LSTM), and a sixth its
# layers (1, the default; rnn-fast bench --layers, PyTorch's num_layers).
# PyTorch and NumPy: PYTHON, or perf/.venv (made with `pip install torch numpy`
# when either is absent).
# Corpora: RNN_FAST_CORPORA or ../shared/corpora.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-2}
REPS=${2:-3}
CORPORA=${RNN_FAST_CORPORA:-../shared/corpora}
cargo build --release -q
BIN=target/release/rnn-fast
PY=${PYTHON:-perf/.venv/bin/python}
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
    python3 -m venv perf/.venv
    perf/.venv/bin/pip install -q torch numpy
    PY=perf/.venv/bin/python
fi

if [ -z "${CASES:-}" ]; then
    CASES=""
    for corpus in tinyshakespeare.txt japanese-aozora.txt; do
        for h in 64 256 512; do
            for b in 1 4 32; do
                for t in 1 2; do
                    CASES="$CASES $corpus:$h:$b:$t"
                done
            done
        done
    done
    for cell in gru lstm; do
        for b in 1 32; do
            CASES="$CASES tinyshakespeare.txt:256:$b:1:$cell"
        done
    done
fi

peak=$("$BIN" bench --hidden 64 --seconds 0.5 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["peak_gflops"]))')
model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
caches=$(lscpu | grep -E '^(L1d|L2|L3) cache' | sed 's/ cache: */ /; s/  */ /g' | paste -sd ',' -)
torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
echo "Machine: $model; $caches (all cores); $(nproc) cores. rnn-fast measured FMA peak $peak GFLOP/s per core (f32x16 where AVX-512). PyTorch $torch_version. ${SECONDS_EACH} s per run, median of $REPS interleaved runs (min-max)."
echo
echo "| corpus (V) | cell | H | streams × threads | rnn-fast chars/s | PyTorch one-hot | PyTorch embedding | ratio (per repetition) | rnn-fast % of peak |"
echo "|---|---|---|---|---|---|---|---|---|"
for case in $CASES; do
    IFS=: read -r corpus h b t cell layers <<<"$case"
    cell=${cell:-rnn}
    layers=${layers:-1}
    total=$((b * t))
    file="$CORPORA/$corpus"
    results=$(mktemp)
    for _ in $(seq "$REPS"); do
        "$BIN" bench --corpus "$file" --cell "$cell" --layers "$layers" --hidden "$h" --streams "$b" --shards "$total" --threads "$t" \
            --seconds "$SECONDS_EACH" --json | sed 's/^/rnn /' >>"$results"
        for input in onehot embedding; do
            "$PY" perf/pytorch_bench.py "$file" --cell "$cell" --layers "$layers" --hidden "$h" --streams "$total" --threads "$t" \
                --input "$input" --seconds "$SECONDS_EACH" | sed "s/^/$input /" >>"$results"
        done
    done
    label=$cell
    [ "$layers" = 1 ] || label="$cell × $layers"
    python3 - "$results" "$corpus" "$h" "$b" "$t" "$label" <<'EOF'
import json, statistics, sys
path, corpus, h, b, t, cell = sys.argv[1:]
runs = {"rnn": [], "onehot": [], "embedding": []}
frac, vocab = [], "?"
for line in open(path):
    kind, _, js = line.partition(" ")
    d = json.loads(js)
    runs[kind].append(d["chars_per_sec"])
    if kind == "rnn":
        frac.append(d["fraction_of_peak"])
        vocab = d["vocab"]
def spread(xs):
    return f"{statistics.median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"
# Each repetition's ratio: rnn-fast against the faster PyTorch input of the
# same repetition, run right after it, so that a slow spell of a shared
# machine weighs on both sides of a ratio; the median of these, and their spread.
ratios = [r / max(o, e) for r, o, e in zip(runs["rnn"], runs["onehot"], runs["embedding"])]
ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
print(f"| {corpus} ({vocab}) | {cell} | {h} | {b} × {t} | {spread(runs['rnn'])} | {spread(runs['onehot'])} | "
      f"{spread(runs['embedding'])} | {ratio} | {100 * statistics.median(frac):.0f}% |")
EOF
    rm -f "$results"
done

# The article's own NumPy program (H 64, one stream) against rnn-fast at the
# same size: with rnn-fast's default update (Adam: two moments, a square root
# and a division a weight) and with the article's (SGD: w -= lr · g).
echo
echo "| program | H | update | chars/s | ratio |"
echo "|---|---|---|---|---|"
results=$(mktemp)
for _ in $(seq "$REPS"); do
    for rule in adam sgd; do
        "$BIN" bench --corpus "$CORPORA/tinyshakespeare.txt" --hidden 64 --streams 1 --shards 1 --optimizer "$rule" \
            --seconds "$SECONDS_EACH" --json | sed "s/^/$rule /" >>"$results"
    done
    # Unset the OpenBLAS overrides of this workplace: they slow a current numpy.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" perf/numpy_article.py \
        "$CORPORA/tinyshakespeare.txt" --hidden 64 --seed-file "${SEED_FILE:-../shared/seed/article-rnn-numpy.txt}" \
        | sed 's/^/numpy /' >>"$results"
done
python3 - "$results" <<'EOF2'
import json, statistics, sys
runs = {"adam": [], "sgd": [], "numpy": []}
for line in open(sys.argv[1]):
    kind, _, js = line.partition(" ")
    runs[kind].append(json.loads(js)["chars_per_sec"])
def cell(xs):
    return f"{statistics.median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"
print(f"| the article's NumPy program | 64 | SGD | {cell(runs['numpy'])} | 1 |")
for rule, name in [("adam", "Adam (the default)"), ("sgd", "SGD (the article's)")]:
    # Per repetition, as above.
    ratios = [r / n for r, n in zip(runs[rule], runs["numpy"])]
    ratio = f"{statistics.median(ratios):.0f}x ({min(ratios):.0f}-{max(ratios):.0f})"
    print(f"| rnn-fast bench --optimizer {rule}, 1 thread | 64 | {name} | {cell(runs[rule])} | {ratio} |")
EOF2
rm -f "$results"
