/* strtab: string interning (string -> dense index) with an open-addressing hash table (FNV-1a 64 from
 * base/hash.h). Used for app and item names in traces and for lookups in the simulator. Strings are copied. */
#ifndef ELMS_STRTAB_H
#define ELMS_STRTAB_H

#include <stddef.h>

typedef struct StrTab {
    char **str;       /* (n) interned strings, index = id */
    int n, cap;
    int *slot;        /* (n_slots) id + 1, 0 = empty */
    size_t n_slots;   /* power of two */
} StrTab;

void strtab_init(StrTab *t);
void strtab_free(StrTab *t);
/* strtab_find: id of s, or -1. */
int strtab_find(const StrTab *t, const char *s);
/* strtab_intern: id of s, adding it when absent; -1 on out of memory. */
int strtab_intern(StrTab *t, const char *s);

#endif
