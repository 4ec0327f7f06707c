#!/usr/bin/env bash
# shellcheck disable=SC2317  # the stage functions are called indirectly, by run_stage
# Builds and checks armor on the accelerator machine (one NVIDIA GPU, pip's PyTorch/LibTorch, CMake,
# Ninja, gcc, nvcc; none of Debian's Boost/toml++/fmt/SQLiteCpp/nlohmann-json/stb/GoogleTest and no
# network). Runs THERE, from the repository root, in one call of the run tool; everything it finds is
# written under $OUT, which comes back.
#
# Here, once:   tools/device/fetch_debs.sh [--with-data]      (fills .device/debs/, ~14 MiB)
# There:        run tool, carry [".device/debs"], timeout_s 600, command one of
#   tools/device/check.sh --syntax-only   first call: deps, torch, configure, then every C++ translation
#                                         unit of compile_commands.json with -fsyntax-only (no linking)
#   tools/device/check.sh                 second call: deps, torch, configure, build, the CUDA tests
#                                         (ARMOR_TEST_DEVICE=cuda), the quickstart on cuda, armor_bench
#                                         --device cuda, then the whole ctest with the time left
#   tools/device/check.sh --configure-only   deps, torch, configure (a quick check, also here)
#   tools/device/check.sh --deps-only        the private prefix alone (also here)
#
# What comes back ($OUT, default /tmp/armor-device-out): summary.txt (each stage's status and
# seconds, warnings, failing files and tests), failures.txt (the tail of each failing stage's log),
# bench.json when the benchmark ran, and logs.tar.gz with everything else: deps.log, torch.log,
# torch.txt, host.txt, nvidia-smi.txt, configure.log, configure-paths.txt (where each dependency was
# found), build.log, syntax.log and syntax/<file>.log (one per failing unit), tests.log (the whole
# ctest), cuda_tests.log, quickstart.log, quickstart.db, bench.log, LastTest*.log. The run tool returns at
# most 8 files, hence the archive; ARMOR_DEVICE_PACK=0 leaves every file loose instead.
#
# Stages: deps      dpkg -x (or a Python fallback where there is no dpkg) every .device/debs/*.deb into
#                   a private prefix (never into /), re-points absolute symlinks into it, rewrites the
#                   .pc files' /usr paths and the CMake configs' "/usr" checks to it, checks that every
#                   library link resolves, that pkg-config finds stb and fmt in it, and which glibc and
#                   libstdc++ symbol versions its libraries need against the machine's. Then the build
#                   sees PKG_CONFIG_PATH, CMAKE_PREFIX_PATH, LD_LIBRARY_PATH and PATH (pkg-config) set.
#         torch     python3 -c 'import torch': version, CUDA, GPU, torch._C._GLIBCXX_USE_CXX11_ABI
#                   (0 is a loud warning: Debian's libraries use the new ABI), cmake_prefix_path;
#                   nvidia-smi, gcc, cmake, nvcc, glibc and OS versions into host.txt.
#         configure cmake -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="<prefix>/usr;<torch>"
#                   (the prefix first: a Torch prefix such as Debian's /usr/lib/x86_64-linux-gnu/cmake
#                   would otherwise hand out the system's fmt, GTest, ... from the same folder)
# A failing stage never stops summary.txt from being written; stages that do not depend on it still run.
# Each stage has a timeout, and the whole script a deadline, so that it ends (and packs $OUT) before
# the run tool's 10 minutes.
#
# Environment (all optional):
#   OUT                          where the results go (default /tmp/armor-device-out)
#   ARMOR_DEVICE_DEBS            the .deb folder (default .device/debs)
#   ARMOR_DEVICE_PREFIX          the private prefix (default .device/prefix); re-extracted only when
#                                the set of .debs changed
#   ARMOR_DEVICE_EXTRACT         python: unpack the .debs with Python even where dpkg-deb exists
#   ARMOR_DEVICE_BUILD_DIR       the build folder (default build-device)
#   ARMOR_DEVICE_PYTHON          the Python with torch (default python3)
#   ARMOR_DEVICE_TORCH_PREFIX    Torch's CMake prefix (a folder holding Torch/TorchConfig.cmake or one
#                                of its parents); skips asking Python for it, and the torch stage only
#                                warns where Python has no torch (for a check on this machine with
#                                Debian's LibTorch 1.13: /usr/lib/x86_64-linux-gnu/cmake)
#   ARMOR_DEVICE_CMAKE_ARGS      more configure arguments, split on spaces
#   ARMOR_DEVICE_JOBS            parallel compile jobs (default nproc)
#   ARMOR_DEVICE_CTEST_JOBS      parallel tests (default 8)
#   ARMOR_DEVICE_CTEST_EXCLUDE   the whole suite's -E (default 'device_test|experiments_cuda_test', which
#                                the cuda_tests stage runs; empty: run everything)
#   ARMOR_DEVICE_CTEST_ARGS      more ctest arguments for the whole suite, split on spaces (e.g. -L x)
#   ARMOR_DEVICE_SYNTAX_LIMIT    check only the first N translation units (0, the default: all)
#   ARMOR_DEVICE_SYNTAX_FILTER   a Python regular expression: only translation units whose path matches
#   ARMOR_DEVICE_QUICKSTART_ARGS more overrides for the quickstart run, split on spaces
#   ARMOR_DEVICE_BENCH_ARGS      more armor_bench arguments, split on spaces (e.g. --only speed)
#   ARMOR_DEVICE_CPU_TESTS_FIRST 1: the whole ctest right after the build (the order of issue 23), not
#                                after the GPU stages; with the deadline, later stages may then be skipped
#   ARMOR_DEVICE_PACK            1 (default): pack $OUT into logs.tar.gz; 0: leave the files loose
#   ARMOR_DEVICE_DEADLINE        seconds for the whole script (default 540); a stage gets no more than
#                                what is left less ARMOR_DEVICE_RESERVE (default 20 s, for packing)
#   ARMOR_DEVICE_T_DEPS, _T_TORCH, _T_CONFIGURE, _T_SYNTAX, _T_BUILD, _T_TESTS, _T_CUDA_TESTS,
#   _T_QUICKSTART, _T_BENCH      each stage's timeout in seconds (60 60 60 300 240 180 120 60 150)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

