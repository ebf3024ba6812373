/* policy_dejavu: contextual sparsity alone, in the style of Deja Vu (Liu et al., "Deja Vu: Contextual Sparsity
 * for Efficient LLMs at Inference Time", ICML 2023): the FFN half of the paper's seventh baseline (LLMLingua-2 +
 * contextual sparsity) without its prompt compression. Offline: per-layer neuron predictors trained on activation
 * traces of the training corpus (policies/sparsity_select.h, elastic/sparsity_fit.h). Online: every token runs
 * each layer's predictor and keeps the top-scored neurons (the ones predicted active: the released ELMS code
 * kept those predicted inactive), a fraction equal to the TPOT SLO, attention dense, the whole prompt; when that
 * is not feasible under the profile, the largest feasible fraction below it, else the cheapest (an SLO miss). */
#include <stdlib.h>

#include "policies/build.h"
#include "policies/policy.h"
#include "policies/sparsity_select.h"

static int dejavu_prepare(Policy *p, Err *e) {
    SparsityPolicy *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    p->state = s;
    char dir[1200];
    if (policy_artefacts(p, dir, sizeof dir, e)) return -1;
    return sparsity_policy_load(s, p->env->base, dir, e);
}

static int dejavu_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    return sparsity_policy_decide(p->state, p->env, r, NULL, 1.0, 0, 1, d, NULL, e);
}

static void dejavu_memory(const Policy *p, PolicyMemory *m) {
    m->params = (double)p->env->base->n_params + (p->state ? sparsity_policy_params(p->state) : 0.0);
    m->tlm_params = 0;
}

static void dejavu_destroy(Policy *p) {
    SparsityPolicy *s = p->state;
    if (!s) return;
    sparsity_policy_free(s);
    free(s);
    p->state = NULL;
}

static int dejavu_create(Policy *p, Err *e) {
    (void)e;
    p->build = sparsity_policy_build;
    p->prepare = dejavu_prepare;
    p->decide = dejavu_decide;
    p->memory = dejavu_memory;
    p->destroy = dejavu_destroy;
    return 0;
}

POLICY_REGISTER("dejavu", "baseline: contextual sparsity (Deja Vu): per token the FFN neurons predicted active, "
                          "fraction = TPOT SLO, attention dense, whole prompt",
                dejavu_create)
