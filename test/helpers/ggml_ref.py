"""llama.cpp's own ggml as the oracle for GGUF reading, dequantization and quantization.

Loads the libggml-base and libllama that node-llama-cpp 3.21.1 ships (its bundled
llama.cpp, CPU build) with ctypes and runs a list of operations given as JSON on stdin;
prints one JSON result per operation. Arrays travel as raw little-endian files (paths in
the operation), so nothing is rounded on the way.

Operations ("op"):
  types                                   ggml_type_name / ggml_blck_size / ggml_type_size of every id
  quantize   type src dst n_per_row       ggml_quantize_chunk (no importance matrix) of float32 rows
  ref        fn type src dst n            a reference quantizer (quantize_row_<type>_ref, ggml_fp32_to_fp16_row,
                                          ggml_fp32_to_bf16_row_ref) on n float32 values, to ggml type `type`
  dequantize type src dst n               dequantize_row_<type> (ggml_fp16_to_fp32_row, ggml_bf16_to_fp32_row
                                          for F16, BF16; F32 copied) to n float32 values
  model_quantize src dst ftype            llama_model_quantize with llama_model_quantize_default_params()
  gguf_dump  path                         gguf_init_from_file: version, alignment, data offset, every KV
                                          (type and value) and tensor info (type, ne, offset, size)
  gguf_write path kvs tensors alignment   a GGUF written by ggml's own gguf writer (gguf_write_to_file)
"""
import ctypes as C
import json
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BINS = os.environ.get("DISTILL_LLAMA_BINS") or os.path.join(
    ROOT, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")

base = C.CDLL(os.path.join(BINS, "libggml-base.so"), mode=C.RTLD_GLOBAL)
_llama = None

# ggml.h / gguf.h enums used here.
GGML_TYPE_COUNT = 43
GGUF = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8,
        "arr": 9, "u64": 10, "i64": 11, "f64": 12}
GGUF_NAME = {v: k for k, v in GGUF.items()}
NP_OF = {"u8": np.uint8, "i8": np.int8, "u16": np.uint16, "i16": np.int16, "u32": np.uint32, "i32": np.int32,
         "f32": np.float32, "bool": np.int8, "u64": np.uint64, "i64": np.int64, "f64": np.float64}

base.ggml_type_name.restype = C.c_char_p
base.ggml_type_name.argtypes = [C.c_int]
base.ggml_type_size.restype = C.c_size_t
base.ggml_type_size.argtypes = [C.c_int]
base.ggml_blck_size.restype = C.c_int64
base.ggml_blck_size.argtypes = [C.c_int]
base.ggml_quantize_chunk.restype = C.c_size_t
base.ggml_quantize_chunk.argtypes = [C.c_int, C.c_void_p, C.c_void_p, C.c_int64, C.c_int64, C.c_int64, C.c_void_p]
base.ggml_row_size.restype = C.c_size_t
base.ggml_row_size.argtypes = [C.c_int, C.c_int64]


def llama():
    """libllama, whose model loader needs no backend to quantize a file."""
    global _llama
    if _llama is None:
        C.CDLL(os.path.join(BINS, "libggml.v0.4.0.so"), mode=C.RTLD_GLOBAL)
        _llama = C.CDLL(os.path.join(BINS, "libllama.v0.4.0.so"))
    return _llama


class QuantizeParams(C.Structure):
    """llama.h (bundled llama.cpp) `struct llama_model_quantize_params`, field for field."""
    _fields_ = [
        ("nthread", C.c_int32),
        ("ftype", C.c_int),                   # enum llama_ftype
        ("output_tensor_type", C.c_int),      # enum ggml_type
        ("token_embedding_type", C.c_int),    # enum ggml_type
        ("allow_requantize", C.c_bool),
        ("quantize_output_tensor", C.c_bool),
        ("only_copy", C.c_bool),
        ("pure", C.c_bool),
        ("keep_split", C.c_bool),
        ("dry_run", C.c_bool),
        ("imatrix", C.c_void_p),
        ("kv_overrides", C.c_void_p),
        ("tt_overrides", C.c_void_p),
        ("prune_layers", C.c_void_p),
        ("max_buf_size", C.c_size_t),
    ]


