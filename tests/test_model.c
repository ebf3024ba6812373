/* Model-level invariants of the engine: the forward pass against a naive double-precision reference (causal and
 * bidirectional, language-model logits and classifier heads),
 * permutation consistency, prefix view = physically sliced model, KV-cache decode = full recompute,
 * shared-prefix choice scoring = scoring alone, unmerged LoRA = merged weights, neuron subsets and skips, and the
 * captured residual stream against the logits. */
#include "engine/model.h"
#include "engine/ops.h"
#include "engine/score.h"
#include "tests/test.h"
#include "tests/util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Naive forward: one token at a time over the full history (over the whole sequence when the model is
 * bidirectional), double accumulation, dense full model. logits (n, vocab) of the LM head unless NULL; hidden
 * (n, dim) receives the final-normed hidden states unless NULL. */
static void forward_ref(const Model *m, const int *tok, int n, float *logits, double *hidden) {
    const ModelConfig *c = &m->cfg;
    int d = c->dim, hd = c->head_dim, nq = c->n_heads, nkv = c->n_kv_heads, rep = nq / nkv, F = c->ffn_dim;
    int qd = nq * hd, kd = nkv * hd;
    double *x = calloc((size_t)n * d, sizeof(double)), *xn = malloc(sizeof(double) * d);
    double *K = malloc(sizeof(double) * n * kd), *Vv = malloc(sizeof(double) * n * kd);
    double *q = malloc(sizeof(double) * qd), *ao = malloc(sizeof(double) * qd), *s = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[i * d + j] = m->w.tok_emb[(size_t)tok[i] * d + j];
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *W = &m->w.layer[l];
        for (int i = 0; i < n; i++) { /* K, V for position i (computed before they are needed) */
            double ss = 0;
            for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
            double r = 1.0 / sqrt(ss / d + c->norm_eps);
            for (int j = 0; j < d; j++) xn[j] = x[i * d + j] * r * W->attn_norm[j];
            for (int o = 0; o < kd; o++) {
                double a = 0, b = 0;
                for (int j = 0; j < d; j++) {
                    a += W->wk[(size_t)o * d + j] * xn[j];
                    b += W->wv[(size_t)o * d + j] * xn[j];
                }
                K[i * kd + o] = a;
                Vv[i * kd + o] = b;
            }
            for (int h = 0; h < nkv; h++)
                for (int j = 0; j < hd / 2; j++) {
                    double ang = i * pow(c->rope_theta, -2.0 * j / hd), *v = K + i * kd + h * hd;
                    double a = v[j], b = v[j + hd / 2];
                    v[j] = a * cos(ang) - b * sin(ang);
                    v[j + hd / 2] = b * cos(ang) + a * sin(ang);
                }
        }
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
            double r = 1.0 / sqrt(ss / d + c->norm_eps);
            for (int j = 0; j < d; j++) xn[j] = x[i * d + j] * r * W->attn_norm[j];
            for (int o = 0; o < qd; o++) {
                double a = 0;
                for (int j = 0; j < d; j++) a += W->wq[(size_t)o * d + j] * xn[j];
                q[o] = a;
            }
            for (int h = 0; h < nq; h++)
                for (int j = 0; j < hd / 2; j++) {
                    double ang = i * pow(c->rope_theta, -2.0 * j / hd), *v = q + h * hd;
                    double a = v[j], b = v[j + hd / 2];
                    v[j] = a * cos(ang) - b * sin(ang);
                    v[j + hd / 2] = b * cos(ang) + a * sin(ang);
                }
            int keys = c->bidirectional ? n : i + 1; /* K and V of every position exist already */
            for (int h = 0; h < nq; h++) {
                int g = h / rep;
                double mx = -1e300, z = 0;
                for (int t = 0; t < keys; t++) {
                    double a = 0;
                    for (int j = 0; j < hd; j++) a += q[h * hd + j] * K[t * kd + g * hd + j];
                    s[t] = a / sqrt((double)hd);
                    if (s[t] > mx) mx = s[t];
                }
                for (int t = 0; t < keys; t++) z += (s[t] = exp(s[t] - mx));
                for (int j = 0; j < hd; j++) {
                    double a = 0;
                    for (int t = 0; t < keys; t++) a += s[t] / z * Vv[t * kd + g * hd + j];
                    ao[h * hd + j] = a;
                }
            }
            for (int j = 0; j < d; j++) { /* o_proj[j][o] = wo_t[o][j] */
                double a = 0;
                for (int o = 0; o < qd; o++) a += W->wo_t[(size_t)o * d + j] * ao[o];
                x[i * d + j] += a;
            }
        }
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
            double r = 1.0 / sqrt(ss / d + c->norm_eps);
            for (int j = 0; j < d; j++) xn[j] = x[i * d + j] * r * W->ffn_norm[j];
            double *acc = calloc((size_t)d, sizeof(double));
            for (int f = 0; f < F; f++) {
                double g = 0, u = 0;
                for (int j = 0; j < d; j++) {
                    g += W->w_gate[(size_t)f * d + j] * xn[j];
                    u += W->w_up[(size_t)f * d + j] * xn[j];
                }
                double h = g / (1 + exp(-g)) * u;
                for (int j = 0; j < d; j++) acc[j] += h * W->w_down_t[(size_t)f * d + j];
            }
            for (int j = 0; j < d; j++) x[i * d + j] += acc[j];
            free(acc);
        }
    }
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
        double r = 1.0 / sqrt(ss / d + c->norm_eps);
        for (int j = 0; j < d; j++) xn[j] = x[i * d + j] * r * m->w.final_norm[j];
        if (hidden) memcpy(hidden + (size_t)i * d, xn, sizeof(double) * d);
        for (int o = 0; logits && o < c->vocab_size; o++) {
            double a = 0;
            for (int j = 0; j < d; j++) a += m->w.lm_head[(size_t)o * d + j] * xn[j];
            logits[(size_t)i * c->vocab_size + o] = (float)a;
        }
    }
    free(x), free(xn), free(K), free(Vv), free(q), free(ao), free(s);
}

