/* Tests of the cache-aware latency model (sim/profile.h): pricing with a cache, format 1 profiles read with the
 * same prices, format errors; the non-negative fit (sim/fit.h); and the profile fits with held-out points
 * (sim/latfit.h) recovering a known model from synthetic points. No test here times anything. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "sim/fit.h"
#include "sim/latfit.h"
#include "sim/profile.h"
#include "tests/test.h"

/* A host-like profile: the 8 x 256 base's counts in fp32, a 12 MB cache with knee sharpness 8, known costs. */
static Profile known_profile(void) {
    Profile p;
    memset(&p, 0, sizeof p);
    p.format = PROFILE_FORMAT;
    snprintf(p.name, sizeof p.name, "known");
    p.target = (ProfileTarget){"base", 6225920, 559616, 0, 4096, 4, 4};
    p.prefill_a = 0.4, p.prefill_w = 1.4, p.prefill_b0 = 0.006, p.prefill_b = 0.15, p.prefill_c = 1.6e-4;
    p.decode_const = 0.02, p.decode_cache = 1.8e-8, p.decode_dram = 4.4e-8, p.decode_kv = 3e-8;
    p.cache_bytes = 12e6;
    p.cache_sharpness = 8;
    p.fit_prefill_mape = p.fit_decode_mape = p.fit_prefill_heldout_mape = p.fit_decode_heldout_mape = -1;
    return p;
}

TEST(latmodel_decode_prices_the_cache) {
    Profile p = known_profile();
    double prev = 0, prev_slope = 0;
    for (int k = 1; k <= 100; k++) {
        CostShape s = {k / 100.0, 1.0, k / 100.0, 0};
        double w, kv, ctx = 100;
        profile_decode_bytes(&p, &s, ctx, &w, &kv);
        CHECK_NEAR(w, (559616 + 6225920 * s.lin) * 4, 1e-3);
        CHECK_NEAR(kv, 4096 * s.kv * ctx * 4, 1e-6);
        double S = w + kv, ms = profile_decode_ms(&p, &s, ctx);
        double cached = pow(pow(S, -8) + pow(12e6, -8), -1.0 / 8); /* the smooth min(S, C) */
        double want = 0.02 + cached * 1.8e-8 + (S - cached) * 4.4e-8 + kv * 3e-8;
        CHECK_MSG(fabs(ms - want) < 1e-12, "lin %g: %g vs %g", s.lin, ms, want);
        /* monotone in the view, and the cost per extra step never falls (convex: cache, then DRAM) */
        if (k > 1) {
            CHECK(ms > prev);
            CHECK_MSG(ms - prev >= prev_slope - 1e-12, "lin %g", s.lin);
            prev_slope = ms - prev;
        }
        prev = ms;
    }
    /* the share of the working set in the cache: a smooth min(1, C / S), the hard knee as k grows, no overflow */
    CHECK_NEAR(profile_cache_share(10, 1, 10), 0.5, 1e-15);
    CHECK_NEAR(profile_cache_share(10, 8, 10), pow(2, -1.0 / 8), 1e-15);
    CHECK_NEAR(profile_cache_share(10, 8, 5), pow(1 + pow(0.5, 8), -1.0 / 8), 1e-15);
    CHECK_NEAR(profile_cache_share(10, 1000, 5), 1, 1e-12);
    CHECK_NEAR(profile_cache_share(10, 1000, 40), 0.25, 1e-12);
    CHECK_NEAR(profile_cache_share(1, 1000, 1e300), 1e-300, 1e-310);
    CHECK(profile_cache_share(0, 8, 3) == 0 && profile_cache_share(0, 8, 0) == 1 && profile_cache_share(5, 8, 0) == 1);
    /* no cache: one cost per byte, whatever ms_per_byte_cache says */
    p.cache_bytes = 0;
    CostShape f = cost_full();
    double w, kv;
    profile_decode_bytes(&p, &f, 50, &w, &kv);
    CHECK_NEAR(profile_decode_ms(&p, &f, 50), 0.02 + (w + kv) * 4.4e-8 + kv * 3e-8, 1e-12);
    /* prefill: b0 is charged per token whatever the view */
    CostShape tiny = {0, 0, 0, 0};
    CHECK_NEAR(profile_prefill_ms(&p, &tiny, 100), 0.4 + 0.006 * 100, 1e-12);
    /* and w once per prefill, scaled by the view */
    CostShape half = {0.5, 1.0, 0.5, 0};
    CHECK_NEAR(profile_prefill_ms(&p, &half, 10), 0.4 + 1.4 * 0.5 + 0.006 * 10 + 0.15 * 10 * 0.5 + 1.6e-4 * 100 * 0.5,
               1e-12);
}

static const char *V1 =
    "{\"name\": \"old\", \"device\": \"d\", \"source\": \"s\",\n"
    " \"target\": {\"name\": \"t\", \"layer_params\": 6225920, \"head_params\": 559616, \"embed_params\": 0,\n"
    "            \"kv_elems_per_token\": 4096, \"bytes_per_param\": 4, \"kv_bytes_per_elem\": 4, \"source\": \"s\"},\n"
    " \"prefill\": {\"a_ms\": 0.45, \"b_ms_per_token\": 0.088, \"c_ms_per_token2\": 1e-4, \"source\": \"s\"},\n"
    " \"decode\": {\"const_ms\": 0.01, \"ms_per_weight_byte\": 2.0e-08, \"ms_per_kv_byte\": 6.2e-08,\n"
    "            \"source\": \"s\"},\n"
    " \"fit\": {\"prefill_mape\": 6.3, \"decode_mape\": 33.7}}\n";

