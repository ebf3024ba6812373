/* policy_elms: ELMS, the paper's method, and its ablations. For every request the tiny LM (policies/tlm.h) scores
 * the system tokens and picks a (prompt ratio p, model level m); the prompt is compressed to p by the score head
 * (the highest-scored system tokens, in order) and the level-m view of the reordered model runs with its LoRA.
 * The TLM's own tokens are priced into TTFT (Decision.tlm_tokens), so feasibility already includes its time.
 *
 * Decision heads (tlm.json says which one `elms` uses; `elms-pair` and `elms-prob` force one):
 *   pair  the paper's rule: argmax p and argmax m; when that pair is infeasible, keep p and take the largest
 *         feasible m (feasible_level); when no level is feasible at p, the feasible configuration with the largest
 *         level, then the largest ratio; when none is feasible at all, the cheapest relative to the SLO (the
 *         request then misses it).
 *   prob  the probability of a correct answer at every (m, p); the most probable feasible configuration, or with a
 *         margin (tlm.json "prob_margin", chosen on dev) the least compressed one within the margin of the most
 *         probable (tlm_prob_pick); none feasible: the cheapest relative to the SLO.
 * Ablations (same artefacts): elms-nolora (level views without their adapters), elms-noscore (a seeded random
 * subset of the system tokens at the chosen p instead of the score head), elms-nodecision (no decision head, a
 * fixed rule: the largest feasible level, then the largest feasible ratio at it, with the score head's
 * compression; none feasible: the cheapest relative to the SLO), elms-loo (for each request the tiny LM trained
 * without its app: the paper trained its decision head on other data than it served, so this is the fair
 * generalisation test; its own artefacts, `elms prepare elms-loo`), elms-noreorder (the same tiny LM and decisions on
 * the model with its reordering undone: every level an original-order prefix, with adapters of its own;
 * policies/noreorder.h, `elms prepare elms-noreorder`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/keepmask.h"
#include "datasets/apps.h"
#include "elastic/levels.h"
#include "engine/io.h"
#include "policies/build.h"
#include "policies/feasible.h"
#include "policies/noreorder.h"
#include "policies/policy.h"
#include "policies/tlm.h"
#include "policies/tlm_build.h"

typedef enum { DECIDE_TLM, DECIDE_PAIR, DECIDE_PROB, DECIDE_NONE } DecideMode;

typedef struct ElmsVariant {
    DecideMode mode;
    bool no_lora;
    bool random_compression;
    bool leave_one_out;      /* a TLM per app, trained without it (MODEL/policies/elms-loo/APP) */
    bool no_reorder;         /* the un-reordered model and its adapters (MODEL/policies/elms-noreorder) */
} ElmsVariant;

typedef struct ElmsState {
    ElmsVariant var;
    LevelSet levels;
    Model own;               /* elms-noreorder: the un-reordered model the levels are views of */
    Tlm tlm;                 /* the TLM of the current request (one of loo[] in elms-loo) */
    Tlm loo[APPS_N];
    bool has_loo[APPS_N];
    float *score;            /* (cap) keep probabilities of the current request's system tokens */
    unsigned char *mask;     /* (N_RATIOS, cap) keep-masks, one per ratio */
    int cap;
} ElmsState;