/* Relative closeness: logits of these deliberately sharp random models reach magnitudes of ~10-100. */
static double rel_diff(const float *a, const float *b, size_t n) {
    double mx = 1.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
    return util_max_abs_diff(a, b, n) / mx;
}

TEST(model_forward_matches_naive_reference) {
    for (int tied = 0; tied < 2; tied++) {
        ModelConfig c = util_config();
        c.tied = tied;
        Model m;
        util_model(&m, &c, 100 + tied);
        int n = 13, tok[13];
        util_tokens(tok, n, c.vocab_size, 7);
        float *a = malloc(sizeof(float) * n * c.vocab_size), *b = malloc(sizeof(float) * n * c.vocab_size);
        ElasticView v;
        view_full(&m, &v);
        Err e;
        CHECK(model_logits(&m, &v, tok, n, a, &e) == 0);
        forward_ref(&m, tok, n, b, NULL);
        double d = rel_diff(a, b, (size_t)n * c.vocab_size);
        CHECK_MSG(d < 1e-5, "tied=%d relative diff %g", tied, d);
        free(a), free(b);
        model_free(&m);
    }
}

TEST(model_permutation_consistency) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 200);
    int n = 11, tok[11];
    util_tokens(tok, n, c.vocab_size, 8);
    size_t sz = (size_t)n * c.vocab_size;
    float *a = malloc(sizeof(float) * sz), *b = malloc(sizeof(float) * sz);
    ElasticView v;
    view_full(&m, &v);
    Err e;
    CHECK(model_logits(&m, &v, tok, n, a, &e) == 0);
    for (int l = 0; l < c.n_layers; l++) {
        int pa[64], pf[64];
        util_random_perm(pa, c.n_kv_heads, 300 + l);
        util_random_perm(pf, c.ffn_dim, 400 + l);
        CHECK(model_permute_units(&m, l, pa, pf, &e) == 0);
    }
    CHECK(model_logits(&m, &v, tok, n, b, &e) == 0);
    double d = util_max_abs_diff(a, b, sz);
    CHECK_MSG(d <= 1e-4, "max abs diff %g", d);
    /* a non-permutation is rejected */
    int bad[2] = {0, 0};
    CHECK(model_permute_units(&m, 0, bad, NULL, &e) == -1 && strstr(e.msg, "permutation"));
    /* and a permutation that is not applied to every tensor does change the output (the test can fail) */
    int swap[2] = {1, 0};
    float *tmp = malloc(sizeof(float) * c.dim * c.head_dim * 2);
    memcpy(tmp, m.w.layer[1].wv, sizeof(float) * c.dim * c.head_dim * 2);
    CHECK(model_permute_units(&m, 1, swap, NULL, &e) == 0);
    memcpy(m.w.layer[1].wv, tmp, sizeof(float) * c.dim * c.head_dim * 2);
    CHECK(model_logits(&m, &v, tok, n, b, &e) == 0);
    CHECK(rel_diff(b, a, sz) > 1e-3);
    free(tmp), free(a), free(b);
    model_free(&m);
}

