/* fuzz_trace_jsonl: a trace in the native JSONL format through trace_read; an accepted trace is summarised
 * (trace_stats), written back with trace_write and must be read again (the harness aborts when not). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "traces/trace.h"

int fuzz_trace_jsonl(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("trace.jsonl", data, size);
    Trace t, u;
    TraceStats s;
    Err e;
    trace_init(&t);
    if (trace_read(&t, path, &e) == 0) {
        if (trace_stats(&t, &s, &e) == 0) trace_stats_free(&s);
        const char *again = fuzz_path("trace-again.jsonl");
        trace_init(&u);
        if (trace_write(&t, again, &e) != 0 || trace_read(&u, again, &e) != 0) {
            fprintf(stderr, "fuzz_trace_jsonl: an accepted trace does not survive a write and a read: %s\n", e.msg);
            abort();
        }
        if (u.n != t.n) {
            fprintf(stderr, "fuzz_trace_jsonl: %ld requests became %ld in a write and a read\n", t.n, u.n);
            abort();
        }
        trace_free(&u);
    }
    trace_free(&t);
    return 0;
}
