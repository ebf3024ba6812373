#!/bin/sh
# `make prepare`: rebuild every shipped offline artefact from models/base, models/small, models/tiny and data/:
#   1. models/base-elastic: the reordered base and its elastic.json (elms reorder)
#   2. its eight LoRA recovery adapters (elms lora; finished adapters are kept, an interrupted one resumes)
#   3. every policy's artefacts in models/base-elastic/policies/ (elms prepare all; a folder prepared for the
#      same weights is kept)
# Resumable: rerun after an interruption and only what is missing is built. FORCE=1 rebuilds everything.
# The cost lines of every step go to results/reproduce/prepare.txt. (The models themselves are trained by
# analysis/train_models.sh, which takes hours; this script takes minutes.)
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
OUT=results/reproduce
EL=models/base-elastic
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
FORCE=${FORCE:-}

run() {
    echo "+ $*" >&2
    "$@"
}

[ -f data/data.json ] || run "$ELMS" data gen --out data --seed 1
: > "$OUT/prepare.txt"
if [ -n "$FORCE" ] || [ ! -f "$EL/elastic.json" ]; then
    # writes EL.tmp and swaps it in; adapters and policy folders of older weights go with the old directory
    run "$ELMS" reorder --model models/base --out "$EL" --data data | tee -a "$OUT/prepare.txt"
fi
run "$ELMS" lora --model "$EL" --data data --steps 300 --batch 16 --seq 128 --rank 8 --alpha 16 --seed 1 \
    --profile host --prompt-tokens 128 ${FORCE:+--force} | tee -a "$OUT/prepare.txt"
run "$ELMS" prepare all --model "$EL" --data data --models models/small,models/tiny ${FORCE:+--force} \
    | tee -a "$OUT/prepare.txt"
echo "prepare: done; the cost lines are in $OUT/prepare.txt" >&2
