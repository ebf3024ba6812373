/* grid_wiring: what `elms grid` and `elms elastic-compare` plug into elastic/grid: the prompt compressor
 * (policies/compressor.h; "oracle-relevant" gets the current item's spans), an evaluator (eval/eval.h) whose
 * store is the simulator's evaluation cache backed by the results database (sim/evalcache.h: the same keys
 * as `elms sim`, so the two share evaluations), a progress line, and writing a grid as a gnuplot data file plus heatmap. */
#ifndef ELMS_CLI_GRID_WIRING_H
#define ELMS_CLI_GRID_WIRING_H

#include "cli/cli.h"
#include "elastic/grid.h"
#include "policies/compressor.h"
#include "sim/db.h"
#include "sim/evalcache.h"

typedef struct GridWiring {
    const char *cmd;
    Db db;
    int has_db;
    EvalCache cache;
    Compressor comp;
    int has_comp;
    PolicyEnv env;
    const Model *model;
    Evaluator ev;                     /* the one evaluation path, storing outcomes in cache */
    const Item *current;              /* the item being compressed (oracle-relevant's lookup) */
    Progress progress;
    int show_progress;
} GridWiring;

/* grid_wiring_open: open db_path (NULL: memory-only cache; its directory is created) and the compressor comp
 * seeded with seed for model m. Returns 0, or 1 after printing the error. */
int grid_wiring_open(GridWiring *w, const char *cmd, const char *db_path, const char *comp, unsigned long seed,
                     const Model *m, const Tokenizer *tok);
/* grid_wiring_close: write the buffered evaluations and close; 0, or 1 after printing why they could not be
 * written. */
int grid_wiring_close(GridWiring *w);
/* grid_wiring_set_model: evaluate another model from now on (its weight hash keys the cache). */
void grid_wiring_set_model(GridWiring *w, const Model *m);
/* grid_wiring_hooks: hooks for grid_run; label names the progress line (NULL: no progress line). */
void grid_wiring_hooks(GridWiring *w, GridHooks *h, const char *label, long total);
/* grid_wiring_finish_progress: end the progress line started by grid_wiring_hooks. */
void grid_wiring_finish_progress(GridWiring *w);

/* grid_write_figure: write cells (n_level x n_ratio, level-major) to DIR/NAME.dat and, when plot and gnuplot and
 * analysis/grid_heatmap.gp are available, draw DIR/NAME.png titled title. Returns 0, or 1 after printing. */
int grid_write_figure(const char *cmd, const char *dir, const char *name, const char *title, const GridCell *cells,
                      int n_level, int n_ratio, int plot);

#endif
