// The certified-radius estimate: power iteration finds the largest singular value, the conv bound
// is an upper bound of the true operator norm, and on a linear classifier (where the layer product
// is exact) no perturbation inside the radius changes a prediction.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/nn/classifier.h"
#include "armor/run/certified_radius.h"

namespace {

TEST(CertifiedRadius, PowerIterationFindsTheLargestSingularValue) {
  torch::manual_seed(0);
  const torch::Tensor w = torch::randn({7, 5}, torch::kFloat64);
  EXPECT_NEAR(armor::spectral_norm(w), torch::linalg::svdvals(w, c10::nullopt).max().item<double>(), 1e-6);
}

TEST(CertifiedRadius, ConvBoundIsAtLeastTheConvolutionsOperatorNorm) {
  torch::manual_seed(1);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3).padding(1).bias(false));
  const double bound = armor::lipschitz_estimate(*conv).value;
  // The operator norm on 8x8 inputs, by power iteration through the convolution and its transpose.
  torch::NoGradGuard no_grad;
  torch::Tensor v = torch::randn({1, 3, 8, 8});
  for (int i = 0; i < 200; ++i) {
    v = torch::conv_transpose2d(conv->forward(v), conv->weight, {}, 1, 1);
    v /= v.norm();
  }
  const double norm = conv->forward(v).norm().item<double>();
  EXPECT_GE(bound, norm * (1 - 1e-6));
  EXPECT_LE(bound, 3.5 * norm) << "the bound should not be vacuous";
}

// A linear classifier: logits = W flatten(x) + b.
struct LinearNet : armor::Classifier {
  LinearNet() : linear(register_module("linear", torch::nn::Linear(16, 3))) {}
  torch::Tensor forward(const torch::Tensor& x) override { return linear(x.flatten(1)); }
  torch::nn::Linear linear;
};

TEST(CertifiedRadius, NoPerturbationInsideTheRadiusChangesALinearClassifiersPrediction) {
  torch::manual_seed(2);
  LinearNet net;
  net.eval();
  const torch::Tensor x = torch::rand({32, 1, 4, 4});
  torch::Tensor y;
  {
    torch::NoGradGuard no_grad;
    y = net.forward(x).argmax(1);
  }
  y[0] = (y[0].item<std::int64_t>() + 1) % 3;  // one wrong label: radius 0
  const armor::CertifiedRadius result = armor::certified_radius(net, x, y);
  EXPECT_EQ(result.radius[0].item<double>(), 0.0);
  EXPECT_TRUE(result.radius.narrow(0, 1, 31).gt(0).all().item<bool>());
  EXPECT_FALSE(result.assumptions.empty());
  torch::NoGradGuard no_grad;
  for (int trial = 0; trial < 50; ++trial) {
    const torch::Tensor direction = torch::randn_like(x);
    const torch::Tensor unit = direction / direction.flatten(1).norm(2, 1).view({-1, 1, 1, 1});
    const torch::Tensor delta = unit * (0.99 * result.radius).to(torch::kFloat32).view({-1, 1, 1, 1});
    const torch::Tensor moved = net.forward(x + delta).argmax(1);
    EXPECT_TRUE(moved.narrow(0, 1, 31).eq(y.narrow(0, 1, 31)).all().item<bool>()) << "trial " << trial;
  }
}

}  // namespace
