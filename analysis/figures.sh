#!/bin/sh
# The figures of the experiments, drawn by gnuplot from the views of analysis/views.sql (docs/experiments.md,
# "Figures and the report"). Every number a figure shows is a column of a view; this script only selects rows,
# lays them out and styles them. The methods are read from the database.
# Usage: sh analysis/figures.sh [DB [OUTDIR]]          (defaults results/elms.db, results/figures)
# Environment:
#   MODEL          the model directory of the runs to draw (default models/base-elastic)
#   PROFILE        the standalone comparison's profile (default normalized)
#   ITEMS          its test items per app (default: the largest number in DB for PROFILE and MODEL)
#   TRACES         the directory of its traces (default results/traces)
#   CDF_PROFILE, CDF_TRACE      the run whose TTFT distribution and overhead are drawn (host, poisson-load-alpha0)
#   PHONE_PROFILE, PHONE_TRACE  the phone run of the overhead figure (sd8gen3-llama2-7b-q4, paper-alpha0)
#   DECISIONS      the policies whose (level, ratio) decisions are drawn side by side (default "elms oracle")
# Writes OUTDIR/NAME.png and prints each path; a figure whose rows are absent from DB is skipped with one line
# on stderr. Applies the views to DB first (as `elms db views` does).
set -eu
cd "$(dirname "$0")/.."
DB=${1:-results/elms.db}
OUTDIR=${2:-results/figures}
MODEL=${MODEL:-models/base-elastic}
PROFILE=${PROFILE:-normalized}
TRACES=${TRACES:-results/traces}
TRACES=${TRACES%/}
CDF_PROFILE=${CDF_PROFILE:-host}
CDF_TRACE=${CDF_TRACE:-poisson-load-alpha0}
PHONE_PROFILE=${PHONE_PROFILE:-sd8gen3-llama2-7b-q4}
PHONE_TRACE=${PHONE_TRACE:-paper-alpha0}
DECISIONS=${DECISIONS:-elms oracle}

TAB=$(printf '\t')

# say ARGS: print ARGS and a newline, backslashes as they are (unlike dash's echo)
say() {
    printf '%s\n' "$*"
}
skip() {
    say "figures: skipping $1: $2" >&2
}
# q SQL: the rows of a query, tab-separated, no header
q() {
    sqlite3 -batch -noheader -separator "$TAB" "$DB" "$1"
}
# sqlq VALUE: VALUE as an SQL string literal
sqlq() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}
# gpq VALUE: VALUE as a gnuplot string literal
gpq() {
    printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}
# pos WORD WORDS...: the position of WORD among WORDS (1-based; 0 when absent)
pos() {
    w=$1
    shift
    k=0
    for x in "$@"; do
        k=$((k + 1))
        if [ "$x" = "$w" ]; then say $k; return; fi
    done
    say 0
}
# index_of COLUMN WORDS...: an SQL expression numbering the values WORDS of COLUMN 1, 2, ... (0 for others)
index_of() {
    col=$1
    shift
    k=0
    printf 'CASE %s' "$col"
    for w in "$@"; do
        k=$((k + 1))
        printf ' WHEN %s THEN %d' "$(sqlq "$w")" "$k"
    done
    printf ' ELSE 0 END'
}
# blocks SQL: the query's rows as gnuplot datablocks, one per value of its first column (a gnuplot identifier; the
# rows of one value adjacent), named $VALUE and holding the other columns
blocks() {
    q "$1" | awk -F "$TAB" '$1 != k { if (k != "") print "EOD"; k = $1; print "$" k " << EOD" }
                             { sub(/^[^\t]*\t/, ""); print } END { if (k != "") print "EOD" }'
}
# draw NAME: run the gnuplot script $WORK/NAME.gp, which writes OUTDIR/NAME.png
draw() {
    gnuplot "$WORK/$1.gp"
    say "$OUTDIR/$1.png"
}

