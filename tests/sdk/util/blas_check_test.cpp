// Which BLAS the process's matrix products run on: Debian's reference BLAS is told apart from the
// optimised ones by its path, and this test program (linked to LibTorch, as armor is) runs on the
// OpenBLAS that tools/bootstrap.sh installs.

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/util/blas_check.h"

namespace {

TEST(BlasCheck, TheReferenceBlasIsToldApartByItsPath) {
  EXPECT_TRUE(armor::is_reference_blas("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"));
  EXPECT_TRUE(armor::is_reference_blas("/usr/lib/aarch64-linux-gnu/blas/libblas.so.3.11.0"));
  EXPECT_FALSE(armor::is_reference_blas("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"));
  EXPECT_FALSE(armor::is_reference_blas("/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3"));
  EXPECT_FALSE(armor::is_reference_blas("/usr/lib/x86_64-linux-gnu/libmkl_rt.so"));
  EXPECT_FALSE(armor::is_reference_blas(""));
}

TEST(BlasCheck, LibTorchsMatrixProductsRunOnTheInstalledOpenBlas) {
  const torch::Tensor product = torch::ones({64, 64}).matmul(torch::ones({64, 64}));  // BLAS loaded and used
  ASSERT_EQ(product[0][0].item<float>(), 64.0f);
  const std::string path = armor::blas_library_path();
  ASSERT_FALSE(path.empty()) << "no sgemm_ in this process";
  EXPECT_TRUE(std::filesystem::exists(path)) << path;
  EXPECT_FALSE(armor::is_reference_blas(path)) << path << ": tools/bootstrap.sh installs libopenblas0-pthread";
  EXPECT_FALSE(armor::reference_blas_warning().has_value());
}

}  // namespace
