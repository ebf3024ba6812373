/* Offline elastification: Taylor importance against a brute-force sum over train_backward's gradients (and a
 * finite-difference check of the gradient scale), reordering into descending importance with unchanged logits,
 * anchors = the layers of largest leave-one-out loss on a model with one critical layer, the default anchor
 * count, and the elastic.json round trip. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/anchors.h"
#include "elastic/calib.h"
#include "elastic/elastic_meta.h"
#include "elastic/importance.h"
#include "elastic/levels.h"
#include "elastic/reorder.h"
#include "engine/io.h"
#include "engine/train.h"
#include "policies/noreorder.h"
#include "tests/test.h"
#include "tests/test_elastic_fixture.h"
#include "tests/util.h"

/* random_data: n uniform tokens as a corpus. */
static void random_data(TokenData *d, size_t n, int vocab, unsigned long seed) {
    d->n = n;
    d->tok = malloc(sizeof(int) * n);
    util_tokens(d->tok, (int)n, vocab, seed);
}

/* Brute-force importance from gradients g of m, indexing the Hugging Face layout (o_proj and down_proj by
 * column) rather than the elastic row blocks. */
static void brute_importance(const Model *m, const ModelWeights *g, double *attn, double *ffn, int signed_sum) {
    const ModelConfig *c = &m->cfg;
    int d = c->dim, hd = c->head_dim, rep = c->n_heads / c->n_kv_heads;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *W = &m->w.layer[l], *G = &g->layer[l];
        for (int u = 0; u < c->n_kv_heads; u++) {
            double s = 0;
            for (int r = u * rep * hd; r < (u + 1) * rep * hd; r++)
                for (int j = 0; j < d; j++) {
                    double x = (double)W->wq[r * d + j] * G->wq[r * d + j];
                    s += signed_sum ? x : fabs(x);
                }
            for (int r = u * hd; r < (u + 1) * hd; r++)
                for (int j = 0; j < d; j++) {
                    double x = (double)W->wk[r * d + j] * G->wk[r * d + j], y = (double)W->wv[r * d + j] * G->wv[r * d + j];
                    s += signed_sum ? x + y : fabs(x) + fabs(y);
                }
            for (int i = 0; i < d; i++) /* o_proj (dim, n_heads*hd): columns of the group */
                for (int col = u * rep * hd; col < (u + 1) * rep * hd; col++) {
                    double x = (double)W->wo_t[col * d + i] * G->wo_t[col * d + i];
                    s += signed_sum ? x : fabs(x);
                }
            attn[l * c->n_kv_heads + u] = s;
        }
        for (int u = 0; u < c->ffn_dim; u++) {
            double s = 0;
            for (int j = 0; j < d; j++) {
                double a = (double)W->w_gate[u * d + j] * G->w_gate[u * d + j];
                double b = (double)W->w_up[u * d + j] * G->w_up[u * d + j];
                double x = (double)W->w_down_t[u * d + j] * G->w_down_t[u * d + j]; /* down_proj column u */
                s += signed_sum ? a + b + x : fabs(a) + fabs(b) + fabs(x);
            }
            ffn[l * c->ffn_dim + u] = s;
        }
    }
}

/* scale_ffn_unit: multiply every weight of FFN unit u of layer l by f. */
static void scale_ffn_unit(Model *m, int l, int u, float f) {
    LayerWeights *W = &m->w.layer[l];
    for (int j = 0; j < m->cfg.dim; j++) {
        W->w_gate[u * m->cfg.dim + j] *= f;
        W->w_up[u * m->cfg.dim + j] *= f;
        W->w_down_t[u * m->cfg.dim + j] *= f;
    }
}