static void write_text(TestCtx *t, const char *path, const char *text) {
    Err e;
    CHECK_MSG(io_write_atomic(path, text, strlen(text), &e) == 0, "%s", e.msg);
}

TEST(latmodel_format1_profiles_load_with_their_prices) {
    const char *path = test_path("v1.json");
    write_text(t, path, V1);
    Profile p, q;
    Err e;
    CHECK_MSG(profile_load(&p, path, &e) == 0, "%s", e.msg);
    CHECK(p.format == 1 && p.cache_bytes == 0 && p.prefill_b0 == 0 && p.prefill_w == 0 &&
          p.decode_cache == p.decode_dram);
    CHECK(strstr(p.cache_source, "format 1") != NULL);
    CHECK(p.fit_prefill_mape == 6.3 && p.fit_decode_mape == 33.7 && p.fit_decode_heldout_mape == -1);
    /* the format 1 model: d0 + dw W + dkv KV; prefill a + b n lin + c n^2 kv */
    for (int k = 2; k <= 10; k++) {
        CostShape s = {k / 10.0, 1.0, k / 10.0, 0};
        double w = (559616 + 6225920 * s.lin) * 4, kv = 4096 * s.kv * 200 * 4;
        double old = 0.01 + 2.0e-8 * w + 6.2e-8 * kv;
        CHECK_MSG(fabs(profile_decode_ms(&p, &s, 200) - old) < 1e-12 * old, "%g vs %g", profile_decode_ms(&p, &s, 200),
                  old);
        CHECK_NEAR(profile_prefill_ms(&p, &s, 100), 0.45 + 0.088 * 100 * s.lin + 1e-4 * 1e4 * s.kv, 1e-12);
    }
    /* written back in the current format, it reads as the same prices */
    const char *again = test_path("v1-as-v2.json");
    CHECK_MSG(profile_write(&p, again, &e) == 0 && profile_load(&q, again, &e) == 0, "%s", e.msg);
    CHECK(q.format == PROFILE_FORMAT);
    CostShape f = cost_full();
    CHECK_NEAR(profile_decode_ms(&q, &f, 77), profile_decode_ms(&p, &f, 77), 1e-15);
    CHECK_NEAR(profile_prefill_ms(&q, &f, 77), profile_prefill_ms(&p, &f, 77), 1e-15);
    CHECK(q.fit_prefill_mape == 6.3 && q.fit_decode_heldout_mape == -1);
}

static void expect_refused(TestCtx *t, const char *name, const char *text, const char *from, const char *to,
                           const char *want);

TEST(latmodel_format2_round_trip_keeps_every_field) {
    Profile p = known_profile(), q;
    snprintf(p.device, sizeof p.device, "d");
    snprintf(p.source, sizeof p.source, "s");
    snprintf(p.target_source, sizeof p.target_source, "s");
    snprintf(p.prefill_source, sizeof p.prefill_source, "s");
    snprintf(p.decode_source, sizeof p.decode_source, "s");
    snprintf(p.cache_source, sizeof p.cache_source, "fitted");
    snprintf(p.fit_split, sizeof p.fit_split, "odd levels");
    p.fit_prefill_mape = 1.5, p.fit_decode_mape = 2.5, p.fit_prefill_heldout_mape = 3.5;
    p.fit_decode_heldout_mape = 4.5, p.fit_points = 30, p.fit_heldout_points = 24;
    p.warmup_ms = 0.75, p.warmup_cached_ms = 0.25, p.fit_warmup_rmse_ms = 0.125, p.fit_warmup_heldout_rmse_ms = 0.5;
    p.warmup_cached_byte_ms = 3.0517578125e-8;
    p.prefill_gemm_rows = 20, p.prefill_few_w = 0.25, p.prefill_few = 0.0625;
    p.prefill_adapter = 0.375, p.prefill_adapter_pass = 0.0625, p.decode_adapter = 0.875, p.decode_adapter_dram = 1.125;
    p.tlm_a = 0.02, p.tlm_b = 5e-4, p.tlm_c = 1.25e-6;
    Err e;
    const char *path = test_path("v2.json");
    CHECK_MSG(profile_write(&p, path, &e) == 0 && profile_load(&q, path, &e) == 0, "%s", e.msg);
    CHECK(q.prefill_b0 == p.prefill_b0 && q.prefill_w == p.prefill_w && q.decode_cache == p.decode_cache &&
          q.decode_dram == p.decode_dram && q.decode_kv == p.decode_kv && q.cache_bytes == p.cache_bytes &&
          q.cache_sharpness == 8 && !strcmp(q.cache_source, "fitted"));
    CHECK(q.fit_prefill_mape == 1.5 && q.fit_decode_mape == 2.5 && q.fit_prefill_heldout_mape == 3.5 &&
          q.fit_decode_heldout_mape == 4.5 && q.fit_points == 30 && q.fit_heldout_points == 24 &&
          !strcmp(q.fit_split, "odd levels"));
    CHECK(q.warmup_ms == 0.75 && q.warmup_cached_ms == 0.25 && q.warmup_cached_byte_ms == 3.0517578125e-8 &&
          q.fit_warmup_rmse_ms == 0.125 &&
          q.fit_warmup_heldout_rmse_ms == 0.5 && q.prefill_gemm_rows == 20 && q.prefill_few_w == 0.25 && q.prefill_few == 0.0625);
    CHECK(q.prefill_adapter == 0.375 && q.prefill_adapter_pass == 0.0625 && q.decode_adapter == 0.875 &&
          q.decode_adapter_dram == 1.125);
    /* the tiny LM's price, its square term included; nothing for no tokens */
    CHECK(q.tlm_c == 1.25e-6);
    CHECK_NEAR(profile_tlm_ms(&q, 400, 1), 0.02 + 5e-4 * 400 + 1.25e-6 * 400 * 400, 1e-12);
    /* a larger prompt model scales the per-token work, not the per-call constant */
    CHECK_NEAR(profile_tlm_ms(&q, 400, 3), 0.02 + 3 * (5e-4 * 400 + 1.25e-6 * 400 * 400), 1e-12);
    CHECK(profile_tlm_ms(&q, 0, 1) == 0);
    /* a threshold is a count of rows */
    char *text = NULL;
    size_t len = 0;
    CHECK(io_read_file(path, &text, &len, &e) == 0);
    if (text) {
        expect_refused(t, "rows.json", text, "\"gemm_min_rows\":\t20", "\"gemm_min_rows\": 2.5",
                       "prefill.gemm_min_rows: expected an integer");
        free(text);
    }
}

