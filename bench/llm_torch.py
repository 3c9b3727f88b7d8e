"""PyTorch peer of bench/llm.ts: the Llama / Qwen2 causal LM in plain torch (transformers is not
installed here), written like Hugging Face's eager modeling_llama.py / modeling_qwen2.py (and
test/helpers/llama_ref.py): RMSNorm, rotate-half RoPE, GQA by repeat, matmul-softmax-matmul
attention with an additive causal mask, SwiGLU, tied head; PEFT-style LoRA on nn.Linear.
Random init; the same shapes, dtype, loss and threads as ours, not the same weights (timing).

  /usr/bin/python3 bench/llm_torch.py --part train|lora|sgemm|matmul --shape smol|qwen|tiny|tiny-qwen
      --seq T --warmup W --steps N --threads K [--dtype float32|bfloat16] [--amp] [--lora-r 16 --lora-alpha 32]

--amp: the forward under torch.autocast('cpu', dtype=torch.bfloat16) (float32 weights and AdamW
state, the logits upcast for the loss, backward outside the scope): bench/llm.ts's _bf16 parts.

Prints one JSON line: {"step_ms": [...], "peak_rss_mb", "faults_per_step", "params", "trainable"}
(sgemm: {"gflops": best of the reps}; matmul: {"ms": {dtype: median ms}}).
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The shapes of bench/llm.ts (SHAPES there): Hugging Face config.json values.
SHAPES = {
    "smol": dict(arch="llama", vocab=49152, d=576, layers=30, heads=9, kv=3, mlp=1536, theta=100000.0, eps=1e-5, qkv_bias=False),
    "qwen": dict(arch="qwen2", vocab=151936, d=896, layers=24, heads=14, kv=2, mlp=4864, theta=1000000.0, eps=1e-6, qkv_bias=True),
    # --quick: the same code paths at toy size
    "tiny": dict(arch="llama", vocab=512, d=64, layers=2, heads=4, kv=2, mlp=128, theta=10000.0, eps=1e-5, qkv_bias=False),
    "tiny-qwen": dict(arch="qwen2", vocab=1024, d=64, layers=2, heads=4, kv=2, mlp=160, theta=10000.0, eps=1e-6, qkv_bias=True),
}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        # LlamaRMSNorm: statistics in float32, back to the input's dtype (identity casts in float32)
        dt = x.dtype
        x = x.float()
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)).to(dt)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.H, self.Hkv, self.hd = c["heads"], c["kv"], c["d"] // c["heads"]
        b = c["qkv_bias"]
        self.q_proj = nn.Linear(c["d"], self.H * self.hd, bias=b)
        self.k_proj = nn.Linear(c["d"], self.Hkv * self.hd, bias=b)
        self.v_proj = nn.Linear(c["d"], self.Hkv * self.hd, bias=b)
        self.o_proj = nn.Linear(self.H * self.hd, c["d"], bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.hd).transpose(1, 2)  # (B, H, T, h)
        k = self.k_proj(x).view(B, T, self.Hkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.Hkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.H // self.Hkv  # repeat_kv: (B, Hkv, T, h) → (B, H, T, h)
        k = k[:, :, None].expand(B, self.Hkv, rep, T, self.hd).reshape(B, self.H, T, self.hd)
        v = v[:, :, None].expand(B, self.Hkv, rep, T, self.hd).reshape(B, self.H, T, self.hd)
        scores = q @ k.transpose(2, 3) * self.hd ** -0.5 + mask  # (B, H, T, T)
        out = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype) @ v  # HF eager: softmax in float32
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.H * self.hd))


class MLP(nn.Module):
    def __init__(self, d, m):
        super().__init__()
        self.gate_proj = nn.Linear(d, m, bias=False)
        self.up_proj = nn.Linear(d, m, bias=False)
        self.down_proj = nn.Linear(m, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["d"], c["eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["d"], c["eps"])
        self.mlp = MLP(c["d"], c["mlp"])

    def forward(self, x, cos, sin, mask):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class CausalLM(nn.Module):
    """Tied embeddings, as both real shapes."""

    def __init__(self, c, max_len):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab"], c["d"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["d"], c["eps"])
        for n, p in self.named_parameters():  # Hugging Face's _init_weights
            if n.endswith(".bias"):
                nn.init.zeros_(p)
            elif p.dim() > 1:
                nn.init.normal_(p, 0, 0.02)
        hd = c["d"] // c["heads"]
        inv = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        freqs = torch.arange(max_len).float()[:, None] * inv[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)  # (T, h)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def hidden(self, ids):
        T = ids.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.embed_tokens(ids)
        cos, sin = self.cos[:T].to(x.dtype), self.sin[:T].to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin, mask.to(x.dtype))
        return self.norm(x)

    def forward(self, ids):
        return self.hidden(ids) @ self.embed_tokens.weight.T  # (B, T, V)


class LoraLinear(nn.Module):
    """PEFT's lora.Linear: base(x) + lora_B(lora_A(x)) · alpha/r; A kaiming-uniform(a=√5), B zero."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def apply_lora(model, r, alpha, adapter_dtype=None):
    """adapter_dtype: the adapters' dtype (default: the base's; PEFT keeps them float32 on a bf16 base)."""
    for p in model.parameters():
        p.requires_grad_(False)
    for mod in list(model.modules()):
        for name in LORA_TARGETS:
            child = getattr(mod, name, None)
            if isinstance(child, nn.Linear):
                lora = LoraLinear(child, r, alpha)
                lora.lora_A.to(adapter_dtype or child.weight.dtype)
                lora.lora_B.to(adapter_dtype or child.weight.dtype)
                setattr(mod, name, lora)