TEST(model_prefix_view_equals_sliced_model) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 500);
    int n = 9, tok[9];
    util_tokens(tok, n, c.vocab_size, 9);
    size_t sz = (size_t)n * c.vocab_size;
    float *a = malloc(sizeof(float) * sz), *b = malloc(sizeof(float) * sz), *full = malloc(sizeof(float) * sz);
    Err e;
    ElasticView fv;
    view_full(&m, &fv);
    CHECK(model_logits(&m, &fv, tok, n, full, &e) == 0);
    int cases[3][2] = {{1, 17}, {2, 5}, {1, 48}};
    for (int k = 0; k < 3; k++) {
        ElasticView v;
        view_uniform(&m, cases[k][0], cases[k][1], &v);
        CHECK(model_logits(&m, &v, tok, n, a, &e) == 0);
        Model s;
        CHECK(model_slice(&m, cases[k][0], cases[k][1], &s, &e) == 0);
        ElasticView sv;
        view_full(&s, &sv);
        CHECK(model_logits(&s, &sv, tok, n, b, &e) == 0);
        CHECK_MSG(util_max_abs_diff(a, b, sz) <= 1e-4, "case %d diff %g", k, util_max_abs_diff(a, b, sz));
        CHECK(rel_diff(a, full, sz) > 1e-3); /* the narrower view really is a different model */
        model_free(&s);
    }
    free(a), free(b), free(full);
    model_free(&m);
}

/* A random adapter with non-zero B, for tests. */
static void random_lora(Lora *a, const Model *m, unsigned long seed) {
    Err e;
    if (lora_alloc(a, &m->cfg, 4, 8.0f, &e)) abort();
    lora_init(a, seed);
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i] == 0.0f) a->params[i] = 0.05f * (float)(((i * 2654435761u) >> 8) % 201 - 100) / 100.0f;
}

/* merge: W += scale * B A in the elastic layout (o and down transposed). */
static void merge_lora(Model *m, const Lora *a) {
    const ModelConfig *c = &m->cfg;
    int d = c->dim, qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim, f = c->ffn_dim, r = a->rank;
    float s = a->alpha / (float)r;
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *W = &m->w.layer[l];
        const LoraLayer *L = &a->layer[l];
        struct {
            float *w;
            const float *A, *B;
            int out, in, transposed;
        } t[7] = {{W->wq, L->a_q, L->b_q, qd, d, 0},         {W->wk, L->a_k, L->b_k, kd, d, 0},
                  {W->wv, L->a_v, L->b_v, kd, d, 0},         {W->wo_t, L->a_o, L->b_o, d, qd, 1},
                  {W->w_gate, L->a_gate, L->b_gate, f, d, 0}, {W->w_up, L->a_up, L->b_up, f, d, 0},
                  {W->w_down_t, L->a_down, L->b_down, d, f, 1}};
        for (int k = 0; k < 7; k++)
            for (int o = 0; o < t[k].out; o++)
                for (int i = 0; i < t[k].in; i++) {
                    double acc = 0;
                    for (int q = 0; q < r; q++) acc += (double)t[k].B[o * r + q] * t[k].A[q * t[k].in + i];
                    size_t at = t[k].transposed ? (size_t)i * d + o : (size_t)o * t[k].in + i;
                    t[k].w[at] += (float)(s * acc);
                }
    }
}

TEST(model_lora_unmerged_equals_merged) {
    ModelConfig c = util_config();
    Model m, merged;
    util_model(&m, &c, 600);
    util_model(&merged, &c, 600);
    Lora a;
    random_lora(&a, &m, 5);
    merge_lora(&merged, &a);
    int n = 8, tok[8];
    util_tokens(tok, n, c.vocab_size, 10);
    size_t sz = (size_t)n * c.vocab_size;
    float *x = malloc(sizeof(float) * sz), *y = malloc(sizeof(float) * sz), *z = malloc(sizeof(float) * sz);
    Err e;
    int cases[2][2] = {{2, 48}, {1, 20}};
    for (int k = 0; k < 2; k++) {
        ElasticView v;
        view_uniform(&m, cases[k][0], cases[k][1], &v);
        CHECK(model_logits(&merged, &v, tok, n, y, &e) == 0);
        CHECK(model_logits(&m, &v, tok, n, z, &e) == 0);
        v.lora = &a;
        CHECK(model_logits(&m, &v, tok, n, x, &e) == 0);
        CHECK_MSG(rel_diff(x, y, sz) <= 1e-5, "case %d relative diff %g", k, rel_diff(x, y, sz));
        CHECK(rel_diff(x, z, sz) > 1e-3); /* the adapter changes the output */
    }
    /* B = 0 (fresh adapter) is the identity */
    lora_init(&a, 6);
    ElasticView v;
    view_full(&m, &v);
    CHECK(model_logits(&m, &v, tok, n, z, &e) == 0);
    v.lora = &a;
    CHECK(model_logits(&m, &v, tok, n, x, &e) == 0);
    CHECK(util_max_abs_diff(x, z, sz) == 0.0);
    free(x), free(y), free(z);
    lora_free(&a);
    model_free(&m);
    model_free(&merged);
}

