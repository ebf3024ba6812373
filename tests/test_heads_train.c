/* Training classifier heads and bidirectional models (engine/train_head.c and the bidirectional attention of
 * engine/train_par.c): gradients against central finite differences of the training loss for a token head, a
 * sequence head with label groups, a multi-label head and a bidirectional language model; the input-embedding
 * gradient (train_input_grad) against finite differences on the embedding rows, in full and LoRA mode; the
 * training forward's logits against model_classify / model_logits for every head, causal and bidirectional;
 * target validation; and a checkpoint round trip of a classifier.
 *
 * Gradient checks follow tests/test_grad_model.c: a tiny model with weights ~N(0, 0.1^2), the mean loss of a (2, 7)
 * batch, eps = 1e-2 on the parameter, |analytic - numeric| <= 3e-2 * max(|a|, |n|) + 1e-4 over random coordinates
 * of every tensor (the reasons for these numbers are given there: fp32 rounding of the loss over 2 eps is ~2e-5,
 * the truncation error below 1% relative; a wrong backward term is off by O(1)). */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "engine/train.h"
#include "tests/test.h"
#include "tests/util.h"

#define EPS 1e-2f
#define RTOL 3e-2
#define ATOL 1e-4
#define SAMPLES 6

enum { B = 2, T = 7, LABELS = 7, MAX_TARGETS = 64 };

/* tiny_head_config: the tiny shape of tests/test_grad_model.c with a head (7 labels; a single-label sequence head
 * has groups of 4 and 3). */
static ModelConfig tiny_head_config(HeadKind head, bool multi, bool bidi) {
    ModelConfig c = {.dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .ffn_dim = 12,
                     .vocab_size = 23, .max_seq = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .bos_id = -1,
                     .eos_id = -1, .bidirectional = bidi, .head = head, .multi_label = multi};
    if (head != HEAD_LM) c.n_labels = LABELS;
    if (head == HEAD_SEQUENCE && !multi) {
        c.n_groups = 2;
        c.group_size[0] = 4;
        c.group_size[1] = 3;
    }
    return c;
}

typedef struct GradCase {
    Trainer *t;
    int inputs[B * T], targets[MAX_TARGETS];
    gsl_rng *r;
    double worst;
} GradCase;

/* case_init: distinct input tokens (so that an embedding row belongs to one position) and random targets valid for
 * the head, with one ignored. */
static void case_init(GradCase *g, Trainer *tr, unsigned long seed) {
    const ModelConfig *c = &tr->model->cfg;
    g->t = tr;
    g->worst = 0.0;
    g->r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g->r, seed);
    int perm[64];
    util_random_perm(perm, c->vocab_size, seed);
    memcpy(g->inputs, perm, sizeof g->inputs);
    int nt = model_head_targets(c, T);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < nt; i++) {
            int hi = c->head == HEAD_LM ? c->vocab_size : c->head == HEAD_TOKEN ? c->n_labels
                     : c->multi_label   ? 2
                                        : c->group_size[i];
            g->targets[b * nt + i] = (int)gsl_rng_uniform_int(g->r, (unsigned long)hi);
        }
    g->targets[nt + nt / 2] = -1; /* an ignored target of the second sequence */
}

