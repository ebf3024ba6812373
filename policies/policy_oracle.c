/* policy_oracle: hindsight upper bound. For each request it prices every configuration of the paper's grid
 * (9 model levels x 10 prompt ratios, with the run's prompt compressor; only ratio 1 when the compressor does
 * not compress), and among the feasible ones (queue + TTFT and TPOT within the SLO) picks the one with the
 * most slack that the engine answers correctly. Slack = min(1 - TTFT/SLO_ttft, 1 - TPOT/SLO_tpot).
 * Candidates are tried from the most slack down, so evaluation stops at the first correct one. When none is
 * correct it takes the most-slack feasible one; when none is feasible, the one closest to feasible. */
#include <stdlib.h>
#include <string.h>

#include "elastic/levels.h"
#include "policies/compressor.h"
#include "policies/feasible.h"
#include "policies/policy.h"

typedef struct OracleState {
    LevelSet levels;
    Compressor comp;
    unsigned char *mask;   /* (N_RATIOS, cap) keep-masks, one per ratio */
    int cap;
} OracleState;

typedef struct Cand {
    int li, ri;
    double slack;
    bool feasible;
} Cand;

static int cmp_cand(const void *a, const void *b) {
    const Cand *x = a, *y = b;
    if (x->feasible != y->feasible) return x->feasible ? -1 : 1;
    if (x->slack != y->slack) return x->slack > y->slack ? -1 : 1;
    if (x->li != y->li) return x->li > y->li ? -1 : 1; /* more model first on ties */
    return x->ri < y->ri ? -1 : (x->ri > y->ri);       /* then more prompt */
}

static int oracle_prepare(Policy *p, Err *e) {
    OracleState *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    p->state = s;
    if (levelset_load(&s->levels, p->env->base, p->env->model_dir, true, e)) return -1;
    if (compressor_create(&s->comp, p->env->compressor ? p->env->compressor : "none", p->env, e)) return -1;
    return 0;
}

static void fill(const Policy *p, const OracleState *s, int li, int ri, const unsigned char *keep, Decision *d) {
    memset(d, 0, sizeof *d);
    d->model = p->env->base;
    d->view = s->levels.view[li];
    d->keep = keep;
    d->level = LEVELS[li];
    d->ratio = RATIOS[ri];
}

static int oracle_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    OracleState *s = p->state;
    const PolicyHooks *h = &p->env->hooks;
    int n_ratios = s->comp.compresses && r->enc ? N_RATIOS : 1;
    if (r->enc && r->enc->n_system > s->cap) {
        int cap = r->enc->n_system;
        unsigned char *m = realloc(s->mask, (size_t)N_RATIOS * (size_t)(cap ? cap : 1));
        if (!m) return err_set(e, "out of memory");
        s->mask = m;
        s->cap = cap;
    }
    if (r->enc)
        for (int ri = 0; ri < n_ratios; ri++)
            if (compressor_keep(&s->comp, r, RATIOS[ri], s->mask + (size_t)ri * s->cap, e) < 0) return -1;
    Cand c[N_LEVELS * N_RATIOS];
    int n = 0;
    for (int li = 0; li < N_LEVELS; li++)
        for (int ri = 0; ri < n_ratios; ri++) {
            Decision x;
            fill(p, s, li, ri, r->enc ? s->mask + (size_t)ri * s->cap : NULL, &x);
            Feasibility f;
            if (feasible_check(p->env, r, &x, &f, e)) return -1;
            c[n++] = (Cand){li, ri, f.slack, f.feasible};
        }
    qsort(c, (size_t)n, sizeof c[0], cmp_cand);
    int pick = 0;
    if (r->enc && h->eval) {
        for (int i = 0; i < n && c[i].feasible; i++) {
            Decision x;
            fill(p, s, c[i].li, c[i].ri, s->mask + (size_t)c[i].ri * s->cap, &x);
            EvalOutcome o;
            if (h->eval(h->ctx, r, &x, &o, e)) return -1;
            if (o.correct) {
                pick = i;
                break;
            }
        }
    }
    fill(p, s, c[pick].li, c[pick].ri, r->enc ? s->mask + (size_t)c[pick].ri * s->cap : NULL, d);
    return 0;
}

static void oracle_memory(const Policy *p, PolicyMemory *m) {
    const OracleState *s = p->state;
    m->params = (double)p->env->base->n_params;
    for (int i = 0; s && i < N_LEVELS; i++)
        if (s->levels.has_lora[i]) m->params += (double)s->levels.lora[i].n_params;
    m->tlm_params = 0;
}

static void oracle_destroy(Policy *p) {
    OracleState *s = p->state;
    if (!s) return;
    levelset_free(&s->levels);
    compressor_destroy(&s->comp);
    free(s->mask);
    free(s);
    p->state = NULL;
}

static int oracle_create(Policy *p, Err *e) {
    (void)e;
    p->prepare = oracle_prepare;
    p->decide = oracle_decide;
    p->memory = oracle_memory;
    p->destroy = oracle_destroy;
    return 0;
}

POLICY_REGISTER("oracle", "hindsight: the most-slack feasible configuration the engine answers correctly", oracle_create)
