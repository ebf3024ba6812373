#!/bin/sh
# The main job (`make reproduce`): everything the pipeline does end to end, from the committed models.
#   1. regenerate the six apps and the corpus the shipped models were trained on (deterministic, seed 1)
#   2. score base, small and tiny on every app's test split, and base with 70% of system tokens dropped
#   3. synthesise the paper's three traces (alpha 0, 0.25, -0.25), Poisson and bursty arrivals under `host`, and
#      import the paper's own files when present (each paper question id mapped onto a test item, trace_map_items)
#   4. replay the traces under full, oracle, the seven baselines, dejavu and elms on the reordered base
#      (models/base-elastic) into results/elms.db: the three traces with the normalized, phone and host profiles, the
#      paper's own three files with normalized, and Poisson (light load and LOAD_RATE requests/s) and bursty arrivals
#      under host with FCFS and EDF; beside them (JOBS=2, the default) the standalone comparison
#      (analysis/standalone.sh: five SLO settings x six apps, STANDALONE_ITEMS per app); then the gains over every
#      baseline (analysis/gains.sh)
#   5. draw the training curves of the shipped models
#   6. draw the figures of the experiments (analysis/figures.sh) and write results/REPORT.md (analysis/report.sh)
# Resumable: every replay runs with --skip-complete, so a rerun replays only what is missing or was prepared anew.
# Every step prints what it runs; outputs go to results/ (the database, results/reproduce/*.txt, figures).
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
OUT=results/reproduce
DB=results/elms.db
mkdir -p "$OUT" results/figures results/traces
# One BLAS thread: the same database bytes on every machine, whatever its core count.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

run() {
    echo "+ $*" >&2
    "$@"
}

# save FILE CMD...: run CMD with its output into FILE, then print it (a failure stops the script, which a pipe
# into tee would hide)
save() {
    f=$1
    shift
    run "$@" > "$f"
    cat "$f"
}

# 1. data (the exact command the shipped models were trained on; README "Shipped models"). A data/ left by
#    other generator options (its tokenizer.json differs from the models') is moved aside, not scored against.
if [ -f data/data.json ] && [ -f models/base/tokenizer.json ] && ! cmp -s data/tokenizer.json models/base/tokenizer.json; then
    if [ -e data.previous ]; then
        echo "reproduce: data/ was generated with other options than models/base (tokenizer.json differs);" \
            "move it or data.previous/ away and rerun" >&2
        exit 1
    fi
    echo "reproduce: data/ was generated with other options than models/base (tokenizer.json differs):" \
        "moving it to data.previous/ and generating it again" >&2
    mv data data.previous
fi
if [ ! -f data/data.json ]; then
    run "$ELMS" data gen --out data --seed 1
fi

EL=models/base-elastic
# 4b, started here: the standalone comparison (five SLO settings x six apps x every method, STANDALONE_ITEMS per
#     app; 500 = every test item). With JOBS >= 2 (the default) it runs on the other core beside steps 2 to 4,
#     writing the same database (concurrent writers are safe, and they share the evaluation cache): the tables are
#     the same as with JOBS=1, the order of the runs' rows in the database is not.
N=${STANDALONE_ITEMS:-100}
BG=""
if [ "${JOBS:-2}" -ge 2 ] && [ -f "$EL/elastic.json" ]; then
    echo "+ sh analysis/standalone.sh $N $DB $EL (in the background; its lines start with 'standalone:')" >&2
    rm -f "$OUT/standalone.rc"
    # its output (stdout and stderr) prefixed on stderr; its exit status into standalone.rc
    { { if sh analysis/standalone.sh "$N" "$DB" "$EL"; then st=0; else st=1; fi; echo "$st" > "$OUT/standalone.rc"; } \
        2>&1 | sed -u 's/^/standalone: /' >&2; } &
    BG=$!
    trap 'kill "$BG" 2>/dev/null || true' EXIT INT TERM
fi

# 2. accuracy of the shipped models on the test split
for m in base small tiny; do
    if [ -f "models/$m/model.safetensors" ]; then
        save "$OUT/score-$m.txt" "$ELMS" score --model "models/$m" --app all --split test --data data
    else
        echo "models/$m is missing: skipping its score" >&2
    fi
done
if [ -f models/base/model.safetensors ]; then
    save "$OUT/score-base-drop70.txt" "$ELMS" score --model models/base --app all --split test --data data \
        --drop-system 0.7 --seed 1
fi

# 3. traces
for a in 0 0.25 -0.25; do
    run "$ELMS" trace gen --alpha "$a" --requests 600 --arrival sequential --seed 42 --data data \
        -o "results/traces/paper-alpha$a.jsonl"
    save "$OUT/trace-alpha$a.txt" "$ELMS" trace stats "results/traces/paper-alpha$a.jsonl"
