// Batched augmentation keeps shapes and ranges and moves pixels as documented (colour jitter as
// torchvision's ColorJitter, hue included); the batch loader
// covers every image once per epoch, in an order and with augmentations fixed by (seed, epoch).

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/data/augmentation.h"
#include "armor/data/batch_loader.h"

namespace {

at::Generator generator(std::uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

torch::Tensor random_batch() {
  torch::manual_seed(0);
  return torch::rand({16, 3, 12, 10});
}

TEST(Augmentation, EveryKindKeepsTheShapeAndTheRange) {
  armor::AugmentationOptions options;
  options.crop_padding = 3;
  options.flip = true;
  options.translate = 2;
  options.cutout = 4;
  options.jitter = 0.5;
  options.hue = 0.3;
  const torch::Tensor x = random_batch();
  auto draws = generator(1);
  const torch::Tensor out = armor::Augmentation(options).apply(x, draws);
  EXPECT_EQ(out.sizes(), x.sizes());
  EXPECT_GE(out.min().item<float>(), 0.0f);
  EXPECT_LE(out.max().item<float>(), 1.0f);
  EXPECT_FALSE(torch::equal(out, x));
}

TEST(Augmentation, SameGeneratorSeedSameResult) {
  armor::AugmentationOptions options;
  options.crop_padding = 4;
  options.flip = true;
  options.cutout = 3;
  options.jitter = 0.2;
  const torch::Tensor x = random_batch();
  auto a = generator(5), b = generator(5), c = generator(6);
  const armor::Augmentation augmentation(options);
  const torch::Tensor first = augmentation.apply(x, a);
  EXPECT_TRUE(torch::equal(first, augmentation.apply(x, b)));
  EXPECT_FALSE(torch::equal(first, augmentation.apply(x, c)));
}

TEST(Augmentation, CropWithPaddingShiftsEachImageAndFillsWithZeros) {
  armor::AugmentationOptions options;
  options.crop_padding = 2;
  const torch::Tensor x = torch::rand({64, 1, 8, 8}) + 0.5;  // no zero pixel of its own
  auto draws = generator(3);
  const torch::Tensor out = armor::Augmentation(options).apply(x.clamp(0, 1), draws);
  std::int64_t shifted = 0;
  for (std::int64_t i = 0; i < out.size(0); ++i) {
    // Every output image is its input moved by (dy, dx) in [-2, 2]^2 with zeros coming in.
    bool found = false;
    for (std::int64_t dy = -2; dy <= 2 && !found; ++dy) {
      for (std::int64_t dx = -2; dx <= 2 && !found; ++dx) {
        const torch::Tensor expected =
            torch::constant_pad_nd(x[i].clamp(0, 1), {2, 2, 2, 2}).narrow(1, 2 + dy, 8).narrow(2, 2 + dx, 8);
        if (torch::equal(out[i], expected)) {
          found = true;
          shifted += (dy != 0 || dx != 0);
        }
      }
    }
    EXPECT_TRUE(found) << "image " << i << " is not a shifted copy of its input";
  }
  EXPECT_GT(shifted, 32) << "most images should move";
}

TEST(Augmentation, FlipMirrorsAboutHalfOfTheImagesHorizontally) {
  armor::AugmentationOptions options;
  options.flip = true;
  const torch::Tensor x = torch::rand({200, 1, 4, 5});
  auto draws = generator(9);
  const torch::Tensor out = armor::Augmentation(options).apply(x, draws);
  std::int64_t flipped = 0;
  for (std::int64_t i = 0; i < x.size(0); ++i) {
    const bool same = torch::equal(out[i], x[i]);
    const bool mirrored = torch::equal(out[i], x[i].flip({2}));
    EXPECT_TRUE(same || mirrored) << i;
    flipped += mirrored;
  }
  EXPECT_GT(flipped, 70);
  EXPECT_LT(flipped, 130);
}

TEST(Augmentation, CutoutZeroesAtMostASquareOfTheGivenSide) {
  armor::AugmentationOptions options;
  options.cutout = 3;
  const torch::Tensor x = torch::rand({50, 2, 10, 10}) * 0.5 + 0.5;
  auto draws = generator(2);
  const torch::Tensor out = armor::Augmentation(options).apply(x, draws);
  const torch::Tensor zeroed = out.eq(0).sum({1, 2, 3});  // per image, over 2 channels
  EXPECT_LE(zeroed.max().item<std::int64_t>(), 2 * 9);
  EXPECT_GT(zeroed.sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(torch::equal(out.masked_select(out.ne(0)), x.masked_select(out.ne(0))));
}

// The hue of one RGB pixel in turns [0,1), from the textbook formula (not the code under test).
double hue_of(double r, double g, double b) {
  const double max = std::max({r, g, b}), min = std::min({r, g, b});
  if (max == min) return 0.0;
  double h = 0;
  if (max == r) {
    h = (g - b) / (max - min);
  } else if (max == g) {
    h = 2.0 + (b - r) / (max - min);
  } else {
    h = 4.0 + (r - g) / (max - min);
  }
  h /= 6.0;
  return h < 0 ? h + 1.0 : h;
}

// The signed difference a - b on the hue circle, in (-0.5, 0.5].
double hue_difference(double a, double b) {
  double d = std::fmod(a - b + 1.5, 1.0) - 0.5;
  return d <= -0.5 ? d + 1.0 : d;
}

torch::Tensor pixel(float r, float g, float b) { return torch::tensor({r, g, b}).view({1, 3, 1, 1}); }

TEST(Augmentation, AdjustHueTurnsTheHueCircleKeepingSaturationAndValue) {
  const auto shifted = [](const torch::Tensor& x, double shift) {
    return armor::adjust_hue(x, torch::full({x.size(0)}, shift));
  };
  EXPECT_TRUE(torch::allclose(shifted(pixel(1, 0, 0), 1.0 / 3), pixel(0, 1, 0), 1e-5, 1e-5)) << "red -> green";
  EXPECT_TRUE(torch::allclose(shifted(pixel(1, 0, 0), 2.0 / 3), pixel(0, 0, 1), 1e-5, 1e-5)) << "red -> blue";
  EXPECT_TRUE(torch::allclose(shifted(pixel(1, 0, 0), -1.0 / 6), pixel(1, 0, 1), 1e-5, 1e-5)) << "red -> magenta";
  EXPECT_TRUE(torch::allclose(shifted(pixel(0.4f, 0.4f, 0.4f), 0.3), pixel(0.4f, 0.4f, 0.4f), 1e-6, 1e-6))
      << "grey stays";
  const torch::Tensor x = random_batch();
  EXPECT_TRUE(torch::allclose(shifted(x, 0.0), x, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(shifted(shifted(x, 0.27), -0.27), x, 1e-4, 1e-4));
  const torch::Tensor out = shifted(x, 0.2);
  const torch::Tensor max_in = std::get<0>(x.max(1)), min_in = std::get<0>(x.min(1));
  const torch::Tensor max_out = std::get<0>(out.max(1)), min_out = std::get<0>(out.min(1));
  EXPECT_TRUE(torch::allclose(max_out, max_in, 1e-5, 1e-5)) << "value";
  EXPECT_TRUE(torch::allclose((max_out - min_out) / max_out, (max_in - min_in) / max_in, 1e-4, 1e-4)) << "saturation";
  const auto a = x.accessor<float, 4>();
  const auto b = out.accessor<float, 4>();
  for (std::int64_t n = 0; n < x.size(0); ++n) {
    const double before = hue_of(a[n][0][3][4], a[n][1][3][4], a[n][2][3][4]);
    const double after = hue_of(b[n][0][3][4], b[n][1][3][4], b[n][2][3][4]);
    EXPECT_NEAR(hue_difference(after, before), 0.2, 1e-4) << n;
  }
}

// torchvision's ColorJitter(hue = h): each image's hue turns by one shift uniform in [-h, h].
TEST(Augmentation, HueJitterTurnsEachImageByOneShiftUniformInPlusMinusH) {
  armor::AugmentationOptions options;
  options.hue = 0.3;
  torch::manual_seed(3);
  const std::int64_t count = 400;
  // Each image: two pixels of one saturated colour of random hue, and a grey one.
  const torch::Tensor hues = torch::rand({count});
  torch::Tensor x = torch::zeros({count, 3, 1, 3});
  x.narrow(3, 0, 2).copy_(armor::adjust_hue(pixel(0.9f, 0.2f, 0.1f).expand({count, 3, 1, 2}).contiguous(), hues));
  x.narrow(3, 2, 1).fill_(0.5);
  auto draws = generator(4);
  const torch::Tensor out = armor::Augmentation(options).apply(x, draws);
  const auto a = x.accessor<float, 4>();
  const auto b = out.accessor<float, 4>();
  double low = 1, high = -1, sum = 0;
  for (std::int64_t n = 0; n < count; ++n) {
    const double shift = hue_difference(hue_of(b[n][0][0][0], b[n][1][0][0], b[n][2][0][0]),
                                        hue_of(a[n][0][0][0], a[n][1][0][0], a[n][2][0][0]));
    const double second = hue_difference(hue_of(b[n][0][0][1], b[n][1][0][1], b[n][2][0][1]),
                                         hue_of(a[n][0][0][1], a[n][1][0][1], a[n][2][0][1]));
    EXPECT_NEAR(shift, second, 1e-4) << "one shift per image, image " << n;
    EXPECT_LE(std::abs(shift), 0.3 + 1e-4) << n;
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(b[n][c][0][2], 0.5, 1e-6) << "grey has no hue, image " << n;
    low = std::min(low, shift);
    high = std::max(high, shift);
    sum += shift;
  }
  EXPECT_LT(low, -0.27);
  EXPECT_GT(high, 0.27);
  EXPECT_NEAR(sum / count, 0.0, 0.03) << "uniform in [-0.3, 0.3]: mean 0, standard error 0.0087";
  // Greyscale images have no hue: unchanged.
  const torch::Tensor grey = torch::rand({8, 1, 4, 4});
  auto more = generator(5);
  EXPECT_TRUE(torch::equal(armor::Augmentation(options).apply(grey, more), grey));
}

// Brightness, contrast and saturation as torchvision's: each factor in [1-j, 1+j], each result clamped.
TEST(Augmentation, JitterKeepsGreyPixelsGreyAndScalesAUniformImageWithinTheFactors) {
  armor::AugmentationOptions options;
  options.jitter = 0.3;
  const torch::Tensor x = torch::full({300, 3, 2, 2}, 0.5f);
  auto draws = generator(6);
  const torch::Tensor out = armor::Augmentation(options).apply(x, draws);
  // A uniform grey image: contrast and saturation change nothing, brightness scales it.
  EXPECT_TRUE(torch::allclose(out, out.select(1, 0).unsqueeze(1).expand_as(out), 1e-6, 1e-6)) << "still grey";
  EXPECT_TRUE(torch::allclose(out, out.narrow(2, 0, 1).narrow(3, 0, 1).expand_as(out), 1e-6, 1e-6)) << "still uniform";
  EXPECT_GE(out.min().item<float>(), 0.5f * 0.7f - 1e-6f);
  EXPECT_LE(out.max().item<float>(), 0.5f * 1.3f + 1e-6f);
  EXPECT_LT(out.min().item<float>(), 0.5f * 0.75f);
  EXPECT_GT(out.max().item<float>(), 0.5f * 1.25f);
}

armor::LabelledImages numbered_images(std::int64_t count) {
  return {torch::arange(count, torch::kInt64)
              .remainder(256)
              .to(torch::kUInt8)
              .view({count, 1, 1, 1})
              .expand({count, 1, 2, 2})
              .contiguous(),
          torch::arange(count, torch::kInt64)};
}

std::vector<std::int64_t> epoch_labels(armor::BatchLoader& loader, std::int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<std::int64_t> labels;
  while (auto batch = loader.next()) {
    for (std::int64_t i = 0; i < batch->y.size(0); ++i) labels.push_back(batch->y[i].item<std::int64_t>());
    EXPECT_EQ(batch->x.scalar_type(), torch::kFloat32);
    EXPECT_LE(batch->x.max().item<float>(), 1.0f);
  }
  return labels;
}

TEST(BatchLoader, ShuffledEpochsCoverEveryImageOnceInAnOrderFixedBySeedAndEpoch) {
  armor::BatchLoaderOptions options;
  options.batch_size = 7;
  options.shuffle = true;
  options.seed = 4;
  armor::BatchLoader loader(numbered_images(50), options);
  EXPECT_EQ(loader.num_batches(), 8);
  const auto first = epoch_labels(loader, 0);
  auto sorted = first;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> all(50);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);
  EXPECT_NE(first, all) << "shuffled";
  EXPECT_NE(first, epoch_labels(loader, 1)) << "another epoch, another order";
  armor::BatchLoader again(numbered_images(50), options);
  EXPECT_EQ(epoch_labels(again, 0), first) << "same seed and epoch, same order";
}

TEST(BatchLoader, UnshuffledLoaderKeepsTheOrderAndPixelsMatchLabels) {
  armor::BatchLoader loader(numbered_images(10), 4, torch::kCPU);
  loader.start_epoch(0);
  std::int64_t seen = 0;
  while (auto batch = loader.next()) {
    for (std::int64_t i = 0; i < batch->y.size(0); ++i, ++seen) {
      EXPECT_EQ(batch->y[i].item<std::int64_t>(), seen);
      EXPECT_FLOAT_EQ(batch->x[i][0][1][1].item<float>(), static_cast<float>(seen) / 255.0f);
    }
  }
  EXPECT_EQ(seen, 10);
}

TEST(BatchLoader, PrefetchingOnABackgroundThreadGivesTheSameBatches) {
  // On the CPU the loader makes each batch when asked (Prefetch::automatic); always makes the next
  // one on its thread while the caller works on the current one: same batches, same order.
  armor::BatchLoaderOptions options;
  options.batch_size = 7;
  options.shuffle = true;
  options.seed = 4;
  options.augmentation.flip = true;
  armor::BatchLoader when_asked(numbered_images(50), options);
  options.prefetch = armor::Prefetch::always;
  armor::BatchLoader ahead(numbered_images(50), options);
  for (const std::int64_t epoch : {0, 1}) {
    when_asked.start_epoch(epoch);
    ahead.start_epoch(epoch);
    std::int64_t batches = 0;
    while (auto expected = when_asked.next()) {
      const auto batch = ahead.next();
      ASSERT_TRUE(batch.has_value());
      EXPECT_TRUE(torch::equal(batch->x, expected->x));
      EXPECT_TRUE(torch::equal(batch->y, expected->y));
      ++batches;
    }
    EXPECT_FALSE(ahead.next().has_value());
    EXPECT_EQ(batches, 8);
  }
  ahead.start_epoch(2);  // a prefetched batch nobody takes is waited for, not leaked
}

TEST(BatchLoader, AugmentedBatchesRepeatForTheSameSeedAndEpoch) {
  armor::BatchLoaderOptions options;
  options.batch_size = 8;
  options.shuffle = true;
  options.seed = 1;
  options.augmentation.flip = true;
  options.augmentation.jitter = 0.3;
  const armor::LabelledImages data{torch::randint(0, 256, {16, 3, 4, 4}).to(torch::kUInt8),
                                   torch::zeros({16}, torch::kInt64)};
  armor::BatchLoader a(data, options), b(data, options);
  a.start_epoch(2);
  b.start_epoch(2);
  EXPECT_TRUE(torch::equal(a.next()->x, b.next()->x));
}

}  // namespace
