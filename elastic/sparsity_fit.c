/* sparsity_fit: activation traces, labels, predictor training and held-out recall (see sparsity_fit.h). */
#include "elastic/sparsity_fit.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/layerscore.h"
#include "engine/ops.h"
#include "engine/train.h"

void sparsity_fit_defaults(SparsityFitOptions *o) {
    memset(o, 0, sizeof *o);
    o->active_fraction = 0.5;
    o->epochs = 10;
    o->batch = 256;
    o->lr = 1e-3f;
    o->min_lr = 1e-4f;
    o->seed = 1;
    o->n_fracs = 9;
    for (int q = 0; q < 9; q++) o->fracs[q] = 0.1 * (q + 1);
}

static void progress(const SparsityFitOptions *o, const char *stage, long done, long total) {
    if (o->progress) o->progress(o->progress_ctx, stage, done, total);
}

/* ---- traces ---- */

int sparsity_traces_record(const Model *m, const Calib *c, SparsityTraces *t, Err *e) {
    memset(t, 0, sizeof *t);
    const ModelConfig *cf = &m->cfg;
    int L = cf->n_layers, d = cf->dim, seq = c->seq;
    float *res = layerscore_residual_buffer(m, c, "activation traces", e); /* (2L+1, seq, dim) */
    if (!res) return -1;
    size_t n = (size_t)c->n * (size_t)seq, plane = (size_t)seq * d;
    t->x = malloc(sizeof(float) * (size_t)L * n * (size_t)d);
    if (!t->x) {
        free(res);
        return err_set(e, "activation traces: out of memory for %zu tokens of %d layers", n, L);
    }
    t->n = (int)n;
    t->n_layers = L;
    t->dim = d;
    ElasticView v;
    view_full(m, &v);
    for (int w = 0; w < c->n; w++) {
        if (model_residuals(m, &v, c->inputs + (size_t)w * seq, seq, res, e)) {
            free(res);
            sparsity_traces_free(t);
            return err_prefix(e, "activation traces: window %d", w);
        }
        for (int l = 0; l < L; l++) /* the FFN input: ffn_norm of the stream after the attention sub-block */
            rmsnorm_forward(t->x + ((size_t)l * n + (size_t)w * seq) * d, NULL, res + (2 * (size_t)l + 1) * plane,
                            m->w.layer[l].ffn_norm, seq, d, cf->norm_eps);
    }
    free(res);
    return 0;
}

void sparsity_traces_free(SparsityTraces *t) {
    free(t->x);
    memset(t, 0, sizeof *t);
}

int sparsity_magnitudes(const Model *m, int l, const float *x, int n, float *mag, Err *e) {
    const ModelConfig *cf = &m->cfg;
    const LayerWeights *W = &m->w.layer[l];
    int d = cf->dim, f = cf->ffn_dim, chunk = 256;
    float *u = malloc(sizeof(float) * (size_t)chunk * f); /* (chunk, f) up . x */
    if (!u) return err_set(e, "activation magnitudes: out of memory");
    for (int i0 = 0; i0 < n; i0 += chunk) {
        int b = n - i0 < chunk ? n - i0 : chunk;
        float *g = mag + (size_t)i0 * f; /* (b, f) gate . x, then the magnitude in place */
        matmul_nt(g, x + (size_t)i0 * d, W->w_gate, b, d, f, d, 0);
        matmul_nt(u, x + (size_t)i0 * d, W->w_up, b, d, f, d, 0);
        swiglu_forward(g, g, u, (size_t)b * f); /* the engine's own activation, bit for bit */
        for (size_t j = 0; j < (size_t)b * f; j++) g[j] = fabsf(g[j]);
    }
    free(u);
    return 0;
}

