// One catch-all at the boundary: every exception thrown below an op becomes a JS error
// built by the factory that the TS layer registers (src/torch/errors.ts), with a stable
// code, the op name and the input shapes. Nothing thrown by libtorch may abort Node.
#pragma once
#include <napi.h>
#include <stdexcept>
#include <string>

// An error raised by the glue itself (bad argument, disposed tensor).
struct ArgError : std::runtime_error {
  const char* code;
  ArgError(const char* c, const std::string& m) : std::runtime_error(m), code(c) {}
};

// Stored per environment (main thread and each worker): a function of one env must never be called from another.
void set_error_factory(Napi::Env env, const Napi::Function& f);

// Call only from inside a catch block: rethrows the current exception as a JS error.
// `names` labels the positional arguments (may be nullptr).
[[noreturn]] void rethrow_as_js(const Napi::CallbackInfo& info, const char* op, const char* const* names);

// The pieces of rethrow_as_js, for errors raised off the JS thread (async work in dist.cc):
// classify the exception in flight, describe the call's arguments, build the JS error.
void classify_current_exception(const char*& code, std::string& message);
std::string describe_call_args(const Napi::CallbackInfo& info, const char* const* names);
Napi::Value make_js_error(Napi::Env env, const char* code, const char* op, const std::string& message, const std::string& inputs);

// Wraps a callback body: NAPI_TRY(op, names) { ... } NAPI_CATCH(op, names)
#define OP_TRY try {
#define OP_CATCH(op, names) \
  } catch (...) { rethrow_as_js(info, op, names); }
