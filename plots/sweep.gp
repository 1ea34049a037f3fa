# A share (0..1) against the one parameter a run swept, e.g. ctx/rpc's
# outcome shares against the deadline.  One index block per (series,
# share) pair; the block's first line names it.  Columns: parameter
# value, median share over repetitions, min, max.
# Extra variables: xname (the parameter), xlog (1 for a log x axis).
load plotdir.'/common.gp'
set xlabel xname
set ylabel 'share of requests (median over repetitions)'
set yrange [0:1.05]
set format x '%.1s%c'
if (xlog) { set logscale x 10 }
set offsets graph 0.05, graph 0.05, 0, 0
plot for [i=0:nseries-1] datafile index i using 1:2:3:4 \
	with yerrorlines lt (i+1) title columnheader(1)