TEST(latmodel_tpot_spreads_the_warmup_over_the_decode_steps) {
    Profile p = known_profile();
    CostShape s = {0.5, 1, 0.5, 0};
    /* without warm-up coefficients the TPOT is the step at the mean context, bit for bit */
    CHECK(profile_tpot_ms(&p, &s, 100, 21) == profile_decode_ms(&p, &s, 110));
    CHECK(profile_tpot_ms(&p, &s, 100, 1) == profile_decode_ms(&p, &s, 100));
    p.warmup_ms = 0.4, p.warmup_cached_ms = 0.6;
    double w, kv;
    profile_decode_bytes(&p, &s, 100, &w, &kv);
    double warm = 0.4 + 0.6 * profile_cache_share(p.cache_bytes, p.cache_sharpness, w + kv);
    CHECK_NEAR(profile_warmup_ms(&p, &s, 100), warm, 1e-12);
    CHECK_NEAR(profile_tpot_ms(&p, &s, 100, 21), profile_decode_ms(&p, &s, 110) + warm / 20, 1e-12);
    /* one output token: the one decode step that times it pays the whole warm-up */
    CHECK_NEAR(profile_tpot_ms(&p, &s, 100, 1), profile_decode_ms(&p, &s, 100) + warm, 1e-12);
    /* a view that fits the cache pays more warm-up than one that does not */
    CostShape small = {0.05, 0.1, 0.05, 0}, big = {1, 1, 1, 0};
    CHECK(profile_warmup_ms(&p, &small, 16) > profile_warmup_ms(&p, &big, 16) + 0.3);
    /* the cached-bytes term: S h^2 per byte, S the working set at the prompt */
    p.warmup_cached_byte_ms = 5e-8;
    double h = profile_cache_share(p.cache_bytes, p.cache_sharpness, w + kv);
    CHECK_NEAR(profile_warmup_ms(&p, &s, 100), 0.4 + 0.6 * h + 5e-8 * (w + kv) * h * h, 1e-12);
}

/* Writes text with `from` replaced by `to` (which must occur in text) and expects profile_load to refuse it with
 * a message containing want and the file's name. */
static void expect_refused(TestCtx *t, const char *name, const char *text, const char *from, const char *to,
                           const char *want) {
    const char *at = strstr(text, from);
    CHECK_MSG(at != NULL, "%s: '%s' not in the text", name, from);
    if (!at) return;
    char buf[16384];
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    const char *path = test_path(name);
    write_text(t, path, buf);
    Profile p;
    Err e = {{0}};
    CHECK_MSG(profile_load(&p, path, &e) == -1, "%s accepted", name);
    CHECK_MSG(strstr(e.msg, want) && strstr(e.msg, name), "%s: '%s' lacks '%s'", name, e.msg, want);
}

