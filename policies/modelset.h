/* modelset: the online side of the baselines that own whole models besides the base (laco's collapsed models,
 * offtheshelf's smaller models): a list of models, most capable first, behind the base; the ladder base, model
 * 0, model 1, ... (policies/feasible.h); every model resident. A policy's state is a ModelSet it fills in its
 * prepare. */
#ifndef ELMS_MODELSET_H
#define ELMS_MODELSET_H

#include "engine/model.h"
#include "policies/policy.h"

#define MODELSET_MAX ELMS_MAX_LAYERS

typedef struct ModelSet {
    int n;                         /* models besides the base */
    Model model[MODELSET_MAX];     /* (n) most capable first */
} ModelSet;

/* modelset_attach: a fresh, empty ModelSet as p's state (freed by modelset_policy_destroy). */
int modelset_attach(Policy *p, Err *e);
/* modelset_policy_decide: the first feasible of base, model 0, model 1, ... (whole views, whole prompt), else the
 * cheapest; the level label is the model's share of the base's parameters. */
int modelset_policy_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e);
/* modelset_policy_memory: the base and every model, resident. */
void modelset_policy_memory(const Policy *p, PolicyMemory *m);
void modelset_policy_destroy(Policy *p);

#endif