TEST(model_kv_decode_equals_recompute) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 700);
    Lora a;
    random_lora(&a, &m, 7);
    int n = 12, tok[12], V = c.vocab_size;
    util_tokens(tok, n, V, 11);
    float *full = malloc(sizeof(float) * n * V), *step = malloc(sizeof(float) * V);
    Err e;
    for (int k = 0; k < 3; k++) {
        ElasticView v;
        if (k == 0) view_full(&m, &v);
        else view_uniform(&m, 1, 30, &v);
        if (k == 2) v.lora = &a;
        v.layer[1].skip_ffn = (k == 1);
        CHECK(model_logits(&m, &v, tok, n, full, &e) == 0);
        KVCache kv;
        CHECK(kvcache_init(&kv, &m, &v, n, &e) == 0);
        CHECK(model_prefill(&m, &v, &kv, tok, 5, NULL, step, &e) == 0);
        CHECK(util_max_abs_diff(step, full + 4 * V, V) <= 1e-4);
        for (int i = 5; i < n; i++) {
            CHECK(model_decode(&m, &v, &kv, tok[i], step, &e) == 0);
            CHECK_MSG(util_max_abs_diff(step, full + (size_t)i * V, V) <= 1e-4 * 50, "case %d pos %d diff %g", k, i,
                      util_max_abs_diff(step, full + (size_t)i * V, V));
            CHECK(rel_diff(step, full + (size_t)i * V, V) <= 1e-5);
        }
        /* the cache is full: one more token is an error, not an overflow */
        CHECK(model_decode(&m, &v, &kv, tok[0], step, &e) == -1 && strstr(e.msg, "exceed"));
        kvcache_free(&kv);
    }
    free(full), free(step);
    lora_free(&a);
    model_free(&m);
}

TEST(model_shared_prefix_scoring_equals_alone) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 800);
    Lora a;
    random_lora(&a, &m, 8);
    int prompt[10], ch[4][5], len[4] = {1, 3, 5, 2};
    util_tokens(prompt, 10, c.vocab_size, 12);
    for (int i = 0; i < 4; i++) util_tokens(ch[i], 5, c.vocab_size, 13 + i);
    const int *choices[4] = {ch[0], ch[1], ch[2], ch[3]};
    Err e;
    for (int k = 0; k < 2; k++) {
        ElasticView v;
        view_uniform(&m, 2 - k, 48 - 20 * k, &v);
        if (k) v.lora = &a;
        ScoreResult r;
        CHECK(score_choices(&m, &v, prompt, 10, choices, len, 4, &r, &e) == 0);
        int best = 0;
        double s[4];
        for (int i = 0; i < 4; i++) {
            CHECK(score_choice_alone(&m, &v, prompt, 10, ch[i], len[i], &s[i], &e) == 0);
            CHECK_NEAR(r.scores[i], s[i], 1e-4 * fmax(1.0, fabs(s[i])));
            if (s[i] > s[best]) best = i;
        }
        CHECK(r.best == best);
        score_result_free(&r);
    }
    /* a prompt too long for the context is an error */
    int *longp = calloc(70, sizeof(int));
    ScoreResult r;
    ElasticView v;
    view_full(&m, &v);
    CHECK(score_choices(&m, &v, longp, 70, choices, len, 4, &r, &e) == -1 && strstr(e.msg, "context"));
    free(longp);
    lora_free(&a);
    model_free(&m);
}

/* Selector for the test: the first k neurons, k from ctx. */
static int select_prefix(void *ctx, int layer, const float *x, int *idx, int cap) {
    (void)layer, (void)x;
    int k = *(int *)ctx;
    for (int i = 0; i < k && i < cap; i++) idx[i] = i;
    return k;
}

