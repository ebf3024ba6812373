/* sparsity_fit: how the contextual-sparsity predictors of elastic/sparsity.h are made, as Deja Vu makes them:
 * record activation traces of the model on windows of the training corpus, label every neuron of every token
 * active or not, train one predictor per layer with binary cross-entropy, and measure on held-out windows how
 * many of the truly active neurons the predicted top-k keeps (recall).
 *
 * Traces: for each layer, the FFN input x (the ffn_norm output, (dim)) of every token, from the engine's forward
 * pass under the full view (model_residuals, then the layer's RMSNorm). A neuron's activation magnitude is
 * |silu(gate . x) * (up . x)|, what it feeds into the down projection.
 *
 * Labels. Deja Vu (on OPT, a ReLU model) calls a neuron active when its ReLU output is nonzero. LLaMA's SwiGLU
 * has no exact zeros, so a threshold is needed: here a neuron is active when its magnitude is above the layer's
 * threshold, the (1 - active_fraction) quantile of all magnitudes of that layer over the training traces (so that
 * active_fraction of the neurons are active on average; 0.5 by default: about the share the ELMS code's label,
 * SiLU(gate) above 0.001, marks in a SwiGLU layer, and the middle of the keep fractions the policies use).
 *
 * Training: Adam (the engine's AdamW, engine/train.h, with no weight decay and no clipping) at a cosine
 * schedule, mini-batches of tokens in a seeded order, every matrix product through BLAS. Same traces, options
 * and seed: bitwise the same predictors. */
#ifndef ELMS_SPARSITY_FIT_H
#define ELMS_SPARSITY_FIT_H

#include "elastic/calib.h"
#include "elastic/sparsity.h"
#include "engine/err.h"
#include "engine/model.h"

#define SPARSITY_MAX_FRACS 12
#define SPARSITY_MAX_RANKS 8

typedef struct SparsityFitOptions {
    double active_fraction;   /* share of neurons labelled active (per-layer threshold) (0.5) */
    int epochs;               /* passes over the training traces (10) */
    int batch;                /* tokens per Adam step (256) */
    float lr, min_lr;         /* cosine from lr to min_lr over the whole run (1e-3, 1e-4) */
    unsigned long seed;       /* initialisation and data order (1) */
    int n_fracs;              /* keep fractions at which recall is measured, ascending */
    double fracs[SPARSITY_MAX_FRACS]; /* (0.1, 0.2, ..., 0.9) */
    /* progress (may be NULL): stage name, units done of total */
    void (*progress)(void *ctx, const char *stage, long done, long total);
    void *progress_ctx;
} SparsityFitOptions;

/* sparsity_fit_defaults: the defaults above. */
void sparsity_fit_defaults(SparsityFitOptions *o);

/* Activation traces of one set of windows. */
typedef struct SparsityTraces {
    int n;                    /* tokens (windows x seq) */
    int n_layers, dim;
    float *x;                 /* (n_layers, n, dim) each layer's FFN input */
} SparsityTraces;

/* sparsity_traces_record: the FFN inputs of every layer for every token of c's windows, model m, full view.
 * Fails on windows that do not fit the model (as layerscore_residual_buffer) or out of memory. */
int sparsity_traces_record(const Model *m, const Calib *c, SparsityTraces *t, Err *e);
void sparsity_traces_free(SparsityTraces *t);

/* sparsity_magnitudes: mag (n, ffn_dim) = |silu(x W_gate^T) * (x W_up^T)| of layer l of m for inputs x (n, dim),
 * with the engine's SwiGLU kernel. Fails only when out of memory. */
int sparsity_magnitudes(const Model *m, int l, const float *x, int n, float *mag, Err *e);
/* sparsity_quantile: the k-th smallest of the n values of a (0-based, k = floor(share n) clamped to 0..n-1),
 * found by selection in place (a is reordered). n >= 1. */
