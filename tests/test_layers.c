/* Layer-dropping and layer-collapse baselines: ShortGPT's Block Influence and AttnDrop's sub-block scores
 * against a plain per-token recomputation from the residual stream, an identity layer scoring 0 and ranking
 * first; LaCo's layer merge against its formula on the raw tensors, the similarity of a model with itself, and
 * the collapse reaching its target with every accepted merge logged (and replayable from the log). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/calib.h"
#include "elastic/laco.h"
#include "elastic/layerscore.h"
#include "tests/test.h"
#include "tests/util.h"

/* random_calib: n seeded random windows of seq tokens (targets unused here). */
static Calib random_calib(int n, int seq, int vocab, unsigned long seed) {
    Calib c = {.n = n, .seq = seq, .inputs = malloc(sizeof(int) * (size_t)n * seq), .targets = NULL};
    util_tokens(c.inputs, n * seq, vocab, seed);
    return c;
}

/* naive_scores: 1 - mean per-token cosine, in double, written out from model_residuals: bi between the
 * residuals entering and leaving each layer, attn around the attention sub-block, ffn around the MLP one. */
static void naive_scores(const Model *m, const Calib *c, double *bi, double *attn, double *ffn) {
    int L = m->cfg.n_layers, d = m->cfg.dim, n = c->seq;
    float *res = malloc(sizeof(float) * (2 * L + 1) * n * d);
    double sb[ELMS_MAX_LAYERS] = {0}, sa[ELMS_MAX_LAYERS] = {0}, sf[ELMS_MAX_LAYERS] = {0};
    ElasticView v;
    view_full(m, &v);
    for (int w = 0; w < c->n; w++) {
        model_residuals(m, &v, c->inputs + w * n, n, res, NULL);
        for (int l = 0; l < L; l++)
            for (int i = 0; i < n; i++) {
                const float *x[3] = {res + ((2 * l) * n + i) * d, res + ((2 * l + 1) * n + i) * d,
                                     res + ((2 * l + 2) * n + i) * d};
                double dot[3] = {0}, nn[3] = {0}; /* dot: (in, out), (in, mid), (mid, out) */
                for (int j = 0; j < d; j++) {
                    dot[0] += (double)x[0][j] * x[2][j];
                    dot[1] += (double)x[0][j] * x[1][j];
                    dot[2] += (double)x[1][j] * x[2][j];
                    for (int k = 0; k < 3; k++) nn[k] += (double)x[k][j] * x[k][j];
                }
                sb[l] += dot[0] / sqrt(nn[0] * nn[2]);
                sa[l] += dot[1] / sqrt(nn[0] * nn[1]);
                sf[l] += dot[2] / sqrt(nn[1] * nn[2]);
            }
    }
    for (int l = 0; l < L; l++) {
        bi[l] = 1 - sb[l] / (c->n * n);
        attn[l] = 1 - sa[l] / (c->n * n);
        ffn[l] = 1 - sf[l] / (c->n * n);
    }
    free(res);
}

TEST(layers_scores_match_per_token_recomputation) {
    ModelConfig cfg = util_config();
    cfg.n_layers = 4;
    Model m;
    util_model(&m, &cfg, 31);
    Calib c = random_calib(3, 11, cfg.vocab_size, 32);
    double bi[4], attn[4], ffn[4], rb[4], ra[4], rf[4];
    Err e;
    CHECK_MSG(layerscore_block_influence(&m, &c, bi, &e) == 0, "%s", e.msg);
    CHECK_MSG(layerscore_subblocks(&m, &c, attn, ffn, &e) == 0, "%s", e.msg);
    naive_scores(&m, &c, rb, ra, rf);
    for (int l = 0; l < 4; l++) {
        CHECK_NEAR(bi[l], rb[l], 1e-9);
        CHECK_NEAR(attn[l], ra[l], 1e-9);
        CHECK_NEAR(ffn[l], rf[l], 1e-9);
        CHECK_MSG(bi[l] > 1e-4 && attn[l] > 1e-4 && ffn[l] > 1e-4, "layer %d changes the stream", l);
    }
    /* an out-of-context window is rejected */
    Calib big = random_calib(1, cfg.max_seq + 1, cfg.vocab_size, 33);
    CHECK(layerscore_block_influence(&m, &big, bi, &e) == -1 && strstr(e.msg, "tokens"));
    calib_free(&big);
    calib_free(&c);
    model_free(&m);
}

