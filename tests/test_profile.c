/* Tests of sim/profile (loading, the paper's accounting, phone figures, malformed files), the cost shape of
 * other models, and the least-squares fit used by calibration (known coefficients recovered). */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/levels.h"
#include "engine/io.h"
#include "sim/fit.h"
#include "sim/profile.h"
#include "tests/test.h"
#include "tests/util.h"

TEST(profile_shipped_profiles_load_with_sources) {
    const char *names[] = {"normalized", "sd8gen3-llama2-7b-q4", "sd8gen3-openllama-3b-q4", "host"};
    for (int i = 0; i < 4; i++) {
        char path[256];
        profile_resolve(names[i], NULL, path, sizeof path);
        Profile p;
        Err e;
        if (profile_load(&p, path, &e)) {
            CHECK_MSG(0, "%s: %s", names[i], e.msg);
            continue;
        }
        CHECK(!strcmp(p.name, names[i]));
        CHECK_MSG(p.source[0] && p.target_source[0] && p.prefill_source[0] && p.decode_source[0] &&
                      p.cache_source[0], "%s", names[i]);
        CHECK_MSG(p.format == PROFILE_FORMAT, "%s: format %d", names[i], p.format);
        /* the shipped host profile carries its fit error on the fitted and on the held-out points (the figures
         * were measured, so only their presence and a loose bound are checked here; README, "Device profiles") */
        if (!strcmp(names[i], "host"))
            CHECK_MSG(p.fit_prefill_mape >= 0 && p.fit_prefill_mape < 10 && p.fit_decode_mape >= 0 &&
                          p.fit_decode_mape < 10 && p.fit_prefill_heldout_mape >= 0 &&
                          p.fit_prefill_heldout_mape < 15 && p.fit_decode_heldout_mape >= 0 &&
                          p.fit_decode_heldout_mape < 15 && p.fit_points > 0 && p.fit_heldout_points > 0 &&
                          p.fit_split[0],
                      "host fit MAPE %g / %g, held out %g / %g", p.fit_prefill_mape, p.fit_decode_mape,
                      p.fit_prefill_heldout_mape, p.fit_decode_heldout_mape);
    }
}

TEST(profile_phone_prices_match_cited_speeds) {
    Profile p;
    Err e;
    CHECK(profile_load(&p, "sim/profiles/sd8gen3-llama2-7b-q4.json", &e) == 0);
    CostShape f = cost_full();
    /* 10 tokens/s decode at short context; 40 tokens/s prefill (plus fixed costs) */
    double dec = profile_decode_ms(&p, &f, 16);
    CHECK_MSG(dec > 95 && dec < 106, "decode %g ms", dec);
    double pre = profile_prefill_ms(&p, &f, 200);
    CHECK_MSG(pre > 5000 && pre < 5100, "prefill %g ms", pre);
    /* a half-width view halves the weight traffic, not the fixed costs */
    CostShape h = {0.5, 1.0, 0.5, 0};
    double dh = profile_decode_ms(&p, &h, 16);
    CHECK(dh < 0.6 * dec && dh > 0.45 * dec);
    Profile q;
    CHECK(profile_load(&q, "sim/profiles/sd8gen3-openllama-3b-q4.json", &e) == 0);
    double d3 = profile_decode_ms(&q, &f, 16);
    CHECK_MSG(d3 > 45 && d3 < 60 && d3 < dec, "3B decode %g ms", d3);
    /* the cache term is inert on the phones: every level prices exactly as every byte at DRAM cost */
    for (double lin = 0.2; lin <= 1.0 + 1e-9; lin += 0.1) {
        CostShape v = {lin, 1.0, lin, 0};
        double w, kv;
        profile_decode_bytes(&p, &v, 300, &w, &kv);
        CHECK_NEAR(profile_decode_ms(&p, &v, 300), p.decode_const + (w + kv) * p.decode_dram + p.decode_kv * kv,
                   1e-9);
    }
    CHECK(p.prefill_b0 == 0 && q.prefill_b0 == 0 && p.prefill_w == 0 && q.prefill_w == 0);
    /* memory of the target: 7B Q4_0 weights ~ 3.8 GB */
    double w = profile_weight_bytes(&p, 1000, 1000);
    CHECK_MSG(w > 3.7e9 && w < 3.9e9, "weights %g", w);
}

