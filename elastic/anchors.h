/* anchors: the layers that are never shrunk, chosen by leave-one-layer-out loss as in the paper: remove one
 * layer at a time (both its attention and MLP sub-blocks skipped, the residual passes through), measure the
 * calibration loss, and keep the layers whose removal hurts most. */
#ifndef ELMS_ANCHORS_H
#define ELMS_ANCHORS_H

#include "elastic/calib.h"
#include "engine/err.h"
#include "engine/model.h"

/* anchors_loo: loss (n_layers) = calibration loss with layer l removed; *base (may be NULL) = full model loss. */
int anchors_loo(const Model *m, const Calib *c, double *loss, double *base, Err *e);

/* anchors_pick: the count layers of largest loss (ties: the lower layer index) into out (count), ascending. */
int anchors_pick(const double *loss, int n_layers, int count, int *out, Err *e);

/* anchors_default_count: about a fifth of the layers (round(n_layers / 5)), reduced while the smallest level
 * (0.2) would be unreachable, i.e. while the anchors plus one KV group and one FFN neuron in every other layer
 * already read more than a fifth of the per-token layer parameters. For the 8 layers of models/base it gives 1
 * (2 anchors alone read 25%); for Llama-3-8B's shape 5 (the paper's 6 of 32 would leave level 0.2 at 20.7% of the
 * parameters). */
int anchors_default_count(const ModelConfig *c);

/* anchors_min_fraction: the smallest fraction of per-token layer parameters a level view can read with
 * n_anchors full layers (the rest at one KV group and one neuron). */
double anchors_min_fraction(const ModelConfig *c, int n_anchors);

#endif
