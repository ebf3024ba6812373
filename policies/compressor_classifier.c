/* compressor_classifier: prompt compressors driven by a token classifier's keep probability (policies/tlm.h's
 * score head), registered under two names that differ in where the classifier lives and how many tokens a
 * ratio keeps:
 *   "tlm"      the tiny LM's score head (MODEL/policies/elms/score); keeps levels_kept_system(S, Q, p) system
 *              tokens, the paper's formula, so the whole prompt shrinks to about p;
 *   "lingua2"  the LLMLingua-2-style classifier of the lingua2-cs baseline (MODEL/policies/lingua2-cs/compressor);
 *              keeps round(p S) system tokens: LLMLingua-2's rate applies to the compressed context (the system
 *              prompt) alone. Its rule (a word's probability is the mean of its sub-tokens', words above the
 *              percentile threshold are kept) is the top round(p S) tokens here, the tokenizer being word-level.
 * Both keep the highest-scored tokens in their original order (keepmask_top). Scores are computed once per
 * request and reused for every ratio asked of it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/keepmask.h"
#include "elastic/levels.h"
#include "policies/compressor.h"
#include "policies/tlm.h"

typedef struct ClassifierState {
    Tlm tlm;
    bool fraction_of_system;  /* lingua2: round(p S); tlm: the paper's formula */
    float *score;             /* (cap) */
    int cap;
    long last_id;             /* the request the scores belong to */
    char last_app[64], last_item[128];
} ClassifierState;

static int classifier_keep(Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, Err *e) {
    ClassifierState *s = c->state;
    const EncodedItem *x = r->enc;
    int S = x->n_system;
    bool same = s->score && r->id == s->last_id && !strcmp(r->app, s->last_app) && !strcmp(r->item, s->last_item);
    if (!same) {
        int need = S > 0 ? S : 1;
        if (need > s->cap) {
            float *p = realloc(s->score, sizeof(float) * (size_t)need);
            if (!p) return err_set(e, "out of memory");
            s->score = p;
            s->cap = need;
        }
        if (tlm_score(&s->tlm, x, s->score, e)) return -1;
        s->last_id = r->id;
        snprintf(s->last_app, sizeof s->last_app, "%s", r->app);
        snprintf(s->last_item, sizeof s->last_item, "%s", r->item);
    }
    int k = s->fraction_of_system ? (int)lround(ratio * S) : levels_kept_system(S, x->n_query, ratio);
    k = k < 0 ? 0 : k > S ? S : k;
    if (keepmask_top(s->score, S, k, keep) != k) return err_set(e, "out of memory");
    return k;
}

static void classifier_destroy(Compressor *c) {
    ClassifierState *s = c->state;
    if (!s) return;
    tlm_free(&s->tlm);
    free(s->score);
    free(s);
    c->state = NULL;
}

static int classifier_create(Compressor *c, const char *sub, bool fraction_of_system, Err *e) {
    const PolicyEnv *env = c->env;
    if (!env || !env->base || !env->model_dir)
        return err_set(e, "needs the model directory its classifier lives in (MODEL/policies/%s)", sub);
    ClassifierState *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    c->state = s;
    c->destroy = classifier_destroy;
    s->fraction_of_system = fraction_of_system;
    s->last_id = -1;
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/policies/%s", env->model_dir, sub);
    if (tlm_load_score(&s->tlm, dir, env->base, eval_bos(env->tok, env->base), e))
        return err_prefix(e, "prepare it first (elms prepare %.*s)", (int)strcspn(sub, "/"), sub);
    c->compresses = true;
    c->tlm_scale = 1.0;
    c->keep = classifier_keep;
    return 0;
}

static int tlm_create(Compressor *c, Err *e) { return classifier_create(c, "elms/score", false, e); }
static int lingua2_create(Compressor *c, Err *e) { return classifier_create(c, "lingua2-cs/compressor", true, e); }

COMPRESSOR_REGISTER("tlm", "the tiny LM's score head (elms prepare elms): the top-scored system tokens", tlm_create)
COMPRESSOR_REGISTER("lingua2", "an LLMLingua-2-style token classifier (elms prepare lingua2-cs): the top p of the "
                    "system tokens", lingua2_create)
