#!/usr/bin/env python3
"""Reorders a text so that rnn-fast holds out what char-rnn holds out.

usage: perf/charrnn_split.py INPUT OUTPUT [--batch 50] [--seq 50] [--train-frac 0.95]

char-rnn's loader (util/CharSplitLMMinibatchLoader.lua) cuts the text to a
multiple of batch·seq, lays it out as `batch` rows and validates on the last
(1 - train_frac) of the seq-wide column blocks: the end of each row, 50
pieces spread over the whole text, where rnn-fast's --val-frac holds out
the end of the text. OUTPUT is the training pieces row by row, then the
validation pieces row by row; the script prints the --val-frac that holds
out exactly the latter, so that `rnn-fast train OUTPUT --val-frac F`
validates on char-rnn's held-out text (its default train_frac 0.95, val
0.05, test 0). The pieces are joined end to end: 50 joins in each part.
It counts characters, as rnn-fast does (char-rnn counts bytes: the same for
ASCII text such as Tiny Shakespeare).
"""
import argparse
import sys

p = argparse.ArgumentParser()
p.add_argument("input")
p.add_argument("output")
p.add_argument("--batch", type=int, default=50)
p.add_argument("--seq", type=int, default=50)
p.add_argument("--train-frac", type=float, default=0.95)
a = p.parse_args()

data = open(a.input, encoding="utf-8").read()
block = a.batch * a.seq
n = len(data) // block * block
if n == 0:
    sys.exit(f"{a.input}: shorter than one batch ({block} characters)")
row = n // a.batch
cut = int(row // a.seq * a.train_frac) * a.seq
rows = [data[r * row:(r + 1) * row] for r in range(a.batch)]
train = "".join(r[:cut] for r in rows)
val = "".join(r[cut:] for r in rows)
with open(a.output, "w", encoding="utf-8", newline="") as f:
    f.write(train + val)
# rnn-fast holds out floor(characters · F): half a character over the
# validation length keeps the rounding on it.
frac = (len(val) + 0.5) / n
print(f"--val-frac {frac:.7f}  ({len(val)} of {n} characters held out)")
