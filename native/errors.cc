#include "errors.h"
#include <c10/util/Exception.h>
#include <algorithm>
#include "tensor_box.h"

struct ErrorFactory {
  Napi::FunctionReference fn;
};

void set_error_factory(Napi::Env env, const Napi::Function& f) {
  auto* data = new ErrorFactory{Napi::Persistent(f)};
  env.SetInstanceData<ErrorFactory>(data);  // the env deletes it at teardown
}

static bool has(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

// libtorch raises c10::Error for almost everything; the message tells the kind.
static const char* classify(const std::string& message) {
  std::string m = message;
  std::transform(m.begin(), m.end(), m.begin(), ::tolower);
  if (has(m, "does not require grad") || has(m, "grad_fn") || has(m, "backward through the graph"))
    return "ERR_AUTOGRAD";
  if (has(m, "device") || has(m, "cuda")) return "ERR_DEVICE";
  if (has(m, "dtype") || has(m, "scalar type") || has(m, "expected type") || has(m, "not implemented for"))
    return "ERR_DTYPE";
  if (has(m, "out of bounds") || has(m, "out of range") || has(m, "index")) return "ERR_INDEX";
  if (has(m, "shape") || has(m, "size") || has(m, "dimension") || has(m, "dim")) return "ERR_SHAPE";
  return "ERR_TORCH";
}

std::string describe_call_args(const Napi::CallbackInfo& info, const char* const* names) {
  std::string out;
  for (size_t i = 0; i < info.Length(); i++) {
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
        d += (j ? ", " : "") + (eb ? "(" + describe_tensor(eb->t) + ")" : e.ToString().Utf8Value());
      }
      d += a.Length() > 8 ? ", …]" : "]";
    } else if (v.IsNumber() || v.IsBoolean() || v.IsString()) {
      d = v.ToString().Utf8Value();
    } else {
      continue;  // undefined / null: optional argument left out
    }
    if (!out.empty()) out += ", ";
    out += (names && names[i]) ? std::string(names[i]) + "=" + d : d;
  }
  return out;
}

void classify_current_exception(const char*& code, std::string& message) {
  code = "ERR_TORCH";
  try {
    throw;
  } catch (const ArgError& e) {
    code = e.code;
    message = e.what();
  } catch (const c10::IndexError& e) {
    code = "ERR_INDEX";
    message = e.what_without_backtrace();
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
    code = classify(message);
  } catch (const std::bad_alloc&) {
    code = "ERR_OOM";
    message = "out of memory";
  } catch (const std::exception& e) {
    message = e.what();
    code = classify(message);
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