TEST(profile_normalized_is_the_papers_accounting) {
    Profile p;
    Err e;
    CHECK(profile_load(&p, "sim/profiles/normalized.json", &e) == 0);
    ModelConfig c = util_config();
    c.n_layers = 4;
    c.n_kv_heads = 4; /* fine attention granularity: every level is reachable */
    c.ffn_dim = 96;
    Model m;
    util_model(&m, &c, 3);
    CostShape full = cost_full();
    const int n = 200;
    for (int li = 0; li < N_LEVELS; li++) {
        ElasticView v;
        CHECK(levels_view(&m, NULL, LEVELS[li], &v, &e) == 0);
        double frac = view_param_fraction(&m, &v);
        CostShape s;
        cost_shape(&m, &m, &v, 0, &s);
        CHECK_NEAR(s.lin, frac, 1e-12);
        for (int ri = 0; ri < N_RATIOS; ri++) {
            int kept = (int)floor(RATIOS[ri] * n + 1e-9);
            double rel_ttft = profile_prefill_ms(&p, &s, kept) / profile_prefill_ms(&p, &full, n);
            CHECK_NEAR(rel_ttft, frac * kept / n, 1e-12);
            /* the priced cost never exceeds the labels' m * p */
            CHECK_MSG(rel_ttft <= LEVELS[li] * RATIOS[ri] + 1e-12, "level %g ratio %g: frac %.6f rel %.6f",
                      LEVELS[li], RATIOS[ri], frac, rel_ttft);
        }
        double rel_tpot = profile_decode_ms(&p, &s, 50) / profile_decode_ms(&p, &full, 50);
        CHECK_NEAR(rel_tpot, frac, 1e-12);
    }
    model_free(&m);
}

TEST(profile_cost_shape_of_a_smaller_model) {
    ModelConfig c = util_config();
    Model big, small;
    util_model(&big, &c, 1);
    ModelConfig d = c;
    d.ffn_dim = c.ffn_dim / 2;
    d.n_layers = 2;
    util_model(&small, &d, 2);
    ElasticView v;
    view_full(&small, &v);
    CostShape s;
    cost_shape(&big, &small, &v, 0.01, &s);
    CHECK_NEAR(s.lin, cost_layer_params(&d) / cost_layer_params(&c) + 0.01, 1e-12);
    CHECK_NEAR(s.kv, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(s.head, 1.0, 1e-12);
    model_free(&big);
    model_free(&small);
}

static void expect_bad_profile(TestCtx *t, const char *name, const char *text, const char *want) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s.json", test_tmpdir(), name);
    Err e = {{0}};
    CHECK(io_write_atomic(path, text, strlen(text), &e) == 0);
    Profile p;
    CHECK_MSG(profile_load(&p, path, &e) == -1, "%s accepted", name);
    CHECK_MSG(strstr(e.msg, want) != NULL, "%s: '%s' lacks '%s'", name, e.msg, want);
}

TEST(profile_malformed_files_give_clear_errors) {
    char *good;
    size_t len;
    Err e;
    CHECK(io_read_file("sim/profiles/normalized.json", &good, &len, &e) == 0);
    expect_bad_profile(t, "notjson", "{\"name\": ", "malformed JSON");
    expect_bad_profile(t, "array", "[1,2]", "expected a JSON object");
    char buf[8192];
    /* drop the prefill group */
    snprintf(buf, sizeof buf, "%s", good);
    char *pre = strstr(buf, "\"prefill\"");
    CHECK(pre != NULL);
    if (pre) {
        memcpy(pre, "\"prefilx\"", 9);
        expect_bad_profile(t, "noprefill", buf, "field prefill: missing");
    }
    snprintf(buf, sizeof buf, "%s", good);
    char *b = strstr(buf, "\"b_ms_per_token\":\t1");
    CHECK(b != NULL);
    if (b) {
        b[strlen("\"b_ms_per_token\":")] = '-'; /* the tab before 1 becomes a minus sign */
        expect_bad_profile(t, "negb", buf, "prefill.b_ms_per_token");
    }
    snprintf(buf, sizeof buf, "%s", good);
    char *sc = strstr(buf, "\"engine\"");
    CHECK(sc != NULL);
    if (sc) {
        memcpy(sc, "\"enjine\"", 8);
        expect_bad_profile(t, "scale", buf, "memory.scale");
    }
    free(good);
    Profile p;
    CHECK(profile_load(&p, "sim/profiles/no-such-profile.json", &e) == -1);
    CHECK_MSG(strstr(e.msg, "no-such-profile"), "%s", e.msg);
}

