#!/usr/bin/env bash
# The reproduction study of docs/reproduction.md (issue 22): runs, or resumes, one sweep per claim of
# the two papers (experiments/reproduction/claim*.toml) into its own database, then regenerates the
# page and everything beside it from that database with armor's own commands:
#   docs/reproduction/results.csv          armor db export (one row per run, every param and metric)
#   docs/reproduction/report-claimN.html   armor report, one per claim's sweep
#   docs/reproduction.md                   tools/reproduction/page.md.in with each <!-- tables:claimN -->
#                                          and <!-- flags:claimN --> marker replaced by armor db output
# Safe to rerun: a claim whose sweep is recorded is resumed (`armor sweep resume`: its pending,
# interrupted, failed and dead runs), never run twice; a finished study only regenerates the page.
# A sweep whose experiment file has changed since it was recorded is not resumed (a warning says
# how to remove it and start the claim again).
# About 3 hours on 2 cores (two runs at a time, one thread each); it may span several sittings.
#
# usage: tools/reproduce.sh [--page-only] [claimN ...]     (default: every claim)
#   --page-only   run nothing; regenerate the page, CSV and reports from the database
# environment:
#   ARMOR             the armor program (default: build/armor)
#   REPRODUCE_DB      the study's database (default: docs/reproduction/runs.db, committed: a fresh
#                     checkout resumes the study where the last commit of it stopped; commit it when
#                     no run is writing it, e.g. after this script, whose last connection folds the
#                     journal into the file)
#   REPRODUCE_OUTPUTS the run folders (default: docs/reproduction/outputs, not committed: a run
#                     interrupted on another machine starts again from its first epoch)
#   REPRODUCE_JOBS    runs at once (default 2; each run's thread count is fixed in its file)
#   REPRODUCE_SCALE   full (default) or tiny: a smoke test of the whole pipeline in about 2
#                     minutes (1 epoch on 256 images, 64 test images, attacks of 1-2 steps), written
#                     under REPRODUCE_DIR (default /tmp/armor-reproduction-tiny), never into docs/
#   REPRODUCE_DIR     where the CSV, reports and page go (default: docs/reproduction; the page is
#                     docs/reproduction.md, or REPRODUCE_DIR/reproduction.md when REPRODUCE_DIR is set)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

armor=${ARMOR:-build/armor}
scale=${REPRODUCE_SCALE:-full}
jobs=${REPRODUCE_JOBS:-2}
case "$scale" in
  full) dir=${REPRODUCE_DIR:-docs/reproduction} ;;
  tiny) dir=${REPRODUCE_DIR:-/tmp/armor-reproduction-tiny} ;;
  *) echo "reproduce: REPRODUCE_SCALE must be full or tiny (got '$scale')" >&2; exit 2 ;;
esac
if [[ -n "${REPRODUCE_DIR:-}" || "$scale" == tiny ]]; then page=$dir/reproduction.md; else page=docs/reproduction.md; fi
db=${REPRODUCE_DB:-$dir/runs.db}
outputs=${REPRODUCE_OUTPUTS:-$dir/outputs}
template=tools/reproduction/page.md.in

page_only=false
claims=()
for arg in "$@"; do
  case "$arg" in
    --page-only) page_only=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    claim[1-6]) claims+=("$arg") ;;
    *) echo "reproduce: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
