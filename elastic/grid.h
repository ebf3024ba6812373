/* grid: the accuracy grid of the paper's motivation figure: every test item at every (model level m, prompt
 * ratio p) of the 9 x 10 elastic space, on one model (its level views from levels_view, with each level's
 * recovery adapter unless disabled) and one prompt compressor.
 *
 * Every item is evaluated through the one evaluation path (eval/eval.h) with the caller's Evaluator, whose
 * store the caller chooses (cli/ plugs in the simulator's `evals` table, so grid and simulator share entries).
 * The module knows nothing of the database or of compressor implementations: the caller plugs them in through
 * GridHooks (keep-mask, evaluator, progress). A compressor that does not compress gives the same prompt at
 * every ratio, so its ratios are evaluated once and copied. */
#ifndef ELMS_GRID_H
#define ELMS_GRID_H

#include <stdbool.h>
#include <stddef.h>

#include "datasets/items.h"
#include "elastic/levels.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "eval/eval.h"

typedef struct GridHooks {
    void *ctx;
    /* keep: keep-mask (x->n_system) of item it for ratio; returns the number of kept tokens or -1. */
    int (*keep)(void *ctx, const Item *it, const EncodedItem *x, double ratio, unsigned char *keep, Err *e);
    /* ev: the evaluator (and its store) every item goes through; NULL: a private one without a store */
    Evaluator *ev;
    /* progress: evaluations looked up or computed so far, of total; may be NULL. */
    void (*progress)(void *ctx, long done, long total);
} GridHooks;

typedef struct GridSpec {
    const Model *model;
    const Tokenizer *tok;
    const LevelSet *levels;    /* the nine level views of model (levelset_load) */
    bool use_lora;             /* apply each level's adapter when levels has one */
    bool compresses;           /* false: every ratio keeps the whole prompt */
    int level_idx[N_LEVELS];   /* indices into LEVELS to evaluate */
    int n_level;
    int ratio_idx[N_RATIOS];   /* indices into RATIOS to evaluate */
    int n_ratio;
} GridSpec;

/* One cell of the grid. */
typedef struct GridCell {
    double level, ratio;
    double param_fraction;     /* view_param_fraction of the level's view */
    long correct, total;
    long computed;             /* evaluations run by the engine (the rest came from the cache) */
    double kept_fraction;      /* mean fraction of prompt tokens kept (BOS + system + query) */
} GridCell;

/* grid_spec_init: every level and ratio, adapters on, no compression. */
void grid_spec_init(GridSpec *g, const Model *m, const Tokenizer *tok, const LevelSet *levels);

/* grid_run: evaluate (or look up) every item of items at every selected cell; cells receives n_level * n_ratio
 * entries, level-major in the order of g's selections. Items must fit the model's context. */
int grid_run(const GridSpec *g, const ItemSet *items, const GridHooks *h, GridCell *cells, Err *e);

#endif
