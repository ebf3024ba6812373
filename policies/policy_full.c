/* policy_full: always the whole base model on the whole prompt (the non-elastic service). */
#include "policies/policy.h"

static int full_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    (void)r;
    (void)e;
    decision_full(p->env, d);
    return 0;
}

static void full_memory(const Policy *p, PolicyMemory *m) {
    m->params = (double)p->env->base->n_params;
    m->tlm_params = 0;
}

static int full_create(Policy *p, Err *e) {
    (void)e;
    p->decide = full_decide;
    p->memory = full_memory;
    return 0;
}

POLICY_REGISTER("full", "the whole model on the whole prompt for every request", full_create)