float sparsity_quantile(float *a, size_t n, double share) {
    double kd = floor(share * (double)n);
    size_t k = kd < 0 ? 0 : kd >= (double)n ? n - 1 : (size_t)kd;
    size_t lo = 0, hi = n - 1;
    while (lo < hi) { /* Hoare selection with the median of three as pivot */
        size_t mid = lo + (hi - lo) / 2;
        float x = a[lo], y = a[mid], z = a[hi];
        float p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) {
                float tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break; /* a[k] == p */
    }
    return a[k];
}

/* ---- labels of one layer ---- */

/* Labels of one layer for the training and held-out traces. */
typedef struct LayerLabels {
    unsigned char *train, *held; /* (n, ffn_dim) 0/1 */
    float *held_mag;             /* (n_held, ffn_dim) the held-out magnitudes */
} LayerLabels;

/* label: y (n, f) = mag > thr; returns the share of ones. */
static double label(const float *mag, size_t n, float thr, unsigned char *y) {
    size_t ones = 0;
    for (size_t i = 0; i < n; i++) ones += (y[i] = mag[i] > thr);
    return n ? (double)ones / (double)n : 0.0;
}

/* layer_labels: the threshold of layer l from its training magnitudes and both label sets; lf receives the
 * threshold and the active shares. */
static int layer_labels(const Model *m, int l, const SparsityTraces *train, const SparsityTraces *held, double active,
                        LayerLabels *y, SparsityLayerFit *lf, Err *e) {
    int f = m->cfg.ffn_dim, d = m->cfg.dim;
    size_t nt = (size_t)train->n * f, nh = (size_t)held->n * f;
    float *mag = malloc(sizeof(float) * (nt > nh ? nt : nh)), *copy = malloc(sizeof(float) * nt);
    y->train = malloc(nt);
    y->held = malloc(nh ? nh : 1);
    if (!mag || !copy || !y->train || !y->held) {
        free(mag);
        free(copy);
        return err_set(e, "activation labels: out of memory for layer %d", l);
    }
    if (sparsity_magnitudes(m, l, train->x + (size_t)l * train->n * d, train->n, mag, e)) {
        free(mag);
        free(copy);
        return -1;
    }
    memcpy(copy, mag, sizeof(float) * nt);
    float thr = sparsity_quantile(copy, nt, 1.0 - active);
    free(copy);
    lf->threshold = thr;
    lf->active_train = label(mag, nt, thr, y->train);
    int rc = sparsity_magnitudes(m, l, held->x + (size_t)l * held->n * d, held->n, mag, e);
    if (!rc) lf->active_heldout = label(mag, nh, thr, y->held);
    y->held_mag = mag; /* at least nh floats */
    return rc;
}

/* ---- training ---- */

/* Buffers of one training run: a batch's inputs, labels, hidden units, logits and the hidden gradient. */
typedef struct Batch {
    float *x, *h, *z, *dh;       /* (B, dim), (B, rank), (B, ffn_dim), (B, rank) */
    unsigned char *y;            /* (B, ffn_dim) */
} Batch;

static void batch_free(Batch *b) {
    free(b->x);
    free(b->h);
    free(b->z);
    free(b->dh);
    free(b->y);
}

static int batch_alloc(Batch *b, int B, int dim, int rank, int f, Err *e) {
    b->x = malloc(sizeof(float) * (size_t)B * dim);
    b->h = malloc(sizeof(float) * (size_t)B * rank);
    b->z = malloc(sizeof(float) * (size_t)B * f);
    b->dh = malloc(sizeof(float) * (size_t)B * rank);
    b->y = malloc((size_t)B * f);
    if (b->x && b->h && b->z && b->dh && b->y) return 0;
    batch_free(b);
    return err_set(e, "predictor training: out of memory for a batch of %d tokens", B);
}

/* mean_loss: mean BCE of layer l's predictor over n inputs x with labels y, in batches of b's size B. */
static double mean_loss(const Sparsity *s, int l, const float *x, const unsigned char *y, int n, Batch *b, int B) {
    double sum = 0.0;
    int f = s->ffn_dim;
    for (int i0 = 0; i0 < n; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        sparsity_forward(s, l, x + (size_t)i0 * s->dim, nb, b->h, b->z);
        sum += sparsity_bce(b->z, y + (size_t)i0 * f, nb, f, NULL) * nb;
    }
    return n ? sum / n : 0.0;
}

