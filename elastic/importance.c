/* importance: Taylor importance of KV groups and FFN neurons from one accumulated backward pass (importance.h). */
#include "elastic/importance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train.h"

int importance_alloc(Importance *imp, const ModelConfig *c, Err *e) {
    memset(imp, 0, sizeof *imp);
    imp->n_layers = c->n_layers;
    imp->n_attn = c->n_kv_heads;
    imp->n_ffn = c->ffn_dim;
    imp->attn = calloc((size_t)c->n_layers * c->n_kv_heads, sizeof(double));
    imp->ffn = calloc((size_t)c->n_layers * c->ffn_dim, sizeof(double));
    if (!imp->attn || !imp->ffn) {
        importance_free(imp);
        return err_set(e, "importance: out of memory");
    }
    return 0;
}

void importance_free(Importance *imp) {
    free(imp->attn);
    free(imp->ffn);
    memset(imp, 0, sizeof *imp);
}

/* abs_dot: sum |w[i] * g[i]| over n floats. */
static double abs_dot(const float *w, const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += fabs((double)w[i] * (double)g[i]);
    return s;
}

void importance_from_grad(const Model *m, const ModelWeights *g, Importance *imp) {
    const ModelConfig *c = &m->cfg;
    size_t d = (size_t)c->dim, hd = (size_t)c->head_dim, rep = (size_t)(c->n_heads / c->n_kv_heads);
    size_t qblock = rep * hd * d, kblock = hd * d; /* floats of one KV group in wq / wo_t and in wk / wv */
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *W = &m->w.layer[l], *G = &g->layer[l];
        for (int u = 0; u < c->n_kv_heads; u++) {
            size_t q0 = (size_t)u * qblock, k0 = (size_t)u * kblock;
            imp->attn[(size_t)l * c->n_kv_heads + u] =
                abs_dot(W->wq + q0, G->wq + q0, qblock) + abs_dot(W->wk + k0, G->wk + k0, kblock) +
                abs_dot(W->wv + k0, G->wv + k0, kblock) + abs_dot(W->wo_t + q0, G->wo_t + q0, qblock);
        }
        for (int u = 0; u < c->ffn_dim; u++) {
            size_t r = (size_t)u * d;
            imp->ffn[(size_t)l * c->ffn_dim + u] = abs_dot(W->w_gate + r, G->w_gate + r, d) +
                                                   abs_dot(W->w_up + r, G->w_up + r, d) +
                                                   abs_dot(W->w_down_t + r, G->w_down_t + r, d);
        }
    }
}

int importance_taylor(Model *m, const Calib *c, int batch, Importance *imp, double *loss, Err *e) {
    if (imp->n_layers != m->cfg.n_layers || imp->n_attn != m->cfg.n_kv_heads || imp->n_ffn != m->cfg.ffn_dim)
        return err_set(e, "importance: table shaped for another model");
    if (batch < 1) return err_set(e, "importance: batch %d, expected >= 1", batch);
    if (batch > c->n) batch = c->n;
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = batch;
    tc.seq = c->seq;
    tc.accum = 1;
    tc.steps = 1;
    tc.warmup = 0;
    Trainer t;
    if (train_init(&t, m, NULL, &tc, e)) return err_prefix(e, "importance");
    train_zero_grad(&t);
    double total = (double)c->n * c->seq, sum = 0.0;
    int rc = 0;
    for (int i = 0; !rc && i < c->n; i += batch) {
        int b = c->n - i < batch ? c->n - i : batch;
        size_t off = (size_t)i * c->seq;
        double l = 0.0;
        long counted = 0;
        rc = train_forward(&t, c->inputs + off, c->targets + off, b, c->seq, &l, &counted, e);
        if (!rc) rc = train_backward(&t, (float)(1.0 / total), e);
        sum += l * (double)counted;
    }
    if (!rc) importance_from_grad(m, &t.gw, imp);
    train_free(&t);
    if (rc) return err_prefix(e, "importance");
    if (loss) *loss = sum / total;
    return 0;
}
