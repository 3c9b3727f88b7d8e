"""The PyTorch side of the LM export tests (Debian /usr/bin/python3 with python3-torch).

  lm_export_ref.py hf DIR IDS.bin B T OUT.bin
      reads DIR/config.json as a Hugging Face LlamaConfig (transformers' key names only; the
      "distill" block is ignored), loads DIR/model.safetensors (read with safetensors_ref.py,
      since the `safetensors` package is not installed) under the names LlamaForCausalLM
      expects ("model." prefix, "lm_head.weight" unless tie_word_embeddings), runs the
      reference Llama forward of llama_ref.py on B×T int64 ids, writes the logits as raw
      float32 to OUT.bin; prints JSON {"missing": [...], "unexpected": [...], "shape": [...],
      "dtypes": [...]}
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def expected_names(cfg):
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        names += [p + f"self_attn.{x}_proj.weight" for x in "qkvo"]
        names += [p + f"mlp.{x}_proj.weight" for x in ("gate", "up", "down")]
    if not cfg.get("tie_word_embeddings", False):
        names.append("lm_head.weight")
    return set(names)


def hf(folder, ids_path, b, t, out_path):
    import torch
    import safetensors_ref
    from llama_ref import llama_logits
    cfg = json.load(open(os.path.join(folder, "config.json")))
    assert cfg["model_type"] == "llama" and cfg["architectures"] == ["LlamaForCausalLM"], cfg
    sd, _ = safetensors_ref.load(os.path.join(folder, "model.safetensors"))
    want = expected_names(cfg)
    missing, unexpected = sorted(want - set(sd)), sorted(set(sd) - want)
    ours = {(k[len("model."):] if k.startswith("model.") else k): v.float() for k, v in sd.items()}
    rc = {"dim": cfg["hidden_size"], "nHeads": cfg["num_attention_heads"], "nKvHeads": cfg["num_key_value_heads"],
          "nLayers": cfg["num_hidden_layers"], "ropeTheta": cfg["rope_theta"], "normEps": cfg["rms_norm_eps"]}
    assert cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"]) == cfg["hidden_size"] // cfg["num_attention_heads"]
    with open(ids_path, "rb") as f:
        ids = torch.frombuffer(bytearray(f.read()), dtype=torch.int64).reshape(int(b), int(t))
    assert int(ids.max()) < cfg["vocab_size"]
    with torch.no_grad():
        y = llama_logits(ours, rc, ids).contiguous()
    with open(out_path, "wb") as f:
        f.write(y.numpy().astype("<f4").tobytes())
    json.dump({"missing": missing, "unexpected": unexpected, "shape": list(y.shape),
               "dtypes": sorted({str(v.dtype) for v in sd.values()})}, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "hf":
        hf(*sys.argv[2:7])
    else:
        raise SystemExit("unknown command " + sys.argv[1])
