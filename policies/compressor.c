/* compressor: the compressor registry and the built-in "none" and "random" compressors (see compressor.h). */
#include "policies/compressor.h"

#include <string.h>

#include "base/keepmask.h"
#include "elastic/levels.h"

typedef struct CompressorEntry {
    const char *name, *summary;
    CompressorCreateFn fn;
} CompressorEntry;

static CompressorEntry g_comp[32];
static int g_n_comp;

void compressor_register(const char *name, const char *summary, CompressorCreateFn fn) {
    if (g_n_comp < (int)(sizeof g_comp / sizeof g_comp[0])) g_comp[g_n_comp++] = (CompressorEntry){name, summary, fn};
}

int compressor_create(Compressor *c, const char *name, const PolicyEnv *env, Err *e) {
    memset(c, 0, sizeof *c);
    c->env = env;
    c->seed = env ? env->seed : 0;
    for (int i = 0; i < g_n_comp; i++)
        if (!strcmp(g_comp[i].name, name)) {
            c->name = g_comp[i].name;
            if (g_comp[i].fn(c, e)) return err_prefix(e, "compressor %s", name);
            return 0;
        }
    char list[256] = "";
    for (int i = 0; i < g_n_comp; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, g_comp[i].name, sizeof list - strlen(list) - 1);
    }
    return err_set(e, "unknown compressor '%s' (expected one of: %s)", name, list);
}

void compressor_destroy(Compressor *c) {
    if (c->destroy) c->destroy(c);
    memset(c, 0, sizeof *c);
}

int compressor_keep(Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, Err *e) {
    if (!r->enc) return err_set(e, "compressor %s: request %ld has no item to compress", c->name, r->id);
    int k = c->keep(c, r, ratio, keep, e);
    if (k < 0) return -1;
    int n = 0;
    for (int i = 0; i < r->enc->n_system; i++) n += keep[i] != 0;
    if (n != k) return err_set(e, "compressor %s: reported %d kept tokens but the mask keeps %d", c->name, k, n);
    return k;
}

/* ---- none ---- */

static int none_keep(Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, Err *e) {
    (void)c;
    (void)ratio;
    (void)e;
    memset(keep, 1, (size_t)r->enc->n_system);
    return r->enc->n_system;
}

static int none_create(Compressor *c, Err *e) {
    (void)e;
    c->compresses = false;
    c->keep = none_keep;
    return 0;
}

COMPRESSOR_REGISTER("none", "no compression: every system token is kept", none_create)

/* ---- random ---- */

/* random_keep: keepmask_random with the per-item seed of the run seed, app, item and ratio (no tag). */
static int random_keep(Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, Err *e) {
    int S = r->enc->n_system, k = levels_kept_system(S, r->enc->n_query, ratio);
    if (keepmask_random(keep, S, k, keepmask_seed(c->seed, NULL, r->app, r->item, ratio)) < 0)
        return err_set(e, "out of memory");
    return k;
}

static int random_create(Compressor *c, Err *e) {
    (void)e;
    c->compresses = true;
    c->keep = random_keep;
    return 0;
}

COMPRESSOR_REGISTER("random", "a seeded uniform random subset of the system tokens", random_create)
