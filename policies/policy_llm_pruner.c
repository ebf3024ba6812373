/* policy_llm_pruner: LLM-Pruner as the ELMS paper configures it (Ma et al., "LLM-Pruner: On the Structural
 * Pruning of Large Language Models", 2023, with ELMS's one-shot reordering): the reordered nested sub-models
 * with their LoRA adapters, on the model dimension only (no prompt compression): ELMS without prompt
 * elasticity. Online: the largest level that is feasible with the whole prompt (levels 1.0, 0.9, ..., 0.2),
 * else the cheapest. Needs a reordered model (elastic.json) and its adapters (`elms reorder`, `elms lora`);
 * their offline cost is theirs, so the policy prepares nothing of its own. */
#include <stdio.h>
#include <stdlib.h>

#include "base/fileutil.h"
#include "elastic/levels.h"
#include "policies/feasible.h"
#include "policies/policy.h"

static int llm_pruner_prepare(Policy *p, Err *e) {
    LevelSet *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    p->state = s;
    const char *dir = p->env->model_dir;
    char meta[1200];
    snprintf(meta, sizeof meta, "%s/elastic.json", dir ? dir : ".");
    if (!dir || !path_is_file(meta))
        return err_set(e, "%s: missing: llm-pruner runs the reordered sub-models (elms reorder, then elms lora)", meta);
    if (levelset_load(s, p->env->base, dir, true, e)) return -1;
    if (s->n_lora < N_LEVELS - 1)
        return err_set(e, "%s/lora: %d of %d level adapters (train them: elms lora --model %s --data DATA)", dir,
                       s->n_lora, N_LEVELS - 1, dir);
    return 0;
}

static int llm_pruner_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    return feasible_level(p->env, r, p->state, NULL, 1.0, d, NULL, e);
}

static void llm_pruner_memory(const Policy *p, PolicyMemory *m) {
    const LevelSet *s = p->state;
    m->params = (double)p->env->base->n_params;
    for (int i = 0; s && i < N_LEVELS; i++)
        if (s->has_lora[i]) m->params += (double)s->lora[i].n_params;
    m->tlm_params = 0;
}

static void llm_pruner_destroy(Policy *p) {
    LevelSet *s = p->state;
    if (!s) return;
    levelset_free(s);
    free(s);
    p->state = NULL;
}

static int llm_pruner_create(Policy *p, Err *e) {
    (void)e;
    p->prepare = llm_pruner_prepare;
    p->decide = llm_pruner_decide;
    p->memory = llm_pruner_memory;
    p->destroy = llm_pruner_destroy;
    return 0;
}

POLICY_REGISTER("llm-pruner", "baseline: the largest reordered sub-model (with its LoRA) feasible on the whole prompt",
                llm_pruner_create)
