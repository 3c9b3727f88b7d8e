#include "tensor_box.h"

MemoryStats g_memory;

static void finalize_box(Napi::Env env, TensorBox* box) {
  release_box(env, box);
  delete box;
}

Napi::Value wrap_tensor(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* box = new TensorBox{std::move(t)};
  box->reported = static_cast<int64_t>(box->t.numel()) * static_cast<int64_t>(box->t.element_size());
  if (box->reported > 0) {
    int64_t ignored;
    napi_adjust_external_memory(env, box->reported, &ignored);
  }
  g_memory.bytes += box->reported;
  if (++g_memory.live > g_memory.peak) g_memory.peak = g_memory.live;
  return Napi::External<TensorBox>::New(env, box, finalize_box);
}

void release_box(Napi::Env env, TensorBox* box) {
  if (!box->t.defined()) return;
  box->t.reset();
  g_memory.live--;
  g_memory.bytes -= box->reported;
  if (box->reported > 0) {
    int64_t ignored;
    napi_adjust_external_memory(env, -box->reported, &ignored);
  }
  box->reported = 0;
}

TensorBox* box_of(const Napi::Value& v) {
  napi_valuetype type;
  if (napi_typeof(v.Env(), v, &type) != napi_ok || type != napi_external) return nullptr;
  return v.As<Napi::External<TensorBox>>().Data();
}

const char* dtype_name(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(s);
  }
}

std::string describe_tensor(const at::Tensor& t) {
  if (!t.defined()) return "<disposed>";
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); i++) s += (i ? ", " : "") + std::to_string(t.size(i));
  s += "] ";
  s += dtype_name(t.scalar_type());
  if (!t.is_cpu()) s += " " + t.device().str();
  return s;
}
