#!/bin/sh
# The paper's standalone comparison: every method at the five SLO settings of the paper, on the same test items
# of the six apps, under the `normalized` profile (relative TTFT = m p, TPOT = m: the paper's accounting).
# Usage: sh analysis/standalone.sh [ITEMS_PER_APP [DB [MODEL]]]
#   ITEMS_PER_APP  test items per app (default 100; 500 = every test item), the same items for every method
#   DB             results database (default results/elms.db); runs are appended, evaluations cached
#   MODEL          the reordered base with its adapters and prepared policies (default models/base-elastic)
# Environment: POLICIES (default: every method and ablation but elms-loo; elms-noreorder when prepared),
# PROFILE (default normalized), DATA (the data directory, default data), TRACES (where the traces go, default
# results/traces), OUT (the tables, default results/reproduce).
# Resumable: a (policy, setting) cell whose run is already complete in DB (same trace, profile, weights, build of
# the policy's artefacts, seed) is not replayed again (elms sim --skip-complete prints its recorded line), so a
# rerun, or a run after merging shards into DB (docs/experiments.md), only replays what is missing or was rebuilt.
# Shardable: SHARD=I/N records shard I of N of every run (elms sim --shard) and prints no table; merge the
# shards' databases with elms db merge and run this script again on the merged one for the table.
# Prints one line per (policy, setting) from elms sim, then the per-app table ($OUT/standalone.txt) with
# accuracy and the fraction of requests that met the SLO, read from the views of analysis/views.sql.
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
N=${1:-100}
DB=${2:-results/elms.db}
MODEL=${3:-models/base-elastic}
PROFILE=${PROFILE:-normalized}
if [ -z "${POLICIES:-}" ]; then
    POLICIES=full,oracle,llm-pruner,layer-reduction,shortgpt,laco,attndrop,offtheshelf,dejavu,lingua2-cs,elms,elms-pair,elms-prob,elms-nolora,elms-noscore,elms-nodecision
    # the ablation with artefacts of its own, when prepared (elms prepare elms-noreorder); elms-loo (six tiny LMs,
    # a few minutes more) is run on its own: POLICIES=elms-loo sh analysis/standalone.sh
    if [ -d "$MODEL/policies/elms-noreorder" ]; then POLICIES="$POLICIES,elms-noreorder"; fi
fi
DATA=${DATA:-data}
TRACES=${TRACES:-results/traces}
OUT=${OUT:-results/reproduce}
SHARD=${SHARD:-}
mkdir -p "$OUT" "$TRACES"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
APPS="facts science funcall uinav physical reading"

run() {
    echo "+ $*" >&2
    "$@"
}

RUNS="$OUT/standalone-runs.txt"
[ -z "$SHARD" ] || RUNS="$OUT/standalone-runs-shard-$(echo "$SHARD" | tr / -).txt"
: > "$RUNS"
for s in 0.8:0.9 0.6:0.8 0.4:0.7 0.2:0.6 0.2:0.5; do
    slo=""
    for a in $APPS; do slo="$slo${slo:+,}$a:$s"; done
    t="$TRACES/standalone-$N-$(echo "$s" | tr : -).jsonl"
    run "$ELMS" trace gen --alpha 0 --requests $((6 * N)) --arrival sequential --seed 42 --data "$DATA" --slo "$slo" \
        -o "$t" >/dev/null
    run "$ELMS" sim --trace "$t" --policy "$POLICIES" --profile "$PROFILE" --model "$MODEL" --db "$DB" --data "$DATA" \
        --compressor random --skip-complete ${SHARD:+--shard "$SHARD"} | sed "s/^/slo $s /" | tee -a "$RUNS"
done
if [ -n "$SHARD" ]; then
    echo "standalone: shard $SHARD recorded in $DB; merge the shards (elms db merge) for the table" >&2
    exit 0
fi

# The per-app table from the view standalone_accuracy (the newest complete run of each policy and setting of
# this script); also as Markdown.
run "$ELMS" db views "$DB"
QUERY="
SELECT method, slo,
       printf('%.3f', max(CASE WHEN app = 'facts' THEN accuracy END)) AS facts,
       printf('%.3f', max(CASE WHEN app = 'science' THEN accuracy END)) AS science,
       printf('%.3f', max(CASE WHEN app = 'funcall' THEN accuracy END)) AS funcall,
       printf('%.3f', max(CASE WHEN app = 'uinav' THEN accuracy END)) AS uinav,
       printf('%.3f', max(CASE WHEN app = 'physical' THEN accuracy END)) AS physical,
       printf('%.3f', max(CASE WHEN app = 'reading' THEN accuracy END)) AS reading,
       printf('%.3f', sum(n_correct) * 1.0 / sum(items)) AS mean,
       printf('%.3f', sum(n_slo_met) * 1.0 / sum(requests)) AS slo_met,
       printf('%.1f', max(memory_mb)) AS memory_mb
FROM standalone_accuracy
WHERE items_per_app = $N AND profile = '$PROFILE' AND model = '$MODEL' AND trace LIKE '$TRACES/standalone-%'
GROUP BY run ORDER BY slo DESC, method;"
sqlite3 -header -column "$DB" "$QUERY" | tee "$OUT/standalone.txt"
sqlite3 -markdown "$DB" "$QUERY" > "$OUT/standalone.md"
