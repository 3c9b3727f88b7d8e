// One catch-all at the boundary: every exception thrown below an addon function becomes a
// JS error built by the factory that the TS layer registers (src/torch/errors.ts), with a
// stable code, the public op name and the input shapes. Nothing thrown by libtorch may
// abort Node. Every addon function body (hand-written and generated) is wrapped the same way:
//
//   static Napi::Value f(const Napi::CallbackInfo& info) {
//     OP_BEGIN("publicOpName", "arg0", "arg1")   // the op name, then one label per argument
//       ...
//     OP_END
//   }
#pragma once
#include <napi.h>
#include <stdexcept>
#include <string>

// An error raised by the glue itself (bad argument, disposed tensor); `code` is kept as is.
struct ArgError : std::runtime_error {
  const char* code;
  ArgError(const char* c, const std::string& m) : std::runtime_error(m), code(c) {}
};

// Stored per environment (main thread and each worker): a function of one env must never be called from another.
void set_error_factory(Napi::Env env, const Napi::Function& f);

// Call only from inside a catch block: rethrows the current exception as a JS error.
// `names` labels the positional arguments (may be nullptr); an argument called "dtype"
// that holds a number is printed as the dtype's name.
[[noreturn]] void rethrow_as_js(const Napi::CallbackInfo& info, const char* op, const char* const* names);

// The pieces of rethrow_as_js, for errors raised off the JS thread (async work in dist.cc):
// classify the exception in flight, describe the call's arguments, build the JS error.
void classify_current_exception(const char*& code, std::string& message);
std::string describe_call_args(const Napi::CallbackInfo& info, const char* const* names);
Napi::Value make_js_error(Napi::Env env, const char* code, const char* op, const std::string& message, const std::string& inputs);

// The one wrapper. op_info_[0] is the public op name, the rest label the arguments.
#define OP_BEGIN(...)                                             \
  static const char* const op_info_[] = {__VA_ARGS__, nullptr}; \
  try {
#define OP_END \
  }            \
  catch (...) { rethrow_as_js(info, OP_NAME, OP_ARG_NAMES); }
#define OP_NAME (op_info_[0])
#define OP_ARG_NAMES (op_info_ + 1)
