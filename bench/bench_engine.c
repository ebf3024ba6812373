/* bench_engine: engine throughput per elastic level (uniform prefix widths in every layer), load time, view-switch
 * time and peak memory, next to this machine's limits measured in the same run (sgemm, sgemv, read bandwidth). */
#include "base/clock.h"
#include "base/fileutil.h"
#include "bench/bench.h"
#include "engine/gemm.h"
#include "engine/gemv.h"
#include "engine/io.h"
#include "engine/model.h"
#include "engine/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PREFILL_TOKENS 256
#define DECODE_TOKENS 128

#define SAMPLES 5 /* every figure is the median of this many timed samples */

/* GFLOP/s of out (n, m) = x (n, k) . w^T, the product shape of a prefill, by BLAS sgemm (own = 0) or the engine's
 * AVX-512 gemm (own = 1; 0 without AVX-512): median of SAMPLES samples of at least 0.1 s each. */
static double sgemm_rate(int n, int k, int m, int own) {
    if (own && !gemm_available()) return 0;
    float *x = calloc((size_t)n * k, sizeof(float)), *w = calloc((size_t)m * k, sizeof(float));
    float *o = calloc((size_t)n * m, sizeof(float));
    for (size_t i = 0; i < (size_t)n * k; i++) x[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)m * k; i++) w[i] = (float)(i % 5) * 0.1f;
    double flops = 2.0 * n * k * m, r[SAMPLES];
    for (int s = -1; s < SAMPLES; s++) { /* sample -1 warms up */
        double t0 = clock_wall_s(), t;
        int reps = 0;
        do {
            if (own) gemm_nt(o, m, x, k, w, ST_F32, k, n, k, m, 0);
            else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x, k, w, k, 0.0f, o, m);
            reps++;
        } while ((t = clock_wall_s() - t0) < 0.1);
        if (s >= 0) r[s] = flops * reps / t / 1e9;
    }
    free(x), free(w), free(o);
    return bench_median(r, SAMPLES);
}

/* sgemv weight bandwidth in GB/s: y (rows) = W (rows, cols) x, W of rows x cols floats streamed once per call (the
 * access of a decode step), median of SAMPLES samples. */
static double sgemv_rate(int rows, int cols) {
    float *w = malloc(sizeof(float) * (size_t)rows * cols), *x = malloc(sizeof(float) * (size_t)cols);
    float *y = malloc(sizeof(float) * (size_t)rows);
    for (size_t i = 0; i < (size_t)rows * cols; i++) w[i] = (float)(i % 9) * 0.01f;
    for (int i = 0; i < cols; i++) x[i] = 0.5f;
    double r[SAMPLES];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, w, cols, x, 1, 0.0f, y, 1);
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = clock_wall_s(), t;
        int reps = 0;
        do {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, w, cols, x, 1, 0.0f, y, 1);
            reps++;
        } while ((t = clock_wall_s() - t0) < 0.1);
        r[s] = (double)rows * cols * sizeof(float) * reps / t / 1e9;
    }
    free(w), free(x), free(y);
    return bench_median(r, SAMPLES);
}

/* Vectorised read bandwidth in GB/s over a 256 MB buffer (far beyond the caches): median of SAMPLES passes of
 * bench_read_gbs. */
static double read_bandwidth(void) {
    size_t n = (size_t)64 << 20; /* floats */
    float *b = aligned_alloc(64, n * sizeof(float));
    if (!b) return NAN;
    for (size_t i = 0; i < n; i++) b[i] = (float)(i & 15);
    double r[SAMPLES];
    for (int s = 0; s < SAMPLES; s++) r[s] = bench_read_gbs(b, n);
    free(b);
    return bench_median(r, SAMPLES);
}

