#include "armor/util/blas_check.h"

#include <dlfcn.h>

#include <filesystem>
#include <system_error>

#include <fmt/core.h>

namespace armor {

std::string blas_library_path() {
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");  // what LibTorch's gemm binds to: the first definition
  Dl_info info{};
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return "";
  std::error_code error;
  const std::filesystem::path resolved = std::filesystem::canonical(info.dli_fname, error);
  return error ? std::string(info.dli_fname) : resolved.string();
}

bool is_reference_blas(const std::string& library_path) {
  const std::filesystem::path path(library_path);
  return path.parent_path().filename() == "blas" && path.filename().string().rfind("libblas.so", 0) == 0;
}

std::optional<std::string> reference_blas_warning() {
  const std::string path = blas_library_path();
  if (!is_reference_blas(path)) return std::nullopt;
  return fmt::format(
      "matrix products run on the reference BLAS ({}), about 30x slower than OpenBLAS; install it with "
      "`sudo apt-get install libopenblas0-pthread` (tools/bootstrap.sh does), or select it with "
      "`sudo update-alternatives --config libblas.so.3-x86_64-linux-gnu`",
      path);
}

}  // namespace armor
