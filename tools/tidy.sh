#!/usr/bin/env bash
# clang-tidy (.clang-tidy) over the torch-free sources: the SDK's base (core/sdk/src/{params,plugin,util}
# files of armor_base) and the whole host (core/host/src). Uses build/compile_commands.json, which
# tools/build.sh writes. Exit 1 on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/compile_commands.json ] || { echo "tools/tidy.sh: run tools/build.sh first (build/compile_commands.json)" >&2; exit 2; }
mapfile -t files < <(git ls-files 'core/host/src/*.cpp' core/sdk/src/params/'*.cpp' core/sdk/src/plugin/catalog.cpp \
                       core/sdk/src/plugin/plugin_search.cpp core/sdk/src/util/suggest.cpp core/sdk/src/util/sha256.cpp \
                       core/sdk/src/util/json_text.cpp core/sdk/src/data/augmentation_params.cpp)
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet 2>/dev/null
