/* Gradient checks of the whole training backward (engine/train_*.c) against central finite differences of the
 * training loss, on a tiny random model: every parameter tensor (full view, tied and untied head), the same under
 * a narrower view with a skipped sub-block, and the LoRA parameters in LoRA mode under a narrower view.
 *
 * Objective: the mean next-token loss of a (2, 7) batch as train_forward computes it (fp32 forward, loss summed
 * in double). Numeric gradient: central difference with eps = 1e-2 on the parameter (weights here are
 * ~N(0, 0.1^2), so this is a small relative step). Tolerance: |analytic - numeric| <= 3e-2 * max(|a|, |n|) +
 * 1e-4 over random coordinates of each tensor. Why: the loss (~3) carries fp32 rounding of ~1e-7 relative from
 * every activation, i.e. ~3e-7 absolute, which divided by 2 eps is ~2e-5 (the absolute floor leaves 5x room);
 * the truncation error is O(eps^2) relative to the curvature, measured here below 1% (3% leaves room). A wrong
 * backward term is off by O(1) relative.
 * Units outside the view must get exactly zero gradient, and perturbing them must leave the loss bitwise
 * unchanged. A last check repeats the comparison at training scale (a (3, 150) batch on 2 threads, blocked
 * attention) along random directions of whole tensors; its tolerance is explained there. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train.h"
#include "tests/test.h"
#include "tests/util.h"

#define EPS 1e-2f
#define RTOL 3e-2
#define ATOL 1e-4
#define SAMPLES 6

enum { B = 2, T = 7 };

typedef struct GradCase {
    Trainer *t;
    int inputs[B * T], targets[B * T];
    gsl_rng *r;
    double worst;
} GradCase;

static ModelConfig tiny_config(bool tied) {
    ModelConfig c = {.dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .ffn_dim = 12,
                     .vocab_size = 23, .max_seq = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied = tied,
                     .bos_id = -1, .eos_id = -1};
    return c;
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

/* Analytic gradient of the mean loss into t->grad. */
static void analytic(TestCtx *t, GradCase *g) {
    Err e;
    long counted;
    double l;
    train_zero_grad(g->t);
    CHECK(train_forward(g->t, g->inputs, g->targets, B, T, &l, &counted, &e) == 0);
    CHECK(train_backward(g->t, 1.0f / (float)counted, &e) == 0);
}

/* Check coordinate j of the trained parameters (analytic gradient in grad[j]). */
static int check_coord(TestCtx *t, GradCase *g, const char *name, size_t j) {
    float *p = g->t->params;
    float keep = p[j];
    p[j] = keep + EPS;
    double lp = loss_of(g);
    p[j] = keep - EPS;
    double lm = loss_of(g);
    p[j] = keep;
    double num = (lp - lm) / (2.0 * (double)EPS), ana = (double)g->t->grad[j];
    double err = fabs(num - ana), tol = RTOL * fmax(fabs(num), fabs(ana)) + ATOL;
    if (err / tol > g->worst) g->worst = err / tol;
    CHECK_MSG(err <= tol, "%s: coordinate %zu: analytic %.6g numeric %.6g", name, j, ana, num);
    return err <= tol;
}

/* Sample coordinates of a tensor (rows x cols, the first active_rows rows and active_cols columns active; the rest
 * must have zero gradient and no effect on the loss). */
static void check_tensor(TestCtx *t, GradCase *g, const char *name, const float *tensor, int rows, int cols,
                         int active_rows, int active_cols) {
    size_t off = (size_t)(tensor - g->t->params);
    for (int s = 0; s < SAMPLES && active_rows > 0 && active_cols > 0; s++) {
        int i = (int)gsl_rng_uniform_int(g->r, (unsigned long)active_rows);
        int j = (int)gsl_rng_uniform_int(g->r, (unsigned long)active_cols);
        check_coord(t, g, name, off + (size_t)i * cols + j);
    }
    if (active_rows == rows && active_cols == cols) return;
    double base = loss_of(g);
    for (int s = 0; s < SAMPLES; s++) {
        int i, j;
        do {
            i = (int)gsl_rng_uniform_int(g->r, (unsigned long)rows);
            j = (int)gsl_rng_uniform_int(g->r, (unsigned long)cols);
        } while (i < active_rows && j < active_cols);
        size_t k = off + (size_t)i * cols + j;
        CHECK_MSG(g->t->grad[k] == 0.0f, "%s: inactive (%d, %d) has gradient %g", name, i, j, g->t->grad[k]);
        float keep = g->t->params[k];
        g->t->params[k] = keep + 1.0f;
        double l = loss_of(g);
        g->t->params[k] = keep;
        CHECK_MSG(l == base, "%s: inactive (%d, %d) changes the loss", name, i, j);
    }
}

