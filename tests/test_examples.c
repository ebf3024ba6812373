/* Labelled examples as training data (engine/examples.c, the BatchSource of engine/batch.h and its use by
 * engine/train_step.c, train_loop.c and train_ckpt.c): the seeded epoch order and its restoration from a
 * position; N steps straight equal N/2 steps + checkpoint + resume into a fresh trainer + N/2 steps, bitwise, for
 * a token and a sequence classifier; validation on examples and the SQLite training log of such a run;
 * train_eval_examples against losses computed from model_classify; the errors of data that does not fit the
 * model; and a token classifier that learns a rule. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train.h"
#include "sim/train_log.h"
#include "tests/test.h"
#include "tests/util.h"

enum { VOCAB = 29, LABELS = 5, MAX_LEN = 12 };

/* random_examples: n examples of 3..MAX_LEN random tokens; targets per token (n_targets 0: a label, or -1 for one
 * token in four) or n_targets per example (values in [0, hi)). */
static void random_examples(ExampleSet *s, int n, int n_targets, int hi, unsigned long seed) {
    Err e;
    if (examples_init(s, n_targets, &e) != 0) abort();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    int tok[MAX_LEN], tgt[MAX_LEN > LABELS ? MAX_LEN : LABELS];
    for (int i = 0; i < n; i++) {
        int len = 3 + (int)gsl_rng_uniform_int(r, MAX_LEN - 2);
        for (int j = 0; j < len; j++) tok[j] = (int)gsl_rng_uniform_int(r, VOCAB);
        int nt = n_targets ? n_targets : len;
        for (int j = 0; j < nt; j++) tgt[j] = gsl_rng_uniform_int(r, 4) == 0 ? -1 : (int)gsl_rng_uniform_int(r, hi);
        if (examples_add(s, tok, len, tgt, &e) != 0) abort();
    }
    gsl_rng_free(r);
}

TEST(examples_set_and_seeded_epochs) {
    ExampleSet s;
    Err e;
    random_examples(&s, 10, 0, LABELS, 1);
    CHECK(s.n == 10 && s.max_len <= MAX_LEN && s.max_len >= 3);
    const int *tok, *tgt;
    int len;
    int t3[] = {4, 8, 15, 16}, y3[] = {1, -1, 0, 2};
    CHECK(examples_add(&s, t3, 4, y3, &e) == 0);
    examples_get(&s, 10, &tok, &len, &tgt);
    CHECK(len == 4 && !memcmp(tok, t3, sizeof t3) && !memcmp(tgt, y3, sizeof y3));
    CHECK(examples_add(&s, t3, 0, y3, &e) != 0 && strstr(e.msg, "example 11 has 0 tokens"));
    /* every epoch visits every example once; epochs differ */
    ExampleLoader l, m;
    CHECK(example_loader_init(&l, &s, 5, &e) == 0);
    int seen[3][11], stream[40];
    for (int ep = 0; ep < 3; ep++) {
        int count[11] = {0};
        for (int i = 0; i < 11; i++) count[seen[ep][i] = example_loader_next(&l)]++;
        int once = 1;
        for (int i = 0; i < 11; i++) once &= count[i] == 1;
        CHECK_MSG(once, "epoch %d does not visit every example once", ep);
    }
    CHECK(memcmp(seen[0], seen[1], sizeof seen[0]) != 0);
    CHECK(l.epoch == 3 && l.pos == 0);
    /* a position restores the stream, whichever way it is written */
    CHECK(example_loader_seek(&l, 0, 0, &e) == 0);
    for (int i = 0; i < 40; i++) stream[i] = example_loader_next(&l);
    CHECK(example_loader_init(&m, &s, 5, &e) == 0);
    CHECK(example_loader_seek(&m, 1, 3, &e) == 0);
    int same = 1;
    for (int i = 14; i < 40; i++) same &= example_loader_next(&m) == stream[i];
    CHECK(same);
    CHECK(example_loader_seek(&m, 0, 11, &e) == 0 && m.epoch == 1 && m.pos == 0);
    CHECK(example_loader_next(&m) == stream[11]);
    CHECK(example_loader_seek(&m, 0, 12, &e) != 0 && strstr(e.msg, "example 12"));
    example_loader_free(&m);
    /* another seed, another order */
    CHECK(example_loader_init(&m, &s, 6, &e) == 0);
    int differ = 0;
    for (int i = 0; i < 11; i++) differ |= example_loader_next(&m) != stream[i];
    CHECK(differ);
    example_loader_free(&m);
    example_loader_free(&l);
    examples_free(&s);
    ExampleSet empty;
    CHECK(examples_init(&empty, 0, &e) == 0 && example_loader_init(&l, &empty, 1, &e) != 0 && strstr(e.msg, "empty"));
    examples_free(&empty);
    CHECK(examples_init(&empty, -1, &e) != 0);
}

