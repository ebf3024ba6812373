/* Tests of the trainer (engine/train_*.c): the training forward reproduces the inference logits, gradient
 * accumulation equals one big batch, AdamW and the learning-rate schedule against independent references,
 * determinism, a smoke training whose loss falls, and LoRA-only training under a view. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "engine/train.h"
#include "tests/test.h"
#include "tests/util.h"

static TrainConfig small_train_config(int B, int T) {
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = B;
    tc.seq = T;
    return tc;
}

/* Train logits of (B, T) inputs against model_logits of each sequence alone. */
static double logits_diff(TestCtx *t, Model *m, const ElasticView *v, Lora *a, int B, int T) {
    TrainConfig tc = small_train_config(B, T);
    Trainer tr;
    Err e;
    int rc = a ? train_lora_init(&tr, m, a, v, &tc, &e) : train_init(&tr, m, v, &tc, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc) return INFINITY;
    int *tok = malloc(sizeof(int) * (size_t)B * T);
    util_tokens(tok, B * T, m->cfg.vocab_size, 77);
    CHECK_MSG(train_forward(&tr, tok, NULL, B, T, NULL, NULL, &e) == 0, "%s", e.msg);
    int V = m->cfg.vocab_size;
    float *ref = malloc(sizeof(float) * (size_t)T * V);
    ElasticView iv = tr.view; /* includes the adapter in LoRA mode */
    double d = 0.0;
    for (int b = 0; b < B; b++) {
        CHECK_MSG(model_logits(m, &iv, tok + (size_t)b * T, T, ref, &e) == 0, "%s", e.msg);
        double db = util_max_abs_diff(ref, train_logits(&tr) + (size_t)b * T * V, (size_t)T * V);
        if (!(db <= d)) d = db;
    }
    free(ref);
    free(tok);
    train_free(&tr);
    return d;
}

TEST(train_forward_matches_inference_logits) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 21);
    ElasticView full, narrow;
    view_full(&m, &full);
    view_uniform(&m, 1, 30, &narrow);
    narrow.layer[2].skip_attn = true;
    narrow.layer[0].ffn_units = 11;
    double d_full = logits_diff(t, &m, &full, NULL, 3, 20);
    double d_narrow = logits_diff(t, &m, &narrow, NULL, 3, 20);
    CHECK_MSG(d_full <= 1e-4, "full view: max |train - inference| = %g", d_full);
    CHECK_MSG(d_narrow <= 1e-4, "narrow view: max |train - inference| = %g", d_narrow);
    /* an adapter with non-zero B, full and narrow */
    Lora a;
    Err e;
    CHECK_MSG(lora_alloc(&a, &c, 4, 8.0f, &e) == 0, "%s", e.msg);
    lora_init(&a, 3);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 4);
    for (size_t i = 0; i < a.n_params; i++) a.params[i] = (float)(0.2 * (2.0 * gsl_rng_uniform(r) - 1.0));
    gsl_rng_free(r);
    double d_lora_full = logits_diff(t, &m, &full, &a, 2, 17);
    double d_lora_narrow = logits_diff(t, &m, &narrow, &a, 2, 17);
    CHECK_MSG(d_lora_full <= 1e-4, "LoRA, full view: max diff %g", d_lora_full);
    CHECK_MSG(d_lora_narrow <= 1e-4, "LoRA, narrow view: max diff %g", d_lora_narrow);
    /* the adapter must matter (otherwise the comparison above proves nothing about it) */
    float *l0 = malloc(sizeof(float) * 17 * c.vocab_size), *l1 = malloc(sizeof(float) * 17 * c.vocab_size);
    int tok[17];
    util_tokens(tok, 17, c.vocab_size, 77);
    ElasticView with = full;
    with.lora = &a;
    CHECK(model_logits(&m, &full, tok, 17, l0, &e) == 0 && model_logits(&m, &with, tok, 17, l1, &e) == 0);
    CHECK(util_max_abs_diff(l0, l1, (size_t)17 * c.vocab_size) > 1e-2);
    free(l0);
    free(l1);
    lora_free(&a);
    model_free(&m);
}

