/* Packed models (model_load_packed): in-place mapped and converted weights give the F32 model's logits within a
 * stated tolerance at every elastic level, with an adapter, through prefill and decode; they refuse training,
 * editing and saving; they validate like model_load. */
#include "engine/gemm.h"
#include "engine/gemv.h"
#include "engine/io.h"
#include "engine/model.h"
#include "engine/train.h"
#include "tests/test.h"
#include "tests/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* max |a - b| / max |b| over n logits */
static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return d / (s > 0 ? s : 1);
}

/* logits of tokens (n) under a uniform view (attn, ffn units) with an optional adapter: prefill of all n, and
 * prefill of n - 3 then 3 decode steps (the last logits of each into dec (3, vocab)) */
static void run(const Model *m, int attn, int ffn, const Lora *a, const int *tok, int n, float *logits, float *dec) {
    Err e;
    ElasticView v;
    view_uniform(m, attn, ffn, &v);
    v.lora = a;
    if (model_logits(m, &v, tok, n, logits, &e)) abort();
    KVCache c;
    if (kvcache_init(&c, m, &v, n, &e) || model_prefill(m, &v, &c, tok, n - 3, NULL, NULL, &e)) abort();
    int V = m->cfg.vocab_size;
    for (int i = 0; i < 3; i++)
        if (model_decode(m, &v, &c, tok[n - 3 + i], dec + (size_t)i * V, &e)) abort();
    kvcache_free(&c);
}

TEST(packed_models_match_the_f32_model_at_every_level) {
    ModelConfig cfg = util_config();
    cfg.dim = 64, cfg.ffn_dim = 96, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.head_dim = 16;
    Model src, ref;
    Err e;
    util_model(&src, &cfg, 3);
    const char *d32 = test_path("m32"), *d16 = test_path("m16");
    CHECK(model_save(&src, d32, ST_F32, &e) == 0);
    CHECK(model_save(&src, d16, ST_F16, &e) == 0);
    Lora a;
    CHECK(lora_alloc(&a, &cfg, 4, 8.0f, &e) == 0);
    lora_init(&a, 9);
    for (size_t i = 0; i < a.n_params; i++) a.params[i] += 0.01f * (float)((int)(i % 7) - 3);
    int n = 20, tok[20], V = cfg.vocab_size;
    util_tokens(tok, n, V, 5);
    float *want = malloc(sizeof(float) * n * V), *got = malloc(sizeof(float) * n * V);
    float *wdec = malloc(sizeof(float) * 3 * V), *gdec = malloc(sizeof(float) * 3 * V);
    /* (file, held type, tolerance relative to the largest logit): F32 in place and F16 in place differ from the
     * F32 model (loaded from the same file) only in the order of additions; held narrower than the file, the
     * weights are rounded (F16: 11 significant bits, BF16: 8) */
    struct {
        const char *dir;
        int type;
        double tol;
        int mapped;
    } cases[] = {{d32, ST_F32, 1e-5, 1}, {d16, ST_F16, 1e-5, 1}, {d16, -1, 1e-5, 1}, {d32, ST_F16, 5e-3, 0},
                 {d32, ST_BF16, 4e-2, 0}, {d16, ST_F32, 1e-5, 0}};
    int levels[3][2] = {{2, 96}, {1, 48}, {1, 10}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK(model_load(&ref, cases[k].dir, &e) == 0);
        Model pm;
        CHECK_MSG(model_load_packed(&pm, cases[k].dir, cases[k].type, &e) == 0, "%s", e.msg);
        CHECK(pm.packed && pm.hash[0] == 0);
        /* in place: every matrix but o_proj and down_proj (transposed into owned memory) */
        CHECK((pm.packed->mapped_bytes > 0) == cases[k].mapped && pm.packed->owned_bytes > 0);
        for (int lv = 0; lv < 3; lv++)
            for (int ad = 0; ad < 2; ad++) {
                run(&ref, levels[lv][0], levels[lv][1], ad ? &a : NULL, tok, n, want, wdec);
                run(&pm, levels[lv][0], levels[lv][1], ad ? &a : NULL, tok, n, got, gdec);
                double r = rel_err(got, want, (size_t)n * V), rd = rel_err(gdec, wdec, (size_t)3 * V);
                CHECK_MSG(r <= cases[k].tol && rd <= cases[k].tol, "case %zu level %d adapter %d: %.3g / %.3g", k,
                          lv, ad, r, rd);
                /* decode agrees with prefill on the packed model itself */
                CHECK(rel_err(gdec + 2 * V, got + (size_t)(n - 1) * V, V) < 1e-4);
            }
        model_rehash(&pm);
        CHECK(pm.hash[0] && strcmp(pm.hash, ref.hash));
        model_free(&pm);
        model_free(&ref);
    }
    free(want), free(got), free(wdec), free(gdec);
    lora_free(&a);
    model_free(&src);
}

