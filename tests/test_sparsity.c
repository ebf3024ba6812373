/* Tests of contextual sparsity (elastic/sparsity.h, elastic/sparsity_fit.h, policies/sparsity_select.h and the
 * dejavu policy): the predictor's forward against a naive loop, its BCE gradient against finite differences, the
 * top-k selection against a naive sort, the file round trip, quantiles against sorting, a deterministic fit that
 * beats chance, and the dejavu policy through the simulator against an independent selector. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "elastic/sparsity.h"
#include "elastic/sparsity_fit.h"
#include "engine/io.h"
#include "engine/score.h"
#include "policies/policy.h"
#include "policies/sparsity_select.h"
#include "sim/sim.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"
#include "tests/util.h"

static ModelConfig small_config(int dim, int ffn, int layers) {
    ModelConfig c = {.dim = dim, .n_layers = layers, .n_heads = 2, .n_kv_heads = 2, .head_dim = dim / 2,
                     .ffn_dim = ffn, .vocab_size = 16, .max_seq = 32, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                     .bos_id = -1, .eos_id = -1};
    return c;
}

/* naive_logits: z (ffn) of layer l for one input x (dim), in double, straight from the definition. */
static void naive_logits(const Sparsity *s, int l, const float *x, double *z) {
    const SparsityLayer *L = &s->layer[l];
    double h[512];
    for (int j = 0; j < s->rank; j++) {
        double a = L->b1[j];
        for (int k = 0; k < s->dim; k++) a += (double)L->w1[(size_t)j * s->dim + k] * x[k];
        h[j] = a > 0 ? a : 0;
    }
    for (int i = 0; i < s->ffn_dim; i++) {
        double a = L->b2[i];
        for (int j = 0; j < s->rank; j++) a += (double)L->w2[(size_t)i * s->rank + j] * h[j];
        z[i] = a;
    }
}

