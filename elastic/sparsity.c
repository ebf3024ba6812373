/* sparsity: Deja Vu-style neuron predictors, their selection and their file (see sparsity.h). */
#include "elastic/sparsity.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/io.h"
#include "engine/ops.h"

size_t sparsity_param_count(const ModelConfig *c, int rank) {
    return (size_t)c->n_layers * ((size_t)rank * ((size_t)c->dim + 1) + (size_t)c->ffn_dim * ((size_t)rank + 1));
}

void sparsity_carve(Sparsity *s, float *base) {
    float *p = base;
    size_t r = (size_t)s->rank, d = (size_t)s->dim, f = (size_t)s->ffn_dim;
    for (int l = 0; l < s->n_layers; l++) {
        SparsityLayer *L = &s->layer[l];
        L->w1 = p, p += r * d;
        L->b1 = p, p += r;
        L->w2 = p, p += f * r;
        L->b2 = p, p += f;
    }
}

int sparsity_alloc(Sparsity *s, const ModelConfig *c, int rank, Err *e) {
    memset(s, 0, sizeof *s);
    if (rank < 1 || rank > 4096) return err_set(e, "sparsity predictors: rank %d, expected 1..4096", rank);
    if (c->n_layers < 1 || c->n_layers > ELMS_MAX_LAYERS || c->dim < 1 || c->ffn_dim < 1)
        return err_set(e, "sparsity predictors: a model of %d layers, dim %d, ffn_dim %d", c->n_layers, c->dim,
                       c->ffn_dim);
    s->n_layers = c->n_layers;
    s->dim = c->dim;
    s->ffn_dim = c->ffn_dim;
    s->rank = rank;
    s->n_params = sparsity_param_count(c, rank);
    s->params = calloc(s->n_params, sizeof(float));
    s->scratch = malloc(sizeof(float) * ((size_t)rank + (size_t)c->ffn_dim));
    s->order = malloc(sizeof(int) * (size_t)c->ffn_dim);
    if (!s->params || !s->scratch || !s->order) {
        sparsity_free(s);
        return err_set(e, "sparsity predictors: out of memory for %zu parameters", sparsity_param_count(c, rank));
    }
    sparsity_carve(s, s->params);
    sparsity_rehash(s);
    return 0;
}

void sparsity_free(Sparsity *s) {
    free(s->params);
    free(s->scratch);
    free(s->order);
    memset(s, 0, sizeof *s);
}

void sparsity_init(Sparsity *s, unsigned long seed) {
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, seed);
    size_t r = (size_t)s->rank, d = (size_t)s->dim, f = (size_t)s->ffn_dim;
    float a1 = 1.0f / sqrtf((float)d), a2 = 1.0f / sqrtf((float)r);
    for (int l = 0; l < s->n_layers; l++) {
        SparsityLayer *L = &s->layer[l];
        for (size_t i = 0; i < r * d; i++) L->w1[i] = a1 * (float)(2.0 * gsl_rng_uniform(g) - 1.0);
        for (size_t i = 0; i < r; i++) L->b1[i] = a1 * (float)(2.0 * gsl_rng_uniform(g) - 1.0);
        for (size_t i = 0; i < f * r; i++) L->w2[i] = a2 * (float)(2.0 * gsl_rng_uniform(g) - 1.0);
        for (size_t i = 0; i < f; i++) L->b2[i] = a2 * (float)(2.0 * gsl_rng_uniform(g) - 1.0);
    }
    gsl_rng_free(g);
    sparsity_rehash(s);
}

void sparsity_rehash(Sparsity *s) {
    int shape[4] = {s->n_layers, s->dim, s->ffn_dim, s->rank};
    uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, shape, sizeof shape);
    hash_hex(hash_fnv1a(h, s->params, sizeof(float) * s->n_params), s->hash);
}

double sparsity_fraction(const ModelConfig *c, int rank) {
    return (double)sparsity_param_count(c, rank) / model_layer_params(c);
}

/* ---- forward, loss and gradient ---- */

void sparsity_forward(const Sparsity *s, int l, const float *x, int n, float *h, float *z) {
    const SparsityLayer *L = &s->layer[l];
    int r = s->rank, d = s->dim, f = s->ffn_dim;
    matmul_nt(h, x, L->w1, n, d, r, d, 0); /* h (n, r) = x (n, d) . w1^T */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r; j++) {
            float v = h[(size_t)i * r + j] + L->b1[j];
            h[(size_t)i * r + j] = v > 0.0f ? v : 0.0f;
        }
    matmul_nt(z, h, L->w2, n, r, f, r, 0); /* z (n, f) = h (n, r) . w2^T */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < f; j++) z[(size_t)i * f + j] += L->b2[j];
}