static void case_init(GradCase *g, Trainer *tr, int vocab, unsigned long seed) {
    g->t = tr;
    g->worst = 0.0;
    g->r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g->r, seed);
    for (int i = 0; i < B * T; i++) {
        g->inputs[i] = (int)gsl_rng_uniform_int(g->r, (unsigned long)vocab);
        g->targets[i] = (int)gsl_rng_uniform_int(g->r, (unsigned long)vocab);
    }
    g->targets[3] = -1; /* an ignored position */
}

static TrainConfig tiny_train_config(void) {
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = B;
    tc.seq = T;
    return tc;
}

/* Every tensor of the model under view v (units per layer from v). */
static void check_model(TestCtx *t, GradCase *g, const Model *m, const ElasticView *v) {
    const ModelConfig *c = &m->cfg;
    int D = c->dim, rep = c->n_heads / c->n_kv_heads, hd = c->head_dim, Q = c->n_heads * hd,
        K = c->n_kv_heads * hd, F = c->ffn_dim;
    check_tensor(t, g, "tok_emb", m->w.tok_emb, c->vocab_size, D, c->vocab_size, D);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *w = &m->w.layer[l];
        const LayerView *lv = &v->layer[l];
        int a = lv->skip_attn ? 0 : lv->attn_units, f = lv->skip_ffn ? 0 : lv->ffn_units;
        check_tensor(t, g, "attn_norm", w->attn_norm, 1, D, a ? 1 : 0, D);
        check_tensor(t, g, "wq", w->wq, Q, D, a * rep * hd, D);
        check_tensor(t, g, "wk", w->wk, K, D, a * hd, D);
        check_tensor(t, g, "wv", w->wv, K, D, a * hd, D);
        check_tensor(t, g, "wo_t", w->wo_t, Q, D, a * rep * hd, D);
        check_tensor(t, g, "ffn_norm", w->ffn_norm, 1, D, f ? 1 : 0, D);
        check_tensor(t, g, "w_gate", w->w_gate, F, D, f, D);
        check_tensor(t, g, "w_up", w->w_up, F, D, f, D);
        check_tensor(t, g, "w_down_t", w->w_down_t, F, D, f, D);
    }
    check_tensor(t, g, "final_norm", m->w.final_norm, 1, D, 1, D);
    if (!c->tied) check_tensor(t, g, "lm_head", m->w.lm_head, c->vocab_size, D, c->vocab_size, D);
}

TEST(grad_model_full_view_all_tensors) {
    for (int tied = 0; tied < 2; tied++) {
        ModelConfig c = tiny_config(tied);
        Model m;
        util_grad_model(&m, &c, 101 + tied);
        TrainConfig tc = tiny_train_config();
        Trainer tr;
        Err e;
        CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0, "%s", e.msg);
        GradCase g;
        case_init(&g, &tr, c.vocab_size, 7 + tied);
        analytic(t, &g);
        check_model(t, &g, &m, &tr.view);
        if (getenv("GRAD_VERBOSE")) fprintf(stderr, "  full view (tied %d): worst error/tol %.3g\n", tied, g.worst);
        gsl_rng_free(g.r);
        train_free(&tr);
        model_free(&m);
    }
}