[[ ${#claims[@]} -gt 0 ]] || claims=(claim1 claim2 claim3 claim4 claim5 claim6)
[[ -x "$armor" ]] || { echo "reproduce: $armor not found: build armor first (tools/build.sh; README)" >&2; exit 2; }
mkdir -p "$dir" "$outputs"

# The CPU kernels, pinned to AVX2's on x86-64 so that the study's numbers do not depend on which
# machine runs it: OpenBLAS, ATen and oneDNN otherwise pick AVX-512 kernels where the CPU has them,
# which sum in another order, and training amplifies those last-bit differences (claim 5's first run
# gave clean 0.764 with AVX-512 kernels, 0.763 with AVX2's). Set any of them to choose otherwise.
# The page's rerun commands carry the same pins, so that a cell reruns to the same last digit.
kernel_pins=""
if [[ "$(uname -m)" == x86_64 ]]; then
  export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-avx2} \
    ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-AVX2}
  kernel_pins="OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE ATEN_CPU_CAPABILITY=$ATEN_CPU_CAPABILITY ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA "
fi

log() { printf '[reproduce %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The experiment file of each claim.
experiment_of() {
  case "$1" in
    claim1) echo experiments/reproduction/claim1_moe_layer_at.toml ;;
    claim2) echo experiments/reproduction/claim2_convmoe_topk_collapse.toml ;;
    claim3) echo experiments/reproduction/claim3_routing_fixed_expert.toml ;;
    claim4) echo experiments/reproduction/claim4_rt_er_beta.toml ;;
    claim5) echo experiments/reproduction/claim5_dual_alpha_jtdmoe.toml ;;
    claim6) echo experiments/reproduction/claim6_expert_router_vulnerability.toml ;;
  esac
}

# The tiny scale's overrides: every attack cut to 1-2 steps or 10 queries (the names differ by paper).
tiny_overrides() {
  local common=(trainer.epochs=1 data.train_limit=256 data.test_limit=64 attack.steps=1
                eval.attacks.apgd.steps=2 eval.attacks.square.queries=10)
  case "$1" in
    claim1|claim2|claim3) echo "${common[@]}" eval.attacks.pgd20.steps=2 ;;
    *) echo "${common[@]}" eval.attacks.pgd10.steps=2 eval.attacks.pgd50.steps=2 ;;
  esac
}

# One value from a read-only query ('' when there is none).
sql_value() { "$armor" db sql "$1" --db "$db" --format plain | sed -n 2p; }

# The latest sweep recorded for an experiment file ('' when none).
sweep_of() {
  [[ -f "$db" ]] || return 0
  local id
  id=$(sql_value "SELECT max(id) FROM sweeps WHERE experiment = '$(experiment_of "$1")'")
  [[ "$id" == "NULL" ]] && id=""
  echo "$id"
}

# The config hashes the experiment file gives now, and those its recorded sweep holds (sorted).
hashes_now() {
  local overrides=()
  [[ "$scale" == tiny ]] && read -r -a overrides <<< "$(tiny_overrides "$1")"
  "$armor" config "$(experiment_of "$1")" "${overrides[@]}" | awk '$1 ~ /^[0-9]+$/ && length($2) == 16 && $2 ~ /^[0-9a-f]+$/ { print $2 }' | sort
}
hashes_recorded() {
  "$armor" db sql "SELECT config_hash FROM runs WHERE sweep_id = $1" --db "$db" --format plain | sed 1d | sort
}

run_claim() {
  local claim=$1 experiment sweep left overrides=()
  experiment=$(experiment_of "$claim")
  [[ "$scale" == tiny ]] && read -r -a overrides <<< "$(tiny_overrides "$claim")"
  sweep=$(sweep_of "$claim")
  if [[ -z "$sweep" ]]; then
    log "$claim: starting $experiment (${overrides[*]:-full scale}), $jobs at a time"
    "$armor" run "$experiment" "${overrides[@]}" --jobs "$jobs" --db "$db" --outputs "$outputs" ||
      log "$claim: not every run finished (exit $?); rerun this script to resume it"
    return 0
  fi
  if [[ "$(hashes_now "$claim")" != "$(hashes_recorded "$sweep")" ]]; then
    log "$claim: WARNING: $experiment has changed since sweep $sweep was recorded (its runs' configs differ);"
    log "$claim: not resuming it. To rerun the claim with the file as it is: $armor db rm --sweep $sweep --yes --db $db"
    return 0
  fi
  left=$(sql_value "SELECT count(*) FROM runs WHERE sweep_id = $sweep AND status IN ('pending', 'running', 'interrupted', 'failed')")
  if [[ "$left" == 0 ]]; then
    log "$claim: sweep $sweep is complete"
    return 0
  fi
  log "$claim: resuming sweep $sweep ($left runs left), $jobs at a time"
  "$armor" sweep resume "$sweep" --jobs "$jobs" --db "$db" ||
    log "$claim: not every run finished (exit $?); rerun this script to resume it"
}

