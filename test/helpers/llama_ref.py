"""A reference forward of the Llama family in plain PyTorch, written from Hugging Face's
modeling_llama.py, modeling_qwen2.py and modeling_qwen3.py (transformers is not installed
here): RMSNorm (computed in float32), rotate-half RoPE with the `llama3` frequency scaling
of modeling_rope_utils._compute_llama3_parameters, GQA by repeat_kv, SwiGLU, optional
tied head; Qwen2's q/k/v biases; Qwen3's per-head q_norm/k_norm before RoPE and a head_dim
independent of hidden_size / num_attention_heads.

  llama_logits(sd, cfg, ids)   our names and our LmConfig (camelCase keys)
  hf_logits(sd, config, ids)   Hugging Face names ("model." prefix) and a config.json dict
Both take dtype=torch.bfloat16 (or float16) to run as a model converted with model.to(dtype)
under HF's eager numerics: activations in the weights' dtype; RMSNorm statistics and the
attention softmax in float32, cast back; RoPE cos/sin computed in float32 and cast to the
activations' dtype; the causal mask filled with finfo(dtype).min; logits in the weights' dtype.
In float32 every cast is the identity.
  load_hf_folder(dir)          config.json + model.safetensors (or shards) as float32 tensors
"""
import json
import math
import os

import torch
import torch.nn.functional as F


def rms(x, w, eps):
    # LlamaRMSNorm / Qwen2RMSNorm / Qwen3RMSNorm: variance in float32, then weight * normalised.to(input_dtype)
    input_dtype = x.dtype
    x = x.to(torch.float32)
    v = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(v + eps)).to(input_dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def inv_freq(cfg, hd):
    """_compute_default_rope_parameters, then _compute_llama3_parameters when rope_scaling says llama3."""
    base = cfg["rope_theta"]
    inv = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    rs = cfg.get("rope_scaling")
    if not rs or rs.get("rope_type", rs.get("type")) in (None, "default"):
        return inv
    assert rs.get("rope_type", rs.get("type")) == "llama3", rs
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv / factor, inv)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def hf_logits(sd, cfg, ids, lora=None, dtype=None):
    """sd: Hugging Face name → tensor; cfg: config.json dict; ids (B, T) int64 → logits (B, T, V).
    lora: optional {HF module name: f(h)}, each f's result added to that Linear's output (a LoRA update).
    dtype: convert the floating weights first, as model.to(dtype); None keeps them as given."""
    if dtype is not None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    mt = cfg["model_type"]
    assert mt in ("llama", "qwen2", "qwen3"), mt
    B, T = ids.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or d // H
    eps = cfg["rms_norm_eps"]
    inv = inv_freq(cfg, hd)
    # LlamaRotaryEmbedding.forward: freqs = inv_freq @ positions (float32), emb = cat(freqs, freqs);
    # HF computes it with autocast disabled, so it stays float32 under torch.autocast too.
    with torch.autocast("cpu", enabled=False):
        freqs = (inv[:, None] @ torch.arange(T).float()[None, :]).transpose(0, 1)
    emb = torch.cat((freqs, freqs), dim=-1)
    x = F.embedding(ids, sd["model.embed_tokens.weight"])
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)  # cos.to(dtype=x.dtype)
    # _prepare_4d_causal_attention_mask: finfo(dtype).min above the diagonal (−∞ kept in float32)
    fill = float("-inf") if x.dtype == torch.float32 else torch.finfo(x.dtype).min
    mask = torch.full((T, T), fill, dtype=x.dtype).triu(1)

    def lin(h, name):
        y = F.linear(h, sd[name + ".weight"], sd.get(name + ".bias"))  # nn.Linear
        return y + lora[name](h) if lora and name in lora else y

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, sd[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(B, T, H, hd)
        k = lin(h, p + "self_attn.k_proj").view(B, T, Hkv, hd)
        v = lin(h, p + "self_attn.v_proj").view(B, T, Hkv, hd)
        if mt == "qwen3":  # Qwen3Attention: q_norm / k_norm over head_dim, before the transpose and RoPE
            q = rms(q, sd[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, sd[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        # eager_attention_forward: softmax in float32, then back to the query's dtype
        a = torch.softmax(q @ k.transpose(2, 3) * hd ** -0.5 + mask, dim=-1, dtype=torch.float32).to(q.dtype) @ v
        x = x + lin(a.transpose(1, 2).reshape(B, T, H * hd), p + "self_attn.o_proj")
        h = rms(x, sd[p + "post_attention_layernorm.weight"], eps)
        g = F.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj")
        x = x + lin(g, p + "mlp.down_proj")
    x = rms(x, sd["model.norm.weight"], eps)
    head = sd["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else sd["lm_head.weight"]
    return F.linear(x, head)  # lm_head


def llama_logits(sd, cfg, ids, lora=None, dtype=None):
    """sd: name → tensor (our names, no 'model.' prefix); cfg: dict of our LmConfig; ids (B, T) int64.
    lora: as hf_logits', keyed by our module names."""
    hf = {(k if k == "lm_head.weight" else "model." + k): v for k, v in sd.items()}
    rs = cfg.get("ropeScaling")
    config = {
        "model_type": cfg.get("arch", "llama"), "hidden_size": cfg["dim"], "num_attention_heads": cfg["nHeads"],
        "num_key_value_heads": cfg["nKvHeads"], "head_dim": cfg.get("headDim") or cfg["dim"] // cfg["nHeads"],
        "num_hidden_layers": cfg["nLayers"], "rope_theta": cfg["ropeTheta"], "rms_norm_eps": cfg["normEps"],
        "tie_word_embeddings": "lm_head.weight" not in sd,
        "rope_scaling": None if not rs else {
            "rope_type": "llama3", "factor": rs["factor"], "low_freq_factor": rs["lowFreqFactor"],
            "high_freq_factor": rs["highFreqFactor"], "original_max_position_embeddings": rs["originalMaxPositionEmbeddings"]},
    }
    return hf_logits(hf, config, ids, lora and {(k if k == "lm_head" else "model." + k): f for k, f in lora.items()}, dtype)


def load_hf_folder(folder):
    """(config.json dict, {HF name: float32 tensor}) from model.safetensors or its index's shards."""
    import safetensors_ref
    cfg = json.load(open(os.path.join(folder, "config.json")))
    index = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    sd = {}
    for f in files:
        part, _ = safetensors_ref.load(os.path.join(folder, f))
        sd.update({k: v.float() for k, v in part.items()})
    return cfg, sd
