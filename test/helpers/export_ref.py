"""The PyTorch side of the export tests (Debian /usr/bin/python3 with python3-torch and python3-onnx).

  export_ref.py check FILE...               onnx.checker.check_model(full_check=True) on each file;
                                            prints JSON {file: {"ir": n, "opset": n, "batch": dim_param}}
  export_ref.py hf DIR INPUT.bin N OUT.bin  rebuilds nn.Sequential from DIR/config.json the way its
                                            README says, loads DIR/model.safetensors strictly (read with
                                            safetensors_ref.py, since the `safetensors` package is not
                                            installed), runs N float32 inputs of config["input_shape"]
                                            in eval mode, writes the logits as raw float32 to OUT.bin;
                                            prints JSON {"layers": [repr...], "missing": [], "unexpected": []}
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def check(files):
    import onnx
    out = {}
    for f in files:
        m = onnx.load(f)
        onnx.checker.check_model(m, full_check=True)
        dim = m.graph.input[0].type.tensor_type.shape.dim[0]
        out[f] = {"ir": m.ir_version, "opset": m.opset_import[0].version, "batch": dim.dim_param,
                  "output_batch": m.graph.output[0].type.tensor_type.shape.dim[0].dim_param}
    json.dump(out, sys.stdout)


def hf(folder, inp, n, outp):
    import torch
    from torch import nn
    import safetensors_ref
    cfg = json.load(open(os.path.join(folder, "config.json")))
    model = nn.Sequential(*[getattr(nn, l["type"])(**l["kwargs"]) for l in cfg["layers"]])
    sd, _ = safetensors_ref.load(os.path.join(folder, "model.safetensors"))
    res = model.load_state_dict(sd, strict=True)
    model.eval()
    with open(inp, "rb") as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(int(n), *cfg["input_shape"])
    with torch.no_grad():
        y = model(x).contiguous()
    with open(outp, "wb") as f:
        f.write(y.numpy().astype("<f4").tobytes())
    json.dump({"layers": [repr(m) for m in model], "missing": res.missing_keys, "unexpected": res.unexpected_keys,
               "shape": list(y.shape)}, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(sys.argv[2:])
    elif sys.argv[1] == "hf":
        hf(*sys.argv[2:6])
    else:
        raise SystemExit("unknown command " + sys.argv[1])
