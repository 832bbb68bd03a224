#!/usr/bin/env python3
"""Training throughput of the same model in PyTorch, for perf/compare.sh.

The model and update of `rnn-fast bench`: a tanh nn.RNN of H units (or,
with --cell, nn.GRU or nn.LSTM, as `rnn-fast bench --cell`) and an
nn.Linear(H, V) readout, B streams of T = 40 characters per chunk, mean
cross-entropy, element-wise clip 5, Adam lr 2e-3, one update per chunk. The
input is one-hot (`--input onehot`, the article's: nn.RNN's input product is
`Wxh x`) or an nn.Embedding(V, H) lookup feeding nn.RNN(H, H) (`--input
embedding`, PyTorch's usual path for large vocabularies: a row gather instead
of the one-hot product, at the price of one more H × H input product).
Trains for a warm-up and then --seconds, and prints one JSON object:
{"chars_per_sec": ..., "hidden": H, "streams": B, "vocab": V, "threads": N,
 "input": ..., "cell": ..., "torch": version}.

usage: perf/pytorch_bench.py CORPUS [--hidden 256] [--streams 32]
         [--threads 1] [--input onehot|embedding] [--cell rnn|gru|lstm]
         [--seconds 3]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--input", choices=["onehot", "embedding"], default="onehot")
    ap.add_argument("--cell", choices=["rnn", "gru", "lstm"], default="rnn")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    text = open(a.corpus, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    V, H, T, B = len(chars), a.hidden, a.seq_len, a.streams
    per = (len(ids) - 1) // B
    inputs = torch.stack([ids[k * per : (k + 1) * per] for k in range(B)])
    targets = torch.stack([ids[k * per + 1 : (k + 1) * per + 1] for k in range(B)])

    embed = nn.Embedding(V, H) if a.input == "embedding" else None
    n_in = H if embed is not None else V
    if a.cell == "rnn":
        rnn = nn.RNN(n_in, H, nonlinearity="tanh", num_layers=a.layers, batch_first=True)
    else:
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[a.cell](n_in, H, num_layers=a.layers, batch_first=True)
    out = nn.Linear(H, V)
    params = list(rnn.parameters()) + list(out.parameters())
    if embed is not None:
        params += list(embed.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)

    def step(p, h):
        xs = inputs[:, p : p + T]
        x = embed(xs) if embed is not None else F.one_hot(xs, V).float()
        y = targets[:, p : p + T]
        h = tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()
        hs, h = rnn(x, h)
        loss = F.cross_entropy(out(hs).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, 5.0)
        opt.step()
        return h, y.numel()

    def zero_state():
        z = torch.zeros(a.layers, B, H)
        return (z, z.clone()) if a.cell == "lstm" else z

    h, p = zero_state(), 0
    chars, start, warm = 0, time.perf_counter(), 0.3
    measuring = False
    while True:
        if p + T > per:
            h, p = zero_state(), 0
        h, n = step(p, h)
        p += T
        elapsed = time.perf_counter() - start
        if not measuring and elapsed >= warm:
            measuring, chars, start = True, 0, time.perf_counter()
            continue
        if measuring:
            chars += n
            if elapsed >= a.seconds:
                break
    seconds = time.perf_counter() - start
    print(json.dumps({
        "chars_per_sec": chars / seconds,
        "hidden": H,
        "streams": B,
        "vocab": V,
        "threads": a.threads,
        "input": a.input,
        "cell": a.cell,
        "layers": a.layers,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
