/* laco: LaCo, layer collapse (Yang et al. 2024, "LaCo: Large Language Model Pruning via Layer Collapse"): a
 * depth-pruning baseline that merges runs of adjacent layers into one by Reserving-Differences-while-Seeking-
 * Common (RDSC: the merged layer is the first layer plus the differences of the others from it), walking from
 * the top of the model down and keeping a merge while the pruned model's final representation on a few
 * calibration windows stays close (cosine) to the original model's. The result is an ordinary, shallower model.
 *
 * Where this follows the authors' public notebooks and where it departs from them:
 *  - Similarity: as the notebooks, per window (one "sentence") the hidden states of every token are flattened
 *    into one vector and the cosine of the two models' vectors is averaged over windows, always against the
 *    original model. The hidden state is the last residual after the model's final RMSNorm, which is what the
 *    notebooks compare (Hugging Face's hidden_states[-1] of a Llama model is taken after the final norm).
 *  - Merge: the notebooks merge q, k, v, o, gate, up and down and keep the first layer's two RMSNorm weights;
 *    here the norms are merged by the same rule (every tensor of the layer).
 *  - Upper bound H: the first merge tried covers the top layer (l = n_layers - C; the paper's H is the layer
 *    count); the notebooks start one layer lower. A merge is accepted at similarity >= T (notebooks: > T).
 *  - Target: the notebooks make one top-down pass at a fixed T. To reach a requested depth, laco_collapse
 *    repeats the pass while layers remain above the target, lowers T by threshold_step after a pass that
 *    accepted nothing, and shrinks C so that the last merge lands exactly on the target. */
#ifndef ELMS_LACO_H
#define ELMS_LACO_H

#include <stddef.h>

#include "elastic/calib.h"
#include "engine/err.h"
#include "engine/model.h"

/* laco_merge: dst = src with layers [first, first+count) collapsed into one layer (dst has n_layers-count+1
 * layers, in order): every weight tensor of the merged layer is theta_first + sum_{k=1}^{count-1}
 * (theta_{first+k} - theta_first) (the LaCo paper's Reserving-Differences-while-Seeking-Common rule),
 * norms included; other layers copied. dst is allocated here (model_alloc); caller frees. count = 1 copies.
 * Fails (dst left unallocated) when [first, first+count) is not a non-empty range of src's layers. */
int laco_merge(const Model *src, int first, int count, Model *dst, Err *e);

/* laco_similarity: mean over windows of cos(final hidden state of a, of b): the last-layer residual of every
 * token of every window (model_residuals, full views) after the model's final RMSNorm, flattened per window as
 * the LaCo paper does (one vector per sentence), averaged over windows. a and b share vocab and dim (layer
 * counts may differ). Fails when they do not or a window does not fit either model's context. */
int laco_similarity(const Model *a, const Model *b, const Calib *c, double *sim, Err *e);

typedef struct LacoOptions {
    int merge_layers;      /* C: layers merged per operation (LaCo default 4; clamp to what is left) */
    int interval;          /* I: minimum distance between successive merges (default 1) */
    double threshold;      /* T: accept a merge while similarity >= T (default 0.65, the paper's for Llama2-7B) */
    double threshold_step; /* when a full pass accepts nothing, lower T by this (default 0.1) */
    int lowest;            /* L: lowest layer index a merge may start at (default 1: keep layer 0) */
} LacoOptions;

/* laco_options_default: C 4, I 1, T 0.65, step 0.1, L 1. */
void laco_options_default(LacoOptions *o);

/* laco_collapse: the LaCo algorithm run until the model has at most target_layers layers: from the top
 * layer down, try merging the C layers starting at l into l; accept when laco_similarity(merged, original)
 * >= T (compare to the ORIGINAL model m), then continue below the merged layer by at least I; when a pass
 * from the top accepts nothing, lower T by threshold_step (record it) and pass again; never fewer layers than
 * target_layers (shrink C for the last merge). out receives the final model (caller frees); merges (optional,
 * may be NULL) receives a human-readable log of the accepted merges and thresholds (caller-sized buffer,
 * truncated to merges_cap, always terminated): one line per accepted merge,
 * "merge COUNT layers at FIRST: similarity S >= T, N layers left", and one per lowering,
 * "threshold lowered to T". target_layers >= n_layers gives a copy of m. Fails (out unallocated) on options
 * out of range (C < 2, I < 1, L < 0, step <= 0), on target_layers < L + 1 (merges start at L or above), or when
 * no merge passes even at T < -1 (a similarity that is not a number). */
int laco_collapse(const Model *m, const Calib *c, int target_layers, const LacoOptions *o, Model *out,
                  char *merges, size_t merges_cap, Err *e);

#endif
