/* train_acts: sizing and carving of the training activations (see train_acts.h). */
#include "engine/train_acts.h"

#include <stdlib.h>
#include <string.h>

/* Hands out consecutive 64-byte aligned ranges of base; with base NULL it only counts. */
typedef struct Carver {
    float *base;
    size_t used;
} Carver;

static float *take(Carver *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += (n + 15) & ~(size_t)15;
    return p;
}

static void carve(TrainActs *a, const ModelConfig *c, const ElasticView *v, int B, int T, int r, Carver *cv) {
    size_t N = (size_t)B * T, D = (size_t)c->dim;
    int rep = c->n_heads / c->n_kv_heads, maxQ = 0, maxK = 0, maxF = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerView *lv = &v->layer[l];
        TrainLayerActs *L = &a->layer[l];
        int units = lv->skip_attn ? 0 : lv->attn_units;
        L->nq = units * rep;
        L->QW = L->nq * c->head_dim;
        L->KW = units * c->head_dim;
        L->FW = lv->skip_ffn ? 0 : lv->ffn_units;
        if (L->QW > maxQ) maxQ = L->QW;
        if (L->KW > maxK) maxK = L->KW;
        if (L->FW > maxF) maxF = L->FW;
        L->x_in = take(cv, N * D);
        L->x_mid = take(cv, N * D);
        if (L->QW) {
            L->xn1 = take(cv, N * D);
            L->rstd1 = take(cv, N);
            L->q = take(cv, N * L->QW);
            L->k = take(cv, N * L->KW);
            L->v = take(cv, N * L->KW);
            L->att = take(cv, (size_t)B * L->nq * T * T);
            L->ao = take(cv, N * L->QW);
        }
        if (L->FW) {
            L->xn2 = take(cv, N * D);
            L->rstd2 = take(cv, N);
            L->g = take(cv, N * L->FW);
            L->u = take(cv, N * L->FW);
            L->h = take(cv, N * L->FW);
        }
        for (int s = 0; s < LZ_COUNT; s++) L->lz[s] = r > 0 ? take(cv, N * r) : NULL;
    }
    a->x_final = take(cv, N * D);
    a->xf = take(cv, N * D);
    a->rstdf = take(cv, N);
    a->logits = take(cv, N * (size_t)model_head_width(c));
    a->pooled = c->head == HEAD_SEQUENCE ? take(cv, (size_t)B * D) : NULL;
    a->dpooled = c->head == HEAD_SEQUENCE ? take(cv, (size_t)B * D) : NULL;
    a->rope_cos = take(cv, (size_t)T * (c->head_dim / 2));
    a->rope_sin = take(cv, (size_t)T * (c->head_dim / 2));
    a->dx = take(cv, N * D);
    a->dxn = take(cv, N * D);
    a->dq = take(cv, N * maxQ);
    a->dao = take(cv, N * maxQ);
    a->dk = take(cv, N * maxK);
    a->dv = take(cv, N * maxK);
    a->dg = take(cv, N * maxF);
    a->du = take(cv, N * maxF);
    a->dh = take(cv, N * maxF);
    a->dz = take(cv, N * (r > 0 ? r : 1));
    a->dS = take(cv, (size_t)B * T * T);
}

TrainActs *train_acts_alloc(const ModelConfig *c, const ElasticView *v, int B, int T, int r) {
    TrainActs *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    Carver count = {NULL, 0};
    carve(a, c, v, B, T, r, &count);
    a->n_floats = count.used;
    a->buf = aligned_alloc(64, sizeof(float) * count.used);
    size_t nt = (size_t)model_head_targets(c, T), rows = (size_t)B * (nt > (size_t)T ? nt : (size_t)T);
    a->tokens = malloc(sizeof(int) * (size_t)B * T);
    a->targets = malloc(sizeof(int) * rows);
    a->row_loss = malloc(sizeof(double) * rows);
    if (!a->buf || !a->tokens || !a->targets || !a->row_loss) {
        train_acts_free(a);
        return NULL;
    }
    memset(a->buf, 0, sizeof(float) * count.used);
    Carver real = {a->buf, 0};
    carve(a, c, v, B, T, r, &real);
    a->B = B;
    a->T = T;
    return a;
}

void train_acts_free(TrainActs *a) {
    if (!a) return;
    free(a->buf);
    free(a->tokens);
    free(a->targets);
    free(a->row_loss);
    free(a);
}
