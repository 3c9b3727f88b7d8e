// A libtorch tensor owned by a JS value.
//
// Each JS Tensor holds a napi External pointing at a TensorBox. `dispose()` resets the
// at::Tensor at once (freeing its storage when no view shares it); the External's
// finalizer deletes the box and is only a safety net for tensors nobody disposed.
// Native bytes are reported to V8 so that the GC sees the pressure of forgotten tensors.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

struct TensorBox {
  at::Tensor t;
  int64_t reported = 0;  // bytes reported to V8 through napi_adjust_external_memory
};

struct MemoryStats {
  int64_t live = 0;   // boxes holding a defined tensor
  int64_t peak = 0;   // highest `live` since start or the last reset
  int64_t bytes = 0;  // bytes reported to V8 for live boxes
};
extern MemoryStats g_memory;

// Wraps a tensor into a new External (null for an undefined tensor).
Napi::Value wrap_tensor(Napi::Env env, at::Tensor t);
// Frees the tensor held by `box` now; idempotent.
void release_box(Napi::Env env, TensorBox* box);
// The box behind a JS value, or nullptr when the value is not a tensor handle.
TensorBox* box_of(const Napi::Value& v);
// Short description used in error messages: "[2, 3] float32".
std::string describe_tensor(const at::Tensor& t);
const char* dtype_name(at::ScalarType s);
