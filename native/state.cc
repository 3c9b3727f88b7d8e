#include "state.h"
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/function.h>
#include <mutex>
#include <stdexcept>

namespace distill {

void manual_seed(int64_t seed) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(static_cast<uint64_t>(seed));
}

at::Tensor get_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const at::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

c10::optional<std::string> grad_fn_name(const at::Tensor& t) {
  const auto& fn = t.grad_fn();
  if (!fn) return c10::nullopt;
  return fn->name();
}

static bool is_cuda(const std::string& device) {
  if (device == "cpu") return false;
  if (device == "cuda") return true;
  throw std::invalid_argument("autocast: device must be 'cpu' or 'cuda', got '" + device + "'");
}

void autocast_set_enabled(const std::string& device, bool on) {
  if (is_cuda(device)) at::autocast::set_enabled(on);
  else at::autocast::set_cpu_enabled(on);
}

bool autocast_is_enabled(const std::string& device) {
  return is_cuda(device) ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}

void autocast_set_dtype(const std::string& device, at::ScalarType dtype) {
  if (is_cuda(device)) at::autocast::set_autocast_gpu_dtype(dtype);
  else at::autocast::set_autocast_cpu_dtype(dtype);
}

at::ScalarType autocast_get_dtype(const std::string& device) {
  return is_cuda(device) ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}

}  // namespace distill
