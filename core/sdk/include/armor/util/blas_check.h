#pragma once
// Which BLAS LibTorch's matrix products run on. Debian's libtorch calls the libblas.so.3 chosen by
// update-alternatives; when that is the reference BLAS (no OpenBLAS installed), every matrix
// product is ~30x slower, silently. `armor run` and `armor eval` warn, with the fix.

#include <optional>
#include <string>

namespace armor {

// The file that provides the process's `sgemm_` (symlinks resolved), or "" when none is loaded.
std::string blas_library_path();

// True for Debian's reference BLAS (".../blas/libblas.so.3"), false for OpenBLAS, BLIS, MKL, ...
bool is_reference_blas(const std::string& library_path);

// The warning to print when this process's BLAS is the reference one; nothing otherwise.
std::optional<std::string> reference_blas_warning();

}  // namespace armor