TEST(layers_identity_layer_scores_zero_and_ranks_first) {
    ModelConfig cfg = util_config();
    cfg.n_layers = 4;
    Model m;
    util_model(&m, &cfg, 41);
    /* layer 2 writes nothing into the residual stream: zero o_proj and down_proj */
    LayerWeights *W = &m.w.layer[2];
    memset(W->wo_t, 0, sizeof(float) * cfg.n_heads * cfg.head_dim * cfg.dim);
    memset(W->w_down_t, 0, sizeof(float) * cfg.ffn_dim * cfg.dim);
    Calib c = random_calib(2, 13, cfg.vocab_size, 42);
    double bi[4], attn[4], ffn[4];
    int order[4];
    Err e;
    CHECK(layerscore_block_influence(&m, &c, bi, &e) == 0);
    CHECK(layerscore_subblocks(&m, &c, attn, ffn, &e) == 0);
    CHECK_NEAR(bi[2], 0.0, 1e-6);
    CHECK_NEAR(attn[2], 0.0, 1e-6);
    CHECK_NEAR(ffn[2], 0.0, 1e-6);
    layerscore_rank(bi, 4, order);
    CHECK_MSG(order[0] == 2, "the identity layer ranks first, got layer %d", order[0]);
    for (int k = 1; k < 4; k++) CHECK(bi[order[k - 1]] <= bi[order[k]]);
    /* ties keep the lower index first; NaN ranks last */
    double x[6] = {0.5, 0.1, NAN, 0.1, 0.0, 0.5};
    int o[6], want[6] = {4, 1, 3, 0, 5, 2};
    layerscore_rank(x, 6, o);
    CHECK(memcmp(o, want, sizeof o) == 0);
    calib_free(&c);
    model_free(&m);
}

/* tensors: layer W's 9 tensors and their sizes in floats (attn_norm, q, k, v, o^T, ffn_norm, gate, up, down^T). */
static int tensors(const ModelConfig *c, const LayerWeights *W, float *t[9], size_t sz[9]) {
    size_t d = c->dim, q = (size_t)c->n_heads * c->head_dim * d, k = (size_t)c->n_kv_heads * c->head_dim * d;
    size_t f = (size_t)c->ffn_dim * d;
    float *p[9] = {W->attn_norm, W->wq, W->wk, W->wv, W->wo_t, W->ffn_norm, W->w_gate, W->w_up, W->w_down_t};
    size_t s[9] = {d, q, k, k, q, d, f, f, f};
    for (int i = 0; i < 9; i++) t[i] = p[i], sz[i] = s[i];
    return 9;
}

/* layer_equal: every tensor of layer a of model x byte-equal to layer b of model y. */
static int layer_equal(const Model *x, int a, const Model *y, int b) {
    float *p[9], *q[9];
    size_t sz[9];
    tensors(&x->cfg, &x->w.layer[a], p, sz);
    tensors(&y->cfg, &y->w.layer[b], q, sz);
    for (int i = 0; i < 9; i++)
        if (memcmp(p[i], q[i], sizeof(float) * sz[i])) return 0;
    return 1;
}

