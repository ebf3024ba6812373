/* sparsity: contextual sparsity in the style of Deja Vu (Liu et al., "Deja Vu: Contextual Sparsity for Efficient
 * LLMs at Inference Time", ICML 2023): per layer, a small predictor reads the token's FFN input and scores every
 * FFN neuron; the FFN then runs only the top-scored fraction of its neurons for that token (attention stays
 * dense). This file holds the predictors themselves (one allocation, forward, the binary cross-entropy gradient),
 * the top-k selection and the engine's per-token selector (FfnSelectFn), and their safetensors file. How they are
 * trained (activation traces, labels, recall) is elastic/sparsity_fit.h.
 *
 * The predictor of layer l: z (ffn_dim) = W2 relu(W1 x + b1) + b2, the FFN input x (dim) being the output of
 * the layer's ffn_norm; sigmoid(z_i) is the predicted probability that neuron i is active. Ranking needs only z
 * (sigmoid is monotone), so the selector never computes it. */
#ifndef ELMS_SPARSITY_H
#define ELMS_SPARSITY_H

#include <stddef.h>

#include "engine/err.h"
#include "engine/model.h"

typedef struct SparsityLayer {
    float *w1; /* (rank, dim)     first linear: x -> hidden */
    float *b1; /* (rank) */
    float *w2; /* (ffn_dim, rank) second linear: hidden -> one logit per neuron; row i = neuron i */
    float *b2; /* (ffn_dim) */
} SparsityLayer;

typedef struct Sparsity {
    int n_layers, dim, ffn_dim, rank;
    float *params;       /* one allocation of n_params floats, carved by sparsity_carve */
    size_t n_params;
    SparsityLayer layer[ELMS_MAX_LAYERS];
    char hash[17];       /* FNV-1a 64 of the parameters and the shape (sparsity_rehash); keys selections in the
                            evaluation cache */
    float *scratch;      /* (rank + ffn_dim) the selector's hidden units and logits of one token */
    int *order;          /* (ffn_dim) the selector's ranking buffer */
} Sparsity;

/* sparsity_param_count: floats of the predictors of every layer of c at rank r: L (r (dim + 1) + ffn (r + 1)). */
size_t sparsity_param_count(const ModelConfig *c, int rank);
/* sparsity_carve: point s's tensors into base (sparsity_param_count floats) in the canonical order (layer by
 * layer: w1, b1, w2, b2); shape fields must be set. Gradients and Adam moments are carved the same way. */
void sparsity_carve(Sparsity *s, float *base);
/* sparsity_alloc: zeroed predictors for every layer of c at rank (1..4096), with the selector's scratch. */
int sparsity_alloc(Sparsity *s, const ModelConfig *c, int rank, Err *e);
void sparsity_free(Sparsity *s);
/* sparsity_init: seeded initialisation as a fresh PyTorch Linear: every weight and bias of a layer uniform in
 * +-1/sqrt(fan_in) (fan_in = dim for w1, b1; rank for w2, b2), from an MT19937 generator seeded with seed. */
void sparsity_init(Sparsity *s, unsigned long seed);
/* sparsity_rehash: recompute s->hash after the parameters changed (init, training, loading call it). */
void sparsity_rehash(Sparsity *s);
/* sparsity_fraction: predictor parameters read per token (every layer's predictor runs once per token) as a
 * fraction of c's layer parameters (model_layer_params): what Decision.extra_lin charges. */
double sparsity_fraction(const ModelConfig *c, int rank);

/* ---- forward, loss and gradient (one layer) ---- */

/* sparsity_forward: for n inputs x (n, dim): hidden h (n, rank) = relu(x W1^T + b1) and logits z (n, ffn_dim) =
 * h W2^T + b2. */
void sparsity_forward(const Sparsity *s, int l, const float *x, int n, float *h, float *z);
/* sparsity_bce: mean binary cross-entropy of logits z (n, ffn_dim) against 0/1 labels y (n, ffn_dim) over all
 * n ffn_dim entries, computed stably from the logits (max(z,0) - z y + log(1 + exp(-|z|))), in double. When dz is
 * non-NULL it receives dL/dz = (sigmoid(z) - y) / (n ffn_dim) (dz may be z itself). */
double sparsity_bce(const float *z, const unsigned char *y, int n, int ffn_dim, float *dz);
/* sparsity_bce_grad: only the gradient of sparsity_bce, dz (n, ffn_dim) = (sigmoid(z) - y) / (n ffn_dim), in float
 * (the training loop's form; dz may be z itself). */
void sparsity_bce_grad(const float *z, const unsigned char *y, int n, int ffn_dim, float *dz);
/* sparsity_backward: gradients of the loss through layer l's predictor for the batch of sparsity_forward:
 * given x (n, dim), h (n, rank) as the forward left it and dz (n, ffn_dim), accumulate into g (a Sparsity carved
 * over the gradient array: same shape) dW2 += dz^T h, db2 += sum dz, dW1 += dh^T x, db1 += sum dh with
 * dh = (dz W2) * [h > 0]. dh_scratch: (n, rank) floats. */
void sparsity_backward(const Sparsity *s, const Sparsity *g, int l, const float *x, const float *h, const float *dz,
                       int n, float *dh_scratch);

/* ---- selection ---- */

/* sparsity_keep_count: neurons kept for fraction frac of n: round(frac n), at least 1 and at most n. */
int sparsity_keep_count(double frac, int n);
/* sparsity_top_k: the k highest of score (n) into idx (k), in ascending neuron order; among equal scores the
 * lower index ranks first; NaN ranks last. order: (k) scratch. 1 <= k <= n. O(n log k). */
void sparsity_top_k(const float *score, int n, int k, int *idx, int *order);

/* The selector's context: which predictors, and how many neurons each token keeps. */
typedef struct SparsitySelect {
    const Sparsity *s;
    int k;               /* neurons kept per token, 1..ffn_dim */
} SparsitySelect;

/* sparsity_select: an FfnSelectFn (engine/model.h) with ctx a SparsitySelect: layer's predictor on the token's
 * FFN input x (dim), the top k neurons by predicted score into idx (ascending). Returns k, or -1 when the layer
 * is out of range or cap < k. Uses the predictors' scratch: one thread at a time per Sparsity. */
int sparsity_select(void *ctx, int layer, const float *x, int *idx, int cap);

/* ---- file ---- */

/* sparsity_save: the predictors as safetensors at path (F32; tensors layers.L.fc1.weight (rank, dim), fc1.bias,
 * fc2.weight (ffn_dim, rank), fc2.bias; metadata rank, dim, ffn_dim, n_layers), written atomically. */
int sparsity_save(const Sparsity *s, const char *path, Err *e);
/* sparsity_load: read predictors for model configuration c from path (allocated here; rank from the metadata);
 * every tensor present with its shape and finite, no unknown tensor; errors name the file and tensor. */
int sparsity_load(Sparsity *s, const ModelConfig *c, const char *path, Err *e);

#endif