TEST(elastic_importance_matches_brute_force) {
    ModelConfig c = util_config();
    Model m;
    model_alloc(&m, &c, NULL);
    model_init_random(&m, 11);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 4.0f; /* logits far from uniform */
    TokenData d;
    random_data(&d, 4000, c.vocab_size, 3);
    Calib cal;
    Err e;
    CHECK(calib_sample(&cal, &d, 3, 16, 5, &e) == 0);
    Importance imp;
    importance_alloc(&imp, &c, &e);
    double loss = 0;
    /* micro-batches of 2 windows over 3: the accumulation must equal one batch of all three */
    CHECK_MSG(importance_taylor(&m, &cal, 2, &imp, &loss, &e) == 0, "%s", e.msg);
    ElasticView full;
    view_full(&m, &full);
    double ref_loss;
    CHECK(calib_loss(&m, &full, &cal, &ref_loss, &e) == 0);
    CHECK_NEAR(loss, ref_loss, 1e-4);

    /* reference gradients: one batch of all windows through the trainer */
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = 3;
    tc.seq = 16;
    Trainer tr;
    CHECK(train_init(&tr, &m, NULL, &tc, &e) == 0);
    train_zero_grad(&tr);
    CHECK(train_forward(&tr, cal.inputs, cal.targets, 3, 16, NULL, NULL, &e) == 0);
    CHECK(train_backward(&tr, 1.0f / 48.0f, &e) == 0);
    double *ba = malloc(sizeof(double) * c.n_layers * c.n_kv_heads), *bf = malloc(sizeof(double) * c.n_layers * c.ffn_dim);
    double *sa = malloc(sizeof(double) * c.n_layers * c.n_kv_heads), *sf = malloc(sizeof(double) * c.n_layers * c.ffn_dim);
    brute_importance(&m, &tr.gw, ba, bf, 0);
    brute_importance(&m, &tr.gw, sa, sf, 1);
    train_free(&tr);
    double worst = 0, maxv = 0;
    for (int i = 0; i < c.n_layers * c.n_kv_heads; i++) {
        worst = fmax(worst, fabs(imp.attn[i] - ba[i]) / (fabs(ba[i]) + 1e-12));
        maxv = fmax(maxv, ba[i]);
    }
    for (int i = 0; i < c.n_layers * c.ffn_dim; i++)
        worst = fmax(worst, fabs(imp.ffn[i] - bf[i]) / (fabs(bf[i]) + 1e-9));
    CHECK_MSG(worst < 1e-3, "largest relative difference %.3g", worst);
    CHECK(maxv > 0);

    /* the gradient is of the mean calibration loss: scaling one FFN unit's weights by (1 +- h) changes the loss
     * by about +-h * sum(w * g) over that unit */
    int best_l = 0, best_u = 0;
    for (int l = 0; l < c.n_layers; l++)
        for (int u = 0; u < c.ffn_dim; u++)
            if (fabs(sf[l * c.ffn_dim + u]) > fabs(sf[best_l * c.ffn_dim + best_u])) {
                best_l = l;
                best_u = u;
            }
    double h = 1e-2, lp, lm;
    scale_ffn_unit(&m, best_l, best_u, (float)(1 + h));
    calib_loss(&m, &full, &cal, &lp, &e);
    scale_ffn_unit(&m, best_l, best_u, (float)((1 - h) / (1 + h)));
    calib_loss(&m, &full, &cal, &lm, &e);
    double fd = (lp - lm) / (2 * h), an = sf[best_l * c.ffn_dim + best_u];
    CHECK_MSG(fabs(fd - an) <= 0.05 * fabs(an) + 1e-5, "finite difference %.6g vs gradient %.6g", fd, an);
    free(ba);
    free(bf);
    free(sa);
    free(sf);
    importance_free(&imp);
    calib_free(&cal);
    data_free(&d);
    model_free(&m);
}

