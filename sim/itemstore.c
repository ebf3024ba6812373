/* itemstore: items by (app, id), loaded and tokenised on first use (see itemstore.h). */
#include "sim/itemstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void itemstore_init(ItemStore *s, const char *data_dir, const char *split, const Tokenizer *tok) {
    memset(s, 0, sizeof *s);
    snprintf(s->data_dir, sizeof s->data_dir, "%s", data_dir ? data_dir : "data");
    snprintf(s->split, sizeof s->split, "%s", split ? split : "test");
    s->tok = tok;
    strtab_init(&s->apps);
    strtab_init(&s->keys);
}

void itemstore_free(ItemStore *s) {
    for (int i = 0; i < s->keys.n; i++)
        if (s->ent[i].encoded == 1) encoded_item_free(&s->ent[i].enc);
    for (int a = 0; a < s->apps.n; a++) items_free(&s->sets[a]);
    free(s->sets);
    free(s->ent);
    strtab_free(&s->apps);
    strtab_free(&s->keys);
    memset(s, 0, sizeof *s);
}

static int key_of(const char *app, const char *item, char *out, size_t cap, Err *e) {
    if ((size_t)snprintf(out, cap, "%s\x1f%s", app, item) >= cap)
        return err_set(e, "item id too long: %s/%s", app, item);
    return 0;
}

static int add_set(ItemStore *s, const char *app, ItemSet *set, Err *e) {
    int a = strtab_intern(&s->apps, app);
    if (a < 0) return err_set(e, "out of memory");
    ItemSet *sets = realloc(s->sets, sizeof *sets * (size_t)s->apps.n);
    if (!sets) return err_set(e, "out of memory");
    s->sets = sets;
    s->sets[a] = *set;
    memset(set, 0, sizeof *set);
    for (int i = 0; i < s->sets[a].n; i++) {
        const Item *it = &s->sets[a].items[i];
        char key[1024];
        if (!it->id || key_of(app, it->id, key, sizeof key, e)) return err_set(e, "app %s: item %d has no id", app, i);
        int before = s->keys.n, k = strtab_intern(&s->keys, key);
        if (k < 0) return err_set(e, "out of memory");
        if (k < before) continue; /* a repeated id: the first one wins */
        if (s->keys.n > s->cap) {
            int cap = s->cap ? s->cap * 2 : 256;
            while (cap < s->keys.n) cap *= 2;
            StoreEntry *ent = realloc(s->ent, sizeof *ent * (size_t)cap);
            if (!ent) return err_set(e, "out of memory");
            s->ent = ent;
            s->cap = cap;
        }
        memset(&s->ent[k], 0, sizeof s->ent[k]);
        s->ent[k].item = it;
    }
    return 0;
}

int itemstore_add_set(ItemStore *s, const char *app, ItemSet *set, Err *e) {
    if (strtab_find(&s->apps, app) >= 0) return err_set(e, "items of app %s are already loaded", app);
    return add_set(s, app, set, e);
}

int itemstore_get(ItemStore *s, const char *app, const char *item, const StoreEntry **out, Err *e) {
    char key[1024];
    if (key_of(app, item, key, sizeof key, e)) return -1;
    int k = strtab_find(&s->keys, key);
    if (k < 0 && strtab_find(&s->apps, app) < 0) {
        char path[1200];
        snprintf(path, sizeof path, "%s/items/%s/%s.jsonl", s->data_dir, app, s->split);
        ItemSet set;
        if (items_read(&set, path, e)) return -1;
        if (add_set(s, app, &set, e)) return -1;
        k = strtab_find(&s->keys, key);
    }
    if (k < 0)
        return err_set(e, "item %s of app %s is not in %s/items/%s/%s.jsonl", item, app, s->data_dir, app, s->split);
    StoreEntry *x = &s->ent[k];
    if (!x->encoded) {
        if (!s->tok) return err_set(e, "item %s/%s: no tokenizer to encode it", app, item);
        if (item_encode(s->tok, x->item, &x->enc, e)) return err_prefix(e, "app %s", app);
        x->encoded = 1;
    }
    *out = x;
    return 0;
}