double sparsity_bce(const float *z, const unsigned char *y, int n, int ffn_dim, float *dz) {
    size_t N = (size_t)n * (size_t)ffn_dim;
    double sum = 0.0;
    for (size_t i = 0; i < N; i++) {
        double zi = z[i];
        sum += (zi > 0 ? zi : 0.0) - (y[i] ? zi : 0.0) + log1p(exp(-fabs(zi)));
    }
    if (dz) sparsity_bce_grad(z, y, n, ffn_dim, dz);
    return sum / (double)N;
}

void sparsity_bce_grad(const float *z, const unsigned char *y, int n, int ffn_dim, float *dz) {
    size_t N = (size_t)n * (size_t)ffn_dim;
    float inv = 1.0f / (float)N;
    for (size_t i = 0; i < N; i++) dz[i] = (1.0f / (1.0f + expf(-z[i])) - (y[i] ? 1.0f : 0.0f)) * inv;
}

void sparsity_backward(const Sparsity *s, const Sparsity *g, int l, const float *x, const float *h, const float *dz,
                       int n, float *dh) {
    const SparsityLayer *L = &s->layer[l], *G = &g->layer[l];
    int r = s->rank, d = s->dim, f = s->ffn_dim;
    /* z = h . w2^T: dh (n, r) = dz (n, f) . w2 (f, r); dw2 (f, r) += dz^T . h */
    matmul_nt_backward(dh, G->w2, dz, h, L->w2, n, r, f, r, 0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < f; j++) G->b2[j] += dz[(size_t)i * f + j];
    for (size_t i = 0; i < (size_t)n * r; i++)
        if (!(h[i] > 0.0f)) dh[i] = 0.0f; /* relu: h = 0 where the pre-activation was <= 0 */
    /* h_pre = x . w1^T: dw1 (r, d) += dh^T . x (the input gradient is not needed) */
    matmul_nt_backward(NULL, G->w1, dh, x, L->w1, n, d, r, d, 0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r; j++) G->b1[j] += dh[(size_t)i * r + j];
}

/* ---- selection ---- */

int sparsity_keep_count(double frac, int n) {
    double k = floor(frac * n + 0.5);
    if (!(k >= 1)) return 1; /* also NaN */
    return k > n ? n : (int)k;
}

/* ranks_before: neuron a ranks before neuron b: a higher score, NaN last, ties by the lower index. */
static int ranks_before(const float *score, int a, int b) {
    float x = score[a], y = score[b];
    if (isnan(x) || isnan(y)) return isnan(y) && (!isnan(x) || a < b);
    return x > y || (x == y && a < b);
}

/* sift_down: restore the min-heap (by ranking: the worst-ranked neuron at the root) below position i. */
static void sift_down(const float *score, int *heap, int k, int i) {
    for (;;) {
        int worst = i, a = 2 * i + 1, b = a + 1;
        if (a < k && ranks_before(score, heap[worst], heap[a])) worst = a;
        if (b < k && ranks_before(score, heap[worst], heap[b])) worst = b;
        if (worst == i) return;
        int t = heap[i];
        heap[i] = heap[worst];
        heap[worst] = t;
        i = worst;
    }
}

