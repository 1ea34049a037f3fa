# Shared by every chart script: the terminal and the look.
# Every script is called by `contend plot` with these variables set:
#   datafile   the .dat file written for this chart (gnuplot index blocks,
#              one block per series; the block's first line names it)
#   outfile    the PNG or SVG to write
#   term       'png' or 'svg'
#   plottitle  workload, parameters, placement and host
#   nseries    number of index blocks in datafile
#   plotdir    the folder holding these scripts
#   xmin, xmax smallest and largest thread count (throughput, fairness)
if (term eq 'svg') {
	set terminal svg size 1000,620 dynamic noenhanced font 'sans,11' background '#ffffff'
} else {
	set terminal pngcairo size 1000,620 noenhanced font 'sans,10' background '#ffffff'
}
set output outfile
set title plottitle
set key outside right top box
set grid xtics ytics mytics lc rgb '#dddddd'
set border 3
set tics nomirror
set linetype 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.1
set linetype 2 lc rgb '#d62728' lw 2 pt 5 ps 1.1
set linetype 3 lc rgb '#2ca02c' lw 2 pt 9 ps 1.3
set linetype 4 lc rgb '#9467bd' lw 2 pt 11 ps 1.3
set linetype 5 lc rgb '#ff7f0e' lw 2 pt 13 ps 1.3
set linetype 6 lc rgb '#8c564b' lw 2 pt 4 ps 1.1
set linetype 7 lc rgb '#e377c2' lw 2 pt 6 ps 1.1
set linetype 8 lc rgb '#7f7f7f' lw 2 pt 8 ps 1.1