TEST(layers_laco_merge_matches_formula) {
    for (int tied = 0; tied < 2; tied++) {
        ModelConfig cfg = util_config();
        cfg.n_layers = 5;
        cfg.tied = tied;
        Model m, d;
        util_model(&m, &cfg, 51 + tied);
        for (int l = 0; l < 5; l++) /* distinct norms per layer, so the norm merge is visible */
            for (int j = 0; j < cfg.dim; j++) m.w.layer[l].attn_norm[j] += 0.01f * (float)(l * j % 7);
        Err e;
        CHECK_MSG(laco_merge(&m, 1, 3, &d, &e) == 0, "%s", e.msg);
        CHECK(d.cfg.n_layers == 3);
        /* merged layer 1 = theta_1 + (theta_2 - theta_1) + (theta_3 - theta_1), every tensor */
        float *t1[9], *t2[9], *t3[9], *got[9];
        size_t sz[9];
        tensors(&cfg, &m.w.layer[1], t1, sz);
        tensors(&cfg, &m.w.layer[2], t2, sz);
        tensors(&cfg, &m.w.layer[3], t3, sz);
        tensors(&d.cfg, &d.w.layer[1], got, sz);
        double worst = 0;
        for (int i = 0; i < 9; i++)
            for (size_t j = 0; j < sz[i]; j++) {
                double want = (double)t1[i][j] + ((double)t2[i][j] - t1[i][j]) + ((double)t3[i][j] - t1[i][j]);
                worst = fmax(worst, fabs(got[i][j] - want) / (1.0 + fabs(want)));
            }
        CHECK_MSG(worst <= 1e-6, "tied=%d merged layer differs by %g", tied, worst);
        /* untouched layers, embeddings, final norm and head are copies */
        CHECK(layer_equal(&d, 0, &m, 0) && layer_equal(&d, 2, &m, 4));
        size_t emb = (size_t)cfg.vocab_size * cfg.dim;
        CHECK(memcmp(d.w.tok_emb, m.w.tok_emb, sizeof(float) * emb) == 0);
        CHECK(memcmp(d.w.lm_head, m.w.lm_head, sizeof(float) * emb) == 0);
        CHECK(memcmp(d.w.final_norm, m.w.final_norm, sizeof(float) * cfg.dim) == 0);
        model_free(&d);
        /* ranges outside the model are rejected, dst left empty */
        CHECK(laco_merge(&m, 3, 3, &d, &e) == -1 && strstr(e.msg, "5 layers") && d.params == NULL);
        CHECK(laco_merge(&m, 0, 0, &d, &e) == -1);
        model_free(&m);
    }
}

/* naive_similarity: the LaCo similarity written out: per window, final-normed last residuals of both models
 * flattened, cosine in double, mean over windows. */
static double naive_similarity(const Model *a, const Model *b, const Calib *c) {
    const Model *ms[2] = {a, b};
    int n = c->seq, d = a->cfg.dim;
    double *h[2] = {malloc(sizeof(double) * n * d), malloc(sizeof(double) * n * d)}, total = 0;
    for (int w = 0; w < c->n; w++) {
        for (int k = 0; k < 2; k++) {
            int L = ms[k]->cfg.n_layers;
            float *res = malloc(sizeof(float) * (2 * L + 1) * n * d);
            ElasticView v;
            view_full(ms[k], &v);
            model_residuals(ms[k], &v, c->inputs + w * n, n, res, NULL);
            for (int i = 0; i < n; i++) {
                const float *x = res + ((size_t)2 * L * n + i) * d;
                double ss = 0;
                for (int j = 0; j < d; j++) ss += (double)x[j] * x[j];
                double r = 1.0 / sqrt(ss / d + ms[k]->cfg.norm_eps);
                for (int j = 0; j < d; j++) h[k][i * d + j] = x[j] * r * ms[k]->w.final_norm[j];
            }
            free(res);
        }
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < n * d; j++) {
            ab += h[0][j] * h[1][j];
            aa += h[0][j] * h[0][j];
            bb += h[1][j] * h[1][j];
        }
        total += ab / sqrt(aa * bb);
    }
    free(h[0]), free(h[1]);
    return total / c->n;
}

TEST(layers_laco_copy_and_similarity) {
    ModelConfig cfg = util_config();
    cfg.n_layers = 4;
    Model m, d, merged;
    util_model(&m, &cfg, 61);
    Calib c = random_calib(3, 10, cfg.vocab_size, 62);
    Err e;
    /* merging one layer is an identity copy */
    CHECK(laco_merge(&m, 2, 1, &d, &e) == 0);
    CHECK(d.cfg.n_layers == 4 && d.n_params == m.n_params);
    CHECK(memcmp(d.params, m.params, sizeof(float) * m.n_params) == 0);
    int n = 10;
    float *x = malloc(sizeof(float) * n * cfg.vocab_size), *y = malloc(sizeof(float) * n * cfg.vocab_size);
    ElasticView v;
    view_full(&m, &v);
    CHECK(model_logits(&m, &v, c.inputs, n, x, &e) == 0 && model_logits(&d, &v, c.inputs, n, y, &e) == 0);
    CHECK(util_max_abs_diff(x, y, (size_t)n * cfg.vocab_size) == 0.0);
    /* a model is fully similar to itself; a collapsed one less, the same both ways, as written out plainly */
    double s, s2 = 0;
    CHECK_MSG(laco_similarity(&m, &m, &c, &s, &e) == 0, "%s", e.msg);
    CHECK_NEAR(s, 1.0, 1e-9);
    CHECK(laco_merge(&m, 1, 3, &merged, &e) == 0);
    CHECK(laco_similarity(&merged, &m, &c, &s, &e) == 0 && laco_similarity(&m, &merged, &c, &s2, &e) == 0);
    CHECK_MSG(s < 0.999 && s > -1.0, "similarity %g", s);
    CHECK_NEAR(s, s2, 1e-12);
    CHECK_NEAR(s, naive_similarity(&merged, &m, &c), 1e-6);
    /* models of another width are rejected */
    ModelConfig other = cfg;
    other.dim = 16;
    other.head_dim = 4;
    Model o;
    util_model(&o, &other, 63);
    CHECK(laco_similarity(&o, &m, &c, &s, &e) == -1 && strstr(e.msg, "dim"));
    free(x), free(y);
    model_free(&o), model_free(&merged), model_free(&d), model_free(&m);
    calib_free(&c);
}

