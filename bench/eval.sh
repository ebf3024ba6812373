#!/bin/sh
# eval.sh: evaluation throughput, the work behind every accuracy figure: `elms score` of each app's test items on
# models/base-elastic at levels 1.0 and 0.5 (prompt prefill plus choice scoring, F32 weights), in items per second
# of whole-process wall time (loading included), for each binary given (default bin/elms), the binaries alternating
# app by app. One sample per cell. Needs models/base-elastic; the items are generated into DATA (default data)
# when missing. Usage: sh bench/eval.sh [ELMS_BINARY...]; APPS="facts ..." (default all six).
set -eu
[ $# -gt 0 ] || set -- bin/elms
APPS=${APPS:-facts science funcall uinav physical reading}
DATA=${DATA:-data}
export OPENBLAS_NUM_THREADS=1
[ -d models/base-elastic ] || { echo "eval: models/base-elastic is missing" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elms-eval.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
printf "| app | level |"
for b in "$@"; do printf " %s items/s |" "$b"; done
printf "\n|---|---|"
for b in "$@"; do printf -- "---|"; done
printf "\n"
for app in $APPS; do
    for level in 1.0 0.5; do
        printf "| %s | %s |" "$app" "$level"
        for b in "$@"; do
            echo "eval: $b score $app at level $level" >&2
            /usr/bin/time -f "%e" -o "$TMP/t" "$b" score --model models/base-elastic --app "$app" --level "$level" \
                --data "$DATA" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
            n=$(sed -n 's/.*accuracy [0-9]*\/\([0-9]*\).*/\1/p' "$TMP/out" | head -1)
            printf " %s |" "$(awk -v k="$n" -v t="$(cat "$TMP/t")" 'BEGIN { printf "%.1f", k / t }')"
        done
        printf "\n"
    done
done
