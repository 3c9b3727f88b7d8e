// State the op table reads and writes that needs headers the generated file should not
// pull in: libtorch's default CPU generator, and the name of a tensor's autograd node.
#pragma once
#include <ATen/ATen.h>
#include <string>

namespace distill {

// The default CPU generator (mt19937), the one torch.manual_seed seeds. Every op that
// draws random numbers shares it, so each access holds its mutex.
void manual_seed(int64_t seed);
at::Tensor get_rng_state();
void set_rng_state(const at::Tensor& state);

// The name of the autograd node that made `t` (e.g. "AddBackward0"); nullopt for a leaf.
c10::optional<std::string> grad_fn_name(const at::Tensor& t);

// Reads t.nbytes() bytes of the open file `fd` from byte `offset` straight into the memory of
// `t` (contiguous, CPU): a loader fills a parameter from a weight file with one copy, page cache
// to parameter, and no staging buffer. Throws on a read error or a file that ends too soon.
void read_file_into(const at::Tensor& t, int64_t fd, int64_t offset);

}  // namespace distill