/* The machine's limits the figures are judged against, measured in the same run. */
typedef struct Limits {
    double sgemm;       /* best matrix-product GFLOP/s (OpenBLAS sgemm or the engine gemm) over the shapes tried */
    double sgemv;       /* sgemv weight GB/s, 64 MB matrix */
    double bandwidth;   /* vectorised read GB/s, 256 MB buffer */
} Limits;

/* One row of a model's table, kept for the summary against the limits measured again at the end of the run. */
typedef struct BenchRow {
    char model[64], weights[16];
    double level, prefill_gflops, decode_gbs;
} BenchRow;

#define MAX_ROWS 64
static BenchRow g_rows[MAX_ROWS];
static int g_n_rows;

/* FLOPs of a prefill of n tokens under v (matrix products and attention scores). */
static double prefill_flops(const Model *m, const ElasticView *v, int n) {
    const ModelConfig *c = &m->cfg;
    double layer_params = view_param_fraction(m, v) * (double)(model_param_count(c) - (size_t)c->vocab_size * c->dim *
                                                                                      (c->tied ? 1 : 2) - c->dim);
    double attn = 0;
    for (int l = 0; l < c->n_layers; l++)
        attn += 2.0 * 2.0 * v->layer[l].attn_units * (c->n_heads / c->n_kv_heads) * c->head_dim * (double)n * n / 2;
    return 2.0 * n * layer_params + attn + 2.0 * c->vocab_size * c->dim; /* logits of the last position only */
}

/* head_cost: what the output head (vocab_size, dim), which no level shrinks (a level is a sub-model of the same
 * vocabulary), costs a decode step: its product alone on one position (median of SAMPLES samples of at least 0.05
 * s), against the decode steps of levels 1.0 and 0.5 (ms, measured by the caller) and the bound their weight bytes
 * put on level 0.5's speed-up (byte_ratio: bytes read per step at 1.0 over those at 0.5). */
static void head_cost(const Model *m, double step10_ms, double step05_ms, double byte_ratio) {
    const ModelConfig *c = &m->cfg;
    StDtype t = m->packed ? m->packed->type : ST_F32;
    const void *w = m->packed ? m->packed->lm_head : (const void *)m->w.lm_head;
    float *x = malloc(sizeof(float) * (size_t)c->dim), *y = malloc(sizeof(float) * (size_t)c->vocab_size);
    for (int i = 0; i < c->dim; i++) x[i] = 0.01f * (float)(i % 7);
    double r[SAMPLES];
    for (int s = -1; s < SAMPLES; s++) { /* sample -1 warms up */
        double t0 = clock_wall_s(), el;
        int reps = 0;
        do {
            matmul_nt_typed(y, x, w, t, 1, c->dim, c->vocab_size, c->dim, 0, NULL, 0);
            reps++;
        } while ((el = clock_wall_s() - t0) < 0.05);
        if (s >= 0) r[s] = 1e3 * el / reps;
    }
    double h = bench_median(r, SAMPLES), mb = (double)c->vocab_size * c->dim * st_dtype_size(t) / 1e6;
    printf("output head (%d x %d, %.1f MB as held; no level shrinks it): %.3f ms a decode step alone (%.1f GB/s), "
           "%.0f%% of a level-1.0 step, %.0f%% of a level-0.5 step; level 0.5 decodes %.2fx faster than 1.0, %.2fx "
           "without the head; weight bytes read per step, 1.0 over 0.5: %.2fx (caches can beat it)\n",
           c->vocab_size, c->dim, mb, h, mb / h, 100 * h / step10_ms, 100 * h / step05_ms, step10_ms / step05_ms,
           step05_ms > h ? (step10_ms - h) / (step05_ms - h) : NAN, byte_ratio);
    free(x), free(y);
}

/* anon_huge_kb: the process's anonymous memory on transparent huge pages, KiB (AnonHugePages of
 * /proc/self/smaps_rollup; -1 when it cannot be read) */