static void fill_uniform(float *x, size_t n, unsigned long seed) {
    unsigned long s = seed * 2862933555777941757UL + 3037000493UL;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005UL + 1442695040888963407UL;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

TEST(sparsity_forward_matches_a_naive_loop) {
    ModelConfig c = small_config(12, 20, 2);
    Sparsity s;
    Err e;
    CHECK(sparsity_alloc(&s, &c, 5, &e) == 0);
    sparsity_init(&s, 3);
    float x[4 * 12], h[4 * 5], z[4 * 20];
    fill_uniform(x, 4 * 12, 9);
    for (int l = 0; l < 2; l++) {
        sparsity_forward(&s, l, x, 4, h, z);
        for (int i = 0; i < 4; i++) {
            double ref[20];
            naive_logits(&s, l, x + i * 12, ref);
            for (int j = 0; j < 20; j++) CHECK_NEAR(z[i * 20 + j], ref[j], 1e-5);
        }
    }
    CHECK(sparsity_param_count(&c, 5) == 2 * (5 * 13 + 20 * 6));
    CHECK_NEAR(sparsity_fraction(&c, 5), 2.0 * (5 * 13 + 20 * 6) / model_layer_params(&c), 1e-15);
    sparsity_free(&s);
}

/* loss_of: the mean BCE of layer 0 of s on x (n, dim) against y. */
static double loss_of(const Sparsity *s, const float *x, const unsigned char *y, int n) {
    float h[64 * 8], z[64 * 16];
    sparsity_forward(s, 0, x, n, h, z);
    return sparsity_bce(z, y, n, s->ffn_dim, NULL);
}

TEST(sparsity_bce_gradient_matches_finite_differences) {
    ModelConfig c = small_config(6, 7, 1);
    Sparsity s, g;
    Err e;
    CHECK(sparsity_alloc(&s, &c, 4, &e) == 0 && sparsity_alloc(&g, &c, 4, &e) == 0);
    sparsity_init(&s, 5);
    for (size_t i = 0; i < s.n_params; i++) s.params[i] *= 2.0f; /* larger logits: a less trivial loss */
    int n = 5;
    float x[5 * 6], h[5 * 4], z[5 * 7], dh[5 * 4];
    unsigned char y[5 * 7];
    fill_uniform(x, 5 * 6, 11);
    for (int i = 0; i < n * 7; i++) y[i] = (unsigned char)((i * 7 + 3) % 5 < 2);
    sparsity_forward(&s, 0, x, n, h, z);
    double loss = sparsity_bce(z, y, n, 7, z); /* dz in place */
    CHECK_NEAR(loss, loss_of(&s, x, y, n), 1e-12);
    sparsity_backward(&s, &g, 0, x, h, z, n, dh);
    double worst = 0.0;
    for (size_t i = 0; i < s.n_params; i++) {
        float keep = s.params[i], eps = 1e-2f;
        s.params[i] = keep + eps;
        double up = loss_of(&s, x, y, n);
        s.params[i] = keep - eps;
        double down = loss_of(&s, x, y, n);
        s.params[i] = keep;
        double fd = (up - down) / (2.0 * eps), err = fabs(fd - g.params[i]) / (fabs(fd) + 1e-3);
        if (err > worst) worst = err;
    }
    CHECK_MSG(worst < 2e-2, "worst relative gradient error %.3g", worst);
    /* the float-only gradient of the training loop is the same */
    float dz[5 * 7];
    sparsity_forward(&s, 0, x, n, h, z);
    sparsity_bce_grad(z, y, n, 7, dz);
    for (int i = 0; i < n * 7; i++) {
        double p = 1.0 / (1.0 + exp(-(double)z[i]));
        CHECK_NEAR(dz[i], (p - y[i]) / (n * 7.0), 1e-7);
    }
    sparsity_free(&s);
    sparsity_free(&g);
}

/* naive_top: the k best of score by a full sort (score descending, NaN last, ties by index), ascending. */
static int cmp_rank(const void *a, const void *b, void *ctx) {
    const float *sc = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    float x = sc[i], y = sc[j];
    if (isnan(x) != isnan(y)) return isnan(x) ? 1 : -1;
    if (!isnan(x) && x != y) return x > y ? -1 : 1;
    return i - j;
}
static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
static void naive_top(const float *score, int n, int k, int *out) {
    int *all = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) all[i] = i;
    qsort_r(all, (size_t)n, sizeof(int), cmp_rank, (void *)score);
    memcpy(out, all, sizeof(int) * (size_t)k);
    qsort(out, (size_t)k, sizeof(int), cmp_int);
    free(all);
}

TEST(sparsity_selection_keeps_exactly_the_top_scored_neurons) {
    int n = 97, idx[97], ref[97], order[97];
    float score[97];
    for (int trial = 0; trial < 20; trial++) {
        fill_uniform(score, (size_t)n, 100 + (unsigned long)trial);
        for (int i = 0; i < n; i++)
            if (trial % 3 == 0) score[i] = roundf(score[i] * 4.0f); /* many ties */
        if (trial % 5 == 1) score[7] = NAN, score[50] = NAN;
        for (int k = 1; k <= n; k += (k < 5 ? 1 : 13)) {
            sparsity_top_k(score, n, k, idx, order);
            naive_top(score, n, k, ref);
            CHECK_MSG(!memcmp(idx, ref, sizeof(int) * (size_t)k), "trial %d k %d", trial, k);
        }
    }
    CHECK(sparsity_keep_count(0.5, 672) == 336 && sparsity_keep_count(0.0, 10) == 1);
    CHECK(sparsity_keep_count(2.0, 10) == 10 && sparsity_keep_count(NAN, 10) == 1);
    /* the engine's selector: the predictor's top k of the token, against the naive logits and sort */
    ModelConfig c = small_config(16, 40, 3);
    Sparsity s;
    Err e;
    CHECK(sparsity_alloc(&s, &c, 6, &e) == 0);
    sparsity_init(&s, 8);
    float x[16];
    for (int tok = 0; tok < 10; tok++) {
        fill_uniform(x, 16, 200 + (unsigned long)tok);
        SparsitySelect sel = {&s, 1 + 4 * tok};
        int got[40];
        int l = tok % 3;
        CHECK(sparsity_select(&sel, l, x, got, 40) == sel.k);
        float h[6], zf[40]; /* the forward is checked against the naive loop above; here the selection */
        sparsity_forward(&s, l, x, 1, h, zf);
        naive_top(zf, 40, sel.k, ref);
        CHECK_MSG(!memcmp(got, ref, sizeof(int) * (size_t)sel.k), "token %d: not the top %d", tok, sel.k);
        CHECK(sparsity_select(&sel, 3, x, got, 40) == -1 && sparsity_select(&sel, l, x, got, sel.k - 1) == -1);
    }
    sparsity_free(&s);
}

