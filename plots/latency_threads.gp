# Latency against thread count, one colour per series: p50 solid, p99
# dashed (for ctx/broadcast this is wake latency against the number of
# waiters).  Columns: threads, p50 median, p99 median, x label.
load plotdir.'/common.gp'
set xlabel 'threads (* = oversubscribed)'
if (exists('xname')) { set xlabel xname }
set ylabel 'latency (ns, log scale), median over repetitions'
set logscale x 2
set logscale y 10
set format y '%.0s%c'
set xrange [xmin / 1.3 : xmax * 1.3]
plot for [i=0:nseries-1] datafile index i using 1:2:xtic(4) \
	with linespoints lt (i+1) title sprintf('%s p50', columnhead(1)), \
     for [i=0:nseries-1] datafile index i using 1:3 \
	with linespoints lt (i+1) dt 2 pt 6 title sprintf('%s p99', columnhead(1))
