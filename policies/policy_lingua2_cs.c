/* policy_lingua2_cs: the seventh baseline, LLMLingua-2 + contextual sparsity as the ELMS paper configures it.
 *   Prompt: an LLMLingua-2-style token classifier (Pan et al., "LLMLingua-2", 2024): a general-purpose encoder,
 *     larger than the tiny LM (default 128 wide, 4 layers), trained on the task-agnostic labels alone (the
 *     items' relevant spans, no signal from the target LLM: tlm_build_classifier) compresses the system prompt
 *     to ratio p = the TTFT SLO fraction: the top round(p S) system tokens by keep probability, in order (the
 *     "lingua2" compressor). Words are single tokens here, so LLMLingua-2's word rule (mean of sub-token
 *     probabilities, words above the percentile threshold) is this top-k.
 *   Model: Deja Vu predictors (policies/sparsity_select.h, shared with `dejavu`) keep per token the top fraction
 *     = the TPOT SLO of FFN neurons, attention dense; when that is not feasible under the profile, the largest
 *     feasible fraction, else the cheapest (an SLO miss).
 * The classifier's time is priced as tiny-LM work over its input tokens with the work per token scaled by its
 * parameters over the tiny LM head's (Decision.tlm_scale = classifier.json "tlm_token_equivalent"): the
 * profile's a + scale (b n + c n^2), so a larger encoder costs proportionally more per token and per pair of
 * tokens. Scaling the token count instead would scale the square term by scale^2. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/levels.h"
#include "engine/io.h"
#include "policies/build.h"
#include "policies/compressor.h"
#include "policies/policy.h"
#include "policies/sparsity_select.h"
#include "policies/tlm.h"
#include "policies/tlm_build.h"

typedef struct Lingua2State {
    SparsityPolicy sp;
    Compressor comp;
    bool has_comp;
    unsigned char *keep;   /* (cap) */
    int cap;
    double classifier_params;
} Lingua2State;

/* lingua2_build: the predictors (as dejavu's) and the classifier (dir/compressor) */
static int lingua2_build(const BuildEnv *env, const char *dir, Err *e) {
    if (!env->tok) return err_set(e, "%s: no tokenizer.json (the classifier shares the LLM's tokenizer)", env->model_dir);
    if (sparsity_policy_build(env, dir, e)) return -1;
    TlmBuildOpts o;
    Evaluator own;
    tlm_build_from_env(&o, env, &own);
    TlmShape tlm_shape = o.shape;
    o.shape = (TlmShape){128, 4, 4, 256};
    char out[1300];
    snprintf(out, sizeof out, "%s/compressor", dir);
    if (tlm_build_classifier(&o, out, e)) return -1;
    /* the price of one token through it, in tokens of the tiny LM's head (the default shape) */
    ModelConfig big, small;
    memset(&big, 0, sizeof big);
    Model m;
    if (model_load(&m, out, e)) return -1;
    big = m.cfg;
    model_free(&m);
    small = big;
    small.dim = tlm_shape.dim;
    small.n_layers = tlm_shape.layers;
    small.n_heads = small.n_kv_heads = tlm_shape.heads;
    small.head_dim = tlm_shape.dim / tlm_shape.heads;
    small.ffn_dim = tlm_shape.ffn;
    double ratio = (double)model_param_count(&big) / (double)model_param_count(&small);
    char path[1400];
    snprintf(path, sizeof path, "%s/classifier.json", out);
    cJSON *j;
    if (io_read_json(path, &j, e)) return -1;
    cJSON_AddNumberToObject(j, "tlm_token_equivalent", ratio);
    int rc = io_write_json(path, j, e);
    cJSON_Delete(j);
    return rc;
}

static int lingua2_prepare(Policy *p, Err *e) {
    Lingua2State *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    p->state = s;
    char dir[1200], path[1400];
    if (policy_artefacts(p, dir, sizeof dir, e) || sparsity_policy_load(&s->sp, p->env->base, dir, e)) return -1;
    if (compressor_create(&s->comp, "lingua2", p->env, e)) return -1;
    s->has_comp = true;
    snprintf(path, sizeof path, "%s/compressor/classifier.json", dir);
    cJSON *j;
    if (io_read_json(path, &j, e)) return -1;
    double eq;
    int rc = io_json_double(j, "tlm_token_equivalent", 0, 1e9, &eq, path, e);
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shape");
    double params = 0;
    if (!rc && io_json_double(sh, "params", 0, 1e12, &params, path, e)) rc = -1;
    cJSON_Delete(j);
    if (rc) return -1;
    s->comp.tlm_scale = eq;
    s->classifier_params = params;
    return 0;
}

static int lingua2_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    Lingua2State *s = p->state;
    double ratio = r->slo_ttft_frac < 1.0 ? r->slo_ttft_frac : 1.0;
    if (!r->enc) return sparsity_policy_decide(&s->sp, p->env, r, NULL, 1.0, 0, 1, d, NULL, e);
    int S = r->enc->n_system;
    if (S + 1 > s->cap) {
        unsigned char *k = realloc(s->keep, (size_t)S + 1);
        if (!k) return err_set(e, "out of memory");
        s->keep = k;
        s->cap = S + 1;
    }
    if (compressor_keep(&s->comp, r, ratio, s->keep, e) < 0) return -1;
    return sparsity_policy_decide(&s->sp, p->env, r, s->keep, ratio, (double)(1 + S + r->enc->n_query),
                                  s->comp.tlm_scale, d, NULL, e);
}

static void lingua2_memory(const Policy *p, PolicyMemory *m) {
    const Lingua2State *s = p->state;
    m->params = (double)p->env->base->n_params + (s ? sparsity_policy_params(&s->sp) : 0);
    m->tlm_params = s ? s->classifier_params : 0;
}

static void lingua2_destroy(Policy *p) {
    Lingua2State *s = p->state;
    if (!s) return;
    sparsity_policy_free(&s->sp);
    if (s->has_comp) compressor_destroy(&s->comp);
    free(s->keep);
    free(s);
    p->state = NULL;
}

static int lingua2_create(Policy *p, Err *e) {
    (void)e;
    p->build = lingua2_build;
    p->prepare = lingua2_prepare;
    p->decide = lingua2_decide;
    p->memory = lingua2_memory;
    p->destroy = lingua2_destroy;
    return 0;
}

POLICY_REGISTER("lingua2-cs", "baseline: LLMLingua-2-style compression to the TTFT SLO + contextual sparsity (Deja Vu) "
                              "at the TPOT SLO",
                lingua2_create)
