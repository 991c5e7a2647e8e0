#!/bin/bash
# Compares checkouts of millrace on one prof.ts scenario, alternating them run by run so that the
# machine's drift hits each alike; prints the medians of jobs/s, worker and Redis CPU per job.
# Each checkout needs its own dist/ (npm run build in it). Usage:
#   bench/probe/ab.sh RUNS "DIR_A DIR_B ..." [prof.ts drain options: --c=100 --keep --no-events]
# e.g. git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci && npm run build)
#      bench/probe/ab.sh 7 "$PWD /tmp/base" --c=100
set -euo pipefail
runs=$1
dirs=$2
shift 2
out=$(mktemp)
for _ in $(seq "$runs"); do
  for d in $dirs; do
    # prof.ts prints "... N jobs/s", "node cpu X% = U us/job ...", "redis cpu Y% = R us/job".
    (cd "$d" && npx tsx bench/probe/prof.ts drain 50000 "$@" 2>&1) | awk -v d="$d" '
      /jobs\/s/ { j = $4 } /node cpu/ { n = $5 } /redis cpu/ { r = $5 } END { print d, j, n, r }' >> "$out"
  done
done
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
printf '%-40s %10s %14s %15s\n' checkout 'jobs/s' 'worker us/job' 'redis us/job'
for d in $dirs; do
  printf '%-40s %10s %14s %15s\n' "$d" "$(grep "^$d " "$out" | awk '{print $2}' | median)" \
    "$(grep "^$d " "$out" | awk '{print $3}' | median)" "$(grep "^$d " "$out" | awk '{print $4}' | median)"
done
rm -f "$out"
