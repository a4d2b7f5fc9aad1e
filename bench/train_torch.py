#!/usr/bin/python3
"""PyTorch peer of bench/train.ts: training samples/s on the CPU for the same three models
(LSTM and GRU: seq 64 x 16 features, 64 units; Transformer: d_model 64, 4 heads, 2 layers,
ff 128, pre-LN, learned positions, last-token pooling), batch 256, Adam (lr 1e-3), BCE on the
sign logit. Run by Debian's /usr/bin/python3 (python3-torch); bench/train.ts runs it under
several OPENBLAS_CORETYPE settings and thread counts and keeps PyTorch's best.

Prints one JSON object: per model, samples/s (wall clock), samples per CPU-second (all
threads; a check on a shared machine) and `loss_check`, the loss after a few fixed
steps from a fixed seed (to confirm a coretype does not change the arithmetic's result).

  /usr/bin/python3 bench/train_torch.py --threads 1 --seconds 2 [--models lstm,gru,transformer]
"""
import argparse
import json
import time

import torch
from torch import nn


class Recurrent(nn.Module):
    def __init__(self, kind, features, units):
        super().__init__()
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(features, units, batch_first=True)
        self.head = nn.Linear(units, 1)

    def forward(self, x):
        hs, _ = self.rnn(x)
        return self.head(hs[:, -1, :]).squeeze(-1)


class Encoder(nn.Module):
    def __init__(self, seq, features, d_model, heads, layers, ff):
        super().__init__()
        self.proj = nn.Linear(features, d_model)
        self.pos = nn.Parameter(torch.randn(seq, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, activation="relu", batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.final_ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x):
        h = self.proj(x) + self.pos
        h = self.final_ln(self.enc(h))
        return self.head(h[:, -1, :]).squeeze(-1)


def build(name):
    if name == "transformer":
        return Encoder(64, 16, 64, 4, 2, 128)
    return Recurrent(name, 16, 64)


def bench(name, seconds, n=4096, batch=256):
    torch.manual_seed(0)
    model = build(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, 64, 16, generator=g)
    y = (torch.rand(n, generator=g) < 0.5).float()

    def step(i):
        at = (i * batch) % n
        xb, yb = X[at:at + batch], y[at:at + batch]
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    # Fixed steps first: their loss must not depend on the BLAS kernel choice.
    for i in range(3):
        check = step(i)
    steps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        step(3 + steps)
        steps += 1
        el = time.perf_counter() - t0
        if el >= seconds and steps >= 3:
            break
    cpu = time.process_time() - c0
    return {"samples_per_s": steps * batch / el, "samples_per_cpu_s": steps * batch / cpu, "steps": steps, "seconds": el, "loss_check": check}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--models", default="lstm,gru,transformer")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = {"torch": torch.__version__, "threads": a.threads, "models": {}}
    for name in a.models.split(","):
        out["models"][name] = bench(name, a.seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