# Claim 5's members trained apart, mixed: each finished alpha = 0 run of its sweep evaluated again at
# alpha 0.5, 0.7 and 0.9 (`armor eval RUN --new-run model.alpha=A`: new runs, no training), so that
# JTDMoE at each alpha can be set beside the same alpha applied to members trained apart. Resumable:
# a pair (run, alpha) with a finished evaluation is not evaluated again.
mix_apart_members() {
  local s5 pairs
  s5=$(sweep_of claim5)
  [[ -n "$s5" ]] || return 0
  pairs=$("$armor" db sql "SELECT r.id, a.alpha FROM runs r JOIN results p ON p.run_id = r.id JOIN (SELECT 0.5 AS alpha UNION ALL SELECT 0.7 UNION ALL SELECT 0.9) a WHERE r.sweep_id = $s5 AND r.status = 'finished' AND p.\"model.alpha\" = 0 AND NOT EXISTS (SELECT 1 FROM runs e JOIN results q ON q.run_id = e.id WHERE e.status = 'finished' AND e.overrides LIKE '%\"--from-run=' || r.id || '\"%' AND q.\"model.alpha\" = a.alpha) ORDER BY 1, 2" --db "$db" --format plain | sed 1d)
  [[ -n "$pairs" ]] || { log "claim5: the apart-trained members are mixed at every alpha"; return 0; }
  # A member whose checkpoint is not on this machine (run folders are not committed) cannot be mixed.
  local run missing=""
  for run in $(cut -f1 <<< "$pairs" | sort -un); do
    [[ -f "$(sql_value "SELECT path FROM artifacts WHERE run_id = $run AND kind = 'checkpoint'")" ]] || missing+=" $run"
  done
  if [[ -n "$missing" ]]; then
    log "claim5: the checkpoints of run(s)$missing are not on this machine (run folders are not committed): their"
    log "claim5: mixes cannot run here. To train claim 5 again and mix it: $armor db rm --sweep $s5 --yes --db $db"
    pairs=$(awk -v skip="$missing " 'BEGIN { n = split(skip, s, " "); for (i = 1; i <= n; i++) gone[s[i]] = 1 } !($1 in gone)' <<< "$pairs")
    [[ -n "$pairs" ]] || return 0
  fi
  log "claim5: mixing the apart-trained members: $(wc -l <<< "$pairs") evaluations, $jobs at a time"
  # shellcheck disable=SC2016
  tr '\t' ' ' <<< "$pairs" | xargs -P "$jobs" -L 1 bash -c '"$0" eval "$3" --new-run "model.alpha=$4" --db "$1" --outputs "$2" > /dev/null ||
    echo "[reproduce] claim5: evaluating run $3 at alpha $4 failed; rerun this script" >&2' "$armor" "$db" "$outputs" ||
    true
}

if [[ "$page_only" == false ]]; then
  for claim in "${claims[@]}"; do
    run_claim "$claim"
    # Right after claim 5: its members' checkpoints are in this machine's run folders, not committed.
    if [[ "$claim" == claim5 ]]; then mix_apart_members; fi
  done
fi
[[ -f "$db" ]] || log "no database at $db yet: the page says every claim has not run"

# ---- The page -----------------------------------------------------------------------------------

fragments=$(mktemp -d)
trap 'rm -rf "$fragments"' EXIT

# A word as a reader would type it: bare when safe, else in single quotes.
quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_.,=/:+-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}