TEST(elastic_reorder_sorts_and_keeps_logits) {
    ModelConfig c = util_config();
    Model m, r;
    util_model(&m, &c, 21);
    TokenData d;
    random_data(&d, 3000, c.vocab_size, 4);
    Calib cal;
    Err e;
    calib_sample(&cal, &d, 4, 24, 9, &e);
    Importance imp, before, after;
    importance_alloc(&imp, &c, &e);
    importance_alloc(&before, &c, &e);
    importance_alloc(&after, &c, &e);
    CHECK(importance_taylor(&m, &cal, 4, &imp, NULL, &e) == 0);
    memcpy(before.attn, imp.attn, sizeof(double) * c.n_layers * c.n_kv_heads);
    memcpy(before.ffn, imp.ffn, sizeof(double) * c.n_layers * c.ffn_dim);
    model_alloc(&r, &c, &e);
    memcpy(r.params, m.params, sizeof(float) * m.n_params);
    int *ao = malloc(sizeof(int) * c.n_layers * c.n_kv_heads), *fo = malloc(sizeof(int) * c.n_layers * c.ffn_dim);
    CHECK_MSG(reorder_apply(&r, &imp, ao, fo, &e) == 0, "%s", e.msg);
    int moved = 0;
    for (int l = 0; l < c.n_layers; l++) {
        const int *a = ao + l * c.n_kv_heads, *f = fo + l * c.ffn_dim;
        for (int i = 0; i < c.ffn_dim; i++) {
            moved += f[i] != i;
            CHECK(imp.ffn[l * c.ffn_dim + i] == before.ffn[l * c.ffn_dim + f[i]]);
            if (i) CHECK(imp.ffn[l * c.ffn_dim + i] <= imp.ffn[l * c.ffn_dim + i - 1]);
        }
        for (int i = 0; i < c.n_kv_heads; i++) {
            CHECK(imp.attn[l * c.n_kv_heads + i] == before.attn[l * c.n_kv_heads + a[i]]);
            if (i) CHECK(imp.attn[l * c.n_kv_heads + i] <= imp.attn[l * c.n_kv_heads + i - 1]);
        }
        /* the order really sorts: the first unit is the most important of the original layer */
        double mx = 0;
        for (int i = 0; i < c.ffn_dim; i++) mx = fmax(mx, before.ffn[l * c.ffn_dim + i]);
        CHECK(before.ffn[l * c.ffn_dim + f[0]] == mx);
    }
    CHECK_MSG(moved > c.n_layers * c.ffn_dim / 2, "only %d neurons moved", moved);
    double diff = 1;
    CHECK(calib_logits_diff(&m, &r, &cal, 0, &diff, &e) == 0);
    CHECK_MSG(diff <= 1e-4, "max abs diff %.3g", diff);
    /* importance measured on the reordered model: the same values, now in descending order */
    CHECK(importance_taylor(&r, &cal, 4, &after, NULL, &e) == 0);
    double worst = 0;
    for (int i = 0; i < c.n_layers * c.ffn_dim; i++)
        worst = fmax(worst, fabs(after.ffn[i] - imp.ffn[i]) / (imp.ffn[i] + 1e-9));
    for (int i = 0; i < c.n_layers * c.n_kv_heads; i++)
        worst = fmax(worst, fabs(after.attn[i] - imp.attn[i]) / (imp.attn[i] + 1e-9));
    CHECK_MSG(worst < 1e-3, "reordered importance differs by %.3g (relative)", worst);
    /* a prefix of the reordered model keeps more importance than the same prefix of the original */
    double kept_r = 0, kept_o = 0;
    for (int l = 0; l < c.n_layers; l++)
        for (int i = 0; i < c.ffn_dim / 4; i++) {
            kept_r += imp.ffn[l * c.ffn_dim + i];
            kept_o += before.ffn[l * c.ffn_dim + i];
        }
    CHECK(kept_r > kept_o);
    free(ao);
    free(fo);
    importance_free(&imp);
    importance_free(&before);
    importance_free(&after);
    calib_free(&cal);
    data_free(&d);
    model_free(&r);
    model_free(&m);
}

/* elms-noreorder's model: undoing the reordering of reorder_prepare gives back the original weights bit for bit,
 * identity orders, the importances of the original units and the same anchors and level table. */
TEST(elastic_noreorder_undoes_the_reordering_exactly) {
    ModelConfig c = util_config();
    Model m, r;
    util_model(&m, &c, 23);
    TokenData d;
    random_data(&d, 3000, c.vocab_size, 5);
    Calib cal;
    Err e;
    CHECK(calib_sample(&cal, &d, 4, 24, 9, &e) == 0);
    Importance imp;
    CHECK(importance_alloc(&imp, &c, &e) == 0);
    CHECK(importance_taylor(&m, &cal, 4, &imp, NULL, &e) == 0);
    CHECK(model_alloc(&r, &c, &e) == 0);
    memcpy(r.params, m.params, sizeof(float) * m.n_params);
    model_rehash(&r);
    ReorderOpts ro = {.n_anchors = 1, .batch = 4};
    ElasticMeta meta = {0};
    CHECK_MSG(reorder_prepare(&r, &cal, &ro, &meta, NULL, &e) == 0, "%s", e.msg);
    CHECK(memcmp(r.params, m.params, sizeof(float) * m.n_params) != 0); /* the reordering moved units */
    ElasticLevel levels[ELASTIC_META_MAX_LEVELS];
    memcpy(levels, meta.levels, sizeof levels);
    int anchors[ELMS_MAX_LAYERS], n_anchors = meta.n_anchors;
    memcpy(anchors, meta.anchors, sizeof anchors);
    CHECK_MSG(noreorder_undo(&r, &meta, &e) == 0, "%s", e.msg);
    CHECK(memcmp(r.params, m.params, sizeof(float) * m.n_params) == 0 && !strcmp(r.hash, m.hash));
    int na = c.n_kv_heads, nf = c.ffn_dim;
    for (int l = 0; l < c.n_layers; l++) {
        for (int i = 0; i < na; i++) {
            CHECK(meta.attn_order[l * na + i] == i);
            CHECK(fabs(meta.attn_imp[l * na + i] - imp.attn[l * na + i]) <= 1e-9 * (fabs(imp.attn[l * na + i]) + 1e-12));
        }
        for (int i = 0; i < nf; i++) {
            CHECK(meta.ffn_order[l * nf + i] == i);
            CHECK(fabs(meta.ffn_imp[l * nf + i] - imp.ffn[l * nf + i]) <= 1e-9 * (fabs(imp.ffn[l * nf + i]) + 1e-12));
        }
    }
    CHECK(meta.n_anchors == n_anchors && !memcmp(meta.anchors, anchors, sizeof(int) * (size_t)n_anchors));
    CHECK(!memcmp(meta.levels, levels, sizeof levels));
    elastic_meta_free(&meta);
    importance_free(&imp);
    calib_free(&cal);
    data_free(&d);
    model_free(&r);
    model_free(&m);
}

