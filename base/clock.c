/* clock: wall-clock and CPU seconds (see clock.h). */
#include "base/clock.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static double seconds_of(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double clock_wall_s(void) { return seconds_of(CLOCK_MONOTONIC); }

double clock_cpu_s(void) { return seconds_of(CLOCK_PROCESS_CPUTIME_ID); }

double clock_sleep_ms(double ms) {
    if (!(ms > 0)) return 0;
    double t0 = clock_wall_s();
    struct timespec ts = {(time_t)(ms / 1000.0), (long)(fmod(ms, 1000.0) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {} /* resumed after a signal: sleep the rest */
    double slept = 1e3 * (clock_wall_s() - t0);
    return slept > ms ? slept : ms;
}
