#!/usr/bin/env bash
# Installs every Debian package armor needs to build, test and run. Idempotent: silent when all
# are present; otherwise `apt-get update` then one install (with sudo when not root).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread          # LibTorch; OpenBLAS makes its matrix products ~30x faster
  libboost-dev libboost-program-options-dev  # Boost.DLL (headers) and Program_options
  libtomlplusplus-dev libfmt-dev zlib1g-dev
  libsqlite3-dev libsqlitecpp-dev sqlite3
  nlohmann-json3-dev                         # JSON: plugin manifests and the store's JSON columns
  libgtest-dev
  libstb-dev                                 # stb_image: decodes TinyImageNet's JPEGs
  python3-torch                              # tests check that exported weights load with torch.load
  clang libclang-rt-dev                      # tools/sanitize.sh: ASan + UBSan build and libFuzzer targets
  clang-format clang-tidy                    # tools/format.sh and tools/tidy.sh (.clang-format, .clang-tidy)
  dataset-fashion-mnist                      # the quickstart's data, /usr/share/datasets/fashion-mnist
  chromium                                   # tests: armor report rendered headless (report_test)
  python3-pandas                             # tests: armor db export read by pandas as is (db_export_pandas_test)
  slurm-wlm munge                            # tests: the Slurm launcher on a one-node Slurm (slurm_launcher_test)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "bootstrap: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
echo "bootstrap: done"
