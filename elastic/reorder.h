/* reorder: one-shot neuron reordering. Every layer's KV groups and FFN neurons are permuted into descending
 * importance (model_permute_units moves every tensor a unit touches), so that every level's sub-model is a
 * prefix of units and the full model computes the same function. reorder_prepare runs the whole offline step
 * on a model in memory: Taylor importance, leave-one-layer-out anchors, the permutation, and the level table. */
#ifndef ELMS_REORDER_H
#define ELMS_REORDER_H

#include "elastic/calib.h"
#include "elastic/elastic_meta.h"
#include "elastic/importance.h"
#include "engine/err.h"
#include "engine/model.h"

/* reorder_order: order (n) = unit indices sorted by descending score; equal scores keep index order, NaN
 * scores go last. Returns 0, or -1 when out of memory. */
int reorder_order(const double *score, int n, int *order);

/* reorder_apply: permute every layer of m into descending importance. attn_order (n_layers, n_attn) and
 * ffn_order (n_layers, n_ffn) receive the permutation (new unit i = old unit order[i]); imp is permuted the
 * same way, so afterwards each of its rows is non-increasing. */
int reorder_apply(Model *m, Importance *imp, int *attn_order, int *ffn_order, Err *e);

typedef struct ReorderOpts {
    int n_anchors;    /* anchor layers; < 0: anchors_default_count */
    int batch;        /* windows per micro-batch of the importance backward pass */
} ReorderOpts;

/* Wall and CPU seconds of the two measured phases. */
typedef struct ReorderCost {
    double importance_wall, importance_cpu;
    double anchors_wall, anchors_cpu;
} ReorderCost;

/* reorder_prepare: importance and leave-one-out losses of m on calibration windows c, anchors, the
 * permutation applied to m in place, and meta filled (anchors, losses, orders, importance, the level table
 * from levels_view). meta is allocated here (elastic_meta_free). cost may be NULL. */
int reorder_prepare(Model *m, const Calib *c, const ReorderOpts *o, ElasticMeta *meta, ReorderCost *cost, Err *e);

/* reorder_level_table: fill meta's level table for m (already reordered) and meta's anchors. */
int reorder_level_table(const Model *m, ElasticMeta *meta, Err *e);

#endif
