/* fuzz_profile: a device profile through profile_load; an accepted profile prices the full configuration
 * (prefill, decode, tiny LM, memory), is written back with profile_write and must load again (the harness aborts
 * when not). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "sim/profile.h"

int fuzz_profile(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("profile.json", data, size);
    static Profile p, q; /* large */
    Err e;
    if (profile_load(&p, path, &e) != 0) return fuzz_refused("profile", &e);
    CostShape s = cost_full();
    volatile double sink = profile_prefill_ms(&p, &s, 100) + profile_decode_ms(&p, &s, 100) +
                           profile_tlm_ms(&p, 10, 1) + profile_weight_bytes(&p, 1e6, 2e6) +
                           profile_kv_bytes(&p, &s, 100, 64);
    (void)sink;
    const char *again = fuzz_path("profile-again.json");
    if (profile_write(&p, again, &e) != 0 || profile_load(&q, again, &e) != 0) {
        fprintf(stderr, "fuzz_profile: an accepted profile does not survive a write and a load: %s\n", e.msg);
        abort();
    }
    return 0;
}