TEST(fit_recovers_known_coefficients) {
    /* prefill-like data: y = a + b x1 + c x2 with x1 = n lin, x2 = n^2 kv */
    const double a = 2.0, b = 0.5, c = 0.001;
    double X[60 * 3], y[60];
    int n = 0;
    for (int li = 1; li <= 6; li++)
        for (int k = 1; k <= 10; k++) {
            double lin = li / 6.0, len = 20.0 * k;
            X[3 * n] = 1, X[3 * n + 1] = len * lin, X[3 * n + 2] = len * len * lin;
            y[n] = a + b * X[3 * n + 1] + c * X[3 * n + 2];
            n++;
        }
    double coef[3], mape;
    Err e;
    CHECK(fit_linear(X, y, n, 3, coef, &mape, &e) == 0);
    CHECK_NEAR(coef[0], a, 1e-9);
    CHECK_NEAR(coef[1], b, 1e-9);
    CHECK_NEAR(coef[2], c, 1e-12);
    CHECK(mape < 1e-6);
    /* with 2% multiplicative noise the coefficients come back within a few percent */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    for (int i = 0; i < n; i++) y[i] *= 1.0 + gsl_ran_gaussian(r, 0.02);
    gsl_rng_free(r);
    CHECK(fit_linear(X, y, n, 3, coef, &mape, &e) == 0);
    CHECK_MSG(fabs(coef[1] - b) / b < 0.03, "b %g", coef[1]);
    CHECK_MSG(fabs(coef[2] - c) / c < 0.10, "c %g", coef[2]);
    CHECK_MSG(mape > 0.5 && mape < 3.0, "MAPE %g%%", mape);
    /* too few points and non-positive times are errors */
    CHECK(fit_linear(X, y, 3, 3, coef, NULL, &e) == -1);
    y[0] = 0;
    CHECK(fit_linear(X, y, n, 3, coef, NULL, &e) == -1);
}