static int elms_prepare_variant(Policy *p, ElmsVariant var, Err *e) {
    ElmsState *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    p->state = s;
    s->var = var;
    char dir[1200], mdir[1200];
    const Model *m = p->env->base;
    snprintf(mdir, sizeof mdir, "%s", p->env->model_dir);
    if (var.no_reorder) {
        if (policy_artefacts_named(p, "elms-noreorder", mdir, sizeof mdir, e) || model_load(&s->own, mdir, e))
            return -1;
        m = &s->own;
    }
    if (policy_artefacts_named(p, "elms", dir, sizeof dir, e)) return -1;
    if (levelset_load(&s->levels, m, mdir, !var.no_lora, e)) return -1;
    if (!var.no_lora && s->levels.n_lora < N_LEVELS - 1)
        return err_set(e, "%s/lora: %d of %d level adapters (train them: elms lora)", mdir, s->levels.n_lora,
                       N_LEVELS - 1);
    int bos = eval_bos(p->env->tok, p->env->base);
    if (var.leave_one_out) {
        if (policy_artefacts_named(p, "elms-loo", dir, sizeof dir, e)) return -1;
        for (int a = 0; a < APPS_N; a++) {
            char sub[1300];
            snprintf(sub, sizeof sub, "%s/%s", dir, apps_table[a].name);
            if (tlm_load(&s->loo[a], sub, p->env->base, bos, e)) return -1;
            s->has_loo[a] = true;
        }
        s->tlm = s->loo[0];
        return 0;
    }
    if (tlm_load(&s->tlm, dir, p->env->base, bos, e)) return -1;
    if (var.mode == DECIDE_PAIR) s->tlm.decision = TLM_DECISION_PAIR;
    if (var.mode == DECIDE_PROB) s->tlm.decision = TLM_DECISION_PROB;
    if ((s->tlm.decision == TLM_DECISION_PAIR && !s->tlm.has_pair) ||
        (s->tlm.decision == TLM_DECISION_PROB && !s->tlm.has_prob))
        return err_set(e, "%s: the %s decision head is missing", dir,
                       s->tlm.decision == TLM_DECISION_PAIR ? "pair" : "prob");
    return 0;
}

/* masks: the keep-mask of every ratio for r (score head, or the seeded random subset in elms-noscore). */
static int make_masks(Policy *p, const PolicyRequest *r, Err *e) {
    ElmsState *s = p->state;
    const EncodedItem *x = r->enc;
    int S = x->n_system, need = S > 0 ? S : 1;
    if (need > s->cap) {
        float *sc = realloc(s->score, sizeof(float) * (size_t)need);
        if (sc) s->score = sc;
        unsigned char *m = realloc(s->mask, (size_t)N_RATIOS * (size_t)need);
        if (m) s->mask = m;
        if (!sc || !m) return err_set(e, "out of memory");
        s->cap = need;
    }
    if (!s->var.random_compression) return tlm_keep_masks(&s->tlm, x, s->score, s->mask, (size_t)s->cap, e);
    for (int ri = 0; ri < N_RATIOS; ri++) {
        unsigned char *m = s->mask + (size_t)ri * s->cap;
        int k = levels_kept_system(S, x->n_query, RATIOS[ri]);
        if (keepmask_random(m, S, k, keepmask_seed(p->env->seed, NULL, r->app, r->item, RATIOS[ri])) != k)
            return err_set(e, "out of memory");
    }
    return 0;
}

/* set_ratio: d's prompt ratio RATIOS[ri] and its keep mask (make_masks) */
static void set_ratio(const Policy *p, int ri, const PolicyRequest *r, Decision *d) {
    const ElmsState *s = p->state;
    d->keep = r->enc ? s->mask + (size_t)ri * s->cap : NULL;
    d->ratio = RATIOS[ri];
}

static void fill(const Policy *p, int li, int ri, const PolicyRequest *r, Decision *d) {
    const ElmsState *s = p->state;
    memset(d, 0, sizeof *d);
    d->model = s->var.no_reorder ? &s->own : p->env->base;
    d->view = s->levels.view[li];
    d->level = LEVELS[li];
    set_ratio(p, ri, r, d);
    d->tlm_tokens = r->enc ? tlm_input_tokens(&s->tlm, r->enc, !s->var.random_compression, s->var.mode != DECIDE_NONE)
                           : 0;
}

typedef struct Cand {
    int li, ri;
    Feasibility f;
} Cand;

/* price every configuration of the grid (ratio 1 only when the request has no item) */
static int price_all(Policy *p, const PolicyRequest *r, Cand *c, int *n, Err *e) {
    int n_ratios = r->enc ? N_RATIOS : 1;
    *n = 0;
    for (int li = N_LEVELS - 1; li >= 0; li--) {
        Decision x; /* filled once per level (its view is the bulk of it), then per ratio */
        fill(p, li, 0, r, &x);
        for (int ri = 0; ri < n_ratios; ri++) {
            set_ratio(p, ri, r, &x);
            Cand k;
            memset(&k, 0, sizeof k);
            k.li = li;
            k.ri = ri;
            if (feasible_check(p->env, r, &x, &k.f, e)) return -1;
            c[(*n)++] = k;
        }
    }
    return 0;
}

