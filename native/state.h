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

}  // namespace distill
