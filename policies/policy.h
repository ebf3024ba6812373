/* policy: the interface every serving method implements (ELMS, the baselines, full and oracle), and the
 * registry that maps a name to one. See docs/adding-a-policy.md.
 *
 * Offline, `prepare` loads or builds whatever the method needs (models, adapters, predictors, a tiny LM).
 * Online, `decide` turns one request and its SLO into a Decision: which of the policy's models runs, the
 * ElasticView on it, the prompt keep-mask, the (level, ratio) labels, and the policy's own overheads (tiny-LM
 * tokens, predictor parameters). The simulator prices the decision with the device profile, runs the engine
 * for accuracy, and accounts memory from `memory`. Policies never call the simulator directly: pricing and
 * (for hindsight policies) evaluation reach them through callbacks in PolicyEnv. */
#ifndef ELMS_POLICY_H
#define ELMS_POLICY_H

#include <stdbool.h>

#include "datasets/items.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "eval/eval.h"

/* One request as a policy sees it. */
typedef struct PolicyRequest {
    long id;
    const char *app;
    const char *item;            /* "" when the request has no item */
    const EncodedItem *enc;      /* the item's tokens, or NULL when it has none */
    int n_prompt;                /* full prompt tokens priced: system + query (BOS is a fixed cost), or the
                                    trace's prompt_tokens */
    int output_tokens;
    double slo_ttft_frac;        /* SLO as fractions of the full model's TTFT / TPOT for this request */
    double slo_tpot_frac;
    double slo_ttft_ms;          /* the same SLO in profile milliseconds */
    double slo_tpot_ms;
    double queue_ms;             /* time the request has already waited when the decision is made */
} PolicyRequest;

/* What runs for a request. */
typedef struct Decision {
    const Model *model;          /* the model to run: the base model or one the policy owns */
    ElasticView view;            /* view on that model */
    const unsigned char *keep;   /* (enc->n_system) 0/1 keep-mask of system tokens owned by the policy, or NULL =
                                    keep all; valid until the next decide */
    double level;                /* model level label m */
    double ratio;                /* prompt ratio label p */
    double tlm_tokens;           /* tokens the policy's tiny LM processed (priced by the profile); 0 = none */
    double tlm_scale;            /* its work per token as a multiple of the tiny LM's (a larger prompt model);
                                    0 is read as 1 */
    double extra_lin;            /* predictor parameters read per token, as a fraction of the base model's layer
                                    parameters (e.g. contextual-sparsity predictors) */
    const char *select_key;      /* identifies view.ffn_select's behaviour in the evaluation cache; required when
                                    ffn_select is set */
} Decision;

/* Callbacks the simulator provides. */
typedef struct PolicyHooks {
    void *ctx;
    /* price: service times of d for r under the device profile: ttft_ms = tiny-LM time + prefill (queueing
     * and switching depend on history and are left out), tpot_ms = time per generated token. */
    int (*price)(void *ctx, const PolicyRequest *r, const Decision *d, double *ttft_ms, double *tpot_ms, Err *e);
    /* eval: run (or look up) the engine on r under d; only hindsight policies (oracle) may call it. */
    int (*eval)(void *ctx, const PolicyRequest *r, const Decision *d, EvalOutcome *out, Err *e);
} PolicyHooks;

/* What a policy is prepared with. */
typedef struct PolicyEnv {
    const Model *base;           /* the base model (already loaded) */
    const char *model_dir;       /* its directory (elastic.json, lora/, the policy's own files), or NULL */
    const Tokenizer *tok;
    const char *compressor;      /* prompt compressor name for policies that take one ("none", "random", ...) */
    unsigned long seed;
    PolicyHooks hooks;
} PolicyEnv;

/* Resident memory a policy keeps, in engine parameters (floats). */
typedef struct PolicyMemory {
    double params;               /* every model, adapter and predictor kept resident */
    double tlm_params;           /* its tiny LM, if any */
} PolicyMemory;

struct BuildEnv; /* policies/build.h */

typedef struct Policy {
    const char *name;
    void *state;
    const PolicyEnv *env;        /* set by policy_prepare */
    /* build (offline, optional): write the policy's artefacts into dir, a fresh directory that becomes
     * MODEL/policies/NAME/ when it succeeds (policies/build.h: `elms prepare NAME`). */
    int (*build)(const struct BuildEnv *env, const char *dir, Err *e);
    /* artefacts (optional): the name of the folder MODEL/policies/ARTEFACTS that prepare reads when it is another
     * policy's (ablations that share a method's artefacts: "elms"); NULL: NAME's own, when the policy has build. */
    const char *artefacts;
    /* prepare (online): load the artefacts (policy_artefacts finds them) and anything else the policy keeps. */
    int (*prepare)(struct Policy *p, Err *e);
    int (*decide)(struct Policy *p, const PolicyRequest *r, Decision *d, Err *e);
    void (*memory)(const struct Policy *p, PolicyMemory *m);
    void (*destroy)(struct Policy *p);
} Policy;

/* A policy's constructor fills name and the function pointers (state may be allocated in prepare). */
typedef int (*PolicyCreateFn)(Policy *p, Err *e);
void policy_register(const char *name, const char *summary, PolicyCreateFn fn);

#define POLICY_REGISTER(name, summary, fn)                                         \
    __attribute__((constructor)) static void policy_register_##fn(void) { policy_register(name, summary, fn); }

/* policy_create: construct the policy called name ("unknown policy" error lists the registered ones). */
int policy_create(Policy *p, const char *name, Err *e);
/* policy_prepare: set p->env and run prepare. env must outlive the policy. */
int policy_prepare(Policy *p, const PolicyEnv *env, Err *e);
/* policy_decide: run decide and check the decision (model set, view valid for it, labels in range). */
int policy_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e);
void policy_destroy(Policy *p);
/* policy_names: up to max registered names (sorted); returns the count. */
int policy_names(const char **names, const char **summaries, int max);

/* policy_summary: the one-line summary name was registered with, or NULL. */
const char *policy_summary(const char *name);

/* policy_artefacts_name: the name of the folder under MODEL/policies/ whose artefacts p's runs depend on:
 * p->artefacts, else p->name when p has a build, else NULL (full, oracle, llm-pruner: no prepared artefacts).
 * The simulator records the hash of that folder's prepare.json with every run (sim_policy_prepared). */
const char *policy_artefacts_name(const Policy *p);
/* policy_artefacts: the policy's prepared folder MODEL/policies/NAME into out (cap bytes); NAME is p->artefacts
 * when set, else p->name. Fails, naming the `elms prepare` command that builds it, when the folder (or its
 * prepare.json) is missing or was prepared for other weights (its recorded model hash differs from env->base's). */
int policy_artefacts(const Policy *p, char *out, size_t cap, Err *e);
/* policy_artefacts_named: the same for the folder of another name (ablations that share a method's artefacts:
 * elms-nolora reads MODEL/policies/elms). */
int policy_artefacts_named(const Policy *p, const char *name, char *out, size_t cap, Err *e);

/* decision_full: a decision for the whole base model with the whole prompt (labels 1, 1). */
void decision_full(const PolicyEnv *env, Decision *d);

#endif