TEST(latmodel_format_errors_name_the_file_and_field) {
    char *v2;
    size_t len;
    Err e;
    CHECK(io_read_file("sim/profiles/normalized.json", &v2, &len, &e) == 0);
    if (!v2) return;
    expect_refused(t, "fmt3.json", v2, "\"format\":\t2", "\"format\": 3", "field format: version 3");
    expect_refused(t, "fmt0.json", v2, "\"format\":\t2", "\"format\": 0", "field format");
    expect_refused(t, "fmtstr.json", v2, "\"format\":\t2", "\"format\": \"2\"", "field format");
    expect_refused(t, "fmtnone.json", v2, "\"format\":\t2,", "", "field format: missing");
    expect_refused(t, "noc.json", v2, "\"cache_bytes\"", "\"cache_bytez\"", "field decode.cache_bytes: missing");
    expect_refused(t, "nocs.json", v2, "\"cache_source\"", "\"cache_sourcez\"", "field decode.cache_source");
    expect_refused(t, "now.json", v2, "\"weights_ms\"", "\"weights_mz\"", "field prefill.weights_ms: missing");
    expect_refused(t, "nob0.json", v2, "\"b0_ms_per_token\"", "\"b9_ms_per_token\"",
                   "field prefill.b0_ms_per_token: missing");
    expect_refused(t, "nok.json", v2, "\"cache_sharpness\"", "\"cache_sharpnesz\"",
                   "field decode.cache_sharpness: missing");
    expect_refused(t, "k0.json", v2, "\"cache_sharpness\":\t1", "\"cache_sharpness\": 0.5",
                   "field decode.cache_sharpness: expected a number in [1, 1000]");
    expect_refused(t, "wneg.json", v2, "\"cache_sharpness\":\t1",
                   "\"cache_sharpness\": 1, \"warmup_ms_per_cached_byte\": -1e-8",
                   "field decode.warmup_ms_per_cached_byte");
    expect_refused(t, "wstr.json", v2, "\"cache_sharpness\":\t1",
                   "\"cache_sharpness\": 1, \"warmup_ms_per_cached_byte\": \"5e-8\"",
                   "field decode.warmup_ms_per_cached_byte");
    expect_refused(t, "negc.json", v2, "\"cache_bytes\":\t0", "\"cache_bytes\": -1", "decode.cache_bytes");
    expect_refused(t, "dram.json", v2, "\"ms_per_byte_cache\":\t1", "\"ms_per_byte_cache\": 2",
                   "field decode.ms_per_byte_dram");
    expect_refused(t, "kv.json", v2, "\"ms_per_kv_byte\":\t0", "\"ms_per_kv_byte\": -2",
                   "field decode.ms_per_kv_byte");
    /* a format 2 file with the format 1 decode group */
    expect_refused(t, "oldgroup.json", v2, "\"ms_per_byte_cache\"", "\"ms_per_weight_byte\"",
                   "field decode.ms_per_byte_cache: missing");
    free(v2);
    /* a format 1 file that lacks its own fields */
    expect_refused(t, "v1bad.json", V1, "\"ms_per_weight_byte\"", "\"ms_per_weight_bytes\"",
                   "field decode.ms_per_weight_byte: missing");
    expect_refused(t, "v1neg.json", V1, "\"ms_per_weight_byte\": 2.0e-08", "\"ms_per_weight_byte\": 0",
                   "decode.ms_per_weight_byte: expected a positive number");
}

TEST(latmodel_fit_nonneg_is_part_of_the_fit) {
    /* exact non-negative data: recovered exactly */
    double X[40 * 3], y[40], coef[3], mape;
    Err e;
    for (int i = 0; i < 40; i++) {
        double x1 = 1 + i, x2 = (i % 7) * 3.0;
        X[3 * i] = 1, X[3 * i + 1] = x1, X[3 * i + 2] = x2;
        y[i] = 0.5 + 2 * x1 + 0.25 * x2;
    }
    CHECK(fit_linear_nonneg(X, y, 40, 3, NULL, coef, &mape, &e) == 0);
    CHECK_NEAR(coef[0], 0.5, 1e-9);
    CHECK_NEAR(coef[1], 2, 1e-9);
    CHECK_NEAR(coef[2], 0.25, 1e-9);
    CHECK(mape < 1e-6);
    /* data whose unconstrained fit has a negative intercept: the bound holds, and the bounded fit beats the
     * unconstrained solution clamped afterwards */
    for (int i = 0; i < 40; i++) y[i] = -0.5 + 2 * X[3 * i + 1] + 0.25 * X[3 * i + 2] + (i % 2 ? 0.3 : -0.3);
    double free_c[3], free_mape, clamped[40];
    CHECK(fit_linear(X, y, 40, 3, free_c, &free_mape, &e) == 0);
    CHECK(free_c[0] < 0);
    CHECK(fit_linear_nonneg(X, y, 40, 3, NULL, coef, &mape, &e) == 0);
    CHECK_MSG(coef[0] >= 0 && coef[1] >= 0 && coef[2] >= 0, "%g %g %g", coef[0], coef[1], coef[2]);
    for (int i = 0; i < 40; i++) clamped[i] = 0 * X[3 * i] + free_c[1] * X[3 * i + 1] + free_c[2] * X[3 * i + 2];
    CHECK_MSG(mape < fit_mape(clamped, y, 40), "bounded %g%%, clamped %g%%", mape, fit_mape(clamped, y, 40));
    CHECK(mape >= free_mape - 1e-9); /* a bound never beats the unconstrained optimum */
    /* only the coefficients named are bounded */
    bool only_slope[3] = {false, true, true};
    CHECK(fit_linear_nonneg(X, y, 40, 3, only_slope, coef, &mape, &e) == 0);
    CHECK_NEAR(coef[0], free_c[0], 1e-6);
    CHECK_NEAR(mape, free_mape, 1e-6);
    /* errors */
    CHECK(fit_linear_nonneg(X, y, 3, 3, NULL, coef, NULL, &e) == -1);
    double big[12 * (FIT_MAX_COEF + 1)] = {0}, yb[12];
    for (int i = 0; i < 12; i++) yb[i] = 1;
    CHECK(fit_linear_nonneg(big, yb, 12, FIT_MAX_COEF + 1, NULL, coef, NULL, &e) == -1 && strstr(e.msg, "at most"));
}