static ModelConfig ex_config(HeadKind head) {
    ModelConfig c = {.dim = 24, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 6, .ffn_dim = 40,
                     .vocab_size = VOCAB, .max_seq = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .bos_id = -1,
                     .eos_id = -1, .bidirectional = true, .head = head, .n_labels = LABELS};
    if (head == HEAD_SEQUENCE) {
        c.n_groups = 2;
        c.group_size[0] = 3;
        c.group_size[1] = 2;
    }
    return c;
}

static TrainConfig ex_train_config(void) {
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = 1;
    tc.seq = MAX_LEN;
    tc.accum = 3;
    tc.steps = 8;
    tc.warmup = 2;
    tc.lr = 5e-3f;
    tc.seed = 23;
    return tc;
}

typedef struct Run {
    Model m;
    Trainer tr;
    ExampleLoader l;
    BatchSource src;
} Run;

static void run_start(TestCtx *t, Run *r, HeadKind head, const ExampleSet *s, bool garbage) {
    ModelConfig c = ex_config(head);
    TrainConfig tc = ex_train_config();
    Err e;
    CHECK(model_alloc(&r->m, &c, &e) == 0);
    model_init_random(&r->m, 1);
    if (garbage)
        for (size_t i = 0; i < r->m.n_params; i++) r->m.params[i] = 0.5f;
    CHECK_MSG(train_init(&r->tr, &r->m, NULL, &tc, &e) == 0, "%s", e.msg);
    CHECK(example_loader_init(&r->l, s, tc.seed, &e) == 0);
    r->src = example_loader_source(&r->l);
}

static void run_end(Run *r) {
    example_loader_free(&r->l);
    train_free(&r->tr);
    model_free(&r->m);
}

/* Log rows of a run, and a stop after a given step. */
typedef struct Rows {
    long stop_at;
    int n;
    TrainLogRow row[16];
} Rows;

static int keep_row(void *ctx, const TrainLogRow *row) {
    Rows *r = ctx;
    if (r->n < 16) r->row[r->n++] = *row;
    return r->stop_at > 0 && row->step >= r->stop_at;
}

static void resume_case(TestCtx *t, HeadKind head) {
    ExampleSet s, val;
    int nt = head == HEAD_SEQUENCE ? 2 : 0;
    random_examples(&s, 7, nt, 2, 3); /* labels < 2 fit both groups */
    random_examples(&val, 4, nt, 2, 4);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ex-%s/checkpoint", test_tmpdir(), model_head_name(head));
    Err e;
    /* straight, validating every 4 steps */
    Run a;
    run_start(t, &a, head, &s, false);
    Rows ra = {0};
    TrainRunOpts o = {.val_examples = &val, .val_every = 4, .log = keep_row, .log_ctx = &ra};
    CHECK_MSG(train_run_source(&a.tr, &a.src, &o, NULL, &e) == 0, "%s", e.msg);
    CHECK(ra.n == 8 && isfinite(ra.row[3].val_loss) && isfinite(ra.row[7].val_loss) && isnan(ra.row[4].val_loss));
    CHECK(a.tr.tokens > 0 && ra.row[7].tokens == a.tr.tokens);
    /* half, stopped by the log callback (a checkpoint follows), then a fresh trainer resumes */
    Run b;
    run_start(t, &b, head, &s, false);
    Rows rb = {.stop_at = 4};
    bool stopped;
    TrainRunOpts ob = {.ckpt_dir = dir, .log = keep_row, .log_ctx = &rb};
    CHECK_MSG(train_run_source(&b.tr, &b.src, &ob, &stopped, &e) == 0, "%s", e.msg);
    CHECK(stopped && b.tr.step == 4);
    run_end(&b);
    Run c;
    run_start(t, &c, head, &s, true);
    CHECK_MSG(train_ckpt_load_source(&c.tr, &c.src, dir, &e) == 0, "%s", e.msg);
    CHECK(c.tr.step == 4 && c.l.epoch == 1 && c.l.pos == 5); /* 12 examples = one epoch of 7 and 5 */
    TrainRunOpts oc = {.ckpt_dir = dir};
    CHECK_MSG(train_run_source(&c.tr, &c.src, &oc, &stopped, &e) == 0, "%s", e.msg);
    size_t n = a.tr.n_train;
    CHECK_MSG(!memcmp(a.tr.params, c.tr.params, sizeof(float) * n), "parameters differ after resume");
    CHECK_MSG(!memcmp(a.tr.m, c.tr.m, sizeof(float) * n) && !memcmp(a.tr.v, c.tr.v, sizeof(float) * n),
              "AdamW moments differ after resume");
    CHECK(a.tr.tokens == c.tr.tokens && a.l.epoch == c.l.epoch && a.l.pos == c.l.pos && !strcmp(a.m.hash, c.m.hash));
    /* the run really moved */
    Run z;
    run_start(t, &z, head, &s, false);
    CHECK(memcmp(z.tr.params, a.tr.params, sizeof(float) * n) != 0);
    /* a token-window loader cannot resume a run on examples */
    TokenData td = {malloc(sizeof(int) * 100), 100};
    util_tokens(td.tok, 100, VOCAB, 1);
    DataLoader dl;
    CHECK(data_loader_init(&dl, &td, MAX_LEN, 23, &e) == 0);
    CHECK(train_ckpt_load(&z.tr, &dl, dir, &e) != 0 && strstr(e.msg, "data_kind") && strstr(e.msg, "examples"));
    data_loader_free(&dl);
    data_free(&td);
    run_end(&z);
    run_end(&a);
    run_end(&c);
    examples_free(&s);
    examples_free(&val);
}

