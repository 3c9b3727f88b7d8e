"""PyTorch mirror of the project's LM trainer (src/lm/model.ts + src/reason/sft.ts), for
runs on a GPU machine where our libtorch addon is not built. Same architecture and
parameter names, AdamW + linear warm-up + cosine, SFT loss on completion tokens only.

  python3 scripts/lm_torch.py DATA.json OUTDIR

bench/lm.ts writes such a DATA file (token ids from our ByteTokenizer) and times this
script against our trainer; the shipped reasoning teacher was trained by it on a GPU
(assets/reasoning-teacher/lm.json says how).

DATA: {"config": LmConfig, "train": [{"prompt": [...], "completion": [...]}],
       "test": [{"prompt": [...], "answer": "6, 4"}], "steps", "batchSize", "lr", "seed", "eos"}
Writes OUTDIR/model.safetensors (float32, our names) and OUTDIR/log.json.
"""
import json, math, sys, time, os
import torch
import torch.nn as nn
import torch.nn.functional as F

dev = "cuda" if torch.cuda.is_available() else "cpu"


class RMSNorm(nn.Module):
    def __init__(s, d, eps):
        super().__init__(); s.weight = nn.Parameter(torch.ones(d)); s.eps = eps
    def forward(s, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + s.eps) * s.weight


class Attn(nn.Module):
    def __init__(s, c):
        super().__init__(); d, H, K = c["dim"], c["nHeads"], c["nKvHeads"]; hd = d // H
        s.H, s.K, s.hd = H, K, hd
        s.q_proj = nn.Linear(d, H * hd, bias=False); s.k_proj = nn.Linear(d, K * hd, bias=False)
        s.v_proj = nn.Linear(d, K * hd, bias=False); s.o_proj = nn.Linear(H * hd, d, bias=False)
    def forward(s, x, cos, sin):
        B, T, _ = x.shape
        q = s.q_proj(x).view(B, T, s.H, s.hd).transpose(1, 2)
        k = s.k_proj(x).view(B, T, s.K, s.hd).transpose(1, 2)
        v = s.v_proj(x).view(B, T, s.K, s.hd).transpose(1, 2)
        rot = lambda t: torch.cat((-t[..., s.hd // 2:], t[..., :s.hd // 2]), -1)
        q = q * cos + rot(q) * sin; k = k * cos + rot(k) * sin
        k = k.repeat_interleave(s.H // s.K, 1); v = v.repeat_interleave(s.H // s.K, 1)
        if hasattr(F, "scaled_dot_product_attention"):
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # PyTorch < 2.0
            mask = torch.full((T, T), float("-inf"), device=x.device).triu(1)
            a = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(s.hd) + mask, -1) @ v
        return s.o_proj(a.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(s, d, h):
        super().__init__()
        s.gate_proj = nn.Linear(d, h, bias=False); s.up_proj = nn.Linear(d, h, bias=False); s.down_proj = nn.Linear(h, d, bias=False)
    def forward(s, x):
        return s.down_proj(F.silu(s.gate_proj(x)) * s.up_proj(x))


class Block(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.input_layernorm = RMSNorm(c["dim"], c["normEps"]); s.self_attn = Attn(c)
        s.post_attention_layernorm = RMSNorm(c["dim"], c["normEps"]); s.mlp = MLP(c["dim"], c["hiddenDim"])
    def forward(s, x, cos, sin):
        h = x + s.self_attn(s.input_layernorm(x), cos, sin)
        return h + s.mlp(s.post_attention_layernorm(h))


class LM(nn.Module):
    def __init__(s, c):
        super().__init__(); s.c = c
        s.embed_tokens = nn.Embedding(c["vocabSize"], c["dim"])
        s.layers = nn.ModuleList([Block(c) for _ in range(c["nLayers"])])
        s.norm = RMSNorm(c["dim"], c["normEps"])
        if not c["tieEmbeddings"]:
            s.lm_head = nn.Linear(c["dim"], c["vocabSize"], bias=False)
        for n, p in s.named_parameters():
            if not n.endswith("layernorm.weight") and n != "norm.weight":
                nn.init.normal_(p, 0, 0.02)
        hd = c["dim"] // c["nHeads"]
        inv = 1.0 / (c["ropeTheta"] ** (torch.arange(0, hd, 2).float() / hd))
        f = torch.outer(torch.arange(c["maxSeqLen"]).float(), inv); e = torch.cat((f, f), -1)
        s.register_buffer("cos", e.cos(), persistent=False); s.register_buffer("sin", e.sin(), persistent=False)
    def forward(s, ids):
        T = ids.shape[1]; x = s.embed_tokens(ids)
        for b in s.layers:
            x = b(x, s.cos[:T], s.sin[:T])
        x = s.norm(x)
        return s.lm_head(x) if hasattr(s, "lm_head") else x @ s.embed_tokens.weight.T


def batch(exs, eos):
    seqs = [e["prompt"] + e["completion"] for e in exs]
    T = max(len(q) for q in seqs) - 1
    inp = torch.full((len(exs), T), eos, dtype=torch.long); tgt = torch.full((len(exs), T), -100, dtype=torch.long)
    for b, (e, q) in enumerate(zip(exs, seqs)):
        n = len(q) - 1
        inp[b, :n] = torch.tensor(q[:-1]); t = torch.tensor(q[1:])
        t[: len(e["prompt"]) - 1] = -100; tgt[b, :n] = t
    return inp.to(dev), tgt.to(dev)


@torch.no_grad()
def accuracy(m, test, eos, decode_max=200):
    m.eval(); ok = 0
    for p in test:
        ids = list(p["prompt"]); out = []
        for _ in range(decode_max):
            z = m(torch.tensor([ids], device=dev))[0, -1]
            t = int(z.argmax())
            if t == eos: break
            out.append(t); ids.append(t)
        text = bytes([t for t in out if t < 256]).decode("utf8", "replace")
        ok += ("\\boxed{" + p["answer"] + "}") in text
    m.train(); return ok / len(test)


def train(d, out):
    torch.manual_seed(d.get("seed", 0))
    c = d["config"]; m = LM(c).to(dev)
    steps, bs, lr = d["steps"], d["batchSize"], d["lr"]; warm = min(100, steps // 10)
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (0.01 + 0.99 * s / warm) if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    tr = d["train"]; g = torch.Generator().manual_seed(d.get("seed", 0)); log = []; t0 = time.time(); order = []
    for step in range(steps):
        if len(order) < bs: order += torch.randperm(len(tr), generator=g).tolist()
        idx, order = order[:bs], order[bs:]
        inp, tgt = batch([tr[i] for i in idx], d["eos"])
        loss = F.cross_entropy(m(inp).reshape(-1, c["vocabSize"]), tgt.reshape(-1), ignore_index=-100)
        opt.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); sched.step()
        if (step + 1) % 100 == 0:
            log.append({"step": step + 1, "loss": loss.item(), "s": time.time() - t0}); print(out, log[-1], flush=True)
        if (step + 1) in d.get("evalAt", []):
            a = accuracy(m, d["test"][: d.get("evalN", 100)], d["eos"]); log.append({"step": step + 1, "acc": a}); print(out, "acc", step + 1, a, flush=True)
    os.makedirs(out, exist_ok=True)
    from safetensors.torch import save_file
    save_file({k: v.detach().float().cpu().contiguous() for k, v in m.state_dict().items()}, os.path.join(out, "model.safetensors"))
    json.dump(log, open(os.path.join(out, "log.json"), "w"))


if __name__ == "__main__":
    train(json.load(open(sys.argv[1])), sys.argv[2])