TEST(packed_models_refuse_training_editing_and_saving) {
    ModelConfig cfg = util_config();
    Model src, pm, out;
    Err e;
    util_model(&src, &cfg, 4);
    const char *dir = test_path("m");
    CHECK(model_save(&src, dir, ST_F16, &e) == 0);
    CHECK(model_load_packed(&pm, dir, ST_F16, &e) == 0);
    CHECK(model_save(&pm, test_path("again"), ST_F32, &e) != 0 && strstr(e.msg, "packed"));
    CHECK(model_copy(&pm, &out, &e) != 0 && strstr(e.msg, "packed"));
    CHECK(model_slice(&pm, 1, 10, &out, &e) != 0 && strstr(e.msg, "packed"));
    CHECK(model_permute_units(&pm, 0, NULL, NULL, &e) != 0 && strstr(e.msg, "packed"));
    TrainConfig tc;
    train_config_default(&tc);
    tc.seq = 8;
    Trainer tr;
    CHECK(train_init(&tr, &pm, NULL, &tc, &e) != 0 && strstr(e.msg, "packed"));
    CHECK(model_load_packed(&out, dir, 7, &e) != 0 && strstr(e.msg, "F32, F16 or BF16"));
    CHECK(model_load_packed(&out, test_path("nowhere"), -1, &e) != 0 && strstr(e.msg, "not a model directory"));
    model_free(&pm);
    model_free(&src);
}

TEST(packed_models_reject_nonfinite_weights_in_place_and_converted) {
    ModelConfig cfg = util_config();
    Model src, pm;
    Err e;
    util_model(&src, &cfg, 5);
    src.w.layer[1].w_up[7] = 1e6f; /* finite in F32, infinite once held as F16 */
    const char *dir = test_path("big");
    CHECK(model_save(&src, dir, ST_F32, &e) == 0);
    CHECK(model_load_packed(&pm, dir, ST_F32, &e) == 0);
    model_free(&pm);
    CHECK(model_load_packed(&pm, dir, ST_F16, &e) != 0);
    CHECK_MSG(strstr(e.msg, "layers.1.mlp.up_proj") && strstr(e.msg, "element 7") && strstr(e.msg, "converted"),
              "%s", e.msg);
    src.w.layer[1].w_up[7] = NAN;
    CHECK(model_save(&src, dir, ST_F16, &e) == 0);
    CHECK(model_load_packed(&pm, dir, -1, &e) != 0 && strstr(e.msg, "element 7"));
    model_free(&src);
}

/* Without AVX-512 (forced here) half-precision products take the other paths: the AVX2 / portable gemv and, for
 * several tokens, blocks of weights widened for sgemm; the logits stay those of the F32 model. */
TEST(packed_models_match_without_avx512) {
    ModelConfig cfg = util_config();
    cfg.dim = 64, cfg.ffn_dim = 96, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.head_dim = 16;
    Model src, ref, pm;
    Err e;
    util_model(&src, &cfg, 8);
    const char *dir = test_path("m16");
    CHECK(model_save(&src, dir, ST_F16, &e) == 0);
    CHECK(model_load(&ref, dir, &e) == 0 && model_load_packed(&pm, dir, -1, &e) == 0);
    int n = 24, tok[24], V = cfg.vocab_size;
    util_tokens(tok, n, V, 6);
    float *want = malloc(sizeof(float) * n * V), *got = malloc(sizeof(float) * n * V);
    float *wdec = malloc(sizeof(float) * 3 * V), *gdec = malloc(sizeof(float) * 3 * V);
    GemvIsa best = gemv_isa();
    for (int isa = GEMV_SCALAR; isa <= (int)best && isa <= GEMV_AVX2; isa++) {
        gemv_isa_force((GemvIsa)isa);
        CHECK(!gemm_available());
        for (int lv = 0; lv < 2; lv++) {
            run(&ref, lv ? 1 : 2, lv ? 48 : 96, NULL, tok, n, want, wdec);
            run(&pm, lv ? 1 : 2, lv ? 48 : 96, NULL, tok, n, got, gdec);
            CHECK_MSG(rel_err(got, want, (size_t)n * V) <= 1e-5 && rel_err(gdec, wdec, (size_t)3 * V) <= 1e-5,
                      "isa %d level %d", isa, lv);
        }
    }
    gemv_isa_force(best);
    free(want), free(got), free(wdec), free(gdec);
    model_free(&pm);
    model_free(&ref);
    model_free(&src);
}
