#!/bin/sh
# Golden accuracy-vs-SLO curves (results/golden/standalone-N/METHOD.tsv, committed) from the standalone
# comparison: runs analysis/standalone.sh for POLICIES (resumable: cells already complete in DB are not replayed)
# and exports each method's curve with elms regress --export. Check a later run against them with
#   bin/elms regress --golden results/golden/standalone-N --db DB
# Adding a method (one command; the other files are left as they are):  POLICIES=elms sh analysis/golden.sh
# Usage: sh analysis/golden.sh [ITEMS_PER_APP [DB [MODEL]]]   (defaults 100, results/elms.db, models/base-elastic)
# Environment: POLICIES (default: the fast methods shipped with prepared artefacts), DATA, TRACES, PROFILE as
# for standalone.sh.
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
N=${1:-100}
DB=${2:-results/elms.db}
MODEL=${3:-models/base-elastic}
export POLICIES=${POLICIES:-full,oracle,llm-pruner,layer-reduction,shortgpt,attndrop,laco,offtheshelf}
OUT=${OUT:-results/reproduce} sh analysis/standalone.sh "$N" "$DB" "$MODEL"
"$ELMS" regress --export --db "$DB" --golden "results/golden/standalone-$N" --items "$N" \
    --profile "${PROFILE:-normalized}" --model "$MODEL" --policy "$POLICIES"
