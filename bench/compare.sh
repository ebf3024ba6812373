#!/bin/sh
# compare.sh: this checkout's engine against the one of an older revision, measured side by side in the same run
# on this machine (one thread). Builds REV's elms in a temporary git worktree, then, alternating old and new
# binaries sample by sample (SAMPLES each, medians):
#   - whole-process `elms generate` of 256 tokens (wall, CPU, peak RSS) and its in-process decode speed (the
#     figure generate prints on stderr), on models/base and on random 15M- and 110M-shaped models (elms init,
#     stored F16 like models/base);
#   - load: a whole `elms generate --max-new 0` of one token (CPU time, peak RSS);
#   - evaluation throughput: `elms score` of every app's test items at levels 1.0 and 0.5 (bench/eval.sh).
# Each binary runs with its own defaults: the new `elms generate` holds the weights as the file stores them,
# in place (--weights stored); the old one converted them to F32. `elms score` runs F32 weights in both.
# Usage: sh bench/compare.sh REV   (e.g. sh bench/compare.sh HEAD~3); SAMPLES=N (default 5), APPS="facts ..."
# (default all six, passed to bench/eval.sh). Progress goes to stderr, the tables to stdout. Asserts nothing.
set -eu
REV=${1:?usage: sh bench/compare.sh REV}
SAMPLES=${SAMPLES:-5}
export APPS=${APPS:-facts science funcall uinav physical reading}
export OPENBLAS_NUM_THREADS=1
[ -x bin/elms ] || { echo "compare: build bin/elms first (make)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "compare: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elms-compare.XXXXXX")
cleanup() { git worktree remove --force "$TMP/old" >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

echo "compare: building $REV ($(git rev-parse --short "$REV")) in a temporary worktree" >&2
git worktree add --detach "$TMP/old" "$REV" >/dev/null 2>&1
(cd "$TMP/old" && make -s -j2 bin/elms >/dev/null) || { echo "compare: cannot build $REV" >&2; exit 1; }
OLD="$TMP/old/bin/elms"
NEW="$(pwd)/bin/elms"

echo "compare: writing the random 15M and 110M shapes (F16)" >&2
bin/elms init --out "$TMP/m15" --layers 6 --dim 288 --heads 6 --ffn 768 --vocab 32000 --ctx 512 --tied --dtype f16 \
    --seed 1 >/dev/null
bin/elms init --out "$TMP/m110" --layers 12 --dim 768 --heads 12 --ffn 2048 --vocab 32000 --ctx 512 --tied \
    --dtype f16 --seed 1 >/dev/null
# prompts that run the whole 256 tokens without an end-of-sequence token (models/base stops early on most)
PROMPT=2,17,301,45,99,12,800,31,64,7,1000,250,33,5,77,400
BASE_PROMPT=2,1000,1001,1002

# run BIN ARGS...: one timed whole process; appends "wall cpu rss_kb decode_tok_s" to $TMP/last
run() {
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || {
        echo "compare: failed: $*" >&2; cat "$TMP/err" >&2; exit 1; }
    dec=$(sed -n 's/.*decode [0-9]* tokens in [0-9.]* ms (\([0-9.]*\) tokens\/s.*/\1/p' "$TMP/err" | tail -1)
    awk -v d="${dec:-0}" '{ printf "%s %.3f %s %s\n", $1, $2 + $3, $4, d }' "$TMP/time"
}

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# col FILE N: the median of column N of FILE
col() { awk -v c="$2" '{ print $c }' "$1" | median; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

echo "| model | old decode tok/s | new | x | old 256-token run s | new | x | old load CPU ms | new | x (old/new) | old peak MiB | new |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for spec in "models/base:models/base:$BASE_PROMPT" "15M shape:$TMP/m15:$PROMPT" "110M shape:$TMP/m110:$PROMPT"; do
    name=${spec%%:*}
    rest=${spec#*:}
    dir=${rest%%:*}
    prompt=${rest#*:}
    : >"$TMP/gen.old"; : >"$TMP/gen.new"; : >"$TMP/load.old"; : >"$TMP/load.new"
    for s in $(seq "$SAMPLES"); do
        echo "compare: $name sample $s/$SAMPLES" >&2
        run "$OLD" generate --model "$dir" --tokens "$prompt" --max-new 256 >>"$TMP/gen.old"
        grep -q "decode 255 tokens" "$TMP/err" || echo "compare: warning: $name stopped before 256 tokens" >&2
        run "$NEW" generate --model "$dir" --tokens "$prompt" --max-new 256 >>"$TMP/gen.new"
        run "$OLD" generate --model "$dir" --tokens 2 --max-new 0 >>"$TMP/load.old"
        run "$NEW" generate --model "$dir" --tokens 2 --max-new 0 >>"$TMP/load.new"
    done
    od=$(col "$TMP/gen.old" 4); nd=$(col "$TMP/gen.new" 4)
    ow=$(col "$TMP/gen.old" 1); nw=$(col "$TMP/gen.new" 1)
    ol=$(col "$TMP/load.old" 2); nl=$(col "$TMP/load.new" 2)
    orss=$(col "$TMP/gen.old" 3); nrss=$(col "$TMP/gen.new" 3)
    echo "| $name | $od | $nd | $(ratio "$nd" "$od") | $ow | $nw | $(ratio "$ow" "$nw") |" \
         "$(awk -v x="$ol" 'BEGIN{printf "%.0f", 1e3*x}') | $(awk -v x="$nl" 'BEGIN{printf "%.0f", 1e3*x}') |" \
         "$(ratio "$ol" "$nl") | $(awk -v x="$orss" 'BEGIN{printf "%.0f", x/1024}') |" \
         "$(awk -v x="$nrss" 'BEGIN{printf "%.0f", x/1024}') |"
done

if [ -d models/base-elastic ]; then
    echo
    sh bench/eval.sh "$OLD" "$NEW" | sed "s|$OLD|old|; s|$NEW|new|"
fi
