/* LoRA recovery per level: an adapter trained at a level's view lowers that view's loss, is saved under lora/,
 * is picked up by levelset_load, and a switch (view + adapter pointer) gives the same logits as building the
 * level's view from scratch; an interrupted training resumes to the same adapter bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileutil.h"
#include "elastic/elastic_meta.h"
#include "elastic/recover.h"
#include "elastic/reorder.h"
#include "engine/io.h"
#include "tests/test.h"
#include "tests/test_elastic_fixture.h"
#include "tests/util.h"

#define N_WORDS 58

/* small_opts: a few quick steps on a tiny model. */
static void small_opts(RecoverOpts *o, const ModelConfig *c, long steps) {
    recover_opts_default(o, c);
    o->train.batch = 4;
    o->train.seq = 32;
    o->train.steps = steps;
    o->train.warmup = 2;
    o->train.lr = 1e-2f;
    o->train.min_lr = 1e-3f;
    o->ckpt_every = 5;
    o->eval_windows = 8;
}

/* write_meta: elastic.json with the given anchor for dir (so levelset_load sees the training anchors). */
static void write_meta(const Model *m, const char *dir, int anchor_layer) {
    ElasticMeta x;
    Err e;
    elastic_meta_alloc(&x, &m->cfg, &e);
    x.n_anchors = 1;
    x.anchors[0] = anchor_layer;
    reorder_level_table(m, &x, &e);
    char path[1400];
    snprintf(path, sizeof path, "%s/elastic.json", dir);
    io_mkdirs(dir, &e);
    if (elastic_meta_write(&x, path, &e)) fprintf(stderr, "%s\n", e.msg);
    elastic_meta_free(&x);
}

TEST(elastic_lora_level_trains_saves_and_switches) {
    ModelConfig c = fx_config(N_WORDS);
    Model m;
    util_model(&m, &c, 7);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] /= 8.0f; /* near training initialisation */
    TokenData d;
    fx_corpus(&d, 6000, c.vocab_size, 2);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/el", test_tmpdir());
    write_meta(&m, dir, 0);
    unsigned char anchor[ELMS_MAX_LAYERS] = {1, 0, 0};
    RecoverOpts o;
    small_opts(&o, &c, 30);
    RecoverResult r;
    Err e;
    const int li = 3; /* level 0.5 */
    CHECK_MSG(recover_level(&m, anchor, LEVELS[li], &d, dir, &o, false, &r, &e) == 0, "%s", e.msg);
    CHECK(!r.skipped && !r.resumed && r.steps == 30);
    CHECK_MSG(r.loss_after < r.loss_before - 0.05, "loss %.4f -> %.4f", r.loss_before, r.loss_after);
    char path[2048], ckpt[2048];
    recover_adapter_path(path, sizeof path, dir, LEVELS[li]);
    recover_ckpt_path(ckpt, sizeof ckpt, dir, LEVELS[li]);
    CHECK(path_is_file(path));
    CHECK(!path_is_dir(ckpt)); /* the checkpoint is removed once the adapter is written */
    CHECK(strstr(path, "lora/level-0.5.safetensors") != NULL);
    /* a second call finds the adapter and trains nothing */
    RecoverResult r2;
    CHECK(recover_level(&m, anchor, LEVELS[li], &d, dir, &o, false, &r2, &e) == 0 && r2.skipped && r2.steps == 0);

    LevelSet s;
    CHECK_MSG(levelset_load(&s, &m, dir, true, &e) == 0, "%s", e.msg);
    CHECK(s.n_lora == 1 && s.has_lora[li] && s.n_anchors == 1 && s.anchor[0]);
    CHECK(s.lora[li].rank == 8 && s.lora[li].alpha == 16.0f);
    /* switching: the active view is the level's widths plus its adapter pointer */
    ElasticView active;
    recover_switch(&active, &s, 0);
    recover_switch(&active, &s, li);
    CHECK(active.lora == &s.lora[li]);
    ElasticView ref;
    levels_view(&m, anchor, LEVELS[li], &ref, &e);
    for (int l = 0; l < c.n_layers; l++)
        CHECK(active.layer[l].attn_units == ref.layer[l].attn_units && active.layer[l].ffn_units == ref.layer[l].ffn_units);
    Lora loaded;
    CHECK(lora_load(&loaded, &c, path, &e) == 0);
    ref.lora = &loaded;
    int tok[20];
    util_tokens(tok, 20, c.vocab_size, 4);
    float *a = malloc(sizeof(float) * 20 * c.vocab_size), *b = malloc(sizeof(float) * 20 * c.vocab_size);
    CHECK(model_logits(&m, &active, tok, 20, a, &e) == 0);
    CHECK(model_logits(&m, &ref, tok, 20, b, &e) == 0);
    CHECK(util_max_abs_diff(a, b, 20 * (size_t)c.vocab_size) == 0.0);
    ref.lora = NULL; /* the adapter changes the output */
    CHECK(model_logits(&m, &ref, tok, 20, b, &e) == 0);
    CHECK(util_max_abs_diff(a, b, 20 * (size_t)c.vocab_size) > 1e-3);
    CHECK(recover_switch_us(&s, 1000) >= 0.0);
    /* a level outside (0, 1) is refused */
    CHECK(recover_level(&m, anchor, 1.0, &d, dir, &o, false, &r2, &e) == -1);
    free(a);
    free(b);
    lora_free(&loaded);
    levelset_free(&s);
    data_free(&d);
    model_free(&m);
}

