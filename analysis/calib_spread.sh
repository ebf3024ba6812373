#!/bin/sh
# How far one calibration of this machine is from the next: N calibrations of models/base-elastic back to back
# (elms calibrate, one core), every timed point stored, then, per phase, level and prompt length, the spread of
# the measured medians across the calibrations and of what each calibration's fit prices there. A live replay is
# priced by one calibration taken before it; on a machine whose speed swings between calibrations, the points
# that swing most are the ones no single calibration can price to a few percent (issue 16: oracle's prefills of
# under a millisecond at level 0.2).
# Usage: sh analysis/calib_spread.sh [N [DB]]
#   N   calibrations (default 6; each about a minute with the default 100 ms of idle before every pass)
#   DB  database for the points (default results/calib-spread.db; calibrations are appended)
# Environment: CPU (the core to pin to, default 1), GAP (seconds between calibrations, default 5), IDLE (ms of idle
# before every timed pass, elms calibrate --idle-ms; default its own), OUT (the profiles, default
# results/calib-spread).
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
N=${1:-6}
DB=${2:-results/calib-spread.db}
CPU=${CPU:-1}
GAP=${GAP:-5}
IDLE=${IDLE:-}
OUT=${OUT:-results/calib-spread}
MODEL=models/base-elastic
command -v sqlite3 >/dev/null || { echo "calib_spread.sh: sqlite3 is missing (make deps installs it)" >&2; exit 1; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
i=1
while [ "$i" -le "$N" ]; do
    echo "calibration $i of $N" >&2
    taskset -c "$CPU" $ELMS calibrate --model "$MODEL" --out "$OUT/host-$i.json" --force --db "$DB" ${IDLE:+--idle-ms "$IDLE"} >&2
    [ "$i" -lt "$N" ] && sleep "$GAP"
    i=$((i + 1))
done
echo "spread over the $N calibrations since $SINCE in $DB: the measured median of each point (min, mean, max, ms),"
echo "its range as % of the mean, and the range of what the calibrations' fits price there (% of their mean)"
sqlite3 -header -column "$DB" "
    SELECT phase, level, tokens, count(*) AS calibrations,
           round(min(measured_ms), 3) AS min_ms, round(avg(measured_ms), 3) AS mean_ms, round(max(measured_ms), 3) AS max_ms,
           round(100 * (max(measured_ms) - min(measured_ms)) / avg(measured_ms), 1) AS range_pct,
           round(100 * (max(predicted_ms) - min(predicted_ms)) / avg(predicted_ms), 1) AS priced_range_pct
    FROM calibration
    WHERE created >= '$SINCE' AND phase IN ('prefill', 'decode') AND level IN (0.2, 0.5, 1.0)
    GROUP BY phase, level, tokens ORDER BY phase DESC, level, tokens"
