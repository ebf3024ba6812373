/* keyset: string set for split bookkeeping (see keyset.h). */
#include "datasets/keyset.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

void keyset_init(KeySet *s) { memset(s, 0, sizeof *s); }

void keyset_free(KeySet *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}

static size_t probe(char *const *slot, size_t cap, const char *key) {
    size_t i = (size_t)hash_fnv1a(HASH_FNV_OFFSET, key, strlen(key)) & (cap - 1);
    while (slot[i] && strcmp(slot[i], key)) i = (i + 1) & (cap - 1);
    return i;
}

int keyset_has(const KeySet *s, const char *key) { return s->cap && s->slot[probe(s->slot, s->cap, key)] != NULL; }

static int grow(KeySet *s) {
    size_t cap = s->cap ? 2 * s->cap : 1024;
    char **slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i]) slot[probe(slot, cap, s->slot[i])] = s->slot[i];
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return 0;
}

int keyset_add(KeySet *s, const char *key) {
    if ((s->n + 1) * 2 > s->cap && grow(s) != 0) return -1;
    size_t i = probe(s->slot, s->cap, key);
    if (s->slot[i]) return 0;
    if (!(s->slot[i] = strdup(key))) return -1;
    s->n++;
    return 1;
}
