#pragma once
// The threat models attacks work in: an Lp ball of radius eps around x, intersected with [0,1].
// Every function is batched: x, x_adv [N,C,H,W]; norms are per image.

#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace armor {

class Params;

enum class Norm { linf, l2 };

// "Linf"/"linf" -> linf, "L2"/"l2" -> l2; a ConfigError naming the text otherwise.
Norm norm_from_string(const std::string& text);
// The norm the section's key `name` holds; a ConfigError naming the key, its origin and the value otherwise.
Norm norm_from_string(const Params& params, const std::string& name);
const char* to_string(Norm norm);
// An attack plugin's check of its section's `norm` and `eps`: pixels lie in [0,1], so an L-infinity
// ball wider than 1 is the whole image box, surely a typo (an L2 radius is checked against the
// image box's diameter when the run is planned). ConfigError naming eps otherwise.
void check_linf_eps(const Params& params);

// values [N] -> [N,1,...,1], to broadcast over a batch of `dims`-dimensional images.
torch::Tensor per_image_view(const torch::Tensor& values, std::int64_t dims);
// Per-image norm of x [N,...] -> [N].
torch::Tensor per_image_norm(Norm norm, const torch::Tensor& x);
// x / (per-image norm + 1e-12): the reference implementation's normalisation.
torch::Tensor normalize_per_image(Norm norm, const torch::Tensor& x);
// Projection of x_adv onto {|x_adv - x| <= eps} and then [0,1].
torch::Tensor project(Norm norm, const torch::Tensor& x_adv, const torch::Tensor& x, double eps);
// The L-infinity clip of the reference: clamp(min(max(x_adv, x - eps), x + eps), 0, 1).
torch::Tensor project_linf(const torch::Tensor& x_adv, const torch::Tensor& x, double eps);
// A random start on the sphere of the ball, as APGD draws it (Linf: t uniform in [-1,1], x + eps t/max|t|;
// L2: t normal, x + eps t/|t|_2), clipped to [0,1]. Draws from `generator` (CPU), then moves to x's device.
torch::Tensor random_start_on_sphere(Norm norm, const torch::Tensor& x, double eps, at::Generator& generator);
// A CPU generator seeded like torch.manual_seed(seed): the same stream as PyTorch's default one.
at::Generator seeded_generator(std::uint64_t seed);

}  // namespace armor
