#include "state.h"
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/function.h>
#include <mutex>
#include <stdexcept>
#include <cerrno>
#include <cstring>
#include <unistd.h>
#include "errors.h"

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

void read_file_into(const at::Tensor& t, int64_t fd, int64_t offset) {
  if (!t.is_cpu() || !t.is_contiguous()) throw ArgError("ERR_ARG", "the tensor must be contiguous and on the CPU");
  if (fd < 0 || offset < 0) throw ArgError("ERR_ARG", "fd and offset must be ≥ 0");
  auto* dst = static_cast<char*>(t.data_ptr());
  const size_t n = t.numel() * t.element_size();
  for (size_t got = 0; got < n;) {
    // pread may return fewer bytes than asked (at most ~2 GiB a call on Linux): loop.
    const ssize_t r = pread(static_cast<int>(fd), dst + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw ArgError("ERR_IO", std::string(std::strerror(errno)));
    }
    if (r == 0) throw ArgError("ERR_IO", "the file ended " + std::to_string(n - got) + " bytes before the tensor was filled");
    got += static_cast<size_t>(r);
  }
}

}  // namespace distill
