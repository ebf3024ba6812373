/* grid: evaluation of items over the (level, ratio) grid with pluggable keep-masks and cache (see grid.h). */
#include "elastic/grid.h"

#include <stdlib.h>
#include <string.h>


void grid_spec_init(GridSpec *g, const Model *m, const Tokenizer *tok, const LevelSet *levels) {
    memset(g, 0, sizeof *g);
    g->model = m;
    g->tok = tok;
    g->levels = levels;
    g->use_lora = true;
    g->n_level = N_LEVELS;
    g->n_ratio = N_RATIOS;
    for (int i = 0; i < N_LEVELS; i++) g->level_idx[i] = i;
    for (int i = 0; i < N_RATIOS; i++) g->ratio_idx[i] = i;
}

static int check_spec(const GridSpec *g, const GridHooks *h, Err *e) {
    if (g->n_level < 1 || g->n_level > N_LEVELS || g->n_ratio < 1 || g->n_ratio > N_RATIOS)
        return err_set(e, "grid: %d levels and %d ratios selected, expected 1..%d and 1..%d", g->n_level, g->n_ratio,
                       N_LEVELS, N_RATIOS);
    for (int i = 0; i < g->n_level; i++)
        if (g->level_idx[i] < 0 || g->level_idx[i] >= N_LEVELS) return err_set(e, "grid: level index out of range");
    for (int i = 0; i < g->n_ratio; i++)
        if (g->ratio_idx[i] < 0 || g->ratio_idx[i] >= N_RATIOS) return err_set(e, "grid: ratio index out of range");
    if (g->compresses && (!h || !h->keep)) return err_set(e, "grid: a compressing grid needs a keep hook");
    return 0;
}

int grid_run(const GridSpec *g, const ItemSet *items, const GridHooks *h, GridCell *cells, Err *e) {
    if (check_spec(g, h, e)) return -1;
    int n_cells = g->n_level * g->n_ratio;
    ElasticView views[N_LEVELS];
    for (int a = 0; a < g->n_level; a++) {
        int li = g->level_idx[a];
        views[a] = g->levels->view[li];
        if (!g->use_lora) views[a].lora = NULL;
        for (int b = 0; b < g->n_ratio; b++) {
            GridCell *c = &cells[a * g->n_ratio + b];
            memset(c, 0, sizeof *c);
            c->level = LEVELS[li];
            c->ratio = RATIOS[g->ratio_idx[b]];
            c->param_fraction = view_param_fraction(g->model, &views[a]);
        }
    }
    Evaluator own, *ev = h && h->ev ? h->ev : &own;
    if (ev == &own) evaluator_init(&own, g->tok, g->model, NULL);
    long total = (long)items->n * n_cells, done = 0;
    EvalOutcome first[N_LEVELS]; /* the first ratio's outcomes, copied to the others when nothing is compressed */
    int rc = 0;
    for (int i = 0; !rc && i < items->n; i++) {
        const Item *it = &items->items[i];
        EncodedItem x;
        if (item_encode(g->tok, it, &x, e)) return -1;
        int full = 1 + x.n_system + x.n_query;
        unsigned char *keep = malloc((size_t)(x.n_system > 0 ? x.n_system : 1));
        int *prompt = malloc(sizeof(int) * (size_t)full);
        if (!keep || !prompt) rc = err_set(e, "grid: out of memory");
        for (int b = 0; !rc && b < g->n_ratio; b++) {
            double ratio = RATIOS[g->ratio_idx[b]];
            memset(keep, 1, (size_t)(x.n_system > 0 ? x.n_system : 1));
            if (g->compresses && h->keep(h->ctx, it, &x, ratio, keep, e) < 0) {
                rc = err_prefix(e, "item '%s'", it->id);
                break;
            }
            int plen = eval_prompt(ev, &x, keep, prompt);
            for (int a = 0; !rc && a < g->n_level; a++) {
                GridCell *c = &cells[a * g->n_ratio + b];
                EvalQuery q = {.model = g->model, .view = &views[a], .keep = keep, .x = &x, .app = it->app,
                               .item = it->id};
                EvalOutcome o = {0};
                if (!g->compresses && b > 0) {
                    o = first[a];
                } else {
                    long before = ev->computed;
                    rc = eval_item(ev, &q, &o, e);
                    if (rc) err_prefix(e, "level %.1f", c->level);
                    c->computed += ev->computed - before;
                }
                if (rc) break;
                first[a] = o;
                c->correct += o.correct != 0;
                c->total++;
                c->kept_fraction += (double)plen / full;
                done++;
                if (h && h->progress) h->progress(h->ctx, done, total);
            }
        }
        free(keep);
        free(prompt);
        encoded_item_free(&x);
    }
    if (rc) return -1;
    for (int k = 0; k < n_cells; k++)
        if (cells[k].total) cells[k].kept_fraction /= (double)cells[k].total;
    return 0;
}
