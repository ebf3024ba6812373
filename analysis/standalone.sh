#!/bin/sh
# The paper's standalone comparison: every method at the five SLO settings of the paper, on the same test items
# of the six apps, under the `normalized` profile (relative TTFT = m p, TPOT = m: the paper's accounting).
# Usage: sh analysis/standalone.sh [ITEMS_PER_APP [DB [MODEL]]]
#   ITEMS_PER_APP  test items per app (default 100; 500 = every test item), the same items for every method
#   DB             results database (default results/elms.db); runs are appended, evaluations cached
#   MODEL          the reordered base with its adapters and prepared policies (default models/base-elastic)
# Environment: POLICIES (default: every method with artefacts), PROFILE (default normalized).
# Prints one line per (policy, setting) from elms sim, then the per-app table
# (results/reproduce/standalone.txt) with accuracy and the fraction of requests that met the SLO.
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
N=${1:-100}
DB=${2:-results/elms.db}
MODEL=${3:-models/base-elastic}
PROFILE=${PROFILE:-normalized}
POLICIES=${POLICIES:-full,oracle,llm-pruner,layer-reduction,shortgpt,laco,attndrop,offtheshelf,dejavu,lingua2-cs,elms,elms-pair,elms-prob,elms-nolora,elms-noscore,elms-nodecision}
OUT=results/reproduce
mkdir -p "$OUT" results/traces
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
APPS="facts science funcall uinav physical reading"

run() {
    echo "+ $*" >&2
    "$@"
}

: > "$OUT/standalone-runs.txt"
for s in 0.8:0.9 0.6:0.8 0.4:0.7 0.2:0.6 0.2:0.5; do
    slo=""
    for a in $APPS; do slo="$slo${slo:+,}$a:$s"; done
    t="results/traces/standalone-$N-$(echo "$s" | tr : -).jsonl"
    run "$ELMS" trace gen --alpha 0 --requests $((6 * N)) --arrival sequential --seed 42 --data data --slo "$slo" \
        -o "$t" >/dev/null
    run "$ELMS" sim --trace "$t" --policy "$POLICIES" --profile "$PROFILE" --model "$MODEL" --db "$DB" --data data \
        --compressor random | sed "s/^/slo $s /" | tee -a "$OUT/standalone-runs.txt"
done

# The per-app table: the newest complete run of each (policy, trace) of this script; also as Markdown.
QUERY="
WITH latest AS (
  SELECT MAX(id) AS id FROM runs
  WHERE complete = 1 AND trace LIKE 'results/traces/standalone-$N-%' AND profile = '$PROFILE' AND model = '$MODEL'
  GROUP BY policy, trace)
SELECT r.policy AS method,
       replace(replace(replace(r.trace, 'results/traces/standalone-$N-', ''), '.jsonl', ''), '-', ',') AS slo,
       printf('%.3f', AVG(CASE WHEN q.app = 'facts' THEN q.correct END)) AS facts,
       printf('%.3f', AVG(CASE WHEN q.app = 'science' THEN q.correct END)) AS science,
       printf('%.3f', AVG(CASE WHEN q.app = 'funcall' THEN q.correct END)) AS funcall,
       printf('%.3f', AVG(CASE WHEN q.app = 'uinav' THEN q.correct END)) AS uinav,
       printf('%.3f', AVG(CASE WHEN q.app = 'physical' THEN q.correct END)) AS physical,
       printf('%.3f', AVG(CASE WHEN q.app = 'reading' THEN q.correct END)) AS reading,
       printf('%.3f', AVG(q.correct)) AS mean,
       printf('%.3f', AVG(q.slo_met)) AS slo_met,
       printf('%.1f', r.memory_bytes / 1048576.0) AS memory_mb
FROM runs r JOIN latest l ON r.id = l.id JOIN requests q ON q.run = r.id
GROUP BY r.id ORDER BY slo DESC, method;"
sqlite3 -header -column "$DB" "$QUERY" | tee "$OUT/standalone.txt"
sqlite3 -markdown "$DB" "$QUERY" > "$OUT/standalone.md"
