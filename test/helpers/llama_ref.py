"""A reference Llama forward in plain PyTorch, written from Hugging Face's
LlamaForCausalLM (modeling_llama.py): RMSNorm, rotate-half RoPE, GQA by repeat_kv,
SwiGLU, optional tied head. Tests load our state dict into it and compare logits.
"""
import torch
import torch.nn.functional as F


def rms(x, w, eps):
    v = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(v + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def llama_logits(sd, cfg, ids):
    """sd: name → tensor (our names, no 'model.' prefix); cfg: dict of our LmConfig; ids (B, T) int64."""
    B, T = ids.shape
    d, H, Hkv = cfg["dim"], cfg["nHeads"], cfg["nKvHeads"]
    hd = d // H
    inv = 1.0 / (cfg["ropeTheta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    pos = torch.arange(T).float()
    freqs = torch.outer(pos, inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x = F.embedding(ids, sd["embed_tokens.weight"])
    mask = torch.full((T, T), float("-inf")).triu(1)
    for i in range(cfg["nLayers"]):
        p = f"layers.{i}."
        h = rms(x, sd[p + "input_layernorm.weight"], cfg["normEps"])
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(B, T, H, hd).transpose(1, 2)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).view(B, T, Hkv, hd).transpose(1, 2)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).view(B, T, Hkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        a = torch.softmax(q @ k.transpose(2, 3) / (hd ** 0.5) + mask, dim=-1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, d) @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"], cfg["normEps"])
        g = F.silu(h @ sd[p + "mlp.gate_proj.weight"].T) * (h @ sd[p + "mlp.up_proj.weight"].T)
        x = x + g @ sd[p + "mlp.down_proj.weight"].T
    x = rms(x, sd["norm.weight"], cfg["normEps"])
    head = sd.get("lm_head.weight", sd["embed_tokens.weight"])
    return x @ head.T
