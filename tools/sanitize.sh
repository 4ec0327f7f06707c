#!/usr/bin/env bash
# The sanitizer build (tools/sanitize/CMakeLists.txt): the torch-free code and its tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the fuzz targets (seed corpus replayed, then
# ARMOR_FUZZ_SECONDS each, 30 by default). Builds into build-sanitize/ with clang.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
seconds=${ARMOR_FUZZ_SECONDS:-30}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S tools/sanitize -B build-sanitize -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DARMOR_FUZZ_SECONDS="$seconds" "${launcher[@]}" >/dev/null
cmake --build build-sanitize -j "$(nproc)"
cd build-sanitize
ctest --output-on-failure -j "$(nproc)"