TEST(train_rejects_untrainable_views_and_bad_batches) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 22);
    TrainConfig tc = small_train_config(2, 8);
    Trainer tr;
    Err e;
    ElasticView v;
    view_full(&m, &v);
    int idx[3] = {0, 5, 9};
    v.layer[1].ffn_idx = idx;
    v.layer[1].n_ffn_idx = 3;
    CHECK(train_init(&tr, &m, &v, &tc, &e) != 0);
    CHECK_MSG(strstr(e.msg, "layer 1") != NULL, "%s", e.msg);
    tc.seq = c.max_seq + 1;
    CHECK(train_init(&tr, &m, NULL, &tc, &e) != 0);
    CHECK_MSG(strstr(e.msg, "seq") != NULL, "%s", e.msg);
    tc.seq = 8;
    tc.lr = -1.0f;
    CHECK(train_init(&tr, &m, NULL, &tc, &e) != 0);
    CHECK_MSG(strstr(e.msg, "lr") != NULL, "%s", e.msg);
    tc.lr = 1e-3f;
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
    int tok[24] = {0}, tgt[24] = {0};
    CHECK(train_forward(&tr, tok, tgt, 3, 8, NULL, NULL, &e) != 0); /* B over capacity */
    tok[5] = c.vocab_size;
    CHECK(train_forward(&tr, tok, tgt, 2, 8, NULL, NULL, &e) != 0);
    CHECK_MSG(strstr(e.msg, "token") != NULL, "%s", e.msg);
    CHECK(train_backward(&tr, 1.0f, &e) != 0); /* nothing to backpropagate */
    train_free(&tr);
    model_free(&m);
}

TEST(train_accumulation_equals_big_batch) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 23);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 0.25f;
    int T = 9, *tok = malloc(sizeof(int) * 4 * (T + 1)), in[36], tg[36];
    util_tokens(tok, 4 * (T + 1), c.vocab_size, 5);
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < T; i++) {
            in[b * T + i] = tok[b * (T + 1) + i];
            tg[b * T + i] = tok[b * (T + 1) + i + 1];
        }
    Trainer big, small;
    Err e;
    TrainConfig c4 = small_train_config(4, T), c2 = small_train_config(2, T);
    CHECK(train_init(&big, &m, NULL, &c4, &e) == 0);
    CHECK(train_init(&small, &m, NULL, &c2, &e) == 0);
    long n;
    train_zero_grad(&big);
    CHECK(train_forward(&big, in, tg, 4, T, NULL, &n, &e) == 0 && train_backward(&big, 1.0f / n, &e) == 0);
    train_zero_grad(&small);
    for (int h = 0; h < 2; h++) {
        CHECK(train_forward(&small, in + h * 2 * T, tg + h * 2 * T, 2, T, NULL, &n, &e) == 0);
        CHECK(train_backward(&small, 0.5f / n, &e) == 0);
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        double d = big.grad[i] - small.grad[i];
        num += d * d;
        den += (double)big.grad[i] * big.grad[i];
    }
    CHECK_MSG(den > 0 && sqrt(num / den) < 1e-5, "relative difference %g", sqrt(num / fmax(den, 1e-30)));
    train_free(&big);
    train_free(&small);
    free(tok);
    model_free(&m);
}

TEST(train_lr_schedule) {
    TrainConfig c = small_train_config(1, 1);
    c.lr = 1.0f;
    c.min_lr = 0.1f;
    c.warmup = 10;
    c.steps = 110;
    CHECK_NEAR(train_lr(&c, 0), 0.1, 1e-7);  /* (0+1)/10 */
    CHECK_NEAR(train_lr(&c, 4), 0.5, 1e-7);
    CHECK_NEAR(train_lr(&c, 10), 1.0, 1e-7);   /* cosine starts at the peak */
    CHECK_NEAR(train_lr(&c, 60), 0.55, 1e-6);  /* half way: (1 + 0.1) / 2 */
    CHECK_NEAR(train_lr(&c, 35), 0.1 + 0.9 * 0.5 * (1 + cos(M_PI * 0.25)), 1e-6);
    CHECK_NEAR(train_lr(&c, 110), 0.1, 1e-7);
    CHECK_NEAR(train_lr(&c, 500), 0.1, 1e-7);
    c.warmup = 0;
    CHECK_NEAR(train_lr(&c, 0), 1.0, 1e-7);
}

