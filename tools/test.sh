#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything, runs CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh
cd build
ctest --output-on-failure -j 2
