# grid_heatmap.gp: one accuracy heatmap of the (model level m, prompt ratio p) grid, as written by `elms grid`
# (columns: level ratio accuracy correct total param_fraction kept_fraction).
#   gnuplot -e "datafile='results/figures/grid_MODEL_APP_COMP.dat'; outfile='x.png'; plottitle='...'" \
#           analysis/grid_heatmap.gp
if (!exists("datafile")) datafile = 'grid.dat'
if (!exists("outfile")) outfile = 'grid.png'
if (!exists("plottitle")) plottitle = 'accuracy grid'
set terminal pngcairo size 760,560 font ",10"
set output outfile
set title plottitle noenhanced
set xlabel "prompt ratio p"
set ylabel "model level m"
set xrange [0.05:1.05]
set yrange [0.15:1.05]
set xtics 0.1
set ytics 0.1
set cblabel "accuracy"
set cbrange [0:1]
set palette defined (0 "#440154", 0.25 "#3b528b", 0.5 "#21918c", 0.75 "#5ec962", 1 "#fde725")
set key off
plot datafile using 2:1:3 with image, \
     datafile using 2:1:(sprintf("%.2f", $3)):($3 > 0.6 ? 0x000000 : 0xffffff) with labels font ",8" \
         textcolor rgb variable
