# Latency percentiles at one thread count, one line per implementation.
# Columns: position, median latency (ns) over repetitions, min, max, label.
# Each repetition's percentile comes from that trial's merged histogram;
# the point is the median across repetitions (never an average of
# percentiles); whiskers span min to max.
load plotdir.'/common.gp'
set xlabel 'percentile'
if (!exists('what')) { what = 'latency' }
set ylabel what.' (ns, log scale)'
set logscale y 10
set format y '%.0s%c'
set xrange [0.5:*]
set offsets 0, 0.5, 0, 0
plot for [i=0:nseries-1] datafile index i using 1:2:3:4:xtic(5) \
	with yerrorlines title columnheader(1)