float sparsity_quantile(float *a, size_t n, double share);

/* What one layer's fit measured. */
typedef struct SparsityLayerFit {
    double threshold;         /* magnitude above which a neuron is active */
    double active_train;      /* share of active labels in the training traces */
    double active_heldout;    /* ... in the held-out traces */
    double loss_train;        /* mean BCE on the training traces after training */
    double loss_heldout;      /* ... on the held-out traces */
    double recall[SPARSITY_MAX_FRACS]; /* held-out recall at each keep fraction of the options */
    double mass[SPARSITY_MAX_FRACS];   /* held-out share of the activation magnitude (sum of |h| over neurons and
                                          tokens) in the predicted top k: a measure free of the label's threshold */
    double mass_oracle[SPARSITY_MAX_FRACS]; /* the same for the true top k by magnitude (the best any selector
                                               can do) */
} SparsityLayerFit;

/* The fit of one rank. */
typedef struct SparsityFit {
    int rank;
    double cost;              /* sparsity_fraction: predictor parameters per token / the model's layer parameters */
    int n_layers, n_fracs;
    double fracs[SPARSITY_MAX_FRACS];
    double mean_recall[SPARSITY_MAX_FRACS]; /* mean over layers */
    double mean_mass[SPARSITY_MAX_FRACS], mean_mass_oracle[SPARSITY_MAX_FRACS]; /* mean over layers */
    SparsityLayerFit layer[ELMS_MAX_LAYERS];
} SparsityFit;

/* sparsity_recall: held-out recall of layer l's predictor of s on inputs x (n, dim) with labels y (n, ffn_dim):
 * for each of the n_fracs fractions f, (sum over tokens of |active neurons within the top keep_count(f) by
 * predicted score|) / (sum over tokens of |active neurons|); 0 when no neuron is active. recall (n_fracs).
 * When mag (n, ffn_dim), the neurons' magnitudes, is given, mass (n_fracs) receives the share of their sum that
 * the same top k keep, and mass_oracle (n_fracs) the share the true top k by magnitude keep (either may be NULL). */
int sparsity_recall(const Sparsity *s, int l, const float *x, const unsigned char *y, const float *mag, int n,
                    const double *fracs, int n_fracs, double *recall, double *mass, double *mass_oracle, Err *e);

/* sparsity_fit_ranks: for every rank of ranks (n_ranks, 1..SPARSITY_MAX_RANKS), predictors for every layer of m
 * trained on the training traces (labels from the thresholds above) and measured on the held-out ones: out[i]
 * (allocated here) and fit[i]. Layer by layer, so that only one layer's magnitudes and labels are in memory. On
 * failure nothing is left allocated. */
int sparsity_fit_ranks(const Model *m, const SparsityTraces *train, const SparsityTraces *held, const int *ranks,
                       int n_ranks, const SparsityFitOptions *o, Sparsity *out, SparsityFit *fit, Err *e);

/* sparsity_mass_at: the mean held-out magnitude share fit keeps at keep fraction frac, interpolated linearly
 * between its measured fractions (with 0 kept at fraction 0 and all at fraction 1). */
double sparsity_mass_at(const SparsityFit *fit, double frac);

/* sparsity_choose_rank: the index of the fit that keeps the most activation magnitude at equal decode cost: under
 * the paper's accounting a token reads the attention whole, fraction f of the FFN and the predictors, so a TPOT
 * budget T (a fraction of the dense model's) leaves f = (T - attention share - cost) / FFN share for rank r;
 * the fit whose sparsity_mass_at(f) is largest wins (ties: the smaller rank). c is the model's configuration. */
int sparsity_choose_rank(const SparsityFit *fit, int n, const ModelConfig *c, double tpot_budget);
/* sparsity_affordable: that f for cost (clamped to 0..1). */
double sparsity_affordable(const ModelConfig *c, double cost, double tpot_budget);

#endif