static long anon_huge_kb(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

/* weights_copy: h = m with its weights copied to a fresh buffer from model_weights_alloc (returned; free it), on
 * transparent huge pages (huge) or, the advice reversed before the first touch, on 4 KiB pages */
static float *weights_copy(const Model *m, Model *h, int huge) {
    size_t bytes = m->n_params * sizeof(float);
    float *b = model_weights_alloc(bytes);
    if (!b) return NULL;
    if (!huge) madvise(b, bytes, MADV_NOHUGEPAGE);
    memcpy(b, m->params, bytes);
    *h = *m;
    h->params = b;
    model_carve(&h->cfg, b, &h->w);
    return b;
}

/* uniform_view: v = the uniform view of a level: that fraction of every layer's KV groups and FFN neurons (rounded,
 * at least one) */
static void uniform_view(const Model *m, double level, ElasticView *v) {
    int a = (int)lround(level * m->cfg.n_kv_heads), f = (int)lround(level * m->cfg.ffn_dim);
    view_uniform(m, a < 1 ? 1 : a, f < 1 ? 1 : f, v);
}

/* step_times: *pre_ms, a prefill of n tokens of tok, and *dec_ms, the median of DECODE_TOKENS decode steps after
 * it, under the uniform level, in the kept cache kv (kvcache_prepare: nothing allocated or first touched inside
 * the timing); NAN on an engine failure */
static void step_times(const Model *m, KVCache *kv, double level, const int *tok, int n, double *pre_ms,
                       double *dec_ms) {
    ElasticView v;
    uniform_view(m, level, &v);
    Err e;
    float *logits = malloc(sizeof(float) * (size_t)m->cfg.vocab_size);
    double st[DECODE_TOKENS];
    *pre_ms = *dec_ms = NAN;
    if (!logits || kvcache_reset(kv, m, &v, n + DECODE_TOKENS, &e)) {
        free(logits);
        return;
    }
    double t0 = clock_wall_s();
    int rc = model_prefill(m, &v, kv, tok, n, NULL, logits, &e);
    if (!rc) *pre_ms = 1e3 * (clock_wall_s() - t0);
    for (int i = 0; !rc && i < DECODE_TOKENS; i++) {
        t0 = clock_wall_s();
        rc = model_decode(m, &v, kv, tok[n + i], logits, &e);
        st[i] = 1e3 * (clock_wall_s() - t0);
    }
    if (!rc) *dec_ms = bench_median(st, DECODE_TOKENS);
    free(logits);
}

/* huge_pages: whether transparent huge pages help the plain model's weights: two copies, one advised onto 2 MiB
 * pages and one kept on 4 KiB pages, served in alternation (each lies untouched while the other runs its prefill
 * and DECODE_TOKENS decode steps, as models or views served in turn do): prefill and decode at levels 1.0 and 0.5,
 * SAMPLES rounds, medians (the machine's THP mode decides whether the advice takes effect: the megabytes of huge
 * pages the first copy got are printed) */
static void huge_pages(const Model *m, const int *tok, int n) {
    Model hm, sm;
    long kb0 = anon_huge_kb();
    float *hb = weights_copy(m, &hm, 1);
    long kb1 = anon_huge_kb();
    float *sb = weights_copy(m, &sm, 0);
    if (!hb || !sb) {
        bench_fail("huge pages: out of memory");
        free(hb), free(sb);
        return;
    }
    char mode[32] = "unknown", line[128];
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f && fgets(line, sizeof line, f)) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (a && b && b - a - 1 < (long)sizeof mode) snprintf(mode, sizeof mode, "%.*s", (int)(b - a - 1), a + 1);
    }
    if (f) fclose(f);
    printf("huge pages (transparent, mode %s; the copy's %.1f MB on %.0f MiB of them): ", mode,
           m->n_params * 4.0 / 1e6, kb0 >= 0 && kb1 >= 0 ? (double)(kb1 - kb0) / 1024 : NAN);
    const double levels[2] = {1.0, 0.5};
    KVCache kv = {0};
    Err e;
    if (kvcache_prepare(&kv, m, &e)) {
        bench_fail("%s", e.msg);
        free(hb), free(sb);
        return;
    }
    const Model *copy[2] = {&sm, &hm}; /* 4 KiB, 2 MiB */
    for (int l = 0; l < 2; l++) {
        double pre[2][SAMPLES], dec[2][SAMPLES];
        for (int s = 0; s < SAMPLES; s++)
            for (int j = 0; j < 2; j++) { /* the copy that runs first alternates */
                int k = j ^ (s & 1);
                step_times(copy[k], &kv, levels[l], tok, n, &pre[k][s], &dec[k][s]);
            }
        double p4 = bench_median(pre[0], SAMPLES), p2 = bench_median(pre[1], SAMPLES),
               d4 = bench_median(dec[0], SAMPLES), d2 = bench_median(dec[1], SAMPLES);
        printf("%slevel %.1f prefill %.2f / %.2f ms (x%.3f), decode step %.3f / %.3f ms (x%.3f)", l ? "; " : "",
               levels[l], p4, p2, p4 / p2, d4, d2, d4 / d2);
    }
    printf(" (4 KiB / 2 MiB pages, x = speed on huge pages)\n");
    kvcache_free(&kv);
    free(hb);
    free(sb);
}

