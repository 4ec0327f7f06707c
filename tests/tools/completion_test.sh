#!/usr/bin/env bash
# tools/armor-completion.bash against the built armor: what <TAB> offers at each place of a command line.
#   completion_test.sh <armor program> <armor source folder>
set -euo pipefail
armor=$1
source=$2
# shellcheck source=../../tools/armor-completion.bash
source "$source/tools/armor-completion.bash"
compopt() { :; }  # only valid while bash itself is completing

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/experiments/model"
touch "$work/experiments/base.toml" "$work/experiments/notes.txt" "$work/results.db"
cd "$work"

failures=0
# expect "<command line, the last word being completed>" "<words COMPREPLY must hold>" ["<words it must not>"]
expect() {
  local line=$1 want=$2 unwanted=${3-}
  read -r -a COMP_WORDS <<< "$line"
  [[ $line == *" " ]] && COMP_WORDS+=("")
  COMP_WORDS[0]=$armor
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _armor
  local got=" ${COMPREPLY[*]} " word
  for word in $want; do
    [[ $got == *" $word "* ]] || { echo "FAIL: '$line<TAB>' offers [${COMPREPLY[*]}], missing $word"; failures=$((failures + 1)); }
  done
  for word in $unwanted; do
    [[ $got != *" $word "* ]] || { echo "FAIL: '$line<TAB>' offers $word: [${COMPREPLY[*]}]"; failures=$((failures + 1)); }
  done
}

expect "armor " "run config plugins sweep db report --help" "_exec-run"
expect "armor r" "run report" "config"
expect "armor db " "list show compare pivot effects pareto best export sql rm plot"
expect "armor db plot " "lines heatmap curves"
expect "armor db plot lines --" "--x --metric --lines --output --db --sweep"
expect "armor db list --format " "csv json table plain auto markdown"
expect "armor run --" "--multirun --jobs --db --plugin-path --outputs --constraint" "--x"
expect "armor run experiments/" "experiments/base.toml experiments/model" "experiments/notes.txt"
expect "armor run --db " "results.db"
expect "armor run experiments/base.toml gate.name=" "gate.name=topk gate.name=noisy_topk gate.name=linear_router" "gate.name=pgd"
expect "armor run experiments/base.toml model.k=2 attack.name=p" "attack.name=pgd" "attack.name=fgsm"
expect "armor run experiments/base.toml data.name=" "data.name=fashion_mnist data.name=synthetic"
expect "armor run experiments/base.toml tr" "trainer.name="
expect "armor plugins " "show"
expect "armor plugins show gate/" "gate/topk gate/noisy_topk" "attack/pgd"
expect "armor plugins show " "model/resnet trainer/pgd_at balancing/switch dataset/synthetic"
expect "armor sweep " "work resume"
expect "armor sweep resume --" "--force --jobs --launcher --db" "--x"
expect "armor --db results.db sweep " "work resume collect status"
expect "armor --db " "results.db"
expect "armor report --" "--sweep --output --db"

[ "$failures" -eq 0 ] || { echo "$failures completion(s) wrong"; exit 1; }
echo PASS