if [ ! -f "$DB" ]; then
    say "figures: $DB: no such database" >&2
    exit 1
fi
if ! command -v gnuplot >/dev/null 2>&1; then
    say "figures: gnuplot is missing (make deps installs it)" >&2
    exit 1
fi
sh analysis/apply_views.sh "$DB"
mkdir -p "$OUTDIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
# pngcairo when gnuplot has it, else the libgd png terminal
if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
    PNGTERM="pngcairo noenhanced font ',12'"
else
    PNGTERM="png noenhanced"
fi

M=$(sqlq "$MODEL")
# The methods in a fixed order (references, baselines, ELMS, its variants) and one style each, the same in every
# figure: ELMS thick and red, oracle black, full grey, the other methods from a palette, the ELMS variants dashed.
ORDER="CASE WHEN method = 'full' THEN 0 WHEN method = 'oracle' THEN 1 WHEN method = 'elms' THEN 3
            WHEN method LIKE 'elms-%' THEN 4 ELSE 2 END, method"
PALETTE="#1f77b4 #ff7f0e #2ca02c #9467bd #8c564b #e377c2 #17becf #bcbd22 #aec7e8 #ffbb78 #98df8a #c5b0d5 #c49c94 \
#f7b6d2 #9edae5 #dbdb8d #393b79 #637939"
NPAL=$(say $PALETTE | wc -w)
q "SELECT DISTINCT method FROM latest_runs WHERE model = $M ORDER BY $ORDER" > "$WORK/methods"
ALL=$(cat "$WORK/methods")
i=0
: > "$WORK/styles"
while read -r m; do
    case "$m" in
        elms) c="#d62728"; dt=1; lw=4; pt=7 ;;
        oracle) c="#000000"; dt=2; lw=2; pt=5 ;;
        full) c="#7f7f7f"; dt=3; lw=2; pt=4 ;;
        *)  i=$((i + 1))
            c=$(say $PALETTE | cut -d' ' -f$(((i - 1) % NPAL + 1)))
            case "$m" in elms-*) dt=4 ;; *) dt=1 ;; esac
            lw=2; pt=$((i % 12 + 1)) ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$c" "$dt" "$lw" "$pt" >> "$WORK/styles"
done < "$WORK/methods"
# style_defs: gnuplot line styles 1, 2, ... of the methods in the figures' order (the lines of $WORK/methods)
style_defs() {
    awk -F "$TAB" '{ printf "set style line %d lc rgb \"%s\" dt %s lw %s pt %s ps 1.3\n", NR, $2, $3, $4, $5 }' \
        "$WORK/styles"
}
# lstyle METHOD: the line style of METHOD; lcolor METHOD: its colour alone (for bars)
lstyle() {
    n=$(pos "$1" $ALL)
    if [ "$n" = 0 ]; then say "lc rgb '#333333' lw 2"; else say "ls $n"; fi
}
lcolor() {
    awk -F "$TAB" -v m="$1" '$1 == m { c = $2 } END { printf "lc rgb \"%s\"\n", c ? c : "#333333" }' "$WORK/styles"
}
# methods_of SQL: the methods among the query's rows (its first column), in the figures' order
methods_of() {
    q "$1" > "$WORK/sel"
    while read -r m; do grep -qxF -- "$m" "$WORK/sel" && say "$m"; done < "$WORK/methods"
    awk 'NR == FNR { known[$0] = 1; next } !($0 in known)' "$WORK/methods" "$WORK/sel" | sort
}
# draw_order METHODS...: the methods with elms last, so that its line is drawn over the others
draw_order() {
    for m in "$@"; do [ "$m" = elms ] || say "$m"; done
    for m in "$@"; do [ "$m" != elms ] || say "$m"; done
}

# ---- a. standalone accuracy vs SLO setting: one panel per app and one over all apps, one line per method ----
P=$(sqlq "$PROFILE")
TD=$(sqlq "$TRACES/")
if [ -z "${ITEMS:-}" ]; then
    ITEMS=$(q "SELECT max(items_per_app) FROM standalone_curve WHERE profile = $P AND model = $M AND trace_dir = $TD")