/* Synthetic points of p's model: 9 levels x 6 lengths (the calibration's levels), odd levels held out; times
 * multiplied by 1 + noise N(0, sd). */
static int synth(const Profile *p, LatPoint *pre, LatPoint *dec, double sd, unsigned long seed) {
    static const int len[6] = {16, 32, 64, 128, 192, 256};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    int n = 0;
    for (int li = 0; li < 9; li++)
        for (int k = 0; k < 6; k++) {
            double level = 0.2 + 0.1 * li;
            CostShape s = {level, 1.0, level * (li % 3 == 0 ? 1.0 : 0.9), 0}; /* kv not always proportional */
            double ctx = len[k] + 15.5;
            pre[n] = (LatPoint){s, len[k], profile_prefill_ms(p, &s, len[k]), li % 2 == 1, NAN};
            dec[n] = (LatPoint){s, ctx, profile_decode_ms(p, &s, ctx), li % 2 == 1, NAN};
            if (sd > 0) {
                pre[n].ms *= 1 + gsl_ran_gaussian(r, sd);
                dec[n].ms *= 1 + gsl_ran_gaussian(r, sd);
            }
            n++;
        }
    gsl_rng_free(r);
    return n;
}

static Profile blank_fit(const Profile *truth) {
    Profile q;
    memset(&q, 0, sizeof q);
    q.target = truth->target;
    return q;
}

TEST(latmodel_fit_recovers_a_known_cache_aware_model) {
    Profile p = known_profile();
    LatPoint pre[54], dec[54];
    int n = synth(&p, pre, dec, 0, 1);
    Profile q = blank_fit(&p);
    Err e;
    CHECK_MSG(latfit_prefill(&q, pre, n, &e) == 0 && latfit_decode(&q, dec, n, -1, &e) == 0, "%s", e.msg);
    CHECK_NEAR(q.prefill_a, p.prefill_a, 1e-6);
    CHECK_NEAR(q.prefill_w, p.prefill_w, 1e-6);
    CHECK_NEAR(q.prefill_b0, p.prefill_b0, 1e-7);
    CHECK_NEAR(q.prefill_b, p.prefill_b, 1e-7);
    CHECK_NEAR(q.prefill_c, p.prefill_c, 1e-10);
    /* the capacity comes from a grid refined by Brent's method: within 0.1%, the costs within 0.5%; the
     * sharpness is the grid's exact value */
    CHECK_MSG(fabs(q.cache_bytes - p.cache_bytes) < 1e-3 * p.cache_bytes, "C %g", q.cache_bytes);
    CHECK_MSG(q.cache_sharpness == p.cache_sharpness, "k %g", q.cache_sharpness);
    CHECK_MSG(fabs(q.decode_cache - p.decode_cache) < 5e-3 * p.decode_cache, "dc %g", q.decode_cache);
    CHECK_MSG(fabs(q.decode_dram - p.decode_dram) < 5e-3 * p.decode_dram, "dd %g", q.decode_dram);
    CHECK_MSG(fabs(q.decode_kv - p.decode_kv) < 2e-2 * p.decode_kv, "dkv %g", q.decode_kv);
    CHECK_MSG(fabs(q.decode_const - p.decode_const) < 5e-3, "d0 %g", q.decode_const);
    CHECK_MSG(q.fit_prefill_mape < 1e-4 && q.fit_prefill_heldout_mape < 1e-4, "%g %g", q.fit_prefill_mape,
              q.fit_prefill_heldout_mape);
    CHECK_MSG(q.fit_decode_mape < 0.05 && q.fit_decode_heldout_mape < 0.05, "%g %g", q.fit_decode_mape,
              q.fit_decode_heldout_mape);
    for (int i = 0; i < n; i++) CHECK_NEAR(dec[i].predicted_ms, profile_decode_ms(&q, &dec[i].shape, dec[i].tokens), 0);
    /* with 1% noise the model still comes back close, and the held-out error stays near the noise */
    n = synth(&p, pre, dec, 0.01, 7);
    q = blank_fit(&p);
    CHECK_MSG(latfit_prefill(&q, pre, n, &e) == 0 && latfit_decode(&q, dec, n, -1, &e) == 0, "%s", e.msg);
    CHECK_MSG(fabs(q.cache_bytes - p.cache_bytes) < 0.1 * p.cache_bytes, "C %g", q.cache_bytes);
    CHECK_MSG(fabs(q.decode_dram - p.decode_dram) < 0.1 * p.decode_dram, "dd %g", q.decode_dram);
    CHECK_MSG(q.fit_decode_heldout_mape < 2 && q.fit_prefill_heldout_mape < 2, "%g %g", q.fit_decode_heldout_mape,
              q.fit_prefill_heldout_mape);
    CHECK(q.decode_const >= 0 && q.decode_cache >= 0 && q.decode_dram >= q.decode_cache && q.decode_kv >= 0);
}

