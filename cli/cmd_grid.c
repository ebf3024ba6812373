/* elms grid: the accuracy of an app's test items at every (model level m, prompt ratio p) of the 9 x 10 elastic
 * grid (elastic/grid.h), with each level's LoRA adapter when present, one prompt compressor, results cached in
 * the database's `evals` table (a rerun computes nothing new), one line `m M p P accuracy X` per configuration,
 * and a gnuplot heatmap in results/figures/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_args.h"
#include "cli/grid_wiring.h"
#include "elastic/grid.h"

/* parse_list: "0.2,0.5" into indices of table (n values); "all" or NULL = every one. Returns the count or -1. */
static int parse_list(const char *flag, const char *s, const double *table, int n, int *idx) {
    if (!s || !strcmp(s, "all")) {
        for (int i = 0; i < n; i++) idx[i] = i;
        return n;
    }
    int k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        int found = -1;
        for (int i = 0; i < n && end != p; i++)
            if (v > table[i] - 1e-6 && v < table[i] + 1e-6) found = i;
        if (found < 0 || k >= n || (*end && *end != ',')) {
            fprintf(stderr, "elms grid: --%s expects values of the grid separated by commas, got '%s'\n", flag, s);
            return -1;
        }
        idx[k++] = found;
        p = *end ? end + 1 : end;
    }
    return k;
}

/* base_name: the last component of a directory path (for figure names). */
static void base_name(const char *path, char *out, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/') s--;
    snprintf(out, cap, "%.*s", (int)(n - s), path + s);
}