TEST(elastic_anchors_pick_largest_loss) {
    double loss[6] = {1.0, 5.0, 3.0, 5.0, 2.0, NAN};
    int out[6];
    Err e;
    CHECK(anchors_pick(loss, 5, 2, out, &e) == 0);
    CHECK(out[0] == 1 && out[1] == 3);
    CHECK(anchors_pick(loss, 5, 3, out, &e) == 0);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 3);
    CHECK(anchors_pick(loss, 5, 0, out, &e) == 0);
    CHECK(anchors_pick(loss, 5, 6, out, &e) == -1);
    CHECK(anchors_pick(loss, 6, 1, out, &e) == 0 && out[0] == 5); /* a NaN loss (diverged) hurts most */
    double tie[3] = {2.0, 2.0, 2.0};
    CHECK(anchors_pick(tie, 3, 1, out, &e) == 0 && out[0] == 0);
}

/* sample_sequences: n sequences of len tokens drawn from the model itself (temperature 1). */
static void sample_sequences(const Model *m, int n, int len, unsigned long seed, Calib *cal) {
    int V = m->cfg.vocab_size;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    cal->n = n;
    cal->seq = len - 1;
    cal->inputs = malloc(sizeof(int) * n * (len - 1));
    cal->targets = malloc(sizeof(int) * n * (len - 1));
    int *seq = malloc(sizeof(int) * len);
    float *logits = malloc(sizeof(float) * V);
    double *p = malloc(sizeof(double) * V);
    ElasticView v;
    view_full(m, &v);
    Err e;
    for (int s = 0; s < n; s++) {
        KVCache kv;
        kvcache_init(&kv, m, &v, len, &e);
        seq[0] = (int)gsl_rng_uniform_int(r, (unsigned long)V);
        model_prefill(m, &v, &kv, seq, 1, NULL, logits, &e);
        for (int i = 1; i < len; i++) {
            double mx = logits[0], z = 0;
            for (int j = 1; j < V; j++) mx = fmax(mx, logits[j]);
            for (int j = 0; j < V; j++) z += p[j] = exp(logits[j] - mx);
            double u = gsl_rng_uniform(r) * z, acc = 0;
            int pick = V - 1;
            for (int j = 0; j < V; j++)
                if ((acc += p[j]) > u) {
                    pick = j;
                    break;
                }
            seq[i] = pick;
            if (i < len - 1) model_decode(m, &v, &kv, pick, logits, &e);
        }
        kvcache_free(&kv);
        memcpy(cal->inputs + s * (len - 1), seq, sizeof(int) * (len - 1));
        memcpy(cal->targets + s * (len - 1), seq + 1, sizeof(int) * (len - 1));
    }
    free(seq);
    free(logits);
    free(p);
    gsl_rng_free(r);
}

