#include "tensor_box.h"
#include "errors.h"

MemoryStats g_memory;

// Marks our tensor handles. onnxruntime-node and node-llama-cpp wrap their own objects
// with napi_wrap in the same process; without the tag, napi_unwrap would hand us their
// pointer and we would read it as a TensorBox. Tagged objects are refused instead.
static constexpr napi_type_tag kTensorTag = {0x64697374696c6c00ULL, 0x74656e736f72626fULL};  // "distill\0", "tensorbo"

void tag_tensor_handle(Napi::Env env, const Napi::Object& handle) {
  if (napi_type_tag_object(env, handle, &kTensorTag) != napi_ok) throw ArgError("ERR_TORCH", "cannot tag a tensor handle");
}

// The TensorBox behind `v` when it is one of our handles; nullptr for anything else.
static TensorBox* tagged_box(napi_env env, napi_value v) {
  napi_valuetype type;
  bool ours = false;
  void* data = nullptr;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_object) return nullptr;
  if (napi_check_object_type_tag(env, v, &kTensorTag, &ours) != napi_ok || !ours) return nullptr;
  if (napi_unwrap(env, v, &data) != napi_ok) return nullptr;
  return static_cast<TensorBox*>(data);
}

static void finalize_box(napi_env env, void* data, void*) {
  auto* box = static_cast<TensorBox*>(data);
  release_box(Napi::Env(env), box);
  delete box;
}

Napi::Value wrap_tensor(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* box = new TensorBox{std::move(t)};
  // Counted for memory() and its peaks, but NOT reported to V8 (napi_adjust_external_memory):
  // a training step allocates and frees hundreds of MB of temporaries, and V8 answers
  // external-memory growth with full mark-compact GCs, which scan the whole JS heap. With
  // a large heap (a few million trace objects) that made steps 3.7× slower. Tensors are
  // freed deterministically (tidy, dispose, using); the finalizer stays a safety net that
  // runs whenever V8 collects for its own reasons.
  // A view (narrow, transpose, a KV-cache window …) shares its base's storage: counting it
  // again would report memory that was never allocated.
  const at::Tensor& t0 = box->t;
  box->reported = t0.is_view() || !t0.has_storage() ? 0 : static_cast<int64_t>(t0.storage().nbytes());
  const int64_t bytes = g_memory.bytes += box->reported;
  const int64_t live = ++g_memory.live;
  // Raise the peaks; a lost race only delays a peak by one allocation.
  if (bytes > g_memory.peak_bytes.load()) g_memory.peak_bytes = bytes;
  if (live > g_memory.peak.load()) g_memory.peak = live;
  // A plain object wrapping the box. napi_wrap (rather than an External) lets dispose()
  // remove the finalizer with napi_remove_wrap: Node defers finalizers to the event loop,
  // so a synchronous training loop would otherwise pile up one pending finalizer per op.
  Napi::Object handle = Napi::Object::New(env);
  napi_status st = napi_wrap(env, handle, box, finalize_box, nullptr, nullptr);
  if (st != napi_ok) {
    release_box(env, box);
    delete box;
    throw ArgError("ERR_TORCH", "cannot wrap a tensor handle");
  }
  tag_tensor_handle(env, handle);
  return handle;
}

void dispose_handle(Napi::Env env, const Napi::Value& v) {
  void* data = tagged_box(env, v);
  if (!data || data == &g_disposed_box) return;
  if (napi_remove_wrap(env, v, &data) != napi_ok || !data) return;
  auto* box = static_cast<TensorBox*>(data);
  release_box(env, box);
  delete box;
}

TensorBox g_disposed_box;

void release_box(Napi::Env env, TensorBox* box) {
  if (!box->t.defined()) return;
  box->t.reset();
  g_memory.live--;
  g_memory.bytes -= box->reported;
  box->reported = 0;
}

TensorBox* box_of(const Napi::Value& v) { return tagged_box(v.Env(), v); }

void recount_box(const Napi::Value& handle) {
  TensorBox* box = box_of(handle);
  if (!box || !box->t.defined()) return;
  const at::Tensor& t = box->t;
  const int64_t now = t.is_view() || !t.has_storage() ? 0 : static_cast<int64_t>(t.storage().nbytes());
  const int64_t bytes = g_memory.bytes += now - box->reported;
  box->reported = now;
  if (bytes > g_memory.peak_bytes.load()) g_memory.peak_bytes = bytes;
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