TEST(model_neuron_subsets_and_skips) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 900);
    Lora a;
    random_lora(&a, &m, 9);
    int n = 7, tok[7];
    util_tokens(tok, n, c.vocab_size, 14);
    size_t sz = (size_t)n * c.vocab_size;
    float *x = malloc(sizeof(float) * sz), *y = malloc(sizeof(float) * sz);
    Err e;
    /* explicit subset {0..k-1} (in scrambled order) = prefix k, with an adapter */
    int k = 19, idx[19];
    util_random_perm(idx, k, 15);
    ElasticView v;
    view_uniform(&m, 2, k, &v);
    v.lora = &a;
    CHECK(model_logits(&m, &v, tok, n, x, &e) == 0);
    for (int l = 0; l < c.n_layers; l++) {
        v.layer[l].ffn_idx = idx;
        v.layer[l].n_ffn_idx = k;
    }
    CHECK(model_logits(&m, &v, tok, n, y, &e) == 0);
    CHECK_MSG(rel_diff(y, x, sz) <= 1e-5, "subset diff %g", rel_diff(y, x, sz));
    /* dynamic selector returning the prefix */
    ElasticView w;
    view_uniform(&m, 2, c.ffn_dim, &w);
    w.lora = &a;
    w.ffn_select = select_prefix;
    w.ffn_select_ctx = &k;
    CHECK(model_logits(&m, &w, tok, n, y, &e) == 0);
    CHECK(rel_diff(y, x, sz) <= 1e-5);
    /* skip_attn everywhere = zero attention units; skip_ffn = zero FFN units */
    view_uniform(&m, 0, 0, &v);
    CHECK(model_logits(&m, &v, tok, n, x, &e) == 0);
    view_full(&m, &w);
    for (int l = 0; l < c.n_layers; l++) w.layer[l].skip_attn = w.layer[l].skip_ffn = true;
    CHECK(model_logits(&m, &w, tok, n, y, &e) == 0);
    CHECK(util_max_abs_diff(x, y, sz) == 0.0);
    /* views wider than the model are rejected with a message naming the layer */
    view_full(&m, &v);
    v.layer[2].ffn_units = c.ffn_dim + 1;
    CHECK(model_logits(&m, &v, tok, n, x, &e) == -1 && strstr(e.msg, "layer 2"));
    view_full(&m, &v);
    v.layer[0].attn_units = c.n_kv_heads + 1;
    CHECK(model_logits(&m, &v, tok, n, x, &e) == -1 && strstr(e.msg, "attention units"));
    int dup[2] = {3, 3};
    view_full(&m, &v);
    v.layer[1].ffn_idx = dup;
    v.layer[1].n_ffn_idx = 2;
    CHECK(model_logits(&m, &v, tok, n, x, &e) == -1 && strstr(e.msg, "repeated"));
    /* out-of-vocabulary token */
    tok[3] = c.vocab_size;
    view_full(&m, &v);
    CHECK(model_logits(&m, &v, tok, n, x, &e) == -1 && strstr(e.msg, "vocabulary"));
    free(x), free(y);
    lora_free(&a);
    model_free(&m);
}

/* head_ref: logits (n, vocab) of a final residual x (n, dim): final RMSNorm and LM head, in double. */
static void head_ref(const Model *m, const float *x, int n, float *logits) {
    const ModelConfig *c = &m->cfg;
    int d = c->dim;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)xi[j] * xi[j];
        double r = 1.0 / sqrt(ss / d + c->norm_eps);
        for (int o = 0; o < c->vocab_size; o++) {
            double a = 0;
            for (int j = 0; j < d; j++) a += xi[j] * r * m->w.final_norm[j] * m->w.lm_head[(size_t)o * d + j];
            logits[(size_t)i * c->vocab_size + o] = (float)a;
        }
    }
}