/* bench_model: prefill and decode at levels 1.0, 0.8, 0.5 and 0.2, against the limits */
static void bench_model(const char *name, const Model *m, const Limits *lim) {
    const ModelConfig *c = &m->cfg;
    double es = m->packed ? (double)st_dtype_size(m->packed->type) : 4.0; /* bytes per weight as held */
    int n = PREFILL_TOKENS < c->max_seq ? PREFILL_TOKENS : c->max_seq / 2;
    int *tok = malloc(sizeof(int) * (size_t)(n + DECODE_TOKENS));
    for (int i = 0; i < n + DECODE_TOKENS; i++) tok[i] = (i * 37 + 11) % c->vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    Err e;
    printf("\n%s, weights %s: %d layers, dim %d, %d heads (%d KV), ffn %d, vocab %d, %.2fM parameters\n", name,
           m->packed ? st_dtype_name(m->packed->type) : "F32 plain", c->n_layers, c->dim, c->n_heads, c->n_kv_heads,
           c->ffn_dim, c->vocab_size, (double)model_param_count(c) / 1e6);
    printf("%-6s %-8s %13s %9s %8s %12s %11s %8s\n", "level", "params", "prefill tok/s", "GFLOP/s", "of sgemm",
           "decode tok/s", "weight GB/s", "of read");
    const int levels[] = {10, 8, 5, 2};
    double step_ms[4], bytes_at[4]; /* decode step (ms) and weight bytes read per step, per level */
    for (int lx = 0; lx < 4; lx++) {
        double level = levels[lx] / 10.0;
        ElasticView v;
        uniform_view(m, level, &v);
        KVCache kv;
        if (kvcache_init(&kv, m, &v, n + DECODE_TOKENS, &e)) {
            bench_fail("error: %s", e.msg);
            return;
        }
        /* prefill of n tokens and DECODE_TOKENS decode steps after it: SAMPLES samples of each, medians */
        double pt[SAMPLES], dt[SAMPLES];
        kvcache_truncate(&kv, 0);
        model_prefill(m, &v, &kv, tok, n, NULL, logits, &e); /* warm */
        for (int s = 0; s < SAMPLES; s++) {
            kvcache_truncate(&kv, 0);
            double t0 = clock_wall_s();
            model_prefill(m, &v, &kv, tok, n, NULL, logits, &e);
            pt[s] = clock_wall_s() - t0;
            t0 = clock_wall_s();
            for (int i = 0; i < DECODE_TOKENS; i++) model_decode(m, &v, &kv, tok[n + i], logits, &e);
            dt[s] = clock_wall_s() - t0;
        }
        double tp = bench_median(pt, SAMPLES), td = bench_median(dt, SAMPLES);
        double prefill_tps = n / tp, gflops = prefill_flops(m, &v, n) / tp / 1e9;
        double decode_tps = DECODE_TOKENS / td;
        double frac = view_param_fraction(m, &v);
        size_t emb = (size_t)c->vocab_size * c->dim;
        double layer_bytes = frac * (double)(model_param_count(c) - emb * (c->tied ? 1 : 2) - c->dim) * es;
        /* + LM head; the KV cache's reads are not counted (at the 256-384 positions decoded here: about a third
         * of the weight bytes on models/base held F16, a tenth on the 110M shape) */
        double bytes = layer_bytes + emb * es;
        double gbs = bytes * decode_tps / 1e9;
        step_ms[lx] = 1e3 / decode_tps, bytes_at[lx] = bytes;
        printf("%-6.1f %-8.3f %13.0f %9.1f %7.0f%% %12.0f %11.1f %7.0f%%\n", level, frac, prefill_tps, gflops,
               100 * gflops / lim->sgemm, decode_tps, gbs, 100 * gbs / lim->bandwidth);
        if (g_n_rows < MAX_ROWS) {
            BenchRow *r = &g_rows[g_n_rows++];
            snprintf(r->model, sizeof r->model, "%s", name);
            snprintf(r->weights, sizeof r->weights, "%s", m->packed ? st_dtype_name(m->packed->type) : "F32 plain");
            r->level = level, r->prefill_gflops = gflops, r->decode_gbs = gbs;
        }
        kvcache_free(&kv);
    }
    head_cost(m, step_ms[0], step_ms[2], bytes_at[0] / bytes_at[2]);
    if (!m->packed) huge_pages(m, tok, n);
    /* view switch: rebuild a view (integers) and swap the adapter pointer, as the service does between requests */
    ElasticView v;
    Lora dummy = {.rank = 8, .alpha = 16, .n_layers = c->n_layers};
    long iters = 2000000;
    double t0 = clock_wall_s();
    for (long i = 0; i < iters; i++) {
        int a = (int)(1 + i % c->n_kv_heads), f = (int)(1 + i % c->ffn_dim);
        view_uniform(m, a, f, &v);
        v.lora = (i & 1) ? &dummy : NULL;
        if (view_check(m, &v, &e)) break;
    }
    double sw = (clock_wall_s() - t0) / iters;
    printf("view switch (new widths + adapter pointer + validation): %.3f us; weights copied: 0 bytes\n", sw * 1e6);
    printf("peak RSS so far: %.1f MB (weights as held %.1f MB)\n", bench_peak_rss_mb(),
           (double)model_param_count(c) * es / 1e6);
    free(tok);
    free(logits);
}