# A command (as a reader would type it) and its output under it as a Markdown table.
show() {
  local out=$1; shift
  {
    printf '```sh\nbuild/armor'
    local word
    for word in "$@"; do printf ' '; quote "$word"; done
    printf ' --db '; quote "$db"; printf '\n```\n\n'
    "$armor" "$@" --db "$db" --format markdown 2>&1 || printf '(exit %d)\n' "$?"
    printf '\n'
  } >> "$out"
}

# Every armor db command of a claim, with --sweep.
tables_of() {
  local claim=$1 s=$2
  local paired="clean_acc,pgd20_acc,apgd_acc,square_acc,worst_case_acc"
  local rob1="clean_acc,pgd50_acc,pgd50_rae_acc,pgd50_rar_acc,apgd_acc,square_acc,worst_case_acc"
  case "$claim" in
    claim1)
      show "$3" db pivot --sweep "$s" --rows model.moe_type,model.num_experts --metrics "$paired"
      show "$3" db compare --sweep "$s" --a 'model.num_experts = 1' --b "model.moe_type = 'block' and model.num_experts = 4" --metrics "$paired"
      show "$3" db compare --sweep "$s" --a 'model.num_experts = 1' --b "model.moe_type = 'conv'" --metrics "$paired"
      show "$3" db effects --sweep "$s" --metric clean_acc,pgd20_acc,worst_case_acc
      show "$3" db sql "SELECT r.\"model.moe_type\" AS moe_type, r.\"model.num_experts\" AS E, e.eps, count(DISTINCT c.run_id) AS runs, round(avg(c.min_eps IS NULL OR c.min_eps > e.eps + 1e-9), 4) AS pgd20_accuracy FROM robustness_curves c JOIN results r USING (run_id) JOIN (SELECT 0.05 AS eps UNION ALL SELECT 0.1 UNION ALL SELECT 0.15 UNION ALL SELECT 0.2) e WHERE r.sweep_id = $s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
      ;;
    claim2)
      show "$3" db pivot --sweep "$s" --rows model.k --metrics "$paired"
      show "$3" db compare --sweep "$s" --a 'model.k = 1' --b 'model.k = 2' --metrics clean_acc,pgd20_acc,worst_case_acc
      show "$3" db compare --sweep "$s" --a 'model.k = 1' --b 'model.k = 3' --metrics clean_acc,pgd20_acc,worst_case_acc
      show "$3" db effects --sweep "$s" --metric clean_acc,worst_case_acc
      show "$3" db sql "SELECT r.\"model.k\" AS k, e.layer, count(*) AS runs, round(avg(e.usage_entropy), 4) AS usage_entropy, round(avg(e.routing_entropy), 4) AS routing_entropy FROM experts e JOIN results r USING (run_id) WHERE r.sweep_id = $s AND e.expert = -1 GROUP BY 1, 2 ORDER BY 1, 2"
      ;;
    claim3)
      show "$3" db pivot --sweep "$s" --rows model.moe_type --metrics clean_acc,pgd20_acc,square_acc,worst_case_acc
      show "$3" db sql "SELECT r.\"model.moe_type\" AS arm, e.run_id, r.seed, e.layer, round(e.usage_entropy, 4) AS usage_entropy, round(e.routing_entropy, 4) AS routing_entropy FROM experts e JOIN results r USING (run_id) WHERE r.sweep_id = $s AND e.expert = -1 ORDER BY 2, 4"
      show "$3" db sql "SELECT r.\"model.moe_type\" AS arm, e.run_id, r.seed, e.layer, e.expert, round(e.usage_share, 4) AS usage_share, e.fixed_clean_acc, e.fixed_pgd20_acc, e.fixed_apgd_acc FROM experts e JOIN results r USING (run_id) WHERE r.sweep_id = $s AND e.fixed_clean_acc IS NOT NULL ORDER BY 2, 5"
      show "$3" db sql "SELECT f.run_id, r.\"model.moe_type\" AS arm, r.seed, f.routed_pgd20, f.best_expert_pgd20, f.experts_above_routed_pgd20, f.routed_apgd, f.best_expert_apgd, f.experts_above_routed_apgd FROM (SELECT e.run_id, max(CASE WHEN e.expert = -1 THEN e.fixed_pgd20_acc END) AS routed_pgd20, max(CASE WHEN e.expert >= 0 THEN e.fixed_pgd20_acc END) AS best_expert_pgd20, sum(e.expert >= 0 AND e.fixed_pgd20_acc > (SELECT x.fixed_pgd20_acc FROM experts x WHERE x.run_id = e.run_id AND x.layer = e.layer AND x.expert = -1)) AS experts_above_routed_pgd20, max(CASE WHEN e.expert = -1 THEN e.fixed_apgd_acc END) AS routed_apgd, max(CASE WHEN e.expert >= 0 THEN e.fixed_apgd_acc END) AS best_expert_apgd, sum(e.expert >= 0 AND e.fixed_apgd_acc > (SELECT x.fixed_apgd_acc FROM experts x WHERE x.run_id = e.run_id AND x.layer = e.layer AND x.expert = -1)) AS experts_above_routed_apgd FROM experts e WHERE e.fixed_clean_acc IS NOT NULL GROUP BY e.run_id) f JOIN results r USING (run_id) WHERE r.sweep_id = $s ORDER BY 2, 3"
      ;;
    claim4)
      show "$3" db pivot --sweep "$s" --rows trainer.beta --metrics "$rob1"
      for beta in 1 3 6 9; do
        show "$3" db compare --sweep "$s" --a 'trainer.beta = 0' --b "trainer.beta = $beta" --metrics clean_acc,pgd50_acc,pgd50_rae_acc,square_acc,worst_case_acc
      done
      show "$3" db effects --sweep "$s" --metric clean_acc,pgd50_acc,pgd50_rae_acc,worst_case_acc
      show "$3" db pareto --sweep "$s" --metrics clean_acc,pgd50_acc
      ;;
    claim5)
      show "$3" db pivot --sweep "$s" --rows model.alpha --metrics clean_acc,pgd50_acc,square_acc,worst_case_acc
      show "$3" db pivot --sweep "$s" --rows model.alpha --metrics fs_clean_acc,fs_pgd50_acc,fs_square_acc,fr_clean_acc,fr_pgd50_acc,fr_square_acc
      for alpha in 0.5 0.7 0.9; do
        show "$3" db compare --sweep "$s" --a 'model.alpha = 0' --b "model.alpha = $alpha" --metrics clean_acc,pgd50_acc,square_acc,worst_case_acc,fr_clean_acc,fr_pgd50_acc
      done
      show "$3" db effects --sweep "$s" --metric clean_acc,pgd50_acc,worst_case_acc
      show "$3" db pareto --sweep "$s" --metrics clean_acc,pgd50_acc
      local mixed="SELECT q.run_id, src.id AS from_run, src.seed, q.\"model.alpha\" AS alpha, q.clean_acc, q.pgd50_acc, q.square_acc, q.worst_case_acc FROM results q JOIN runs src ON q.overrides LIKE '%\"--from-run=' || src.id || '\"%' WHERE src.sweep_id = $s AND q.status = 'finished'"
      show "$3" db sql "SELECT 'joint (JTDMoE at alpha)' AS training, \"model.alpha\" AS alpha, count(*) AS runs, round(avg(clean_acc), 4) AS clean_acc, round(avg(pgd50_acc), 4) AS pgd50_acc, round(avg(square_acc), 4) AS square_acc, round(avg(worst_case_acc), 4) AS worst_case_acc FROM results WHERE sweep_id = $s AND status = 'finished' AND \"model.alpha\" > 0 GROUP BY 2 UNION ALL SELECT 'apart (the alpha = 0 run mixed at alpha)', alpha, count(*), round(avg(clean_acc), 4), round(avg(pgd50_acc), 4), round(avg(square_acc), 4), round(avg(worst_case_acc), 4) FROM ($mixed) GROUP BY 2 ORDER BY 2, 1"
      for alpha in 0.5 0.7 0.9; do
        show "$3" db compare --sweep-a none --a "experiment like '%claim5_%' and model.alpha = $alpha" --sweep-b "$s" --b "model.alpha = $alpha" --metrics clean_acc,pgd50_acc,square_acc,worst_case_acc
      done
      show "$3" db sql "SELECT m.seed, m.alpha, j.run_id AS joint_run, m.run_id AS apart_run, round(j.clean_acc - m.clean_acc, 4) AS clean_joint_minus_apart, round(j.pgd50_acc - m.pgd50_acc, 4) AS pgd50_joint_minus_apart, round(j.worst_case_acc - m.worst_case_acc, 4) AS worst_joint_minus_apart FROM ($mixed) m JOIN results j ON j.sweep_id = $s AND j.status = 'finished' AND j.seed = m.seed AND abs(j.\"model.alpha\" - m.alpha) < 1e-9 ORDER BY 2, 1"
      ;;
    claim6)
      show "$3" db pivot --sweep "$s" --rows trainer.beta --metrics clean_acc,pgd50_acc,pgd50_rae_acc,pgd50_rar_acc,square_rae_acc,square_rar_acc,pgd50_route_change
      show "$3" db compare --sweep "$s" --a 'trainer.beta = 0' --b 'trainer.beta = 6' --metrics pgd50_acc,pgd50_rae_acc,pgd50_rar_acc
      show "$3" db compare --sweep "$s" --metric-a pgd50_rae_acc --metric-b pgd50_rar_acc --by trainer.beta
      local sweeps=$s s4
      s4=$(sweep_of claim4)
      [[ -n "$s4" ]] && sweeps="$s4, $s"
      [[ -n "$s4" ]] && show "$3" db compare --sweep "$s4" --metric-a pgd50_rae_acc --metric-b pgd50_rar_acc --by trainer.beta
      show "$3" db sql "SELECT sweep_id, run_id, \"model.router_input\" AS router, \"trainer.beta\" AS beta, seed, pgd50_rae_acc AS ra_e, pgd50_rar_acc AS ra_r, round(pgd50_rar_acc - pgd50_rae_acc, 4) AS ra_r_minus_ra_e, square_rae_acc, square_rar_acc FROM results WHERE sweep_id IN ($sweeps) ORDER BY 1, 4, 5"
      show "$3" db sql "SELECT sweep_id, \"model.router_input\" AS router, \"trainer.beta\" AS beta, count(*) AS runs, round(avg(pgd50_rar_acc - pgd50_rae_acc), 4) AS mean_ra_r_minus_ra_e, sum(pgd50_rar_acc > pgd50_rae_acc) AS runs_ra_e_below_ra_r FROM results WHERE sweep_id IN ($sweeps) AND status = 'finished' GROUP BY 1, 2, 3 ORDER BY 1, 3"
      ;;
  esac
}

