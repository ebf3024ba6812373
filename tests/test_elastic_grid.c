/* The accuracy grid: cells against direct scoring, a rerun against the results database computes nothing, a
 * compressor that does not compress is evaluated once per level, the oracle-relevant compressor keeps the
 * relevant spans first, and `elms grid` prints one line per (m, p) and reuses its cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "elastic/grid.h"
#include "engine/io.h"
#include "engine/score.h"
#include "policies/compressor.h"
#include "policies/compressor_relevant.h"
#include "sim/db.h"
#include "sim/evalcache.h"
#include "tests/test.h"
#include "tests/test_elastic_fixture.h"
#include "tests/util.h"

#define N_WORDS 58

/* The wiring `elms grid` uses, rebuilt from the library parts: compressor + an evaluator whose store is the
 * evaluation cache on a database. */
typedef struct Wire {
    Compressor comp;
    EvalCache cache;
} Wire;

static int w_keep(void *ctx, const Item *it, const EncodedItem *x, double ratio, unsigned char *keep, Err *e) {
    Wire *w = ctx;
    PolicyRequest r = {.app = it->app, .item = it->id, .enc = x, .n_prompt = 1 + x->n_system + x->n_query};
    return compressor_keep(&w->comp, &r, ratio, keep, e);
}

/* A tiny world: model, tokenizer, items, level views (anchor: layer 0). */
typedef struct World {
    ModelConfig c;
    Model m;
    Tokenizer tok;
    ItemSet items;
    LevelSet levels;
} World;

static void world_init(World *w, int n_items) {
    w->c = fx_config(N_WORDS);
    util_model(&w->m, &w->c, 12);
    fx_tokenizer(&w->tok, N_WORDS);
    fx_items(&w->items, "facts", n_items, N_WORDS, 3);
    memset(&w->levels, 0, sizeof w->levels);
    w->levels.anchor[0] = 1;
    w->levels.n_anchors = 1;
    Err e;
    for (int i = 0; i < N_LEVELS; i++) levels_view(&w->m, w->levels.anchor, LEVELS[i], &w->levels.view[i], &e);
}

static void world_free(World *w) {
    items_free(&w->items);
    tokenizer_free(&w->tok);
    model_free(&w->m);
}