TEST(train_examples_resume_is_bitwise_exact_token_head) { resume_case(t, HEAD_TOKEN); }

TEST(train_examples_resume_is_bitwise_exact_sequence_head) { resume_case(t, HEAD_SEQUENCE); }

/* The SQLite training log of `elms train` records a run on examples as it does one on token windows. */
typedef struct LogCtx {
    TrainLog log;
    Err err;
} LogCtx;

static int log_row(void *ctx, const TrainLogRow *row) {
    LogCtx *c = ctx;
    return train_log_row(&c->log, row, &c->err) != 0;
}

TEST(train_examples_sqlite_log) {
    ExampleSet s;
    random_examples(&s, 6, 0, LABELS, 5);
    Run r;
    run_start(t, &r, HEAD_TOKEN, &s, false);
    const char *db = test_path("examples-log.db");
    LogCtx lc;
    Err e;
    CHECK_MSG(train_log_open(&lc.log, db, "ex", "test", "out", "{}", (long)r.m.n_params, -1, &e) == 0, "%s", e.msg);
    TrainRunOpts o = {.log = log_row, .log_ctx = &lc};
    CHECK_MSG(train_run_source(&r.tr, &r.src, &o, NULL, &e) == 0, "%s", e.msg);
    CHECK(train_log_close(&lc.log, &e) == 0);
    sqlite3 *h;
    sqlite3_stmt *st;
    long rows = -1, tokens = -1;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h, "SELECT count(*), max(tokens) FROM train_log WHERE run = 'ex'", -1, &st, NULL) ==
          SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        rows = sqlite3_column_int64(st, 0);
        tokens = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    CHECK(rows == 8 && tokens == r.tr.tokens);
    run_end(&r);
    examples_free(&s);
}

/* train_eval_examples is the mean, over every counted target of every example, of the cross-entropy of
 * model_classify's logits (computed here in double). */
TEST(train_eval_examples_is_the_mean_target_loss) {
    ExampleSet s;
    random_examples(&s, 9, 0, LABELS, 6);
    ModelConfig c = ex_config(HEAD_TOKEN);
    Model m;
    util_model(&m, &c, 7);
    TrainConfig tc = ex_train_config();
    Trainer tr;
    Err e;
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
    double loss = 0, sum = 0;
    long count = 0;
    CHECK_MSG(train_eval_examples(&tr, &s, 0, &loss, &e) == 0, "%s", e.msg);
    ElasticView v;
    view_full(&m, &v);
    float logits[MAX_LEN * LABELS];
    for (int i = 0; i < s.n; i++) {
        const int *tok, *tgt;
        int len;
        examples_get(&s, i, &tok, &len, &tgt);
        CHECK(model_classify(&m, &v, tok, len, logits, &e) == 0);
        for (int p = 0; p < len; p++) {
            if (tgt[p] < 0) continue;
            double z = 0;
            for (int o = 0; o < LABELS; o++) z += exp((double)logits[p * LABELS + o]);
            sum += log(z) - logits[p * LABELS + tgt[p]];
            count++;
        }
    }
    CHECK_NEAR(loss, sum / count, 1e-5 * fmax(1.0, fabs(loss)));
    /* the first three only */
    double l3;
    CHECK(train_eval_examples(&tr, &s, 3, &l3, &e) == 0 && l3 != loss);
    train_free(&tr);
    model_free(&m);
    examples_free(&s);
}

