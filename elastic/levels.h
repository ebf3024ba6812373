/* levels: the paper's elastic space (9 model levels x 10 prompt ratios) and the map from a model level to an
 * ElasticView of a reordered model.
 *
 * Level = kept parameter fraction. A view for level m keeps every anchor layer whole and, in every other
 * layer, the same prefix fraction of attention units (KV groups) and FFN neurons, sized so that the fraction
 * of the model's per-token layer parameters the view reads (view_param_fraction) is as close to m as the unit
 * granularity allows without exceeding it. The paper's code instead prunes a fixed fraction min(0.9,
 * (1-m)/0.8) of the non-anchor units, so its real cost is not m, while its accounting charges relative
 * TPOT = m and TTFT = m*p. Defining the level as the kept fraction makes that accounting true by construction
 * (up to one unit of granularity, always on the cheap side so that a level that fits an SLO by the accounting
 * also fits it when priced), and makes latency profiles consistent with the labels.
 *
 * Anchor layers come from the model directory's elastic.json ("anchors": [layer, ...]); none without it. */
#ifndef ELMS_LEVELS_H
#define ELMS_LEVELS_H

#include <stdbool.h>

#include "engine/err.h"
#include "engine/model.h"

#define N_LEVELS 9
#define N_RATIOS 10

extern const double LEVELS[N_LEVELS]; /* 0.2, 0.3, ..., 0.9, 1.0 */
extern const double RATIOS[N_RATIOS]; /* 1.0, 0.9, ..., 0.1 */

/* levels_index / ratios_index: position of a value in LEVELS / RATIOS (within 1e-6), or -1. */
int levels_index(double level);
int ratios_index(double ratio);

/* levels_view: the view of m for a level in (0, 1]; anchor (n_layers) marks layers never shrunk, or NULL.
 * Level 1.0 is the full model. Fails on a level outside (0, 1]. */
int levels_view(const Model *m, const unsigned char *anchor, double level, ElasticView *v, Err *e);

/* levels_read_anchors: read "anchors" from DIR/elastic.json into anchor (n_layers, 1 = anchor). A missing file
 * means no anchors (returns 0 with *n_anchors = 0); a malformed one is an error naming the field. */
int levels_read_anchors(const char *dir, int n_layers, unsigned char *anchor, int *n_anchors, Err *e);

/* levels_kept_system: system tokens kept for prompt ratio p of S system and Q query tokens: the paper's
 * max(0, ((S+Q)p - Q) / S) of S, rounded down (never more than the ratio allows), at most S. */
int levels_kept_system(int n_system, int n_query, double ratio);

/* A model's nine level views with their recovery adapters (DIR/lora/level-0.X.safetensors when present;
 * level 1.0 never has one). */
typedef struct LevelSet {
    unsigned char anchor[ELMS_MAX_LAYERS];
    int n_anchors;
    ElasticView view[N_LEVELS];
    Lora lora[N_LEVELS];
    bool has_lora[N_LEVELS];
    int n_lora;
} LevelSet;

/* levelset_load: views for m with anchors and adapters from dir (dir NULL: no anchors, no adapters;
 * with_lora false: adapters are not loaded). */
int levelset_load(LevelSet *s, const Model *m, const char *dir, bool with_lora, Err *e);
void levelset_free(LevelSet *s);

#endif
