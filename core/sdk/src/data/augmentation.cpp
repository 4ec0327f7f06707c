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
  options.hue = data.real("augment_hue");
  return options;
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

torch::Tensor greyscale(const torch::Tensor& x) {  // [B,3,H,W] -> [B,1,H,W], torchvision's weights
  return (x.select(1, 0) * 0.2989 + x.select(1, 1) * 0.587 + x.select(1, 2) * 0.114).unsqueeze(1);
}

// ratio * x + (1 - ratio) * other, clamped to [0,1] (torchvision's _blend).
torch::Tensor blend(const torch::Tensor& x, const torch::Tensor& other, const torch::Tensor& ratio) {
  return (ratio * x + (1.0 - ratio) * other).clamp(0.0, 1.0);
}

// RGB [B,3,H,W] -> HSV [B,3,H,W], hue in [0,1) turns (torchvision's _rgb2hsv).
torch::Tensor rgb_to_hsv(const torch::Tensor& x) {
  const torch::Tensor r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  const torch::Tensor max = std::get<0>(x.max(1)), min = std::get<0>(x.min(1));
  const torch::Tensor grey = max.eq(min);
  const torch::Tensor range = max - min;
  const torch::Tensor ones = torch::ones_like(max);
  const torch::Tensor saturation = range / torch::where(grey, ones, max);
  const torch::Tensor divisor = torch::where(grey, ones, range);
  const torch::Tensor rc = (max - r) / divisor, gc = (max - g) / divisor, bc = (max - b) / divisor;
  const torch::Tensor red_max = max.eq(r), green_max = max.eq(g) & ~red_max, blue_max = ~max.eq(g) & ~red_max;
  const torch::Tensor hue6 = red_max.to(x.scalar_type()) * (bc - gc) + green_max.to(x.scalar_type()) * (2.0 + rc - bc) +
                             blue_max.to(x.scalar_type()) * (4.0 + gc - rc);
  const torch::Tensor hue = torch::fmod(hue6 / 6.0 + 1.0, 1.0);
  return torch::stack({hue, saturation, max}, 1);
}

// HSV [B,3,H,W] -> RGB (torchvision's _hsv2rgb).
torch::Tensor hsv_to_rgb(const torch::Tensor& hsv) {
  const torch::Tensor h = hsv.select(1, 0), s = hsv.select(1, 1), v = hsv.select(1, 2);
  const torch::Tensor sector = torch::floor(h * 6.0);
  const torch::Tensor f = h * 6.0 - sector;
  const torch::Tensor i = sector.to(torch::kInt64).remainder(6);
  const torch::Tensor p = (v * (1.0 - s)).clamp(0.0, 1.0);
  const torch::Tensor q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
  const torch::Tensor t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
  // Per sector 0..5: (r, g, b) = (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q).
  const torch::Tensor red = torch::stack({v, q, p, p, t, v}, 1);  // [B,6,H,W]
  const torch::Tensor green = torch::stack({t, v, v, q, p, p}, 1);
  const torch::Tensor blue = torch::stack({p, p, t, v, v, q}, 1);
  const torch::Tensor pick = i.unsqueeze(1);  // [B,1,H,W]
  return torch::cat({red.gather(1, pick), green.gather(1, pick), blue.gather(1, pick)}, 1);
}

// The four adjustments of ColorJitter, each in a random order per image: for each of the four
// slots, every image whose permutation puts adjustment a there gets it (the others pass through).
torch::Tensor colour_jitter(const torch::Tensor& x, double jitter, double hue, at::Generator& generator) {
  const std::int64_t batch = x.size(0);
  const bool colour = x.size(1) == 3;
  // As torchvision's get_params: the order first, then brightness, contrast, saturation, hue factors.
  const torch::Tensor order = torch::rand({batch, 4}, generator, torch::kFloat32)
                                  .argsort(/*dim=*/static_cast<std::int64_t>(1))
                                  .to(x.device());  // [B,4]
  const auto factors = [&](bool on) { return on ? draw_factors(batch, jitter, generator, x) : torch::Tensor(); };
  const torch::Tensor brightness = factors(jitter > 0), contrast = factors(jitter > 0),
                      saturation = factors(jitter > 0 && colour);
  torch::Tensor shift;
  if (hue > 0 && colour) {
    shift = ((torch::rand({batch}, generator, torch::kFloat32) * 2.0 - 1.0) * hue).to(x.device(), x.scalar_type());
  }
  torch::Tensor out = x;
  for (std::int64_t slot = 0; slot < 4; ++slot) {
    const torch::Tensor here = order.select(1, slot);  // [B]: the adjustment each image gets now
    const auto apply = [&](std::int64_t adjustment, const torch::Tensor& adjusted) {
      out = torch::where(here.eq(adjustment).view({-1, 1, 1, 1}), adjusted, out);
    };
    if (brightness.defined()) apply(0, blend(out, torch::zeros_like(out), brightness));
    if (contrast.defined()) {
      const torch::Tensor mean = (colour ? greyscale(out) : out).mean({1, 2, 3}, /*keepdim=*/true);
      apply(1, blend(out, mean, contrast));
    }
    if (saturation.defined()) apply(2, blend(out, greyscale(out), saturation));
    if (shift.defined()) apply(3, adjust_hue(out, shift));
  }
  return out;
}

}  // namespace

torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& shift) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "adjust_hue: expected colour images [B,3,H,W], got ", x.sizes());
  torch::Tensor hsv = rgb_to_hsv(x);
  const torch::Tensor hue = torch::remainder(hsv.select(1, 0) + shift.to(x.scalar_type()).view({-1, 1, 1}), 1.0);
  hsv = torch::stack({hue, hsv.select(1, 1), hsv.select(1, 2)}, 1);
  return hsv_to_rgb(hsv);
}

torch::Tensor Augmentation::apply(const torch::Tensor& x, at::Generator& generator) const {
  TORCH_CHECK(x.dim() == 4, "Augmentation: expected images [B,C,H,W], got ", x.sizes());
  torch::NoGradGuard no_grad;
  torch::Tensor out = x;
  const std::int64_t batch = x.size(0);
  if (options_.crop_padding > 0) {
    const std::int64_t p = options_.crop_padding;
    out = shift_images(out, draw_offsets(batch, -p, p, generator, x.device()),
                       draw_offsets(batch, -p, p, generator, x.device()),
                       /*zero_fill=*/true);
  }
  if (options_.translate > 0) {
    const std::int64_t t = options_.translate;
    out = shift_images(out, draw_offsets(batch, -t, t, generator, x.device()),
                       draw_offsets(batch, -t, t, generator, x.device()),
                       /*zero_fill=*/false);
  }
  if (options_.flip) {
    const torch::Tensor flip =
        torch::rand({batch}, generator, torch::kFloat32).lt(0.5).to(x.device()).view({-1, 1, 1, 1});
    out = torch::where(flip, out.flip({3}), out);
  }
  if (options_.cutout > 0) out = cut_out(out, options_.cutout, generator);
  if (options_.jitter > 0 || options_.hue > 0) out = colour_jitter(out, options_.jitter, options_.hue, generator);
  return out;
}

}  // namespace armor
