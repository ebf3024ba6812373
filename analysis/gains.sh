#!/bin/sh
# ELMS against each baseline on the standalone comparison (analysis/standalone.sh): for every baseline, the
# accuracy gain of a method (default elms) at each of the five SLO settings, its mean and its maximum (the paper
# reports 10.45 points on average and up to 14.83 over its seven baselines), and the settings where it loses.
# Usage: sh analysis/gains.sh [ITEMS_PER_APP [DB [MODEL]]]   (the same arguments as standalone.sh)
# Environment: METHOD (default elms), PROFILE (default normalized), TRACES and OUT as for standalone.sh.
# Reads the view standalone_gains (analysis/views.sql: the gains, the baselines and the accuracy over all apps are
# defined there, for analysis/report.sh too). Writes $OUT/gains.txt and gains.md.
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
N=${1:-100}
DB=${2:-results/elms.db}
MODEL=${3:-models/base-elastic}
PROFILE=${PROFILE:-normalized}
METHOD=${METHOD:-elms}
TRACES=${TRACES:-results/traces}
TRACES=${TRACES%/}
OUT=${OUT:-results/reproduce}
mkdir -p "$OUT"
"$ELMS" db views "$DB"
QUERY="
SELECT baseline,
       printf('%+.1f', 100 * mean_gain) AS mean_gain_points,
       printf('%+.1f', 100 * max_gain) AS max_gain_points,
       printf('%+.1f', 100 * min_gain) AS min_gain_points,
       settings,
       settings_lost
FROM standalone_gains
WHERE method = '$METHOD' AND items_per_app = $N AND profile = '$PROFILE' AND model = '$MODEL'
  AND trace_dir = '$TRACES/'
ORDER BY mean_gain DESC;"
sqlite3 -header -column "$DB" "$QUERY" | tee "$OUT/gains.txt"
sqlite3 -markdown "$DB" "$QUERY" > "$OUT/gains.md"
