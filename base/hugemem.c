/* hugemem: large buffers on transparent huge pages (see hugemem.h). */
#include "base/hugemem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_BYTES ((size_t)1 << 21) /* the x86-64 transparent huge page */

void *hugemem_alloc(size_t bytes) {
    if (bytes < HUGE_BYTES) return calloc(bytes ? bytes : 1, 1);
    if (bytes > (size_t)-1 - HUGE_BYTES) return NULL;
    size_t al = (bytes + HUGE_BYTES - 1) / HUGE_BYTES * HUGE_BYTES;
    void *p = aligned_alloc(HUGE_BYTES, al);
    if (!p) return NULL;
    madvise(p, al, MADV_HUGEPAGE); /* a hint: failure leaves 4 KiB pages, which work the same */
    memset(p, 0, al); /* the first touch, after the advice: faults in whole huge pages */
    return p;
}
