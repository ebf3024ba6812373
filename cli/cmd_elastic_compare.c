/* elms elastic-compare: the reordering acceptance table. At every model level, on the full prompt (p = 1), the
 * macro accuracy over apps of three sub-models of the same widths: the original model's prefix (original unit
 * order; the elastic model's anchors), the reordered prefix without LoRA, and the reordered prefix with the
 * level's LoRA adapter. Evaluations go through the same cache as `elms grid` and `elms sim`. The same three
 * are also compared by their next-token loss on held-out corpus windows (DATA/corpus/val.bin), a less noisy
 * signal than accuracy on a few hundred items. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "cli/engine_args.h"
#include "cli/grid_wiring.h"
#include "elastic/calib.h"
#include "elastic/grid.h"

#define CMP_MAX_APPS 16
#define CMP_VARIANTS 3

static const char *const VARIANT_NAME[CMP_VARIANTS] = {"original", "reordered", "reordered_lora"};

/* run_variant: accuracy (N_LEVELS) of items at p = 1 for model m with levels s. Returns 0 or 1 (printed). */
static int run_variant(GridWiring *w, const Model *m, const Tokenizer *tok, const LevelSet *s, bool lora,
                       const ItemSet *items, const char *label, double *acc) {
    GridSpec g;
    grid_spec_init(&g, m, tok, s);
    g.use_lora = lora;
    g.compresses = false;
    g.n_ratio = 1;
    g.ratio_idx[0] = 0;
    grid_wiring_set_model(w, m);
    GridHooks h;
    grid_wiring_hooks(w, &h, label, (long)items->n * N_LEVELS);
    GridCell cells[N_LEVELS];
    Err e;
    int rc = grid_run(&g, items, &h, cells, &e);
    grid_wiring_finish_progress(w);
    if (rc) return cli_error("elastic-compare", "%s", e.msg);
    for (int i = 0; i < N_LEVELS; i++) acc[i] = (double)cells[i].correct / (double)cells[i].total;
    return 0;
}

/* print_losses: held-out loss of the three sub-models per level. Returns 0 or 1 (printed). */
static int print_losses(const Model *orig, const Model *el, const LevelSet *s_orig, const LevelSet *s_el,
                        const char *data, int windows, int seq) {
    char path[2048];
    snprintf(path, sizeof path, "%s/corpus/val.bin", data);
    if (!path_is_file(path)) {
        fprintf(stderr, "elms elastic-compare: note: no %s, no held-out losses\n", path);
        return 0;
    }
    if (seq > el->cfg.max_seq) seq = el->cfg.max_seq;
    TokenData d;
    Calib c;
    Err e;
    if (data_load(&d, path, el->cfg.vocab_size, &e)) return cli_error("elastic-compare", "%s", e.msg);
    int rc = calib_sample(&c, &d, windows, seq, 1, &e) ? cli_error("elastic-compare", "%s", e.msg) : 0;
    for (int i = 0; !rc && i < N_LEVELS; i++) {
        ElasticView plain = s_el->view[i];
        plain.lora = NULL;
        double l[CMP_VARIANTS];
        if (calib_loss(orig, &s_orig->view[i], &c, &l[0], &e) || calib_loss(el, &plain, &c, &l[1], &e) ||
            calib_loss(el, &s_el->view[i], &c, &l[2], &e))
            rc = cli_error("elastic-compare", "%s", e.msg);
        else
            printf("level %.1f val_loss original %.4f reordered %.4f reordered_lora %.4f\n", LEVELS[i], l[0], l[1],
                   l[2]);
    }
    if (!rc) printf("val_loss on %d windows of %d tokens of corpus/val.bin\n", c.n, c.seq);
    calib_free(&c);
    data_free(&d);
    return rc;
}

