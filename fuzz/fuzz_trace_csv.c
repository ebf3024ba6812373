/* fuzz_trace_csv: a CSV trace (arrived_at, num_prefill_tokens, num_decode_tokens) through trace_import_csv,
 * with apps drawn by seed and with one app given; an accepted trace is summarised. */
#include "fuzz/fuzz.h"
#include "traces/trace.h"

int fuzz_trace_csv(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("trace.csv", data, size);
    const char *apps[2] = {NULL, "facts"};
    for (int i = 0; i < 2; i++) {
        Trace t;
        TraceStats s;
        Err e;
        trace_init(&t);
        if (trace_import_csv(&t, path, apps[i], 7, &e) == 0 && trace_stats(&t, &s, &e) == 0) trace_stats_free(&s);
        trace_free(&t);
    }
    return 0;
}