static int int_ascending(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void sparsity_top_k(const float *score, int n, int k, int *idx, int *order) {
    /* a heap of the k best so far, rooted at the worst of them: O(n log k) */
    for (int i = 0; i < k; i++) order[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(score, order, k, i);
    for (int i = k; i < n; i++)
        if (ranks_before(score, i, order[0])) {
            order[0] = i;
            sift_down(score, order, k, 0);
        }
    qsort(order, (size_t)k, sizeof *order, int_ascending); /* ascending neuron order */
    memcpy(idx, order, sizeof *idx * (size_t)k);
}

int sparsity_select(void *ctx, int layer, const float *x, int *idx, int cap) {
    const SparsitySelect *c = ctx;
    const Sparsity *s = c->s;
    if (layer < 0 || layer >= s->n_layers || c->k < 1 || c->k > s->ffn_dim || cap < c->k) return -1;
    float *h = s->scratch, *z = s->scratch + s->rank; /* (rank), (ffn_dim) */
    sparsity_forward(s, layer, x, 1, h, z);
    sparsity_top_k(z, s->ffn_dim, c->k, idx, s->order);
    return c->k;
}

/* ---- file ---- */

/* The four tensors of layer l: names and shapes into the arrays at 4 l. */
static void layer_tensors(const Sparsity *s, int l, char names[][64], StWriteTensor *t) {
    const SparsityLayer *L = &s->layer[l];
    const char *part[4] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    const float *data[4] = {L->w1, L->b1, L->w2, L->b2};
    int64_t rows[4] = {s->rank, s->rank, s->ffn_dim, s->ffn_dim}, cols[4] = {s->dim, 0, s->rank, 0};
    for (int i = 0; i < 4; i++) {
        snprintf(names[4 * l + i], 64, "layers.%d.%s", l, part[i]);
        t[4 * l + i] = (StWriteTensor){names[4 * l + i], data[i], cols[i] ? 2 : 1, {rows[i], cols[i], 0, 0}};
    }
}

int sparsity_save(const Sparsity *s, const char *path, Err *e) {
    int n = 4 * s->n_layers;
    char(*names)[64] = malloc(sizeof *names * (size_t)n);
    StWriteTensor *t = malloc(sizeof *t * (size_t)n);
    int rc = names && t ? 0 : err_set(e, "%s: out of memory", path);
    if (!rc) {
        for (int l = 0; l < s->n_layers; l++) layer_tensors(s, l, names, t);
        char v[4][32];
        snprintf(v[0], sizeof v[0], "%d", s->rank);
        snprintf(v[1], sizeof v[1], "%d", s->dim);
        snprintf(v[2], sizeof v[2], "%d", s->ffn_dim);
        snprintf(v[3], sizeof v[3], "%d", s->n_layers);
        const char *mk[] = {"format", "rank", "dim", "ffn_dim", "n_layers"}, *mv[] = {"pt", v[0], v[1], v[2], v[3]};
        rc = st_write_meta(path, t, n, ST_F32, mk, mv, 5, e);
    }
    free(names);
    free(t);
    return rc;
}

/* meta_int: the "__metadata__" value key of f as an integer in [lo, hi]. */
static int meta_int(const StFile *f, const char *key, long lo, long hi, long *out, Err *e) {
    char buf[64], *end;
    if (st_meta_get(f, key, buf, sizeof buf)) return err_set(e, "%s: \"__metadata__\" has no %s", f->path, key);
    long v = strtol(buf, &end, 10);
    if (end == buf || *end || v < lo || v > hi)
        return err_set(e, "%s: \"__metadata__\" %s: expected an integer in [%ld, %ld], got '%s'", f->path, key, lo, hi,
                       buf);
    *out = v;
    return 0;
}

int sparsity_load(Sparsity *s, const ModelConfig *c, const char *path, Err *e) {
    memset(s, 0, sizeof *s);
    StFile f;
    if (st_open(&f, path, e)) return -1;
    long rank = 0, dim = 0, ffn = 0, layers = 0;
    int rc = 0;
    if (meta_int(&f, "rank", 1, 4096, &rank, e) || meta_int(&f, "dim", 1, 1L << 30, &dim, e) ||
        meta_int(&f, "ffn_dim", 1, 1L << 30, &ffn, e) || meta_int(&f, "n_layers", 1, ELMS_MAX_LAYERS, &layers, e))
        rc = -1;
    if (!rc && (dim != c->dim || ffn != c->ffn_dim || layers != c->n_layers))
        rc = err_set(e, "%s: predictors for %ld layers, dim %ld, ffn_dim %ld; the model has %d, %d, %d", path, layers,
                     dim, ffn, c->n_layers, c->dim, c->ffn_dim);
    if (!rc && f.n_tensors != 4 * c->n_layers)
        rc = err_set(e, "%s: %d tensors, expected 4 per layer (%d)", path, f.n_tensors, 4 * c->n_layers);
    if (!rc) rc = sparsity_alloc(s, c, (int)rank, e);
    int n = 4 * c->n_layers;
    char(*names)[64] = rc ? NULL : malloc(sizeof *names * (size_t)n);
    StWriteTensor *t = rc ? NULL : malloc(sizeof *t * (size_t)n);
    if (!rc && (!names || !t)) rc = err_set(e, "%s: out of memory", path);
    for (int l = 0; !rc && l < c->n_layers; l++) layer_tensors(s, l, names, t);
    for (int i = 0; !rc && i < n; i++) rc = st_check_shape(&f, t[i].name, t[i].shape[0], t[i].shape[1], e);
    for (int i = 0; !rc && i < n; i++) {
        size_t len = (size_t)t[i].shape[0] * (size_t)(t[i].ndim == 2 ? t[i].shape[1] : 1);
        rc = st_read_f32(&f, t[i].name, t[i].shape[0], t[i].shape[1], (float *)t[i].data, e);
        for (size_t j = 0; !rc && j < len; j++)
            if (!isfinite(t[i].data[j]))
                rc = err_set(e, "%s: tensor %s: element %zu is not finite", path, t[i].name, j);
    }
    free(names);
    free(t);
    st_close(&f);
    if (rc) sparsity_free(s);
    else sparsity_rehash(s);
    return rc;
}