/* bench_load: load dir plain (model_load) or packed in the file's type, printing wall and CPU time */
static int bench_load(const char *name, const char *dir, int packed, Model *m) {
    Err e;
    double t0 = clock_wall_s(), c0 = clock_cpu_s();
    if (packed ? model_load_packed(m, dir, -1, &e) : model_load(m, dir, &e)) {
        bench_fail("\n%s: %s", name, e.msg);
        return -1;
    }
    printf("\n%s: loaded %s in %.1f ms wall, %.1f ms CPU", name, packed ? "packed (in place)" : "plain",
           1e3 * (clock_wall_s() - t0), 1e3 * (clock_cpu_s() - c0));
    return 0;
}

/* bench_dir: the model of dir loaded plain (F32 in the training layout, as the experiments run) and packed in the
 * type its file stores (read in place) */
static void bench_dir(const char *name, const char *dir, const Limits *lim) {
    if (!path_is_dir(dir)) {
        printf("\n%s: skipped (%s not present)\n", name, dir);
        return;
    }
    for (int packed = 0; packed < 2; packed++) {
        Model m;
        if (bench_load(name, dir, packed, &m)) return;
        bench_model(name, &m, lim);
        model_free(&m);
    }
}

/* bench_random: a seeded random model of shape c, written as F16 to a temporary directory and benchmarked as
 * bench_dir does */
