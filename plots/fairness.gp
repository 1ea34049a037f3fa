# Fairness against thread count.  Solid: Jain's index over per-thread
# operation counts (1 = equal shares).  Dashed: hand-off rate, the share of
# acquisitions whose previous holder was another thread (1 = strict
# alternation as under FIFO hand-off; near 0 = one thread keeps
# re-acquiring, which a balanced Jain's index over a whole second hides).
# Columns: threads, Jain median, hand-off median, x label.
load plotdir.'/common.gp'
set xlabel 'threads (* = oversubscribed)'
if (exists('xname')) { set xlabel xname }
set ylabel 'index (0..1), median over repetitions'
set logscale x 2
set yrange [0:1.05]
set xrange [xmin / 1.3 : xmax * 1.3]
plot for [i=0:nseries-1] datafile index i using 1:2:xtic(4) \
	with linespoints lt (i+1) title sprintf('%s Jain', columnhead(1)), \
     for [i=0:nseries-1] datafile index i using 1:3 \
	with linespoints lt (i+1) dt 2 pt 6 title sprintf('%s hand-off', columnhead(1))
