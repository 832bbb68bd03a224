#!/usr/bin/env python3
"""The same model and training as `rnn-fast train`, in PyTorch, for comparison.

Model: one-hot input -> nn.RNN(tanh, H) -> nn.Linear(H, V), as the article's
RNN (Wxh, Whh, bh; Why, by). Data: the corpus's characters (sorted set),
the last --val-frac held out; the rest cut into K contiguous streams
(--shards), read in chunks of T characters with the hidden state carried
(detached) between chunks and reset to zero each epoch. Loss: mean
cross-entropy over the chunk; gradients clipped element-wise to [-clip, clip];
Adam (lr 2e-3) or Adagrad or SGD. Every --eval-every trained characters, the
mean cross-entropy on the held-out text (hidden state from zero, carried
through it). `elapsed_s` counts training only, as rnn-fast's --log does.

usage: perf/pytorch_rnn.py CORPUS [--hidden 256] [--seq-len 40] [--shards 32]
         [--optimizer adam] [--lr 0.002] [--threads 1] [--max-seconds 60]
         [--target 1.80] [--log out.csv]
Prints one CSV row per evaluation (elapsed_s,epoch,chars_seen,train_loss,val_loss)
and, at the end, the time at which the validation loss first reached --target.
Needs PyTorch (pip install torch).
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--seq-len", type=int, default=40)
    ap.add_argument("--shards", type=int, default=32)
    ap.add_argument("--optimizer", choices=["adam", "adagrad", "sgd"], default="adam")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-frac", type=float, default=0.05)
    ap.add_argument("--eval-every", type=int, default=200_000)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--target", type=float, default=1.80)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--log", default=None)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    text = open(a.corpus, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    V, H, T, K = len(chars), a.hidden, a.seq_len, a.shards
    n_val = int(len(ids) * a.val_frac)
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    per = (len(train) - 1) // K
    streams = train[: K * per + 1]
    inputs = torch.stack([streams[k * per : (k + 1) * per] for k in range(K)])
    targets = torch.stack([streams[k * per + 1 : (k + 1) * per + 1] for k in range(K)])

    rnn = nn.RNN(V, H, nonlinearity="tanh", batch_first=True)
    out = nn.Linear(H, V)
    params = list(rnn.parameters()) + list(out.parameters())
    lr = a.lr if a.lr is not None else {"adam": 2e-3, "adagrad": 0.05, "sgd": 0.1}[a.optimizer]
    opt = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}[a.optimizer](params, lr=lr)

    def evaluate():
        with torch.no_grad():
            x = F.one_hot(val[:-1], V).float().unsqueeze(0)
            h, _ = rnn(x)
            return F.cross_entropy(out(h[0]), val[1:]).item()

    log = open(a.log, "w") if a.log else None
    header = "elapsed_s,epoch,chars_seen,train_loss,val_loss"
    print(header)
    if log:
        print(header, file=log)
    trained, seen, since, since_loss, hit = 0.0, 0, 0, 0.0, None
    epoch = 0
    while trained < a.max_seconds:
        h = torch.zeros(1, K, H)
        for p in range(0, per, T):
            start = time.perf_counter()
            x = F.one_hot(inputs[:, p : p + T], V).float()
            y = targets[:, p : p + T]
            hs, h = rnn(x, h.detach())
            loss = F.cross_entropy(out(hs).reshape(-1, V), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_value_(params, a.clip)
            opt.step()
            trained += time.perf_counter() - start
            n = y.numel()
            seen += n
            since += n
            since_loss += loss.item() * n
            if since >= a.eval_every or trained >= a.max_seconds:
                v = evaluate()
                row = f"{trained:.3f},{seen / (len(train) - 1):.4f},{seen},{since_loss / since:.6f},{v:.6f}"
                print(row, flush=True)
                if log:
                    print(row, file=log, flush=True)
                if hit is None and v <= a.target:
                    hit = trained
                since, since_loss = 0, 0.0
            if trained >= a.max_seconds:
                break
        epoch += 1
    reached = f"{hit:.1f} s" if hit is not None else f"not within {a.max_seconds} s"
    print(f"validation loss {a.target} reached after {reached} of training", file=sys.stderr)


if __name__ == "__main__":
    main()