/* One AdamW step against a double-precision reference, with clipping, decay on matrices but not norms. */
TEST(train_adamw_matches_reference) {
    ModelConfig c = util_config();
    c.n_layers = 1;
    Model m;
    util_model(&m, &c, 24);
    TrainConfig tc = small_train_config(1, 4);
    tc.lr = 0.01f;
    tc.wd = 0.5f;
    tc.clip = 0.3f;
    Trainer tr;
    Err e;
    CHECK(train_init(&tr, &m, NULL, &tc, &e) == 0);
    size_t n = tr.n_train;
    double *p = malloc(sizeof(double) * n), *mm = calloc(n, sizeof(double)), *vv = calloc(n, sizeof(double));
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 8);
    for (size_t i = 0; i < n; i++) p[i] = m.params[i];
    for (int step = 1; step <= 3; step++) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            tr.grad[i] = (float)(0.01 * (2.0 * gsl_rng_uniform(r) - 1.0));
            ss += (double)tr.grad[i] * tr.grad[i];
        }
        double norm = sqrt(ss), clip = norm > 0.3 ? 0.3 / norm : 1.0;
        CHECK_NEAR(train_grad_norm(&tr), norm, 1e-9);
        float lr = train_lr(&tc, tr.step);
        train_update(&tr, lr, norm);
        for (size_t i = 0; i < n; i++) {
            const float *x = &m.params[i];
            bool is_norm = (x >= m.w.layer[0].attn_norm && x < m.w.layer[0].attn_norm + c.dim) ||
                           (x >= m.w.layer[0].ffn_norm && x < m.w.layer[0].ffn_norm + c.dim) ||
                           (x >= m.w.final_norm && x < m.w.final_norm + c.dim);
            double g = tr.grad[i] * clip;
            mm[i] = 0.9 * mm[i] + 0.1 * g;
            vv[i] = 0.95 * vv[i] + 0.05 * g * g;
            double mh = mm[i] / (1 - pow(0.9, step)), vh = vv[i] / (1 - pow(0.95, step));
            p[i] -= lr * (mh / (sqrt(vh) + 1e-8) + (is_norm ? 0.0 : 0.5 * p[i]));
        }
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(p[i] - m.params[i]));
    CHECK_MSG(worst < 2e-6, "max |param - reference| = %g", worst);
    CHECK(tr.step == 3);
    gsl_rng_free(r);
    free(p), free(mm), free(vv);
    train_free(&tr);
    model_free(&m);
}

/* ---- a tiny language: over 16 tokens, token i is one of two successors of token i-2 (a "skip bigram"), each
 * with probability 1/2. Token i-1 tells nothing about token i, so the model has to learn to attend two positions
 * back; the best possible loss (the entropy rate) is ln 2. ---- */

static void grammar_stream(int *out, size_t n, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    out[0] = 1;
    out[1] = 2;
    for (size_t i = 2; i < n; i++) {
        int a = out[i - 2];
        out[i] = gsl_rng_uniform_int(r, 2) ? (a * 5 + 1) % 16 : (a * 7 + 4) % 16; /* never equal for a < 16 */
    }
    gsl_rng_free(r);
}

static ModelConfig smoke_config(void) {
    ModelConfig c = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8, .ffn_dim = 64,
                     .vocab_size = 16, .max_seq = 32, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied = true,
                     .bos_id = -1, .eos_id = -1};
    return c;
}

