/* layerscore: Block Influence and sub-block scores from the residual stream (see layerscore.h). */
#include "elastic/layerscore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double layerscore_cosine(const float *a, const float *b, size_t n) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t j = 0; j < n; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    if (aa == 0.0 || bb == 0.0) return aa == bb ? 1.0 : 0.0;
    return ab / sqrt(aa * bb);
}

/* sum_cos_planes: sum over the n tokens of cos(before[i], after[i]), before and after (n, dim). */
static double sum_cos_planes(const float *before, const float *after, int n, int dim) {
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += layerscore_cosine(before + (size_t)i * dim, after + (size_t)i * dim, (size_t)dim);
    return s;
}

float *layerscore_residual_buffer(const Model *m, const Calib *c, const char *what, Err *e) {
    const ModelConfig *cf = &m->cfg;
    if (c->n < 1 || c->seq < 1 || c->seq > cf->max_seq) {
        err_set(e, "%s: %d windows of %d tokens, expected at least one window of 1 to %d tokens", what, c->n, c->seq,
                cf->max_seq);
        return NULL;
    }
    float *res = malloc(sizeof(float) * (2 * (size_t)cf->n_layers + 1) * (size_t)c->seq * (size_t)cf->dim);
    if (!res) err_set(e, "%s: out of memory for the residual stream of %d layers", what, cf->n_layers);
    return res;
}

/* scores: 1 - mean per-token cosine over every window, across layers (bi), attention sub-blocks (attn) and MLP
 * sub-blocks (ffn); any output may be NULL. One pass of model_residuals per window, full view. */
static int scores(const Model *m, const Calib *c, double *bi, double *attn, double *ffn, Err *e) {
    const ModelConfig *cf = &m->cfg;
    int L = cf->n_layers, d = cf->dim, n = c->seq;
    size_t plane = (size_t)n * d;
    float *res = layerscore_residual_buffer(m, c, "layer scores", e); /* (2L+1, seq, dim) */
    if (!res) return -1;
    double *sum = calloc(3 * (size_t)L, sizeof(double)); /* (3, L): layer, attention, MLP */
    if (!sum) {
        free(res);
        return err_set(e, "layer scores: out of memory");
    }
    ElasticView v;
    view_full(m, &v);
    int rc = 0;
    for (int w = 0; w < c->n && !rc; w++) {
        if (model_residuals(m, &v, c->inputs + (size_t)w * n, n, res, e)) {
            rc = err_prefix(e, "layer scores: window %d", w);
            break;
        }
        for (int l = 0; l < L; l++) {
            const float *in = res + 2 * (size_t)l * plane, *mid = in + plane, *out = mid + plane;
            if (bi) sum[l] += sum_cos_planes(in, out, n, d);
            if (attn) sum[L + l] += sum_cos_planes(in, mid, n, d);
            if (ffn) sum[2 * L + l] += sum_cos_planes(mid, out, n, d);
        }
    }
    double tokens = (double)c->n * n;
    for (int l = 0; l < L && !rc; l++) {
        if (bi) bi[l] = 1.0 - sum[l] / tokens;
        if (attn) attn[l] = 1.0 - sum[L + l] / tokens;
        if (ffn) ffn[l] = 1.0 - sum[2 * L + l] / tokens;
    }
    free(res);
    free(sum);
    return rc;
}

int layerscore_block_influence(const Model *m, const Calib *c, double *bi, Err *e) {
    return scores(m, c, bi, NULL, NULL, e);
}

int layerscore_subblocks(const Model *m, const Calib *c, double *attn, double *ffn, Err *e) {
    return scores(m, c, NULL, attn, ffn, e);
}

/* before: x[i] ranks before x[j]: smaller score, NaN last, ties by index. */
static int before(const double *x, int i, int j) {
    if (isnan(x[i]) || isnan(x[j])) return isnan(x[j]) && (!isnan(x[i]) || i < j);
    return x[i] < x[j] || (x[i] == x[j] && i < j);
}

void layerscore_rank(const double *x, int n, int *order) {
    for (int i = 0; i < n; i++) { /* insertion sort: n is a layer count */
        int k = i;
        while (k > 0 && before(x, i, order[k - 1])) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
}