TEST(grad_model_narrow_view) {
    ModelConfig c = tiny_config(false);
    Model m;
    util_grad_model(&m, &c, 202);
    ElasticView v;
    view_uniform(&m, 1, 5, &v); /* 1 of 2 KV groups, 5 of 12 neurons */
    v.layer[1].skip_attn = true;
    v.layer[0].ffn_units = 7;
    TrainConfig tc = tiny_train_config();
    Trainer tr;
    Err e;
    CHECK_MSG(train_init(&tr, &m, &v, &tc, &e) == 0, "%s", e.msg);
    GradCase g;
    case_init(&g, &tr, c.vocab_size, 9);
    analytic(t, &g);
    check_model(t, &g, &m, &v);
    if (getenv("GRAD_VERBOSE")) fprintf(stderr, "  narrow view: worst error/tol %.3g\n", g.worst);
    /* and a view with the whole MLP of layer 0 skipped */
    train_free(&tr);
    v.layer[0].skip_ffn = true;
    CHECK_MSG(train_init(&tr, &m, &v, &tc, &e) == 0, "%s", e.msg);
    g.t = &tr;
    analytic(t, &g);
    check_model(t, &g, &m, &v);
    gsl_rng_free(g.r);
    train_free(&tr);
    model_free(&m);
}

TEST(grad_model_lora_params_under_view) {
    ModelConfig c = tiny_config(false);
    Model m;
    util_grad_model(&m, &c, 303);
    Lora a;
    Err e;
    CHECK_MSG(lora_alloc(&a, &c, 3, 6.0f, &e) == 0, "%s", e.msg);
    /* random A and non-zero B (lora_init would leave B = 0, and A without a gradient) */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 6);
    for (size_t i = 0; i < a.n_params; i++) a.params[i] = (float)(0.3 * (2.0 * gsl_rng_uniform(r) - 1.0));
    gsl_rng_free(r);
    ElasticView v;
    view_uniform(&m, 1, 8, &v);
    TrainConfig tc = tiny_train_config();
    Trainer tr;
    CHECK_MSG(train_lora_init(&tr, &m, &a, &v, &tc, &e) == 0, "%s", e.msg);
    GradCase g;
    case_init(&g, &tr, c.vocab_size, 10);
    float *base_copy = malloc(sizeof(float) * m.n_params);
    memcpy(base_copy, m.params, sizeof(float) * m.n_params);
    analytic(t, &g);
    int D = c.dim, Q = c.n_heads * c.head_dim, K = c.n_kv_heads * c.head_dim, F = c.ffn_dim, R = a.rank;
    int qa = 1 * 2 * c.head_dim, ka = 1 * c.head_dim, fa = 8;
    for (int l = 0; l < c.n_layers; l++) {
        const LoraLayer *L = &a.layer[l];
        /* A (r, in): o and down read a column prefix; B (out, r): q, k, v, gate, up write a row prefix */
        check_tensor(t, &g, "lora a_q", L->a_q, R, D, R, D);
        check_tensor(t, &g, "lora b_q", L->b_q, Q, R, qa, R);
        check_tensor(t, &g, "lora a_k", L->a_k, R, D, R, D);
        check_tensor(t, &g, "lora b_k", L->b_k, K, R, ka, R);
        check_tensor(t, &g, "lora a_v", L->a_v, R, D, R, D);
        check_tensor(t, &g, "lora b_v", L->b_v, K, R, ka, R);
        check_tensor(t, &g, "lora a_o", L->a_o, R, Q, R, qa);
        check_tensor(t, &g, "lora b_o", L->b_o, D, R, D, R);
        check_tensor(t, &g, "lora a_gate", L->a_gate, R, D, R, D);
        check_tensor(t, &g, "lora b_gate", L->b_gate, F, R, fa, R);
        check_tensor(t, &g, "lora a_up", L->a_up, R, D, R, D);
        check_tensor(t, &g, "lora b_up", L->b_up, F, R, fa, R);
        check_tensor(t, &g, "lora a_down", L->a_down, R, F, R, fa);
        check_tensor(t, &g, "lora b_down", L->b_down, D, R, D, R);
    }
    if (getenv("GRAD_VERBOSE")) fprintf(stderr, "  LoRA under view: worst error/tol %.3g\n", g.worst);
    /* the base is untouched by LoRA-mode backward */
    CHECK(memcmp(base_copy, m.params, sizeof(float) * m.n_params) == 0);
    free(base_copy);
    gsl_rng_free(g.r);
    train_free(&tr);
    lora_free(&a);
    model_free(&m);
}

