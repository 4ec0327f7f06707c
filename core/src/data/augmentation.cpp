#include "armor/data/augmentation.h"

#include <torch/torch.h>

namespace armor {

AugmentationOptions AugmentationOptions::from(const Params& data) {
  AugmentationOptions options;
  options.crop_padding = data.integer("augment_crop_padding");
  options.flip = data.boolean("augment_flip");
  options.translate = data.integer("augment_translate");
  options.cutout = data.integer("augment_cutout");
  options.jitter = data.real("augment_jitter");
  return options;
}

ParamSchema augmentation_params() {
  return ParamSchema()
      .integer("augment_crop_padding", 0, "Training augmentation: random crop after zero padding by N pixels (0 = off)", 0)
      .boolean("augment_flip", false, "Training augmentation: random horizontal flip")
      .integer("augment_translate", 0, "Training augmentation: random shift by up to N pixels, edges repeated (0 = off)", 0)
      .integer("augment_cutout", 0, "Training augmentation: zero a random N x N square (0 = off)", 0)
      .real("augment_jitter", 0.0, "Training augmentation: brightness/contrast/saturation factors in [1-j, 1+j] (0 = off)", 0, 1);
}

namespace {

// Per-image integers uniform in [low, high], drawn on the CPU generator, moved to `device`. -> [B]
torch::Tensor draw_offsets(std::int64_t count, std::int64_t low, std::int64_t high, at::Generator& generator,
                           torch::Device device) {
  return torch::randint(low, high + 1, {count}, generator, torch::kInt64).to(device);
}

// Per-image uniform factors in [1-j, 1+j], as [B,1,1,1].
torch::Tensor draw_factors(std::int64_t count, double jitter, at::Generator& generator, const torch::Tensor& like) {
  torch::Tensor u = torch::rand({count}, generator, torch::kFloat32);
  return (1.0 + (u * 2.0 - 1.0) * jitter).to(like.device(), like.scalar_type()).view({-1, 1, 1, 1});
}

// Each image shifted by (dy, dx) [B]: out[b,c,i,j] = x[b,c,i+dy,j+dx]; pixels from outside the image
// are zero (`zero_fill`) or the nearest edge pixel.
torch::Tensor shift_images(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& dx, bool zero_fill) {
  const std::int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const auto index_options = torch::TensorOptions().dtype(torch::kInt64).device(x.device());
  torch::Tensor rows = torch::arange(height, index_options).unsqueeze(0) + dy.unsqueeze(1);  // [B,H]
  torch::Tensor cols = torch::arange(width, index_options).unsqueeze(0) + dx.unsqueeze(1);   // [B,W]
  const torch::Tensor inside = (rows.ge(0) & rows.lt(height)).unsqueeze(2) & (cols.ge(0) & cols.lt(width)).unsqueeze(1);
  rows = rows.clamp(0, height - 1);
  cols = cols.clamp(0, width - 1);
  torch::Tensor out = x.gather(2, rows.view({batch, 1, height, 1}).expand({batch, channels, height, width}));
  out = out.gather(3, cols.view({batch, 1, 1, width}).expand({batch, channels, height, width}));
  if (zero_fill) out = out * inside.unsqueeze(1).to(out.scalar_type());
  return out;
}

torch::Tensor cut_out(const torch::Tensor& x, std::int64_t side, at::Generator& generator) {
  const std::int64_t batch = x.size(0), height = x.size(2), width = x.size(3);
  const torch::Tensor cy = draw_offsets(batch, 0, height - 1, generator, x.device());
  const torch::Tensor cx = draw_offsets(batch, 0, width - 1, generator, x.device());
  const auto index_options = torch::TensorOptions().dtype(torch::kInt64).device(x.device());
  const torch::Tensor rows = torch::arange(height, index_options).unsqueeze(0) - cy.unsqueeze(1);  // [B,H]
  const torch::Tensor cols = torch::arange(width, index_options).unsqueeze(0) - cx.unsqueeze(1);   // [B,W]
  // The square [c - side/2, c - side/2 + side), clipped by the image as in DeVries & Taylor's code.
  const std::int64_t before = side / 2;
  const torch::Tensor in_rows = rows.ge(-before) & rows.lt(side - before);
  const torch::Tensor in_cols = cols.ge(-before) & cols.lt(side - before);
  const torch::Tensor mask = (in_rows.unsqueeze(2) & in_cols.unsqueeze(1)).unsqueeze(1);  // [B,1,H,W]
  return x.masked_fill(mask, 0.0);
}

torch::Tensor colour_jitter(const torch::Tensor& x, double jitter, at::Generator& generator) {
  const std::int64_t batch = x.size(0);
  torch::Tensor out = x * draw_factors(batch, jitter, generator, x);  // brightness
  const torch::Tensor mean = out.mean({1, 2, 3}, /*keepdim=*/true);
  out = (out - mean) * draw_factors(batch, jitter, generator, x) + mean;  // contrast
  if (x.size(1) == 3) {                                                   // saturation: blend with grey
    const torch::Tensor grey = (out.select(1, 0) * 0.299 + out.select(1, 1) * 0.587 + out.select(1, 2) * 0.114).unsqueeze(1);
    out = (out - grey) * draw_factors(batch, jitter, generator, x) + grey;
  }
  return out.clamp(0.0, 1.0);
}

}  // namespace

torch::Tensor Augmentation::apply(const torch::Tensor& x, at::Generator& generator) const {
  TORCH_CHECK(x.dim() == 4, "Augmentation: expected images [B,C,H,W], got ", x.sizes());
  torch::NoGradGuard no_grad;
  torch::Tensor out = x;
  const std::int64_t batch = x.size(0);
  if (options_.crop_padding > 0) {
    const std::int64_t p = options_.crop_padding;
    out = shift_images(out, draw_offsets(batch, -p, p, generator, x.device()), draw_offsets(batch, -p, p, generator, x.device()),
                       /*zero_fill=*/true);
  }
  if (options_.translate > 0) {
    const std::int64_t t = options_.translate;
    out = shift_images(out, draw_offsets(batch, -t, t, generator, x.device()), draw_offsets(batch, -t, t, generator, x.device()),
                       /*zero_fill=*/false);
  }
  if (options_.flip) {
    const torch::Tensor flip = torch::rand({batch}, generator, torch::kFloat32).lt(0.5).to(x.device()).view({-1, 1, 1, 1});
    out = torch::where(flip, out.flip({3}), out);
  }
  if (options_.cutout > 0) out = cut_out(out, options_.cutout, generator);
  if (options_.jitter > 0) out = colour_jitter(out, options_.jitter, generator);
  return out;
}

}  // namespace armor
