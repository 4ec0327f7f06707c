#!/usr/bin/env bash
# Formats every C++ file of the project with .clang-format (clang-format 14, Debian's `clang-format`).
#   tools/format.sh           rewrite the files in place
#   tools/format.sh --check   list the files that differ from the format; exit 1 if any does
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h' | grep -v '^tests/fuzz/corpus/')
if [ "${1:-}" = "--check" ]; then
  status=0
  for file in "${files[@]}"; do
    if ! clang-format --style=file "$file" | cmp -s - "$file"; then echo "$file"; status=1; fi
  done
  exit $status
fi
clang-format --style=file -i "${files[@]}"