def model_quantize(op):
    lib = llama()
    lib.llama_model_quantize_default_params.restype = QuantizeParams
    lib.llama_model_quantize.restype = C.c_uint32
    lib.llama_model_quantize.argtypes = [C.c_char_p, C.c_char_p, C.POINTER(QuantizeParams)]
    p = lib.llama_model_quantize_default_params()
    # The defaults of llama-quant.cpp's llama_model_quantize_default_params(): if the layout
    # above were off, these would not read back.
    defaults = (p.nthread, p.ftype, p.output_tensor_type, p.token_embedding_type, p.allow_requantize,
                p.quantize_output_tensor, p.only_copy, p.pure, p.keep_split, p.dry_run, p.imatrix, p.max_buf_size)
    expect = (0, 7, GGML_TYPE_COUNT, GGML_TYPE_COUNT, False, True, False, False, False, False, None, 8 << 30)
    if defaults != expect:
        raise RuntimeError(f"llama_model_quantize_params layout mismatch: defaults {defaults}, expected {expect}")
    p.ftype = op["ftype"]
    p.nthread = op.get("nthread", 1)
    rc = lib.llama_model_quantize(op["src"].encode(), op["dst"].encode(), C.byref(p))
    return {"rc": rc}


def f32_in(path):
    return np.fromfile(path, dtype=np.float32)


def quantize(op):
    x = f32_in(op["src"])
    npr = op["n_per_row"]
    nrows = x.size // npr
    t = op["type"]
    out = np.zeros(base.ggml_row_size(t, npr) * nrows, dtype=np.uint8)
    n = base.ggml_quantize_chunk(t, x.ctypes.data, out.ctypes.data, 0, nrows, npr, None)
    out[:n].tofile(op["dst"])
    return {"bytes": int(n)}


def ref(op):
    x = f32_in(op["src"])
    n = op["n"]
    fn = getattr(base, op["fn"])
    fn.argtypes = [C.c_void_p, C.c_void_p, C.c_int64]
    fn.restype = None
    size = base.ggml_row_size(op["type"], n)  # the output type's bytes for n values
    out = np.zeros(size, dtype=np.uint8)
    fn(x.ctypes.data, out.ctypes.data, n)
    out.tofile(op["dst"])
    return {"bytes": size}


def dequantize(op):
    t, n = op["type"], op["n"]
    src = np.fromfile(op["src"], dtype=np.uint8)
    out = np.zeros(n, dtype=np.float32)
    name = base.ggml_type_name(t).decode()
    if name == "f32":
        out[:] = src[: 4 * n].view(np.float32)
    else:
        fn = {"f16": base.ggml_fp16_to_fp32_row, "bf16": base.ggml_bf16_to_fp32_row}.get(name) \
            or getattr(base, f"dequantize_row_{name}")
        fn.argtypes = [C.c_void_p, C.c_void_p, C.c_int64]
        fn.restype = None
        fn(src.ctypes.data, out.ctypes.data, n)
    out.tofile(op["dst"])
    return {"n": n}


class GgufInitParams(C.Structure):
    """gguf.h `struct gguf_init_params` (passed by value)."""
    _fields_ = [("no_alloc", C.c_bool), ("ctx", C.c_void_p)]


