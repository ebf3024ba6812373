/* grid_wiring: compressor, evaluation cache, progress and figure output for the grid commands (grid_wiring.h). */
#include "cli/grid_wiring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileutil.h"
#include "base/hash.h"
#include "engine/io.h"
#include "policies/compressor_relevant.h"

static const Item *current_item(void *ctx, const char *app, const char *item) {
    const GridWiring *w = ctx;
    const Item *it = w->current;
    return it && !strcmp(it->app, app) && !strcmp(it->id, item) ? it : NULL;
}

int grid_wiring_open(GridWiring *w, const char *cmd, const char *db_path, const char *comp, unsigned long seed,
                     const Model *m, const Tokenizer *tok) {
    memset(w, 0, sizeof *w);
    w->cmd = cmd;
    w->model = m;
    Err e;
    if (db_path) {
        char parent[1200];
        snprintf(parent, sizeof parent, "%s", db_path);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = 0;
            if (io_mkdirs(parent, &e)) return cli_error(cmd, "%s", e.msg);
        }
        if (db_open(&w->db, db_path, &e)) return cli_error(cmd, "%s", e.msg);
        w->has_db = 1;
    }
    evalcache_init(&w->cache, w->has_db ? &w->db : NULL);
    EvalStore store = evalcache_store(&w->cache);
    evaluator_init(&w->ev, tok, m, &store);
    w->env = (PolicyEnv){.base = m, .tok = tok, .compressor = comp, .seed = seed};
    if (compressor_create(&w->comp, comp, &w->env, &e)) {
        grid_wiring_close(w);
        return cli_error(cmd, "%s", e.msg);
    }
    w->has_comp = 1;
    if (!strcmp(comp, "oracle-relevant") && compressor_relevant_set_items(&w->comp, current_item, w, &e)) {
        grid_wiring_close(w);
        return cli_error(cmd, "%s", e.msg);
    }
    return 0;
}

void grid_wiring_set_model(GridWiring *w, const Model *m) {
    w->model = m;
    w->env.base = m;
}

int grid_wiring_close(GridWiring *w) {
    int rc = 0;
    Err e;
    if (w->has_db && db_commit(&w->db, &e)) rc = cli_error(w->cmd ? w->cmd : "grid", "%s", e.msg);
    if (w->has_comp) compressor_destroy(&w->comp);
    evalcache_free(&w->cache);
    if (w->has_db) db_close(&w->db);
    memset(w, 0, sizeof *w);
    return rc;
}

static int hook_keep(void *ctx, const Item *it, const EncodedItem *x, double ratio, unsigned char *keep, Err *e) {
    GridWiring *w = ctx;
    w->current = it;
    PolicyRequest r = {.app = it->app, .item = it->id, .enc = x, .n_prompt = 1 + x->n_system + x->n_query,
                       .output_tokens = 1};
    int k = compressor_keep(&w->comp, &r, ratio, keep, e);
    w->current = NULL;
    return k;
}

static void hook_progress(void *ctx, long done, long total) {
    GridWiring *w = ctx;
    (void)total;
    if (w->show_progress) progress_update(&w->progress, done);
}

void grid_wiring_hooks(GridWiring *w, GridHooks *h, const char *label, long total) {
    *h = (GridHooks){.ctx = w, .keep = hook_keep, .ev = &w->ev, .progress = hook_progress};
    w->show_progress = label != NULL;
    if (label) progress_start(&w->progress, label, total);
}

void grid_wiring_finish_progress(GridWiring *w) {
    if (w->show_progress) progress_finish(&w->progress);
    w->show_progress = 0;
}

/* safe_for_gnuplot: no quotes or backslashes (the path goes inside a gnuplot string). */
static int safe_for_gnuplot(const char *s) { return !strpbrk(s, "'\"\\`$"); }

int grid_write_figure(const char *cmd, const char *dir, const char *name, const char *title, const GridCell *cells,
                      int n_level, int n_ratio, int plot) {
    Err e;
    char dat[2048], png[2048];
    if (io_mkdirs(dir, &e)) return cli_error(cmd, "%s", e.msg);
    snprintf(dat, sizeof dat, "%s/%s.dat", dir, name);
    snprintf(png, sizeof png, "%s/%s.png", dir, name);
    IoAtomic a;
    if (io_atomic_open(&a, dat, &e)) return cli_error(cmd, "%s", e.msg);
    fprintf(a.f, "# %s\n# level ratio accuracy correct total param_fraction kept_fraction\n", title);
    for (int i = 0; i < n_level; i++) {
        for (int j = 0; j < n_ratio; j++) {
            const GridCell *c = &cells[i * n_ratio + j];
            fprintf(a.f, "%.1f %.1f %.6f %ld %ld %.6f %.6f\n", c->level, c->ratio,
                    c->total ? (double)c->correct / (double)c->total : 0.0, c->correct, c->total, c->param_fraction,
                    c->kept_fraction);
        }
        fputc('\n', a.f);
    }
    if (io_atomic_commit(&a, &e)) return cli_error(cmd, "%s", e.msg);
    printf("wrote %s\n", dat);
    if (!plot) return 0;
    const char *script = "analysis/grid_heatmap.gp";
    if (!path_is_file(script) || !safe_for_gnuplot(dat) || !safe_for_gnuplot(title) ||
        system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "elms %s: note: no heatmap drawn (needs gnuplot and %s in the current directory)\n", cmd,
                script);
        return 0;
    }
    char tmp[2100], command[8192];
    snprintf(tmp, sizeof tmp, "%s.tmp.png", png);
    snprintf(command, sizeof command, "gnuplot -e \"datafile='%s'; outfile='%s'; plottitle='%s'\" %s", dat, tmp,
             title, script);
    if (system(command) != 0 || rename(tmp, png) != 0) {
        remove(tmp);
        return cli_error(cmd, "gnuplot failed to draw %s", png);
    }
    printf("wrote %s\n", png);
    return 0;
}
