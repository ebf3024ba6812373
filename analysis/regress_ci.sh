#!/bin/sh
# The regression check CI runs (.ci/run): a small standalone comparison (ITEMS test items per app, the five SLO
# settings, the fast methods below) of the shipped models/base-elastic, on data generated here with the seed of
# the shipped models, compared by elms regress with the golden curves in results/golden/ci (the tolerance is in
# docs/experiments.md). With --export it writes results/golden/ci instead, so the golden is made by the very
# command CI runs. Work files go to results/regress-ci/ (replaced on every run).
# Usage: sh analysis/regress_ci.sh [--export]
# Environment: ITEMS (default 20), POLICIES (default: the methods in results/golden/ci).
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
ITEMS=${ITEMS:-20}
POLICIES=${POLICIES:-full,oracle,llm-pruner,layer-reduction,shortgpt,attndrop,laco,offtheshelf,lingua2-cs,elms}
GOLDEN=results/golden/ci
WORK=results/regress-ci
export OPENBLAS_NUM_THREADS=1 # the same answers on every machine
start=$(date +%s)
rm -rf "$WORK"
mkdir -p "$WORK"
echo "+ $ELMS data gen --out $WORK/data --seed 1" >&2
"$ELMS" data gen --out "$WORK/data" --seed 1 >/dev/null
DATA="$WORK/data" TRACES="$WORK/traces" OUT="$WORK" POLICIES="$POLICIES" \
    sh analysis/standalone.sh "$ITEMS" "$WORK/ci.db" models/base-elastic
if [ "${1:-}" = --export ]; then
    rm -f "$GOLDEN"/*.tsv
    "$ELMS" regress --export --db "$WORK/ci.db" --golden "$GOLDEN" --items "$ITEMS" --model models/base-elastic \
        --policy "$POLICIES"
else
    "$ELMS" regress --golden "$GOLDEN" --db "$WORK/ci.db" --model models/base-elastic
fi
echo "regress-ci: $(($(date +%s) - start)) s" >&2
