/* strtab: string interning with an open-addressing hash table (see strtab.h). */
#include "traces/strtab.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

void strtab_init(StrTab *t) { memset(t, 0, sizeof *t); }

void strtab_free(StrTab *t) {
    for (int i = 0; i < t->n; i++) free(t->str[i]);
    free(t->str);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static size_t slot_of(const StrTab *t, const char *s) {
    size_t mask = t->n_slots - 1;
    size_t i = (size_t)hash_fnv1a(HASH_FNV_OFFSET, s, strlen(s)) & mask;
    while (t->slot[i] && strcmp(t->str[t->slot[i] - 1], s)) i = (i + 1) & mask;
    return i;
}

int strtab_find(const StrTab *t, const char *s) {
    if (!t->n_slots) return -1;
    size_t i = slot_of(t, s);
    return t->slot[i] - 1;
}

static int grow(StrTab *t) {
    size_t ns = t->n_slots ? t->n_slots * 2 : 64;
    int *slot = calloc(ns, sizeof *slot);
    if (!slot) return -1;
    free(t->slot);
    t->slot = slot;
    t->n_slots = ns;
    for (int id = 0; id < t->n; id++) t->slot[slot_of(t, t->str[id])] = id + 1;
    return 0;
}

int strtab_intern(StrTab *t, const char *s) {
    int id = strtab_find(t, s);
    if (id >= 0) return id;
    if ((size_t)(t->n + 1) * 2 > t->n_slots && grow(t)) return -1;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **str = realloc(t->str, sizeof *str * (size_t)cap);
        if (!str) return -1;
        t->str = str;
        t->cap = cap;
    }
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, s, len + 1);
    t->str[t->n] = copy;
    t->slot[slot_of(t, s)] = t->n + 1;
    return t->n++;
}