TEST(latmodel_fit_without_a_cache_reports_none) {
    /* data of a model with one cost per byte: no capacity lowers the error, so none is reported */
    Profile p = known_profile();
    p.cache_bytes = 0;
    p.decode_cache = p.decode_dram;
    LatPoint pre[54], dec[54];
    int n = synth(&p, pre, dec, 0, 1);
    Profile q = blank_fit(&p);
    Err e;
    CHECK_MSG(latfit_decode(&q, dec, n, -1, &e) == 0, "%s", e.msg);
    CHECK_MSG(q.cache_bytes == 0 && q.decode_cache == q.decode_dram, "C %g dc %g dd %g", q.cache_bytes,
              q.decode_cache, q.decode_dram);
    CHECK_NEAR(q.decode_dram, p.decode_dram, 1e-3 * p.decode_dram);
    /* a measured capacity is used as given */
    q = blank_fit(&p);
    CHECK(latfit_decode(&q, dec, n, 5e6, &e) == 0);
    CHECK(q.cache_bytes == 5e6);
}

TEST(latmodel_held_out_points_never_move_the_fit) {
    Profile p = known_profile();
    LatPoint pre[54], dec[54];
    int n = synth(&p, pre, dec, 0.01, 3);
    Profile a = blank_fit(&p), b = blank_fit(&p);
    Err e;
    CHECK(latfit_prefill(&a, pre, n, &e) == 0 && latfit_decode(&a, dec, n, -1, &e) == 0);
    /* spoil every held-out time threefold: the coefficients stay, only the held-out error grows */
    for (int i = 0; i < n; i++)
        if (pre[i].held_out) pre[i].ms *= 3, dec[i].ms *= 3;
    CHECK(latfit_prefill(&b, pre, n, &e) == 0 && latfit_decode(&b, dec, n, -1, &e) == 0);
    CHECK(a.prefill_a == b.prefill_a && a.prefill_w == b.prefill_w && a.prefill_b0 == b.prefill_b0 &&
          a.prefill_b == b.prefill_b && a.prefill_c == b.prefill_c);
    CHECK(a.decode_const == b.decode_const && a.decode_cache == b.decode_cache && a.decode_dram == b.decode_dram &&
          a.decode_kv == b.decode_kv && a.cache_bytes == b.cache_bytes && a.cache_sharpness == b.cache_sharpness);
    CHECK(a.fit_prefill_mape == b.fit_prefill_mape && a.fit_decode_mape == b.fit_decode_mape);
    CHECK_MSG(b.fit_prefill_heldout_mape > 60 && b.fit_decode_heldout_mape > 60, "%g %g",
              b.fit_prefill_heldout_mape, b.fit_decode_heldout_mape);
    /* no held-out points: the held-out error is unknown (-1); too few fitted points is an error */
    for (int i = 0; i < n; i++) pre[i].held_out = dec[i].held_out = false;
    CHECK(latfit_prefill(&b, pre, n, &e) == 0 && b.fit_prefill_heldout_mape == -1);
    for (int i = 0; i < n; i++) pre[i].held_out = i >= 5, dec[i].held_out = i >= 4; /* 5 and 4 coefficients */
    CHECK(latfit_prefill(&b, pre, n, &e) == -1 && strstr(e.msg, "prefill fit"));
    CHECK(latfit_decode(&b, dec, n, -1, &e) == -1 && strstr(e.msg, "decode fit"));
}

/* An unmerged adapter at every level but the full one (as the shipped levels have), dearer in decode once the
 * view's working set leaves the cache: its prefill and decode coefficients come back from exact synthetic points
 * (with two narrower views without an adapter beside the levels, as calibrate times them), a profile without them
 * prices the adapter at nothing, and a view with an adapter has an adapter share that grows with its width. */
TEST(latmodel_fit_recovers_the_adapter_terms) {
    Profile p = known_profile();
    p.prefill_adapter = 0.4, p.prefill_adapter_pass = 6.0, p.decode_adapter = 0.9, p.decode_adapter_dram = 1.5;
    static const int len[6] = {16, 32, 64, 128, 192, 256};
    LatPoint pre[66], dec[66];
    int n = 0;
    for (int li = 0; li < 11; li++)
        for (int k = 0; k < 6; k++) {
            double level = li < 9 ? 0.2 + 0.1 * li : 0.05 * (li - 8); /* then the narrower views 0.05 and 0.1 */
            CostShape s = {level, 1.0, level, li >= 8 ? 0.0 : 0.02 + 0.03 * level};
            bool held = li < 9 && li % 2 == 1;
            pre[n] = (LatPoint){s, len[k], profile_prefill_ms(&p, &s, len[k]), held, NAN};
            dec[n] = (LatPoint){s, len[k] + 15.5, profile_decode_ms(&p, &s, len[k] + 15.5), held, NAN};
            n++;
        }
    Profile q = blank_fit(&p);
    Err e;
    CHECK_MSG(latfit_prefill(&q, pre, n, &e) == 0 && latfit_decode(&q, dec, n, -1, &e) == 0, "%s", e.msg);
    CHECK_MSG(fabs(q.prefill_adapter - 0.4) < 1e-6 && fabs(q.prefill_adapter_pass - 6.0) < 1e-4,
              "prefill adapter %g per token, %g per pass", q.prefill_adapter, q.prefill_adapter_pass);
    CHECK_MSG(fabs(q.decode_adapter - 0.9) < 0.05 && fabs(q.decode_adapter_dram - 1.5) < 0.05, "decode adapter %g %g",
              q.decode_adapter, q.decode_adapter_dram);
    CHECK_MSG(q.fit_prefill_heldout_mape < 1e-4 && q.fit_decode_heldout_mape < 0.05, "%g %g",
              q.fit_prefill_heldout_mape, q.fit_decode_heldout_mape);
    /* without adapter coefficients (the paper's accounting, the phones) an adapter costs nothing */
    Profile none = known_profile();
    CostShape with = {0.5, 1.0, 0.5, 0.04}, without = {0.5, 1.0, 0.5, 0.0};
    CHECK(profile_prefill_ms(&none, &with, 100) == profile_prefill_ms(&none, &without, 100));
    CHECK(profile_decode_ms(&none, &with, 100) == profile_decode_ms(&none, &without, 100));
    CHECK_NEAR(profile_prefill_ms(&p, &with, 100) - profile_prefill_ms(&p, &without, 100), (6.0 + 0.4 * 100) * 0.04,
               1e-12);
    double w, kv;
    profile_decode_bytes(&p, &with, 100, &w, &kv);
    double h = profile_cache_share(p.cache_bytes, p.cache_sharpness, w + kv);
    CHECK(h > 0 && h < 1);
    CHECK_NEAR(profile_decode_ms(&p, &with, 100) - profile_decode_ms(&p, &without, 100), (0.9 + 1.5 * (1 - h)) * 0.04,
               1e-12);
}

