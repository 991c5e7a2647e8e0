#!/bin/bash
# Redis instructions for an enqueue workload, counted by callgrind (repeatable to ~0.1 % whatever
# else the machine does, unlike CPU time): bench/probe/cgredis.sh N B [--no-events]
# Prints the total; subtract the same run with N=B (start-up, ~27M) and divide by N for a job.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=$((20000 + RANDOM % 10000))
dir=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" redis-server --port "$port" --save '' --appendonly no --dir "$dir" >/dev/null 2>"$dir/vg.log" &
vg=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
npx tsx bench/probe/cgload.ts "$port" "$@"
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait "$vg" || true
callgrind_annotate "$dir/cg.out" 2>/dev/null | grep -m1 "PROGRAM TOTALS"
rm -rf "$dir"