TEST(elastic_grid_cells_and_cache) {
    World w;
    world_init(&w, 6);
    char db_path[1200];
    snprintf(db_path, sizeof db_path, "%s/grid.db", test_tmpdir());
    Err e;
    GridSpec g;
    grid_spec_init(&g, &w.m, &w.tok, &w.levels);
    g.compresses = true;
    GridCell a[N_LEVELS * N_RATIOS], b[N_LEVELS * N_RATIOS];
    long computed[2] = {0, 0};
    for (int run = 0; run < 2; run++) {
        Db db;
        Wire wire;
        CHECK(db_open(&db, db_path, &e) == 0);
        evalcache_init(&wire.cache, &db);
        CHECK(compressor_create(&wire.comp, "random", NULL, &e) == 0);
        EvalStore store = evalcache_store(&wire.cache);
        Evaluator ev;
        evaluator_init(&ev, &w.tok, &w.m, &store);
        GridHooks h = {.ctx = &wire, .keep = w_keep, .ev = &ev};
        CHECK_MSG(grid_run(&g, &w.items, &h, run ? b : a, &e) == 0, "%s", e.msg);
        for (int k = 0; k < N_LEVELS * N_RATIOS; k++) computed[run] += (run ? b : a)[k].computed;
        compressor_destroy(&wire.comp);
        evalcache_free(&wire.cache);
        db_close(&db);
    }
    CHECK_MSG(computed[0] > 6 * N_LEVELS * 5 && computed[0] <= 6 * N_LEVELS * N_RATIOS, "computed %ld", computed[0]);
    CHECK_MSG(computed[1] == 0, "the rerun computed %ld evaluations", computed[1]);
    for (int k = 0; k < N_LEVELS * N_RATIOS; k++) {
        CHECK(a[k].total == 6 && b[k].total == 6 && a[k].correct == b[k].correct);
        CHECK(a[k].level == LEVELS[k / N_RATIOS] && a[k].ratio == RATIOS[k % N_RATIOS]);
    }
    CHECK(a[0].param_fraction < a[N_LEVELS * N_RATIOS - 1].param_fraction);
    CHECK(a[N_LEVELS * N_RATIOS - 1].kept_fraction < a[N_LEVELS * N_RATIOS - N_RATIOS].kept_fraction);
    CHECK(a[(N_LEVELS - 1) * N_RATIOS].kept_fraction == 1.0);

    /* independent reference for cell (m = 0.5, p = 0.5): the compressor's mask, the prompt, direct scoring */
    Compressor comp;
    compressor_create(&comp, "random", NULL, &e);
    long correct = 0;
    for (int i = 0; i < w.items.n; i++) {
        EncodedItem x;
        CHECK(item_encode(&w.tok, &w.items.items[i], &x, &e) == 0);
        unsigned char keep[64];
        int prompt[128];
        PolicyRequest r = {.app = "facts", .item = w.items.items[i].id, .enc = &x};
        CHECK(compressor_keep(&comp, &r, 0.5, keep, &e) >= 0);
        int n = item_prompt(&x, keep, 1, prompt);
        ScoreResult s;
        CHECK(score_choices(&w.m, &w.levels.view[3], prompt, n, (const int *const *)x.choices, x.choice_len,
                            x.n_choices, &s, &e) == 0);
        correct += s.best == x.answer;
        score_result_free(&s);
        encoded_item_free(&x);
    }
    CHECK_MSG(a[3 * N_RATIOS + 5].correct == correct, "grid %ld vs direct %ld", a[3 * N_RATIOS + 5].correct, correct);
    compressor_destroy(&comp);
    world_free(&w);
}

TEST(elastic_grid_no_compression_once_per_level) {
    World w;
    world_init(&w, 5);
    GridSpec g;
    grid_spec_init(&g, &w.m, &w.tok, &w.levels);
    g.compresses = false;
    g.n_level = 2;
    g.level_idx[0] = 0;
    g.level_idx[1] = 8;
    GridCell cells[2 * N_RATIOS];
    Err e;
    CHECK_MSG(grid_run(&g, &w.items, NULL, cells, &e) == 0, "%s", e.msg);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < N_RATIOS; b++) {
            const GridCell *c = &cells[a * N_RATIOS + b];
            CHECK(c->computed == (b == 0 ? 5 : 0) && c->total == 5 && c->kept_fraction == 1.0);
            CHECK(c->correct == cells[a * N_RATIOS].correct);
        }
    /* a compressing grid without a keep hook is refused, as is an empty selection */
    g.compresses = true;
    CHECK(grid_run(&g, &w.items, NULL, cells, &e) == -1);
    g.compresses = false;
    g.n_ratio = 0;
    CHECK(grid_run(&g, &w.items, NULL, cells, &e) == -1);
    world_free(&w);
}

static const Item *lookup(void *ctx, const char *app, const char *item) {
    const ItemSet *s = ctx;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].app, app) && !strcmp(s->items[i].id, item)) return &s->items[i];
    return NULL;
}

