// See fused.h. One pass over each row computes both losses and their gradients with
// respect to the student; backward only scales the saved gradients by the upstream ones.
// With q_T = softmax(s/T), p = softmax(t/T), q = softmax(s) and N rows:
//   soft = T²/N · Σ_n Σ_i p_i (log p_i − log q_T,i)      ∂soft/∂s = T · (q_T − p) / N
//   hard = −1/N · Σ_n log q_{y_n}                        ∂hard/∂s = (q − onehot(y)) / N
// (the T of ∂soft/∂s is the loss's T² times the 1/T of s/T), and an upstream gradient
// of total flows into both terms with weights alpha and 1 − alpha.
#include "fused.h"
#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/custom_function.h>
#include <algorithm>
#include <cmath>
#include <vector>

namespace distill {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// softmax(x · scale) into out; returns log Σ_i exp(x_i · scale) (stable: max subtracted).
template <typename F>
double softmaxRow(const F* x, int64_t C, double scale, double* out) {
  double m = -INFINITY;
  for (int64_t i = 0; i < C; i++) m = std::max(m, x[i] * scale);
  double z = 0;
  for (int64_t i = 0; i < C; i++) z += (out[i] = std::exp(x[i] * scale - m));
  for (int64_t i = 0; i < C; i++) out[i] /= z;
  return m + std::log(z);
}

// Fills dSoft and dHard (N, C) and returns {Σ_n KL_n, Σ_n −log q_{y_n}}.
template <typename F>
std::pair<double, double> rowsPass(const F* s, const F* t, const int64_t* y, F* dSoft, F* dHard, int64_t N, int64_t C, double T) {
  const double inv = 1.0 / T, scaleSoft = T / N, scaleHard = 1.0 / N;
  std::vector<double> qT(C), p(C), q(C);
  double kl = 0, nll = 0;
  for (int64_t n = 0; n < N; n++) {
    const F *sr = s + n * C, *tr = t + n * C;
    const double lseS = softmaxRow(sr, C, inv, qT.data()), lseT = softmaxRow(tr, C, inv, p.data());
    // KL_n = Σ p_i (log p_i − log q_T,i) = Σ p_i (t_i − s_i)/T − lseT + lseS, as Σ p_i = 1.
    double cross = 0;
    for (int64_t i = 0; i < C; i++) {
      if (p[i] > 0) cross += p[i] * (tr[i] - sr[i]);  // 0 · log 0 = 0, also for a −∞ teacher logit
      dSoft[n * C + i] = static_cast<F>((qT[i] - p[i]) * scaleSoft);
    }
    kl += cross * inv - lseT + lseS;
    if (!y) continue;
    const int64_t label = y[n];
    TORCH_CHECK(label >= 0 && label < C, "hinton_kd: label ", label, " is out of range for ", C, " classes");
    const double lse = T == 1 ? lseS : softmaxRow(sr, C, 1.0, q.data());
    const double* q1 = T == 1 ? qT.data() : q.data();
    nll -= sr[label] - lse;
    for (int64_t i = 0; i < C; i++) dHard[n * C + i] = static_cast<F>((q1[i] - (i == label ? 1.0 : 0.0)) * scaleHard);
  }
  return {kl, nll};
}

}  // namespace

struct HintonKD : public torch::autograd::Function<HintonKD> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& student, const at::Tensor& teacher, const at::Tensor& labels, double T, double alpha) {
    const at::Tensor s = student.contiguous(), t = teacher.contiguous().to(s.scalar_type());
    // Without labels `labels` is an empty tensor (an undefined one cannot pass through apply).
    const bool labelled = labels.numel() > 0;
    const at::Tensor y = labelled ? labels.contiguous().to(at::kLong) : labels;
    const int64_t N = s.size(0), C = s.size(1);
    at::Tensor dSoft = at::empty_like(s), dHard = labelled ? at::empty_like(s) : at::Tensor();
    std::pair<double, double> sums;
    AT_DISPATCH_FLOATING_TYPES(s.scalar_type(), "hinton_kd", [&] {
      sums = rowsPass<scalar_t>(s.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), labelled ? y.data_ptr<int64_t>() : nullptr,
                                dSoft.data_ptr<scalar_t>(), labelled ? dHard.data_ptr<scalar_t>() : nullptr, N, C, T);
    });
    const double soft = N ? sums.first * T * T / N : 0, hard = N ? sums.second / N : 0;
    ctx->save_for_backward({dSoft, dHard});
    ctx->saved_data["alpha"] = alpha;
    const auto scalar = [&](double v) { return at::scalar_tensor(v, s.options()); };
    return {scalar(alpha * hard + (1 - alpha) * soft), scalar(hard), scalar(soft)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const auto saved = ctx->get_saved_variables();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    // Upstream gradients are 0-dim tensors (zeros for an unused output).
    const double gTotal = g[0].item<double>(), gHard = g[1].item<double>(), gSoft = g[2].item<double>();
    at::Tensor grad = saved[0] * (gTotal * (1 - alpha) + gSoft);
    if (saved[1].defined()) grad.add_(saved[1], gTotal * alpha + gHard);
    return {grad, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::vector<at::Tensor> hinton_kd(const at::Tensor& student, const at::Tensor& teacher, const c10::optional<at::Tensor>& labels, double T, double alpha) {
  TORCH_CHECK(student.dim() == 2 && teacher.sizes() == student.sizes(), "hinton_kd: student and teacher must be (N, C) of one shape");
  TORCH_CHECK(student.device().is_cpu(), "hinton_kd: CPU tensors only");
  const at::Tensor y = labels.has_value() ? *labels : at::empty({0}, student.options().dtype(at::kLong));
  TORCH_CHECK(!labels.has_value() || y.numel() == student.size(0), "hinton_kd: labels must hold one class index per row");
  return HintonKD::apply(student, teacher.detach(), y, T, alpha);
}

}  // namespace distill
