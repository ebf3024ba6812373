/* Tests of training checkpoints (engine/train_ckpt.c): N steps straight equal N/2 steps + save + load into a fresh
 * trainer + N/2 steps, bitwise (parameters and AdamW moments), in full and LoRA mode; interrupted saves leave a
 * loadable checkpoint; mismatched or damaged checkpoints are refused with a message naming the file. */
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/io.h"
#include "engine/train.h"
#include "tests/test.h"
#include "tests/util.h"

static ModelConfig ck_config(void) {
    ModelConfig c = {.dim = 24, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 6, .ffn_dim = 40,
                     .vocab_size = 29, .max_seq = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied = false,
                     .bos_id = -1, .eos_id = -1};
    return c;
}

static TrainConfig ck_train_config(void) {
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = 3;
    tc.seq = 12;
    tc.accum = 2;
    tc.steps = 8;
    tc.warmup = 3;
    tc.lr = 5e-3f;
    tc.seed = 17;
    return tc;
}

static int stop_at(void *ctx, const TrainLogRow *row) { return row->step >= *(long *)ctx; }

typedef struct Run {
    Model m;
    Lora a;
    Trainer tr;
    DataLoader d;
} Run;

/* A fresh run: model from seed 1 (or garbage when it will be overwritten by a checkpoint), optional adapter. */
static void run_start(TestCtx *t, Run *r, const TokenData *data, bool lora, bool garbage) {
    ModelConfig c = ck_config();
    TrainConfig tc = ck_train_config();
    Err e;
    CHECK(model_alloc(&r->m, &c, &e) == 0);
    model_init_random(&r->m, 1);
    if (lora) {
        CHECK(lora_alloc(&r->a, &c, 4, 8.0f, &e) == 0);
        lora_init(&r->a, 2);
        if (garbage)
            for (size_t i = 0; i < r->a.n_params; i++) r->a.params[i] = 0.5f;
        ElasticView v;
        view_uniform(&r->m, 1, 20, &v);
        CHECK_MSG(train_lora_init(&r->tr, &r->m, &r->a, &v, &tc, &e) == 0, "%s", e.msg);
    } else {
        if (garbage)
            for (size_t i = 0; i < r->m.n_params; i++) r->m.params[i] = 0.5f;
        CHECK_MSG(train_init(&r->tr, &r->m, NULL, &tc, &e) == 0, "%s", e.msg);
    }
    CHECK(data_loader_init(&r->d, data, tc.seq, tc.seed, &e) == 0);
}

static void run_end(Run *r, bool lora) {
    data_loader_free(&r->d);
    train_free(&r->tr);
    if (lora) lora_free(&r->a);
    model_free(&r->m);
}

static void resume_case(TestCtx *t, bool lora) {
    TokenData data = {malloc(sizeof(int) * 700), 700};
    util_tokens(data.tok, 700, ck_config().vocab_size, 3);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s/checkpoint", test_tmpdir(), lora ? "lora" : "full");
    Err e;
    /* straight */
    Run a;
    run_start(t, &a, &data, lora, false);
    TrainRunOpts o = {0};
    CHECK_MSG(train_run(&a.tr, &a.d, &o, NULL, &e) == 0, "%s", e.msg);
    /* half, stopped by the log callback (which writes the checkpoint), then a fresh process-like restart */
    Run b;
    run_start(t, &b, &data, lora, false);
    long half = 4;
    bool stopped;
    TrainRunOpts ob = {.ckpt_dir = dir, .log = stop_at, .log_ctx = &half};
    CHECK_MSG(train_run(&b.tr, &b.d, &ob, &stopped, &e) == 0, "%s", e.msg);
    CHECK(stopped && b.tr.step == half);
    run_end(&b, lora);
    Run c;
    run_start(t, &c, &data, lora, true);
    char found[1100];
    CHECK(train_ckpt_find(dir, found, sizeof found) && !strcmp(found, dir));
    CHECK_MSG(train_ckpt_load(&c.tr, &c.d, dir, &e) == 0, "%s", e.msg);
    CHECK(c.tr.step == half && c.tr.tokens == half * 2 * 3 * 12);
    TrainRunOpts oc = {.ckpt_dir = dir};
    CHECK_MSG(train_run(&c.tr, &c.d, &oc, &stopped, &e) == 0, "%s", e.msg);
    CHECK(!stopped && c.tr.step == 8);
    size_t n = a.tr.n_train;
    CHECK(n == c.tr.n_train);
    CHECK_MSG(memcmp(a.tr.params, c.tr.params, sizeof(float) * n) == 0, "parameters differ after resume");
    CHECK_MSG(memcmp(a.tr.m, c.tr.m, sizeof(float) * n) == 0 && memcmp(a.tr.v, c.tr.v, sizeof(float) * n) == 0,
              "AdamW moments differ after resume");
    CHECK(a.tr.tokens == c.tr.tokens && a.d.epoch == c.d.epoch && a.d.pos == c.d.pos);
    /* and the straight run really moved: the comparison is not trivially true */
    Run z;
    run_start(t, &z, &data, lora, false);
    CHECK(memcmp(z.tr.params, a.tr.params, sizeof(float) * n) != 0);
    run_end(&z, lora);
    run_end(&a, lora);
    run_end(&c, lora);
    data_free(&data);
}