mode=full
for arg in "$@"; do
  case "$arg" in
    --syntax-only) mode=syntax ;;
    --configure-only) mode=configure ;;
    --deps-only) mode=deps ;;
    -h|--help) awk 'NR > 1 && /^#/ { if (!/^# shellcheck/) { sub(/^# ?/, ""); print }; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

OUT=${OUT:-/tmp/armor-device-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
debs_dir=${ARMOR_DEVICE_DEBS:-$root/.device/debs}
prefix=${ARMOR_DEVICE_PREFIX:-$root/.device/prefix}
build=${ARMOR_DEVICE_BUILD_DIR:-$root/build-device}
python=${ARMOR_DEVICE_PYTHON:-python3}
jobs=${ARMOR_DEVICE_JOBS:-$(nproc)}
ctest_jobs=${ARMOR_DEVICE_CTEST_JOBS:-8}
syntax_limit=${ARMOR_DEVICE_SYNTAX_LIMIT:-0}
syntax_filter=${ARMOR_DEVICE_SYNTAX_FILTER:-}
pack=${ARMOR_DEVICE_PACK:-1}
deadline=${ARMOR_DEVICE_DEADLINE:-540}
reserve=${ARMOR_DEVICE_RESERVE:-20}
t_deps=${ARMOR_DEVICE_T_DEPS:-60}
t_torch=${ARMOR_DEVICE_T_TORCH:-60}
t_configure=${ARMOR_DEVICE_T_CONFIGURE:-60}
t_syntax=${ARMOR_DEVICE_T_SYNTAX:-300}
t_build=${ARMOR_DEVICE_T_BUILD:-240}
t_tests=${ARMOR_DEVICE_T_TESTS:-180}
t_cuda_tests=${ARMOR_DEVICE_T_CUDA_TESTS:-120}
t_quickstart=${ARMOR_DEVICE_T_QUICKSTART:-60}
t_bench=${ARMOR_DEVICE_T_BENCH:-150}
read -r -a cmake_extra <<< "${ARMOR_DEVICE_CMAKE_ARGS:-}"
read -r -a ctest_extra <<< "${ARMOR_DEVICE_CTEST_ARGS:-}"
ctest_exclude=${ARMOR_DEVICE_CTEST_EXCLUDE-device_test|experiments_cuda_test}
read -r -a quickstart_extra <<< "${ARMOR_DEVICE_QUICKSTART_ARGS:-}"
read -r -a bench_extra <<< "${ARMOR_DEVICE_BENCH_ARGS:-}"
case "$prefix" in /*) ;; *) prefix="$root/$prefix" ;; esac
case "$build" in /*) ;; *) build="$root/$build" ;; esac
case "$prefix" in *'|'*|*' '*) echo "check.sh: the prefix path may hold no '|' or space: $prefix" >&2; exit 2 ;; esac
if [ "$prefix" = / ] || [ "$prefix" = /usr ]; then echo "check.sh: refusing prefix $prefix" >&2; exit 2; fi

state="$OUT/.state"           # hand-over between stages (they run in subshells); removed when packing
rm -rf "$state"
mkdir -p "$state"
summary="$OUT/summary.txt"
failures="$OUT/failures.txt"
: > "$failures"
started=$(date +%s)
orig_ld_library_path=${LD_LIBRARY_PATH:-}
multiarch=x86_64-linux-gnu

{
  echo "armor device check: mode=$mode, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), host $(hostname), $(nproc) cores"
  echo "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes')"
  echo "prefix $prefix, build $build, OUT $OUT"
  printf '%-12s %-8s %7s  %s\n' stage status seconds note
} > "$summary"

warn() { echo "WARNING: $*" >> "$state/warnings"; echo "WARNING: $*" >&2; }

# stage_time <timeout>: the timeout clamped to the deadline (0: no time left).
stage_time() {
  local left=$(( deadline - ($(date +%s) - started) - reserve ))
  if [ "$left" -lt 10 ]; then echo 0; elif [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}

# run_stage <name> <timeout> <function>: runs the function in a subshell with set -e, its output in
# $OUT/<name>.log, and appends one summary line. The function sees the clamped timeout as $limit and
# writes a short note into $state/<name>.note. Status: ok, FAIL, TIMEOUT, skip (by the function: exit 3).
declare -A status=()
run_stage() {
  local name=$1 timeout=$2 fn=$3 limit t0 rc text
  limit=$(stage_time "$timeout")
  if [ "$limit" -eq 0 ]; then
    status[$name]=skip
    printf '%-12s %-8s %7s  %s\n' "$name" skip 0 "no time left before the ${deadline}s deadline" >> "$summary"
    return 0
  fi
  echo "== $name (timeout ${limit}s)"
  t0=$(date +%s)
  set +e
  ( set -e; "$fn" ) > "$OUT/$name.log" 2>&1 < /dev/null
  rc=$?
  set -e
  case $rc in
    0) text=ok ;;
    3) text=skip ;;
    124|137) text=TIMEOUT ;;
    *) text=FAIL ;;
  esac
  status[$name]=$text
  local seconds=$(( $(date +%s) - t0 )) detail=""
  [ -f "$state/$name.note" ] && detail=$(tr '\n' ' ' < "$state/$name.note")
  [ "$text" = FAIL ] && [ -z "$detail" ] && detail="exit $rc"
  printf '%-12s %-8s %7s  %s\n' "$name" "$text" "$seconds" "$detail" >> "$summary"
  echo "   $text after ${seconds}s ${detail}"
  if [ "$text" = FAIL ] || [ "$text" = TIMEOUT ]; then
    { echo "===== $name: $text ($detail), last 60 lines of $name.log"; tail -n 60 "$OUT/$name.log"; echo; } >> "$failures"
  fi
}
skip_stage() {   # skip_stage <name> <why>
  status[$1]=skip
  printf '%-12s %-8s %7s  %s\n' "$1" skip 0 "$2" >> "$summary"
}
stage_note() { echo "$*" >> "$state/$current.note"; }

# Guarded timeout: `timeout` sends TERM, then KILL 10 s later.
with_timeout() { timeout -k 10 "$limit" "$@"; }

# ---------------------------------------------------------------------------------------------- deps
# A .deb is an ar archive holding data.tar.*; for machines without dpkg.
extract_deb_python() {
  with_timeout "$python" - "$1" "$2" <<'PY'
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
with open(deb, "rb") as f:
    data = f.read()
if data[:8] != b"!<arch>\n":
    sys.exit(f"{deb}: not an ar archive")
pos = 8
while pos + 60 <= len(data):
    header = data[pos:pos + 60]
    name = header[:16].decode().strip().rstrip("/")
    size = int(header[48:58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    pos += 60 + size + (size & 1)
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if member.name.startswith("/") or ".." in parts:
                    sys.exit(f"{deb}: refusing member {member.name}")
            tar.extractall(dest, filter="fully_trusted")
        sys.exit(0)
sys.exit(f"{deb}: no data.tar member (zstd-compressed? Python's tarfile cannot read it)")
PY
}

stage_deps() {
  current=deps
  local debs=() deb stamp link target rel bad=0 extractor=dpkg
  if [ "${ARMOR_DEVICE_EXTRACT:-}" = python ] || ! command -v dpkg-deb > /dev/null; then extractor=python; fi
  shopt -s nullglob
  debs=("$debs_dir"/*.deb)
  shopt -u nullglob
  if [ ${#debs[@]} -eq 0 ]; then
    stage_note "no .deb in $debs_dir: run tools/device/fetch_debs.sh on the Debian machine and carry .device/debs"
    return 1
  fi
  stamp=$(for deb in "${debs[@]}"; do echo "$(basename "$deb") $(stat -c %s "$deb")"; done | cksum | cut -d' ' -f1)
  if [ -f "$prefix/.armor-device-stamp" ] && [ "$(cat "$prefix/.armor-device-stamp")" = "$stamp" ]; then
    echo "prefix $prefix is up to date with the ${#debs[@]} packages (stamp $stamp)"
  else
    rm -rf "$prefix"
    mkdir -p "$prefix"
    for deb in "${debs[@]}"; do
      echo "extracting $(basename "$deb")"
      if [ "$extractor" = dpkg ]; then
        with_timeout dpkg-deb -x "$deb" "$prefix"
      else
        extract_deb_python "$deb" "$prefix"
      fi
    done
    [ "$extractor" = dpkg ] || echo "(extracted with $python's tarfile: no dpkg-deb here, or ARMOR_DEVICE_EXTRACT=python)"

    # Absolute symlinks (zlib1g-dev's libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) point into the
    # prefix instead, relative so that the prefix can move.
    while IFS= read -r -d '' link; do
      target=$(readlink "$link")
      case "$target" in
        "$prefix"/*) continue ;;
        /*) rel=$(realpath -m --relative-to="$(dirname "$link")" "$prefix$target")
            ln -sfn "$rel" "$link"
            echo "re-pointed ${link#"$prefix"} -> $rel (was $target)" ;;
      esac
    done < <(find "$prefix" -type l -print0)

    # pkg-config files: prefix=/usr, exec_prefix=/usr, libdir=/usr/..., -I/usr/include, into the prefix.
    while IFS= read -r -d '' pc; do
      sed -i -E "s|(^[A-Za-z_][A-Za-z0-9_]*=\|-I\|-L)/usr(/\|$)|\1$prefix/usr\2|g" "$pc"
    done < <(find "$prefix/usr/lib/$multiarch/pkgconfig" "$prefix/usr/lib/pkgconfig" "$prefix/usr/share/pkgconfig" \
               -maxdepth 1 -name '*.pc' -print0 2>/dev/null)

    # CMake package configs compute their prefix from their own location (relocatable); their only
    # absolute paths are the "/usr move" checks, e.g. set(PACKAGE_PREFIX_DIR "/usr") when the
    # config's real path is /usr's. Pointed at the prefix, they stay right and never see /usr.
    # (Boost's configs compare against a /build/... folder of Debian's builder: harmless.)
    while IFS= read -r -d '' config; do
      sed -i -e "s|\"/usr/|\"$prefix/usr/|g" -e "s|\"/usr\"|\"$prefix/usr\"|g" "$config"
    done < <(find "$prefix/usr/lib/$multiarch/cmake" "$prefix/usr/share/cmake" -name '*.cmake' -print0 2>/dev/null)

    # pkg-config as the build calls it: the prefix's pkgconf with its own library and .pc files first.
    mkdir -p "$prefix/bin"
    cat > "$prefix/bin/pkg-config" <<EOF
#!/bin/sh
# armor tools/device/check.sh: Debian's pkgconf from the private prefix $prefix
LD_LIBRARY_PATH="$prefix/usr/lib/$multiarch\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" \\
PKG_CONFIG_PATH="$prefix/usr/lib/$multiarch/pkgconfig:$prefix/usr/share/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}" \\
  exec "$prefix/usr/bin/pkgconf" "\$@"
EOF
    chmod +x "$prefix/bin/pkg-config"
    ln -sfn pkg-config "$prefix/bin/pkgconf"
    echo "$stamp" > "$prefix/.armor-device-stamp"
    echo "extracted ${#debs[@]} packages into $prefix ($(du -sh "$prefix" | cut -f1))"
  fi

  # Checks, every time.
  echo "--- symbolic links under lib/ and bin/ that do not resolve:"
  while IFS= read -r -d '' link; do
    if [ ! -e "$link" ]; then echo "  DANGLING ${link#"$prefix"} -> $(readlink "$link")"; bad=$((bad + 1)); fi
  done < <(find "$prefix/lib" "$prefix/usr/lib" "$prefix/usr/bin" "$prefix/bin" -type l -print0 2>/dev/null)
  [ "$bad" -eq 0 ] && echo "  none"
  echo "--- absolute /usr paths left in the prefix's .pc and CMake files (none expected):"
  grep -rnE '(^|[="[:space:]]|-I|-L)/usr(/|"|$)' "$prefix/usr/lib/$multiarch/pkgconfig" "$prefix/usr/share/pkgconfig" \
      "$prefix/usr/lib/$multiarch/cmake" "$prefix/usr/share/cmake" --include='*.pc' --include='*.cmake' |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || echo "  none"
  echo "--- pkg-config --cflags --libs stb fmt tomlplusplus sqlite3 zlib:"
  local flags
  flags=$("$prefix/bin/pkg-config" --cflags --libs stb fmt tomlplusplus sqlite3 zlib)
  echo "  $flags"
  case "$flags" in *"-I$prefix/usr/include/stb"*) ;; *) echo "pkg-config's stb flags do not point into $prefix"; bad=$((bad + 1)) ;; esac
  case "$flags" in *"-L$prefix/usr/lib/$multiarch"*) ;; *) echo "pkg-config's -L does not point into $prefix"; bad=$((bad + 1)) ;; esac

  echo "--- symbol versions the prefix's libraries and pkgconf need, against this machine's:"
  if command -v objdump > /dev/null; then
    local need_glibc need_glibcxx have_glibc libstdcxx have_glibcxx
    need_glibc=$(find "$prefix" -type f \( -name '*.so*' -o -path '*/usr/bin/pkgconf' \) -exec objdump -T {} + 2>/dev/null |
                 grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -1 || true)
    need_glibcxx=$(find "$prefix" -type f -name '*.so*' -exec objdump -T {} + 2>/dev/null |
                   grep -oE 'GLIBCXX_[0-9.]+' | sort -uV | tail -1 || true)
    have_glibc="GLIBC_$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
    libstdcxx=$(g++ -print-file-name=libstdc++.so.6 2>/dev/null || true)
    [ -f "$libstdcxx" ] || libstdcxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
    have_glibcxx=$( { [ -n "$libstdcxx" ] && grep -aoE 'GLIBCXX_[0-9]+\.[0-9]+(\.[0-9]+)?' "$libstdcxx"; } | sort -uV | tail -1 || true)
    echo "  needs $need_glibc and $need_glibcxx; this machine has $have_glibc and $have_glibcxx ($libstdcxx)"
    if [ -n "$need_glibc" ] && [ "$(printf '%s\n%s\n' "$need_glibc" "$have_glibc" | sort -V | tail -1)" != "$have_glibc" ]; then
      warn "the prefix's libraries need $need_glibc, this machine's glibc is $have_glibc: they will not load"
    fi
    if [ -n "$need_glibcxx" ] && [ -n "$have_glibcxx" ] &&
       [ "$(printf '%s\n%s\n' "$need_glibcxx" "$have_glibcxx" | sort -V | tail -1)" != "$have_glibcxx" ]; then
      warn "the prefix's libraries need $need_glibcxx, this machine's libstdc++ has only $have_glibcxx"
    fi
    stage_note "${#debs[@]} debs; needs $need_glibc/$need_glibcxx, has $have_glibc/$have_glibcxx"
  else
    echo "  no objdump: not checked"
    stage_note "${#debs[@]} debs; symbol versions not checked (no objdump)"
  fi
  [ "$bad" -eq 0 ] || { stage_note "$bad problem(s), see deps.log"; return 1; }
}

