#!/bin/sh
# The simulator checked against reality (issue 16, point 4): a Poisson trace served live on this machine
# (elms sim --live) under full, oracle and elms on models/base-elastic (the model every experiment serves: its
# anchors, its levels' adapters and its tiny LM), each request's measured
# TTFT and TPOT beside the prediction of the host profile for the same decisions, and the simulator's error per
# policy (the tables elms sim --live prints).
# Usage: sh analysis/live.sh [REQUESTS [RATE [DB]]]
#   REQUESTS  requests of the Poisson trace (default 100)
#   RATE      mean arrivals per second (default 5: the engine is busy part of the time)
#   DB        results database (default results/live.db); live runs are appended (runs.live = 1)
# Environment: PROFILE (default host; a name or a path), CPU (the core to pin to, default 1), SEED (the trace's,
# default 16), CALIBRATE=1 (first recalibrate into $OUT/host-fresh.json and also compare against it), OUT (the
# trace and the tables, default results/live). Timings vary from run to run; the decisions do not (seeded).
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
N=${1:-100}
RATE=${2:-5}
DB=${3:-results/live.db}
PROFILE=${PROFILE:-host}
CPU=${CPU:-1}
SEED=${SEED:-16}
OUT=${OUT:-results/live}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
TRACE="$OUT/poisson-$N-r$RATE-s$SEED.jsonl"
$ELMS trace gen --requests "$N" --arrival poisson --rate "$RATE" --seed "$SEED" --fill -o "$TRACE"
$ELMS trace stats "$TRACE" | grep -E '^(requests|arrivals|output_tokens)'
live() { # PROFILE MODEL POLICIES
    taskset -c "$CPU" $ELMS sim --live --trace "$TRACE" --profile "$1" --model "$2" --policy "$3" --db "$DB"
}
MODEL=models/base-elastic
{
    live "$PROFILE" "$MODEL" full,oracle,elms
    if [ "${CALIBRATE:-0}" = 1 ]; then
        taskset -c "$CPU" $ELMS calibrate --model "$MODEL" --out "$OUT/host-fresh.json" --force >&2
        live "$OUT/host-fresh.json" "$MODEL" full,oracle,elms
    fi
} | tee "$OUT/live.txt"
echo "tables in $OUT/live.txt" >&2
