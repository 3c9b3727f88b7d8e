#include "errors.h"
#include <c10/util/Exception.h>
#include <algorithm>
#include <new>
#include "tensor_box.h"

struct ErrorFactory {
  Napi::FunctionReference fn;
};

void set_error_factory(Napi::Env env, const Napi::Function& f) {
  auto* data = new ErrorFactory{Napi::Persistent(f)};
  env.SetInstanceData<ErrorFactory>(data);  // the env deletes it at teardown
}

static bool has(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

// The source file a c10::Error was raised from. TORCH_CHECK records it in the backtrace's
// first line ("Exception raised from check_inplace at ./torch/csrc/autograd/VariableTypeUtils.h:58
// (most recent call first)"); CAFFE_ENFORCE in the message ("[enforce fail at alloc_cpu.cpp:75] …").
// Both are written by c10::Error's constructors from __FILE__, not by the check's author.
static std::string raise_site(const c10::Error& e) {
  const std::string& bt = e.backtrace();
  if (bt.rfind("Exception raised from ", 0) == 0) {
    auto at = bt.find(" at ");
    auto end = bt.find('\n');
    if (at != std::string::npos && at < end) return bt.substr(at + 4, end == std::string::npos ? std::string::npos : end - at - 4);
  }
  const std::string& m = e.msg();
  if (m.rfind("[enforce fail at ", 0) == 0) return m.substr(17, m.find(']') - 17);
  return "";
}

// Where libtorch raised a plain c10::Error tells its kind for the parts that have no
// error class in libtorch 1.13: autograd's checks (in-place on a leaf, a modified saved
// tensor, backward through a freed graph) all live under torch/csrc/autograd/, the CPU
// allocator's failure in alloc_cpu.cpp, the device registry in DeviceGuardImplInterface.h.
static const char* classify_site(const std::string& site) {
  if (has(site, "torch/csrc/autograd/")) return "ERR_AUTOGRAD";
  if (has(site, "alloc_cpu.cpp") || has(site, "CPUAllocator.cpp") || has(site, "CachingAllocator")) return "ERR_OOM";
  if (has(site, "DeviceGuardImplInterface") || has(site, "c10/core/Device.cpp")) return "ERR_DEVICE";
  if (has(site, "ExpandUtils.cpp")) return "ERR_SHAPE";           // broadcasting
  if (has(site, "core/TensorMethods.cpp")) return "ERR_DTYPE";    // data_ptr<T> on a tensor of another dtype
  return nullptr;
}

// The last resort, for checks that libtorch 1.13 raises as a plain c10::Error from
// anywhere in ATen (shape and dtype checks have no error class there).
static const char* classify_message(const std::string& message) {
  std::string m = message;
  std::transform(m.begin(), m.end(), m.begin(), ::tolower);
  if (has(m, "device") || has(m, "cuda")) return "ERR_DEVICE";
  if (has(m, "dtype") || has(m, "scalar type") || has(m, "expected type") || has(m, "not implemented for"))
    return "ERR_DTYPE";
  if (has(m, "out of bounds") || has(m, "out of range") || has(m, "index")) return "ERR_INDEX";
  if (has(m, "shape") || has(m, "size") || has(m, "dimension") || has(m, "dim")) return "ERR_SHAPE";
  return "ERR_TORCH";
}

static const char* dtype_arg_name(const Napi::Value& v) {
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d >= static_cast<double>(at::ScalarType::NumOptions) || d != static_cast<int>(d)) return nullptr;
  return dtype_name(static_cast<at::ScalarType>(static_cast<int>(d)));
}