fi
SEL="profile = $P AND model = $M AND trace_dir = $TD AND items_per_app = ${ITEMS:-0}"
if [ -z "$ITEMS" ] || [ "$(q "SELECT count(*) FROM standalone_curve WHERE $SEL")" = 0 ]; then
    skip standalone_accuracy "no standalone runs (analysis/standalone.sh) for profile $PROFILE, model $MODEL in $TRACES/"
else
    methods=$(methods_of "SELECT DISTINCT method FROM standalone_curve WHERE $SEL")
    apps=$(q "SELECT DISTINCT app FROM standalone_curve WHERE $SEL AND app <> 'all' ORDER BY app")
    nset=$(q "SELECT max(setting_rank) FROM standalone_curve WHERE $SEL")
    xtics=$(q "SELECT DISTINCT printf('\"(%g, %g)\" %d', slo_ttft, slo_tpot, setting_rank) FROM standalone_curve
               WHERE $SEL ORDER BY setting_rank" | paste -sd, -)
    MI=$(index_of method $methods)
    AI=$(index_of app $apps all)
    cols=4
    rows=$((($(echo $apps | wc -w) + 2 + cols - 1) / cols))
    {
        say "set terminal $PNGTERM size 1900,$((rows * 520 + 60))"
        style_defs
        say "set output $(gpq "$OUTDIR/standalone_accuracy.png")"
        blocks "SELECT 'd' || ($MI) || '_' || ($AI), setting_rank, accuracy FROM standalone_curve WHERE $SEL
                ORDER BY ($MI), ($AI), setting_rank"
        say "set multiplot layout $rows,$cols title $(gpq "Standalone comparison: accuracy vs SLO setting, TTFT and TPOT SLOs as fractions of the full model's (profile $PROFILE, $ITEMS test items per app, $MODEL)") font ',16'"
        say "set xrange [0.7:$nset.3]"
        say "set xtics ($xtics) font ',11'"
        say "set yrange [0:1.02]"
        say "set ytics 0.2"
        say "set grid"
        say "set xlabel 'SLO setting (TTFT, TPOT)'"
        say "set ylabel 'accuracy (correct / items)'"
        say "set key off"
        for a in $apps all; do
            if [ "$a" = all ]; then t="all apps (pooled mean)"; else t="app: $a"; fi
            say "set title $(gpq "$t") font ',14'"
            printf 'plot '
            sep=""
            for m in $(draw_order $methods); do
                printf '%s$d%s_%s using 1:2 with linespoints %s notitle' "$sep" "$(pos "$m" $methods)" \
                    "$(pos "$a" $apps all)" "$(lstyle "$m")"
                sep=", \\
     "
            done
            echo
        done
        # the legend in a panel of its own
        say "unset title; unset border; unset tics; unset grid; unset xlabel; unset ylabel"
        say "set xrange [0:1]; set yrange [0:1]"
        say "set key center center vertical maxrows 10 samplen 4 spacing 1.2 font ',13' title 'method'"
        printf 'plot '
        sep=""
        for m in $methods; do
            printf '%sNaN with linespoints %s title %s' "$sep" "$(lstyle "$m")" "$(gpq "$m")"
            sep=", \\
     "
        done
        echo
        say "unset multiplot"
    } > "$WORK/standalone_accuracy.gp"
    draw standalone_accuracy
fi

# ---- b. attained accuracy per end-to-end trace and profile, grouped bars per method ----
if [ "$(q "SELECT count(*) FROM e2e_runs WHERE model = $M")" = 0 ]; then
    skip e2e_attained "no end-to-end runs (analysis/reproduce.sh) for model $MODEL"
else
    GROUPS="SELECT trace_name, profile, row_number() OVER (ORDER BY profile, trace_name) AS k
            FROM (SELECT DISTINCT trace_name, profile FROM e2e_runs WHERE model = $M)"
    ngroup=$(q "SELECT count(*) FROM ($GROUPS)")
    xtics=$(q "SELECT printf('\"%s\n%s\" %d', trace_name, profile, k) FROM ($GROUPS) ORDER BY k" | paste -sd, -)
    methods=$(methods_of "SELECT DISTINCT method FROM e2e_runs WHERE model = $M")
    nm=$(echo $methods | wc -w)
    MI=$(index_of e.method $methods)
    {
        say "set terminal $PNGTERM size $((ngroup * 240 + 360)),800"
        style_defs
        say "set output $(gpq "$OUTDIR/e2e_attained.png")"
        # a bar's x: its group, plus the method's offset within the group
        blocks "SELECT 'b' || ($MI), g.k + (($MI) - ($nm + 1) / 2.0) * 0.8 / $nm, e.attained
                FROM ($GROUPS) g JOIN e2e_runs e ON e.trace_name = g.trace_name AND e.profile = g.profile
                WHERE e.model = $M ORDER BY ($MI), g.k"
        say "set title $(gpq "End to end: attained accuracy (answer correct and within the SLO) per trace and device profile ($MODEL)") font ',15'"
        say "set xrange [0.5:$ngroup.5]"
        say "set xtics ($xtics) font ',12'"
        say "set yrange [0:1.05]"
        say "set ytics 0.1"
        say "set grid ytics"
        say "set xlabel 'trace and device profile' offset 0,-1"
        say "set ylabel 'attained accuracy (fraction of requests with an item)'"
        say "set bmargin 6"
        say "set boxwidth $(awk -v n="$nm" 'BEGIN { printf "%.4f", 0.8 / n }') absolute"
        say "set style fill solid 1.0 border lc rgb '#202020'"
        say "set key outside right top vertical font ',12' title 'method'"
        printf 'plot '
        sep=""
        for m in $methods; do
            printf '%s$b%s using 1:2 with boxes %s title %s' "$sep" "$(pos "$m" $methods)" "$(lcolor "$m")" "$(gpq "$m")"
            sep=", \\
     "
        done
        echo
    } > "$WORK/e2e_attained.gp"
    draw e2e_attained
fi

# ---- c. TTFT distribution per method: host profile, Poisson arrivals ----
CSEL="profile = $(sqlq "$CDF_PROFILE") AND trace_name = $(sqlq "$CDF_TRACE") AND model = $M"
if [ "$(q "SELECT count(*) FROM e2e_runs WHERE $CSEL")" = 0 ]; then
    skip ttft_cdf "no run of trace $CDF_TRACE under profile $CDF_PROFILE for model $MODEL"
else
    methods=$(methods_of "SELECT DISTINCT method FROM e2e_runs WHERE $CSEL")
    MI=$(index_of method $methods)
    {
        say "set terminal $PNGTERM size 1400,850"
        style_defs
        say "set output $(gpq "$OUTDIR/ttft_cdf.png")"
        blocks "SELECT 'c' || ($MI), ttft_ms, cdf FROM e2e_ttft_cdf WHERE $CSEL AND ttft_ms > 0 ORDER BY ($MI), ttft_ms"
        say "set title $(gpq "TTFT distribution per method: trace $CDF_TRACE under profile $CDF_PROFILE ($MODEL)") font ',15'"
        say "set logscale x"
        say "set format x '%g'"
        say "set yrange [0:1.01]"
        say "set ytics 0.1"
        say "set grid xtics mxtics ytics"
        say "set xlabel 'time to first token (ms, log scale)'"
        say "set ylabel 'fraction of requests with TTFT <= x'"
        say "set key outside right top vertical font ',12' title 'method'"
        printf 'plot '
        sep=""
        for m in $methods; do
            printf '%s$c%s using 1:2 with steps %s title %s' "$sep" "$(pos "$m" $methods)" "$(lstyle "$m")" "$(gpq "$m")"
            sep=", \\
     "
        done
        echo
    } > "$WORK/ttft_cdf.gp"
    draw ttft_cdf
fi

# ---- d. resident memory per method, one panel per profile ----
if [ "$(q "SELECT count(*) FROM method_memory WHERE model = $M")" = 0 ]; then
    skip memory "no complete runs for model $MODEL"
else
    profiles=$(q "SELECT DISTINCT profile FROM method_memory WHERE model = $M ORDER BY profile")
    np=$(echo $profiles | wc -w)
    {
        say "set terminal $PNGTERM size $((np * 620 + 80)),820"
        style_defs
        say "set output $(gpq "$OUTDIR/memory.png")"
        say "set multiplot layout 1,$np title $(gpq "Peak resident memory over each method's runs, per profile ($MODEL): models, adapters, predictors, tiny LM, KV cache and runtime together (the database does not record them apart)") font ',14'"
        say "set style fill solid 1.0 border lc rgb '#202020'"
        say "set boxwidth 0.7"
        say "set grid ytics"
        say "set key off"
        say "set yrange [0:*]"
        say "set offsets 0, 0, graph 0.08, 0"
        say "set ylabel 'peak resident memory (MiB)'"
        say "set xlabel 'method'"
        say "set bmargin 9"
        say "set xtics rotate by 50 right font ',11'"
        say "set tmargin 4"
        for p in $profiles; do
            PS="model = $M AND profile = $(sqlq "$p")"
            methods=$(methods_of "SELECT method FROM method_memory WHERE $PS")
            MI=$(index_of method $methods)
            xt=$(k=0; sep=""; for m in $methods; do k=$((k + 1)); printf '%s%s %d' "${sep:-}" "$(gpq "$m")" $k; sep=", "; done)
            blocks "SELECT 'm' || ($MI), $MI, memory_mb, printf('%.0f', memory_mb) FROM method_memory WHERE $PS
                    ORDER BY ($MI)"
            say "set title $(gpq "profile: $p") font ',13'"
            say "set xrange [0.4:$(echo $methods | wc -w).6]"
            say "set xtics ($xt)"
            printf 'plot '
            sep=""
            for m in $methods; do
                n=$(pos "$m" $methods)
                printf "%s\$m%s using 1:2 with boxes %s notitle, \$m%s using 1:2:3 with labels offset 0,0.7 font ',10' notitle" \
                    "$sep" "$n" "$(lcolor "$m")" "$n"
                sep=", \\
     "
            done
            echo
        done
        say "unset multiplot"
    } > "$WORK/memory.gp"
    draw memory
fi

# ---- e. (model level, prompt ratio) decisions of the DECISIONS policies per SLO setting, over all apps and per
#      app (the standalone traces: every policy answers the same requests) ----
dm=""
missing=""
for m in $DECISIONS; do
    if [ -n "$ITEMS" ] && [ "$(q "SELECT count(*) FROM standalone_decisions WHERE $SEL AND method = $(sqlq "$m")")" != 0 ]; then
        dm="$dm${dm:+ }$m"
    else
        missing="$missing${missing:+ }$m"
    fi
done
if [ -z "$dm" ]; then
    skip decisions "no standalone runs of $DECISIONS for profile $PROFILE, model $MODEL in $TRACES/"
else
    [ -z "$missing" ] || say "figures: decisions: no standalone runs of $missing; drawing $dm only" >&2
    MI=$(index_of d.method $dm)
    # one row per cell: app, datablock (policy, setting), the cell's column and row (ranks of the ratio and level
    # among those of the drawn policies), share, its label, white text on dark cells, level, ratio
    q "SELECT d.app, 'e' || ($MI) || '_' || t.setting_rank,
              dense_rank() OVER (ORDER BY d.ratio), dense_rank() OVER (ORDER BY d.level),
              d.share, printf('%.0f%%', 100 * d.share), d.share > 0.4, d.level, d.ratio
       FROM standalone_decisions d
       JOIN (SELECT DISTINCT trace, setting_rank FROM standalone_curve WHERE $SEL) t ON t.trace = d.trace
       WHERE d.profile = $P AND d.model = $M AND ($MI) > 0
       ORDER BY d.app, ($MI), t.setting_rank" > "$WORK/cells"
    xtics=$(awk -F "$TAB" '{ print $3 "\t" $9 }' "$WORK/cells" | sort -n -u | awk -F "$TAB" '{ printf "%s\"%g\" %d", (NR > 1 ? ", " : ""), $2, $1 }')
    ytics=$(awk -F "$TAB" '{ print $4 "\t" $8 }' "$WORK/cells" | sort -n -u | awk -F "$TAB" '{ printf "%s\"%g\" %d", (NR > 1 ? ", " : ""), $2, $1 }')
    nr=$(awk -F "$TAB" '$3 > n { n = $3 } END { print n }' "$WORK/cells")
    nl=$(awk -F "$TAB" '$4 > n { n = $4 } END { print n }' "$WORK/cells")
    q "SELECT DISTINCT setting_rank, printf('(%g, %g)', slo_ttft, slo_tpot) FROM standalone_curve WHERE $SEL
       ORDER BY setting_rank" > "$WORK/slos"
    settings=$(cut -f1 "$WORK/slos")
    ns=$(echo $settings | wc -w)
    npol=$(echo $dm | wc -w)
    cut -f1 "$WORK/cells" | awk '!seen[$0]++' | sort | awk '$0 == "all" { print; next } { rest = rest $0 "\n" }
                                                         END { printf "%s", rest }' > "$WORK/dapps"
    while read -r a; do
        if [ "$a" = all ]; then name=decisions; what="all apps"; else
            name="decisions-$(printf '%s' "$a" | tr -c 'A-Za-z0-9_-' _)"; what="app $a"; fi
        {
            say "set terminal $PNGTERM size $((ns * 400 + 200)),$((npol * 430 + 90))"
            say "set output $(gpq "$OUTDIR/$name.png")"
            awk -F "$TAB" -v a="$a" '$1 == a' "$WORK/cells" | cut -f2- \
                | awk -F "$TAB" '$1 != k { if (k != "") print "EOD"; k = $1; print "$" k " << EOD" }
                                 { sub(/^[^\t]*\t/, ""); print } END { if (k != "") print "EOD" }'
            say "set multiplot layout $npol,$ns title $(gpq "Decisions (model level, prompt ratio) as shares of the requests, $what: standalone traces (profile $PROFILE, $ITEMS items per app, $MODEL)") font ',15'"
            say "set xrange [0.5:$nr.5]"
            say "set yrange [0.5:$nl.5]"
            say "set xtics ($xtics) font ',10'"
            say "set ytics ($ytics) font ',10'"
            say "set xlabel 'prompt ratio (fraction of the prompt kept)'"
            say "set ylabel 'model level'"
            say "set cbrange [0:1]"
            say "set cbtics ('0%%' 0, '20%%' 0.2, '40%%' 0.4, '60%%' 0.6, '80%%' 0.8, '100%%' 1)"
            say "set palette defined (0 '#f7fbff', 0.05 '#c6dbef', 0.2 '#6baed6', 0.5 '#2171b5', 1 '#08306b')"
            say "set key off"
            for m in $dm; do
                for s in $settings; do
                    slo=$(awk -F "$TAB" -v s="$s" '$1 == s { print $2 }' "$WORK/slos")
                    b="e$(pos "$m" $dm)_$s"
                    say "set title $(gpq "$m, SLO $slo") font ',13'"
                    if [ "$s" = "$(echo $settings | awk '{ print $NF }')" ]; then
                        say "set colorbox; set cblabel 'share of requests'"
                    else
                        say "unset colorbox"
                    fi
                    if grep -q "^\\\$$b " "$WORK/$name.gp"; then
                        say "plot \$$b using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette, \\"
                        say "     \$$b using 1:2:(\$3 >= 0.01 ? stringcolumn(4) : ''):(\$5 > 0 ? 0xffffff : 0x000000) with labels tc rgb variable font ',9'"
                    else
                        say "set label 1 'no runs' at graph 0.5, 0.5 center; plot NaN; unset label 1"
                    fi
                done
            done
            say "unset multiplot"
        } > "$WORK/$name.gp"
        draw "$name"
    done < "$WORK/dapps"
fi

# ---- f. TTFT breakdown per method: queue, tiny LM, switch and prefill as shares of the mean TTFT ----
panels=""
missing=""
for s in host phone; do
    if [ $s = host ]; then pr=$CDF_PROFILE; tr=$CDF_TRACE; else pr=$PHONE_PROFILE; tr=$PHONE_TRACE; fi
    if [ "$(q "SELECT count(*) FROM e2e_overhead WHERE profile = $(sqlq "$pr") AND trace_name = $(sqlq "$tr")
               AND model = $M AND ttft_ms > 0")" = 0 ]; then
        missing="$missing${missing:+, }trace $tr under $pr"
    else
        panels="$panels${panels:+ }$s"
    fi
done
if [ -z "$panels" ]; then
    skip overhead "no run of $missing for model $MODEL"
else
    [ -z "$missing" ] || say "figures: overhead: no run of $missing; drawing the other panel only" >&2
    np=$(echo $panels | wc -w)
    {
        w=$((np * 850 + 80))
        [ $w -ge 1500 ] || w=1500
        say "set terminal $PNGTERM size $w,820"
        style_defs
        say "set output $(gpq "$OUTDIR/overhead.png")"
        say "set multiplot layout 1,$np title $(gpq "Where the time to first token goes: mean of each part as a share of the mean TTFT ($MODEL)") font ',15'"
        say "set style data histograms"
        say "set style histogram rowstacked"
        say "set style fill solid 1.0 border lc rgb '#202020'"
        say "set boxwidth 0.7"
        say "set yrange [0:1.12]"
        say "set ytics 0.2"
        say "set grid ytics"
        say "set ylabel 'share of the mean TTFT'"
        say "set xlabel 'method (mean TTFT in ms above each bar)'"
        say "set xtics rotate by 50 right font ',11'"
        say "set key outside below center horizontal font ',12'"
        say "set datafile separator '\t'"
        for s in $panels; do
            if [ $s = host ]; then pr=$CDF_PROFILE; tr=$CDF_TRACE; else pr=$PHONE_PROFILE; tr=$PHONE_TRACE; fi
            sel="profile = $(sqlq "$pr") AND trace_name = $(sqlq "$tr") AND model = $M AND ttft_ms > 0"
            methods=$(methods_of "SELECT DISTINCT method FROM e2e_overhead WHERE $sel")
            MI=$(index_of method $methods)
            say "\$f_$s << EOD"
            q "SELECT method, queue_share, tlm_share, switch_share, prefill_share,
                      CASE WHEN ttft_ms >= 100 THEN printf('%.0f', ttft_ms) ELSE printf('%.3g', ttft_ms) END
               FROM e2e_overhead WHERE $sel ORDER BY ($MI)"
            say "EOD"
            say "set title $(gpq "trace $tr under profile $pr") font ',13'"
            say "plot \$f_$s using 2:xtic(1) title 'queue' lc rgb '#9e9e9e', \\"
            say "     '' using 3 title 'tiny LM' lc rgb '#d62728', \\"
            say "     '' using 4 title 'switch' lc rgb '#ff7f0e', \\"
            say "     '' using 5 title 'prefill' lc rgb '#1f77b4', \\"
            say "     '' using 0:(1.03):6 with labels font ',10' notitle"
        done
        say "unset multiplot"
    } > "$WORK/overhead.gp"
    draw overhead
fi
