#!/usr/bin/env bash
# Downloads (never installs) the Debian 12 packages that armor needs besides LibTorch into
# .device/debs/ at the repository root, for tools/device/check.sh to unpack into a private prefix on
# the accelerator machine, which has LibTorch (pip's torch) but none of these libraries.
# Runs HERE, on the Debian 12 development machine; needs no root (apt-get download only).
#
#   tools/device/fetch_debs.sh               download what is missing, print the total size
#   tools/device/fetch_debs.sh --with-data   also dataset-fashion-mnist (31 MB: the quickstart's data;
#                                            mind the run tool's 64 MiB limit on what travels)
#
# Idempotent: a package whose .deb (any version) is already in .device/debs/ is skipped. Pass the
# folder to the run tool with carry: [".device/debs"] (.device/ is in .gitignore).
#
# Why these packages (CMakeLists.txt, core/**/CMakeLists.txt, tests/CMakeLists.txt, cmake/*.cmake):
#   find_package(Boost 1.74 COMPONENTS program_options)  libboost1.74-dev (headers, BoostConfig),
#       libboost-program-options1.74-dev (.so link + config), libboost-program-options1.74.0 (runtime)
#   find_package(tomlplusplus)  libtomlplusplus-dev; NOT header-only in Debian: its config imports
#       libtomlplusplus.so with TOML_SHARED_LIB=1, so the runtime libtomlplusplus3 is needed too
#   find_package(fmt)           libfmt-dev + libfmt9 (shared)
#   find_package(SQLiteCpp)     libsqlitecpp-dev ships a static libSQLiteCpp.a (no runtime package);
#       its config does find_dependency(SQLite3): libsqlite3-dev + libsqlite3-0
#   find_package(nlohmann_json 3)  nlohmann-json3-dev (header-only, config in usr/share/cmake)
#   find_package(ZLIB)          zlib1g-dev; its libz.so is an ABSOLUTE link to /lib/x86_64-linux-gnu/
#       libz.so.1.2.13, so zlib1g (the runtime) is fetched too and check.sh re-points the link
#   pkg_check_modules(stb)      libstb-dev (stb.pc: -lstb, libstb.so -> libstb.so.0) + libstb0
#   find_package(GTest)         libgtest-dev (static libgtest.a/libgtest_main.a). Not its Depends
#       "googletest" (sources only). libgmock-dev is NOT fetched: GTestConfig.cmake includes
#       GMockTargets.cmake OPTIONAL and nothing in armor uses gmock.
#   find_package(PkgConfig)     pkgconf-bin (the binary) + libpkgconf3 (its library) + pkgconf
#       (the pkg-config name, a relative link to pkgconf)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.device/debs"

packages=(
  libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
  libtomlplusplus-dev libtomlplusplus3
  libfmt-dev libfmt9
  libsqlitecpp-dev libsqlite3-dev libsqlite3-0
  nlohmann-json3-dev
  zlib1g-dev zlib1g
  libstb-dev libstb0
  libgtest-dev
  pkgconf pkgconf-bin libpkgconf3
)
for arg in "$@"; do
  case "$arg" in
    --with-data) packages+=(dataset-fashion-mnist) ;;
    -h|--help) awk 'NR > 1 && /^#/ { if (!/^# shellcheck/) { sub(/^# ?/, ""); print }; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "fetch_debs.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

command -v apt-get > /dev/null || { echo "fetch_debs.sh: apt-get not found (run this on the Debian 12 machine)" >&2; exit 1; }
mkdir -p "$dest"
cd "$dest"

missing=()
for package in "${packages[@]}"; do
  # apt-get download names files <package>_<version>_<arch>.deb (':' in the version becomes %3a).
  if compgen -G "${package}_*.deb" > /dev/null; then
    echo "have      $package ($(basename "$(compgen -G "${package}_*.deb" | head -1)"))"
  else
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "fetching  ${missing[*]}"
  apt_options=()
  # As root, apt fetches as root rather than warning that its _apt user cannot write here.
  [ "$(id -u)" = 0 ] && apt_options=(-o APT::Sandbox::User=root)
  if ! apt-get "${apt_options[@]}" download "${missing[@]}"; then
    echo >&2
    echo "fetch_debs.sh: apt-get download failed for: ${missing[*]}" >&2
    echo "  The package lists may be stale or missing: run 'apt-get update' (as root) and try again." >&2
    exit 1
  fi
  for package in "${missing[@]}"; do
    compgen -G "${package}_*.deb" > /dev/null ||
      { echo "fetch_debs.sh: apt-get download reported success but no ${package}_*.deb is in $dest" >&2; exit 1; }
  done
fi

count=$(find . -maxdepth 1 -name '*.deb' | wc -l)
bytes=$(find . -maxdepth 1 -name '*.deb' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
echo "$count packages in $dest: $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.1f MiB", b / 1048576 }'))"
