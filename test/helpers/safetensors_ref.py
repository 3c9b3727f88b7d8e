"""A reference safetensors reader/writer on the PyTorch side of the io tests.

The official `safetensors` package is not installable here (not in Debian, no PyPI), so this
is a small independent implementation of the published format, run with Debian's
/usr/bin/python3 + python3-torch:

  u64 little-endian N | N bytes of UTF-8 JSON header | byte buffer
  header = {"__metadata__"?: {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}

The writer follows the rules of the reference Rust crate (safetensors/src/tensor.rs, `prepare`)
so that its output is what `safetensors.torch.save_file` writes: tensors ordered by dtype
alignment (the crate's `Dtype` enum order, descending) then by name; "__metadata__" first
(keys sorted here, the crate's HashMap order being unspecified); compact JSON; header padded
with spaces to a multiple of 8.

Command line (for the TypeScript tests):
  safetensors_ref.py describe FILE       read FILE, print JSON {metadata, tensors: {name: desc}}
  safetensors_ref.py fixture OUT         write a fixed set of tensors made by torch to OUT,
                                         print the same JSON description of what was written
  safetensors_ref.py rewrite IN OUT      read IN and write its tensors and metadata to OUT
  desc = {"dtype": "float32", "shape": [..], "hex": raw little-endian bytes, "values": [..]}
  values: floats as numbers or "nan"/"inf"/"-inf", integers as decimal strings (exact for int64),
  bools as true/false.
"""
import json
import math
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
ST_NAME = {v: k for k, v in DTYPES.items()}
# Position in the crate's Dtype enum (increasing alignment); higher is written first.
RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "F16": 7, "BF16": 8, "I32": 9, "F32": 11, "F64": 12, "I64": 13}
# A same-width integer dtype, to take a tensor's raw bytes through numpy (which lacks bfloat16).
SAME_WIDTH = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
              torch.bfloat16: torch.int16, torch.bool: torch.uint8}
TORCH_NAME = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
              torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32", torch.int16: "int16",
              torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool"}


def raw_bytes(t):
    t = t.detach().contiguous().reshape(-1)
    t = t.view(SAME_WIDTH.get(t.dtype, t.dtype))
    return t.numpy().tobytes()


def serialize(tensors, metadata=None):
    items = sorted(tensors.items(), key=lambda kv: (-RANK[ST_NAME[kv[1].dtype]], kv[0].encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata, key=lambda k: k.encode("utf-8"))}
    chunks, offset = [], 0
    for name, t in items:
        data = raw_bytes(t)
        header[name] = {"dtype": ST_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def save(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(serialize(tensors, metadata))


def deserialize(buf):
    if len(buf) < 8:
        raise ValueError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise ValueError("header length past end of file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    tensors, pos = {}, 0
    base = 8 + n
    for name, info in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        dtype = DTYPES[info["dtype"]]
        shape = info["shape"]
        begin, end = info["data_offsets"]
        numel = math.prod(shape)
        if begin != pos or end - begin != numel * torch.empty((), dtype=dtype).element_size():
            raise ValueError(f"bad data_offsets for {name}")
        pos = end
        if numel == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:  # bytearray: frombuffer needs a writable buffer; the copy owns the data
            tensors[name] = torch.frombuffer(bytearray(buf[base + begin:base + end]), dtype=dtype).reshape(shape)
    if base + pos != len(buf):
        raise ValueError("data buffer does not end at end of file")
    return tensors, metadata


def load(path):
    with open(path, "rb") as f:
        return deserialize(f.read())


def value(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def describe(tensors, metadata):
    out = {}
    for name, t in tensors.items():
        flat = t.reshape(-1)
        vals = flat.double().tolist() if t.dtype.is_floating_point else flat.tolist()
        out[name] = {"dtype": TORCH_NAME[t.dtype], "shape": list(t.shape), "hex": raw_bytes(t).hex(),
                     "values": [value(v) for v in vals]}
    return {"metadata": metadata, "tensors": out}


def fixture():
    """Tensors made by torch itself: seeded random values plus the edge cases of each dtype."""
    g = torch.Generator().manual_seed(1234)
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), 1e-8, 65504.0, 3.0e38])
    t = {
        "f32": torch.randn(3, 4, generator=g),
        "f32.special": special.float(),
        "f64": torch.randn(2, 3, generator=g, dtype=torch.float64) * 1e300,
        "f16": torch.cat([torch.randn(7, generator=g), special]).half(),
        "f16.subnormal": torch.tensor([5.96e-8, 6.1e-5, -1e-6]).half(),
        "bf16": torch.cat([torch.randn(5, generator=g), special]).bfloat16().reshape(3, 5),
        "i64": torch.tensor([0, -1, 2**62 + 1, -(2**63), 2**63 - 1, 9007199254740993], dtype=torch.int64),
        "i32": torch.randint(-2**31, 2**31 - 1, (2, 2, 2), generator=g, dtype=torch.int32),
        "u8": torch.arange(256, dtype=torch.uint8).reshape(16, 16),
        "bool": torch.tensor([[True, False, True], [False, False, True]]),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "scalar.i64": torch.tensor(-7, dtype=torch.int64),
        "empty": torch.empty(0, 5, dtype=torch.float32),
        "empty.bf16": torch.empty(2, 0, dtype=torch.bfloat16),
        "x.non-contiguous": torch.arange(12, dtype=torch.int16).reshape(3, 4).t(),
        "i8": torch.tensor([-128, 127, 0, -1], dtype=torch.int8),
        "10": torch.ones(1),
        "2": torch.zeros(1),
        "é.ñame": torch.tensor([1.5]),
    }
    return t, {"format": "pt", "origin": "pytorch-ref", "ünï": "cödé \"quoted\"\n"}


def main():
    cmd = sys.argv[1]
    if cmd == "describe":
        json.dump(describe(*load(sys.argv[2])), sys.stdout)
    elif cmd == "fixture":
        tensors, metadata = fixture()
        save(sys.argv[2], tensors, metadata)
        json.dump(describe(tensors, metadata), sys.stdout)
    elif cmd == "rewrite":
        tensors, metadata = load(sys.argv[2])
        save(sys.argv[3], tensors, metadata if metadata else None)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