TEST(model_residuals_match_logits_and_skips) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 1200);
    int n = 9, tok[9], L = c.n_layers, d = c.dim;
    util_tokens(tok, n, c.vocab_size, 21);
    size_t plane = (size_t)n * d, sz = (size_t)n * c.vocab_size;
    float *res = malloc(sizeof(float) * (2 * L + 1) * plane);
    float *x = malloc(sizeof(float) * sz), *y = malloc(sizeof(float) * sz);
    Err e;
    ElasticView v;
    view_full(&m, &v);
    /* the last residual through the final norm and the head = the engine's logits; res[0] = the embeddings */
    CHECK_MSG(model_residuals(&m, &v, tok, n, res, &e) == 0, "%s", e.msg);
    CHECK(model_logits(&m, &v, tok, n, x, &e) == 0);
    head_ref(&m, res + 2 * L * plane, n, y);
    CHECK_MSG(rel_diff(y, x, sz) <= 1e-5, "full view: relative diff %g", rel_diff(y, x, sz));
    int emb_ok = 1, moved = 1;
    for (int i = 0; i < n; i++)
        emb_ok &= memcmp(res + (size_t)i * d, m.w.tok_emb + (size_t)tok[i] * d, sizeof(float) * d) == 0;
    for (int k = 1; k <= 2 * L; k++) moved &= util_max_abs_diff(res + k * plane, res + (k - 1) * plane, plane) > 0;
    CHECK(emb_ok);
    CHECK_MSG(moved, "every sub-block of the full view changes the stream");
    /* a skipped sub-block (or one with no units) repeats its input exactly; the others still match the logits */
    v.layer[0].skip_ffn = true;
    v.layer[1].skip_attn = true;
    v.layer[2].attn_units = 0;
    CHECK(model_residuals(&m, &v, tok, n, res, &e) == 0);
    CHECK(util_max_abs_diff(res + 2 * plane, res + 1 * plane, plane) == 0.0);
    CHECK(util_max_abs_diff(res + 3 * plane, res + 2 * plane, plane) == 0.0);
    CHECK(util_max_abs_diff(res + 5 * plane, res + 4 * plane, plane) == 0.0);
    CHECK(util_max_abs_diff(res + 1 * plane, res + 0 * plane, plane) > 0);
    CHECK(util_max_abs_diff(res + 4 * plane, res + 3 * plane, plane) > 0);
    CHECK(model_logits(&m, &v, tok, n, x, &e) == 0);
    head_ref(&m, res + 2 * L * plane, n, y);
    CHECK_MSG(rel_diff(y, x, sz) <= 1e-5, "skips: relative diff %g", rel_diff(y, x, sz));
    /* bad input is rejected with a message */
    CHECK(model_residuals(&m, &v, tok, 0, res, &e) == -1 && strstr(e.msg, "tokens"));
    tok[2] = -1;
    CHECK(model_residuals(&m, &v, tok, n, res, &e) == -1 && strstr(e.msg, "vocabulary"));
    free(res), free(x), free(y);
    model_free(&m);
}

TEST(model_greedy_generation_follows_argmax) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 1000);
    int prompt[4] = {1, 2, 3, 4}, out[8], seq[12];
    ElasticView v;
    view_full(&m, &v);
    Err e;
    CHECK(generate_greedy(&m, &v, NULL, prompt, 4, 8, -1, out, NULL, &e) == 8);
    memcpy(seq, prompt, sizeof prompt);
    memcpy(seq + 4, out, sizeof out);
    float *lg = malloc(sizeof(float) * 12 * c.vocab_size);
    CHECK(model_logits(&m, &v, seq, 12, lg, &e) == 0);
    for (int i = 0; i < 8; i++) {
        const float *row = lg + (size_t)(3 + i) * c.vocab_size;
        int b = 0;
        for (int j = 1; j < c.vocab_size; j++)
            if (row[j] > row[b]) b = j;
        CHECK_MSG(out[i] == b, "step %d: generated %d, argmax %d", i, out[i], b);
    }
    free(lg);
    model_free(&m);
}

/* A cache kept across generations (kvcache_reset) gives the tokens of a fresh one under every view, switching
 * between views of different widths; its buffer grows only when a view needs more than it holds. */
TEST(model_generation_in_a_kept_cache) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 1010);
    int prompt[5] = {1, 2, 3, 4, 5}, fresh[6], kept[6];
    ElasticView vs[3];
    view_uniform(&m, 1, 12, &vs[0]);
    view_full(&m, &vs[1]);
    view_uniform(&m, 2, 24, &vs[2]);
    KVCache kc;
    memset(&kc, 0, sizeof kc);
    Err e;
    size_t grown = 0;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 3; i++) {
            CHECK(generate_greedy(&m, &vs[i], NULL, prompt, 5, 6, -1, fresh, NULL, &e) == 6);
            const float *before = kc.buf;
            size_t had = kc.buf_bytes;
            CHECK(generate_greedy(&m, &vs[i], &kc, prompt, 5, 6, -1, kept, NULL, &e) == 6);
            CHECK_MSG(memcmp(fresh, kept, sizeof fresh) == 0, "round %d view %d: tokens differ", r, i);
            CHECK(kc.len == 5 + 5 && kc.bytes == kvcache_bytes_for(&m, &vs[i], 11) && kc.buf_bytes >= kc.bytes);
            if (kc.buf_bytes != had || kc.buf != before) grown++;
        }
    CHECK_MSG(grown == 2, "the buffer was allocated %zu times (expected: the first view, then the full one)", grown);
    /* a bad capacity is an error that leaves the cache usable */
    CHECK(kvcache_reset(&kc, &m, &vs[0], c.max_seq + 1, &e) == -1 && strstr(e.msg, "context"));
    CHECK(generate_greedy(&m, &vs[0], &kc, prompt, 5, 6, -1, kept, NULL, &e) == 6);
    kvcache_free(&kc);
    model_free(&m);
}

