/* bench_engine: engine throughput per elastic level (uniform prefix widths in every layer), view-switch time
 * and peak memory, next to this machine's sgemm rate and memory bandwidth so the figures can be judged. */
#include "base/clock.h"
#include "base/fileutil.h"
#include "bench/bench.h"
#include "engine/io.h"
#include "engine/model.h"
#include "engine/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFILL_TOKENS 256
#define DECODE_TOKENS 128

/* sgemm GFLOP/s for out (n, m) = x (n, k) . w^T, the product shape of a prefill. */
static double sgemm_rate(int n, int k, int m) {
    float *x = calloc((size_t)n * k, sizeof(float)), *w = calloc((size_t)m * k, sizeof(float));
    float *o = calloc((size_t)n * m, sizeof(float));
    for (size_t i = 0; i < (size_t)n * k; i++) x[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)m * k; i++) w[i] = (float)(i % 5) * 0.1f;
    double flops = 2.0 * n * k * m, t0 = clock_wall_s(), t;
    int reps = 0;
    do {
        matmul_nt(o, x, w, n, k, m, k, 0);
        reps++;
    } while ((t = clock_wall_s() - t0) < 0.3);
    free(x), free(w), free(o);
    return flops * reps / t / 1e9;
}

/* Read bandwidth in GB/s over a buffer much larger than the caches. */
static double read_bandwidth(void) {
    size_t n = (size_t)64 << 20; /* 256 MB of floats */
    float *b = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) b[i] = (float)(i & 15);
    volatile float sink = 0;
    double t0 = clock_wall_s();
    int reps = 3;
    for (int r = 0; r < reps; r++) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < n; i += 4) {
            s0 += b[i];
            s1 += b[i + 1];
            s2 += b[i + 2];
            s3 += b[i + 3];
        }
        sink += s0 + s1 + s2 + s3;
    }
    double t = clock_wall_s() - t0;
    (void)sink;
    free(b);
    return (double)n * sizeof(float) * reps / t / 1e9;
}

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

static void bench_model(const char *name, const Model *m) {
    const ModelConfig *c = &m->cfg;
    int n = PREFILL_TOKENS < c->max_seq ? PREFILL_TOKENS : c->max_seq / 2;
    int *tok = malloc(sizeof(int) * (size_t)(n + DECODE_TOKENS));
    for (int i = 0; i < n + DECODE_TOKENS; i++) tok[i] = (i * 37 + 11) % c->vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    Err e;
    printf("\n%s: %d layers, dim %d, %d heads (%d KV), ffn %d, vocab %d, %.2fM parameters\n", name, c->n_layers,
           c->dim, c->n_heads, c->n_kv_heads, c->ffn_dim, c->vocab_size, (double)m->n_params / 1e6);
    printf("%-6s %-8s %12s %9s %12s %11s\n", "level", "params", "prefill tok/s", "GFLOP/s", "decode tok/s",
           "weight GB/s");
    for (int li = 10; li >= 2; li--) {
        double level = li / 10.0;
        int a = (int)lround(level * c->n_kv_heads), f = (int)lround(level * c->ffn_dim);
        ElasticView v;
        view_uniform(m, a < 1 ? 1 : a, f < 1 ? 1 : f, &v);
        KVCache kv;
        if (kvcache_init(&kv, m, &v, n + DECODE_TOKENS, &e)) {
            printf("error: %s\n", e.msg);
            return;
        }
        /* prefill: repeat until 0.5 s */
        double t0 = clock_wall_s(), tp;
        int reps = 0;
        do {
            kvcache_truncate(&kv, 0);
            model_prefill(m, &v, &kv, tok, n, NULL, logits, &e);
            reps++;
        } while ((tp = clock_wall_s() - t0) < 0.5);
        double prefill_tps = (double)n * reps / tp, gflops = prefill_flops(m, &v, n) * reps / tp / 1e9;
        /* decode DECODE_TOKENS tokens after the prompt, repeated */
        double td = 0;
        int dreps = 0;
        do {
            kvcache_truncate(&kv, n);
            double t1 = clock_wall_s();
            for (int i = 0; i < DECODE_TOKENS; i++) model_decode(m, &v, &kv, tok[n + i], logits, &e);
            td += clock_wall_s() - t1;
            dreps++;
        } while (td < 0.5);
        double decode_tps = (double)DECODE_TOKENS * dreps / td;
        double frac = view_param_fraction(m, &v);
        size_t emb = (size_t)c->vocab_size * c->dim;
        double layer_bytes = frac * (double)(model_param_count(c) - emb * (c->tied ? 1 : 2) - c->dim) * 4.0;
        double bytes = layer_bytes + emb * 4.0; /* + LM head; KV cache reads are small at these lengths */
        printf("%-6.1f %-8.3f %12.0f %9.1f %12.0f %11.1f\n", level, frac, prefill_tps, gflops, decode_tps,
               bytes * decode_tps / 1e9);
        kvcache_free(&kv);
    }
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
    printf("peak RSS so far: %.1f MB (weights %.1f MB)\n", bench_peak_rss_mb(), (double)m->n_params * 4 / 1e6);
    free(tok);
    free(logits);
}

void bench_engine(void) {
    printf("OpenBLAS threads: %d\n", openblas_get_num_threads());
    printf("reference sgemm (256 x 192) . (192 x 512): %.1f GFLOP/s; (1024)^3: %.1f GFLOP/s\n",
           sgemm_rate(256, 192, 512), sgemm_rate(1024, 1024, 1024));
    ModelConfig base = {.dim = 192, .n_layers = 10, .n_heads = 6, .n_kv_heads = 6, .head_dim = 32, .ffn_dim = 512,
                        .vocab_size = 1500, .max_seq = 512, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                        .tied = true, .bos_id = -1, .eos_id = -1};
    Model m;
    Err e;
    if (model_alloc(&m, &base, &e)) {
        printf("error: %s\n", e.msg);
        return;
    }
    model_init_random(&m, 1);
    bench_model("random model of the base shape", &m);
    model_free(&m);
    if (path_is_dir("../shared/models/stories260K")) {
        if (model_load(&m, "../shared/models/stories260K", &e)) printf("stories260K: %s\n", e.msg);
        else {
            bench_model("stories260K", &m);
            model_free(&m);
        }
    } else {
        printf("\nstories260K: skipped (../shared/models/stories260K not present)\n");
    }
    /* last, so that its 256 MB buffer does not count in the peak memory figures above */
    printf("\nreference read bandwidth (256 MB buffer): %.1f GB/s\n", read_bandwidth());
}