TEST(latmodel_cost_shape_counts_the_adapter_a_view_reads) {
    ModelConfig c = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8, .ffn_dim = 48,
                     .vocab_size = 50, .max_seq = 16, .norm_eps = 1e-5f, .rope_theta = 1e4f, .bos_id = -1,
                     .eos_id = -1};
    Model m;
    Lora a;
    Err e;
    CHECK(model_alloc(&m, &c, &e) == 0 && lora_alloc(&a, &c, 4, 8.0f, &e) == 0);
    ElasticView full, half, with, half_with;
    view_full(&m, &full);
    view_uniform(&m, 1, 24, &half);
    with = full, with.lora = &a;
    half_with = half, half_with.lora = &a;
    CostShape s;
    cost_shape(&m, &m, &full, 0, &s);
    CHECK(s.adapter == 0);
    cost_shape(&m, &m, &with, 0, &s);
    /* per layer: q (32 + 32) + k, v 2 (32 + 16) + o (32 + 32) + gate, up 2 (32 + 48) + down (48 + 32), rank 4 */
    double per_layer = 4.0 * (64 + 96 + 64 + 160 + 80);
    CHECK_NEAR(s.adapter, 2 * per_layer / model_layer_params(&c), 1e-12);
    double full_share = s.adapter;
    cost_shape(&m, &m, &half_with, 0, &s);
    CHECK(s.adapter > 0 && s.adapter < full_share);
    lora_free(&a);
    model_free(&m);
}

/* fit_warmup: *q fitted (decode, then warm-up) to synth's points of p and their exact warm-ups under p (warm, 54
 * points); returns the count, or -1 (with e set) when a fit fails */
static int fit_warmup(const Profile *p, Profile *q, LatPoint *warm, Err *e) {
    LatPoint pre[54], dec[54];
    int n = synth(p, pre, dec, 0, 1);
    for (int i = 0; i < n; i++) {
        warm[i] = pre[i];
        warm[i].ms = profile_warmup_ms(p, &pre[i].shape, pre[i].tokens);
    }
    *q = blank_fit(p);
    return latfit_decode(q, dec, n, -1, e) || latfit_warmup(q, warm, n, e) ? -1 : n;
}

TEST(latmodel_fit_recovers_the_warmup) {
    Profile p = known_profile(), q;
    p.warmup_ms = 0.3, p.warmup_cached_ms = 0.5;
    LatPoint warm[54];
    Err e;
    int n = fit_warmup(&p, &q, warm, &e);
    CHECK_MSG(n > 0, "%s", e.msg);
    CHECK_MSG(fabs(q.warmup_ms - 0.3) < 0.02 && fabs(q.warmup_cached_ms - 0.5) < 0.02, "%g %g", q.warmup_ms,
              q.warmup_cached_ms);
    CHECK(q.fit_warmup_rmse_ms < 0.01 && q.fit_warmup_heldout_rmse_ms < 0.01);
    /* warm-ups of any sign (differences of noisy times) fit; the coefficients stay non-negative */
    for (int i = 0; i < n; i++) warm[i].ms = i % 2 ? -0.05 : 0.02;
    CHECK_MSG(latfit_warmup(&q, warm, n, &e) == 0, "%s", e.msg);
    CHECK(q.warmup_ms >= 0 && q.warmup_cached_ms >= 0 && q.warmup_cached_byte_ms >= 0 && q.fit_warmup_rmse_ms > 0);
}

/* A warm-up that rises with a view's size while the view stays cached and falls past the cache (S h^2; measured on
 * the host, README "A decode warm-up"): the fit recovers it, held-out levels included, and prices a view near the
 * cache above both a small and the full one. */