TEST(model_view_param_fraction) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 1100);
    ElasticView v;
    view_full(&m, &v);
    CHECK_NEAR(view_param_fraction(&m, &v), 1.0, 1e-12);
    view_uniform(&m, 1, 24, &v); /* exactly half of each */
    CHECK_NEAR(view_param_fraction(&m, &v), 0.5, 1e-12);
    CHECK(kvcache_bytes_for(&m, &v, 10) == 2 * 10 * 8 * sizeof(float) * 3);
    model_free(&m);
}

/* A bidirectional model: model_logits against the naive reference with every key visible; the first position's
 * logits differ from the causal model's (it now sees later tokens); a cache holding positions cannot be continued
 * and decoding is refused, with messages that say why. */
TEST(model_bidirectional_matches_naive_reference) {
    ModelConfig c = util_config();
    c.bidirectional = true;
    Model m;
    util_model(&m, &c, 140);
    int n = 13, tok[13];
    util_tokens(tok, n, c.vocab_size, 8);
    size_t sz = (size_t)n * c.vocab_size;
    float *a = malloc(sizeof(float) * sz), *b = malloc(sizeof(float) * sz), *cz = malloc(sizeof(float) * sz);
    ElasticView v;
    view_full(&m, &v);
    Err e;
    CHECK_MSG(model_logits(&m, &v, tok, n, a, &e) == 0, "%s", e.msg);
    forward_ref(&m, tok, n, b, NULL);
    CHECK_MSG(rel_diff(a, b, sz) < 1e-5, "relative diff %g", rel_diff(a, b, sz));
    m.cfg.bidirectional = false;
    CHECK(model_logits(&m, &v, tok, n, cz, &e) == 0);
    m.cfg.bidirectional = true;
    CHECK(util_max_abs_diff(a, cz, (size_t)c.vocab_size) > 1e-3);
    KVCache kc;
    CHECK(kvcache_init(&kc, &m, &v, 20, &e) == 0);
    CHECK_MSG(model_prefill(&m, &v, &kc, tok, 5, NULL, a, &e) == 0, "%s", e.msg);
    CHECK(model_prefill(&m, &v, &kc, tok, 5, NULL, a, &e) == -1 && strstr(e.msg, "bidirectional"));
    CHECK(kc.len == 5);
    CHECK(model_decode(&m, &v, &kc, tok[0], a, &e) == -1 && strstr(e.msg, "bidirectional"));
    kvcache_free(&kc);
    free(a), free(b), free(cz);
    model_free(&m);
}

/* classify_ref: the classifier on final-normed hidden states (n, dim) in double: out (n, n_labels) per position, or
 * out (n_labels) of their mean for a sequence head. */
static void classify_ref(const Model *m, const double *hidden, int n, float *out) {
    const ModelConfig *c = &m->cfg;
    int d = c->dim, L = c->n_labels, rows = c->head == HEAD_SEQUENCE ? 1 : n;
    double *h = malloc(sizeof(double) * (size_t)rows * d);
    if (c->head == HEAD_SEQUENCE)
        for (int j = 0; j < d; j++) {
            h[j] = 0;
            for (int i = 0; i < n; i++) h[j] += hidden[(size_t)i * d + j] / n;
        }
    else
        memcpy(h, hidden, sizeof(double) * (size_t)rows * d);
    for (int i = 0; i < rows; i++)
        for (int o = 0; o < L; o++) {
            double a = m->w.cls_b[o];
            for (int j = 0; j < d; j++) a += (double)m->w.cls_w[(size_t)o * d + j] * h[(size_t)i * d + j];
            out[(size_t)i * L + o] = (float)a;
        }
    free(h);
}

/* model_classify for token and sequence heads (single-label with groups, multi-label), causal and bidirectional,
 * against the naive forward followed by the classifier in double. */