static void bench_random(const char *name, ModelConfig c, const Limits *lim) {
    Model m;
    Err e;
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/elms-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("\n%s: cannot create a temporary directory\n", name);
        return;
    }
    char sub[600];
    snprintf(sub, sizeof sub, "%s/model", dir);
    if (model_alloc(&m, &c, &e)) {
        bench_fail("\n%s: %s", name, e.msg);
        rmdir(dir);
        return;
    }
    model_init_random(&m, 1);
    int rc = model_save(&m, sub, ST_F16, &e);
    model_free(&m);
    if (rc) bench_fail("\n%s: %s", name, e.msg);
    else bench_dir(name, sub, lim);
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", sub);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

/* fused_time: microseconds (median of SAMPLES) of the q, k, v and gate, up products of one layer of width d and
 * FFN f over F16 weights stored back to back, as five products (fused = 0) or two over the concatenated rows
 * (fused = 1), for n tokens (1: gemv, decode; more: gemm, prefill) */
static double fused_time(int d, int f, int n, int fused) {
    size_t nq = (size_t)3 * d * d, nf = (size_t)2 * f * d;
    uint16_t *w = malloc((nq + nf) * sizeof *w);
    float *x = malloc(sizeof(float) * (size_t)n * d), *y = malloc(sizeof(float) * (size_t)n * (3 * d + 2 * f));
    for (size_t i = 0; i < nq + nf; i++) w[i] = f32_to_f16(0.01f * (float)(i % 13));
    for (size_t i = 0; i < (size_t)n * d; i++) x[i] = 0.5f;
    double r[SAMPLES];
    for (int s = -1; s < SAMPLES; s++) {
        double t0 = clock_wall_s(), t;
        int reps = 0;
        do {
            if (fused) {
                matmul_nt_typed(y, x, w, ST_F16, n, d, 3 * d, d, 0, NULL, 0);
                matmul_nt_typed(y, x, w + nq, ST_F16, n, d, 2 * f, d, 0, NULL, 0);
            } else {
                for (int i = 0; i < 3; i++) matmul_nt_typed(y, x, w + (size_t)i * d * d, ST_F16, n, d, d, d, 0, NULL, 0);
                for (int i = 0; i < 2; i++)
                    matmul_nt_typed(y, x, w + nq + (size_t)i * f * d, ST_F16, n, d, f, d, 0, NULL, 0);
            }
            reps++;
        } while ((t = clock_wall_s() - t0) < 0.05);
        if (s >= 0) r[s] = t / reps * 1e6;
    }
    free(w), free(x), free(y);
    return bench_median(r, SAMPLES);
}

/* limits_measure: the best matrix product over a prefill's shapes (256 tokens against the base's and the 110M
 * shape's matrices, and a square one; OpenBLAS and the engine's gemm), sgemv and the read bandwidth, printed */
static void limits_measure(Limits *lim) {
    int shapes[][3] = {{256, 256, 768}, {256, 768, 2048}, {256, 2048, 768}, {1024, 1024, 1024}};
    lim->sgemm = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double r = sgemm_rate(shapes[i][0], shapes[i][1], shapes[i][2], 0);
        double g = sgemm_rate(shapes[i][0], shapes[i][1], shapes[i][2], 1);
        printf("(%d x %d) . (%d x %d)^T: OpenBLAS sgemm %.1f GFLOP/s, engine gemm %.1f GFLOP/s\n", shapes[i][0],
               shapes[i][1], shapes[i][2], shapes[i][1], r, g);
        if (r > lim->sgemm) lim->sgemm = r;
        if (g > lim->sgemm) lim->sgemm = g;
    }
    lim->sgemv = sgemv_rate(4096, 4096);
    /* the bandwidth buffer is measured here and freed, so it counts in the peak memory figures below: read them as
     * "at least" and compare models by their own weights */
    lim->bandwidth = read_bandwidth();
    printf("limits of this machine: best matrix product %.1f GFLOP/s; sgemv (4096 x 4096) %.1f GB/s of weights; vectorised "
           "read %.1f GB/s (256 MB)\n", lim->sgemm, lim->sgemv, lim->bandwidth);
}

