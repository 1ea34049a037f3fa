# Parts of a whole as stacked bars: drain/server's shutdown phases.  One
# row per bar (implementation and the parameters that vary): its label in
# quotes, then each part's median over repetitions in ms; the header row
# names the parts.
# Extra variables: nparts (the number of part columns).
load plotdir.'/common.gp'
set style data histogram
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.6
set ylabel 'ms, median of each part over repetitions'
set yrange [0:*]
set xtics rotate by -25 left
set grid noxtics
set key outside right top box title 'part'
set bmargin 8
plot for [i=2:nparts+1] datafile using i:xtic(1) title columnheader(i) lt (i - 1)
