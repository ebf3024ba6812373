#!/bin/sh
# The main job (`make reproduce`): everything the pipeline does end to end, from the committed models.
#   1. regenerate the six apps and the corpus the shipped models were trained on (deterministic, seed 1)
#   2. score base, small and tiny on every app's test split, and base with 70% of system tokens dropped
#   3. synthesise the paper's three traces (alpha 0, 0.25, -0.25) and import the paper's own files when present
#   4. replay the traces under full, oracle, the seven baselines, dejavu and elms on the reordered base
#      (models/base-elastic) with the normalized, phone and host profiles into results/elms.db, and run the
#      standalone comparison (analysis/standalone.sh: five SLO settings x six apps, STANDALONE_ITEMS per app)
#   5. draw the training curves of the shipped models
#   6. draw the figures of the experiments (analysis/figures.sh) and write results/REPORT.md (analysis/report.sh)
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

# 2. accuracy of the shipped models on the test split
for m in base small tiny; do
    if [ -f "models/$m/model.safetensors" ]; then
        run "$ELMS" score --model "models/$m" --app all --split test --data data | tee "$OUT/score-$m.txt"
    else
        echo "models/$m is missing: skipping its score" >&2
    fi
done
if [ -f models/base/model.safetensors ]; then
    run "$ELMS" score --model models/base --app all --split test --data data --drop-system 0.7 --seed 1 \
        | tee "$OUT/score-base-drop70.txt"
fi

# 3. traces
for a in 0 0.25 -0.25; do
    run "$ELMS" trace gen --alpha "$a" --requests 600 --arrival sequential --seed 42 --data data \
        -o "results/traces/paper-alpha$a.jsonl"
    run "$ELMS" trace stats "results/traces/paper-alpha$a.jsonl" | tee "$OUT/trace-alpha$a.txt"
done
run "$ELMS" trace gen --alpha 0 --requests 600 --arrival poisson --rate 2 --seed 42 --data data \
    -o results/traces/poisson-alpha0.jsonl
if [ -d ../shared/data/elastilm-traces ]; then
    for f in ../shared/data/elastilm-traces/trace_*.json; do
        b=$(basename "$f" .json)
        run "$ELMS" trace import --from elastilm "$f" -o "results/traces/elastilm-$b.jsonl"
        run "$ELMS" trace stats "results/traces/elastilm-$b.jsonl" | tee "$OUT/elastilm-$b.txt"
    done
else
    echo "../shared is absent: skipping the import of the paper's trace files" >&2
fi

# 4. simulation on the reordered base with its adapters and every policy's prepared artefacts
#    (models/base-elastic; `make prepare` rebuilds them); the evaluation cache in the database makes reruns cheap
EL=models/base-elastic
POLICIES=full,oracle,llm-pruner,layer-reduction,shortgpt,laco,attndrop,offtheshelf,dejavu,lingua2-cs,elms
if [ -f "$EL/elastic.json" ]; then
    for a in 0 0.25 -0.25; do
        for p in normalized sd8gen3-llama2-7b-q4; do
            run "$ELMS" sim --trace "results/traces/paper-alpha$a.jsonl" --policy "$POLICIES" --profile "$p" \
                --model "$EL" --db "$DB" --data data | tee "$OUT/sim-alpha$a-$p.txt"
        done
    done
    run "$ELMS" sim --trace results/traces/poisson-alpha0.jsonl --policy "$POLICIES" --profile host \
        --model "$EL" --db "$DB" --data data | tee "$OUT/sim-poisson-host.txt"
    # 4b. the standalone comparison: five SLO settings x six apps x every method (STANDALONE_ITEMS per app;
    #     500 = every test item)
    run sh analysis/standalone.sh "${STANDALONE_ITEMS:-100}" "$DB" "$EL"
    run sh analysis/gains.sh "${STANDALONE_ITEMS:-100}" "$DB" "$EL"
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
