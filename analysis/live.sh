#!/bin/sh
# The simulator checked against reality (issue 16, point 4): a Poisson (or bursty) trace served live on this machine
# (elms sim --live) under full, oracle and elms on models/base-elastic (the model every experiment serves: its
# anchors, its levels' adapters and its tiny LM), each request's measured TTFT and TPOT beside the prediction of
# a host profile for the same decisions, and the simulator's error per policy (the tables elms sim --live prints:
# per request, and by distribution: the error of the predicted median and 95th percentile of TTFT and TPOT).
#
# The machine's speed drifts (by a fifth and more over tens of minutes on a shared machine), so by default the
# profile is calibrated afresh right before the live runs ($OUT/host-now.json, elms calibrate on the same core)
# and the shipped sim/profiles/host.json is compared as well. `full` and `oracle` are each served twice: the two
# runs of a policy make the same decisions, so the difference of their measured times (the replicate table) is the
# machine's own run-to-run noise on that policy's requests, the floor under any prediction's error (oracle's are
# mostly prefills of under a millisecond, noisier than full's). A fresh profile is calibrated again right after
# the runs of the fresh profile ($OUT/host-after.json), and the two calibrations' prices of the same decisions are
# compared (the drift table): how far the machine itself moved while the runs were measured; the two calibrations'
# timed points are compared too (the calibration replicate table, per view): each one's fit error beside how far the
# same points moved from one to the other beyond that drift, the floor under the held-out fit. elms-bench steady
# (about 41 s) measures how far the same request's cost moves between windows of a few seconds, on the machine as
# it is right then, before the first calibration and again after the runs: the spread no profile taken in one
# minute can price away in the next (the machine can be quiet in one of the two minutes and not in the other).
# Usage: sh analysis/live.sh [REQUESTS [RATE [DB]]]
#   REQUESTS  requests of the Poisson trace (default 100)
#   RATE      mean arrivals per second (default 5: the engine is busy part of the time)
#   DB        results database (default results/live.db); live runs are appended (runs.live = 1), and so are the
#             points of the fresh calibrations (table calibration, told apart by their created time)
# Environment: PROFILE (a profile to use instead of calibrating afresh: a name or a path), CPU (the core to pin to,
# default 1), SEED (the trace's, default 16), ARRIVAL (poisson, the default, or bursty: Gamma inter-arrival times),
# CV (bursty: their coefficient of variation, default 2), IDLE (ms: the idle before every calibrated pass and the
# settle before a request that arrives at an idle engine, elms calibrate --idle-ms and elms sim --settle-ms; default
# the binaries' own, 100), OUT (the trace, the fresh profile and the tables, default results/live), STEADY (0: leave
# out elms-bench steady; BENCH, the benchmark binary, default bin/elms-bench, built by make bin/elms-bench).
# Timings vary from run to run; the decisions do not (seeded), except where a policy's decision depends on the
# wait it measured (oracle and elms when requests queue; the replicate tables count the decisions that agree).
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
BENCH=${BENCH:-bin/elms-bench}
STEADY=${STEADY:-1}
N=${1:-100}
RATE=${2:-5}
DB=${3:-results/live.db}
CPU=${CPU:-1}
SEED=${SEED:-16}
ARRIVAL=${ARRIVAL:-poisson}
CV=${CV:-2}
IDLE=${IDLE:-}
OUT=${OUT:-results/live}
MODEL=models/base-elastic
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
case "$ARRIVAL" in
poisson) TRACE="$OUT/poisson-$N-r$RATE-s$SEED.jsonl" ;;
bursty) TRACE="$OUT/bursty-cv$CV-$N-r$RATE-s$SEED.jsonl" ;;
*)
    echo "live.sh: ARRIVAL=$ARRIVAL: expected poisson or bursty" >&2
    exit 2
    ;;
esac
# the apps' items the trace draws from: on a fresh clone, generated with the command the shipped models were
# trained on (README "Shipped models"; the first step of analysis/reproduce.sh)
if [ ! -f data/data.json ]; then
    echo "+ $ELMS data gen --out data --seed 1" >&2
    $ELMS data gen --out data --seed 1 >&2
