/* sparsity_select: the contextual-sparsity part shared by the policies that use it (`dejavu` alone, and
 * `lingua2-cs`, which adds a prompt compressor): the offline build of the neuron predictors into a policy's
 * folder, their loading, the Decision that runs them (the base model, attention dense, every layer's FFN
 * restricted per token to the top k neurons by predicted score, the predictors' cost and cache key), and the
 * ladder that picks k for a request.
 *
 * Artefacts in MODEL/policies/NAME/: predictors.safetensors (elastic/sparsity.h) and sparsity.json, the manifest
 * of the fit: {"format": "elms-sparsity-1", "model_hash", "predictor_hash", "rank", "cost", "label": {"rule",
 * "active_fraction", "thresholds"}, "traces": {"corpus", "train_windows", "heldout_windows", "seq", "seed"},
 * "training": {...}, "recall": {"fractions", "layers", "mean"}, "mass": {"what", "layers", "mean", "oracle"},
 * "sweep": [{"rank", "cost", "mean_recall", "mean_mass", "loss_heldout", "affordable_fraction",
 * "mass_at_affordable"}], "choice"}.
 *
 * The rule for k (the paper's LLMLingua-2 + contextual sparsity sets the kept FFN fraction to the TPOT SLO):
 * k = round(TPOT SLO fraction x ffn_dim), at most ffn_dim (k = ffn_dim runs the dense model without predictors);
 * when that is not feasible under the profile (attention stays dense and the predictors cost time, so the paper's
 * accounting, TPOT = the kept fraction, understates the time), the largest feasible k below it, keeping the
 * prompt as given; when no k is feasible, the cheapest (k = 1), an SLO miss. */
#ifndef ELMS_SPARSITY_SELECT_H
#define ELMS_SPARSITY_SELECT_H

#include <stdbool.h>

#include "elastic/sparsity.h"
#include "policies/build.h"
#include "policies/policy.h"

typedef struct SparsityPolicy {
    Sparsity pred;
    SparsitySelect *sel;      /* (ffn_dim) sel[k - 1]: the selector context that keeps k neurons */
    char (*key)[64];          /* (ffn_dim) key[k - 1]: its select_key, "cs:HASH:keep K/F" */
    double extra_lin;         /* the predictors' parameters per token / the base's layer parameters */
} SparsityPolicy;

/* sparsity_policy_build: the offline work of a sparsity policy into dir: env->sparsity_windows training windows
 * and one held-out window for every eight (calib_seq tokens each, seeded, DATA/corpus/train.bin), their
 * activation traces on env->model, predictors fitted for each rank of the sweep (8, 16, 32, 64, 128; or only
 * env->sparsity_rank when set), the rank chosen by sparsity_choose_rank at a TPOT budget of 0.7 (the most
 * activation kept at equal decode cost), written as predictors.safetensors and sparsity.json (see the header). */
int sparsity_policy_build(const BuildEnv *env, const char *dir, Err *e);

/* sparsity_policy_load: the predictors of dir (a folder sparsity_policy_build wrote) for base: the file must
 * match base's shape and the manifest's predictor hash; the selector contexts and keys of every k. */
int sparsity_policy_load(SparsityPolicy *s, const Model *base, const char *dir, Err *e);
void sparsity_policy_free(SparsityPolicy *s);

/* sparsity_policy_fill: the decision that keeps k (1..ffn_dim) neurons per token on base with prompt keep-mask
 * keep (NULL: whole prompt) labelled ratio: every layer's ffn_units = k (what the profile prices), the selector,
 * its key, extra_lin, level = k / ffn_dim. k = ffn_dim: the dense base (no selector, no predictor cost). */
void sparsity_policy_fill(const SparsityPolicy *s, const Model *base, int k, const unsigned char *keep, double ratio,
                          Decision *d);

/* sparsity_policy_decide: the rule of the header for r with the prompt as keep / ratio give it (tlm_tokens and
 * tlm_scale: the tokens the compressor that made keep read and its work per token over the tiny LM's, priced into
 * every candidate; 0 tokens for none): k from the TPOT SLO, then smaller k until feasible (feasible_ladder), else
 * k = 1. *feasible (may be NULL) says which. */
int sparsity_policy_decide(const SparsityPolicy *s, const PolicyEnv *env, const PolicyRequest *r,
                           const unsigned char *keep, double ratio, double tlm_tokens, double tlm_scale, Decision *d,
                           bool *feasible, Err *e);

/* sparsity_policy_params: the predictors' parameters (resident memory on top of the base). */
double sparsity_policy_params(const SparsityPolicy *s);

#endif