static int cmd_elastic_compare(int argc, char **argv) {
    CliFlag fl[] = {
        {"original", "DIR", "the model before reordering", NULL},
        {"elastic", "DIR", "its reordered directory (elastic.json anchors, lora/ adapters)", NULL},
        {"apps", "LIST", "apps to average over", "facts,science,funcall,uinav,physical,reading"},
        {"items", "N", "first N items of each app (default: all)", NULL},
        {"data", "DIR", "data directory", "data"},
        {"split", "NAME", "item split", "test"},
        {"db", "FILE", "results database holding the evaluation cache ('none': no cache)", "results/elms.db"},
        {"loss-windows", "N", "windows of DATA/corpus/val.bin for the held-out loss per level (0: none)", "32"},
        {"loss-seq", "T", "tokens per loss window", "128"},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms elastic-compare --original DIR --elastic DIR [--apps LIST] [--items N] "
                                   "[--data DIR] [--db FILE]",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || !fl[1].value) {
        fprintf(stderr, "elms elastic-compare: --original and --elastic are required (see --help)\n");
        return 2;
    }
    long n_items = 0, loss_windows, loss_seq;
    if ((fl[3].value && cli_int("elastic-compare", "items", fl[3].value, 1, 100000000L, &n_items)) ||
        cli_int("elastic-compare", "loss-windows", fl[7].value, 0, 1000000, &loss_windows) ||
        cli_int("elastic-compare", "loss-seq", fl[8].value, 1, 1 << 20, &loss_seq))
        return 2;
    char apps_buf[1024];
    snprintf(apps_buf, sizeof apps_buf, "%s", fl[2].value);
    const char *apps[CMP_MAX_APPS];
    int n_apps = 0;
    for (char *t = strtok(apps_buf, ","); t; t = strtok(NULL, ","))
        if (*t && n_apps < CMP_MAX_APPS) apps[n_apps++] = t;
    if (n_apps == 0) {
        fprintf(stderr, "elms elastic-compare: --apps is empty\n");
        return 2;
    }
    const char *db = strcmp(fl[6].value, "none") ? fl[6].value : NULL;
    EngineModel orig, el;
    if (engine_model_load("elastic-compare", fl[0].value, &orig)) return 1;
    if (engine_model_load("elastic-compare", fl[1].value, &el)) {
        engine_model_free(&orig);
        return 1;
    }
    int rc = 1;
    LevelSet s_orig, s_el;
    GridWiring w;
    memset(&s_orig, 0, sizeof s_orig);
    memset(&s_el, 0, sizeof s_el);
    memset(&w, 0, sizeof w);
    Err e;
    static double acc[CMP_MAX_APPS][CMP_VARIANTS][N_LEVELS];
    if (memcmp(&orig.model.cfg, &el.model.cfg, sizeof orig.model.cfg) || !el.has_tok) {
        cli_error("elastic-compare", "%s and %s must have the same configuration, and a tokenizer.json", fl[0].value,
                  fl[1].value);
        goto done;
    }
    /* the original model's levels use the elastic model's anchors (anchor choice does not depend on unit order) */
    if (levelset_load(&s_orig, &orig.model, fl[1].value, false, &e) || levelset_load(&s_el, &el.model, fl[1].value, true, &e)) {
        cli_error("elastic-compare", "%s", e.msg);
        goto done;
    }
    if (grid_wiring_open(&w, "elastic-compare", db, "none", 0, &el.model, &el.tok)) goto done;
    for (int a = 0; a < n_apps; a++) {
        char path[2048], label[128];
        snprintf(path, sizeof path, "%s/items/%s/%s.jsonl", fl[4].value, apps[a], fl[5].value);
        ItemSet items;
        if (items_read(&items, path, &e)) {
            cli_error("elastic-compare", "%s", e.msg);
            goto done;
        }
        if (n_items > 0 && n_items < items.n) {
            for (int i = (int)n_items; i < items.n; i++) item_free(&items.items[i]);
            items.n = (int)n_items;
        }
        int bad = items.n == 0 ? cli_error("elastic-compare", "%s: no items", path) : 0;
        for (int v = 0; v < CMP_VARIANTS && !bad; v++) {
            snprintf(label, sizeof label, "%s %s", apps[a], VARIANT_NAME[v]);
            bad = v == 0 ? run_variant(&w, &orig.model, &el.tok, &s_orig, false, &items, label, acc[a][v])
                         : run_variant(&w, &el.model, &el.tok, &s_el, v == 2, &items, label, acc[a][v]);
        }
        if (!bad)
            for (int i = 0; i < N_LEVELS; i++)
                printf("app %s level %.1f original %.4f reordered %.4f reordered_lora %.4f\n", apps[a], LEVELS[i],
                       acc[a][0][i], acc[a][1][i], acc[a][2][i]);
        fflush(stdout);
        items_free(&items);
        if (bad) goto done;
    }
    int beats = 0, lora_better = 0;
    char lora_levels[256] = "";
    for (int i = 0; i < N_LEVELS; i++) {
        double m[CMP_VARIANTS] = {0};
        for (int v = 0; v < CMP_VARIANTS; v++) {
            for (int a = 0; a < n_apps; a++) m[v] += acc[a][v][i];
            m[v] /= n_apps;
        }
        printf("level %.1f param_fraction %.4f macro original %.4f reordered %.4f reordered_lora %.4f\n", LEVELS[i],
               view_param_fraction(&el.model, &s_el.view[i]), m[0], m[1], m[2]);
        if (i == N_LEVELS - 1) continue; /* level 1.0: the same full model three times */
        beats += m[1] > m[0];
        if (m[2] > m[1]) {
            lora_better++;
            size_t len = strlen(lora_levels);
            snprintf(lora_levels + len, sizeof lora_levels - len, " %.1f", LEVELS[i]);
        }
    }
    printf("reordered beats original at %d of %d levels; LoRA improves the reordered prefix at %d of %d levels:%s\n",
           beats, N_LEVELS - 1, lora_better, N_LEVELS - 1, lora_better ? lora_levels : " none");
    if (loss_windows > 0 && print_losses(&orig.model, &el.model, &s_orig, &s_el, fl[4].value, (int)loss_windows,
                                         (int)loss_seq))
        goto done;
    printf("adapters loaded %d of %d\n", s_el.n_lora, N_LEVELS - 1);
    rc = 0;
done:
    if (grid_wiring_close(&w) && !rc) rc = 1;
    levelset_free(&s_el);
    levelset_free(&s_orig);
    engine_model_free(&el);
    engine_model_free(&orig);
    return rc;
}

CLI_COMMAND("elastic-compare", "reordered vs original-order prefixes (with and without LoRA) per level",
            cmd_elastic_compare)
