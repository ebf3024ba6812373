/* layerscore: importance of whole layers and of their sub-blocks from the cosine similarity of the residual
 * stream before and after them on calibration windows, as two layer-dropping baselines define it:
 * ShortGPT's Block Influence (Men et al. 2024: a layer whose output points where its input does changes little)
 * and AttnDrop's attention / MLP sub-block scores (He et al. 2024, "What Matters in Transformers? Not All
 * Attention Is Needed"). Low scores mark the blocks these methods remove first. The residual stream comes from
 * the engine's forward pass (model_residuals) under the full view; similarities are per token, in double. */
#ifndef ELMS_LAYERSCORE_H
#define ELMS_LAYERSCORE_H

#include <stddef.h>

#include "elastic/calib.h"
#include "engine/err.h"
#include "engine/model.h"

/* layerscore_block_influence: ShortGPT's Block Influence of every layer, BI_l = 1 - mean over every token of
 * every window of cos(h_in, h_out), h_in = residual entering layer l, h_out = residual leaving it (per token,
 * as the ShortGPT paper defines it, not over flattened batches). bi (n_layers). Full view of m.
 * Fails (bi untouched) when a window does not fit the model's context or holds a token outside its vocabulary. */
int layerscore_block_influence(const Model *m, const Calib *c, double *bi, Err *e);

/* layerscore_subblocks: AttnDrop's scores: attn[l] = 1 - mean cos(input, output) of layer l's attention
 * sub-block, ffn[l] = the same for its MLP sub-block (residual before and after the sub-block), per token.
 * attn (n_layers), ffn (n_layers). Full view of m; fails like layerscore_block_influence. */
int layerscore_subblocks(const Model *m, const Calib *c, double *attn, double *ffn, Err *e);

/* layerscore_residual_buffer: check that c's windows fit m (at least one window of 1 to max_seq tokens) and
 * allocate the residual stream of one window for model_residuals: (2 n_layers + 1, c->seq, dim) floats, or NULL
 * with e naming what (for messages). */
float *layerscore_residual_buffer(const Model *m, const Calib *c, const char *what, Err *e);

/* layerscore_cosine: cos(a, b) of two (n) vectors, accumulated in double; 1 when both are zero (nothing
 * changed), 0 when only one is. */
double layerscore_cosine(const float *a, const float *b, size_t n);

/* layerscore_rank: indices (n) of x sorted by ascending score (ties: lower index first) into order (n).
 * A NaN score ranks last. */
void layerscore_rank(const double *x, int n, int *order);

#endif
