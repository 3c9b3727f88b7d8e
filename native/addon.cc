// The hand-written part of the addon: what the op table (ops.mjs → ops_generated.cc)
// cannot express: data in and out, backward, disposal, memory counters, threads and
// build facts. Every other function, metadata and autograd state included, is generated.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>
#include <cstring>
#include <dlfcn.h>
#include "args.h"

void register_ops(Napi::Env env, Napi::Object exports);
void register_dist(Napi::Env env, Napi::Object exports);  // dist.cc: c10d store, Gloo group, collectives

#define FN(name) static Napi::Value name(const Napi::CallbackInfo& info)

// init(errorFactory): the TS layer hands over the function that builds typed errors.
FN(init) {
  set_error_factory(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// fromBytes(typedArray, shape, dtype): one copy from JS memory into a new tensor.
FN(fromBytes) {
  OP_BEGIN("fromBytes", "data", "shape", "dtype")
    if (!info[0].IsTypedArray()) throw ArgError("ERR_ARG", "data must be a typed array");
    auto view = info[0].As<Napi::TypedArray>();
    const std::vector<int64_t> shape = arg::int_list(info, 1);
    const at::ScalarType dtype = arg::dtype(info, 2);
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    const size_t nbytes = t.numel() * t.element_size();
    if (view.ByteLength() != nbytes)
      throw ArgError("ERR_SHAPE", "data holds " + std::to_string(view.ByteLength()) + " bytes but shape and dtype need " + std::to_string(nbytes));
    auto buf = view.ArrayBuffer();
    if (nbytes) std::memcpy(t.data_ptr(), static_cast<uint8_t*>(buf.Data()) + view.ByteOffset(), nbytes);
    return wrap_tensor(info.Env(), t);
  OP_END
}

// toBytes(t): one copy of the tensor's data (contiguous, row-major) into a new ArrayBuffer.
FN(toBytes) {
  OP_BEGIN("toBytes", "self")
    at::Tensor t = arg::tensor(info, 0).detach();
    if (!t.is_cpu()) t = t.cpu();
    t = t.contiguous();
    const size_t nbytes = t.numel() * t.element_size();
    auto buf = Napi::ArrayBuffer::New(info.Env(), nbytes);
    if (nbytes) std::memcpy(buf.Data(), t.data_ptr(), nbytes);
    return buf;
  OP_END
}

FN(item) {
  OP_BEGIN("item", "self")
    const at::Tensor& t = arg::tensor(info, 0);
    if (t.numel() != 1) throw ArgError("ERR_SHAPE", "item() needs a tensor with one element, got " + std::to_string(t.numel()));
    if (t.scalar_type() == at::kBool) return Napi::Boolean::New(info.Env(), t.item<bool>());
    return Napi::Number::New(info.Env(), t.item<double>());
  OP_END
}

FN(isDisposed) {
  TensorBox* b = box_of(info[0]);
  return Napi::Boolean::New(info.Env(), !b || !b->t.defined());
}

FN(dispose) {
  dispose_handle(info.Env(), info[0]);
  return info.Env().Undefined();
}

FN(backward) {
  OP_BEGIN("backward", "self", "gradient", "retainGraph")
    const at::Tensor& t = arg::tensor(info, 0);
    auto g = arg::tensor_opt(info, 1);
    bool retain = arg::absent(info[2]) ? false : arg::boolean(info, 2);
    if (!t.requires_grad())
      throw ArgError("ERR_AUTOGRAD", "backward() on a tensor that does not require grad and has no grad_fn");
    if (!g && t.numel() != 1)
      throw ArgError("ERR_AUTOGRAD", "backward() without a gradient argument needs a scalar output, got " + describe_tensor(t));
    t.backward(g ? *g : at::Tensor(), retain);
    return info.Env().Undefined();
  OP_END
}

// ── memory ──
FN(memoryStats) {
  auto o = Napi::Object::New(info.Env());
  o.Set("liveTensors", Napi::Number::New(info.Env(), static_cast<double>(g_memory.live.load())));
  o.Set("peakTensors", Napi::Number::New(info.Env(), static_cast<double>(g_memory.peak.load())));
  o.Set("nativeBytes", Napi::Number::New(info.Env(), static_cast<double>(g_memory.bytes.load())));
  o.Set("peakNativeBytes", Napi::Number::New(info.Env(), static_cast<double>(g_memory.peak_bytes.load())));
  return o;
}
FN(resetPeak) {
  g_memory.peak = g_memory.live.load();
  g_memory.peak_bytes = g_memory.bytes.load();
  return info.Env().Undefined();
}

// ── threads and build facts ──
// Flush-to-zero and denormals-are-zero. Training drives some values (Adam's squared
// gradients, far-tail probabilities) below float32's normal range, and x86 arithmetic on
// such denormals is up to 100x slower: a distillation epoch grew 0.59 → 0.72 s over five
// epochs without this. The flags live in each thread's MXCSR, so they are set on this
// thread and on every intra-op worker (one parallel_for chunk per thread), and again
// whenever the thread count changes. OpenBLAS's own threads (2+ threads) are not reached.
static bool g_flush_denormal = false;
static bool apply_flush_denormal() {
  const bool on = g_flush_denormal;
  const bool ok = at::globalContext().setFlushDenormal(on);
  const int64_t n = at::get_num_threads();
  at::parallel_for(0, n, 1, [on](int64_t, int64_t) { at::globalContext().setFlushDenormal(on); });
  return ok;
}
FN(setFlushDenormal) {
  OP_BEGIN("setFlushDenormal", "on")
    g_flush_denormal = info[0].ToBoolean().Value();
    return Napi::Boolean::New(info.Env(), apply_flush_denormal());
  OP_END
}
FN(setNumThreads) {
  OP_BEGIN("setNumThreads", "n")
    int64_t n = arg::i64(info, 0);
    if (n < 1) throw ArgError("ERR_ARG", "thread count must be at least 1");
    at::set_num_threads(static_cast<int>(n));
    // OpenBLAS keeps its own pool, sized to every core, whose idle threads spin: two
    // processes (or a BLAS pool beside libtorch's) then fight for the cores. Size it too,
    // when the loaded BLAS is OpenBLAS (looked up at run time; absent otherwise).
    // libtorch pulls the BLAS in as a dependency of the addon (a local scope), so look in
    // the already-loaded libraries by name too (RTLD_NOLOAD: never loads anything new).
    using SetBlasThreads = void (*)(int);
    auto f = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    for (const char* lib : {"libopenblas.so.0", "libblas.so.3"})
      if (!f) if (void* h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD)) f = reinterpret_cast<SetBlasThreads>(dlsym(h, "openblas_set_num_threads"));
    if (f) f(static_cast<int>(n));
    if (g_flush_denormal) apply_flush_denormal();  // new workers start with clear flags
    return info.Env().Undefined();
  OP_END
}
FN(buildInfo) {
  auto o = Napi::Object::New(info.Env());
  o.Set("version", TORCH_VERSION);
  o.Set("cuda", at::hasCUDA());
  o.Set("config", at::show_config());
  o.Set("parallel", at::get_parallel_info());
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
#define REG(n) exports.Set(#n, Napi::Function::New(env, n, #n))
  REG(init); REG(fromBytes); REG(toBytes); REG(item); REG(isDisposed); REG(dispose); REG(backward);
  REG(memoryStats); REG(resetPeak); REG(setNumThreads); REG(setFlushDenormal); REG(buildInfo);
#undef REG
  // The handle every disposed Tensor points at: its box is empty, so ops raise ERR_DISPOSED.
  Napi::Object disposed = Napi::Object::New(env);
  napi_wrap(env, disposed, &g_disposed_box, nullptr, nullptr, nullptr);
  tag_tensor_handle(env, disposed);
  exports.Set("DISPOSED", disposed);
  register_ops(env, exports);
  register_dist(env, exports);
  return exports;
}

NODE_API_MODULE(torch_addon, Init)
