/* fuzz_trace_elastilm: the paper's trace JSON through trace_import_elastilm; an accepted trace is summarised. */
#include "fuzz/fuzz.h"
#include "traces/trace.h"

int fuzz_trace_elastilm(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("trace.json", data, size);
    Trace t;
    TraceStats s;
    Err e;
    trace_init(&t);
    if (trace_import_elastilm(&t, path, &e) == 0 && trace_stats(&t, &s, &e) == 0) trace_stats_free(&s);
    trace_free(&t);
    return 0;
}
