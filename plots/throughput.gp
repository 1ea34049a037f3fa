# Throughput against thread count, one series per implementation.
# Columns: threads, median ops/s, min, max, x label ("4*" = oversubscribed).
# The point is the median over repetitions; whiskers span min to max.
load plotdir.'/common.gp'
set xlabel 'threads (* = more threads than PUs: oversubscribed)'
if (exists('xname')) { set xlabel xname }
set ylabel 'throughput (operations/s, log scale)'
set format y '%.1s%c'
set logscale x 2
set logscale y 10
set xrange [xmin / 1.3 : xmax * 1.3]
set offsets 0, 0, graph 0.05, 0
plot for [i=0:nseries-1] datafile index i using 1:2:3:4:xtic(5) \
	with yerrorlines title columnheader(1)
