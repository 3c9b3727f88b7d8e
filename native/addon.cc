// The hand-written part of the addon: what the op table (ops.mjs → ops_generated.cc)
// cannot express: data in and out, backward, disposal, and the memory counters and
// build facts (which return objects). Every other function is generated, metadata,
// autograd state, RNG and threads included.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>  // get_parallel_info
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>
#include <cstring>
#include "args.h"
#include "threads.h"

void register_ops(Napi::Env env, Napi::Object exports);
void register_dist(Napi::Env env, Napi::Object exports);  // dist.cc: c10d store, Gloo group, collectives

#define FN(name) static Napi::Value name(const Napi::CallbackInfo& info)

// init(errorFactory): the TS layer hands over the function that builds typed errors.
FN(init) {
  set_error_factory(info.Env(), info[0].As<Napi::Function>());
  distill::tune_malloc();
  distill::install_cpu_allocator();
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

// ── build facts ──
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
  REG(memoryStats); REG(resetPeak); REG(buildInfo);
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