/* stop_at_5: a progress callback that interrupts training after step 5. */
static int stop_at_5(void *ctx, const TrainLogRow *row) {
    (void)ctx;
    return row->step >= 5;
}

TEST(elastic_lora_resumes_to_the_same_adapter) {
    ModelConfig c = fx_config(N_WORDS);
    Model m;
    util_model(&m, &c, 9);
    TokenData d;
    fx_corpus(&d, 4000, c.vocab_size, 6);
    char a_dir[1200], b_dir[1200];
    snprintf(a_dir, sizeof a_dir, "%s/a", test_tmpdir());
    snprintf(b_dir, sizeof b_dir, "%s/b", test_tmpdir());
    RecoverOpts o;
    small_opts(&o, &c, 10);
    RecoverResult r;
    Err e;
    CHECK(recover_level(&m, NULL, 0.3, &d, a_dir, &o, false, &r, &e) == 0);
    o.log = stop_at_5;
    CHECK(recover_level(&m, NULL, 0.3, &d, b_dir, &o, false, &r, &e) == -1);
    CHECK_MSG(strstr(e.msg, "stopped") != NULL, "%s", e.msg);
    char ckpt[2048], pa[2048], pb[2048];
    recover_ckpt_path(ckpt, sizeof ckpt, b_dir, 0.3);
    CHECK(path_is_dir(ckpt));
    o.log = NULL;
    CHECK_MSG(recover_level(&m, NULL, 0.3, &d, b_dir, &o, false, &r, &e) == 0, "%s", e.msg);
    CHECK(r.resumed && r.steps == 5);
    recover_adapter_path(pa, sizeof pa, a_dir, 0.3);
    recover_adapter_path(pb, sizeof pb, b_dir, 0.3);
    Lora la, lb;
    CHECK(lora_load(&la, &c, pa, &e) == 0 && lora_load(&lb, &c, pb, &e) == 0);
    CHECK(la.n_params == lb.n_params && !memcmp(la.params, lb.params, sizeof(float) * la.n_params));
    /* --force retrains from scratch, giving the same adapter again */
    CHECK(recover_level(&m, NULL, 0.3, &d, b_dir, &o, true, &r, &e) == 0 && !r.skipped && !r.resumed && r.steps == 10);
    lora_free(&lb);
    CHECK(lora_load(&lb, &c, pb, &e) == 0 && !memcmp(la.params, lb.params, sizeof(float) * la.n_params));
    lora_free(&la);
    lora_free(&lb);
    data_free(&d);
    model_free(&m);
}