TEST(elastic_anchors_find_the_critical_layer) {
    ModelConfig c = util_config();
    c.n_layers = 4;
    Model m;
    util_model(&m, &c, 31);
    const int critical = 2;
    /* every other layer writes almost nothing into the residual stream */
    for (int l = 0; l < c.n_layers; l++) {
        if (l == critical) continue;
        LayerWeights *W = &m.w.layer[l];
        for (int i = 0; i < c.n_heads * c.head_dim * c.dim; i++) W->wo_t[i] *= 0.01f;
        for (int i = 0; i < c.ffn_dim * c.dim; i++) W->w_down_t[i] *= 0.01f;
    }
    Calib cal;
    sample_sequences(&m, 6, 33, 5, &cal); /* text the full model predicts well */
    double loo[4], base;
    Err e;
    CHECK_MSG(anchors_loo(&m, &cal, loo, &base, &e) == 0, "%s", e.msg);
    for (int l = 0; l < c.n_layers; l++) {
        if (l == critical) continue;
        CHECK_MSG(loo[critical] - base > 10 * fabs(loo[l] - base), "layer %d: loss %.4f, critical %.4f, base %.4f",
                  l, loo[l], loo[critical], base);
    }
    CHECK_MSG(loo[critical] > base + 0.1, "critical layer loss %.4f vs base %.4f", loo[critical], base);
    int out[1] = {-1};
    CHECK(anchors_pick(loo, c.n_layers, 1, out, &e) == 0);
    CHECK(out[0] == critical);
    calib_free(&cal);
    model_free(&m);
}

TEST(elastic_anchor_default_count) {
    /* models/base: 8 layers, dim 256, 8 heads = 8 KV groups, ffn 672 (two anchors alone would read 25%) */
    ModelConfig base = {.dim = 256, .n_layers = 8, .n_heads = 8, .n_kv_heads = 8, .head_dim = 32, .ffn_dim = 672,
                        .vocab_size = 2186, .max_seq = 512, .norm_eps = 1e-5f, .rope_theta = 1e4f};
    CHECK(anchors_default_count(&base) == 1);
    CHECK(anchors_min_fraction(&base, 2) > 0.2);  /* two anchors would make level 0.2 unreachable */
    CHECK(anchors_min_fraction(&base, 1) <= 0.2);
    /* the former base shapes (dim 192, 6 KV groups, ffn 512; 8 and 10 layers): also one (with 10 layers two
     * anchors alone read 20%, plus the other layers' units) */
    ModelConfig eight = {.dim = 192, .n_layers = 8, .n_heads = 6, .n_kv_heads = 6, .head_dim = 32, .ffn_dim = 512,
                         .vocab_size = 2000, .max_seq = 512, .norm_eps = 1e-5f, .rope_theta = 1e4f};
    CHECK(anchors_default_count(&eight) == 1 && anchors_min_fraction(&eight, 2) > 0.2);
    ModelConfig ten = eight;
    ten.n_layers = 10;
    CHECK(anchors_default_count(&ten) == 1 && anchors_min_fraction(&ten, 2) > 0.2);
    /* Llama-3-8B: the paper's 6 anchors of 32 layers plus one KV group and one neuron in each other layer
     * already read 20.7% of the layer parameters, so the rule keeps 5 */
    ModelConfig llama = {.dim = 4096, .n_layers = 32, .n_heads = 32, .n_kv_heads = 8, .head_dim = 128,
                         .ffn_dim = 14336, .vocab_size = 128256, .max_seq = 8192, .norm_eps = 1e-5f,
                         .rope_theta = 5e5f};
    CHECK(anchors_default_count(&llama) == 5);
    CHECK(anchors_min_fraction(&llama, 6) > 0.2 && anchors_min_fraction(&llama, 5) <= 0.2);
    /* a view at level 0.2 with the default anchors reads at most a fifth of the layer parameters */
    Model m;
    Err e;
    CHECK(model_alloc(&m, &base, &e) == 0);
    unsigned char anchor[8] = {0};
    anchor[0] = 1;
    ElasticView v;
    CHECK(levels_view(&m, anchor, 0.2, &v, &e) == 0);
    CHECK(view_param_fraction(&m, &v) <= 0.2 + 1e-9);
    model_free(&m);
}

/* same_doubles: equal to 1e-14 relative (JSON text keeps 15 or more significant digits). */
static int same_doubles(const double *a, const double *b, int n) {
    for (int i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= 1e-14 * fabs(b[i]))) return 0;
    return 1;
}

