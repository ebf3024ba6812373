/* clock: wall-clock and CPU time in seconds, for progress rates and ETAs, cost lines (wall and CPU seconds of an
 * offline step), calibration timings, benchmarks and the live replay (sim/live.h, whose measured times are its
 * results). Nothing else depends on them, and tests never assert on their magnitudes. */
#ifndef ELMS_BASE_CLOCK_H
#define ELMS_BASE_CLOCK_H

/* clock_wall_s: seconds on the monotonic clock (CLOCK_MONOTONIC). The origin is arbitrary: use differences.
 * Never goes backwards, unaffected by changes of the system time. */
double clock_wall_s(void);

/* clock_cpu_s: CPU seconds the whole process (all its threads) has used so far (CLOCK_PROCESS_CPUTIME_ID). */
double clock_cpu_s(void);

/* clock_sleep_ms: sleep ms milliseconds of wall time (nothing for ms <= 0), resuming after a signal until the
 * whole time has passed. Returns the milliseconds actually slept (at least ms). */
double clock_sleep_ms(double ms);

#endif
