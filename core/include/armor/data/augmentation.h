#pragma once
// Augmentation: batched, on tensors, on the batch's device (no per-image loop). Each image draws
// its own random crop, flip, translation, cutout and colour jitter from one generator, so a run's
// augmentations depend only on its seed and epoch.
//
// apply: x float [B,C,H,W] in [0,1] -> float [B,C,H,W] in [0,1].

#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "armor/config/param_schema.h"
#include "armor/config/params.h"

namespace armor {

struct AugmentationOptions {
  std::int64_t crop_padding = 0;  // random crop of the image padded by this many zero pixels
  bool flip = false;              // horizontal flip with probability 1/2
  std::int64_t translate = 0;     // shift by up to this many pixels each way, edges repeated
  std::int64_t cutout = 0;        // a square of this side set to 0 at a random centre
  double jitter = 0.0;            // brightness, contrast (and saturation for colour) factors in [1-j, 1+j]

  bool any() const { return crop_padding > 0 || flip || translate > 0 || cutout > 0 || jitter > 0; }
  // From [data]'s augment_* keys (see augmentation_params()).
  static AugmentationOptions from(const Params& data);
};

// The [data] keys: augment_crop_padding, augment_flip, augment_translate, augment_cutout, augment_jitter.
ParamSchema augmentation_params();

class Augmentation {
 public:
  explicit Augmentation(AugmentationOptions options) : options_(options) {}
  torch::Tensor apply(const torch::Tensor& x, at::Generator& generator) const;
  const AugmentationOptions& options() const noexcept { return options_; }

 private:
  AugmentationOptions options_;
};

}  // namespace armor
