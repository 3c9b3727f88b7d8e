// The hand-written part of the addon: data in and out, metadata, autograd, memory,
// RNG and threads. Every other op comes from the table (ops.mjs → ops_generated.cc).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/version.h>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include "args.h"

void register_ops(Napi::Env env, Napi::Object exports);
void register_dist(Napi::Env env, Napi::Object exports);  // dist.cc: c10d store, Gloo group, collectives

#define FN(name) static Napi::Value name(const Napi::CallbackInfo& info)
#define BODY(op, ...) \
  static const char* const names[] = {__VA_ARGS__, nullptr}; \
  OP_TRY
#define END(op) OP_CATCH(op, names)

// init(errorFactory): the TS layer hands over the function that builds typed errors.
FN(init) {
  set_error_factory(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// fromBytes(typedArray, shape, dtype): one copy from JS memory into a new tensor.
FN(fromBytes) {
  BODY("fromBytes", "data", "shape", "dtype")
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
  END("fromBytes")
}

// toBytes(t): one copy of the tensor's data (contiguous, row-major) into a new ArrayBuffer.
FN(toBytes) {
  BODY("toBytes", "self")
    at::Tensor t = arg::tensor(info, 0).detach();
    if (!t.is_cpu()) t = t.cpu();
    t = t.contiguous();
    const size_t nbytes = t.numel() * t.element_size();
    auto buf = Napi::ArrayBuffer::New(info.Env(), nbytes);
    if (nbytes) std::memcpy(buf.Data(), t.data_ptr(), nbytes);
    return buf;
  END("toBytes")
}

FN(shape) {
  BODY("shape", "self")
    const at::Tensor& t = arg::tensor(info, 0);
    auto a = Napi::Array::New(info.Env(), t.dim());
    for (int64_t i = 0; i < t.dim(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
    return a;
  END("shape")
}

FN(dtype) {
  BODY("dtype", "self")
    return Napi::Number::New(info.Env(), static_cast<int>(arg::tensor(info, 0).scalar_type()));
  END("dtype")
}

FN(device) {
  BODY("device", "self")
    return Napi::String::New(info.Env(), arg::tensor(info, 0).device().str());
  END("device")
}

FN(item) {
  BODY("item", "self")
    const at::Tensor& t = arg::tensor(info, 0);
    if (t.numel() != 1) throw ArgError("ERR_SHAPE", "item() needs a tensor with one element, got " + std::to_string(t.numel()));
    if (t.scalar_type() == at::kBool) return Napi::Boolean::New(info.Env(), t.item<bool>());
    return Napi::Number::New(info.Env(), t.item<double>());
  END("item")
}

FN(isDisposed) {
  TensorBox* b = box_of(info[0]);
  return Napi::Boolean::New(info.Env(), !b || !b->t.defined());
}

FN(dispose) {
  dispose_handle(info.Env(), info[0]);
  return info.Env().Undefined();
}

// ── autograd ──
FN(requiresGrad) {
  BODY("requiresGrad", "self")
    return Napi::Boolean::New(info.Env(), arg::tensor(info, 0).requires_grad());
  END("requiresGrad")
}

FN(setRequiresGrad) {
  BODY("requiresGrad_", "self", "requiresGrad")
    arg::tensor(info, 0).set_requires_grad(arg::boolean(info, 1));
    return info[0];
  END("requiresGrad_")
}

FN(grad) {
  BODY("grad", "self")
    return wrap_tensor(info.Env(), arg::tensor(info, 0).grad());
  END("grad")
}

// setGrad(t, g | null): null clears the gradient (PyTorch's `p.grad = None`).
FN(setGrad) {
  BODY("setGrad", "self", "grad")
    const at::Tensor& t = arg::tensor(info, 0);
    auto g = arg::tensor_opt(info, 1);
    t.mutable_grad() = g ? *g : at::Tensor();
    return info.Env().Undefined();
  END("setGrad")
}

FN(backward) {
  BODY("backward", "self", "gradient", "retainGraph")
    const at::Tensor& t = arg::tensor(info, 0);
    auto g = arg::tensor_opt(info, 1);
    bool retain = arg::absent(info[2]) ? false : arg::boolean(info, 2);
    if (!t.requires_grad())
      throw ArgError("ERR_AUTOGRAD", "backward() on a tensor that does not require grad and has no grad_fn");
    if (!g && t.numel() != 1)
      throw ArgError("ERR_AUTOGRAD", "backward() without a gradient argument needs a scalar output, got " + describe_tensor(t));
    t.backward(g ? *g : at::Tensor(), retain);
    return info.Env().Undefined();
  END("backward")
}

FN(detach) {
  BODY("detach", "self")
    return wrap_tensor(info.Env(), arg::tensor(info, 0).detach());
  END("detach")
}

FN(isLeaf) {
  BODY("isLeaf", "self")
    return Napi::Boolean::New(info.Env(), arg::tensor(info, 0).is_leaf());
  END("isLeaf")
}

FN(gradFn) {
  BODY("gradFn", "self")
    const auto& fn = arg::tensor(info, 0).grad_fn();
    if (!fn) return info.Env().Null();
    return Napi::String::New(info.Env(), fn->name());
  END("gradFn")
}

FN(isGradEnabled) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }
FN(setGradEnabled) {
  at::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
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

// ── RNG: libtorch's default CPU generator (mt19937), the same one PyTorch seeds ──
FN(manualSeed) {
  BODY("manualSeed", "seed")
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(static_cast<uint64_t>(arg::i64(info, 0)));
    return info.Env().Undefined();
  END("manualSeed")
}
FN(getRngState) {
  BODY("getRngState", nullptr)
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return wrap_tensor(info.Env(), gen.get_state());
  END("getRngState")
}
FN(setRngState) {
  BODY("setRngState", "state")
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(arg::tensor(info, 0));
    return info.Env().Undefined();
  END("setRngState")
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
  BODY("setFlushDenormal", "on")
    g_flush_denormal = info[0].ToBoolean().Value();
    return Napi::Boolean::New(info.Env(), apply_flush_denormal());
  END("setFlushDenormal")
}
FN(setNumThreads) {
  BODY("setNumThreads", "n")
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
  END("setNumThreads")
}
FN(getNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
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
  REG(init); REG(fromBytes); REG(toBytes); REG(shape); REG(dtype); REG(device); REG(item);
  REG(isDisposed); REG(dispose); REG(requiresGrad); REG(setRequiresGrad); REG(grad); REG(setGrad);
  REG(backward); REG(detach); REG(isLeaf); REG(gradFn); REG(isGradEnabled); REG(setGradEnabled);
  REG(memoryStats); REG(resetPeak); REG(manualSeed); REG(getRngState); REG(setRngState);
  REG(setNumThreads); REG(setFlushDenormal); REG(getNumThreads); REG(buildInfo);
#undef REG
  // The handle every disposed Tensor points at: its box is empty, so ops raise ERR_DISPOSED.
  Napi::Object disposed = Napi::Object::New(env);
  napi_wrap(env, disposed, &g_disposed_box, nullptr, nullptr, nullptr);
  exports.Set("DISPOSED", disposed);
  register_ops(env, exports);
  register_dist(env, exports);
  return exports;
}

NODE_API_MODULE(torch_addon, Init)
