/* elastic_meta: elastic.json, the description of a reordered (elastic) model directory:
 *   {"format": "elms-elastic-1",
 *    "anchors": [layer, ...],                         layers never shrunk (read by levels_read_anchors too)
 *    "calibration": {"samples", "seq", "seed", "corpus", "loss"},
 *    "loo_loss": [per layer],                         calibration loss with that layer removed
 *    "layers": [{"attn_order": [...], "ffn_order": [...],     new unit i = original unit order[i]
 *                "attn_importance": [...], "ffn_importance": [...]}, ...]   in the new order (non-increasing)
 *    "levels": [{"level", "param_fraction", "attn_units": [per layer], "ffn_units": [per layer]}, ...]
 *    "source": name of the model directory it was made from,  "max_abs_diff": reorder check}
 * Written atomically with cJSON; the reader checks every field (orders must be permutations). */
#ifndef ELMS_ELASTIC_META_H
#define ELMS_ELASTIC_META_H

#include "engine/err.h"
#include "engine/model.h"

#define ELASTIC_META_MAX_LEVELS 16

typedef struct ElasticLevel {
    double level;
    double param_fraction;              /* view_param_fraction of the level's view */
    int attn_units[ELMS_MAX_LAYERS];    /* (n_layers) */
    int ffn_units[ELMS_MAX_LAYERS];     /* (n_layers) */
} ElasticLevel;

typedef struct ElasticMeta {
    int n_layers, n_attn, n_ffn;
    int n_anchors;
    int anchors[ELMS_MAX_LAYERS];       /* (n_anchors) ascending */
    int calib_samples, calib_seq;
    unsigned long calib_seed;
    char corpus[256];                   /* calibration corpus as given (informational) */
    char source[256];                   /* source model directory name (informational) */
    double calib_loss;                  /* full model loss on the calibration windows */
    double loo_loss[ELMS_MAX_LAYERS];   /* (n_layers) */
    int *attn_order;                    /* (n_layers, n_attn) */
    int *ffn_order;                     /* (n_layers, n_ffn) */
    double *attn_imp;                   /* (n_layers, n_attn) in the new order */
    double *ffn_imp;                    /* (n_layers, n_ffn) in the new order */
    int n_levels;
    ElasticLevel levels[ELASTIC_META_MAX_LEVELS];
    double max_abs_diff;                /* reordered vs original logits; < 0 when not measured */
} ElasticMeta;

/* elastic_meta_alloc: zeroed meta with order / importance tables for c (orders set to the identity). */
int elastic_meta_alloc(ElasticMeta *x, const ModelConfig *c, Err *e);
void elastic_meta_free(ElasticMeta *x);

/* elastic_meta_write: path (elastic.json) atomically. */
int elastic_meta_write(const ElasticMeta *x, const char *path, Err *e);
/* elastic_meta_read: parse and check path against c (layer and unit counts); errors name the file and field. */
int elastic_meta_read(ElasticMeta *x, const ModelConfig *c, const char *path, Err *e);

/* elastic_meta_anchor_mask: anchor (n_layers) 0/1 from x's anchors. */
void elastic_meta_anchor_mask(const ElasticMeta *x, unsigned char *anchor);

#endif
