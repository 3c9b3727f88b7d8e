// State the op table reads and writes that needs headers the generated file should not
// pull in: libtorch's default CPU generator, and the name of a tensor's autograd node.
#pragma once
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <string>

namespace distill {

// The default CPU generator (mt19937), the one torch.manual_seed seeds. Every op that
// draws random numbers shares it, so each access holds its mutex.
void manual_seed(int64_t seed);
at::Tensor get_rng_state();
void set_rng_state(const at::Tensor& state);

// The name of the autograd node that made `t` (e.g. "AddBackward0"); nullopt for a leaf.
c10::optional<std::string> grad_fn_name(const at::Tensor& t);

// Autocast state per device ("cpu" or "cuda"; anything else is an error naming both):
// libtorch keeps one enabled flag and one lower-precision dtype per device, thread-local.
void autocast_set_enabled(const std::string& device, bool on);
bool autocast_is_enabled(const std::string& device);
void autocast_set_dtype(const std::string& device, at::ScalarType dtype);
at::ScalarType autocast_get_dtype(const std::string& device);

// Reads t.nbytes() bytes of the open file `fd` from byte `offset` straight into the memory of
// `t` (contiguous, CPU): a loader fills a parameter from a weight file with one copy, page cache
// to parameter, and no staging buffer. Throws on a read error or a file that ends too soon.
void read_file_into(const at::Tensor& t, int64_t fd, int64_t offset);

}  // namespace distill