/* find_number: the number after key in text, or NAN. */
static double find_number(const char *text, const char *key) {
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

TEST(elastic_smoke_reorder_and_lora_cli) {
    /* a tiny model smoke-trained for a moment, reordered, one adapter trained, saved, loaded, switched */
    ModelConfig c = fx_config(N_WORDS);
    Model m;
    util_model(&m, &c, 5);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] /= 8.0f;
    TokenData d;
    fx_corpus(&d, 8000, c.vocab_size, 8);
    fx_train(&m, &d, 40, 3);
    Tokenizer tok;
    fx_tokenizer(&tok, N_WORDS);
    const char *tmp = test_tmpdir();
    char src[1200], out[1200], corpus[1200], args[4096], path[1400];
    snprintf(src, sizeof src, "%s/base", tmp);
    snprintf(out, sizeof out, "%s/base-elastic", tmp);
    snprintf(corpus, sizeof corpus, "%s/train.bin", tmp);
    fx_write_dir(src, &m, &tok);
    Err e;
    CHECK(data_save(corpus, d.tok, d.n, &e) == 0);

    char *text = NULL;
    snprintf(args, sizeof args, "reorder --model %s --out %s --corpus %s --samples 6 --seq 32 --anchors 1", src, out,
             corpus);
    int st = test_run_cli(args, &text);
    CHECK_MSG(st == 0, "exit %d: %s", st, text);
    double diff = find_number(text, "max_abs_diff ");
    CHECK_MSG(diff <= 1e-4, "max_abs_diff %g in: %s", diff, text);
    CHECK(strstr(text, "level 0.5 param_fraction") != NULL);
    free(text);
    snprintf(path, sizeof path, "%s/tokenizer.json", out);
    CHECK(path_is_file(path));
    snprintf(path, sizeof path, "%s.tmp", out);
    CHECK(!path_is_dir(path));
    ElasticMeta meta;
    snprintf(path, sizeof path, "%s/elastic.json", out);
    CHECK_MSG(elastic_meta_read(&meta, &c, path, &e) == 0, "%s", e.msg);
    CHECK(meta.n_anchors == 1 && meta.n_levels == N_LEVELS && meta.calib_samples == 6 && meta.max_abs_diff <= 1e-4);
    for (int l = 0; l < c.n_layers; l++)
        for (int i = 1; i < c.ffn_dim; i++) CHECK(meta.ffn_imp[l * c.ffn_dim + i] <= meta.ffn_imp[l * c.ffn_dim + i - 1]);
    elastic_meta_free(&meta);

    snprintf(args, sizeof args, "lora --model %s --corpus %s --levels 0.5 --steps 25 --batch 4 --seq 32 "
                                "--lr 1e-2 --switch-reps 1000", out, corpus);
    st = test_run_cli(args, &text);
    CHECK_MSG(st == 0, "exit %d: %s", st, text);
    double before = find_number(text, "loss_before "), after = find_number(text, "loss_after ");
    CHECK_MSG(after < before, "loss %g -> %g in: %s", before, after, text);
    double us = find_number(text, "switch_us ");
    CHECK_MSG(us >= 0 && us < 1e6, "switch_us %g", us);
    CHECK(strstr(text, "adapters 1 of 8 levels loaded") != NULL);
    free(text);
    snprintf(path, sizeof path, "%s/lora/level-0.5.safetensors", out);
    CHECK(path_is_file(path));
    st = test_run_cli(args, &text); /* resumable: the finished adapter is skipped */
    CHECK(st == 0 && strstr(text, "skipped") != NULL);
    free(text);

    /* usage and runtime errors */
    snprintf(args, sizeof args, "reorder --model %s", src);
    CHECK(test_run_cli(args, &text) == 2);
    free(text);
    snprintf(args, sizeof args, "reorder --model %s/missing --out %s/x", tmp, tmp);
    st = test_run_cli(args, &text);
    CHECK(st == 1 && strstr(text, "elms reorder:") != NULL);
    free(text);
    snprintf(args, sizeof args, "reorder --model %s --out %s/y --corpus %s --seq 100000", src, tmp, corpus);
    CHECK(test_run_cli(args, &text) == 1);
    free(text);
    snprintf(args, sizeof args, "lora --model %s --corpus %s --levels 1.0", out, corpus);
    CHECK(test_run_cli(args, &text) == 2);
    free(text);
    tokenizer_free(&tok);
    data_free(&d);
    model_free(&m);
}