TEST(sparsity_predictors_round_trip_through_safetensors) {
    ModelConfig c = small_config(8, 12, 2);
    Sparsity s, r;
    Err e;
    CHECK(sparsity_alloc(&s, &c, 3, &e) == 0);
    sparsity_init(&s, 4);
    const char *path = test_path("pred.safetensors");
    CHECK_MSG(sparsity_save(&s, path, &e) == 0, "%s", e.msg);
    CHECK_MSG(sparsity_load(&r, &c, path, &e) == 0, "%s", e.msg);
    CHECK(r.rank == 3 && r.n_params == s.n_params && !memcmp(r.params, s.params, sizeof(float) * s.n_params));
    CHECK(!strcmp(r.hash, s.hash) && strlen(s.hash) == 16);
    sparsity_free(&r);
    ModelConfig other = c;
    other.ffn_dim = 13;
    CHECK(sparsity_load(&r, &other, path, &e) == -1 && strstr(e.msg, "ffn_dim") && strstr(e.msg, path));
    s.params[5] = NAN;
    CHECK(sparsity_save(&s, path, &e) == 0);
    CHECK(sparsity_load(&r, &c, path, &e) == -1 && strstr(e.msg, "not finite"));
    s.params[5] = 1.0f;
    sparsity_rehash(&s);
    char before[17];
    memcpy(before, s.hash, 17);
    s.params[6] += 1.0f;
    sparsity_rehash(&s);
    CHECK(strcmp(before, s.hash) != 0);
    sparsity_free(&s);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

TEST(sparsity_quantile_matches_sorting) {
    float a[301], b[301];
    for (int trial = 0; trial < 12; trial++) {
        int n = trial == 0 ? 1 : 37 + trial * 22;
        fill_uniform(a, (size_t)n, 500 + (unsigned long)trial);
        for (int i = 0; i < n; i++)
            if (trial % 2) a[i] = roundf(a[i] * 3.0f);
        memcpy(b, a, sizeof(float) * (size_t)n);
        qsort(b, (size_t)n, sizeof(float), cmp_float);
        for (double share = 0.0; share <= 1.0; share += 0.125) {
            float c[301];
            memcpy(c, a, sizeof(float) * (size_t)n);
            int k = (int)floor(share * n);
            if (k > n - 1) k = n - 1;
            CHECK_MSG(sparsity_quantile(c, (size_t)n, share) == b[k], "n %d share %g", n, share);
        }
    }
}

/* ---- the dejavu policy through the simulator ---- */

/* write_artefacts: what `elms prepare dejavu` leaves in MODEL/policies/dejavu, with untrained (seeded) predictors:
 * the decisions and the engine's use of the selector do not depend on how good they are. */
static void write_artefacts(TestCtx *t, const SimFixture *f, Sparsity *s) {
    char dir[800], path[900], text[256];
    Err e;
    snprintf(dir, sizeof dir, "%s/policies/dejavu", f->model_dir);
    CHECK(io_mkdirs(dir, &e) == 0);
    CHECK(sparsity_alloc(s, &f->model.cfg, 4, &e) == 0);
    sparsity_init(s, 17);
    snprintf(path, sizeof path, "%s/predictors.safetensors", dir);
    CHECK_MSG(sparsity_save(s, path, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/sparsity.json", dir);
    snprintf(text, sizeof text, "{\"format\": \"elms-sparsity-1\", \"predictor_hash\": \"%s\"}", s->hash);
    CHECK(io_write_atomic(path, text, strlen(text), &e) == 0);
    snprintf(path, sizeof path, "%s/prepare.json", dir);
    snprintf(text, sizeof text, "{\"format\": \"elms-policy-1\", \"model_hash\": \"%s\"}", f->model.hash);
    CHECK(io_write_atomic(path, text, strlen(text), &e) == 0);
}

typedef struct Records {
    DbRequest *rec;
    long n;
} Records;

static void on_record(void *ctx, const DbRequest *r) {
    Records *R = ctx;
    R->rec[r->request] = *r;
    R->n++;
}

/* The independent selector: the predictor's logits (checked against the naive loop above), a full sort. */
typedef struct NaiveSel {
    const Sparsity *s;
    int k;
} NaiveSel;

static int naive_select(void *ctx, int layer, const float *x, int *idx, int cap) {
    const NaiveSel *c = ctx;
    float h[16], z[512];
    if (c->s->rank > 16 || c->s->ffn_dim > 512 || cap < c->k) return -1;
    sparsity_forward(c->s, layer, x, 1, h, z);
    naive_top(z, c->s->ffn_dim, c->k, idx);
    return c->k;
}

TEST(dejavu_through_the_simulator_keeps_the_largest_feasible_fraction) {
    SimFixture f;
    fixture_init(&f, "normalized", 10, 3, NULL);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/dejavu-sim", test_tmpdir());
    fixture_write(&f, dir, 10, 3);
    Sparsity s;
    write_artefacts(t, &f, &s);
    Trace tr;
    fixture_trace(&tr, 10, 30, 0.0, ARRIVAL_SEQUENTIAL, 1, 7);
    const double tpot[] = {1.0, 0.97, 0.93, 0.9, 0.8, 0.1};
    for (long i = 0; i < tr.n; i++) { /* TTFT loose, TPOT binding: several fractions, and one infeasible SLO */
        tr.req[i].slo_ttft = 1.0;
        tr.req[i].slo_tpot = tpot[i % 6];
    }
    Policy p;
    Err e;
    PolicyEnv env = {.base = &f.model, .model_dir = f.model_dir, .tok = &f.tok, .compressor = "none", .seed = 42,
                     .hooks = sim_hooks(&f.ctx)};
    CHECK(policy_create(&p, "dejavu", &e) == 0);
    CHECK_MSG(policy_prepare(&p, &env, &e) == 0, "%s", e.msg);
    PolicyMemory mem;
    p.memory(&p, &mem);
    CHECK_NEAR(mem.params, (double)f.model.n_params + (double)s.n_params, 0.5);
    Records R = {calloc((size_t)tr.n, sizeof(DbRequest)), 0};
    SimOptions o = {.sched = SCHED_FCFS, .on_record = on_record, .hook_ctx = &R};
    SimSummary sum;
    CHECK_MSG(sim_run(&f.ctx, &p, &tr, &o, NULL, 0, &sum, &e) == 0, "%s", e.msg);
    CHECK(R.n == tr.n);
    int F = f.model.cfg.ffn_dim, kinds[3] = {0};
    double extra = sparsity_fraction(&f.model.cfg, s.rank);
    for (long i = 0; i < tr.n; i++) {
        const DbRequest *r = &R.rec[i];
        /* brute force under the paper's accounting (normalized): TTFT and TPOT fractions = the layer parameters
         * read (attention whole, k neurons of every FFN) plus the predictors'; k from the TPOT SLO down */
        int k0 = sparsity_keep_count(tr.req[i].slo_tpot < 1 ? tr.req[i].slo_tpot : 1.0, F), want = 1;
        for (int k = k0; k >= 1; k--) {
            ElasticView v;
            view_full(&f.model, &v);
            for (int l = 0; l < f.model.cfg.n_layers; l++) v.layer[l].ffn_units = k;
            double lin = view_param_fraction(&f.model, &v) + (k < F ? extra : 0.0);
            if (lin <= tr.req[i].slo_tpot + 1e-9 && lin <= tr.req[i].slo_ttft + 1e-9) {
                want = k;
                break;
            }
        }
        CHECK_MSG(fabs(r->level - (double)want / F) < 1e-12, "request %ld: level %g, expected %d/%d", i, r->level, want,
                  F);
        kinds[want == F ? 0 : want == 1 ? 2 : 1]++;
        /* the engine's answer under the independent selector */
        const StoreEntry *x;
        CHECK(itemstore_get(&f.items, trace_app(&tr, &tr.req[i]), trace_item(&tr, &tr.req[i]), &x, &e) == 0);
        ElasticView v;
        view_full(&f.model, &v);
        NaiveSel ns = {&s, want};
        if (want < F) v.ffn_select = naive_select, v.ffn_select_ctx = &ns;
        int prompt[512];
        int n = item_prompt(&x->enc, NULL, f.ctx.ev.bos_id, prompt);
        ScoreResult sr;
        CHECK(score_choices(&f.model, &v, prompt, n, (const int *const *)x->enc.choices, x->enc.choice_len,
                            x->enc.n_choices, &sr, &e) == 0);
        CHECK_MSG(r->choice == sr.best, "request %ld: the simulator chose %d, the engine %d", i, r->choice, sr.best);
        score_result_free(&sr);
    }
    CHECK_MSG(kinds[0] && kinds[1] && kinds[2], "dense %d, sparse %d, infeasible %d", kinds[0], kinds[1], kinds[2]);
    free(R.rec);
    policy_destroy(&p);
    sparsity_free(&s);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(sparsity_rank_choice_keeps_the_most_activation_at_equal_cost) {
    ModelConfig c = small_config(16, 48, 2);
    double ffn = 2.0 * 3 * 16 * 48 / model_layer_params(&c); /* the FFN's share of the layer parameters */
    SparsityFit f[3];
    memset(f, 0, sizeof f);
    for (int i = 0; i < 3; i++) {
        f[i].rank = 4 << (2 * i);
        f[i].cost = 0.01 * (1 << (2 * i)); /* 0.01, 0.04, 0.16 */
        f[i].n_fracs = 2;
        f[i].fracs[0] = 0.25;
        f[i].fracs[1] = 0.5;
        f[i].mean_mass[0] = 0.4 + 0.05 * i;
        f[i].mean_mass[1] = 0.7 + 0.05 * i;
    }
    CHECK_NEAR(sparsity_mass_at(&f[0], 0.125), 0.2, 1e-12); /* from (0, 0) to (0.25, 0.4) */
    CHECK_NEAR(sparsity_mass_at(&f[0], 0.375), 0.55, 1e-12);
    CHECK_NEAR(sparsity_mass_at(&f[0], 0.75), 0.85, 1e-12); /* from (0.5, 0.7) to (1, 1) */
    CHECK_NEAR(sparsity_mass_at(&f[0], 1.0), 1.0, 1e-12);
    double budget = 0.8;
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(sparsity_affordable(&c, f[i].cost, budget), (budget - (1 - ffn) - f[i].cost) / ffn, 1e-12);
    int best = 0;
    for (int i = 1; i < 3; i++)
        if (sparsity_mass_at(&f[i], sparsity_affordable(&c, f[i].cost, budget)) >
            sparsity_mass_at(&f[best], sparsity_affordable(&c, f[best].cost, budget)))
            best = i;
    CHECK(sparsity_choose_rank(f, 3, &c, budget) == best);
    CHECK(sparsity_affordable(&c, 0.0, 0.0) == 0.0 && sparsity_affordable(&c, 0.0, 2.0) == 1.0);
    f[0].cost = f[1].cost = 0.0; /* equal mass at equal cost: the smaller rank */
    f[1].mean_mass[0] = f[0].mean_mass[0];
    f[1].mean_mass[1] = f[0].mean_mass[1];
    CHECK(sparsity_choose_rank(f, 2, &c, budget) == 0);
}
