# A metric against a parameter the run swept: ctx/rpc's outcome shares
# against the deadline, backpressure/overload's goodput, shed rate and p99
# latency against the offered load.  One index block per line (series,
# the values of the other swept parameters, and share when one chart holds
# several columns); the block's first line names it.  Columns: parameter
# value, median over repetitions, min, max.
# Extra variables: xname (the parameter), xlog (1 for a log x axis), xfmt
# (the x tick format), ylabel (the metric, with its unit), yscale (0 log,
# 1 linear from 0, 2 a share from 0 to 1, 3 a ratio from 0 in plain
# decimals).
load plotdir.'/common.gp'
if (!exists('xfmt')) { xfmt = '%.1s%c' }
if (!exists('ylabel')) { ylabel = 'share of requests' }
if (!exists('yscale')) { yscale = 2 }
set xlabel xname
set ylabel ylabel.' — median, whiskers min to max'
set format x xfmt
if (xlog) { set logscale x 10 }
if (xname eq 'threads' && !xlog) { set xtics 1 }  # whole threads only
if (yscale == 0) {
	set logscale y 10
	set format y '%.0s%c'
} else {
	if (yscale == 2) {
		set yrange [0:1.05]
	} else { if (yscale == 3) {
		set yrange [0:*]
		set format y '%.2f'
	} else {
		set yrange [0:*]
		set format y '%.1s%c'
	} }
}
set offsets graph 0.05, graph 0.05, graph 0.05, 0
plot for [i=0:nseries-1] datafile index i using 1:2:3:4 \
	with yerrorlines lt (i % 8 + 1) dt 1 + i / 8 title columnheader(1)
