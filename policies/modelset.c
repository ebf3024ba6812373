/* modelset: the ladder of owned whole models (see modelset.h). */
#include "policies/modelset.h"

#include <stdlib.h>

#include "policies/feasible.h"

int modelset_attach(Policy *p, Err *e) {
    ModelSet *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    p->state = s;
    return 0;
}

static int fill_model(void *ctx, const PolicyRequest *r, int i, Decision *d, Err *e) {
    (void)r;
    (void)e;
    const Policy *p = ctx;
    const ModelSet *s = p->state;
    const Model *base = p->env->base, *m = i == 0 ? base : &s->model[i - 1];
    d->model = m;
    view_full(m, &d->view);
    d->level = m->n_params < base->n_params ? (double)m->n_params / (double)base->n_params : 1.0;
    d->ratio = 1.0;
    return 0;
}

int modelset_policy_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    const ModelSet *s = p->state;
    return feasible_ladder(p->env, r, fill_model, p, 1 + s->n, d, NULL, NULL, e);
}

void modelset_policy_memory(const Policy *p, PolicyMemory *m) {
    const ModelSet *s = p->state;
    m->params = (double)p->env->base->n_params;
    for (int i = 0; s && i < s->n; i++) m->params += (double)s->model[i].n_params;
    m->tlm_params = 0;
}

void modelset_policy_destroy(Policy *p) {
    ModelSet *s = p->state;
    if (!s) return;
    for (int i = 0; i < s->n; i++) model_free(&s->model[i]);
    free(s);
    p->state = NULL;
}