static TrainConfig smoke_train_config(void) {
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = 8;
    tc.seq = 32;
    tc.steps = 400;
    tc.lr = 1e-2f;
    tc.min_lr = 1e-3f;
    tc.warmup = 20;
    tc.wd = 0.01f;
    tc.seed = 3;
    return tc;
}

TEST(train_smoke_loss_falls_to_entropy_floor) {
    ModelConfig c = smoke_config();
    Model m;
    Err e;
    CHECK(model_alloc(&m, &c, &e) == 0);
    model_init_random(&m, 1);
    TokenData train = {malloc(sizeof(int) * 20000), 20000}, val = {malloc(sizeof(int) * 4000), 4000};
    grammar_stream(train.tok, train.n, 10);
    grammar_stream(val.tok, val.n, 11);
    TrainConfig tc = smoke_train_config();
    Trainer tr;
    DataLoader d;
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
    CHECK(data_loader_init(&d, &train, tc.seq, tc.seed, &e) == 0);
    double before, after;
    CHECK(train_eval(&tr, &val, 64, &before, &e) == 0);
    TrainRunOpts o = {0};
    CHECK_MSG(train_run(&tr, &d, &o, NULL, &e) == 0, "%s", e.msg);
    CHECK(train_eval(&tr, &val, 64, &after, &e) == 0);
    double floor_ = log(2.0), target = floor_ + 0.5 * (before - floor_);
    printf("  smoke: val loss %.3f -> %.3f (entropy floor %.3f, pass below %.3f)\n", before, after, floor_,
           target);
    CHECK_MSG(before > 2.4, "initial loss %g should be near ln 16 = 2.77", before);
    CHECK_MSG(after < target, "val loss %.3f did not fall below %.3f", after, target);
    CHECK_MSG(after > floor_ - 0.05, "val loss %.3f below the entropy floor %.3f: leak?", after, floor_);
    CHECK(tr.step == tc.steps && tr.tokens == tc.steps * tc.batch * tc.seq);
    data_loader_free(&d);
    train_free(&tr);
    model_free(&m);
    data_free(&train);
    data_free(&val);
}

/* Parameters after `steps` steps from a fresh seeded model. */
static float *train_params_after(TestCtx *t, int steps, unsigned long data_seed) {
    ModelConfig c = smoke_config();
    Model m;
    Err e;
    CHECK(model_alloc(&m, &c, &e) == 0);
    model_init_random(&m, 1);
    TokenData train = {malloc(sizeof(int) * 5000), 5000};
    grammar_stream(train.tok, train.n, 10);
    TrainConfig tc = smoke_train_config();
    tc.steps = steps;
    tc.accum = 2;
    tc.seed = data_seed;
    Trainer tr;
    DataLoader d;
    CHECK(train_init(&tr, &m, NULL, &tc, &e) == 0);
    CHECK(data_loader_init(&d, &train, tc.seq, tc.seed, &e) == 0);
    TrainRunOpts o = {0};
    CHECK(train_run(&tr, &d, &o, NULL, &e) == 0);
    float *p = malloc(sizeof(float) * m.n_params);
    memcpy(p, m.params, sizeof(float) * m.n_params);
    data_loader_free(&d);
    train_free(&tr);
    model_free(&m);
    data_free(&train);
    return p;
}

TEST(train_deterministic_for_a_seed) {
    ModelConfig c = smoke_config();
    size_t n = model_param_count(&c);
    float *a = train_params_after(t, 8, 3), *b = train_params_after(t, 8, 3), *x = train_params_after(t, 8, 4);
    CHECK(memcmp(a, b, sizeof(float) * n) == 0);
    CHECK(memcmp(a, x, sizeof(float) * n) != 0); /* another data seed, another result */
    free(a), free(b), free(x);
}

/* LoRA-only training under a narrower view, the paper's recovery step: a model trained on the tiny language
 * loses accuracy when half its attention units and most of its FFN neurons are cut; an adapter trained under that
 * view recovers a clear part of the loss, while the base does not move. The adapter saved as safetensors and
 * applied unmerged at inference gives the trainer's logits. */