/* fallback: the feasible configuration with the largest level, then ratio (c is in that order); none: the least
 * excess */
static int fallback(const Cand *c, int n) {
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].f.feasible) return i;
        if (c[i].f.excess < c[best].f.excess) best = i;
    }
    return best;
}

/* the pair rule over the grid priced with the TLM's own tokens (price_all): the pair; else the largest feasible
 * level at its ratio; else the fallback */
static int decide_pair(Policy *p, const PolicyRequest *r, int li, int ri, Decision *d, Err *e) {
    Cand c[N_LEVELS * N_RATIOS];
    int n, pick = -1;
    if (price_all(p, r, c, &n, e)) return -1;
    for (int i = 0; i < n && pick < 0; i++)
        if (c[i].li == li && c[i].ri == ri && c[i].f.feasible) pick = i;
    for (int i = 0; i < n && pick < 0; i++) /* c is ordered by level, descending */
        if (c[i].ri == ri && c[i].f.feasible) pick = i;
    if (pick < 0) pick = fallback(c, n);
    fill(p, c[pick].li, c[pick].ri, r, d);
    return 0;
}

static int elms_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    ElmsState *s = p->state;
    if (s->var.leave_one_out) { /* the TLM that never saw this request's app */
        int a = apps_find(r->app);
        if (a < 0) return err_set(e, "elms-loo: request %ld: app '%s' has no leave-one-out tiny LM", r->id, r->app);
        s->tlm = s->loo[a];
    }
    if (!r->enc) { /* a request without an item has no prompt to read: the largest feasible level */
        if (feasible_level(p->env, r, &s->levels, NULL, 1.0, d, NULL, e)) return -1;
        if (s->var.no_reorder) d->model = &s->own;
        return 0;
    }
    if (make_masks(p, r, e)) return -1;
    if (s->tlm.decision == TLM_DECISION_PAIR && s->var.mode != DECIDE_NONE) {
        int ri, li;
        if (tlm_decide_pair(&s->tlm, r->enc, r->slo_ttft_frac, r->slo_tpot_frac, &ri, &li, e)) return -1;
        return decide_pair(p, r, li, ri, d, e);
    }
    float prob[N_LEVELS * N_RATIOS];
    if (s->var.mode != DECIDE_NONE && tlm_decide_prob(&s->tlm, r->enc, prob, e)) return -1;
    Cand c[N_LEVELS * N_RATIOS];
    int n, best = -1;
    if (price_all(p, r, c, &n, e)) return -1;
    if (s->var.mode != DECIDE_NONE) { /* c is ordered by level, then ratio, descending */
        int cand[N_LEVELS * N_RATIOS], pos[N_LEVELS * N_RATIOS], nc = 0;
        for (int i = 0; i < n; i++)
            if (c[i].f.feasible) {
                cand[nc] = c[i].li * N_RATIOS + c[i].ri;
                pos[nc++] = i;
            }
        if (nc > 0) best = pos[tlm_prob_pick(prob, cand, nc, s->tlm.prob_margin)];
    }
    if (best < 0) best = fallback(c, n);
    fill(p, c[best].li, c[best].ri, r, d);
    return 0;
}

static void elms_memory(const Policy *p, PolicyMemory *m) {
    const ElmsState *s = p->state;
    m->params = (double)(s && s->var.no_reorder ? s->own.n_params : p->env->base->n_params);
    for (int i = 0; s && i < N_LEVELS; i++)
        if (s->levels.has_lora[i]) m->params += (double)s->levels.lora[i].n_params;
    m->tlm_params = 0;
    if (s && s->var.leave_one_out)
        for (int a = 0; a < APPS_N; a++) m->tlm_params += s->has_loo[a] ? tlm_params(&s->loo[a]) : 0;
    else if (s)
        m->tlm_params = tlm_params(&s->tlm);
}

static void elms_destroy(Policy *p) {
    ElmsState *s = p->state;
    if (!s) return;
    levelset_free(&s->levels);
    model_free(&s->own);
    if (s->var.leave_one_out)
        for (int a = 0; a < APPS_N; a++) {
            if (s->has_loo[a]) tlm_free(&s->loo[a]);
        }
    else
        tlm_free(&s->tlm);
    free(s->score);
    free(s->mask);
    free(s);
    p->state = NULL;
}

