#!/bin/sh
# Train the three shipped models from scratch (offline; not part of `make reproduce`, which uses the committed
# ones). Usage: sh analysis/train_models.sh [base|small|tiny ...]   (default: all three, one after the other)
#   - the data directory is `elms data gen --out data --seed 1` (all corpus options at their defaults);
#   - each model trains on one core with the AVX-512 kernels (the shipped runs: base and small side by side);
#     an interrupted run continues with the same command plus --resume (bitwise the same result);
#   - the training log goes to results/train.db and is exported to models/NAME/train_log.csv.
# Wall times of the shipped runs: README, "Shipped models".
set -eu
cd "$(dirname "$0")/.."
ELMS=${ELMS:-bin/elms}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}
DB=results/train.db
mkdir -p results

run() {
    echo "+ $*" >&2
    "$@"
}

[ -f data/data.json ] || run "$ELMS" data gen --out data --seed 1

# the recipe every model shares: 3,000 steps of 8 x 512 tokens (about one pass over the 12M-token corpus)
COMMON="--data data --ctx 512 --seq 512 --batch 8 --steps 3000 --lr 7e-4 --min-lr 7e-5 --warmup 100 --seed 1
        --threads 1 --ckpt-every 400 --db $DB"

shape() {
    case "$1" in
    base) echo "--layers 8 --dim 256 --heads 8 --kv-heads 8 --ffn 672" ;;
    small) echo "--layers 6 --dim 160 --heads 5 --kv-heads 5 --ffn 384" ;;
    tiny) echo "--layers 4 --dim 144 --heads 4 --kv-heads 4 --ffn 384" ;;
    *) echo "train_models.sh: unknown model '$1' (base, small or tiny)" >&2; return 2 ;;
    esac
}

for m in ${*:-base small tiny}; do
    s=$(shape "$m")
    # shellcheck disable=SC2086  # the option lists are meant to split into words
    run "$ELMS" train $COMMON $s --out "models/$m" --force  # replaces the shipped model
    run sqlite3 -csv -header "$DB" \
        "SELECT run, step, loss, val_loss, lr FROM train_log WHERE run='$m' ORDER BY step" > "models/$m/train_log.csv"
done
