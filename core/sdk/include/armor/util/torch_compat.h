#pragma once
// What differs between the LibTorch versions armor builds against, in one place: Debian's 1.13.1
// (CI, this project's default) and a current PyTorch's 2.x (the GPU build, README "GPU"). Code
// elsewhere calls these and never tests TORCH_VERSION_* itself.

#include <ATen/autocast_mode.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

namespace armor::compat {

// 2.4 made autocast per device type (set_autocast_enabled(kCUDA, ...)) and deprecated 1.13's one
// CUDA switch (set_enabled, set_autocast_gpu_dtype).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool cuda_autocast_enabled() { return at::autocast::is_autocast_enabled(at::kCUDA); }
inline void set_cuda_autocast(bool enabled, c10::ScalarType dtype) {
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
}
#else
inline bool cuda_autocast_enabled() { return at::autocast::is_enabled(); }
inline void set_cuda_autocast(bool enabled, c10::ScalarType dtype) {
  at::autocast::set_autocast_gpu_dtype(dtype);
  at::autocast::set_enabled(enabled);
}
#endif

// Mixed precision on CUDA while alive (PyTorch's `with torch.autocast("cuda", dtype)`): the
// products and convolutions in `dtype`, the rest float32. Restores whether autocast was on.
class CudaAutocast {
 public:
  explicit CudaAutocast(c10::ScalarType dtype = c10::kBFloat16) : was_enabled_(cuda_autocast_enabled()) {
    set_cuda_autocast(true, dtype);
  }
  ~CudaAutocast() {
    set_cuda_autocast(was_enabled_, c10::kBFloat16);
    if (!was_enabled_) at::autocast::clear_cache();  // the casted weights of this scope
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

 private:
  bool was_enabled_;
};

}  // namespace armor::compat
