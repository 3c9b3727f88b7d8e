// Converters from N-API values to libtorch arguments, one per argument kind of the op
// table (native/ops.mjs). Each throws ArgError with a clear message on a bad value.
#pragma once
#include <ATen/ATen.h>
#include <ATen/ScalarOps.h>
#include <napi.h>
#include <cmath>
#include "errors.h"
#include "tensor_box.h"

namespace arg {

inline bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

// The tensor in a box from box_of (nullptr: not one of our handles).
inline at::Tensor unbox(const TensorBox* b, size_t i) {
  if (!b) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be a Tensor");
  if (!b->t.defined()) throw ArgError("ERR_DISPOSED", "tensor was disposed");
  return b->t;
}

// By value (a reference-count bump): a later converter may run user JS that disposes the box.
inline at::Tensor tensor(const Napi::CallbackInfo& info, size_t i) { return unbox(box_of(info[i]), i); }

inline c10::optional<at::Tensor> tensor_opt(const Napi::CallbackInfo& info, size_t i) {
  if (absent(info[i])) return c10::nullopt;
  return tensor(info, i);
}

// A Python-style scalar: integral numbers become int64, others double, booleans bool.
inline at::Scalar scalar(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value v = info[i];
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (!v.IsNumber()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.007199254740992e15) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

// A tensor, or a number treated the way PyTorch treats a Python scalar in type promotion
// (a "wrapped number": float32 + 2.5 stays float32).
inline at::Tensor tensor_or_scalar(const Napi::CallbackInfo& info, size_t i) {
  if (TensorBox* b = box_of(info[i])) return unbox(b, i);  // one tag check per argument
  if (info[i].IsObject()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be a Tensor or a number");
  at::Tensor t = c10::scalar_to_tensor(scalar(info, i));
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

inline std::vector<at::Tensor> tensor_list(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsArray()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be an array of Tensors");
  auto a = info[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t j = 0; j < a.Length(); j++) {
    TensorBox* b = box_of(a.Get(j));
    if (!b) throw ArgError("ERR_ARG", "element " + std::to_string(j) + " of argument " + std::to_string(i) + " must be a Tensor");
    if (!b->t.defined()) throw ArgError("ERR_DISPOSED", "tensor was disposed");
    out.push_back(b->t);
  }
  return out;
}

inline double f64(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
inline c10::optional<double> f64_opt(const Napi::CallbackInfo& info, size_t i) {
  if (absent(info[i])) return c10::nullopt;
  return f64(info, i);
}

inline int64_t i64(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be an integer");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 9.007199254740992e15)
    throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}
inline c10::optional<int64_t> i64_opt(const Napi::CallbackInfo& info, size_t i) {
  if (absent(info[i])) return c10::nullopt;
  return i64(info, i);
}

// An int list; a single number counts as a list of one.
inline std::vector<int64_t> int_list(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsNumber()) return {i64(info, i)};
  if (!info[i].IsArray()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be an integer or an array of integers");
  auto a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t j = 0; j < a.Length(); j++) {
    Napi::Value e = a.Get(j);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 9.007199254740992e15) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must hold only integers");
    out[j] = static_cast<int64_t>(d);
  }
  return out;
}
inline c10::optional<std::vector<int64_t>> int_list_opt(const Napi::CallbackInfo& info, size_t i) {
  if (absent(info[i])) return c10::nullopt;
  return int_list(info, i);
}

inline bool boolean(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsBoolean()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

inline std::string str(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsString()) throw ArgError("ERR_ARG", "argument " + std::to_string(i) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

// dtype codes are at::ScalarType values; src/torch/dtype.ts holds the same table.
inline at::ScalarType dtype(const Napi::CallbackInfo& info, size_t i) {
  int64_t c = i64(info, i);
  if (c < 0 || c >= static_cast<int64_t>(at::ScalarType::NumOptions)) throw ArgError("ERR_DTYPE", "unknown dtype code " + std::to_string(c));
  return static_cast<at::ScalarType>(c);
}

// PyTorch's reduction names → at::Reduction.
inline int64_t reduction(const Napi::CallbackInfo& info, size_t i) {
  std::string r = str(info, i);
  if (r == "none") return at::Reduction::None;
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  throw ArgError("ERR_ARG", "reduction must be 'none', 'mean' or 'sum', got '" + r + "'");
}

inline at::Device device(const Napi::CallbackInfo& info, size_t i) {
  std::string d = str(info, i);
  try {
    return at::Device(d);
  } catch (const c10::Error&) {
    throw ArgError("ERR_DEVICE", "unknown device '" + d + "' (expected 'cpu' or 'cuda[:n]')");
  }
}

}  // namespace arg
