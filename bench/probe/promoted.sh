#!/bin/bash
# Bytes the young-generation collections promoted to the old one while a worker drained N jobs
# (V8's --trace-gc-nvp, summed over the scavenges of the draining process).
# Usage: bench/probe/promoted.sh [N]   (EVENTS=0 for a worker without its event stream)
cd "$(dirname "$0")/../.." || exit 1
node --expose-gc --trace-gc-nvp --import tsx bench/probe/rss.ts "${1:-200000}" | awk '
  /gc=s / { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == "promoted") p += a[2]; if (a[1] == "allocated") al += a[2] }; n++ }
  /^[0-9]+ rss/ { print; jobs = $1 }
  END { printf "%d scavenges, %.1f MB allocated and %.0f KB promoted per scavenge, %.0f MB promoted in all (%.0f B per job)\n", n, al / n / 1e6, p / n / 1e3, p / 1e6, p / jobs }'
