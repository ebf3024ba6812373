/* elms reorder: one-shot neuron reordering of a model directory into an elastic one: Taylor importance and
 * leave-one-layer-out anchors on calibration windows of the training corpus, every layer permuted into
 * descending importance, written (atomically, via OUT.tmp) with tokenizer.json and elastic.json. The written
 * model is reloaded and its logits compared with the original's: `max_abs_diff X`, failing above 1e-4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "elastic/anchors.h"
#include "elastic/dirs.h"
#include "elastic/reorder.h"
#include "engine/io.h"

#define REORDER_MAX_DIFF 1e-4

/* tail_path: the last n components of p (never an absolute machine path in the written metadata). */
static const char *tail_path(const char *p, int n) {
    const char *s = p + strlen(p);
    while (s > p && s[-1] == '/') s--; /* trailing slashes */
    int seen = 0;
    for (const char *q = s; q > p; q--)
        if (q[-1] == '/' && ++seen == n) return q;
    return p[0] == '/' ? p + 1 : p;
}

static int cmd_reorder(int argc, char **argv) {
    CliFlag fl[] = {
        {"model", "DIR", "model directory to reorder (config.json, model.safetensors, tokenizer.json)", NULL},
        {"out", "DIR", "elastic model directory to write", NULL},
        {"data", "DIR", "data directory; calibration windows come from DIR/corpus/train.bin", "data"},
        {"corpus", "FILE", "token file to calibrate on instead of DATA/corpus/train.bin", NULL},
        {"samples", "N", "calibration windows (the paper: 10)", "10"},
        {"seq", "T", "tokens per calibration window (the paper: 64)", "64"},
        {"anchors", "N", "anchor layers (default: about a fifth of the layers while level 0.2 stays reachable)", NULL},
        {"seed", "S", "seed of the calibration windows", "1"},
        {"batch", "B", "windows per micro-batch of the importance backward pass", "10"},
        {"dtype", "T", "stored weights: f32, f16, or auto (the source's: F16 stays F16, anything else F32)", "auto"},
        {"check-windows", "N", "calibration windows for the logit check of the written model (0: all)", "4"},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms reorder --model DIR --out DIR [--data DIR | --corpus FILE] [--samples N "
                                   "--seq T --anchors N --seed S]",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || !fl[1].value) {
        fprintf(stderr, "elms reorder: --model and --out are required (see --help)\n");
        return 2;
    }
    long samples, seq, anchors = -1, seed, batch, check;
    StDtype dtype;
    if (cli_int("reorder", "samples", fl[4].value, 1, 100000, &samples) ||
        cli_int("reorder", "seq", fl[5].value, 1, 1 << 20, &seq) ||
        (fl[6].value && cli_int("reorder", "anchors", fl[6].value, 0, ELMS_MAX_LAYERS, &anchors)) ||
        cli_int("reorder", "seed", fl[7].value, 0, 4294967295L, &seed) ||
        cli_int("reorder", "batch", fl[8].value, 1, 100000, &batch) ||
        cli_int("reorder", "check-windows", fl[10].value, 0, 100000, &check))
        return 2;
    int auto_dtype = !strcmp(fl[9].value, "auto");
    if (!auto_dtype && (st_dtype_parse(fl[9].value, &dtype) || dtype == ST_BF16)) {
        fprintf(stderr, "elms reorder: --dtype expects f32, f16 or auto, got '%s'\n", fl[9].value);
        return 2;
    }
    const char *src = fl[0].value, *out = fl[1].value;
    if (!strcmp(src, out))
        return fprintf(stderr, "elms reorder: --out must differ from --model\n"), 2;
    char corpus[2048], tmp[2048], path[2200];
    if (fl[3].value) snprintf(corpus, sizeof corpus, "%s", fl[3].value);
    else snprintf(corpus, sizeof corpus, "%s/corpus/train.bin", fl[2].value);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", out) >= sizeof tmp) return cli_error("reorder", "--out too long");

    Err e;
    Model orig, m, back;
    memset(&m, 0, sizeof m);
    memset(&back, 0, sizeof back);
    TokenData data = {0};
    Calib cal = {0};
    ElasticMeta meta = {0};
    int rc = 1;
    if (model_load(&orig, src, &e)) return cli_error("reorder", "%s", e.msg);
    if (auto_dtype) dtype = model_stored_dtype(src);
    if (seq > orig.cfg.max_seq) {
        cli_error("reorder", "--seq %ld exceeds the model context of %d", seq, orig.cfg.max_seq);
        goto done;
    }
    if (anchors > orig.cfg.n_layers) {
        cli_error("reorder", "--anchors %ld exceeds the %d layers of the model", anchors, orig.cfg.n_layers);
        goto done;
    }
    if (data_load(&data, corpus, orig.cfg.vocab_size, &e) ||
        calib_sample(&cal, &data, (int)samples, (int)seq, (unsigned long)seed, &e) || model_copy(&orig, &m, &e)) {
        cli_error("reorder", "%s", e.msg);
        goto done;
    }
    ReorderOpts ro = {.n_anchors = (int)anchors, .batch = (int)batch};
    ReorderCost cost;
    if (reorder_prepare(&m, &cal, &ro, &meta, &cost, &e)) {
        cli_error("reorder", "%s", e.msg);
        goto done;
    }
    meta.calib_seed = (unsigned long)seed;
    snprintf(meta.corpus, sizeof meta.corpus, "%s", tail_path(corpus, 2));
    snprintf(meta.source, sizeof meta.source, "%s", tail_path(src, 1));
    /* write OUT.tmp, reload it, compare, then swap it in */
    if (dir_remove_tree(tmp, &e) || model_save(&m, tmp, dtype, &e)) {
        cli_error("reorder", "%s", e.msg);
        goto done;
    }
    char tok_src[2200];
    snprintf(tok_src, sizeof tok_src, "%s/tokenizer.json", src);
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    if (path_is_file(tok_src) && dir_copy_file(tok_src, path, &e)) {
        cli_error("reorder", "%s", e.msg);
        goto fail_tmp;
    }
    double diff = 0;
    if (model_load_staged(&back, tmp, &e) || calib_logits_diff(&orig, &back, &cal, (int)check, &diff, &e)) {
        cli_error("reorder", "%s", e.msg);
        goto fail_tmp;
    }
    meta.max_abs_diff = diff;
    printf("max_abs_diff %.3g\n", diff);
    if (!(diff <= REORDER_MAX_DIFF)) {
        cli_error("reorder", "the reordered model's logits differ from the original's by %.3g > %g", diff,
                  REORDER_MAX_DIFF);
        goto fail_tmp;
    }
    snprintf(path, sizeof path, "%s/elastic.json", tmp);
    if (elastic_meta_write(&meta, path, &e) || dir_replace(tmp, out, &e)) {
        cli_error("reorder", "%s", e.msg);
        goto fail_tmp;
    }
    printf("calibration %d windows x %d tokens, loss %.4f\n", cal.n, cal.seq, meta.calib_loss);
    printf("leave-one-out loss:");
    for (int l = 0; l < meta.n_layers; l++) printf(" %.4f", meta.loo_loss[l]);
    printf("\nanchors %d:", meta.n_anchors);
    for (int i = 0; i < meta.n_anchors; i++) printf(" %d", meta.anchors[i]);
    printf("  (smallest reachable level %.3f)\n", anchors_min_fraction(&m.cfg, meta.n_anchors));
    unsigned char anchor[ELMS_MAX_LAYERS];
    elastic_meta_anchor_mask(&meta, anchor);
    int shown = 0; /* the first non-anchor layer: the widths every shrunk layer has */
    while (shown < meta.n_layers - 1 && anchor[shown]) shown++;
    for (int i = 0; i < meta.n_levels; i++) {
        const ElasticLevel *L = &meta.levels[i];
        int l = shown;
        printf("level %.1f param_fraction %.4f attn_units %d/%d ffn_units %d/%d\n", L->level, L->param_fraction,
               L->attn_units[l], m.cfg.n_kv_heads, L->ffn_units[l], m.cfg.ffn_dim);
    }
    printf("cost importance %.2f cpu_s (%.2f s), anchors %.2f cpu_s (%.2f s), total %.3f cpu_min\n",
           cost.importance_cpu, cost.importance_wall, cost.anchors_cpu, cost.anchors_wall,
           (cost.importance_cpu + cost.anchors_cpu) / 60.0);
    printf("wrote %s (%s)\n", out, st_dtype_name(dtype));
    rc = 0;
    goto done;
fail_tmp:
    if (dir_remove_tree(tmp, &e)) cli_error("reorder", "%s", e.msg);
done:
    elastic_meta_free(&meta);
    calib_free(&cal);
    data_free(&data);
    model_free(&back);
    model_free(&m);
    model_free(&orig);
    return rc;
}

CLI_COMMAND("reorder", "reorder a model into an elastic one (importance, anchors, elastic.json)", cmd_reorder)
