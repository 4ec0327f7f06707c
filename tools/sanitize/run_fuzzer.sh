#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SEEDS SCRATCH SECONDS: fuzzes for SECONDS from the seed corpus, new inputs into
# SCRATCH; prints the number of executions. A crash leaves crash-* in the current folder and fails.
set -euo pipefail
fuzzer=$1 seeds=$2 scratch=$3 seconds=$4
mkdir -p "$scratch"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"$fuzzer" -max_total_time="$seconds" -max_len=512 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "$scratch" "$seeds" >"$log" 2>&1 || status=$?
grep -E "^stat::number_of_executed_units|^Done|ERROR|SUMMARY" "$log" || true
[ $status -eq 0 ] || { tail -60 "$log"; exit $status; }