/* Data that does not fit the model or the trainer is refused with a message that says how. */
TEST(train_examples_that_do_not_fit) {
    ExampleSet tok_set, seq_set;
    random_examples(&tok_set, 3, 0, 2, 8);
    random_examples(&seq_set, 3, 2, 2, 9);
    Run r;
    run_start(t, &r, HEAD_SEQUENCE, &tok_set, false);
    Err e;
    CHECK(train_step_source(&r.tr, &r.src, NULL, &e) != 0 && strstr(e.msg, "one target per token") &&
          strstr(e.msg, "needs 2 per sequence"));
    double l;
    CHECK(train_eval_examples(&r.tr, &tok_set, 0, &l, &e) != 0 && strstr(e.msg, "train_eval_examples"));
    CHECK_MSG(train_eval_examples(&r.tr, &seq_set, 0, &l, &e) == 0, "%s", e.msg);
    run_end(&r);
    /* an example longer than the trainer's seq: refused, naming it, with the position unchanged */
    ExampleSet longer;
    CHECK(examples_init(&longer, 0, &e) == 0);
    int tok[MAX_LEN + 1] = {0}, tgt[MAX_LEN + 1] = {0};
    CHECK(examples_add(&longer, tok, MAX_LEN + 1, tgt, &e) == 0);
    run_start(t, &r, HEAD_TOKEN, &longer, false);
    CHECK(train_step_source(&r.tr, &r.src, NULL, &e) != 0 && strstr(e.msg, "example 0 has 13 tokens"));
    CHECK(r.l.epoch == 0 && r.l.pos == 0);
    /* token windows (next-token targets) do not train a classifier */
    TokenData td = {malloc(sizeof(int) * 100), 100};
    util_tokens(td.tok, 100, VOCAB, 2);
    DataLoader dl;
    CHECK(data_loader_init(&dl, &td, MAX_LEN, 1, &e) == 0);
    CHECK(train_step(&r.tr, &dl, NULL, &e) != 0 && strstr(e.msg, "token windows"));
    CHECK(train_eval(&r.tr, &td, 0, &l, &e) != 0 && strstr(e.msg, "token windows"));
    data_loader_free(&dl);
    data_free(&td);
    run_end(&r);
    examples_free(&longer);
    examples_free(&tok_set);
    examples_free(&seq_set);
}

/* next_token_examples: 64 examples of 4..12 random tokens, each labelled with the next token's id mod 3 (the last
 * token is ignored). */
static void next_token_examples(ExampleSet *s) {
    Err e;
    if (examples_init(s, 0, &e) != 0) abort();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 10);
    for (int i = 0; i < 64; i++) {
        int tok[MAX_LEN], tgt[MAX_LEN], len = 4 + (int)gsl_rng_uniform_int(r, MAX_LEN - 3);
        for (int j = 0; j < len; j++) tok[j] = (int)gsl_rng_uniform_int(r, VOCAB);
        for (int j = 0; j < len; j++) tgt[j] = j + 1 < len ? tok[j + 1] % 3 : -1;
        if (examples_add(s, tok, len, tgt, &e) != 0) abort();
    }
    gsl_rng_free(r);
}

/* learn: train a fresh 3-label token classifier on s for 400 steps of 4 examples; its loss on s before and after. */
static void learn(TestCtx *t, const ExampleSet *s, bool bidirectional, double *before, double *after) {
    ModelConfig c = ex_config(HEAD_TOKEN);
    c.n_labels = 3;
    c.bidirectional = bidirectional;
    Model m;
    Err e;
    CHECK(model_alloc(&m, &c, &e) == 0);
    model_init_random(&m, 2);
    TrainConfig tc = ex_train_config();
    tc.accum = 4;
    tc.steps = 400;
    tc.warmup = 10;
    tc.lr = 1e-2f;
    tc.min_lr = 1e-3f;
    tc.wd = 0.0f;
    Trainer tr;
    ExampleLoader l;
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0 && example_loader_init(&l, s, 1, &e) == 0, "%s", e.msg);
    BatchSource src = example_loader_source(&l);
    CHECK(train_eval_examples(&tr, s, 0, before, &e) == 0);
    CHECK_MSG(train_run_source(&tr, &src, &(TrainRunOpts){0}, NULL, &e) == 0, "%s", e.msg);
    CHECK(train_eval_examples(&tr, s, 0, after, &e) == 0);
    example_loader_free(&l);
    train_free(&tr);
    model_free(&m);
}

/* A bidirectional token classifier learns a rule that needs the next token: its loss falls from ~log 3 to near 0
 * (measured 0.013). The same model with causal attention cannot see that token and only memorises part of the
 * training set (measured 0.48). */
TEST(train_examples_token_classifier_learns) {
    ExampleSet s;
    next_token_examples(&s);
    double before, after, causal_before, causal_after;
    learn(t, &s, true, &before, &after);
    learn(t, &s, false, &causal_before, &causal_after);
    CHECK_MSG(before > 0.9 && after < 0.1, "bidirectional: loss %g -> %g", before, after);
    CHECK_MSG(causal_before > 0.9 && causal_after > 0.25, "causal: loss %g -> %g", causal_before, causal_after);
    examples_free(&s);
}
