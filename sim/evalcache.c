/* evalcache: the evaluation cache (see evalcache.h). */
#include "sim/evalcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void evalcache_init(EvalCache *c, Db *db) {
    memset(c, 0, sizeof *c);
    strtab_init(&c->keys);
    c->db = db;
}

void evalcache_free(EvalCache *c) {
    strtab_free(&c->keys);
    free(c->vals);
    memset(c, 0, sizeof *c);
}

static int make_key(const char *m, const char *cfg, const char *app, const char *item, char *out, size_t cap,
                    Err *e) {
    const char *part[4] = {m, cfg, app, item};
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(part[i]);
        if (len + n + 2 > cap) return err_set(e, "evaluation key too long for %s/%s", app, item);
        memcpy(out + len, part[i], n);
        len += n;
        out[len++] = i < 3 ? '\x1f' : 0;
    }
    return 0;
}

static int remember(EvalCache *c, const char *key, const EvalOutcome *o, Err *e) {
    int k = strtab_intern(&c->keys, key);
    if (k < 0) return err_set(e, "out of memory");
    if (k >= c->cap) {
        int cap = c->cap ? c->cap * 2 : 1024;
        while (cap <= k) cap *= 2;
        EvalOutcome *v = realloc(c->vals, sizeof *v * (size_t)cap);
        if (!v) return err_set(e, "out of memory");
        c->vals = v;
        c->cap = cap;
    }
    c->vals[k] = *o;
    return 0;
}

int evalcache_get(EvalCache *c, const char *model_hash, const char *config, const char *app, const char *item,
                  EvalOutcome *out, int *found, Err *e) {
    char key[4096];
    if (make_key(model_hash, config, app, item, key, sizeof key, e)) return -1;
    int k = strtab_find(&c->keys, key);
    if (k >= 0) {
        *out = c->vals[k];
        *found = 1;
        c->hits++;
        return 0;
    }
    *found = 0;
    if (!c->db) return 0;
    int choice, correct;
    double margin;
    if (db_eval_get(c->db, model_hash, config, app, item, &choice, &correct, &margin, found, e)) return -1;
    if (!*found) return 0;
    *out = (EvalOutcome){choice, correct != 0, margin};
    c->db_hits++;
    return remember(c, key, out, e);
}

int evalcache_put(EvalCache *c, const char *model_hash, const char *config, const char *app, const char *item,
                  const EvalOutcome *o, Err *e) {
    char key[4096];
    if (make_key(model_hash, config, app, item, key, sizeof key, e)) return -1;
    c->computed++;
    if (remember(c, key, o, e)) return -1;
    if (c->db && db_eval_put(c->db, model_hash, config, app, item, o->choice, o->correct, o->margin, e)) return -1;
    return 0;
}

static int store_get(void *ctx, const char *model_hash, const char *config, const char *app, const char *item,
                     EvalOutcome *out, int *found, Err *e) {
    return evalcache_get(ctx, model_hash, config, app, item, out, found, e);
}

static int store_put(void *ctx, const char *model_hash, const char *config, const char *app, const char *item,
                     const EvalOutcome *o, Err *e) {
    return evalcache_put(ctx, model_hash, config, app, item, o, e);
}

EvalStore evalcache_store(EvalCache *c) { return (EvalStore){c, store_get, store_put}; }