#define ELMS_VARIANT(fn, ...)                                                             \
    static int fn##_prepare(Policy *p, Err *e) {                                          \
        return elms_prepare_variant(p, (ElmsVariant){__VA_ARGS__}, e);                     \
    }                                                                                     \
    static int fn##_create(Policy *p, Err *e) {                                           \
        (void)e;                                                                          \
        p->build = !strcmp(#fn, "elms") ? elms_build : !strcmp(#fn, "elms_loo") ? elms_loo_build             \
                 : !strcmp(#fn, "elms_noreorder") ? noreorder_build : NULL;                                    \
        p->artefacts = p->build ? NULL : "elms"; /* the variants read elms's tiny LM */                   \
        p->prepare = fn##_prepare;                                                        \
        p->decide = elms_decide;                                                          \
        p->memory = elms_memory;                                                          \
        p->destroy = elms_destroy;                                                        \
        return 0;                                                                         \
    }

/* elms_build: the tiny LM with tlm_build's defaults (elms tlm train sets every option) */
static int elms_build(const BuildEnv *env, const char *dir, Err *e) {
    if (!env->tok) return err_set(e, "%s: no tokenizer.json (the tiny LM shares the LLM's tokenizer)", env->model_dir);
    TlmBuildOpts o;
    Evaluator own;
    tlm_build_from_env(&o, env, &own);
    return tlm_build(&o, dir, e);
}

/* elms_loo_build: one tiny LM per app, each trained without that app (tlm_build's exclude), into dir/APP; the
 * smaller item counts keep the six builds within about an hour on two cores */
static int elms_loo_build(const BuildEnv *env, const char *dir, Err *e) {
    if (!env->tok) return err_set(e, "%s: no tokenizer.json (the tiny LM shares the LLM's tokenizer)", env->model_dir);
    Evaluator own;
    for (int a = 0; a < APPS_N; a++) {
        TlmBuildOpts o;
        tlm_build_from_env(&o, env, &own);
        o.score_items = 300;
        o.grid_items = 50;
        o.dev_items = 25;
        o.exclude = apps_table[a].name;
        char sub[1300];
        snprintf(sub, sizeof sub, "%s/%s", dir, apps_table[a].name);
        if (io_mkdirs(sub, e) || tlm_build(&o, sub, e)) return err_prefix(e, "without %s", apps_table[a].name);
    }
    return 0;
}

ELMS_VARIANT(elms, .mode = DECIDE_TLM)
ELMS_VARIANT(elms_pair, .mode = DECIDE_PAIR)
ELMS_VARIANT(elms_prob, .mode = DECIDE_PROB)
ELMS_VARIANT(elms_nolora, .mode = DECIDE_TLM, .no_lora = true)
ELMS_VARIANT(elms_noscore, .mode = DECIDE_TLM, .random_compression = true)
ELMS_VARIANT(elms_nodecision, .mode = DECIDE_NONE)
ELMS_VARIANT(elms_loo, .mode = DECIDE_TLM, .leave_one_out = true)
ELMS_VARIANT(elms_noreorder, .mode = DECIDE_TLM, .no_reorder = true)

POLICY_REGISTER("elms", "ELMS: the tiny LM compresses the prompt and picks (level, ratio) per request", elms_create)
POLICY_REGISTER("elms-pair", "ELMS with the paper's two-head decision (argmax ratio and level)", elms_pair_create)
POLICY_REGISTER("elms-prob", "ELMS deciding by the most probable correct feasible (level, ratio)", elms_prob_create)
POLICY_REGISTER("elms-nolora", "ablation: ELMS without the levels' LoRA adapters", elms_nolora_create)
POLICY_REGISTER("elms-noscore", "ablation: ELMS with random compression at the chosen ratio", elms_noscore_create)
POLICY_REGISTER("elms-loo", "ablation: ELMS whose tiny LM never saw the request's app (elms prepare elms-loo)",
                elms_loo_create)
POLICY_REGISTER("elms-noreorder", "ablation: ELMS on original-order prefixes (elms prepare elms-noreorder)",
                elms_noreorder_create)
POLICY_REGISTER("elms-nodecision", "ablation: ELMS's compression with a fixed rule instead of the decision head",
                elms_nodecision_create)