std::string describe_call_args(const Napi::CallbackInfo& info, const char* const* names) {
  std::string out;
  bool named = names != nullptr;
  for (size_t i = 0; i < info.Length(); i++) {
    const char* name = named ? names[i] : nullptr;
    named = named && name;  // the list ends with nullptr
    const Napi::Value v = info[i];
    std::string d;
    if (TensorBox* b = box_of(v)) {
      d = describe_tensor(b->t);
    } else if (v.IsArray()) {
      auto a = v.As<Napi::Array>();
      d = "[";
      for (uint32_t j = 0; j < a.Length() && j < 8; j++) {
        Napi::Value e = a.Get(j);
        TensorBox* eb = box_of(e);
        d += (j ? ", " : "") + (eb ? "(" + describe_tensor(eb->t) + ")" : e.IsObject() ? std::string("<not a Tensor>") : e.ToString().Utf8Value());
      }
      d += a.Length() > 8 ? ", …]" : "]";
    } else if (v.IsNumber() && name && std::string(name) == "dtype" && dtype_arg_name(v)) {
      d = dtype_arg_name(v);  // dtypes travel as at::ScalarType codes; print their names
    } else if (v.IsNumber() || v.IsBoolean() || v.IsString()) {
      d = v.ToString().Utf8Value();
    } else if (v.IsObject() && !v.IsFunction() && !v.IsTypedArray() && !v.IsArrayBuffer()) {
      d = "<not a Tensor>";  // a foreign object where a tensor was expected
    } else {
      continue;  // undefined / null: optional argument left out
    }
    if (!out.empty()) out += ", ";
    out += name ? std::string(name) + "=" + d : d;
  }
  return out;
}

// Classifies by type first: our own ArgError, then c10's error classes, then where
// libtorch raised a plain c10::Error, and only then by words in its message.
void classify_current_exception(const char*& code, std::string& message) {
  code = "ERR_TORCH";
  try {
    throw;
  } catch (const ArgError& e) {
    code = e.code;
    message = e.what();
  } catch (const c10::OutOfMemoryError& e) {
    code = "ERR_OOM";
    message = e.what_without_backtrace();
  } catch (const c10::IndexError& e) {
    code = "ERR_INDEX";
    message = e.what_without_backtrace();
  } catch (const c10::TypeError& e) {  // TORCH_CHECK_TYPE: a tensor of the wrong dtype
    code = "ERR_DTYPE";
    message = e.what_without_backtrace();
  } catch (const c10::ValueError& e) {  // TORCH_CHECK_VALUE: an argument with a bad value
    code = "ERR_ARG";
    message = e.what_without_backtrace();
  } catch (const c10::NotImplementedError& e) {
    code = "ERR_NOT_IMPLEMENTED";
    message = e.what_without_backtrace();
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
    const char* by_site = classify_site(raise_site(e));
    code = by_site ? by_site : classify_message(message);
  } catch (const std::bad_alloc&) {
    code = "ERR_OOM";
    message = "out of memory";
  } catch (const std::exception& e) {
    message = e.what();
    code = classify_message(message);
  } catch (...) {
    message = "unknown native error";
  }
  // libtorch messages can carry a multi-line C++ trace; the first lines are the useful part.
  auto cut = message.find("\nException raised from");
  if (cut != std::string::npos) message.resize(cut);
}

Napi::Value make_js_error(Napi::Env env, const char* code, const char* op, const std::string& message, const std::string& inputs) {
  ErrorFactory* factory = env.GetInstanceData<ErrorFactory>();
  if (!factory || factory->fn.IsEmpty())
    return Napi::Error::New(env, std::string(op) + ": " + message + " (inputs: " + inputs + ")").Value();
  return factory->fn.Call({Napi::String::New(env, code), Napi::String::New(env, op),
                           Napi::String::New(env, message), Napi::String::New(env, inputs)});
}

void rethrow_as_js(const Napi::CallbackInfo& info, const char* op, const char* const* names) {
  const char* code;
  std::string message;
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;  // already a JS error (e.g. thrown by a JS callback)
  } catch (...) {
    classify_current_exception(code, message);
  }
  Napi::Env env = info.Env();
  throw Napi::Error(env, make_js_error(env, code, op, message, describe_call_args(info, names)));
}
