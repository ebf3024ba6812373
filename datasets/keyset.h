/* keyset: a set of strings (copies owned by the set) with open addressing on FNV-1a hashes; used to keep the
 * splits of an app disjoint and their items distinct. */
#ifndef ELMS_KEYSET_H
#define ELMS_KEYSET_H

#include <stddef.h>

typedef struct KeySet {
    char **slot;   /* (cap) NULL = empty */
    size_t cap;    /* power of two */
    size_t n;
} KeySet;

void keyset_init(KeySet *s);
void keyset_free(KeySet *s);
/* keyset_has: 1 if key is in the set. */
int keyset_has(const KeySet *s, const char *key);
/* keyset_add: add a copy of key; 1 if added, 0 if already present, -1 when out of memory. */
int keyset_add(KeySet *s, const char *key);

#endif