TEST(latmodel_fit_recovers_a_warmup_that_rises_and_falls) {
    Profile p = known_profile();
    p.warmup_ms = 0.05, p.warmup_cached_byte_ms = 6e-8;
    CostShape v02 = {0.2, 1, 0.2, 0}, v04 = {0.4, 1, 0.4, 0}, v10 = {1, 1, 1, 0};
    double w02 = profile_warmup_ms(&p, &v02, 64), w04 = profile_warmup_ms(&p, &v04, 64),
           w10 = profile_warmup_ms(&p, &v10, 64);
    CHECK_MSG(w04 > w02 + 0.05 && w04 > w10 + 0.1, "%g %g %g", w02, w04, w10); /* the premise: a hump */
    LatPoint warm[54];
    Profile q;
    Err e;
    CHECK_MSG(fit_warmup(&p, &q, warm, &e) > 0, "%s", e.msg);
    CHECK_MSG(fabs(q.warmup_ms - 0.05) < 0.02 && q.warmup_cached_ms < 0.02 &&
                  fabs(q.warmup_cached_byte_ms - 6e-8) < 0.05 * 6e-8,
              "%g %g %g", q.warmup_ms, q.warmup_cached_ms, q.warmup_cached_byte_ms);
    CHECK(q.fit_warmup_rmse_ms < 0.01 && q.fit_warmup_heldout_rmse_ms < 0.01);
    CHECK(profile_warmup_ms(&q, &v04, 64) > profile_warmup_ms(&q, &v02, 64) &&
          profile_warmup_ms(&q, &v04, 64) > profile_warmup_ms(&q, &v10, 64));
}

TEST(latmodel_least_squares_nonneg_is_exact_under_the_bounds) {
    /* y = 2 - 0.5 x: unbounded the slope is negative; bounded it is 0 and the intercept the mean */
    double X[10], y[5], c[2], rmse;
    for (int i = 0; i < 5; i++) X[2 * i] = 1, X[2 * i + 1] = i, y[i] = 2 - 0.5 * i;
    Err e;
    CHECK(fit_least_squares_nonneg(X, y, 5, 2, c, &rmse, &e) == 0);
    CHECK_NEAR(c[1], 0, 0);
    CHECK_NEAR(c[0], 1.0, 1e-12);
    CHECK_NEAR(rmse, sqrt((1 + 0.25 + 0 + 0.25 + 1) / 5.0), 1e-12);
    for (int i = 0; i < 5; i++) y[i] = 0.5 + 0.25 * i;
    CHECK(fit_least_squares_nonneg(X, y, 5, 2, c, &rmse, &e) == 0);
    CHECK_NEAR(c[0], 0.5, 1e-12);
    CHECK_NEAR(c[1], 0.25, 1e-12);
    CHECK(fit_least_squares_nonneg(X, y, 2, 2, c, NULL, &e) == -1 && strstr(e.msg, "more points"));
    y[3] = NAN;
    CHECK(fit_least_squares_nonneg(X, y, 5, 2, c, NULL, &e) == -1 && strstr(e.msg, "point 3"));
}

TEST(latmodel_prefill_prices_and_fits_the_few_row_regime) {
    Profile p = known_profile();
    CostShape s = {0.5, 1, 0.5, 0};
    double one = profile_prefill_ms(&p, &s, 16); /* gemm_min_rows 0: one regime */
    p.prefill_gemm_rows = 40, p.prefill_few_w = 0.5, p.prefill_few = 0.05;
    /* below the threshold: the few-row weights term instead of weights_ms, and the few-row cost per token */
    CHECK_NEAR(profile_prefill_ms(&p, &s, 16), one + (0.5 - p.prefill_w) * 0.5 + 0.05 * 16 * 0.5, 1e-12);
    p.prefill_gemm_rows = 0;
    double at40 = profile_prefill_ms(&p, &s, 40);
    p.prefill_gemm_rows = 40;
    CHECK(profile_prefill_ms(&p, &s, 40) == at40);
    /* a known two-regime model comes back from its points (lengths 16 and 32 are the few-row ones) */
    LatPoint pre[54], dec[54];
    int n = synth(&p, pre, dec, 0, 1);
    Profile q = blank_fit(&p);
    q.prefill_gemm_rows = 40;
    Err e;
    CHECK_MSG(latfit_prefill(&q, pre, n, &e) == 0, "%s", e.msg);
    CHECK(q.prefill_gemm_rows == 40);
    CHECK_NEAR(q.prefill_w, p.prefill_w, 1e-6);
    CHECK_NEAR(q.prefill_b, p.prefill_b, 1e-7);
    CHECK_NEAR(q.prefill_few_w, 0.5, 1e-6);
    CHECK_NEAR(q.prefill_few, 0.05, 1e-7);
    CHECK_MSG(q.fit_prefill_mape < 1e-4 && q.fit_prefill_heldout_mape < 1e-4, "%g %g", q.fit_prefill_mape,
              q.fit_prefill_heldout_mape);
    /* one fitted length below the threshold (16 < 20) cannot fit the regime's two terms: one regime */
    q = blank_fit(&p);
    q.prefill_gemm_rows = 20;
    CHECK(latfit_prefill(&q, pre, n, &e) == 0 && q.prefill_gemm_rows == 0 && q.prefill_few == 0 &&
          q.prefill_few_w == 0);
    /* every fitted length below the threshold: nothing to fit the packed regime from, one regime too */
    q = blank_fit(&p);
    q.prefill_gemm_rows = 300;
    CHECK(latfit_prefill(&q, pre, n, &e) == 0 && q.prefill_gemm_rows == 0 && q.prefill_w > 0);
}
