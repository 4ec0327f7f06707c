#include "armor/data/augmentation_params.h"

namespace armor {

ParamSchema augmentation_params() {
  return ParamSchema()
      .integer("augment_crop_padding", 0, "Training augmentation: random crop after zero padding by N pixels (0 = off)",
               0)
      .boolean("augment_flip", false, "Training augmentation: random horizontal flip")
      .integer("augment_translate", 0,
               "Training augmentation: random shift by up to N pixels, edges repeated (0 = off)", 0)
      .integer("augment_cutout", 0, "Training augmentation: zero a random N x N square (0 = off)", 0)
      .real("augment_jitter", 0.0,
            "Training augmentation: brightness/contrast/saturation factors in [1-j, 1+j], torchvision's ColorJitter "
            "(0 = off)",
            0, 1)
      .real("augment_hue", 0.0,
            "Training augmentation: colour images' hue shifted by up to h of the hue circle, uniform in [-h, h], "
            "torchvision's ColorJitter hue (0 = off)",
            0, 0.5);
}

}  // namespace armor
