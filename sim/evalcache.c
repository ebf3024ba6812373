/* evalcache: the evaluation cache and configuration keys (see evalcache.h). */
#include "sim/evalcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

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

/* Appends one layer's description to out: "a<attn>f<ffn>" plus "-A"/"-F" for skipped sub-blocks and
 * "i<count>:<hash>" for an explicit neuron subset. */
static int layer_desc(const LayerView *L, char *out, size_t cap) {
    char sub[40] = "";
    if (L->ffn_idx) {
        uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, L->ffn_idx, sizeof(int) * (size_t)L->n_ffn_idx);
        snprintf(sub, sizeof sub, "i%d:%08llx", L->n_ffn_idx, (unsigned long long)(h & 0xffffffffULL));
    }
    return snprintf(out, cap, "a%df%d%s%s%s", L->attn_units, L->ffn_units, L->skip_attn ? "-A" : "",
                    L->skip_ffn ? "-F" : "", sub);
}

int config_key_view(const ElasticView *v, const char *lora_hash, const char *select_key, char *out, size_t cap) {
    size_t len = 0;
    int w;
    for (int l = 0; l < v->n_layers;) {
        char d[96], d2[96];
        layer_desc(&v->layer[l], d, sizeof d);
        int run = 1;
        while (l + run < v->n_layers) {
            layer_desc(&v->layer[l + run], d2, sizeof d2);
            if (strcmp(d, d2)) break;
            run++;
        }
        w = run > 1 ? snprintf(out + len, cap - len, "%s%s*%d", l ? "," : "", d, run)
                    : snprintf(out + len, cap - len, "%s%s", l ? "," : "", d);
        if (w < 0 || (size_t)w >= cap - len) return -1;
        len += (size_t)w;
        l += run;
    }
    if (lora_hash) {
        w = snprintf(out + len, cap - len, ";lora=%s", lora_hash);
        if (w < 0 || (size_t)w >= cap - len) return -1;
        len += (size_t)w;
    }
    if (select_key) {
        w = snprintf(out + len, cap - len, ";select=%s", select_key);
        if (w < 0 || (size_t)w >= cap - len) return -1;
        len += (size_t)w;
    }
    return (int)len;
}

int config_key_keep(const unsigned char *keep, int n_system, char *out, size_t cap) {
    int kept = n_system, w;
    uint64_t h = 0;
    if (keep) {
        kept = 0;
        for (int i = 0; i < n_system; i++) kept += keep[i] != 0;
        if (kept < n_system) {
            h = HASH_FNV_OFFSET;
            for (int i = 0; i < n_system; i++) {
                unsigned char b = keep[i] != 0;
                h = hash_fnv1a(h, &b, 1);
            }
        }
    }
    char hex[17];
    hash_hex(h, hex);
    if (kept == n_system) w = snprintf(out, cap, ";keep=all");
    else w = snprintf(out, cap, ";keep=%d/%d:%s", kept, n_system, hex);
    return w < 0 || (size_t)w >= cap ? -1 : w;
}

int config_key(const ElasticView *v, const char *lora_hash, const char *select_key, const unsigned char *keep,
               int n_system, char *out, size_t cap) {
    int n = config_key_view(v, lora_hash, select_key, out, cap);
    if (n < 0 || config_key_keep(keep, n_system, out + n, cap - (size_t)n) < 0) return -1;
    return 0;
}
