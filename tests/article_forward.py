#!/usr/bin/env python3
"""The article's forward pass, in plain Python (no NumPy), on the weights of
an rnn-fast model file read with nothing but the safetensors format spec:
8-byte little-endian header length, JSON header, raw little-endian tensors.

usage: article_forward.py MODEL.safetensors TEXT_FILE
prints {"chars": N, "loss_nats": x}: the mean of -ln p_t[x_{t+1}] over the
text, hidden state from zeros, as the article's RNN.forward computes it
(without its 1e-12, which changes nothing at this precision for p > 1e-7).
"""
import json, math, struct, sys


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    tensors = {}
    for name in ("Wxh", "Whh", "Why", "bh", "by"):  # a checkpoint holds more; the model is these
        info = header[name]
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        flat = list(struct.unpack("<%df" % ((b - a) // 4), data[a:b]))
        shape = info["shape"]
        if len(shape) == 2:
            rows, cols = shape
            tensors[name] = [flat[r * cols : (r + 1) * cols] for r in range(rows)]
        else:
            tensors[name] = flat
    return tensors, meta


def main():
    t, meta = read_safetensors(sys.argv[1])
    chars = json.loads(meta["vocab"])
    stoi = {c: i for i, c in enumerate(chars)}
    text = open(sys.argv[2], encoding="utf-8").read()
    ids = [stoi[c] for c in text]
    Wxh, Whh, Why, bh, by = t["Wxh"], t["Whh"], t["Why"], t["bh"], t["by"]
    H, V = len(Whh), len(Why)
    h = [0.0] * H
    loss = 0.0
    for x, target in zip(ids, ids[1:]):
        h = [math.tanh(Wxh[i][x] + sum(w * hj for w, hj in zip(Whh[i], h)) + bh[i]) for i in range(H)]
        y = [sum(w * hj for w, hj in zip(Why[o], h)) + by[o] for o in range(V)]
        m = max(y)
        e = [math.exp(v - m) for v in y]
        loss -= math.log(e[target] / sum(e))
    print(json.dumps({"chars": len(ids) - 1, "loss_nats": loss / (len(ids) - 1)}))


main()