TEST(train_lora_only_under_view) {
    ModelConfig c = smoke_config();
    Model m;
    Err e;
    CHECK(model_alloc(&m, &c, &e) == 0);
    model_init_random(&m, 2);
    TokenData train = {malloc(sizeof(int) * 20000), 20000}, val = {malloc(sizeof(int) * 4000), 4000};
    grammar_stream(train.tok, train.n, 12);
    grammar_stream(val.tok, val.n, 13);
    TrainConfig tc = smoke_train_config();
    Trainer tr;
    DataLoader d;
    TrainRunOpts o = {0};
    CHECK(data_loader_init(&d, &train, tc.seq, tc.seed, &e) == 0);
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
    CHECK_MSG(train_run(&tr, &d, &o, NULL, &e) == 0, "%s", e.msg);
    double full_loss;
    CHECK(train_eval(&tr, &val, 32, &full_loss, &e) == 0);
    train_free(&tr);

    float *base = malloc(sizeof(float) * m.n_params);
    memcpy(base, m.params, sizeof(float) * m.n_params);
    Lora a;
    CHECK(lora_alloc(&a, &c, 8, 16.0f, &e) == 0);
    lora_init(&a, 9);
    ElasticView v;
    view_uniform(&m, 1, 12, &v);
    tc.steps = 150;
    tc.lr = 5e-3f;
    tc.wd = 0.0f;
    CHECK_MSG(train_lora_init(&tr, &m, &a, &v, &tc, &e) == 0, "%s", e.msg);
    CHECK(tr.n_train == a.n_params && tr.params == a.params);
    double before, after;
    CHECK(train_eval(&tr, &val, 32, &before, &e) == 0);
    CHECK_MSG(train_run(&tr, &d, &o, NULL, &e) == 0, "%s", e.msg);
    CHECK(train_eval(&tr, &val, 32, &after, &e) == 0);
    printf("  LoRA under view: full model %.3f, cut %.3f, cut + LoRA %.3f\n", full_loss, before, after);
    CHECK_MSG(before > full_loss + 0.2, "the cut should hurt (%.3f vs %.3f)", before, full_loss);
    CHECK_MSG(after < before - 0.5 * (before - full_loss), "LoRA recovered too little (%.3f -> %.3f, full %.3f)",
              before, after, full_loss);
    CHECK(memcmp(base, m.params, sizeof(float) * m.n_params) == 0);
    /* save / load the adapter and run it unmerged at inference */
    char path[1024];
    snprintf(path, sizeof path, "%s/adapter.safetensors", test_tmpdir());
    CHECK_MSG(lora_save(&a, &c, path, &e) == 0, "%s", e.msg);
    Lora b;
    CHECK_MSG(lora_load(&b, &c, path, &e) == 0, "%s", e.msg);
    CHECK(b.rank == a.rank && b.alpha == a.alpha && memcmp(a.params, b.params, sizeof(float) * a.n_params) == 0);
    int tok[32];
    memcpy(tok, val.tok, sizeof tok);
    CHECK(train_forward(&tr, tok, NULL, 1, 32, NULL, NULL, &e) == 0);
    float *ref = malloc(sizeof(float) * 32 * c.vocab_size);
    ElasticView iv = v;
    iv.lora = &b;
    CHECK(model_logits(&m, &iv, tok, 32, ref, &e) == 0);
    CHECK(util_max_abs_diff(ref, train_logits(&tr), (size_t)32 * c.vocab_size) <= 1e-4);
    free(ref);
    lora_free(&b);
    data_loader_free(&d);
    train_free(&tr);
    lora_free(&a);
    free(base);
    model_free(&m);
    data_free(&train);
    data_free(&val);
}

/* The pool-parallel kernels split rows and sequences across threads; with 3 threads (uneven splits) the loss and
 * gradients equal the single-threaded ones up to BLAS summation order. */