done
# light load (the tiny LM's share of TTFT without queueing) and a load where queueing matters: the full model's
# service time under host is about 22 ms, so LOAD_RATE = 30 requests/s keeps it about two-thirds busy
LOAD_RATE=${LOAD_RATE:-30}
run "$ELMS" trace gen --alpha 0 --requests 600 --arrival poisson --rate 2 --seed 42 --data data \
    -o results/traces/poisson-alpha0.jsonl
for arr in poisson bursty; do
    run "$ELMS" trace gen --alpha 0 --requests 600 --arrival "$arr" --rate "$LOAD_RATE" --seed 42 --data data \
        -o "results/traces/$arr-load-alpha0.jsonl"
    save "$OUT/trace-$arr-load.txt" "$ELMS" trace stats "results/traces/$arr-load-alpha0.jsonl"
done
PAPER_TRACES=""
if [ -d ../shared/data/elastilm-traces ]; then
    for f in ../shared/data/elastilm-traces/trace_*.json; do
        b=$(basename "$f" .json)
        run "$ELMS" trace import --from elastilm "$f" --data data -o "results/traces/elastilm-$b.jsonl"
        save "$OUT/elastilm-$b.txt" "$ELMS" trace stats "results/traces/elastilm-$b.jsonl"
        PAPER_TRACES="$PAPER_TRACES results/traces/elastilm-$b.jsonl"
    done
else
    echo "../shared is absent: skipping the paper's own trace files" >&2
fi

# 4. simulation on the reordered base with its adapters and every policy's prepared artefacts
#    (models/base-elastic; `make prepare` rebuilds them); the evaluation cache in the database makes reruns cheap
POLICIES=full,oracle,llm-pruner,layer-reduction,shortgpt,laco,attndrop,offtheshelf,dejavu,lingua2-cs,elms
if [ -f "$EL/elastic.json" ]; then
    # sim FILE OPTIONS...: replay every policy of POLICIES with OPTIONS, the summary lines into FILE
    sim() {
        out=$1
        shift
        save "$out" "$ELMS" sim --policy "$POLICIES" --model "$EL" --db "$DB" --data data --skip-complete "$@"
    }
    for a in 0 0.25 -0.25; do
        for p in normalized sd8gen3-llama2-7b-q4 host; do
            sim "$OUT/sim-alpha$a-$p.txt" --trace "results/traces/paper-alpha$a.jsonl" --profile "$p"
        done
    done
    for t in $PAPER_TRACES; do
        sim "$OUT/sim-$(basename "$t" .jsonl)-normalized.txt" --trace "$t" --profile normalized
    done
    sim "$OUT/sim-poisson-host.txt" --trace results/traces/poisson-alpha0.jsonl --profile host
    for arr in poisson bursty; do
        for sched in fcfs edf; do
            sim "$OUT/sim-$arr-load-host-$sched.txt" --trace "results/traces/$arr-load-alpha0.jsonl" --profile host \
                --sched "$sched"
        done
    done
    if [ -n "$BG" ]; then
        wait "$BG" || true
        if [ "$(cat "$OUT/standalone.rc" 2>/dev/null)" != 0 ]; then
            echo "reproduce: the standalone comparison failed (its lines above start with 'standalone:')" >&2
            exit 1
        fi
        cat "$OUT/standalone.txt"
    else
        run sh analysis/standalone.sh "$N" "$DB" "$EL"
    fi
    run sh analysis/gains.sh "$N" "$DB" "$EL"
else
    echo "$EL is missing: run 'make prepare' first; skipping the simulations" >&2
fi

# 5. training curves (from each shipped model's committed training log, models/NAME/train_log.csv)
if command -v gnuplot >/dev/null 2>&1 && [ -f models/base/train_log.csv ]; then
    { head -n 1 models/base/train_log.csv
      for m in base small tiny; do [ -f "models/$m/train_log.csv" ] && tail -n +2 "models/$m/train_log.csv"; done
    } > results/train_log.csv
    run gnuplot -e "csv='results/train_log.csv'; runs='base small tiny'; out='results/figures/train_loss.png'" \
        analysis/train_loss.gp
fi

# 6. the figures of the experiments and the generated report (what make figures runs), over the standalone
#    comparison just replayed
if [ -f "$DB" ]; then
    if command -v gnuplot >/dev/null 2>&1; then
        run env ITEMS="${STANDALONE_ITEMS:-100}" sh analysis/figures.sh "$DB" results/figures
    else
        echo "gnuplot is missing (make deps installs it): skipping the figures" >&2
    fi
    run env ITEMS="${STANDALONE_ITEMS:-100}" sh analysis/report.sh "$DB" results/REPORT.md
fi
echo "reproduce: done; results in $OUT/, $DB, results/figures/ and results/REPORT.md" >&2