TEST(layers_laco_collapse_reaches_target_and_logs_merges) {
    ModelConfig cfg = util_config();
    cfg.n_layers = 7;
    Model m, out;
    util_model(&m, &cfg, 71);
    Calib c = random_calib(3, 12, cfg.vocab_size, 72);
    LacoOptions o;
    laco_options_default(&o);
    o.merge_layers = 2;
    o.threshold = 0.99; /* high for this random model: the threshold has to come down */
    char log[4096];
    Err e;
    CHECK_MSG(laco_collapse(&m, &c, 3, &o, &out, log, sizeof log, &e) == 0, "%s", e.msg);
    CHECK(out.cfg.n_layers == 3);
    /* replay the log: every accepted merge is there, in order, with its similarity to the original */
    Model cur;
    CHECK(laco_merge(&m, 0, 1, &cur, &e) == 0);
    double T = o.threshold;
    int merges = 0, lowered = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        int count, first, left;
        double sim, thr;
        if (sscanf(line, "threshold lowered to %lf", &thr) == 1) {
            CHECK_NEAR(thr, T - o.threshold_step, 1e-3);
            T = thr;
            lowered++;
        } else if (sscanf(line, "merge %d layers at %d: similarity %lf >= %lf, %d layers left", &count, &first, &sim,
                          &thr, &left) == 5) {
            Model next;
            double s;
            CHECK(first >= o.lowest && count >= 2 && count <= o.merge_layers);
            CHECK(laco_merge(&cur, first, count, &next, &e) == 0);
            model_free(&cur);
            cur = next;
            CHECK(laco_similarity(&cur, &m, &c, &s, &e) == 0);
            CHECK_NEAR(s, sim, 1e-6);
            CHECK_NEAR(thr, T, 1e-3);
            CHECK(sim >= thr - 1e-6 && left == cur.cfg.n_layers);
            merges++;
        } else
            CHECK_MSG(0, "unexpected log line: %s", line);
    }
    CHECK_MSG(merges == 4 && lowered >= 1, "%d merges, %d threshold steps", merges, lowered);
    CHECK(cur.n_params == out.n_params && memcmp(cur.params, out.params, sizeof(float) * out.n_params) == 0);
    model_free(&cur);
    model_free(&out);
    /* a short log buffer is truncated, not overrun; a target at or above the depth copies the model */
    char small[24];
    CHECK(laco_collapse(&m, &c, 5, &o, &out, small, sizeof small, &e) == 0 && strlen(small) < sizeof small);
    CHECK(out.cfg.n_layers == 5);
    model_free(&out);
    CHECK(laco_collapse(&m, &c, 7, &o, &out, NULL, 0, &e) == 0);
    CHECK(memcmp(out.params, m.params, sizeof(float) * m.n_params) == 0);
    model_free(&out);
    /* a target below L + 1 and C < 2 are rejected */
    CHECK(laco_collapse(&m, &c, 1, &o, &out, NULL, 0, &e) == -1 && strstr(e.msg, "target"));
    o.merge_layers = 1;
    CHECK(laco_collapse(&m, &c, 3, &o, &out, NULL, 0, &e) == -1 && strstr(e.msg, "C >= 2"));
    model_free(&m);
    calib_free(&c);
}