def _gguf_api():
    g = base
    g.gguf_init_from_file.restype = C.c_void_p
    g.gguf_init_from_file.argtypes = [C.c_char_p, GgufInitParams]
    for name, res, args in [
        ("gguf_free", None, [C.c_void_p]), ("gguf_get_version", C.c_uint32, [C.c_void_p]),
        ("gguf_get_alignment", C.c_size_t, [C.c_void_p]), ("gguf_get_data_offset", C.c_size_t, [C.c_void_p]),
        ("gguf_get_n_kv", C.c_int64, [C.c_void_p]), ("gguf_get_key", C.c_char_p, [C.c_void_p, C.c_int64]),
        ("gguf_get_kv_type", C.c_int, [C.c_void_p, C.c_int64]), ("gguf_get_arr_type", C.c_int, [C.c_void_p, C.c_int64]),
        ("gguf_get_arr_n", C.c_size_t, [C.c_void_p, C.c_int64]), ("gguf_get_arr_data", C.c_void_p, [C.c_void_p, C.c_int64]),
        ("gguf_get_arr_str", C.c_char_p, [C.c_void_p, C.c_int64, C.c_size_t]),
        ("gguf_get_val_data", C.c_void_p, [C.c_void_p, C.c_int64]), ("gguf_get_val_str", C.c_char_p, [C.c_void_p, C.c_int64]),
        ("gguf_get_n_tensors", C.c_int64, [C.c_void_p]), ("gguf_get_tensor_name", C.c_char_p, [C.c_void_p, C.c_int64]),
        ("gguf_get_tensor_offset", C.c_size_t, [C.c_void_p, C.c_int64]), ("gguf_get_tensor_type", C.c_int, [C.c_void_p, C.c_int64]),
        ("gguf_get_tensor_size", C.c_size_t, [C.c_void_p, C.c_int64]), ("gguf_get_tensor_ne", C.POINTER(C.c_int64), [C.c_void_p, C.c_int64]),
        ("gguf_init_empty", C.c_void_p, []), ("gguf_set_val_str", None, [C.c_void_p, C.c_char_p, C.c_char_p]),
        ("gguf_set_arr_data", None, [C.c_void_p, C.c_char_p, C.c_int, C.c_void_p, C.c_size_t]),
        ("gguf_set_arr_str", None, [C.c_void_p, C.c_char_p, C.POINTER(C.c_char_p), C.c_size_t]),
        ("gguf_write_to_file", C.c_bool, [C.c_void_p, C.c_char_p, C.c_bool]),
        ("gguf_add_tensor", None, [C.c_void_p, C.c_void_p]), ("gguf_set_tensor_data", None, [C.c_void_p, C.c_char_p, C.c_void_p]),
    ]:
        fn = getattr(g, name)
        fn.restype, fn.argtypes = res, args
    return g


def _scalar(ptr, t):
    return np.frombuffer((C.c_char * np.dtype(NP_OF[t]).itemsize).from_address(ptr), dtype=NP_OF[t])[0]


def _json_num(v, t):
    if t == "bool":
        return bool(v)
    if t in ("f32", "f64"):
        return float(v)
    return int(v) if -(2**53) < int(v) < 2**53 else str(int(v))  # beyond 2^53: a decimal string


def gguf_dump(op):
    g = _gguf_api()
    ctx = g.gguf_init_from_file(op["path"].encode(), GgufInitParams(True, None))
    if not ctx:
        return {"error": "gguf_init_from_file failed"}
    try:
        kvs = []
        for i in range(g.gguf_get_n_kv(ctx)):
            t = GGUF_NAME[g.gguf_get_kv_type(ctx, i)]
            kv = {"key": g.gguf_get_key(ctx, i).decode(), "type": t}
            if t == "arr":
                at = GGUF_NAME[g.gguf_get_arr_type(ctx, i)]
                n = g.gguf_get_arr_n(ctx, i)
                kv["arr_type"] = at
                if at == "str":
                    kv["value"] = [g.gguf_get_arr_str(ctx, i, j).decode() for j in range(n)]
                else:
                    ptr = g.gguf_get_arr_data(ctx, i)
                    dt = np.dtype(NP_OF[at])
                    a = np.frombuffer((C.c_char * (dt.itemsize * n)).from_address(ptr), dtype=dt) if n else []
                    kv["value"] = [_json_num(v, at) for v in a]
            elif t == "str":
                kv["value"] = g.gguf_get_val_str(ctx, i).decode()
            else:
                kv["value"] = _json_num(_scalar(g.gguf_get_val_data(ctx, i), t), t)
            kvs.append(kv)
        tensors = []
        for i in range(g.gguf_get_n_tensors(ctx)):
            ne = g.gguf_get_tensor_ne(ctx, i)
            tensors.append({"name": g.gguf_get_tensor_name(ctx, i).decode(), "type": g.gguf_get_tensor_type(ctx, i),
                            "ne": [ne[d] for d in range(4)], "offset": g.gguf_get_tensor_offset(ctx, i),
                            "size": g.gguf_get_tensor_size(ctx, i)})
        return {"version": g.gguf_get_version(ctx), "alignment": g.gguf_get_alignment(ctx),
                "data_offset": g.gguf_get_data_offset(ctx), "kvs": kvs, "tensors": tensors}
    finally:
        g.gguf_free(ctx)


