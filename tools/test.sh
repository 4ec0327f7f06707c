#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything, runs CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh
(cd build && ctest --output-on-failure -j 2)
# The torch-free code under ASan + UBSan, and 30 s of fuzzing per target (about 3 min cold on 2 cores).
tools/sanitize.sh