deps_env() {
  export PATH="$prefix/bin:$PATH"
  export PKG_CONFIG_PATH="$prefix/usr/lib/$multiarch/pkgconfig:$prefix/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$prefix/usr/lib/$multiarch:$prefix/lib/$multiarch${orig_ld_library_path:+:$orig_ld_library_path}"
  # CMake reads CMAKE_PREFIX_PATH from the environment too: the configures that ctest starts
  # (tests/install/out_of_tree_gate_test.sh) then find Torch, Boost and fmt as well.
  export CMAKE_PREFIX_PATH="$prefix/usr${torch_prefix:+:$torch_prefix}"
}

# --------------------------------------------------------------------------------------------- torch
stage_torch() {
  current=torch
  {
    echo "== os-release"; cat /etc/os-release 2>/dev/null || true
    echo "== uname"; uname -a
    echo "== glibc"; ldd --version 2>&1 | head -1 || true
    echo "== gcc"; { g++ --version 2>&1 || c++ --version 2>&1; } | head -1 || true
    echo "== cmake"; cmake --version 2>&1 | head -1 || true
    echo "== ninja"; ninja --version 2>&1 || true
    echo "== nvcc"; command -v nvcc && nvcc --version 2>&1 | tail -2 || echo "no nvcc in PATH"
    echo "== ccache"; command -v ccache || echo "none"
    echo "== python"; command -v "$python" || true; "$python" --version 2>&1 || true
    echo "== /usr/bin/python3 (armor_bench runs its PyTorch reference in ARMOR_BENCH_PYTHON, here $python)"
    /usr/bin/python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)' 2>&1 | tail -1 || true
  } > "$OUT/host.txt" 2>&1
  cat "$OUT/host.txt"
  if command -v nvidia-smi > /dev/null; then
    with_timeout nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (see nvidia-smi.txt)"
  else
    echo "no nvidia-smi" > "$OUT/nvidia-smi.txt"
  fi
  local ok=1
  if LD_LIBRARY_PATH=$orig_ld_library_path with_timeout "$python" - > "$OUT/torch.txt" 2>&1 <<'PY'
