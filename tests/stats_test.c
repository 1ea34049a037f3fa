/* SPDX-License-Identifier: MIT */
/* Jain's index, the starvation flag and the median. */
#include <math.h>

#include "stats.h"
#include "tap.h"

int main(void)
{
	double equal[4] = { 5, 5, 5, 5 };
	double one[4] = { 8, 0, 0, 0 };
	double half[4] = { 4, 4, 0, 0 };
	double zero[3] = { 0, 0, 0 };
	double mixed[3] = { 1, 2, 3 };
	double odd[5] = { 9, 1, 5, 3, 7 };
	double even[4] = { 4, 1, 3, 2 };

	check_dbl(jain_index(equal, 4), ==, 1.0, "jain: equal shares give 1");
	check_dbl(fabs(jain_index(one, 4) - 0.25), <, 1e-12, "jain: one thread of four doing everything gives 1/n");
	check_dbl(fabs(jain_index(half, 4) - 0.5), <, 1e-12, "jain: two of four sharing gives 2/n");
	/* (1+2+3)^2 / (3 * (1+4+9)) = 36/42 */
	check_dbl(fabs(jain_index(mixed, 3) - 36.0 / 42.0), <, 1e-12, "jain: 1,2,3 gives 36/42");
	check(isnan(jain_index(zero, 3)), "jain: all-zero counts are undefined (NaN), not perfectly fair");
	check(isnan(jain_index(equal, 0)), "jain: no threads is undefined (NaN)");
	check(!starved(10, 20), "starvation: max == 2 * min is not flagged");
	check(starved(10, 21), "starvation: max > 2 * min is flagged");
	check(starved(0, 1), "starvation: a thread with zero ops is flagged");
	check_dbl(median(odd, 5), ==, 5.0, "median of an odd count is the middle value");
	check_dbl(median(even, 4), ==, 2.5, "median of an even count averages the middle two");
	check(isnan(median(odd, 0)), "median of nothing is NaN");
	return tap_done();
}