/* The same backward at training scale: a (3, 150) batch (so attention runs in causal query blocks, as training
 * sequences of 128 tokens or more do) on 2 threads. Each tensor of both layers is checked along one random
 * direction d over all its coordinates: grad . d against (L(w + eps d) - L(w - eps d)) / (2 eps), eps = 1e-3. A
 * direction sums every coordinate's error, so a wrong term anywhere in the tensor shows; the agreement measured
 * is 1e-4 relative or better, and the tolerance is 1e-2 relative (the fp32 rounding of the loss, ~3e-7, over
 * 2 eps is ~2e-4 absolute, hence the 2e-3 floor). */
TEST(grad_model_directional_at_training_scale) {
    ModelConfig c = util_config();
    c.max_seq = 256;
    c.n_layers = 2;
    Model m;
    util_model(&m, &c, 5);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 0.5f;
    enum { BB = 3, TT = 150 };
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = BB;
    tc.seq = TT;
    Trainer tr;
    Err e;
    CHECK_MSG(train_init(&tr, &m, NULL, &tc, &e) == 0 && train_set_threads(&tr, 2, &e) == 0, "%s", e.msg);
    static int in[BB * TT], tg[BB * TT];
    util_tokens(in, BB * TT, c.vocab_size, 8);
    util_tokens(tg, BB * TT, c.vocab_size, 9);
    double l;
    long n;
    train_zero_grad(&tr);
    CHECK(train_forward(&tr, in, tg, BB, TT, &l, &n, &e) == 0 && train_backward(&tr, 1.0f / (float)n, &e) == 0);
    float *g = malloc(sizeof(float) * m.n_params);
    memcpy(g, tr.grad, sizeof(float) * m.n_params);
    size_t q = (size_t)c.n_heads * c.head_dim * c.dim, kv = (size_t)c.n_kv_heads * c.head_dim * c.dim,
           f = (size_t)c.ffn_dim * c.dim;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    for (int L = 0; L < 2; L++) {
        const LayerWeights *ly = &m.w.layer[L];
        struct {
            const char *name;
            float *w;
            size_t len;
        } ts[] = {{"wq", ly->wq, q},         {"wk", ly->wk, kv},         {"wv", ly->wv, kv},
                  {"wo_t", ly->wo_t, q},     {"w_gate", ly->w_gate, f},  {"w_up", ly->w_up, f},
                  {"w_down_t", ly->w_down_t, f}, {"tok_emb", m.w.tok_emb, (size_t)c.vocab_size * c.dim}};
        for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
            size_t off = (size_t)(ts[k].w - m.params), len = ts[k].len;
            float *d = malloc(sizeof(float) * len), *keep = malloc(sizeof(float) * len);
            memcpy(keep, ts[k].w, sizeof(float) * len);
            double ana = 0.0, eps = 1e-3, lp, lm;
            for (size_t i = 0; i < len; i++) {
                d[i] = (float)gsl_ran_gaussian(r, 1.0);
                ana += (double)d[i] * g[off + i];
            }
            for (size_t i = 0; i < len; i++) ts[k].w[i] = keep[i] + (float)eps * d[i];
            CHECK(train_forward(&tr, in, tg, BB, TT, &lp, NULL, &e) == 0);
            for (size_t i = 0; i < len; i++) ts[k].w[i] = keep[i] - (float)eps * d[i];
            CHECK(train_forward(&tr, in, tg, BB, TT, &lm, NULL, &e) == 0);
            memcpy(ts[k].w, keep, sizeof(float) * len);
            double num = (lp - lm) / (2 * eps);
            CHECK_MSG(fabs(num - ana) <= 1e-2 * fmax(fabs(num), fabs(ana)) + 2e-3,
                      "layer %d %s: analytic %g numeric %g", L, ts[k].name, ana, num);
            free(d);
            free(keep);
        }
    }
    gsl_rng_free(r);
    free(g);
    train_free(&tr);
    model_free(&m);
}