fi
$ELMS trace gen --requests "$N" --arrival "$ARRIVAL" --rate "$RATE" --burst-cv "$CV" --seed "$SEED" --fill -o "$TRACE"
$ELMS trace stats "$TRACE" | grep -E '^(requests|arrivals|output_tokens)'
steady() { # WHEN: the machine within a minute (elms-bench steady), its table without the benchmark's header
    [ "$STEADY" != 0 ] || return 0
    echo
    if ! "$BENCH" --help 2>/dev/null | grep -q '^  steady '; then
        echo "the machine within a minute: $BENCH is missing or older than elms-bench steady" \
            "(make bin/elms-bench), left out"
        return 0
    fi
    echo "the machine within a minute, $1 ($BENCH steady):"
    echo "live.sh: elms-bench steady, $1 (about 41 s)" >&2
    rc=0
    taskset -c "$CPU" "$BENCH" steady >"$OUT/steady.txt" || rc=$?
    sed 1d "$OUT/steady.txt"
    rm -f "$OUT/steady.txt"
    [ "$rc" = 0 ] || echo "elms-bench steady failed (above)"
}
command -v sqlite3 >/dev/null || { echo "live.sh: sqlite3 is missing (make deps installs it)" >&2; exit 1; }
steady "before the runs" | tee "$OUT/live.txt"
FRESH=
if [ -z "${PROFILE:-}" ]; then
    PROFILE="$OUT/host-now.json"
    FRESH=1
    taskset -c "$CPU" $ELMS calibrate --model "$MODEL" --out "$PROFILE" --force --db "$DB" ${IDLE:+--idle-ms "$IDLE"} >&2