/* cmp_int: ascending indices: m ascending (LEVELS order), p descending (RATIOS order). */
static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static int cmd_grid(int argc, char **argv) {
    CliFlag fl[] = {
        {"model", "DIR", "model directory (an elastic one for the paper's grid)", NULL},
        {"app", "A", "app whose items are evaluated (DATA/items/A/SPLIT.jsonl)", NULL},
        {"compressor", "C", "prompt compressor: none, random, oracle-relevant, ...", "random"},
        {"items", "N", "evaluate only the first N items (default: all)", NULL},
        {"db", "FILE", "results database holding the evaluation cache ('none': no cache)", "results/elms.db"},
        {"data", "DIR", "data directory", "data"},
        {"split", "NAME", "item split", "test"},
        {"no-lora", NULL, "run the levels without their recovery adapters", NULL},
        {"levels-from", "DIR", "directory whose elastic.json anchors define the levels (default: --model); with it no "
                               "adapters are used (evaluates the original model's prefixes with the elastic anchors)", NULL},
        {"m", "LIST", "model levels to evaluate (comma-separated, default all)", NULL},
        {"p", "LIST", "prompt ratios to evaluate (comma-separated, default all)", NULL},
        {"seed", "S", "compressor seed (the simulator's default, so both share cached evaluations)", "42"},
        {"figures", "DIR", "where the heatmap goes", "results/figures"},
        {"no-plot", NULL, "write the data file only", NULL},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms grid --model M --app A --compressor C [--items N] [--db DB] [--data DATA]",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || !fl[1].value) {
        fprintf(stderr, "elms grid: --model and --app are required (see --help)\n");
        return 2;
    }
    long n_items = 0, seed;
    if ((fl[3].value && cli_int("grid", "items", fl[3].value, 1, 100000000L, &n_items)) ||
        cli_int("grid", "seed", fl[11].value, 0, 4294967295L, &seed))
        return 2;
    int lidx[N_LEVELS], ridx[N_RATIOS];
    int nl = parse_list("m", fl[9].value, LEVELS, N_LEVELS, lidx), np = parse_list("p", fl[10].value, RATIOS, N_RATIOS, ridx);
    if (nl < 0 || np < 0) return 2;
    qsort(lidx, (size_t)nl, sizeof *lidx, cmp_int);
    qsort(ridx, (size_t)np, sizeof *ridx, cmp_int);
    const char *app = fl[1].value, *comp = fl[2].value, *db = strcmp(fl[4].value, "none") ? fl[4].value : NULL;
    /* adapters belong to the model they were trained on: none when the levels come from another directory */
    int use_lora = fl[7].value == NULL && fl[8].value == NULL;
    const char *levels_dir = fl[8].value ? fl[8].value : fl[0].value;

    char path[2048];
    snprintf(path, sizeof path, "%s/items/%s/%s.jsonl", fl[5].value, app, fl[6].value);
    ItemSet items;
    Err e;
    if (items_read(&items, path, &e)) return cli_error("grid", "%s", e.msg);
    if (n_items > 0 && n_items < items.n) {
        for (int i = (int)n_items; i < items.n; i++) item_free(&items.items[i]);
        items.n = (int)n_items;
    }
    if (items.n == 0) {
        items_free(&items);
        return cli_error("grid", "%s: no items", path);
    }
    EngineModel em;
    if (engine_model_load("grid", fl[0].value, &em)) {
        items_free(&items);
        return 1;
    }
    int rc = 1;
    LevelSet set;
    GridWiring w;
    memset(&set, 0, sizeof set);
    memset(&w, 0, sizeof w);
    GridCell *cells = NULL;
    if (!em.has_tok) {
        cli_error("grid", "%s has no tokenizer.json", fl[0].value);
        goto done;
    }
    if (levelset_load(&set, &em.model, levels_dir, use_lora, &e)) {
        cli_error("grid", "%s", e.msg);
        goto done;
    }
    if (grid_wiring_open(&w, "grid", db, comp, (unsigned long)seed, &em.model, &em.tok)) goto done;
    GridSpec g;
    grid_spec_init(&g, &em.model, &em.tok, &set);
    g.use_lora = use_lora;
    g.compresses = w.comp.compresses;
    g.n_level = nl;
    g.n_ratio = np;
    memcpy(g.level_idx, lidx, sizeof lidx);
    memcpy(g.ratio_idx, ridx, sizeof ridx);
    cells = calloc((size_t)nl * (size_t)np, sizeof *cells);
    if (!cells) {
        cli_error("grid", "out of memory");
        goto done;
    }
    GridHooks h;
    grid_wiring_hooks(&w, &h, "grid", (long)items.n * nl * np);
    int run = grid_run(&g, &items, &h, cells, &e);
    grid_wiring_finish_progress(&w);
    if (run) {
        cli_error("grid", "%s", e.msg);
        goto done;
    }
    long computed = 0, total = 0;
    for (int i = 0; i < nl; i++)
        for (int j = 0; j < np; j++) {
            const GridCell *c = &cells[i * np + j];
            printf("m %.1f p %.1f accuracy %.4f\n", c->level, c->ratio, (double)c->correct / (double)c->total);
            computed += c->computed;
            total += c->total;
        }
    printf("model_hash %s items %d lora %s (%d adapters) compressor %s seed %ld\n", em.model.hash, items.n,
           use_lora ? "on" : "off", set.n_lora, comp, seed);
    printf("computed %ld of %ld evaluations (the rest from the cache)\n", computed, total);
    if (!db) printf("no database: nothing cached\n");
    rc = 0;
    if (nl > 1 && np > 1) {
        char model[256], name[512], title[1024];
        base_name(fl[0].value, model, sizeof model);
        snprintf(name, sizeof name, "grid_%s_%s_%s%s", model, app, comp, use_lora ? "" : "_nolora");
        snprintf(title, sizeof title, "%s: %s, compressor %s%s, %d items", model, app, comp,
                 use_lora ? "" : ", no LoRA", items.n);
        rc = grid_write_figure("grid", fl[12].value, name, title, cells, nl, np, fl[13].value == NULL);
    }
done:
    free(cells);
    if (grid_wiring_close(&w) && !rc) rc = 1;
    levelset_free(&set);
    engine_model_free(&em);
    items_free(&items);
    return rc;
}

CLI_COMMAND("grid", "accuracy of an app at every (model level, prompt ratio) of the elastic grid", cmd_grid)
