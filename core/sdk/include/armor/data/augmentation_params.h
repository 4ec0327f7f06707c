#pragma once
// The [data] keys of training augmentation (augment_crop_padding, augment_flip, ...), declared
// apart from the tensor code (augmentation.h) so that the host composes [data] without LibTorch.

#include "armor/params/param_schema.h"

namespace armor {

ParamSchema augmentation_params();

}  // namespace armor