static double loss_of(GradCase *g) {
    double l;
    Err e;
    if (train_forward(g->t, g->inputs, g->targets, B, T, &l, NULL, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    return l;
}

/* analytic: the gradient of the mean loss into t->grad (and the input gradient into train_input_grad). */
static void analytic(TestCtx *t, GradCase *g) {
    Err e;
    long counted;
    double l;
    train_zero_grad(g->t);
    CHECK(train_forward(g->t, g->inputs, g->targets, B, T, &l, &counted, &e) == 0);
    CHECK(counted > 0 && train_backward(g->t, 1.0f / (float)counted, &e) == 0);
}

/* check_coord: the analytic gradient ana of parameter *p against the central difference of the loss. */
static void check_coord(TestCtx *t, GradCase *g, const char *name, float *p, double ana, size_t at) {
    float keep = *p;
    *p = keep + EPS;
    double lp = loss_of(g);
    *p = keep - EPS;
    double lm = loss_of(g);
    *p = keep;
    double num = (lp - lm) / (2.0 * (double)EPS);
    double err = fabs(num - ana), tol = RTOL * fmax(fabs(num), fabs(ana)) + ATOL;
    if (err / tol > g->worst) g->worst = err / tol;
    CHECK_MSG(err <= tol, "%s: coordinate %zu: analytic %.6g numeric %.6g", name, at, ana, num);
}

static void check_tensor(TestCtx *t, GradCase *g, const char *name, float *tensor, size_t n) {
    size_t off = (size_t)(tensor - g->t->params);
    for (int s = 0; s < SAMPLES; s++) {
        size_t j = (size_t)gsl_rng_uniform_int(g->r, (unsigned long)n);
        check_coord(t, g, name, tensor + j, g->t->grad[off + j], j);
    }
}

/* check_model: sampled coordinates of every tensor of a full-mode trainer's model, the head included. */
static void check_model(TestCtx *t, GradCase *g, Model *m) {
    const ModelConfig *c = &m->cfg;
    size_t D = (size_t)c->dim, Q = (size_t)c->n_heads * c->head_dim, K = (size_t)c->n_kv_heads * c->head_dim,
           F = (size_t)c->ffn_dim;
    check_tensor(t, g, "tok_emb", m->w.tok_emb, (size_t)c->vocab_size * D);
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *w = &m->w.layer[l];
        check_tensor(t, g, "attn_norm", w->attn_norm, D);
        check_tensor(t, g, "wq", w->wq, Q * D);
        check_tensor(t, g, "wk", w->wk, K * D);
        check_tensor(t, g, "wv", w->wv, K * D);
        check_tensor(t, g, "wo_t", w->wo_t, Q * D);
        check_tensor(t, g, "ffn_norm", w->ffn_norm, D);
        check_tensor(t, g, "w_gate", w->w_gate, F * D);
        check_tensor(t, g, "w_up", w->w_up, F * D);
        check_tensor(t, g, "w_down_t", w->w_down_t, F * D);
    }
    check_tensor(t, g, "final_norm", m->w.final_norm, D);
    if (c->head == HEAD_LM) {
        check_tensor(t, g, "lm_head", m->w.lm_head, (size_t)c->vocab_size * D);
        return;
    }
    check_tensor(t, g, "classifier.weight", m->w.cls_w, (size_t)c->n_labels * D);
    check_tensor(t, g, "classifier.bias", m->w.cls_b, (size_t)c->n_labels);
}

static TrainConfig tiny_train_config(void) {
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = B;
    tc.seq = T;
    return tc;
}

/* grad_case: full training of a tiny model with this head; every tensor against finite differences. */
static void grad_case(TestCtx *t, HeadKind head, bool multi, bool bidi, unsigned long seed) {
    ModelConfig c = tiny_head_config(head, multi, bidi);
    Model m;
    util_grad_model(&m, &c, seed);
    TrainConfig tc = tiny_train_config();
    Trainer tr;
    Err e;
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
    GradCase g;
    case_init(&g, &tr, seed + 2);
    analytic(t, &g);
    check_model(t, &g, &m);
    if (getenv("GRAD_VERBOSE"))
        fprintf(stderr, "  %s%s%s: worst error/tol %.3g\n", model_head_name(head), multi ? " multi-label" : "",
                bidi ? " bidirectional" : "", g.worst);
    gsl_rng_free(g.r);
    train_free(&tr);
    model_free(&m);
}

TEST(grad_heads_token_classifier) { grad_case(t, HEAD_TOKEN, false, false, 401); }

TEST(grad_heads_sequence_label_groups) { grad_case(t, HEAD_SEQUENCE, false, false, 402); }

TEST(grad_heads_multi_label) { grad_case(t, HEAD_SEQUENCE, true, true, 403); }

TEST(grad_heads_bidirectional_attention) {
    grad_case(t, HEAD_LM, false, true, 404);
    grad_case(t, HEAD_TOKEN, false, true, 405);
}

/* The input gradient: row i of train_input_grad against the central difference of the loss in the embedding row
 * of inputs[i] (inputs are distinct, so that row feeds position i only), for a token head in full mode and a
 * bidirectional sequence head in LoRA mode (where the embeddings are frozen but the gradient must be the same). */
TEST(grad_heads_input_embeddings) {
    for (int lora = 0; lora < 2; lora++) {
        ModelConfig c = lora ? tiny_head_config(HEAD_SEQUENCE, false, true)
                             : tiny_head_config(HEAD_TOKEN, false, false);
        Model m;
        util_grad_model(&m, &c, 410 + lora);
        TrainConfig tc = tiny_train_config();
        Trainer tr;
        Lora a;
        Err e;
        if (lora) {
            CHECK_MSG(lora_alloc(&a, &c, 3, 6.0f, &e) == 0, "%s", e.msg);
            gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
            gsl_rng_set(r, 5);
            for (size_t i = 0; i < a.n_params; i++) a.params[i] = (float)(0.3 * (2.0 * gsl_rng_uniform(r) - 1.0));
            gsl_rng_free(r);
            CHECK_MSG(train_lora_init(&tr, &m, &a, NULL, &tc, &e) == 0, "%s", e.msg);
        } else {
            CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
        }
        GradCase g;
        case_init(&g, &tr, 20 + lora);
        CHECK(train_forward(&tr, g.inputs, g.targets, B, T, NULL, NULL, &e) == 0 && train_input_grad(&tr) == NULL);
        analytic(t, &g);
        const float *dx = train_input_grad(&tr);
        CHECK(dx != NULL);
        if (!dx) continue;
        float *copy = malloc(sizeof(float) * B * T * c.dim);
        memcpy(copy, dx, sizeof(float) * B * T * c.dim); /* the checks below run forwards */
        for (int s = 0; s < 4 * SAMPLES; s++) {
            int i = (int)gsl_rng_uniform_int(g.r, B * T), j = (int)gsl_rng_uniform_int(g.r, (unsigned long)c.dim);
            check_coord(t, &g, lora ? "LoRA input grad" : "input grad", m.w.tok_emb + (size_t)g.inputs[i] * c.dim + j,
                        copy[(size_t)i * c.dim + j], (size_t)i * c.dim + j);
        }
        /* in full mode the embedding gradient is the input gradient, gathered by token */
        if (!lora) CHECK(tr.grad[(size_t)g.inputs[3] * c.dim + 5] == copy[3 * c.dim + 5]);
        CHECK(train_forward(&tr, g.inputs, g.targets, B, T, NULL, NULL, &e) == 0 && train_input_grad(&tr) == NULL);
        free(copy);
        gsl_rng_free(g.r);
        train_free(&tr);
        if (lora) lora_free(&a);
        model_free(&m);
    }
}

/* The training forward's logits equal inference's for every head, causal and bidirectional: model_classify of each
 * sequence alone (model_logits for a language model). Tolerance 1e-4 relative to the largest logit, as in
 * train_forward_matches_inference_logits: the two differ only in fp32 summation order (sgemm blocking, a batch of
 * rows against one), ~1e-6 relative. T = 130 would make causal attention run in 2 query blocks; bidirectional
 * attention runs as one. */
TEST(train_heads_match_model_classify) {
    struct {
        HeadKind head;
        bool multi, bidi;
        int T;
    } cases[] = {{HEAD_LM, false, true, 130}, {HEAD_TOKEN, false, false, 130}, {HEAD_TOKEN, false, true, 13},
                 {HEAD_SEQUENCE, false, false, 13}, {HEAD_SEQUENCE, false, true, 130},
                 {HEAD_SEQUENCE, true, true, 13}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ModelConfig c = util_config();
        c.max_seq = 160;
        c.head = cases[k].head;
        c.multi_label = cases[k].multi;
        c.bidirectional = cases[k].bidi;
        if (c.head != HEAD_LM) c.n_labels = 9;
        if (c.head == HEAD_SEQUENCE && !c.multi_label) {
            c.n_groups = 2;
            c.group_size[0] = 5;
            c.group_size[1] = 4;
        }
        Model m;
        util_model(&m, &c, 420 + k);
        for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 0.5f;
        for (int o = 0; o < c.n_labels; o++) m.w.cls_b[o] = 0.2f * (float)(o % 3);
        int BB = 3, TT = cases[k].T, W = model_head_width(&c), rows = c.head == HEAD_SEQUENCE ? 1 : TT;
        TrainConfig tc;
        train_config_default(&tc);
        tc.batch = BB;
        tc.seq = TT;
        Trainer tr;
        Err e;
        CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
        int *tok = malloc(sizeof(int) * (size_t)BB * TT);
        util_tokens(tok, BB * TT, c.vocab_size, 30 + k);
        CHECK_MSG(train_forward(&tr, tok, NULL, BB, TT, NULL, NULL, &e) == 0, "%s", e.msg);
        float *ref = malloc(sizeof(float) * (size_t)TT * W);
        ElasticView v;
        view_full(&m, &v);
        double d = 0.0, scale = 1.0;
        for (int b = 0; b < BB; b++) {
            int rc = c.head == HEAD_LM ? model_logits(&m, &v, tok + (size_t)b * TT, TT, ref, &e)
                                       : model_classify(&m, &v, tok + (size_t)b * TT, TT, ref, &e);
            CHECK_MSG(rc == 0, "%s", e.msg);
            const float *got = train_logits(&tr) + (size_t)b * rows * W;
            for (size_t i = 0; i < (size_t)rows * W; i++) scale = fmax(scale, fabs(ref[i]));
            d = fmax(d, util_max_abs_diff(ref, got, (size_t)rows * W));
        }
        CHECK_MSG(d <= 1e-4 * scale, "case %zu: max |train - inference| = %g (scale %g)", k, d, scale);
        free(ref);
        free(tok);
        train_free(&tr);
        model_free(&m);
    }
}

/* Targets out of range for the head are refused before anything runs, naming the sequence and position or label. */
TEST(train_heads_reject_bad_targets) {
    struct {
        HeadKind head;
        bool multi;
        int at, value;
        const char *want;
    } cases[] = {{HEAD_TOKEN, false, 3, LABELS, "position (token label) 3 is 7"},
                 {HEAD_SEQUENCE, false, 1, 3, "label group 1 is 3, expected -1 or [0, 3)"},
                 {HEAD_SEQUENCE, true, 5, 2, "label (multi-label: 0 or 1) 5 is 2"},
                 {HEAD_SEQUENCE, false, 0, -2, "label group 0 is -2"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ModelConfig c = tiny_head_config(cases[k].head, cases[k].multi, false);
        Model m;
        util_grad_model(&m, &c, 430);
        TrainConfig tc = tiny_train_config();
        Trainer tr;
        Err e;
        CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
        GradCase g;
        case_init(&g, &tr, 7);
        int nt = model_head_targets(&c, T);
        g.targets[nt + cases[k].at] = cases[k].value;
        CHECK(train_forward(&tr, g.inputs, g.targets, B, T, NULL, NULL, &e) == -1);
        CHECK_MSG(strstr(e.msg, "sequence 1") && strstr(e.msg, cases[k].want), "case %zu: %s", k, e.msg);
        gsl_rng_free(g.r);
        train_free(&tr);
        model_free(&m);
    }
}

/* A classifier's checkpoint: two AdamW steps, save, load into a trainer of a model filled with garbage: parameters
 * and moments bitwise equal, and the classifier bias carries no weight decay. A checkpoint of another head is
 * refused. */
TEST(train_ckpt_classifier_roundtrip) {
    ModelConfig c = tiny_head_config(HEAD_SEQUENCE, false, true);
    Model m, m2;
    util_grad_model(&m, &c, 440);
    util_grad_model(&m2, &c, 441);
    TrainConfig tc = tiny_train_config();
    tc.wd = 0.5f;
    Trainer tr, t2;
    Err e;
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0 && train_init(&t2, &m2, NULL, &tc, &e) == 0, "%s", e.msg);
    bool bias_no_decay = false, weight_decay = false;
    for (int s = 0; s < tr.n_segs; s++) {
        const TrainSeg *sg = &tr.segs[s];
        size_t b = (size_t)(m.w.cls_b - m.params), w = (size_t)(m.w.cls_w - m.params);
        if (b >= sg->off && b < sg->off + sg->len) bias_no_decay = !sg->decay;
        if (w >= sg->off && w < sg->off + sg->len) weight_decay = sg->decay;
    }
    CHECK(bias_no_decay && weight_decay);
    GradCase g;
    case_init(&g, &tr, 8);
    for (int step = 0; step < 2; step++) {
        analytic(t, &g);
        train_update(&tr, 1e-2f, train_grad_norm(&tr));
    }
    const char *dir = test_path("cls-ckpt");
    CHECK_MSG(train_ckpt_save(&tr, NULL, dir, &e) == 0, "%s", e.msg);
    CHECK_MSG(train_ckpt_load(&t2, NULL, dir, &e) == 0, "%s", e.msg);
    CHECK(!memcmp(m.params, m2.params, sizeof(float) * m.n_params));
    CHECK(!memcmp(tr.m, t2.m, sizeof(float) * tr.n_train) && !memcmp(tr.v, t2.v, sizeof(float) * tr.n_train));
    model_rehash(&m);
    CHECK(t2.step == 2 && !strcmp(m.hash, m2.hash));
    /* the same shapes under a multi-label head: refused */
    ModelConfig tc2 = tiny_head_config(HEAD_SEQUENCE, true, true);
    Model m3;
    util_grad_model(&m3, &tc2, 442);
    Trainer t3;
    CHECK_MSG(train_init(&t3, &m3, NULL, &tc, &e) == 0, "%s", e.msg);
    CHECK(train_ckpt_load(&t3, NULL, dir, &e) != 0 && strstr(e.msg, "head"));
    train_free(&t3);
    model_free(&m3);
    gsl_rng_free(g.r);
    train_free(&tr);
    train_free(&t2);
    model_free(&m);
    model_free(&m2);
}
