/* importance: first-order Taylor importance of every unit of every layer (the paper's one-shot criterion).
 * The importance of a unit is sum |w * dL/dw| over every weight the unit owns: for a KV group its rows of
 * q_proj, k_proj, v_proj and its columns of o_proj (rows of wo_t); for an FFN neuron its rows of gate_proj and
 * up_proj and its column of down_proj (row of w_down_t). L is the mean next-token loss over the calibration
 * windows, differentiated in one accumulated backward pass (RMSNorm weights are shared, so they count for no
 * unit). */
#ifndef ELMS_IMPORTANCE_H
#define ELMS_IMPORTANCE_H

#include "elastic/calib.h"
#include "engine/err.h"
#include "engine/model.h"

typedef struct Importance {
    int n_layers;
    int n_attn;   /* KV groups per layer */
    int n_ffn;    /* FFN neurons per layer */
    double *attn; /* (n_layers, n_attn) */
    double *ffn;  /* (n_layers, n_ffn) */
} Importance;

/* importance_alloc: zeroed scores for every KV group and FFN neuron of a model of config c; free with
 * importance_free. */
int importance_alloc(Importance *imp, const ModelConfig *c, Err *e);
void importance_free(Importance *imp);

/* importance_from_grad: imp = per-unit sums of |w * g| for weights of m and gradients g (carved like m). */
void importance_from_grad(const Model *m, const ModelWeights *g, Importance *imp);

/* importance_taylor: gradient of the mean calibration loss of m (full view, micro-batches of up to batch
 * windows), then importance_from_grad. *loss (may be NULL) receives that mean loss. m is not modified. */
int importance_taylor(Model *m, const Calib *c, int batch, Importance *imp, double *loss, Err *e);

#endif