TEST(train_resume_is_bitwise_exact_full) { resume_case(t, false); }

TEST(train_resume_is_bitwise_exact_lora) { resume_case(t, true); }

TEST(train_ckpt_interrupted_save_and_bad_checkpoints) {
    TokenData data = {malloc(sizeof(int) * 400), 400};
    util_tokens(data.tok, 400, ck_config().vocab_size, 4);
    char dir[1024], old[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/ck", test_tmpdir());
    snprintf(old, sizeof old, "%s.old", dir);
    Err e;
    Run a;
    run_start(t, &a, &data, false, false);
    TrainStepStats st;
    CHECK(train_step(&a.tr, &a.d, &st, &e) == 0);
    CHECK_MSG(train_ckpt_save(&a.tr, &a.d, dir, &e) == 0, "%s", e.msg);
    CHECK(train_step(&a.tr, &a.d, &st, &e) == 0);
    CHECK_MSG(train_ckpt_save(&a.tr, &a.d, dir, &e) == 0, "%s", e.msg); /* replaces the first */
    struct stat sb;
    CHECK(stat(old, &sb) != 0); /* no leftovers */
    snprintf(path, sizeof path, "%s.tmp", dir);
    CHECK(stat(path, &sb) != 0);
    /* a save interrupted between its two renames leaves only DIR.old: found and loadable */
    CHECK(rename(dir, old) == 0);
    char found[1100];
    CHECK(train_ckpt_find(dir, found, sizeof found) && !strcmp(found, old));
    Run b;
    run_start(t, &b, &data, false, true);
    CHECK_MSG(train_ckpt_load(&b.tr, &b.d, found, &e) == 0, "%s", e.msg);
    CHECK(b.tr.step == 2 && memcmp(a.tr.params, b.tr.params, sizeof(float) * a.tr.n_train) == 0);
    CHECK(rename(old, dir) == 0);
    /* another seed is refused (the data order would differ) */
    b.tr.cfg.seed = 99;
    CHECK(train_ckpt_load(&b.tr, &b.d, dir, &e) != 0);
    CHECK_MSG(strstr(e.msg, "seed"), "%s", e.msg);
    b.tr.cfg.seed = ck_train_config().seed;
    /* a LoRA trainer refuses a full checkpoint */
    Run l;
    run_start(t, &l, &data, true, false);
    CHECK(train_ckpt_load(&l.tr, &l.d, dir, &e) != 0);
    CHECK_MSG(strstr(e.msg, "full"), "%s", e.msg);
    run_end(&l, true);
    /* damaged state.json and a missing optimizer file are named */
    snprintf(path, sizeof path, "%s/state.json", dir);
    CHECK(io_write_atomic(path, "{\"format\": 3}", 13, &e) == 0);
    CHECK(train_ckpt_load(&b.tr, &b.d, dir, &e) != 0);
    CHECK_MSG(strstr(e.msg, "state.json") && strstr(e.msg, "format"), "%s", e.msg);
    CHECK_MSG(train_ckpt_save(&a.tr, &a.d, dir, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/optim.safetensors", dir);
    CHECK(remove(path) == 0);
    CHECK(train_ckpt_load(&b.tr, &b.d, dir, &e) != 0);
    CHECK_MSG(strstr(e.msg, "optim.safetensors"), "%s", e.msg);
    CHECK(!train_ckpt_find("no/such/dir", found, sizeof found));
    run_end(&a, false);
    run_end(&b, false);
    data_free(&data);
}
