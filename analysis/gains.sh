#!/bin/sh
# ELMS against each baseline on the standalone comparison (analysis/standalone.sh): for every baseline, the
# accuracy gain of a method (default elms) at each of the five SLO settings, its mean and its maximum (the paper
# reports 10.45 points on average and up to 14.83 over its seven baselines), and the settings where it loses.
# Usage: sh analysis/gains.sh [ITEMS_PER_APP [DB [MODEL]]]   (the same arguments as standalone.sh)
# Environment: METHOD (default elms), PROFILE (default normalized), TRACES and OUT as for standalone.sh.
# Reads the view standalone_accuracy (analysis/views.sql). Writes $OUT/gains.txt and gains.md.
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
N=${1:-100}
DB=${2:-results/elms.db}
MODEL=${3:-models/base-elastic}
PROFILE=${PROFILE:-normalized}
METHOD=${METHOD:-elms}
TRACES=${TRACES:-results/traces}
OUT=${OUT:-results/reproduce}
mkdir -p "$OUT"
"$ELMS" db views "$DB"
QUERY="
WITH acc AS (
  SELECT method AS policy, trace, sum(n_correct) * 1.0 / sum(items) AS a
  FROM standalone_accuracy
  WHERE items_per_app = $N AND profile = '$PROFILE' AND model = '$MODEL' AND trace LIKE '$TRACES/standalone-%'
  GROUP BY run),
gain AS (
  SELECT b.policy AS baseline, b.trace AS trace, m.a - b.a AS g
  FROM acc m JOIN acc b ON m.trace = b.trace
  WHERE m.policy = '$METHOD' AND b.policy NOT IN ('$METHOD', 'full', 'oracle') AND b.policy NOT LIKE 'elms%')
SELECT baseline,
       printf('%+.1f', 100 * AVG(g)) AS mean_gain_points,
       printf('%+.1f', 100 * MAX(g)) AS max_gain_points,
       printf('%+.1f', 100 * MIN(g)) AS min_gain_points,
       COUNT(*) AS settings,
       SUM(g < 0) AS settings_lost
FROM gain GROUP BY baseline ORDER BY AVG(g) DESC;"
sqlite3 -header -column "$DB" "$QUERY" | tee "$OUT/gains.txt"
sqlite3 -markdown "$DB" "$QUERY" > "$OUT/gains.md"
