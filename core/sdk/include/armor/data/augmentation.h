#pragma once
// Augmentation: batched, on tensors, on the batch's device (no per-image loop). Each image draws
// its own random crop, flip, translation, cutout and colour jitter from one generator, so a run's
// augmentations depend only on its seed and epoch. Order: crop, translate, flip, cutout, jitter.
//
// apply: x float [B,C,H,W] in [0,1] -> float [B,C,H,W] in [0,1].

#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "armor/data/augmentation_params.h"
#include "armor/params/param_schema.h"
#include "armor/params/params.h"

namespace armor {

struct AugmentationOptions {
  std::int64_t crop_padding = 0;  // random crop of the image padded by this many zero pixels
  bool flip = false;              // horizontal flip with probability 1/2
  std::int64_t translate = 0;     // shift by up to this many pixels each way, edges repeated
  std::int64_t cutout = 0;        // a square of this side set to 0 at a random centre
  double jitter = 0.0;            // brightness, contrast (and saturation for colour) factors in [1-j, 1+j]
  double hue = 0.0;               // colour images: hue shift uniform in [-h, h] of the hue circle (h <= 0.5)

  bool any() const { return crop_padding > 0 || flip || translate > 0 || cutout > 0 || jitter > 0 || hue > 0; }
  // From [data]'s augment_* keys (see augmentation_params()).
  static AugmentationOptions from(const Params& data);
};

// Colour jitter as torchvision's ColorJitter(j, j, j, hue) does it to each image: brightness,
// contrast, saturation and hue adjusted in a random order (drawn per image), each result clamped to
// [0,1]. Brightness scales the pixels, contrast blends with the mean of the image's greyscale,
// saturation with its greyscale (0.2989 R + 0.587 G + 0.114 B), all with factors uniform in
// [1-j, 1+j]; hue rotates the HSV hue by a shift uniform in [-hue, hue] (turns). Greyscale images
// (one channel) get brightness and contrast only.

// Rotates the hue of each colour image of x [B,3,H,W] in [0,1] by shift [B] (in turns: 1/3 takes
// red to green), saturation and value kept, as torchvision's adjust_hue on tensors.
torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& shift);

class Augmentation {
 public:
  explicit Augmentation(AugmentationOptions options) : options_(options) {}
  torch::Tensor apply(const torch::Tensor& x, at::Generator& generator) const;
  const AugmentationOptions& options() const noexcept { return options_; }

 private:
  AugmentationOptions options_;
};

}  // namespace armor