# The attack-validity checks of a sweep's runs: per check and metric how many runs flagged it, then
# each flag with its detail; and the runs table with flagged metrics marked `!`.
flags_of() {
  local s=$1 out=$2
  show "$out" db sql "SELECT c.\"check\", CASE WHEN c.metric = '' THEN '(every robust metric)' ELSE c.metric END AS metric, count(*) AS runs, sum(c.flagged) AS flagged, round(min(c.value), 4) AS min_value, round(max(c.value), 4) AS max_value FROM eval_checks c JOIN runs r ON r.id = c.run_id WHERE r.sweep_id = $s GROUP BY 1, 2 ORDER BY 1, 2"
  show "$out" db sql "SELECT c.run_id, c.\"check\", c.metric, round(c.value, 4) AS value, c.detail FROM eval_checks c JOIN runs r ON r.id = c.run_id WHERE r.sweep_id = $s AND c.flagged = 1 ORDER BY 1, 2"
  show "$out" db list --sweep "$s"
}

# How to rerun one run of the sweep (its first): the file with every swept key at that run's value.
rerun_of() {
  local claim=$1 s=$2 out=$3 run words
  run=$(sql_value "SELECT id FROM runs WHERE sweep_id = $s ORDER BY idx LIMIT 1")
  words=$(sql_value "SELECT overrides FROM runs WHERE id = $run" | sed 's/^\[//; s/\]$//; s/","/ /g; s/"//g')
  {
    printf 'Sweep %s, %s runs (%s finished). To rerun one cell, give every swept key its value; for run %s:\n\n' \
      "$s" "$(sql_value "SELECT count(*) FROM runs WHERE sweep_id = $s")" \
      "$(sql_value "SELECT count(*) FROM runs WHERE sweep_id = $s AND status = 'finished'")" "$run"
    printf '```sh\n%sbuild/armor run %s --multirun %s --db /tmp/rerun.db\nbuild/armor db show %s --db %s\n```\n\n' \
      "$kernel_pins" "$(experiment_of "$claim")" "$words" "$run" "$db"
  } >> "$out"
}

