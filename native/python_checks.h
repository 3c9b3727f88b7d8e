// libtorch calls with the checks that PyTorch's Python layer adds on top of them
// (torch/csrc/autograd/python_variable.cpp, torch/nn/functional.py). Without these the
// C++ API accepts what PyTorch refuses, and the mistake surfaces later or never.
#pragma once
#include <ATen/ATen.h>

namespace distill {

// `t.grad = g` (g undefined clears it), refused as PyTorch does: another dtype or device
// (ERR_DTYPE / ERR_DEVICE), another shape (ERR_SHAPE), or the tensor itself (ERR_ARG).
void set_grad(const at::Tensor& t, const c10::optional<at::Tensor>& g);

// `t.requires_grad_(flag)`: only a leaf's flag may be turned off (ERR_AUTOGRAD otherwise).
void set_requires_grad(const at::Tensor& t, bool flag);

// F.batch_norm: in training, each channel needs more than one value to compute a
// variance; PyTorch raises ValueError (here c10::ValueError → ERR_ARG) before the kernel.
at::Tensor batch_norm(const at::Tensor& input, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                      const c10::optional<at::Tensor>& running_mean, const c10::optional<at::Tensor>& running_var,
                      bool training, double momentum, double eps);

}  // namespace distill
