"""PyTorch reference for the vanilla-KD recipe (the peer of our `distill demo` and bench/kd.ts).

Recipe (docs/results.md): Fashion-MNIST, 10% of train held out for validation;
  teacher  conv32-pool-conv64-pool-fc256, dropout 0.3, 10 epochs, Adam 1e-3, batch 128
  student  MLP 784-128-128-10, 20 epochs, Adam 1e-3, batch 128
  KD       alpha*CE + (1-alpha)*T^2*KL(softmax(t/T) || softmax(s/T)), T=4, alpha=0.1,
           teacher logits cached once over the transfer set.

Modes:
  --mode quality --seed S    train teacher, baseline and KD student; print test accuracies (JSON)
  --mode speed               random teacher; time caching logits + E KD epochs (JSON seconds)
Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import argparse, gzip, json, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIR = os.environ.get("DISTILL_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = idx(f"{DIR}/{prefix}-images-idx3-ubyte.gz")
    y = idx(f"{DIR}/{prefix}-labels-idx1-ubyte.gz")
    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def teacher_net():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 10))


def student_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def train(model, x, y, epochs, seed, teacher_logits=None, T=4.0, alpha=0.1, batch=128):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch):
            idx_ = perm[i:i + batch]
            s = model(x[idx_])
            if teacher_logits is None:
                loss = F.cross_entropy(s, y[idx_])
            else:
                t = teacher_logits[idx_]
                soft = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
                loss = alpha * F.cross_entropy(s, y[idx_]) + (1 - alpha) * soft
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


@torch.no_grad()
def logits(model, x, batch=512):
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def accuracy(model, x, y):
    return (logits(model, x).argmax(1) == y).float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["quality", "speed"], default="quality")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--teacher-epochs", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # as our trainers, which flush denormals for their run
    torch.manual_seed(a.seed)
    x, y = load("train")
    xt, yt = load("test")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(a.seed))
    nval = len(y) // 10
    xtr, ytr = x[perm[nval:]], y[perm[nval:]]

    if a.mode == "speed":
        teacher = teacher_net()
        t0 = time.perf_counter()
        cached = logits(teacher, xtr)
        torch.manual_seed(a.seed + 1)
        student = student_net()
        train(student, xtr, ytr, a.epochs, a.seed, teacher_logits=cached)
        print(json.dumps({"seconds": time.perf_counter() - t0, "epochs": a.epochs, "threads": a.threads}))
        return

    teacher = teacher_net()
    train(teacher, xtr, ytr, a.teacher_epochs, a.seed)
    cached = logits(teacher, xtr)
    torch.manual_seed(a.seed + 1)
    baseline = student_net()
    init = {k: v.clone() for k, v in baseline.state_dict().items()}
    train(baseline, xtr, ytr, a.epochs, a.seed)
    student = student_net()
    student.load_state_dict(init)
    train(student, xtr, ytr, a.epochs, a.seed, teacher_logits=cached)
    print(json.dumps({"seed": a.seed, "teacher": accuracy(teacher, xt, yt), "baseline": accuracy(baseline, xt, yt),
                      "kd": accuracy(student, xt, yt)}))


main()
