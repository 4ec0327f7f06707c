#!/usr/bin/env bash
# The SDK as its users get it: install armor into a staging prefix, build the out-of-tree gate of
# examples/out-of-tree-gate against it with find_package(armor), load the gate into the installed
# armor and record a tiny run with it.
#   out_of_tree_gate_test.sh <armor build folder> <armor source folder>
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
work="$build/out_of_tree"           # a fixed place, so that ccache hits on the next run
prefix="$work/prefix"
gate_build="$work/gate-build"
run_dir="$work/run"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "building armor and its plugins (nothing to do after a full build)"
cmake --build "$build" --target armor armor_plugins

step "installing into $prefix"
rm -rf "$work"
cmake --install "$build" --prefix "$prefix" > "$work.install.log" || { cat "$work.install.log"; fail "cmake --install"; }
for file in bin/armor lib/libarmor.so include/armor/nn/gate.h include/armor/plugin/registry.h \
            lib/cmake/armor/armorConfig.cmake lib/cmake/armor/armorConfigVersion.cmake \
            lib/cmake/armor/ArmorPluginPackage.cmake lib/armor/plugins/armor_topk.so \
            share/armor/experiments/quickstart.toml share/bash-completion/completions/armor; do
  [ -e "$prefix/$file" ] || fail "the install has no $file"
done
armor="$prefix/bin/armor"

step "the installed armor loads the installed plugins, not the build tree's"
"$armor" plugins show gate/topk | grep -q "library: $prefix/lib/armor/plugins/armor_topk.so" ||
  fail "armor plugins show gate/topk: $("$armor" plugins show gate/topk | head -2)"

step "configuring and building examples/out-of-tree-gate against the install"
launcher=()
if command -v ccache > /dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$source/examples/out-of-tree-gate" -B "$gate_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}"
cmake --build "$gate_build" -j1
gate="$gate_build/plugins/armor_cosine.so"
[ -f "$gate" ] || fail "the example built no $gate"

step "armor sees the new gate with its parameters"
"$armor" plugins --plugin-path "$gate_build/plugins" show gate/cosine | tee "$work/show.txt"
grep -q "library: $gate" "$work/show.txt" || fail "gate/cosine does not come from $gate"
grep -q "temperature" "$work/show.txt" || fail "gate/cosine does not declare temperature"

step "a tiny run with the new gate is recorded"
mkdir -p "$run_dir"
cd "$run_dir"
"$armor" run "$prefix/share/armor/experiments/quickstart.toml" --plugin-path "$gate_build/plugins" \
    --db runs.db --outputs outputs \
    gate.name=cosine '~gate.noise' '~gate.noise_std' gate.temperature=0.3 model.k=2 \
    trainer=standard trainer.epochs=1 data.name=synthetic +data.train_size=64 +data.test_size=32 data.test_limit=0 \
    +data.image_size=12 eval.attacks.pgd20.steps=1
rows=$("$armor" db list --db runs.db --status finished --where "gate.name = 'cosine'" --columns id,gate.temperature --format csv)
echo "$rows"
[ "$(echo "$rows" | tail -n +2)" = "1,0.3" ] || fail "runs.db has no finished run with gate.name = cosine"
recorded=$("$armor" db sql --db runs.db --format plain \
    "SELECT value FROM provenance WHERE key = 'plugin:armor_cosine.so:path'" | tail -n +2)
[ "$recorded" = "$gate" ] || fail "the run's provenance names gate library '$recorded', expected '$gate'"
usage=$("$armor" db sql --db runs.db --format plain \
    "SELECT count(*) FROM expert_metrics WHERE key = 'usage_share'" | tail -n +2)
[ "$usage" -gt 0 ] || fail "the run recorded no expert usage"
echo "PASS"
