"""PyTorch peer of bench/engine.ts: the same models, batches and optimizer, timed the same way.

Usage: /usr/bin/python3 bench/engine_torch.py --model mlp|cnn --steps N --warmup W --threads T [--serve]
Prints one JSON object: {"model", "step_ms": [...], "threads"}; with --serve, warms up and then
times steps on request (bench/peer_loop.py), for alternating rounds.
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp():
    return nn.Sequential(nn.Linear(784, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(), nn.Linear(1200, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["mlp", "cnn"], required=True)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.model == "mlp":
        model, batch, x = mlp(), 128, None
        x = torch.randn(batch, 784)
    else:
        model, batch = cnn(), 64
        x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    if a.serve:
        from peer_loop import serve
        return serve(step, {"threads": torch.get_num_threads()})
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"model": a.model, "threads": a.threads, "step_ms": times}))


main()
