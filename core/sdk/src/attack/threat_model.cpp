#include "armor/attack/threat_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "armor/error.h"
#include "armor/params/params.h"

namespace armor {
torch::Tensor per_image_view(const torch::Tensor& values, std::int64_t dims) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(dims), 1);
  shape[0] = -1;
  return values.view(shape);
}

Norm norm_from_string(const std::string& text) {
  if (text == "Linf" || text == "linf") return Norm::linf;
  if (text == "L2" || text == "l2") return Norm::l2;
  throw ConfigError("norm must be Linf or L2 (got '" + text + "')");
}

Norm norm_from_string(const Params& params, const std::string& name) {
  const std::string& text = params.string(name);
  if (text == "Linf" || text == "linf") return Norm::linf;
  if (text == "L2" || text == "l2") return Norm::l2;
  params.fail(name, "must be Linf or L2");
}

const char* to_string(Norm norm) { return norm == Norm::linf ? "Linf" : "L2"; }

void check_linf_eps(const Params& params) {
  if (norm_from_string(params, "norm") == Norm::linf && params.real("eps") > 1)
    params.fail("eps", "must be <= 1 for norm = \"Linf\" (pixels lie in [0,1])");
}

torch::Tensor per_image_norm(Norm norm, const torch::Tensor& x) {
  const torch::Tensor flat = x.reshape({x.size(0), -1});
  if (norm == Norm::linf) return std::get<0>(flat.abs().max(1));
  return (flat * flat).sum(-1).sqrt();
}

torch::Tensor normalize_per_image(Norm norm, const torch::Tensor& x) {
  return x / (per_image_view(per_image_norm(norm, x), x.dim()) + 1e-12);
}

torch::Tensor project_linf(const torch::Tensor& x_adv, const torch::Tensor& x, double eps) {
  return torch::clamp(torch::min(torch::max(x_adv, x - eps), x + eps), 0.0, 1.0);
}

torch::Tensor project(Norm norm, const torch::Tensor& x_adv, const torch::Tensor& x, double eps) {
  if (norm == Norm::linf) return project_linf(x_adv, x, eps);
  const torch::Tensor delta = x_adv - x;
  const torch::Tensor length = per_image_view(per_image_norm(Norm::l2, delta), x.dim());
  return torch::clamp(x + normalize_per_image(Norm::l2, delta) * torch::clamp_max(length, eps), 0.0, 1.0);
}

torch::Tensor random_start_on_sphere(Norm norm, const torch::Tensor& x, double eps, at::Generator& generator) {
  const auto options = torch::TensorOptions().dtype(x.scalar_type());
  torch::Tensor t = norm == Norm::linf ? 2 * torch::rand(x.sizes(), generator, options) - 1
                                       : torch::randn(x.sizes(), generator, options);
  t = t.to(x.device());
  return (x + eps * torch::ones_like(x) * normalize_per_image(norm, t)).clamp(0.0, 1.0);
}

at::Generator seeded_generator(std::uint64_t seed) { return at::detail::createCPUGenerator(seed); }

}  // namespace armor