TEST(train_threads_give_the_same_gradients) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 25);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 0.25f;
    int B = 5, T = 13, in[65], tg[65];
    util_tokens(in, B * T, c.vocab_size, 6);
    util_tokens(tg, B * T, c.vocab_size, 7);
    tg[4] = -1;
    TrainConfig tc = small_train_config(B, T);
    Trainer one, three;
    Err e;
    CHECK(train_init(&one, &m, NULL, &tc, &e) == 0 && train_init(&three, &m, NULL, &tc, &e) == 0);
    CHECK(train_set_threads(&three, 3, &e) == 0);
    CHECK(three.pool && pool_threads(three.pool) == 3);
    double l1, l3;
    long n1, n3;
    train_zero_grad(&three);
    CHECK(train_forward(&three, in, tg, B, T, &l3, &n3, &e) == 0 && train_backward(&three, 1.0f / n3, &e) == 0);
    CHECK(train_set_threads(&one, 1, &e) == 0);
    train_zero_grad(&one);
    CHECK(train_forward(&one, in, tg, B, T, &l1, &n1, &e) == 0 && train_backward(&one, 1.0f / n1, &e) == 0);
    CHECK(n1 == n3);
    CHECK_NEAR(l1, l3, 1e-6 * l1);
    double num = 0, den = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        double d = (double)one.grad[i] - three.grad[i];
        num += d * d;
        den += (double)one.grad[i] * one.grad[i];
    }
    CHECK_MSG(den > 0 && sqrt(num / den) < 1e-5, "relative gradient difference %g", sqrt(num / fmax(den, 1e-30)));
    train_free(&one);
    train_free(&three);
    model_free(&m);
}

/* Sequences of 128 tokens or more run attention as causal query blocks (engine/train_par.c): the logits still equal
 * inference, and the gradients of the attention weights still equal finite differences. */
TEST(train_blocked_attention_long_sequences) {
    ModelConfig c = util_config();
    c.max_seq = 256;
    c.n_layers = 2;
    Model m;
    util_model(&m, &c, 26);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 0.5f;
    int T = 200; /* 3 blocks of 66-67 queries */
    double d = logits_diff(t, &m, NULL, NULL, 2, T);
    CHECK_MSG(d <= 1e-4, "max |train - inference| = %g", d);
    TrainConfig tc = small_train_config(1, T);
    Trainer tr;
    Err e;
    CHECK(train_init(&tr, &m, NULL, &tc, &e) == 0);
    int in[200], tg[200];
    util_tokens(in, T, c.vocab_size, 8);
    util_tokens(tg, T, c.vocab_size, 9);
    long n;
    double l;
    train_zero_grad(&tr);
    CHECK(train_forward(&tr, in, tg, 1, T, &l, &n, &e) == 0 && train_backward(&tr, 1.0f / n, &e) == 0);
    float *ws[3] = {m.w.layer[0].wq, m.w.layer[0].wk, m.w.layer[1].wv};
    const char *names[3] = {"wq", "wk", "wv"};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 10);
    for (int w = 0; w < 3; w++)
        for (int s = 0; s < 4; s++) {
            size_t rows = (size_t)c.n_kv_heads * c.head_dim; /* rows of wk and wv; wq has more */
            size_t j = (size_t)(ws[w] - m.params) + gsl_rng_uniform_int(r, (unsigned long)(rows * c.dim));
            float keep = m.params[j];
            double lp, lm;
            m.params[j] = keep + 1e-2f;
            CHECK(train_forward(&tr, in, tg, 1, T, &lp, NULL, &e) == 0);
            m.params[j] = keep - 1e-2f;
            CHECK(train_forward(&tr, in, tg, 1, T, &lm, NULL, &e) == 0);
            m.params[j] = keep;
            double num = (lp - lm) / 2e-2, ana = tr.grad[j];
            /* tolerance as in tests/test_grad_model.c */
            CHECK_MSG(fabs(num - ana) <= 3e-2 * fmax(fabs(num), fabs(ana)) + 1e-4, "%s[%zu]: analytic %g numeric %g",
                      names[w], j, ana, num);
        }
    gsl_rng_free(r);
    train_free(&tr);
    model_free(&m);
}
