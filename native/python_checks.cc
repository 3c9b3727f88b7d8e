#include "python_checks.h"
#include "errors.h"
#include "tensor_box.h"

namespace distill {

void set_grad(const at::Tensor& t, const c10::optional<at::Tensor>& g) {
  if (!g || !g->defined()) {
    t.mutable_grad() = at::Tensor();
    return;
  }
  // The order and wording of THPVariable_set_grad (PyTorch 1.13).
  if (g->is_same(t)) throw ArgError("ERR_ARG", "can't assign Variable as its own grad");
  if (g->scalar_type() != t.scalar_type())
    throw ArgError("ERR_DTYPE", std::string("assigned grad has data of a different type: ") + dtype_name(g->scalar_type()) + " for a " + dtype_name(t.scalar_type()) + " tensor");
  if (g->device() != t.device() || g->layout() != t.layout())
    throw ArgError("ERR_DEVICE", "assigned grad has data located on a different device: " + g->device().str() + " for a tensor on " + t.device().str());
  if (g->sizes() != t.sizes())
    throw ArgError("ERR_SHAPE", "assigned grad has data of a different size: " + c10::str(g->sizes()) + " for a tensor of size " + c10::str(t.sizes()));
  t.mutable_grad() = *g;
}

void set_requires_grad(const at::Tensor& t, bool flag) {
  if (!flag && !t.is_leaf())
    throw ArgError("ERR_AUTOGRAD", "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
  t.set_requires_grad(flag);
}

at::Tensor batch_norm(const at::Tensor& input, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                      const c10::optional<at::Tensor>& running_mean, const c10::optional<at::Tensor>& running_var,
                      bool training, double momentum, double eps) {
  if (training && input.dim() >= 2) {
    // torch.nn.functional._verify_batch_size: N · (spatial sizes) values per channel.
    int64_t per_channel = input.size(0);
    for (int64_t d = 2; d < input.dim(); d++) per_channel *= input.size(d);
    TORCH_CHECK_VALUE(per_channel != 1, "Expected more than 1 value per channel when training, got input size ", input.sizes());
  }
  return at::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, false);
}

}  // namespace distill
