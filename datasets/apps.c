/* apps: the registry of the six apps and the generation of their disjoint splits (see apps.h). */
#include "datasets/apps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/appgen.h"
#include "datasets/keyset.h"
#include "engine/io.h"

const AppDef apps_table[APPS_N] = {
    {"facts", "OpenBookQA", 4, APP_KEY_QUERY, app_facts_make, NULL},
    {"science", "ARC-Easy", 4, APP_KEY_QUERY_CHOICES, app_science_make, NULL},
    {"funcall", "Octopus", FUNCALL_N_LISTED + 1, APP_KEY_PROMPT, app_funcall_make, app_funcall_requery},
    {"uinav", "LlamaTouch", UINAV_N_LISTED, APP_KEY_PROMPT, app_uinav_make, app_uinav_requery},
    {"physical", "PIQA", 2, APP_KEY_QUERY, app_physical_make, NULL},
    {"reading", "SciQ", 4, APP_KEY_PROMPT, app_reading_make, app_reading_requery},
};

const char *const apps_split_names[APPS_N_SPLITS] = {"train", "dev", "test"};

/* Splits are generated test first, then dev, then train: a later split avoids the keys of the earlier ones, so
 * the test split never depends on the sizes of the others. */
static const int k_split_order[APPS_N_SPLITS] = {2, 1, 0};

int apps_find(const char *name) {
    for (int i = 0; name && i < APPS_N; i++)
        if (!strcmp(apps_table[i].name, name)) return i;
    return -1;
}

int apps_split_find(const char *split) {
    for (int i = 0; split && i < APPS_N_SPLITS; i++)
        if (!strcmp(apps_split_names[i], split)) return i;
    return -1;
}

void apps_config_default(AppsConfig *c) {
    world_config_default(&c->world);
    c->n_split[0] = 6000;
    c->n_split[1] = 500;
    c->n_split[2] = 500;
}

