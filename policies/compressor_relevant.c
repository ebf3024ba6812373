/* compressor_relevant: the "oracle-relevant" compressor (see compressor_relevant.h). */
#include "policies/compressor_relevant.h"

#include <stdlib.h>
#include <string.h>

#include "base/keepmask.h"
#include "elastic/levels.h"

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
    uint64_t seed = keepmask_seed(c->seed, RELEVANT_NAME, r->app, r->item, ratio);
    if (kept < k && keepmask_add_random(keep, S, k - kept, seed) < 0) return err_set(e, "out of memory");
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