import torch, torch.utils
print("torch_file", torch.__file__)
print("torch_version", torch.__version__)
print("cuda_version", torch.version.cuda)
print("cuda_available", torch.cuda.is_available())
print("device_count", torch.cuda.device_count() if torch.cuda.is_available() else 0)
print("gpu_name", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
if torch.cuda.is_available():
    print("gpu_capability", "%d.%d" % torch.cuda.get_device_capability(0))
print("cxx11_abi", int(torch._C._GLIBCXX_USE_CXX11_ABI))
print("cmake_prefix_path", torch.utils.cmake_prefix_path)
PY
  then
    cat "$OUT/torch.txt"
  else
    cat "$OUT/torch.txt"
    ok=0
  fi
  value() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$OUT/torch.txt"; }
  if [ "$ok" = 1 ]; then
    stage_note "torch $(value torch_version), CUDA $(value cuda_version), available=$(value cuda_available), GPU $(value gpu_name), cxx11_abi=$(value cxx11_abi)"
    [ "$(value cxx11_abi)" = 0 ] &&
      warn "torch._C._GLIBCXX_USE_CXX11_ABI is 0 (old C++ ABI) but Debian's fmt, toml++, Boost, SQLiteCpp and GoogleTest use the new one: linking std::string APIs across them will fail"
    [ "$(value cuda_available)" = True ] || warn "torch.cuda.is_available() is $(value cuda_available): the CUDA stages cannot pass"
  fi
  if [ -n "${ARMOR_DEVICE_TORCH_PREFIX:-}" ]; then
    echo "$ARMOR_DEVICE_TORCH_PREFIX" > "$state/torch_prefix"
    stage_note "Torch prefix from ARMOR_DEVICE_TORCH_PREFIX=$ARMOR_DEVICE_TORCH_PREFIX"
    [ "$ok" = 1 ] || { warn "$python cannot import torch (torch.txt); using ARMOR_DEVICE_TORCH_PREFIX alone"; return 3; }
  elif [ "$ok" = 1 ]; then
    value cmake_prefix_path > "$state/torch_prefix"
  else
    stage_note "$python cannot import torch (torch.txt); set ARMOR_DEVICE_PYTHON or ARMOR_DEVICE_TORCH_PREFIX"
    return 1
  fi
}