int apps_items_path(char *out, size_t cap, const char *dir, const char *app, const char *split) {
    int n = snprintf(out, cap, "%s/items/%s/%s.jsonl", dir, app, split);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* concat: strings joined by the unit separator 0x1f (malloc'd). */
static char *concat(const char *const *parts, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(parts[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(parts[i]);
        memcpy(p, parts[i], l);
        p += l;
        if (i + 1 < n) *p++ = 0x1f;
    }
    *p = 0;
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *apps_item_key(const Item *it, AppKey k) {
    if (k == APP_KEY_QUERY) return strdup(it->query);
    if (k == APP_KEY_PROMPT) {
        const char *parts[2] = {it->system, it->query};
        return concat(parts, 2);
    }
    /* query plus the choice set (sorted, so the order of the choices does not matter) */
    const char **parts = malloc((size_t)(it->n_choices + 1) * sizeof *parts);
    if (!parts) return NULL;
    parts[0] = it->query;
    for (int i = 0; i < it->n_choices; i++) parts[1 + i] = it->choices[i];
    qsort(parts + 1, (size_t)it->n_choices, sizeof *parts, cmp_str);
    char *s = concat(parts, it->n_choices + 1);
    free(parts);
    return s;
}

/* content_key: the whole item (system, query, choices in order). */
static char *content_key(const Item *it) {
    const char **parts = malloc((size_t)(it->n_choices + 2) * sizeof *parts);
    if (!parts) return NULL;
    parts[0] = it->system;
    parts[1] = it->query;
    for (int i = 0; i < it->n_choices; i++) parts[2 + i] = it->choices[i];
    char *s = concat(parts, it->n_choices + 2);
    free(parts);
    return s;
}

/* split_seed: the seed of the stream of (seed, app, split) (splitmix64 of the three). */
static unsigned long split_seed(unsigned long seed, int app, int split) {
    unsigned long long z = (unsigned long long)seed * 0x9E3779B97F4A7C15ull + (unsigned long long)(app * 16 + split + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (unsigned long)(z & 0xffffffffu) | 1u;
}

/* gen_split: n items of app for split into out (or only their keys when out is NULL). Keys in taken are
 * rejected, and so are few-shot examples asking a query in taken_q; contents in seen are rejected and the new
 * ones added; the split's own keys go to mine, its queries to mine_q. */
static int gen_split(const World *w, int app, int split, unsigned long seed, int n, const KeySet *taken,
                     const KeySet *taken_q, KeySet *seen, KeySet *mine, KeySet *mine_q, ItemSet *out, Err *e) {
    const AppDef *def = &apps_table[app];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return err_set(e, "%s: out of memory", def->name);
    gsl_rng_set(r, split_seed(seed, app, split));
    if (out) {
        out->n = 0;
        out->items = calloc((size_t)(n > 0 ? n : 1), sizeof *out->items);
        if (!out->items) {
            gsl_rng_free(r);
            return err_set(e, "%s: out of memory", def->name);
        }
    }
    long tries = 0, max_tries = 50L * n + 10000;
    int got = 0, rc = 0;
    while (got < n && rc == 0) {
        if (++tries > max_tries) {
            rc = err_set(e, "%s %s: found only %d distinct items of %d after %ld tries (make the split smaller or the "
                         "world larger)", def->name, apps_split_names[split], got, n, max_tries);
            break;
        }
        Item it;
        if (def->make(w, r, taken_q, &it, e) != 0) {
            rc = err_prefix(e, "%s", def->name);
            break;
        }
        char *key = apps_item_key(&it, def->key), *content = content_key(&it);
        int accept = 0;
        if (!key || !content) {
            rc = err_set(e, "%s: out of memory", def->name);
        } else if (!keyset_has(taken, key) && !keyset_has(seen, content)) {
            if (keyset_add(seen, content) < 0 || keyset_add(mine, key) < 0 || keyset_add(mine_q, it.query) < 0)
                rc = err_set(e, "%s: out of memory", def->name);
            else accept = 1;
        }
        free(key);
        free(content);
        if (accept && out) {
            char id[96];
            snprintf(id, sizeof id, "%s-%s-%05d", def->name, apps_split_names[split], got);
            it.app = strdup(def->name);
            it.id = strdup(id);
            if (!it.app || !it.id) {
                rc = err_set(e, "%s: out of memory", def->name);
                item_free(&it);
            } else {
                out->items[out->n++] = it;
            }
        } else {
            item_free(&it);
        }
        if (accept) got++;
    }
    gsl_rng_free(r);
    if (rc != 0 && out) items_free(out);
    return rc;
}

/* gen_app: generate the splits of app in k_split_order up to and including split `last`, keeping those whose
 * out[split] is non-NULL. */
static int gen_app(const World *w, int app, unsigned long seed, const AppsConfig *c, ItemSet *out[APPS_N_SPLITS],
                   int last, Err *e) {
    KeySet taken, taken_q, seen;
    keyset_init(&taken);
    keyset_init(&taken_q);
    keyset_init(&seen);
    int rc = 0;
    for (int k = 0; k < APPS_N_SPLITS && rc == 0; k++) {
        int s = k_split_order[k];
        KeySet mine, mine_q;
        keyset_init(&mine);
        keyset_init(&mine_q);
        rc = gen_split(w, app, s, seed, c->n_split[s], &taken, &taken_q, &seen, &mine, &mine_q, out[s], e);
        for (size_t i = 0; rc == 0 && i < mine.cap; i++)
            if (mine.slot[i] && keyset_add(&taken, mine.slot[i]) < 0) rc = err_set(e, "out of memory");
        for (size_t i = 0; rc == 0 && i < mine_q.cap; i++)
            if (mine_q.slot[i] && keyset_add(&taken_q, mine_q.slot[i]) < 0) rc = err_set(e, "out of memory");
        keyset_free(&mine);
        keyset_free(&mine_q);
        if (s == last) break;
    }
    keyset_free(&taken);
    keyset_free(&taken_q);
    keyset_free(&seen);
    return rc;
}

static int check_sizes(const AppsConfig *c, Err *e) {
    for (int s = 0; s < APPS_N_SPLITS; s++)
        if (c->n_split[s] < 0 || c->n_split[s] > 1000000)
            return err_set(e, "%s split size must be in [0, 1000000], got %d", apps_split_names[s], c->n_split[s]);
    return 0;
}

int apps_generate_split(ItemSet *out, const World *w, int app, int split, unsigned long seed, const AppsConfig *c,
                        Err *e) {
    memset(out, 0, sizeof *out);
    if (app < 0 || app >= APPS_N) return err_set(e, "no app with index %d", app);
    if (split < 0 || split >= APPS_N_SPLITS) return err_set(e, "no split with index %d", split);
    if (check_sizes(c, e) != 0) return -1;
    ItemSet *outs[APPS_N_SPLITS] = {NULL, NULL, NULL};
    outs[split] = out;
    return gen_app(w, app, seed, c, outs, split, e);
}

int apps_build(AppsData *d, unsigned long seed, const AppsConfig *c, Err *e) {
    memset(d, 0, sizeof *d);
    if (check_sizes(c, e) != 0) return -1;
    if (world_build(&d->world, &c->world, seed, e) != 0) return -1;
    for (int a = 0; a < APPS_N; a++) {
        ItemSet *outs[APPS_N_SPLITS];
        for (int s = 0; s < APPS_N_SPLITS; s++) outs[s] = &d->set[a][s];
        if (gen_app(&d->world, a, seed, c, outs, k_split_order[APPS_N_SPLITS - 1], e) != 0) {
            apps_data_free(d);
            return -1;
        }
    }
    return 0;
}

void apps_data_free(AppsData *d) {
    for (int a = 0; a < APPS_N; a++)
        for (int s = 0; s < APPS_N_SPLITS; s++) items_free(&d->set[a][s]);
    world_free(&d->world);
}

int apps_write_items(const AppsData *d, const char *dir, Err *e) {
    for (int a = 0; a < APPS_N; a++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/items/%s", dir, apps_table[a].name) >= (int)sizeof path)
            return err_set(e, "%s: path too long", dir);
        if (io_mkdirs(path, e) != 0) return -1;
        for (int s = 0; s < APPS_N_SPLITS; s++) {
            if (apps_items_path(path, sizeof path, dir, apps_table[a].name, apps_split_names[s]) != 0)
                return err_set(e, "%s: path too long", dir);
            if (items_write(&d->set[a][s], path, e) != 0) return -1;
        }
    }
    return 0;
}

int apps_generate(const char *dir, unsigned long seed, const AppsConfig *c, Err *e) {
    AppsConfig def;
    if (!c) {
        apps_config_default(&def);
        c = &def;
    }
    AppsData d;
    if (apps_build(&d, seed, c, e) != 0) return -1;
    int rc = apps_write_items(&d, dir, e);
    apps_data_free(&d);
    return rc;
}
