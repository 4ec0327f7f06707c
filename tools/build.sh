#!/usr/bin/env bash
# Configures and builds armor into build/ (Release). Extra arguments go to `cmake --build`,
# e.g. `tools/build.sh --target armor armor_plugins`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build -j "$(nproc)" "$@"
