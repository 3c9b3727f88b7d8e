// A libtorch tensor owned by a JS value.
//
// Each JS Tensor holds a handle: a plain JS object wrapping a TensorBox (napi_wrap).
// `dispose()` frees the box at once and removes the wrap's finalizer; the finalizer is
// only a safety net for tensors nobody disposed. A disposed Tensor points at one shared
// handle whose box is empty, so using it raises ERR_DISPOSED.
// Native bytes are counted for memory() but not reported to V8 (see wrap_tensor).
#pragma once
#include <ATen/ATen.h>
#include <napi.h>
#include <atomic>

struct TensorBox {
  at::Tensor t;
  int64_t reported = 0;  // bytes counted in g_memory: the storage it owns (0 for a view)
};

// Process-wide counters (atomic: worker threads may load the addon too).
struct MemoryStats {
  std::atomic<int64_t> live{0};        // boxes holding a defined tensor
  std::atomic<int64_t> peak{0};        // highest `live` since start or the last reset
  std::atomic<int64_t> bytes{0};       // storage bytes owned by live boxes
  std::atomic<int64_t> peak_bytes{0};  // highest `bytes` since start or the last reset
};
extern MemoryStats g_memory;

// Wraps a tensor into a new External (null for an undefined tensor).
Napi::Value wrap_tensor(Napi::Env env, at::Tensor t);
// Type-tags a handle as ours (napi_type_tag_object); only tagged handles are read as tensors.
void tag_tensor_handle(Napi::Env env, const Napi::Object& handle);
// Frees the tensor held by `box` now; idempotent.
void release_box(Napi::Env env, TensorBox* box);
// Frees the box behind a handle and removes its finalizer; a no-op for other values.
void dispose_handle(Napi::Env env, const Napi::Value& handle);
// The empty box behind the shared "disposed" handle.
extern TensorBox g_disposed_box;
// After set_data changed the storage behind `handle`, counts its new bytes in g_memory instead of the old.
void recount_box(const Napi::Value& handle);
// The box behind a JS value, or nullptr when the value is not one of our (tagged) tensor handles.
TensorBox* box_of(const Napi::Value& v);
// Short description used in error messages: "[2, 3] float32".
std::string describe_tensor(const at::Tensor& t);
const char* dtype_name(at::ScalarType s);