/* train_layer: Adam on layer l's predictor of s over the training inputs x (n, dim) and labels y (n, ffn_dim). */
static int train_layer(Sparsity *s, int l, const float *x, const unsigned char *y, int n, const SparsityFitOptions *o,
                       double *loss, Err *e) {
    int d = s->dim, f = s->ffn_dim, r = s->rank, B = o->batch;
    size_t len = (size_t)r * (d + 1) + (size_t)f * (r + 1); /* one layer's parameters, contiguous from w1 */
    Sparsity g = *s;                                        /* the gradient, carved like s */
    g.params = calloc(s->n_params, sizeof(float));
    float *mem = calloc(2 * len, sizeof(float));            /* Adam's first and second moments */
    size_t *perm = malloc(sizeof(size_t) * (size_t)n);
    Batch b;
    if (!g.params || !mem || !perm || batch_alloc(&b, B, d, r, f, e)) {
        int oom = !g.params || !mem || !perm;
        free(g.params);
        free(mem);
        free(perm);
        return oom ? err_set(e, "predictor training: out of memory") : -1;
    }
    sparsity_carve(&g, g.params);
    float *grad = g.layer[l].w1;
    TrainSeg seg = {0, len, false};
    Trainer t = {.params = s->layer[l].w1, .grad = grad, .m = mem, .v = mem + len, .n_train = len,
                 .segs = &seg, .n_segs = 1};
    train_config_default(&t.cfg);
    t.cfg.lr = o->lr;
    t.cfg.min_lr = o->min_lr;
    t.cfg.warmup = 0;
    t.cfg.wd = 0.0f;
    t.cfg.beta2 = 0.999f;
    t.cfg.clip = 0.0f;
    long steps_per_epoch = (n + B - 1) / B;
    t.cfg.steps = steps_per_epoch * o->epochs;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, o->seed * 1000003UL + (unsigned long)l);
    for (int i = 0; i < n; i++) perm[i] = (size_t)i;
    for (int ep = 0; ep < o->epochs; ep++) {
        gsl_ran_shuffle(rng, perm, (size_t)n, sizeof *perm);
        for (int i0 = 0; i0 < n; i0 += B) {
            int nb = n - i0 < B ? n - i0 : B;
            for (int i = 0; i < nb; i++) {
                memcpy(b.x + (size_t)i * d, x + perm[i0 + i] * d, sizeof(float) * (size_t)d);
                memcpy(b.y + (size_t)i * f, y + perm[i0 + i] * f, (size_t)f);
            }
            sparsity_forward(s, l, b.x, nb, b.h, b.z);
            sparsity_bce_grad(b.z, b.y, nb, f, b.z); /* dz in place */
            memset(grad, 0, sizeof(float) * len);
            sparsity_backward(s, &g, l, b.x, b.h, b.z, nb, b.dh);
            train_update(&t, train_lr(&t.cfg, t.step), 0.0);
        }
    }
    gsl_rng_free(rng);
    *loss = mean_loss(s, l, x, y, n, &b, B);
    batch_free(&b);
    free(g.params);
    free(mem);
    free(perm);
    return 0;
}

/* ---- recall ---- */

/* kept_mass: the sum of mag over the k neurons of idx. */
static double kept_mass(const float *mag, const int *idx, int k) {
    double m = 0.0;
    for (int j = 0; j < k; j++) m += mag[idx[j]];
    return m;
}

