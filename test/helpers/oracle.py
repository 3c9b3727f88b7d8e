"""PyTorch as the test oracle (run with Debian's /usr/bin/python3 + python3-torch).

stdin: JSON list of cases {"code": str, "inputs": {name: {"data", "shape", "dtype", "requires_grad"}}}
Each case's code runs with torch, F, nn, math and the inputs in scope and must set `out`,
a dict of tensors, numbers or lists of tensors. stdout: JSON list of {name: {"data", "shape", "dtype"}}
(or {"error": str} for a case that raised).
"""
import json, math, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
DT = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int32,
      "uint8": torch.uint8, "bool": torch.bool, "float16": torch.float16, "bfloat16": torch.bfloat16}
NAME = {v: k for k, v in DT.items()}


def to_tensor(spec):
    t = torch.tensor(spec["data"], dtype=torch.float64).to(DT[spec["dtype"]]).reshape(spec["shape"])
    if spec.get("requires_grad"):
        t.requires_grad_(True)
    return t


def encode(v):
    if isinstance(v, torch.Tensor):
        v = v.detach()
        data = v.to(torch.float64).reshape(-1).tolist() if v.dtype != torch.bool else v.to(torch.int64).reshape(-1).tolist()
        return {"data": data, "shape": list(v.shape), "dtype": NAME.get(v.dtype, str(v.dtype))}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    return v


def main():
    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        ns = {"torch": torch, "F": F, "nn": nn, "math": math}
        ns.update({k: to_tensor(s) for k, s in case.get("inputs", {}).items()})
        try:
            exec(case["code"], ns)
            results.append(encode(ns["out"]))
        except Exception as e:  # reported to the test, which fails with the message
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(results, sys.stdout)


main()
