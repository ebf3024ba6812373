/* hash: FNV-1a 64 (see hash.h). */
#include "base/hash.h"

#include <stdio.h>

#define HASH_FNV_PRIME 1099511628211ULL

uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= HASH_FNV_PRIME;
    }
    return h;
}

void hash_hex(uint64_t h, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)h); }

void hash_floats(const float *x, size_t n, char out[17]) {
    hash_hex(hash_fnv1a(HASH_FNV_OFFSET, x, n * sizeof *x), out);
}