TEST(model_classify_matches_naive_reference) {
    struct {
        HeadKind head;
        bool multi, bidi;
    } cases[] = {{HEAD_TOKEN, false, false}, {HEAD_TOKEN, false, true}, {HEAD_SEQUENCE, false, false},
                 {HEAD_SEQUENCE, false, true}, {HEAD_SEQUENCE, true, true}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ModelConfig c = util_config();
        c.head = cases[k].head;
        c.multi_label = cases[k].multi;
        c.bidirectional = cases[k].bidi;
        c.n_labels = 7;
        if (c.head == HEAD_SEQUENCE && !c.multi_label) {
            c.n_groups = 2;
            c.group_size[0] = 4;
            c.group_size[1] = 3;
        }
        Model m;
        util_model(&m, &c, 150 + k);
        for (int o = 0; o < c.n_labels; o++) m.w.cls_b[o] = 0.3f * (float)(o - 3);
        int n = 11, tok[11];
        util_tokens(tok, n, c.vocab_size, 9 + k);
        double *hidden = malloc(sizeof(double) * (size_t)n * c.dim);
        float *a = malloc(sizeof(float) * (size_t)n * c.n_labels), *b = malloc(sizeof(float) * (size_t)n * c.n_labels);
        size_t sz = (size_t)(c.head == HEAD_TOKEN ? n : 1) * c.n_labels;
        ElasticView v;
        view_full(&m, &v);
        Err e;
        CHECK_MSG(model_classify(&m, &v, tok, n, a, &e) == 0, "%s", e.msg);
        forward_ref(&m, tok, n, NULL, hidden);
        classify_ref(&m, hidden, n, b);
        CHECK_MSG(rel_diff(a, b, sz) < 1e-5, "case %zu: relative diff %g", k, rel_diff(a, b, sz));
        /* a classifier has no language-model logits */
        CHECK(model_logits(&m, &v, tok, n, a, &e) == -1 && strstr(e.msg, "model_classify"));
        free(hidden), free(a), free(b);
        model_free(&m);
    }
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 160);
    ElasticView v;
    view_full(&m, &v);
    int tok[3] = {1, 2, 3};
    float out[8];
    Err e;
    CHECK(model_classify(&m, &v, tok, 3, out, &e) == -1 && strstr(e.msg, "language model"));
    model_free(&m);
}

/* thp_mode: the word in brackets of the sysfs THP setting file (enabled or defrag), "" when unreadable */
static void thp_mode(const char *file, char *mode, size_t cap) {
    char path[96], line[160];
    snprintf(path, sizeof path, "/sys/kernel/mm/transparent_hugepage/%s", file);
    mode[0] = 0;
    FILE *f = fopen(path, "r");
    char *a = f && fgets(line, sizeof line, f) ? strchr(line, '[') : NULL, *b = a ? strchr(a, ']') : NULL;
    if (b) snprintf(mode, cap, "%.*s", (int)(b - a - 1), a + 1);
    if (f) fclose(f);
}

/* anon_huge_kb_at: AnonHugePages (KiB) of the mapping of /proc/self/smaps that holds p; -1 when not found */
static long anon_huge_kb_at(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int inside = 0;
    long kb = -1;
    unsigned long lo, hi, a = (unsigned long)(uintptr_t)p;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = a >= lo && a < hi;
        else if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    }
    if (f) fclose(f);
    return kb;
}

/* A plain model's weights (model_alloc, and so every loaded one) are zeroed, 2 MiB-aligned, and, where the kernel's
 * THP mode takes the advice and may compact memory to serve it, on huge pages (the README's "Huge pages"). */
TEST(model_weights_are_aligned_zeroed_and_on_huge_pages) {
    ModelConfig c = util_config();
    c.dim = 256, c.n_heads = 8, c.n_kv_heads = 4, c.head_dim = 32, c.ffn_dim = 1024, c.n_layers = 4;
    c.vocab_size = 2048; /* about 6 MB of weights: two whole huge pages at least */
    Model m;
    Err e;
    CHECK(model_alloc(&m, &c, &e) == 0);
    CHECK((uintptr_t)m.params % ((uintptr_t)1 << 21) == 0);
    size_t bytes = m.n_params * sizeof(float), nonzero = 0;
    CHECK(bytes > (size_t)2 << 21);
    for (size_t i = 0; i < m.n_params; i++) nonzero += m.params[i] != 0.0f;
    CHECK(nonzero == 0);
    char enabled[32], defrag[32];
    thp_mode("enabled", enabled, sizeof enabled);
    thp_mode("defrag", defrag, sizeof defrag);
    long kb = anon_huge_kb_at(m.params);
    if (!enabled[0] || !strcmp(enabled, "never") || !strcmp(defrag, "never") || !strcmp(defrag, "defer") || kb < 0) {
        model_free(&m);
        SKIP("the huge pages: THP enabled [%s], defrag [%s], smaps %s", enabled, defrag, kb < 0 ? "unread" : "read");
    }
    CHECK_MSG(kb >= 2048, "the weights' mapping has %ld KiB on huge pages (THP enabled [%s], defrag [%s])", kb,
              enabled, defrag);
    model_free(&m);
}