def vm_hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def sgemm_gflops(n, reps):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # threads started, pages touched
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def matmul_ms(m, k, n, reps, dtypes):
    """Median ms of an (m, k) @ (k, n) product per dtype."""
    out = {}
    for name in dtypes:
        dt = getattr(torch, name)
        a, b = torch.randn(m, k).to(dt), torch.randn(k, n).to(dt)
        a @ b
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            ts.append((time.perf_counter() - t0) * 1e3)
        out[name] = sorted(ts)[len(ts) // 2]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["train", "lora", "sgemm", "matmul"], required=True)
    ap.add_argument("--shape", choices=list(SHAPES), default="smol")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--bf16-base", action="store_true", help="lora: the frozen base in bfloat16, the adapters float32 (PEFT's layout)")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--mkn", default="2048,2048,2048", help="matmul: m,k,n")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    if a.part == "sgemm":
        print(json.dumps({"gflops": sgemm_gflops(a.n, a.steps)}))
        return
    if a.part == "matmul":
        m, k, n = (int(v) for v in a.mkn.split(","))
        print(json.dumps({"ms": matmul_ms(m, k, n, a.steps, ["float32", "bfloat16"])}))
        return

    c = SHAPES[a.shape]
    dtype = getattr(torch, a.dtype)
    model = CausalLM(c, a.seq).to(dtype)
    if a.part == "lora":
        if a.bf16_base:
            model.to(torch.bfloat16)
        apply_lora(model, a.lora_r, a.lora_alpha, torch.float32 if a.bf16_base else None)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, c["vocab"], (1, a.seq))
    target = torch.randint(0, c["vocab"], (a.seq,))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp):
            logits = model(ids)  # (1, T, V): the naive loss, full logits
        F.cross_entropy(logits.view(-1, c["vocab"]).float(), target).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    print(json.dumps({
        "step_ms": times, "peak_rss_mb": vm_hwm_mb(), "faults_per_step": faults / a.steps,
        "params": sum(p.numel() for p in model.parameters()), "trainable": sum(p.numel() for p in params),
        "threads": torch.get_num_threads(),
    }))


main()