TEST(elastic_compressor_oracle_relevant) {
    World w;
    world_init(&w, 3);
    Compressor c;
    Err e;
    PolicyEnv env = {.seed = 7};
    CHECK_MSG(compressor_create(&c, "oracle-relevant", &env, &e) == 0, "%s", e.msg);
    CHECK(c.compresses);
    EncodedItem x;
    const Item *it = &w.items.items[1];
    CHECK(item_encode(&w.tok, it, &x, &e) == 0);
    PolicyRequest r = {.app = it->app, .item = it->id, .enc = &x};
    unsigned char keep[64], again[64];
    CHECK(compressor_keep(&c, &r, 0.5, keep, &e) == -1); /* no item lookup yet */
    CHECK_MSG(strstr(e.msg, "relevant") != NULL, "%s", e.msg);
    CHECK(compressor_relevant_set_items(&c, lookup, &w.items, &e) == 0);
    int S = x.n_system, Q = x.n_query;
    for (int ri = 0; ri < N_RATIOS; ri++) {
        int k = compressor_keep(&c, &r, RATIOS[ri], keep, &e);
        CHECK(k == levels_kept_system(S, Q, RATIOS[ri]));
        /* the relevant span [2, 6) is kept first */
        for (int i = 2; i < 6; i++) CHECK(keep[i] == (i - 2 < k));
        CHECK(compressor_keep(&c, &r, RATIOS[ri], again, &e) == k && !memcmp(keep, again, (size_t)S));
    }
    PolicyRequest unknown = r;
    unknown.item = "nope";
    CHECK(compressor_keep(&c, &unknown, 0.5, keep, &e) == -1);
    Compressor rnd;
    CHECK(compressor_create(&rnd, "random", &env, &e) == 0);
    CHECK(compressor_relevant_set_items(&rnd, lookup, &w.items, &e) == -1);
    compressor_destroy(&rnd);
    encoded_item_free(&x);
    compressor_destroy(&c);
    world_free(&w);
}

TEST(elastic_grid_cli_lines_and_rerun) {
    World w;
    world_init(&w, 4);
    const char *tmp = test_tmpdir();
    char model[1200], items[1400], dir[1300], args[4096];
    snprintf(model, sizeof model, "%s/m", tmp);
    snprintf(dir, sizeof dir, "%s/data/items/facts", tmp);
    snprintf(items, sizeof items, "%s/test.jsonl", dir);
    fx_write_dir(model, &w.m, &w.tok);
    Err e;
    CHECK(io_mkdirs(dir, &e) == 0);
    CHECK(items_write(&w.items, items, &e) == 0);
    snprintf(args, sizeof args, "grid --model %s --app facts --compressor random --data %s/data --db %s/r.db "
                                "--figures %s/fig --no-plot --items 3", model, tmp, tmp, tmp);
    char *text = NULL;
    int st = test_run_cli(args, &text);
    CHECK_MSG(st == 0, "exit %d: %s", st, text);
    int lines = 0;
    for (const char *q = text; (q = strstr(q, "\nm ")) != NULL; q++) lines++;
    if (!strncmp(text, "m ", 2)) lines++;
    CHECK_MSG(lines == N_LEVELS * N_RATIOS, "%d grid lines in: %s", lines, text);
    double m, p, acc;
    CHECK(sscanf(strstr(text, "m 0.5 p 0.3 "), "m %lf p %lf accuracy %lf", &m, &p, &acc) == 3 && acc >= 0 && acc <= 1);
    CHECK(strstr(text, "computed 0 of") == NULL);
    free(text);
    st = test_run_cli(args, &text);
    CHECK_MSG(st == 0 && strstr(text, "computed 0 of 270 evaluations"), "exit %d: %s", st, text);
    free(text);
    char dat[1400];
    snprintf(dat, sizeof dat, "%s/fig/grid_m_facts_random.dat", tmp);
    FILE *f = fopen(dat, "r");
    CHECK(f != NULL);
    if (f) fclose(f);
    snprintf(args, sizeof args, "grid --model %s --app facts --compressor nosuch --data %s/data --db none", model, tmp);
    st = test_run_cli(args, &text);
    CHECK(st == 1 && strstr(text, "unknown compressor"));
    free(text);
    snprintf(args, sizeof args, "grid --model %s --app facts --p 0.35 --data %s/data", model, tmp);
    CHECK(test_run_cli(args, &text) == 2);
    free(text);
    world_free(&w);
}