int sparsity_recall(const Sparsity *s, int l, const float *x, const unsigned char *y, const float *mag, int n,
                    const double *fracs, int n_fracs, double *recall, double *mass, double *mass_oracle, Err *e) {
    int f = s->ffn_dim, B = 256;
    float *h = malloc(sizeof(float) * (size_t)B * s->rank), *z = malloc(sizeof(float) * (size_t)B * f);
    int *idx = malloc(sizeof(int) * (size_t)f), *order = malloc(sizeof(int) * (size_t)f);
    if (!h || !z || !idx || !order) {
        free(h);
        free(z);
        free(idx);
        free(order);
        return err_set(e, "recall: out of memory");
    }
    double hit[SPARSITY_MAX_FRACS] = {0}, got[SPARSITY_MAX_FRACS] = {0}, best[SPARSITY_MAX_FRACS] = {0};
    double active = 0.0, total = 0.0;
    for (int i0 = 0; i0 < n; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        sparsity_forward(s, l, x + (size_t)i0 * s->dim, nb, h, z);
        for (int i = 0; i < nb; i++) {
            const unsigned char *yi = y + ((size_t)i0 + i) * f;
            const float *mi = mag ? mag + ((size_t)i0 + i) * f : NULL;
            for (int j = 0; j < f; j++) active += yi[j], total += mi ? mi[j] : 0.0;
            for (int q = 0; q < n_fracs; q++) {
                int k = sparsity_keep_count(fracs[q], f);
                sparsity_top_k(z + (size_t)i * f, f, k, idx, order);
                for (int j = 0; j < k; j++) hit[q] += yi[idx[j]];
                if (!mi) continue;
                got[q] += kept_mass(mi, idx, k);
                sparsity_top_k(mi, f, k, idx, order);
                best[q] += kept_mass(mi, idx, k);
            }
        }
    }
    for (int q = 0; q < n_fracs; q++) {
        recall[q] = active > 0 ? hit[q] / active : 0.0;
        if (mass) mass[q] = total > 0 ? got[q] / total : 0.0;
        if (mass_oracle) mass_oracle[q] = total > 0 ? best[q] / total : 0.0;
    }
    free(h);
    free(z);
    free(idx);
    free(order);
    return 0;
}

/* ---- the sweep ---- */

/* fit_layer: every rank's predictor of layer l: trained, then measured on the held-out traces. */
static int fit_layer(const Model *m, int l, const SparsityTraces *train, const SparsityTraces *held, int n_ranks,
                     const SparsityFitOptions *o, Sparsity *out, SparsityFit *fit, Err *e) {
    LayerLabels y = {0};
    SparsityLayerFit lf = {0};
    int rc = layer_labels(m, l, train, held, o->active_fraction, &y, &lf, e);
    int d = m->cfg.dim, f = m->cfg.ffn_dim;
    const float *xt = train->x + (size_t)l * train->n * d, *xh = held->x + (size_t)l * held->n * d;
    for (int i = 0; !rc && i < n_ranks; i++) {
        SparsityLayerFit *F = &fit[i].layer[l];
        *F = lf;
        rc = train_layer(&out[i], l, xt, y.train, train->n, o, &F->loss_train, e);
        if (!rc) {
            Batch b;
            rc = batch_alloc(&b, 256, d, out[i].rank, f, e);
            if (!rc) F->loss_heldout = mean_loss(&out[i], l, xh, y.held, held->n, &b, 256);
            if (!rc) batch_free(&b);
        }
        if (!rc)
            rc = sparsity_recall(&out[i], l, xh, y.held, y.held_mag, held->n, o->fracs, o->n_fracs, F->recall, F->mass,
                                 F->mass_oracle, e);
        progress(o, "predictors (layer x rank)", (long)l * n_ranks + i + 1, (long)m->cfg.n_layers * n_ranks);
    }
    free(y.train);
    free(y.held);
    free(y.held_mag);
    return rc ? err_prefix(e, "predictor of layer %d", l) : 0;
}