fi
live() { # PROFILE POLICIES
    taskset -c "$CPU" $ELMS sim --live --trace "$TRACE" --profile "$1" --model "$MODEL" --policy "$2" --db "$DB" \
        ${IDLE:+--settle-ms "$IDLE"}
}
BEFORE=$(sqlite3 "$DB" "SELECT coalesce(max(id), 0) FROM runs" 2>/dev/null || echo 0) # 0: a new database
{
    live "$PROFILE" full,oracle,elms,full,oracle
    if [ -n "$FRESH" ]; then
        # the machine's own drift over the runs: a second calibration right after them, and both profiles' prices
        # of the same decisions (full's, which no profile changes): what the machine moved while it was measured,
        # beside which the simulator's error above is to be read
        AFTER="$OUT/host-after.json"
        taskset -c "$CPU" $ELMS calibrate --model "$MODEL" --out "$AFTER" --force --db "$DB" ${IDLE:+--idle-ms "$IDLE"} >&2
        rm -f "$OUT/drift.db"
        $ELMS sim --trace "$TRACE" --profile "$PROFILE" --model "$MODEL" --policy full --db "$OUT/drift.db" >/dev/null
        $ELMS sim --trace "$TRACE" --profile "$AFTER" --model "$MODEL" --policy full --db "$OUT/drift.db" >/dev/null
        echo
        echo "drift: the calibration after the runs ($AFTER) against the one before, pricing full's requests: mean (after - before) / before %"
        sqlite3 -header -column "$OUT/drift.db" "
            SELECT count(*) AS requests,
                   round(100 * avg((b.tlm_ms + b.switch_ms + b.prefill_ms) / (a.tlm_ms + a.switch_ms + a.prefill_ms) - 1), 2)
                       AS service_ttft,
                   round(100 * avg(b.tpot_ms / a.tpot_ms - 1), 2) AS tpot
            FROM requests a JOIN requests b ON a.request = b.request
            WHERE a.run = 1 AND b.run = 2"
        rm -f "$OUT/drift.db"
        # the same points timed by the two calibrations (the database's two newest, this script's): each one's fit
        # error per view (the level, or for the two narrower views the share of FFN neurons they keep), and how far
        # the points themselves moved from one calibration to the other beyond the drift above (each phase's mean log
        # ratio over all its points taken out), over the square root of two: what an exact price of one
        # calibration's points would err by against the other's, if the two err independently; then the same over
        # the views calibrate held out (the levels its fit.split names) and over all
        HELD=$(sed -n 's/.*"held out: every prompt length of levels \([0-9., ]*\);.*/\1/p' "$PROFILE")
        echo
        echo "calibration replicate: the fit's MAPE % before and after the runs per view, and the points' own replicate" \
            "(|after / before over its phase's mean - 1| / sqrt 2, mean %)${HELD:+; held out: levels $HELD}"
        sqlite3 -header -column "$DB" "
            WITH c AS (SELECT min(id) AS first, max(id) AS last FROM calibration GROUP BY created
                       ORDER BY first DESC LIMIT 2),
                 a AS (SELECT * FROM calibration WHERE id BETWEEN (SELECT min(first) FROM c) AND (SELECT min(last) FROM c)),
                 b AS (SELECT * FROM calibration WHERE id BETWEEN (SELECT max(first) FROM c) AND (SELECT max(last) FROM c)),
                 j AS (SELECT a.phase, a.level, abs(a.predicted_ms / a.measured_ms - 1) AS ea,
                              abs(b.predicted_ms / b.measured_ms - 1) AS eb, ln(b.measured_ms / a.measured_ms) AS lr
                       FROM a JOIN b ON a.phase = b.phase AND a.level = b.level AND a.tokens = b.tokens
                       WHERE a.phase IN ('prefill', 'decode')),
                 g AS (SELECT phase, avg(lr) AS mr FROM j GROUP BY phase),
                 k AS (SELECT j.*, abs(exp(lr - mr) - 1) / sqrt(2) AS rep FROM j JOIN g USING (phase)),
                 v AS (SELECT printf('%g', level) AS view, level AS o, * FROM k
                       UNION ALL SELECT 'held out', 2, * FROM k WHERE level IN (${HELD:-NULL})
                       UNION ALL SELECT 'all', 3, * FROM k)
            SELECT view,
                   round(100 * avg(CASE WHEN phase = 'prefill' THEN ea END), 2) AS prefill_before,
                   round(100 * avg(CASE WHEN phase = 'prefill' THEN eb END), 2) AS prefill_after,
                   round(100 * avg(CASE WHEN phase = 'prefill' THEN rep END), 2) AS prefill_replicate,
                   round(100 * avg(CASE WHEN phase = 'decode' THEN ea END), 2) AS decode_before,
                   round(100 * avg(CASE WHEN phase = 'decode' THEN eb END), 2) AS decode_after,
                   round(100 * avg(CASE WHEN phase = 'decode' THEN rep END), 2) AS decode_replicate
            FROM v GROUP BY view, o ORDER BY o" || echo "calibration replicate: the query failed (above)"
    fi
    # what the TPOT error depends on within a run, the run's own bias (drift) taken out: the log ratio predicted /
    # measured of each request against its run's mean, by output length and by the idle the request found (its start
    # less the end of the request before it), pooled over the five runs above
    FIRST=$(sqlite3 "$DB" "SELECT group_concat(id) FROM (SELECT id FROM runs WHERE live = 1 AND id > $BEFORE ORDER BY id LIMIT 5)")
    echo
    echo "TPOT within a run (runs $FIRST): mean of (predicted / measured) over the run's own mean, %, by output tokens and by the idle before the request"
    sqlite3 -header -column "$DB" "
        WITH r AS (SELECT run, request, output_tokens AS n, tpot_ms, pred_tpot_ms,
                          arrival_ms + queue_ms AS start,
                          arrival_ms + queue_ms + tlm_ms + switch_ms + prefill_ms + decode_ms AS done
                   FROM requests WHERE run IN ($FIRST) AND output_tokens > 1),
             q AS (SELECT r.*, ln(pred_tpot_ms / tpot_ms) AS lr,
                          start - coalesce((SELECT max(p.done) FROM r p WHERE p.run = r.run AND p.start < r.start), 0)
                              AS idle
                   FROM r),
             m AS (SELECT run, avg(lr) AS mr FROM q GROUP BY run)
        SELECT CASE WHEN n < 12 THEN 'a: 2-11' WHEN n < 20 THEN 'b: 12-19' ELSE 'c: 20+' END AS output_tokens,
               sum(idle < 50) AS n_idle_lt50, round(100 * (exp(avg(CASE WHEN idle < 50 THEN lr - mr END)) - 1), 1) AS idle_lt50,
               sum(idle >= 50) AS n_idle_ge50, round(100 * (exp(avg(CASE WHEN idle >= 50 THEN lr - mr END)) - 1), 1) AS idle_ge50
        FROM q JOIN m USING (run) GROUP BY 1 ORDER BY 1"
    if [ "$PROFILE" != host ] && [ "$PROFILE" != sim/profiles/host.json ]; then
        live host full,oracle,elms
    fi
    # the replicate floor: the two runs of full and the two of oracle of the first invocation (each policy's first
    # two runs after BEFORE)
    for P in full oracle; do
        IDS=$(sqlite3 "$DB" "SELECT id FROM runs WHERE live = 1 AND policy = '$P' AND id > $BEFORE ORDER BY id LIMIT 2")
        A=$(echo "$IDS" | sed -n 1p)
        B=$(echo "$IDS" | sed -n 2p)
        echo
        echo "replicate: the same decisions served twice ($P, runs $A and $B): MAPE % of the second's measured times against the first's"
        sqlite3 -header -column "$DB" "
            SELECT count(*) AS requests, sum(a.level = b.level AND a.kept_tokens = b.kept_tokens) AS same_decisions,
                   round(100 * avg(abs(b.tlm_ms + b.switch_ms + b.prefill_ms - a.tlm_ms - a.switch_ms - a.prefill_ms)
                                   / (a.tlm_ms + a.switch_ms + a.prefill_ms)), 2) AS service_ttft_mape,
                   round(100 * avg(abs(b.tpot_ms - a.tpot_ms) / a.tpot_ms), 2) AS tpot_mape
            FROM requests a JOIN requests b ON a.request = b.request
            WHERE a.run = $A AND b.run = $B"
    done
    steady "after the runs"
} | tee -a "$OUT/live.txt"
echo "tables in $OUT/live.txt" >&2
