# train_loss.gp: training and validation loss curves of `elms train` runs, from the SQLite training log.
#
#   sqlite3 -csv -header results/train.db \
#     "SELECT run, step, loss, val_loss, lr FROM train_log ORDER BY run, step" > results/train_log.csv
#   gnuplot -e "csv='results/train_log.csv'; runs='base small tiny'; out='results/figures/train_loss.png'" \
#     analysis/train_loss.gp
#
# Variables: csv (input, columns run,step,loss,val_loss,lr with a header line), runs (space-separated run
# names; default: base), out (PNG to write; default: results/figures/train_loss.png), smooth (moving-average
# window over steps for the training loss; default 20). Training loss is drawn as a line per run (averaged over
# `smooth` steps), validation loss as points of the same colour, on a logarithmic step axis; the learning rate
# (dotted) on the right axis.

if (!exists("csv")) csv = 'results/train_log.csv'
if (!exists("runs")) runs = 'base'
if (!exists("out")) out = 'results/figures/train_loss.png'
if (!exists("smooth")) smooth = 20

set datafile separator ','
set key autotitle columnhead
set terminal pngcairo size 1100,650 font ',11'
set output out
set title 'elms train: loss per step'
set xlabel 'optimizer step'
set ylabel 'loss (nats per token)'
set y2label 'learning rate'
set logscale x
set y2tics
set ytics nomirror
set grid
set key top right

# A moving average of the training loss within one run: `back` keeps the last `smooth` values.
array back[1000]
samples = 0
total = 0.0
avg(run, x) = (run ne cur ? (cur = run, samples = 0, total = 0.0) : 0, \
               samples = samples + 1, slot = (samples - 1) % smooth + 1, \
               total = total + x - (samples > smooth ? back[slot] : 0), back[slot] = x, \
               total / (samples < smooth ? samples : smooth))
cur = ''

val(r) = (strcol(1) eq r && strcol(4) ne '') ? $4 : NaN
trn(r) = (strcol(1) eq r) ? avg(r, $3) : NaN
lr(r) = (strcol(1) eq r) ? $5 : NaN

set autoscale xfix
n = words(runs)
plot for [i=1:n] csv using 2:(trn(word(runs, i))) with lines lw 2 lc i title sprintf('%s train', word(runs, i)), \
     for [i=1:n] csv using 2:(val(word(runs, i))) with points pt 7 ps 1.2 lc i title sprintf('%s val', word(runs, i)), \
     for [i=1:n] csv using 2:(lr(word(runs, i))) axes x1y2 with lines dt 3 lw 1 lc i title sprintf('%s lr', word(runs, i))
