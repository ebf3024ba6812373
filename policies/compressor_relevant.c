/* compressor_relevant: the "oracle-relevant" compressor (see compressor_relevant.h). */
#include "policies/compressor_relevant.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/levels.h"
#include "traces/strtab.h"

typedef struct RelevantState {
    CompressorItemFn fn;
    void *ctx;
} RelevantState;

static const char RELEVANT_NAME[] = "oracle-relevant";

int compressor_relevant_set_items(Compressor *c, CompressorItemFn fn, void *ctx, Err *e) {
    if (!c->name || strcmp(c->name, RELEVANT_NAME) || !c->state)
        return err_set(e, "compressor %s: not an %s compressor", c->name ? c->name : "(none)", RELEVANT_NAME);
    RelevantState *s = c->state;
    s->fn = fn;
    s->ctx = ctx;
    return 0;
}

/* fill_random: keep `more` further tokens drawn uniformly from those not yet kept. */
static int fill_random(Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, int S, int more,
                       Err *e) {
    int *rest = malloc(sizeof *rest * (size_t)S), *pick = malloc(sizeof *pick * (size_t)(more > 0 ? more : 1));
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rest || !pick || !g) {
        free(rest);
        free(pick);
        if (g) gsl_rng_free(g);
        return err_set(e, "out of memory");
    }
    int n = 0;
    for (int i = 0; i < S; i++)
        if (!keep[i]) rest[n++] = i;
    long permille = (long)(ratio * 1000 + 0.5);
    uint64_t h = strtab_hash(STRTAB_FNV_OFFSET, RELEVANT_NAME, sizeof RELEVANT_NAME);
    h = strtab_hash(h, &c->seed, sizeof c->seed);
    h = strtab_hash(h, r->app, strlen(r->app) + 1);
    h = strtab_hash(h, r->item, strlen(r->item) + 1);
    h = strtab_hash(h, &permille, sizeof permille);
    gsl_rng_set(g, (unsigned long)(h ^ (h >> 32)));
    gsl_ran_choose(g, pick, (size_t)more, rest, (size_t)n, sizeof *rest);
    for (int i = 0; i < more; i++) keep[pick[i]] = 1;
    free(rest);
    free(pick);
    gsl_rng_free(g);
    return 0;
}

static int relevant_keep(Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, Err *e) {
    RelevantState *s = c->state;
    int S = r->enc->n_system, k = levels_kept_system(S, r->enc->n_query, ratio);
    if (!s->fn)
        return err_set(e, "%s needs the items' relevant spans (no item lookup was given)", RELEVANT_NAME);
    const Item *it = s->fn(s->ctx, r->app, r->item);
    if (!it) return err_set(e, "%s: item '%s' of app '%s' is unknown", RELEVANT_NAME, r->item, r->app);
    memset(keep, 0, (size_t)S);
    int kept = 0;
    for (int j = 0; j < it->n_relevant && kept < k; j++) {
        int a = it->relevant[j][0] < 0 ? 0 : it->relevant[j][0], b = it->relevant[j][1] > S ? S : it->relevant[j][1];
        for (int i = a; i < b && kept < k; i++)
            if (!keep[i]) {
                keep[i] = 1;
                kept++;
            }
    }
    if (kept < k && fill_random(c, r, ratio, keep, S, k - kept, e)) return -1;
    return k;
}

static void relevant_destroy(Compressor *c) {
    free(c->state);
    c->state = NULL;
}

static int relevant_create(Compressor *c, Err *e) {
    c->state = calloc(1, sizeof(RelevantState));
    if (!c->state) return err_set(e, "out of memory");
    c->compresses = true;
    c->keep = relevant_keep;
    c->destroy = relevant_destroy;
    return 0;
}

COMPRESSOR_REGISTER("oracle-relevant", "keeps the item's relevant spans first, then a seeded random fill (analysis "
                    "upper bound)", relevant_create)