int sparsity_fit_ranks(const Model *m, const SparsityTraces *train, const SparsityTraces *held, const int *ranks,
                       int n_ranks, const SparsityFitOptions *o, Sparsity *out, SparsityFit *fit, Err *e) {
    const ModelConfig *c = &m->cfg;
    if (n_ranks < 1 || n_ranks > SPARSITY_MAX_RANKS)
        return err_set(e, "predictor fit: %d ranks, expected 1..%d", n_ranks, SPARSITY_MAX_RANKS);
    if (o->n_fracs < 1 || o->n_fracs > SPARSITY_MAX_FRACS || o->epochs < 1 || o->batch < 1 ||
        !(o->active_fraction > 0 && o->active_fraction < 1))
        return err_set(e, "predictor fit: options out of range (fractions %d, epochs %d, batch %d, active %g)",
                       o->n_fracs, o->epochs, o->batch, o->active_fraction);
    if (train->n < 1 || held->n < 1 || train->n_layers != c->n_layers || held->n_layers != c->n_layers ||
        train->dim != c->dim || held->dim != c->dim)
        return err_set(e, "predictor fit: traces of %d and %d tokens do not fit the model", train->n, held->n);
    memset(out, 0, sizeof *out * (size_t)n_ranks);
    int rc = 0;
    for (int i = 0; !rc && i < n_ranks; i++) {
        rc = sparsity_alloc(&out[i], c, ranks[i], e);
        if (!rc) sparsity_init(&out[i], o->seed + (unsigned long)ranks[i]);
        memset(&fit[i], 0, sizeof fit[i]);
        fit[i].rank = ranks[i];
        fit[i].cost = sparsity_fraction(c, ranks[i]);
        fit[i].n_layers = c->n_layers;
        fit[i].n_fracs = o->n_fracs;
        memcpy(fit[i].fracs, o->fracs, sizeof o->fracs);
    }
    for (int l = 0; !rc && l < c->n_layers; l++) rc = fit_layer(m, l, train, held, n_ranks, o, out, fit, e);
    for (int i = 0; i < n_ranks; i++) {
        if (rc) {
            sparsity_free(&out[i]);
            continue;
        }
        sparsity_rehash(&out[i]);
        for (int q = 0; q < o->n_fracs; q++) {
            double r = 0.0, m = 0.0, mo = 0.0;
            for (int l = 0; l < c->n_layers; l++) {
                r += fit[i].layer[l].recall[q];
                m += fit[i].layer[l].mass[q];
                mo += fit[i].layer[l].mass_oracle[q];
            }
            fit[i].mean_recall[q] = r / c->n_layers;
            fit[i].mean_mass[q] = m / c->n_layers;
            fit[i].mean_mass_oracle[q] = mo / c->n_layers;
        }
    }
    return rc;
}

double sparsity_mass_at(const SparsityFit *fit, double frac) {
    double x0 = 0.0, y0 = 0.0;
    for (int q = 0; q <= fit->n_fracs; q++) {
        double x1 = q < fit->n_fracs ? fit->fracs[q] : 1.0, y1 = q < fit->n_fracs ? fit->mean_mass[q] : 1.0;
        if (frac <= x1) return x1 > x0 ? y0 + (y1 - y0) * (frac - x0) / (x1 - x0) : y1;
        x0 = x1;
        y0 = y1;
    }
    return 1.0;
}

double sparsity_affordable(const ModelConfig *c, double cost, double tpot_budget) {
    double ffn = (double)c->n_layers * 3.0 * c->dim * c->ffn_dim / model_layer_params(c);
    double f = (tpot_budget - (1.0 - ffn) - cost) / ffn;
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

int sparsity_choose_rank(const SparsityFit *fit, int n, const ModelConfig *c, double tpot_budget) {
    int pick = -1;
    double best = -1.0;
    for (int i = 0; i < n; i++) {
        double m = sparsity_mass_at(&fit[i], sparsity_affordable(c, fit[i].cost, tpot_budget));
        if (m > best || (m == best && fit[i].rank < fit[pick].rank)) best = m, pick = i;
    }
    return pick;
}