TEST(elastic_meta_round_trip) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 3);
    ElasticMeta a, b;
    Err e;
    CHECK(elastic_meta_alloc(&a, &c, &e) == 0);
    a.n_anchors = 2;
    a.anchors[0] = 0;
    a.anchors[1] = 2;
    a.calib_samples = 10;
    a.calib_seq = 64;
    a.calib_seed = 4000000000UL;
    snprintf(a.corpus, sizeof a.corpus, "corpus/train.bin");
    snprintf(a.source, sizeof a.source, "base");
    a.calib_loss = 3.25;
    a.max_abs_diff = 1.5e-7;
    for (int l = 0; l < c.n_layers; l++) {
        a.loo_loss[l] = 3.0 + 0.1 * l + 1e-13;
        util_random_perm(a.attn_order + l * c.n_kv_heads, c.n_kv_heads, 10 + l);
        util_random_perm(a.ffn_order + l * c.ffn_dim, c.ffn_dim, 20 + l);
        for (int i = 0; i < c.n_kv_heads; i++) a.attn_imp[l * c.n_kv_heads + i] = 1.0 / (i + 1) + 1e-17 * l;
        for (int i = 0; i < c.ffn_dim; i++) a.ffn_imp[l * c.ffn_dim + i] = exp(-0.1 * i) * 0.123456789;
    }
    CHECK(reorder_level_table(&m, &a, &e) == 0);
    CHECK(a.n_levels == N_LEVELS);
    char path[1200];
    snprintf(path, sizeof path, "%s/elastic.json", test_tmpdir());
    CHECK_MSG(elastic_meta_write(&a, path, &e) == 0, "%s", e.msg);
    CHECK_MSG(elastic_meta_read(&b, &c, path, &e) == 0, "%s", e.msg);
    CHECK(b.n_anchors == 2 && b.anchors[0] == 0 && b.anchors[1] == 2);
    CHECK(b.calib_samples == 10 && b.calib_seq == 64 && b.calib_seed == 4000000000UL);
    CHECK(!strcmp(b.corpus, a.corpus) && !strcmp(b.source, a.source));
    CHECK(same_doubles(&b.calib_loss, &a.calib_loss, 1) && same_doubles(&b.max_abs_diff, &a.max_abs_diff, 1));
    /* numbers go through cJSON, which prints 15 significant digits when they read back within an ulp or so */
    CHECK(same_doubles(b.loo_loss, a.loo_loss, c.n_layers));
    CHECK(!memcmp(b.attn_order, a.attn_order, sizeof(int) * c.n_layers * c.n_kv_heads));
    CHECK(!memcmp(b.ffn_order, a.ffn_order, sizeof(int) * c.n_layers * c.ffn_dim));
    CHECK(same_doubles(b.attn_imp, a.attn_imp, c.n_layers * c.n_kv_heads));
    CHECK(same_doubles(b.ffn_imp, a.ffn_imp, c.n_layers * c.ffn_dim));
    CHECK(b.n_levels == a.n_levels);
    for (int i = 0; i < a.n_levels; i++) {
        CHECK(b.levels[i].level == a.levels[i].level);
        CHECK(same_doubles(&b.levels[i].param_fraction, &a.levels[i].param_fraction, 1));
        CHECK(!memcmp(b.levels[i].attn_units, a.levels[i].attn_units, sizeof(int) * c.n_layers));
        CHECK(!memcmp(b.levels[i].ffn_units, a.levels[i].ffn_units, sizeof(int) * c.n_layers));
        /* anchors stay whole at every level */
        CHECK(a.levels[i].attn_units[0] == c.n_kv_heads && a.levels[i].ffn_units[2] == c.ffn_dim);
    }
    /* the simulator's level code reads the same anchors */
    unsigned char anchor[ELMS_MAX_LAYERS];
    int na = 0;
    CHECK(levels_read_anchors(test_tmpdir(), c.n_layers, anchor, &na, &e) == 0);
    CHECK(na == 2 && anchor[0] && !anchor[1] && anchor[2]);
    elastic_meta_free(&b);

    /* a corrupted order is rejected, naming the field */
    a.ffn_order[c.ffn_dim + 1] = a.ffn_order[c.ffn_dim];
    CHECK(elastic_meta_write(&a, path, &e) == 0);
    CHECK(elastic_meta_read(&b, &c, path, &e) == -1);
    CHECK_MSG(strstr(e.msg, "layers[1]") && strstr(e.msg, "ffn_order"), "message: %s", e.msg);
    /* a model of another shape is rejected */
    ModelConfig other = c;
    other.ffn_dim = 40;
    CHECK(elastic_meta_read(&b, &other, path, &e) == -1);
    CHECK(io_write_atomic(path, "{\"format\": 3}", 13, &e) == 0);
    CHECK(elastic_meta_read(&b, &c, path, &e) == -1 && strstr(e.msg, "format"));
    CHECK(io_write_atomic(path, "not json", 8, &e) == 0);
    CHECK(elastic_meta_read(&b, &c, path, &e) == -1);
    elastic_meta_free(&a);
    model_free(&m);
}