/* summary: every model row against the better of the two measurements of each limit (start and end of the run),
 * so that a slow phase while the limits were first measured cannot flatter a figure */
static void summary(const Limits *a, const Limits *b) {
    double sg = fmax(a->sgemm, b->sgemm), bw = fmax(a->bandwidth, b->bandwidth);
    printf("\nsummary against the better of the two measurements of each limit (best matrix product %.1f GFLOP/s, "
           "read %.1f GB/s):\n", sg, bw);
    printf("%-30s %-10s %-6s %9s %8s %11s %8s\n", "model", "weights", "level", "GFLOP/s", "of sgemm", "weight GB/s",
           "of read");
    for (int i = 0; i < g_n_rows; i++) {
        const BenchRow *r = &g_rows[i];
        printf("%-30s %-10s %-6.1f %9.1f %7.0f%% %11.1f %7.0f%%\n", r->model, r->weights, r->level, r->prefill_gflops,
               100 * r->prefill_gflops / sg, r->decode_gbs, 100 * r->decode_gbs / bw);
    }
}

void bench_engine(void) {
    printf("OpenBLAS threads: %d; every figure is the median of %d samples\n", openblas_get_num_threads(), SAMPLES);
    Limits lim;
    limits_measure(&lim);
    printf("columns: 'of sgemm' = prefill GFLOP/s over the best matrix product above; 'of read' = decode weight GB/s over the "
           "read bandwidth (a level whose weights fit in the caches can exceed it); the limits are measured again at "
           "the end, and the summary there judges every row against the better of the two\n");
    printf("decode kernels: %s\n", gemv_isa_name(gemv_isa()));
    bench_dir("models/base (shipped)", "models/base", &lim);
    ModelConfig s15 = {.dim = 288, .n_layers = 6, .n_heads = 6, .n_kv_heads = 6, .head_dim = 48, .ffn_dim = 768,
                       .vocab_size = 32000, .max_seq = 512, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                       .tied = true, .bos_id = -1, .eos_id = -1};
    bench_random("15M shape (random weights)", s15, &lim);
    ModelConfig s110 = {.dim = 768, .n_layers = 12, .n_heads = 12, .n_kv_heads = 12, .head_dim = 64, .ffn_dim = 2048,
                        .vocab_size = 32000, .max_seq = 512, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                        .tied = true, .bos_id = -1, .eos_id = -1};
    bench_random("110M shape (random weights)", s110, &lim);
    bench_dir("stories260K", "../shared/models/stories260K", &lim);
    if (gemm_available()) {
        printf("\nfusing q/k/v and gate/up into one product each (F16 weights, us per layer, separate / fused):\n");
        int shapes[2][2] = {{256, 672}, {768, 2048}};
        for (int i = 0; i < 2; i++) {
            int d = shapes[i][0], f = shapes[i][1];
            printf("dim %d ffn %d: decode %.1f / %.1f; prefill of %d tokens %.0f / %.0f\n", d, f, fused_time(d, f, 1, 0),
                   fused_time(d, f, 1, 1), PREFILL_TOKENS, fused_time(d, f, PREFILL_TOKENS, 0),
                   fused_time(d, f, PREFILL_TOKENS, 1));
        }
    }
    printf("\nlimits again, at the end of the run:\n");
    Limits end;
    limits_measure(&end);
    summary(&lim, &end);
}
