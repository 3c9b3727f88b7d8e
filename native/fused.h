// Fused losses: one libtorch call and one autograd node where the composite form would
// cost a dozen addon calls and graph nodes per step. Each is checked against the
// composite (and PyTorch) in the tests.
#pragma once
#include <ATen/ATen.h>
#include <vector>

namespace distill {

// Hinton et al. 2015 on rows (N, C): {total, hard, soft} with
//   hard  = CE(y, softmax(s)), mean over rows (0 without labels)
//   soft  = T² · KL(softmax(t/T) ‖ softmax(s/T)), batchmean
//   total = alpha · hard + (1 − alpha) · soft.
// Gradients reach the student only; the teacher is data (callers fall back otherwise).
std::vector<at::Tensor> hinton_kd(const at::Tensor& student, const at::Tensor& teacher, const c10::optional<at::Tensor>& labels, double T, double alpha);

}  // namespace distill
