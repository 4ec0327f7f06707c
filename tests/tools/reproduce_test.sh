#!/usr/bin/env bash
# tools/reproduce.sh at REPRODUCE_SCALE=tiny on one claim (about 20 s): it runs the claim's sweep into
# its own database and writes the page (Markdown tables), the CSV and the report; a second call
# resumes nothing; --page-only regenerates the same page from the database.
#   reproduce_test.sh <armor program> <armor source folder>
set -euo pipefail
armor=$1
source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ARMOR=$armor REPRODUCE_SCALE=tiny REPRODUCE_DIR=$work/page REPRODUCE_JOBS=2
page=$work/page/reproduction.md
fail() {
  echo "FAIL: $*"
  exit 1
}

bash "$source/tools/reproduce.sh" claim2 > "$work/first.log" 2>&1 || { cat "$work/first.log"; fail "the first call failed"; }
[[ -f $page ]] || fail "no page at $page"
grep -q '^| model.k | clean_acc | pgd20_acc ' "$page" || fail "claim 2's pivot is not a Markdown table"
grep -q '^| ---: | ' "$page" || fail "no right-aligned number column"
grep -q '(not run yet: `tools/reproduce.sh claim1`)' "$page" || fail "claim 1 should say it has not run"
grep -q '^<!-- end tables:claim2 -->$' "$page" || fail "claim 2's tables block is not closed"
grep -q '^\*Verdict:\*' "$page" || fail "the template's verdicts are gone"
runs=$(($(wc -l < "$work/page/results.csv") - 1))
[[ $runs == 9 ]] || fail "results.csv holds $runs runs, claim 2 has 9"
[[ -s $work/page/report-claim2.html ]] || fail "no report of claim 2"

# The page's command for rerunning one cell, run as printed (into this test's folder): the same numbers.
rerun=$(grep -m1 'build/armor run .* --db /tmp/rerun.db$' "$page") || fail "the page gives no rerun command"
if [[ $(uname -m) == x86_64 && $rerun != "OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 build/armor run "* ]]; then
  fail "the rerun command does not pin the kernels the study ran with: $rerun"
fi
cell=$(grep -m1 -o 'build/armor db show [0-9]*' "$page" | grep -o '[0-9]*$')
rerun=${rerun/build\/armor/$armor}
(cd "$source" && eval "${rerun/\/tmp\/rerun.db/$work/rerun.db} --outputs $work/rerun") > "$work/rerun.log" 2>&1 ||
  { cat "$work/rerun.log"; fail "the page's rerun command failed"; }
numbers="SELECT clean_acc, pgd20_acc, worst_case_acc FROM results WHERE run_id ="
study=$("$armor" db sql "$numbers $cell" --db "$work/page/runs.db" --format plain | sed -n 2p)
again=$("$armor" db sql "$numbers 1" --db "$work/rerun.db" --format plain | sed -n 2p)
[[ -n $study && $study == "$again" ]] || fail "run $cell gave '$study', its rerun '$again'"

bash "$source/tools/reproduce.sh" claim2 > "$work/second.log" 2>&1 || { cat "$work/second.log"; fail "the second call failed"; }
grep -q 'claim2: sweep 1 is complete' "$work/second.log" || { cat "$work/second.log"; fail "the second call did not see the sweep complete"; }
[[ $("$armor" db sql "SELECT count(*) FROM runs" --db "$work/page/runs.db" --format plain | sed -n 2p) == 9 ]] ||
  fail "the second call ran something again"

grep -v '^Scale: ' "$page" > "$work/before.md"
bash "$source/tools/reproduce.sh" --page-only > "$work/third.log" 2>&1 || { cat "$work/third.log"; fail "--page-only failed"; }
grep -v '^Scale: ' "$page" | diff "$work/before.md" - > /dev/null || fail "--page-only changed the page"
echo "reproduce.sh: tiny claim 2, resumed and regenerated"