# ----------------------------------------------------------------------------------------- configure
stage_configure() {
  current=configure
  # nvcc where the toolkit is installed but not on PATH (Torch's CMake config looks for the CUDA toolkit).
  if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="$PATH:/usr/local/cuda/bin"; fi
  echo "CMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH"
  echo "PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "pkg-config: $(command -v pkg-config)"
  with_timeout cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$prefix/usr;$torch_prefix" "-DPKG_CONFIG_EXECUTABLE=$prefix/bin/pkg-config" \
    "${cmake_extra[@]}"

  # Where each dependency came from: the prefix, Torch's folder, or elsewhere (the system).
  local cache="$build/CMakeCache.txt" key value where outside=0 inside=0
  {
    printf '%-34s %-8s %s\n' entry from value
    for key in Torch_DIR Caffe2_DIR Boost_DIR boost_headers_DIR boost_program_options_DIR Boost_INCLUDE_DIR \
               tomlplusplus_DIR fmt_DIR SQLiteCpp_DIR SQLite3_INCLUDE_DIR SQLite3_LIBRARY nlohmann_json_DIR \
               ZLIB_INCLUDE_DIR ZLIB_LIBRARY_RELEASE ZLIB_LIBRARY GTest_DIR PKG_CONFIG_EXECUTABLE \
               pkgcfg_lib_STB_stb STB_INCLUDE_DIRS STB_INCLUDEDIR; do
      value=$(grep -E "^$key(:[A-Z]+)?=" "$cache" | head -1 | cut -d= -f2- || true)
      [ -n "$value" ] || continue
      case "$value" in
        "$prefix"/*) where=prefix; inside=$((inside + 1)) ;;
        "${torch_prefix%/share/cmake}"/*|"$torch_prefix"/*) where=torch ;;
        *NOTFOUND*) where=MISSING; outside=$((outside + 1)) ;;
        *) case "$key" in Torch_DIR|Caffe2_DIR) where=torch ;; *) where=OUTSIDE; outside=$((outside + 1)) ;; esac ;;
      esac
      printf '%-34s %-8s %s\n' "$key" "$where" "$value"
    done
  } > "$OUT/configure-paths.txt"
  cat "$OUT/configure-paths.txt"
  stage_note "$inside dependency entries from the prefix, $outside from outside it (configure-paths.txt)"
  [ "$outside" -eq 0 ] || warn "$outside dependency entries of CMakeCache.txt are not in $prefix (configure-paths.txt)"
}

# -------------------------------------------------------------------------------------------- syntax
stage_syntax() {
  current=syntax
  local jobdir="$state/syntax-jobs" count failed
  rm -rf "$jobdir" "$OUT/syntax"
  mkdir -p "$jobdir" "$OUT/syntax"
  "$python" - "$build/compile_commands.json" "$jobdir" "$root" "$syntax_limit" "$syntax_filter" <<'PY'
import json, os, re, shlex, sys
database, jobdir, root, limit, pattern = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
entries = json.load(open(database))
units = []
for entry in entries:
    source = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    # The precompiled headers and their anchors (cmake/pch_anchor.cpp): torch.h alone, which every
    # other unit includes anyway.
    if "cmake_pch" in os.path.basename(source) or os.path.basename(source) == "pch_anchor.cpp":
        continue
    if not source.endswith((".cpp", ".cc", ".cxx", ".C")):
        continue
    if pattern and not re.search(pattern, source):
        continue
    units.append((source, entry))
units.sort(key=lambda unit: unit[0])
if limit > 0:
    units = units[:limit]
drop_with_value = {"-o", "-MT", "-MF", "-MQ"}
for index, (source, entry) in enumerate(units):
    argv = entry.get("arguments") or shlex.split(entry["command"])
    out, skip, target = [], False, ""
    for position, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in drop_with_value:
            skip = True
            if arg == "-o" and position + 1 < len(argv):
                found = re.search(r"CMakeFiles/([^/]+)\.dir/", argv[position + 1])
                target = found.group(1) if found else ""
            continue
        if arg in ("-c", "-MD", "-MMD"):
            continue
        out.append(arg)
    out.insert(len(out) - 1 if out and out[-1] == entry["file"] else len(out), "-fsyntax-only")
    # A source compiled into two targets (core/cli/global_options.cpp) is checked for each.
    name = os.path.relpath(source, root) + (f"@{target}" if target else "")
    with open(os.path.join(jobdir, f"{index}.sh"), "w") as job:
        job.write(f"cd {shlex.quote(entry['directory'])} && exec {shlex.join(out)}\n")
    with open(os.path.join(jobdir, f"{index}.name"), "w") as label:
        label.write(name + "\n")
print(f"{len(units)} translation units (of {len(entries)} compile commands)")
PY
  cat > "$jobdir/run-one.sh" <<'EOF'
#!/usr/bin/env bash
# run-one.sh <syntax log folder> <job.sh> (xargs appends the job): one -fsyntax-only compile; its output kept only if it fails.
logs=$1; job=$2
name=$(cat "${job%.sh}.name")
start=$(date +%s)
if bash "$job" > "${job%.sh}.log" 2>&1; then
  echo "ok   $(( $(date +%s) - start ))s $name" >> "$(dirname "$job")/results"
else
  cp "${job%.sh}.log" "$logs/$(echo "$name" | tr '/@' '_-').log"
  echo "FAIL $(( $(date +%s) - start ))s $name" >> "$(dirname "$job")/results"
fi
EOF
  count=$(find "$jobdir" -name '*.name' | wc -l)
  echo "checking $count translation units, $jobs at a time"
  find "$jobdir" -name '[0-9]*.sh' -print0 | sort -zV |
    with_timeout xargs -0 -P "$jobs" -n 1 bash "$jobdir/run-one.sh" "$OUT/syntax" || true
  touch "$jobdir/results"
  sort -k3 "$jobdir/results"
  failed=$(grep -c '^FAIL' "$jobdir/results" || true)
  local done_count
  done_count=$(wc -l < "$jobdir/results")
  grep '^FAIL' "$jobdir/results" | awk '{print $3}' > "$state/syntax-failed" || true
  stage_note "$done_count of $count units checked, $failed failing"
  if [ "$done_count" -lt "$count" ]; then
    stage_note "(stopped at the timeout)"
    return 124
  fi
  [ "$failed" -eq 0 ]
}

# --------------------------------------------------------------------------------------------- build
stage_build() {
  current=build
  # -k 0: build all that can be built, so that later stages test what did.
  local rc=0 failed
  with_timeout cmake --build "$build" -j "$jobs" -- -k 0 || rc=$?
  failed=$(grep -c '^FAILED: ' "$OUT/build.log" || true)
  stage_note "$failed failed build steps$( [ "$rc" = 124 ] && echo ', stopped at the timeout')"
  grep '^FAILED: ' "$OUT/build.log" | cut -c1-200 > "$state/build.failed" || true
  return "$rc"
}

ctest_summary() {   # ctest_summary <log>: the "N% tests passed" line and the failed tests, as a note
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$1" | tail -1 || true)
  [ -n "$line" ] && stage_note "$line"
  sed -n '/The following tests FAILED:/,$p' "$1" | grep -E '^\s+[0-9]+ - ' | sed -E 's/^[[:space:]]+/  /' > "$state/$current.failed" || true
}

stage_tests() {
  current=tests
  local stop rc=0
  stop=$(date -d "+$(( limit > 30 ? limit - 15 : limit / 2 )) seconds" +%H:%M:%S)
  local exclude=()
  # The GPU tests had their own stage (experiments_cuda_test alone may take 900 s).
  [ -n "$ctest_exclude" ] && exclude=(-E "$ctest_exclude") && stage_note "without -E '$ctest_exclude';"
  with_timeout ctest --test-dir "$build" -j "$ctest_jobs" --output-on-failure --stop-time "$stop" "${exclude[@]}" \
    "${ctest_extra[@]}" || rc=$?
  ctest_summary "$OUT/tests.log"
  return "$rc"
}

stage_cuda_tests() {
  current=cuda_tests
  local listed names=() name rc=0 stop
  listed=$(ctest --test-dir "$build" -N -R 'device_test|experiments_cuda_test' | grep -E '^\s*Test +#' || true)
  echo "$listed"
  for name in device_test experiments_cuda_test; do
    if grep -qE "Test +#[0-9]+: $name\$" <<< "$listed"; then names+=("$name"); else stage_note "no test $name in this build;"; fi
  done
  [ ${#names[@]} -gt 0 ] || { stage_note "nothing to run"; return 3; }
  stop=$(date -d "+$(( limit > 30 ? limit - 15 : limit / 2 )) seconds" +%H:%M:%S)
  # -V: GoogleTest's own "[  SKIPPED ]" lines show even for tests that pass.
  ARMOR_TEST_DEVICE=cuda with_timeout ctest --test-dir "$build" -R 'device_test|experiments_cuda_test' \
    -V --output-on-failure --stop-time "$stop" || rc=$?
  ctest_summary "$OUT/cuda_tests.log"
  # A skip passes in ctest: count them, so that "passed" on a machine where armor sees no GPU shows.
  local skipped
  skipped=$(grep -cE '^\[  SKIPPED \]|\*\*\*Skipped' "$OUT/cuda_tests.log" || true)
  if [ "$skipped" -gt 0 ]; then
    stage_note "$skipped skips (GoogleTest or ctest; cuda_tests.log)"
    warn "the CUDA tests skipped $skipped times: see cuda_tests.log (no GPU visible to armor's LibTorch?)"
  fi
  return "$rc"
}

stage_quickstart() {
  current=quickstart
  local armor="$build/armor" data=() dir
  [ -x "$armor" ] || { stage_note "no $armor (the build failed?)"; return 1; }
  if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    stage_note "Fashion-MNIST of /usr/share/datasets"
  elif dir="$prefix/usr/share/datasets/fashion-mnist" && [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
    data=("data.path=$dir")
    stage_note "Fashion-MNIST of the prefix (fetch_debs.sh --with-data)"
  else
    # No Fashion-MNIST on the machine (fetch_debs.sh --with-data carries it): synthetic images of its shape.
    data=(data.name=synthetic +data.train_size=12800 +data.test_size=1000 +data.image_size=28 data.test_limit=0)
    stage_note "no Fashion-MNIST: synthetic 28x28 data;"
  fi
  rm -rf "$OUT/quickstart.db" "$OUT/quickstart-outputs"
  with_timeout "$armor" run "$root/experiments/quickstart.toml" run.device=cuda "${data[@]}" "${quickstart_extra[@]}" \
    --db "$OUT/quickstart.db" --outputs "$OUT/quickstart-outputs"
  echo "== armor db list"
  "$armor" db list --db "$OUT/quickstart.db"
  local row
  row=$("$armor" db list --db "$OUT/quickstart.db" --format csv 2>/dev/null | tail -n +2 | head -1 || true)
  if [ -n "$row" ]; then stage_note "run: $row"; fi
}

stage_bench() {
  current=bench
  local bench="$build/tools/armor_bench" help
  [ -x "$bench" ] || { stage_note "no $bench (the build failed?)"; return 1; }
  help=$("$bench" --help 2>&1 || true)
  echo "$help"
  if ! grep -q -- '--device' <<< "$help"; then
    stage_note "armor_bench --help lists no --device option: skipped"
    return 3
  fi
  # The PyTorch reference beside each GPU figure runs in this machine's Python (PyTorch 2.x with CUDA).
  ARMOR_BENCH_PYTHON=$(command -v "$python") with_timeout "$bench" --device cuda --json "$OUT/bench.json" \
    "${bench_extra[@]}"
}

# ------------------------------------------------------------------------------------------ finish
finish() {
  local rc=$?
  trap - EXIT
  set +e
  [ -n "${build:-}" ] && cp "$build"/Testing/Temporary/LastTest*.log "$OUT"/ 2>/dev/null
  {
    [ -f "$state/warnings" ] && { echo; cat "$state/warnings"; }
    if [ -s "$state/syntax-failed" ]; then
      echo; echo "translation units failing -fsyntax-only ($(wc -l < "$state/syntax-failed")):"
      sed 's/^/  /' "$state/syntax-failed"
    fi
    local stage
    for stage in build cuda_tests tests; do
      if [ -s "$state/$stage.failed" ]; then echo; echo "$stage failed:"; cat "$state/$stage.failed"; fi
    done
    echo
    echo "total $(( $(date +%s) - started ))s, exit $rc$( [ "${interrupted:-}" ] && echo ", interrupted by $interrupted")"
  } >> "$summary"
  if [ -s "$state/syntax-failed" ]; then
    {
      echo "===== syntax: the first errors of each failing unit (all of them in syntax/<file>.log)"
      local file
      for file in "$OUT"/syntax/*.log; do
        echo "--- $(basename "$file")"
        grep -m 5 -E 'error|Error' "$file"
      done
    } >> "$failures"
  fi
  [ -s "$failures" ] || rm -f "$failures"
  rm -rf "$state"
  if [ "$pack" = 1 ]; then
    # At most 8 files come back from $OUT: summary.txt, failures.txt, bench.json loose, the rest packed
    # (files over 8 MiB, e.g. checkpoints, are left out and named in the summary).
    local big file
    big=$(cd "$OUT" && find . -type f -size +8M | sed 's|^\./||')
    if [ -n "$big" ]; then { echo; echo "left out of logs.tar.gz (over 8 MiB):"; while IFS= read -r file; do echo "  $file"; done <<< "$big"; } >> "$summary"; fi
    local excludes=()
    while IFS= read -r file; do [ -n "$file" ] && excludes+=("--exclude=$file"); done <<< "$big"
    (cd "$OUT" && find . -mindepth 1 -maxdepth 1 ! -name logs.tar.gz -printf '%P\n' |
       tar -czf logs.tar.gz "${excludes[@]}" -T -) &&
    (cd "$OUT" && find . -mindepth 1 -maxdepth 1 ! -name logs.tar.gz ! -name summary.txt ! -name failures.txt \
                        ! -name bench.json -exec rm -rf {} +)
  fi
  echo
  cat "$summary"
  if [ -f "$failures" ]; then echo; head -c 6000 "$failures"; fi
  exit "$rc"
}
trap finish EXIT
trap 'interrupted=TERM; exit 143' TERM
trap 'interrupted=INT; exit 130' INT

# ------------------------------------------------------------------------------------------- stages
overall=0
torch_prefix=""
run_stage deps "$t_deps" stage_deps
[ "${status[deps]}" = ok ] || overall=1
if [ "$mode" = deps ]; then
  deps_env
  echo "env: PATH=$PATH PKG_CONFIG_PATH=$PKG_CONFIG_PATH LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$OUT/deps.log"
  exit "$overall"
fi
run_stage torch "$t_torch" stage_torch
case "${status[torch]}" in ok|skip) ;; *) overall=1 ;; esac
[ -f "$state/torch_prefix" ] && torch_prefix=$(cat "$state/torch_prefix")
deps_env

if [ "${status[deps]}" != ok ]; then
  skip_stage configure "needs deps"
elif [ -z "$torch_prefix" ]; then
  skip_stage configure "needs Torch's CMake prefix (torch stage)"
else
  run_stage configure "$t_configure" stage_configure
fi
[ "${status[configure]}" = ok ] || overall=1
configured=0
[ "${status[configure]}" = ok ] && configured=1

case "$mode" in
  configure) ;;
  syntax)
    if [ "$configured" = 1 ]; then run_stage syntax "$t_syntax" stage_syntax; else skip_stage syntax "needs configure"; fi
    [ "${status[syntax]}" = ok ] || overall=1
    ;;
  full)
    if [ "$configured" = 1 ]; then run_stage build "$t_build" stage_build; else skip_stage build "needs configure"; fi
    [ "${status[build]}" = ok ] || overall=1
    # After a partial build (-k 0) the tests, the quickstart and the benchmark still run where their
    # programs were built. The GPU stages come before the whole suite, which CI runs on CPUs anyway.
    cpu_tests() {
      if [ "$configured" = 1 ]; then run_stage tests "$t_tests" stage_tests; else skip_stage tests "needs configure"; fi
      [ "${status[tests]}" = ok ] || overall=1
    }
    [ "${ARMOR_DEVICE_CPU_TESTS_FIRST:-0}" = 1 ] && cpu_tests
    if [ "$configured" = 1 ]; then run_stage cuda_tests "$t_cuda_tests" stage_cuda_tests; else skip_stage cuda_tests "needs configure"; fi
    case "${status[cuda_tests]}" in ok|skip) ;; *) overall=1 ;; esac
    run_stage quickstart "$t_quickstart" stage_quickstart
    [ "${status[quickstart]}" = ok ] || overall=1
    run_stage bench "$t_bench" stage_bench
    case "${status[bench]}" in ok|skip) ;; *) overall=1 ;; esac
    [ "${ARMOR_DEVICE_CPU_TESTS_FIRST:-0}" = 1 ] || cpu_tests
    ;;
esac
exit "$overall"
