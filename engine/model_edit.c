/* model_edit: structure edits that keep the function of a model: permuting the units of a layer (attention
 * KV groups, FFN neurons) together with every tensor they touch, and slicing a model down to a prefix of units.
 * In the elastic layout both are row-block operations. */
#include "engine/model.h"

#include <stdlib.h>
#include <string.h>

/* permute_rows: reorder n blocks of `block` floats in t: new block i = old block perm[i]. */
static int permute_rows(float *t, const int *perm, int n, size_t block, float *tmp) {
    memcpy(tmp, t, sizeof(float) * block * (size_t)n);
    for (int i = 0; i < n; i++) memcpy(t + block * (size_t)i, tmp + block * (size_t)perm[i], sizeof(float) * block);
    return 0;
}

static int check_perm(const int *perm, int n, const char *what, int l, Err *e) {
    unsigned char *seen = calloc((size_t)n, 1);
    if (!seen) return err_set(e, "out of memory");
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]) {
            free(seen);
            return err_set(e, "layer %d: %s permutation is not a permutation of 0..%d (entry %d = %d)", l, what,
                           n - 1, i, perm[i]);
        }
        seen[perm[i]] = 1;
    }
    free(seen);
    return 0;
}

int model_permute_units(Model *m, int l, const int *attn_perm, const int *ffn_perm, Err *e) {
    const ModelConfig *c = &m->cfg;
    if (model_require_plain(m, "permuting units", e)) return -1;
    if (l < 0 || l >= c->n_layers) return err_set(e, "permute: layer %d outside 0..%d", l, c->n_layers - 1);
    if (attn_perm && check_perm(attn_perm, c->n_kv_heads, "attention", l, e)) return -1;
    if (ffn_perm && check_perm(ffn_perm, c->ffn_dim, "FFN", l, e)) return -1;
    LayerWeights *W = &m->w.layer[l];
    size_t d = (size_t)c->dim, rep = (size_t)(c->n_heads / c->n_kv_heads), hd = (size_t)c->head_dim;
    size_t big = (size_t)c->n_heads * hd * d;
    if ((size_t)c->ffn_dim * d > big) big = (size_t)c->ffn_dim * d;
    float *tmp = malloc(sizeof(float) * big);
    if (!tmp) return err_set(e, "out of memory");
    if (attn_perm) {
        permute_rows(W->wq, attn_perm, c->n_kv_heads, rep * hd * d, tmp);
        permute_rows(W->wk, attn_perm, c->n_kv_heads, hd * d, tmp);
        permute_rows(W->wv, attn_perm, c->n_kv_heads, hd * d, tmp);
        permute_rows(W->wo_t, attn_perm, c->n_kv_heads, rep * hd * d, tmp);
    }
    if (ffn_perm) {
        permute_rows(W->w_gate, ffn_perm, c->ffn_dim, d, tmp);
        permute_rows(W->w_up, ffn_perm, c->ffn_dim, d, tmp);
        permute_rows(W->w_down_t, ffn_perm, c->ffn_dim, d, tmp);
    }
    free(tmp);
    model_rehash(m);
    return 0;
}

int model_slice(const Model *src, int attn_units, int ffn_units, Model *dst, Err *e) {
    const ModelConfig *c = &src->cfg;
    memset(dst, 0, sizeof *dst);
    if (model_require_plain(src, "slicing a model", e)) return -1;
    if (attn_units < 1 || attn_units > c->n_kv_heads || ffn_units < 1 || ffn_units > c->ffn_dim)
        return err_set(e, "slice: %d attention / %d FFN units, the model has %d / %d", attn_units, ffn_units,
                       c->n_kv_heads, c->ffn_dim);
    ModelConfig s = *c;
    int rep = c->n_heads / c->n_kv_heads;
    s.n_kv_heads = attn_units;
    s.n_heads = attn_units * rep;
    s.ffn_dim = ffn_units;
    if (model_alloc(dst, &s, e)) return -1;
    size_t d = (size_t)c->dim, qd = (size_t)s.n_heads * c->head_dim, kd = (size_t)s.n_kv_heads * c->head_dim;
    size_t f = (size_t)ffn_units;
    model_copy_outer(dst, src);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *a = &src->w.layer[l];
        LayerWeights *b = &dst->w.layer[l];
        memcpy(b->attn_norm, a->attn_norm, sizeof(float) * d);
        memcpy(b->wq, a->wq, sizeof(float) * qd * d);
        memcpy(b->wk, a->wk, sizeof(float) * kd * d);
        memcpy(b->wv, a->wv, sizeof(float) * kd * d);
        memcpy(b->wo_t, a->wo_t, sizeof(float) * qd * d);
        memcpy(b->ffn_norm, a->ffn_norm, sizeof(float) * d);
        memcpy(b->w_gate, a->w_gate, sizeof(float) * f * d);
        memcpy(b->w_up, a->w_up, sizeof(float) * f * d);
        memcpy(b->w_down_t, a->w_down_t, sizeof(float) * f * d);
    }
    model_rehash(dst);
    return 0;
}