class InitParams(C.Structure):
    _fields_ = [("mem_size", C.c_size_t), ("mem_buffer", C.c_void_p), ("no_alloc", C.c_bool)]


def gguf_write(op):
    """kvs: [{key, type, value}] (type 'arr:<t>' for arrays); tensors: [{name, type, ne, src}] with the bytes in src."""
    g = _gguf_api()
    ctx = g.gguf_init_empty()
    keep = []
    for kv in op["kvs"]:
        key, t, v = kv["key"].encode(), kv["type"], kv["value"]
        if t == "str":
            g.gguf_set_val_str(ctx, key, v.encode())
        elif t.startswith("arr:"):
            at = t[4:]
            if at == "str":
                arr = (C.c_char_p * len(v))(*[s.encode() for s in v])
                keep.append(arr)
                g.gguf_set_arr_str(ctx, key, arr, len(v))
            else:
                a = np.array([int(x) if isinstance(x, str) else x for x in v], dtype=NP_OF[at])
                keep.append(a)
                g.gguf_set_arr_data(ctx, key, GGUF[at], a.ctypes.data, len(v))
        else:
            fn = getattr(g, f"gguf_set_val_{t}")
            ctype = {"u8": C.c_uint8, "i8": C.c_int8, "u16": C.c_uint16, "i16": C.c_int16, "u32": C.c_uint32,
                     "i32": C.c_int32, "f32": C.c_float, "u64": C.c_uint64, "i64": C.c_int64, "f64": C.c_double,
                     "bool": C.c_bool}[t]
            fn.argtypes = [C.c_void_p, C.c_char_p, ctype]
            fn.restype = None
            fn(ctx, key, int(v) if isinstance(v, str) else v)
    base.ggml_init.restype = C.c_void_p
    base.ggml_init.argtypes = [InitParams]
    base.ggml_new_tensor.restype = C.c_void_p
    base.ggml_new_tensor.argtypes = [C.c_void_p, C.c_int, C.c_int, C.POINTER(C.c_int64)]
    base.ggml_set_name.restype = C.c_void_p
    base.ggml_set_name.argtypes = [C.c_void_p, C.c_char_p]
    gctx = base.ggml_init(InitParams(64 << 20, None, True))
    for t in op.get("tensors", []):
        ne = (C.c_int64 * len(t["ne"]))(*t["ne"])
        tensor = base.ggml_new_tensor(gctx, t["type"], len(t["ne"]), ne)
        base.ggml_set_name(tensor, t["name"].encode())
        g.gguf_add_tensor(ctx, tensor)
        data = np.fromfile(t["src"], dtype=np.uint8)
        keep.append(data)
        g.gguf_set_tensor_data(ctx, t["name"].encode(), data.ctypes.data)
    ok = g.gguf_write_to_file(ctx, op["path"].encode(), False)
    g.gguf_free(ctx)
    return {"ok": bool(ok)}


def types(_op):
    return [{"id": i, "name": base.ggml_type_name(i).decode(), "blockSize": base.ggml_blck_size(i),
             "typeSize": base.ggml_type_size(i)} for i in range(GGML_TYPE_COUNT)]


OPS = {"types": types, "quantize": quantize, "ref": ref, "dequantize": dequantize, "model_quantize": model_quantize,
       "gguf_dump": gguf_dump, "gguf_write": gguf_write}

if __name__ == "__main__":
    ops = json.load(sys.stdin)
    out = []
    for op in ops:
        try:
            out.append(OPS[op["op"]](op))
        except Exception as e:  # reported per operation; the test shows it
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)
