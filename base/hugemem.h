/* hugemem: the weights' buffers on transparent huge pages where the kernel allows them. On this project's
 * machine (a virtual machine) a 4 KiB-paged weight buffer left untouched while other memory is worked on came
 * back 2-4x slower in its next prefill, and the same weights on 2 MiB pages barely slower at all (`elms-bench
 * engine`, its "huge pages" lines); decode ran at the same speed on either. Under the kernel's THP mode `madvise`
 * (a common default) nothing is on huge pages unless asked for: this module asks. */
#ifndef ELMS_BASE_HUGEMEM_H
#define ELMS_BASE_HUGEMEM_H

#include <stddef.h>

/* hugemem_alloc: bytes of zeroed memory, released with free(), or NULL when memory runs out. A buffer of at least
 * 2 MiB is 2 MiB-aligned, rounded up to whole 2 MiB and advised for huge pages (MADV_HUGEPAGE) before its first
 * touch; the advice is only a hint (mode `never` or a fragmented machine leaves 4 KiB pages). Smaller buffers are
 * calloc's. */
void *hugemem_alloc(size_t bytes);

#endif
