# Latency by percentile, HdrHistogram style: x = 1/(1-percentile) on a log
# axis, so 90%, 99%, 99.9%, 99.99% sit one decade apart and the tail gets
# the room it deserves.  One line per series, from the histogram merged
# over every repetition.  Columns: 1/(1-p), latency (ns), percentile.
load plotdir.'/common.gp'
set xlabel 'percentile'
if (!exists('what')) { what = 'latency' }
set ylabel what.' (ns, log scale)'
set logscale x 10
set logscale y 10
set format y '%.0s%c'
set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, \
	'99.999%%' 100000, '99.9999%%' 1000000)
plot for [i=0:nseries-1] datafile index i using 1:2 \
	with lines lw 2 title columnheader(1)
