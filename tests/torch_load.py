#!/usr/bin/env python3
"""Loads an rnn-fast model file into PyTorch by name and scores a text.

usage: torch_load.py MODEL.safetensors TEXT_FILE [--python | --torch]

The file's tensors are PyTorch's: for `--cell lstm` and `--cell gru`,
`weight_ih_l0 [G*H, V]`, `weight_hh_l0 [G*H, H]`, `bias_ih_l0`, `bias_hh_l0
[G*H]` are torch.nn.LSTM's / torch.nn.GRU's state_dict entries as they are
(gates i, f, g, o and r, z, n); the readout `Why [V, H]`, `by [V]` is a
torch.nn.Linear(H, V)'s `weight` and `bias`. For the article's cell
(`rnn`, no `cell` key in the metadata), torch.nn.RNN takes `Wxh` as
`weight_ih_l0`, `Whh` as `weight_hh_l0`, `bh` as `bias_ih_l0` and a zero
`bias_hh_l0`. The input is one-hot, so W_ih x is column x of weight_ih_l0
(an nn.Embedding of weight_ih_l0.T does the same). A stacked model
(`--layers L`, `layers` in the metadata) adds each layer k above the first's
`weight_ih_l{k} [G*H, H]`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`:
nn.LSTM / nn.GRU with num_layers=L (no dropout at evaluation).

Prints {"chars": N, "loss_nats": x, "via": "torch" | "python"}: the mean
of -ln p_t[x_{t+1}] over the text from a zero state, in float64. With
torch importable it runs torch's modules (load_state_dict, strict);
otherwise, or with --python, the same equations in plain Python. With
--torch, a missing torch is an error.
"""
import json, math, struct, sys

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def read_safetensors(path):
    """The model's tensors (nested lists in the file's shape) and metadata;
    a checkpoint's optimizer and training tensors are left out."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name.startswith(("opt.", "train.")):
            continue
        assert info["dtype"] == "F32", (name, info)
        a, b = info["data_offsets"]
        flat = list(struct.unpack("<%df" % ((b - a) // 4), data[a:b]))
        shape = info["shape"]
        if len(shape) == 2:
            rows, cols = shape
            tensors[name] = [flat[r * cols : (r + 1) * cols] for r in range(rows)]
        else:
            tensors[name] = flat
    return tensors, meta


def state_dict(t, cell, layers):
    """The recurrent module's entries, by PyTorch's names."""
    if cell == "rnn":
        return {
            "weight_ih_l0": t["Wxh"],
            "weight_hh_l0": t["Whh"],
            "bias_ih_l0": t["bh"],
            "bias_hh_l0": [0.0] * len(t["bh"]),
        }
    names = ("weight_ih_l%d", "weight_hh_l%d", "bias_ih_l%d", "bias_hh_l%d")
    return {n % k: t[n % k] for k in range(layers) for n in names}


def loss_torch(t, cell, layers, ids, h, v):
    import torch

    module = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
    rnn = module(input_size=v, hidden_size=h, num_layers=layers).double()
    sd = state_dict(t, cell, layers)
    rnn.load_state_dict({k: torch.tensor(x, dtype=torch.float64) for k, x in sd.items()})
    readout = torch.nn.Linear(h, v).double()
    readout.load_state_dict(
        {"weight": torch.tensor(t["Why"], dtype=torch.float64), "bias": torch.tensor(t["by"], dtype=torch.float64)}
    )
    x = torch.tensor(ids[:-1])
    one_hot = torch.nn.functional.one_hot(x, v).double().unsqueeze(1)  # (T, 1, V)
    with torch.no_grad():
        out, _ = rnn(one_hot)
        logits = readout(out.squeeze(1))
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum")
    return loss.item()


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def step(cell, g, h, xi, hh, hs, cs):
    """One step of a layer from (hs, cs) given its input's and its state's
    gate terms: the new (hs, cs)."""
    if cell == "rnn":
        return [math.tanh(xi[j] + hh[j]) for j in range(h)], cs
    if cell == "lstm":
        pre = [a + b for a, b in zip(xi, hh)]
        cs = [sigmoid(pre[h + j]) * cs[j] + sigmoid(pre[j]) * math.tanh(pre[2 * h + j]) for j in range(h)]
        return [sigmoid(pre[3 * h + j]) * math.tanh(cs[j]) for j in range(h)], cs
    r = [sigmoid(xi[j] + hh[j]) for j in range(h)]
    z = [sigmoid(xi[h + j] + hh[h + j]) for j in range(h)]
    n = [math.tanh(xi[2 * h + j] + r[j] * hh[2 * h + j]) for j in range(h)]
    return [(1 - z[j]) * n[j] + z[j] * hs[j] for j in range(h)], cs


def loss_python(t, cell, layers, ids, h, v):
    sd = state_dict(t, cell, layers)
    g = GATES[cell]
    hs = [[0.0] * h for _ in range(layers)]
    cs = [[0.0] * h for _ in range(layers)]
    total = 0.0
    for t_, x in enumerate(ids[:-1]):
        for k in range(layers):
            w_ih, w_hh = sd["weight_ih_l%d" % k], sd["weight_hh_l%d" % k]
            b_ih, b_hh = sd["bias_ih_l%d" % k], sd["bias_hh_l%d" % k]
            if k == 0:
                xi = [w_ih[r][x] + b_ih[r] for r in range(g * h)]
            else:
                xi = [sum(w * xj for w, xj in zip(w_ih[r], hs[k - 1])) + b_ih[r] for r in range(g * h)]
            hh = [sum(w * hj for w, hj in zip(w_hh[r], hs[k])) + b_hh[r] for r in range(g * h)]
            hs[k], cs[k] = step(cell, g, h, xi, hh, hs[k], cs[k])
        top = hs[layers - 1]
        y = [sum(w * hj for w, hj in zip(t["Why"][o], top)) + t["by"][o] for o in range(v)]
        m = max(y)
        total += m + math.log(sum(math.exp(yo - m) for yo in y)) - y[ids[t_ + 1]]
    return total


def fail(message, status=1):
    """One error line on standard error, and the exit status."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        fail("usage: torch_load.py MODEL.safetensors TEXT_FILE [--python | --torch]", 2)
    try:
        t, meta = read_safetensors(args[0])
        cell = meta.get("cell", "rnn")
        chars = json.loads(meta["vocab"])
        h, v, layers = int(meta["hidden"]), len(chars), int(meta.get("layers", "1"))
        if cell not in GATES:
            raise ValueError(f"unknown cell {cell!r}")
    except (OSError, struct.error, ValueError, KeyError, TypeError) as e:
        fail(f"{args[0]} is not an rnn-fast model file that this script reads: {e!r}")
    stoi = {c: i for i, c in enumerate(chars)}
    try:
        text = open(args[1], encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {args[1]} as UTF-8 text: {e}")
    unknown = next((i for i, c in enumerate(text) if c not in stoi), None)
    if unknown is not None:
        fail(f"{args[1]}: character {text[unknown]!r} (character {unknown}) is not in the model's vocabulary")
    if len(text) < 2:
        fail(f"{args[1]}: {len(text)} character{'' if len(text) == 1 else 's'}; at least 2 are needed to score a prediction")
    ids = [stoi[c] for c in text]
    via = "python"
    if "--python" not in sys.argv:
        try:
            import torch  # noqa: F401

            via = "torch"
        except ImportError:
            if "--torch" in sys.argv:
                fail("--torch: torch cannot be imported by this Python")
    total = (loss_torch if via == "torch" else loss_python)(t, cell, layers, ids, h, v)
    n = len(ids) - 1
    print(json.dumps({"chars": n, "loss_nats": total / n, "via": via}))


if __name__ == "__main__":
    main()
