/* Layer-dropping baselines: ShortGPT's Block Influence and AttnDrop's sub-block scores against a plain
 * per-token recomputation from the residual stream, and an identity layer scoring 0 and ranking first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/calib.h"
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