for claim in claim1 claim2 claim3 claim4 claim5 claim6; do
  sweep=$(sweep_of "$claim")
  : > "$fragments/tables:$claim"
  : > "$fragments/flags:$claim"
  if [[ -z "$sweep" ]]; then
    echo "(not run yet: \`tools/reproduce.sh $claim\`)" > "$fragments/tables:$claim"
    echo "(not run yet)" > "$fragments/flags:$claim"
    continue
  fi
  log "$claim: tables and flags of sweep $sweep"
  rerun_of "$claim" "$sweep" "$fragments/tables:$claim"
  tables_of "$claim" "$sweep" "$fragments/tables:$claim"
  flags_of "$sweep" "$fragments/flags:$claim"
  log "$claim: report of sweep $sweep"
  "$armor" report --sweep "$sweep" --db "$db" -o "$dir/report-$claim.html"
done

if [[ -f "$db" ]]; then
  log "results: $dir/results.csv"
  "$armor" db export --format csv --db "$db" -o "$dir/results.csv"
fi

# The study itself: the armor revisions that ran it, where, and how long each sweep took: the sum of
# its runs' own times, and first start to last finish (which spans any pause between sittings).
: > "$fragments/study"
[[ -f "$db" ]] || echo "(the study has not run yet)" > "$fragments/study"
[[ -f "$db" ]] && show "$fragments/study" db sql "SELECT s.id AS sweep, s.name, s.status, count(r.id) AS runs, sum(r.status = 'finished') AS finished, group_concat(DISTINCT r.revision) AS revisions, max(r.host) AS host, round(sum(julianday(r.finished_at) - julianday(r.started_at)) * 1440, 1) AS run_minutes, round((julianday(max(r.finished_at)) - julianday(min(r.started_at))) * 1440, 1) AS span_minutes FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id GROUP BY s.id ORDER BY s.id"
printf 'Scale: %s. Database: `%s`. Generated by `tools/reproduce.sh` on %s.\n' "$scale" "$db" "$(date -u +%Y-%m-%dT%H:%MZ)" >> "$fragments/study"

# The template with every marker line replaced by its fragment.
log "page: $page"
awk -v dir="$fragments" '
  /^<!-- (tables|flags):claim[1-6] -->$/ || /^<!-- study -->$/ {
    name = $0; sub(/^<!-- /, "", name); sub(/ -->$/, "", name)
    print $0
    while ((getline line < (dir "/" name)) > 0) print line
    close(dir "/" name)
    print "<!-- end " name " -->"
    next
  }
  { print }
' "$template" > "$page.tmp"
mv "$page.tmp" "$page"
if [[ -f "$db" ]]; then log "done: $page, $dir/results.csv, $dir/report-claim*.html"; else log "done: $page"; fi
