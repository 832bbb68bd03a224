#!/usr/bin/env python3
"""Training throughput of the article's own NumPy program (its RNN class, run
as published: one stream, a matrix-vector product per character), for
perf/compare.sh.

It reads the program from the article's text (SEED, default
../shared/seed/article-rnn-numpy.txt: the code from `import numpy as np` to
the demo), trains one epoch on the first --chars characters of CORPUS with
H --hidden and T 40, and prints one JSON object:
{"chars_per_sec": ..., "hidden": H, "vocab": V, "numpy": version}.

usage: perf/numpy_article.py CORPUS [--hidden 64] [--chars 100000] [--seed-file SEED]
"""
import argparse
import json
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--chars", type=int, default=100_000)
    ap.add_argument("--seed-file", default="../shared/seed/article-rnn-numpy.txt")
    a = ap.parse_args()

    lines = open(a.seed_file, encoding="utf-8").read().splitlines()
    start = lines.index("import numpy as np")
    end = next(i for i, l in enumerate(lines) if l.startswith("if __name__"))
    program = {}
    exec("\n".join(lines[start:end]), program)
    np = program["np"]

    full = open(a.corpus, encoding="utf-8").read()
    chars = sorted(set(full))  # the whole corpus's vocabulary, as rnn-fast's
    text = full[: a.chars]
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=int)
    rnn = program["RNN"](input_dim=len(chars), hidden_dim=a.hidden, lr=0.1, seed=42, clip=5.0)
    seq_len = 40
    began = time.perf_counter()
    rnn.fit(data, epochs=1, seq_len=seq_len, verbose=False)
    seconds = time.perf_counter() - began
    # The article's loop trains while p + seq_len + 1 < N, seq_len predictions each.
    trained = ((len(data) - 2) // seq_len) * seq_len
    print(json.dumps({
        "chars_per_sec": trained / seconds,
        "hidden": a.hidden,
        "vocab": len(chars),
        "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()
