#!/usr/bin/env bash
# The Slurm launcher against a real Slurm: a one-node cluster on localhost (tools/slurm_local.sh),
# a 4-run tiny sweep submitted as one job array, one task killed while its run trains, the sweep
# resumed (only that run is resubmitted), and runs.db checked: every run finished once, with its
# metrics, curves and artifacts, and collecting again changes nothing.
#
#   tests/tools/slurm_launcher_test.sh ARMOR SOURCE_DIR
#
# Exits 77 (CTest: skipped) with the reason when Slurm cannot start on this machine.
set -euo pipefail

armor=$(realpath "$1")
source_dir=$(realpath "$2")
work=$(mktemp -d /tmp/armor-slurm-test.XXXXXX)
cluster=$work/cluster

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*"; echo "--- last log lines:"; tail -n 30 "$work"/log.txt 2>/dev/null || true; exit 1; }
cleanup() {
  if [ -n "${SLURM_CONF:-}" ]; then scancel --name=armor-sweep-1 >/dev/null 2>&1 || true; fi
  bash "$source_dir/tools/slurm_local.sh" stop "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# ---- a one-node Slurm --------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  [ "$(id -u)" = 0 ] || skip "slurm-wlm and munge are not installed and this user is not root (tools/slurm_local.sh install)"
  bash "$source_dir/tools/slurm_local.sh" install || skip "installing slurm-wlm and munge failed"
fi
set +e
exports=$(bash "$source_dir/tools/slurm_local.sh" start "$cluster" 2>"$work/start.err")
started=$?
set -e
if [ $started -eq 3 ]; then skip "$(cat "$work/start.err")"; fi
[ $started -eq 0 ] || fail "tools/slurm_local.sh start exited $started: $(cat "$work/start.err")"
eval "$exports"
echo "slurm: $(sinfo -h -o '%P %a %D %T %c')"

cd "$work"
db=$work/runs.db
elapsed() { awk -v start="$start_time" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - start }'; }
sql() { "$armor" db sql --db "$db" --format csv "$1" | tail -n +2; }
expect() {  # expect DESCRIPTION EXPECTED ACTUAL
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
  echo "ok: $1 = $3"
}

# ---- submit ------------------------------------------------------------------------------------
# 4 runs, 1 CPU each: 2 run at once on 2 cores. Enough images that a run trains for some seconds.
start_time=$(date +%s.%N)
"$armor" run "$source_dir/experiments/quickstart.toml" --db "$db" --outputs "$work/outputs" \
  --launcher slurm --slurm-cpus-per-task 1 --slurm-time 10:00 --sbatch-option=--mem=500M \
  --multirun run.seed=1,2,3,4 data.name=synthetic data.train_size=3000 data.test_size=128 data.test_limit=0 \
  trainer=standard trainer.epochs=2 trainer.batch_size=32 eval.attacks.pgd20.steps=2 >"$work/log.txt" 2>&1 ||
  fail "armor run --launcher slurm failed: $(cat "$work/log.txt")"
cat "$work/log.txt"
job=$(sed -n 's/.*submitted as Slurm job array \([0-9]*\).*/\1/p' "$work/log.txt")
[ -n "$job" ] || fail "no job id in the submission's output"
expect "runs with Slurm after submitting" 4 "$(sql "SELECT count(*) FROM runs WHERE status = 'running' AND worker LIKE 'slurm:%'")"

# ---- kill one task while its run trains ------------------------------------------------------------
victim_run=$(sql "SELECT id FROM runs WHERE worker = 'slurm:${job}_1'")
victim_shard=$(sql "SELECT output_dir FROM runs WHERE id = $victim_run")/shard.db
started_pid() { "$armor" db sql --db "$victim_shard" --format csv "SELECT pid FROM runs" 2>/dev/null | tail -n +2; }
for _ in $(seq 300); do
  [ "$(started_pid)" != "" ] && [ "$(started_pid)" != 0 ] && break
  sleep 0.1
done
[ "$(started_pid)" != 0 ] || fail "run $victim_run never started in Slurm task ${job}_1"
sleep 1  # into its training
scancel "${job}_1"
echo "killed Slurm task ${job}_1 (run $victim_run) after $(elapsed) s"

# ---- wait for the others, through `armor sweep status` -----------------------------------------
for _ in $(seq 120); do
  "$armor" sweep status 1 --db "$db" >"$work/status.txt" 2>&1 || fail "armor sweep status failed: $(cat "$work/status.txt")"
  [ "$(sql "SELECT count(*) FROM runs WHERE status = 'running'")" = 0 ] && break
  sleep 1
done
cat "$work/status.txt"
expect "finished runs before resuming" 3 "$(sql "SELECT count(*) FROM runs WHERE status = 'finished'")"
expect "status of the killed run" interrupted "$(sql "SELECT status FROM runs WHERE id = $victim_run")"
grep -q "CANCELLED" <<<"$(sql "SELECT error FROM runs WHERE id = $victim_run")" ||
  fail "the killed run's error does not name Slurm's state: $(sql "SELECT error FROM runs WHERE id = $victim_run")"
echo "ok: killed run: $(sql "SELECT error FROM runs WHERE id = $victim_run")"

# ---- resume: only the killed run is resubmitted ----------------------------------------------------
"$armor" sweep resume 1 --db "$db" --launcher slurm --slurm-cpus-per-task 1 --wait --poll-seconds 1 \
  >"$work/log.txt" 2>&1 || fail "armor sweep resume --launcher slurm --wait failed: $(cat "$work/log.txt")"
cat "$work/log.txt"
grep -q "1 run submitted" "$work/log.txt" || fail "resume did not submit exactly one run"
total=$(elapsed)

# ---- runs.db -------------------------------------------------------------------------------------
expect "finished runs" 4 "$(sql "SELECT count(*) FROM runs WHERE status = 'finished'")"
expect "sweep status" finished "$(sql "SELECT status FROM sweeps WHERE id = 1")"
expect "attempts of the killed run" 2 "$(sql "SELECT attempt FROM runs WHERE id = $victim_run")"
expect "attempts of the others" "1" "$(sql "SELECT group_concat(DISTINCT attempt) FROM runs WHERE id != $victim_run")"
expect "runs with a clean accuracy" 4 "$(sql "SELECT count(*) FROM results WHERE clean_acc IS NOT NULL")"
expect "runs with curves" 4 "$(sql "SELECT count(DISTINCT run_id) FROM epoch_metrics")"
expect "runs with a checkpoint artifact" 4 "$(sql "SELECT count(DISTINCT run_id) FROM artifacts WHERE kind = 'checkpoint'")"
expect "runs with provenance" 4 "$(sql "SELECT count(DISTINCT run_id) FROM provenance")"
expect "shards left uncollected" 0 "$(find "$work/outputs" -name shard.db | wc -l)"
expect "collected shards" 4 "$(find "$work/outputs" -name shard-collected.db | wc -l)"
counts="SELECT (SELECT count(*) FROM metrics) || ' ' || (SELECT count(*) FROM epoch_metrics) || ' ' || (SELECT count(*) FROM artifacts)"
before=$(sql "$counts")
"$armor" sweep collect 1 --db "$db" >"$work/log.txt" 2>&1 || fail "armor sweep collect failed: $(cat "$work/log.txt")"
grep -q "0 shards merged" "$work/log.txt" || fail "collecting again merged something: $(cat "$work/log.txt")"
expect "metrics, epoch metrics, artifacts after collecting again" "$before" "$(sql "$counts")"
"$armor" db list --db "$db" --sweep 1
echo "PASSED: submit, kill, resume and collect took $total s"
