/* tlm_labels: the training labels of the tiny LM (policies/tlm.h), computed on train items only (never dev or
 * test items).
 *
 * Score head: a per-token keep label over an item's system tokens, of two kinds.
 *   relevant  task-agnostic (no target-LLM signal), the analogue of LLMLingua-2's annotated compression corpus:
 *             1 inside the item's `relevant` spans (the system tokens the generator put the answer in), 0
 *             elsewhere. Items without spans (apps whose system prompt is an instruction and few-shot examples)
 *             carry no label.
 *   saliency  self-induced from the target LLM: gradient x input, |<dL/de_i, e_i>| for the embedding e_i of system
 *             token i, with L the mean negative log-likelihood of the correct choice's tokens after the whole
 *             prompt (the full model, no adapter). One forward and one backward per item, where leave-one-out
 *             deletion would take one forward per system token; the top fraction q of an item's system tokens
 *             are labelled 1 (tlm_labels_top).
 *
 * Decision head: an item's outcome at every (level, ratio) of the paper's grid through the one evaluation path
 * (each level's view with its adapter, the prompt compressed at each ratio by the score head), and the paper's
 * self-induced label of (item, SLO pair) from those outcomes (tlm_label_pair). */
#ifndef ELMS_TLM_LABELS_H
#define ELMS_TLM_LABELS_H
#include "datasets/items.h"
#include "elastic/levels.h"
#include "engine/err.h"
#include "engine/train.h"
#include "eval/eval.h"

/* tlm_labels_relevant: labels (n_system) = 1 inside it's relevant spans, 0 elsewhere; returns the number of
 * tokens labelled 1, or -1 with every label -1 when the item has no spans. */
int tlm_labels_relevant(const Item *it, int n_system, int *labels);

/* tlm_saliency: sal (x->n_system) = gradient x input saliency of each system token for the model t trains
 * (full mode, batch 1, seq >= 1 + n_system + n_query + answer length - 1), with prompt BOS (bos < 0: none) +
 * system + query and the answer choice's tokens as targets. The trainer's gradients are zeroed and left
 * holding this item's (never apply them). Fails when the sequence does not fit the trainer. */
int tlm_saliency(Trainer *t, const EncodedItem *x, int bos, float *sal, Err *e);

/* tlm_labels_top: labels (n) = 1 for the round(q * n) highest values of sal (keepmask_top's order), else 0. */
void tlm_labels_top(const float *sal, int n, double q, int *labels);

/* tlm_grid_outcomes: correct (N_LEVELS * N_RATIOS, index li * N_RATIOS + ri) = whether model m answers item x
 * (app, id) at level s->view[li] with the keep-mask masks[ri] (each (x->n_system); NULL = the whole prompt),
 * through ev (its store makes repeated calls cheap). Configurations that run the same thing (two ratios with
 * the same mask) are evaluated once. */
int tlm_grid_outcomes(Evaluator *ev, const Model *m, const LevelSet *s, const unsigned char *const *masks,
                      const EncodedItem *x, const char *app, const char *id, unsigned char *correct, Err *e);

/* tlm_label_pair: the paper's self-induced label of a request with grid outcomes correct (as above) under the SLO
 * (prefill, decode fractions): among the configurations feasible by the paper's accounting (m p <= prefill,
 * m <= decode), the largest level that answers correctly, then the smallest ratio that answers at that level.
 * Returns 1 with *li, *ri set; 0 when no feasible configuration answers (such a request gets no label: the paper's
 * code labelled it (p 0.1, m 1.0), a configuration infeasible for every SLO of the grid). */
int tlm_label_pair(const unsigned char *correct, double prefill, double decode, int *li, int *ri);

#endif