TEST(profile_calibrate_cli_writes_a_loadable_profile) {
    /* times are wall clock: only the shape of the output is checked, never the values. The model and prompt
     * lengths are large enough that the per-token cost stands far above timer noise, even under sanitizers (a
     * fit that finds no per-token cost is an error of calibrate, rightly) */
    const char *tmp = test_tmpdir();
    ModelConfig c = util_config();
    c.dim = 128, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 32, c.ffn_dim = 256, c.max_seq = 320;
    Model m;
    util_model(&m, &c, 4);
    char dir[700], cmd[3000], *out = NULL;
    snprintf(dir, sizeof dir, "%s/model", tmp);
    Err e;
    CHECK(model_save(&m, dir, ST_F32, &e) == 0);
    model_free(&m);
    snprintf(cmd, sizeof cmd, "calibrate --model %s --out %s/h.json --db %s/c.db --lengths 32,128,256 --reps 3 "
             "--decode-steps 2 --name myhost --idle-ms 1", dir, tmp, tmp);
    CHECK_MSG(test_run_cli(cmd, &out) == 0, "%s", out);
    CHECK_MSG(strstr(out, "prefill a_ms ") && strstr(out, "decode mape fitted ") && strstr(out, "held-out "), "%s",
              out);
    free(out);
    char path[800];
    snprintf(path, sizeof path, "%s/h.json", tmp);
    Profile p;
    CHECK(profile_load(&p, path, &e) == 0);
    CHECK(!strcmp(p.name, "myhost") && p.prefill_b > 0 && p.decode_dram > 0 && p.fit_prefill_mape >= 0);
    CHECK(p.format == PROFILE_FORMAT && p.decode_dram >= p.decode_cache && p.cache_source[0]);
    /* (9 levels + 2 narrower views) x 3 lengths: levels 0.3, 0.5, 0.7, 0.9 held out, the narrower views fitted */
    CHECK_MSG(p.fit_points == 21 && p.fit_heldout_points == 12 && p.fit_prefill_heldout_mape >= 0 &&
                  p.fit_decode_heldout_mape >= 0 && strstr(p.fit_split, "0.3, 0.5, 0.7, 0.9") &&
                  strstr(p.fit_split, "keeping 0.05 and 0.1 of every layer"),
              "%d %d %s", p.fit_points, p.fit_heldout_points, p.fit_split);
    CHECK(p.target.layer_params == cost_layer_params(&c) && p.target.bytes_per_param == 4);
    CHECK(strstr(p.source, "elms calibrate --model") != NULL && strstr(p.source, "after 1 ms idle") != NULL);
    /* the decode warm-up: fitted non-negative, its error on both splits */
    CHECK(p.warmup_ms >= 0 && p.warmup_cached_ms >= 0 && p.fit_warmup_rmse_ms >= 0 && p.fit_warmup_heldout_rmse_ms >= 0);
    /* three tiny-LM lengths: too few for its square term, which stays 0 */
    CHECK(p.tlm_c == 0);
    /* calibration points: 11 views x 3 lengths x (prefill, decode, warm-up), 3 tiny-LM points, 1 switch; every
     * time but a warm-up (a difference of times) is positive; the narrower views are stored at their widths */
    snprintf(path, sizeof path, "%s/c.db", tmp);
    sqlite3 *h;
    sqlite3_stmt *st;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h, "SELECT count(*), sum(measured_ms > 0 OR phase = 'warmup'), sum(phase = 'warmup') "
                             "FROM calibration WHERE profile = 'myhost'", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 103 && sqlite3_column_int(st, 1) == 103 &&
          sqlite3_column_int(st, 2) == 33);
    sqlite3_finalize(st);
    CHECK(sqlite3_prepare_v2(h, "SELECT count(*) FROM calibration WHERE profile = 'myhost' AND phase = 'decode' "
                             "AND level IN (0.05, 0.1)", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 6);
    sqlite3_finalize(st);
    sqlite3_close(h);
    /* an existing profile (the shipped ones are tracked files) is replaced or updated only with --force */
    snprintf(cmd, sizeof cmd, "calibrate --model %s --out %s/h.json", dir, tmp);
    CHECK(test_run_cli(cmd, &out) == 2);
    CHECK_MSG(strstr(out, "exists") && strstr(out, "--force to replace"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "calibrate --model %s --out %s/h.json --tlm-only", dir, tmp);
    CHECK(test_run_cli(cmd, &out) == 2);
    CHECK_MSG(strstr(out, "--force to update"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "calibrate --model %s --out %s/h2.json --idle-ms -1", dir, tmp);
    CHECK(test_run_cli(cmd, &out) == 2);
    CHECK_MSG(strstr(out, "--idle-ms expects a number in [0, 10000]"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "calibrate --model %s/none --out %s/h.json --force", tmp, tmp); /* past the guard */
    CHECK(test_run_cli(cmd, &out) == 1);
    free(out);
    snprintf(cmd, sizeof cmd, "calibrate --model %s/none --out %s/new.json", tmp, tmp);
    CHECK(test_run_cli(cmd, &out) == 1);
    free(out);
    snprintf(cmd, sizeof cmd, "calibrate --model %s --lengths 8,9999 --out %s/new.json", dir, tmp);
    CHECK(test_run_cli(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "outside the model context"), "%s", out);
    free(out);
}
