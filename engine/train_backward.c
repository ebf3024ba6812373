/* train_backward: the backward pass of train_forward, from the head (train_head.c) through the layers in reverse.
 * Every linear layer takes two sgemm calls (input gradient, weight gradient); in LoRA mode the base weight
 * gradients are skipped and only the adapter's are formed. Gradients accumulate into t->grad (only the rows of
 * active units are touched); the residual gradient left at the bottom is the input gradient (train_input_grad). */
#include <string.h>

#include "engine/ops.h"
#include "engine/train.h"
#include "engine/train_acts.h"
#include "engine/train_head.h"
#include "engine/train_par.h"

/* Backward of y += B[:out] z with z = s * x A^T (lora_forward): dB[:out] += dy^T z; dz = s * dy B;
 * dA (r, k; stride lda) += dz^T x; dx (n, k) += dz A. dz: (n, r) scratch. */
static void lora_backward(float *dx, const float *dy, const float *x, int n, int k, const float *A, float *dA,
                          int lda, const float *B, float *dB, int out, int r, float s, const float *z, float *dz) {
    matmul_nt_backward(dz, dB, dy, z, B, n, r, out, r, 0);
    for (size_t i = 0; i < (size_t)n * r; i++) dz[i] *= s;
    matmul_nt_backward(dx, dA, dz, x, A, n, k, r, lda, 1);
}

/* In full mode the gradient tensor of a weight, in LoRA mode NULL (the base is frozen). */
#define GW(field) (full ? gw->field : NULL)

static void ffn_backward(Trainer *t, int l, int N) {
    TrainActs *A = t->acts;
    TrainLayerActs *L = &A->layer[l];
    const ModelConfig *c = &t->model->cfg;
    const LayerWeights *w = &t->model->w.layer[l];
    const LayerWeights *gw = &t->gw.layer[l];
    const Lora *lo = t->view.lora;
    int full = lo == NULL, D = c->dim, FW = L->FW;
    float s = lo ? lo->alpha / (float)lo->rank : 0.0f;
    /* x_out = x_mid + h W_down_t[:FW] (+ LoRA) */
    matmul_nn_backward(A->dh, GW(w_down_t), A->dx, L->h, FW, w->w_down_t, D, N, FW, D, 0);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        LoraLayer *ga = &t->gl.layer[l];
        lora_backward(A->dh, A->dx, L->h, N, FW, a->a_down, ga->a_down, c->ffn_dim, a->b_down, ga->b_down, D,
                      lo->rank, s, L->lz[LZ_DOWN], A->dz);
    }
    par_swiglu_backward(t->pool, A->dg, A->du, A->dh, L->g, L->u, N, FW);
    matmul_nt_backward(A->dxn, GW(w_gate), A->dg, L->xn2, w->w_gate, N, D, FW, D, 0);
    matmul_nt_backward(A->dxn, GW(w_up), A->du, L->xn2, w->w_up, N, D, FW, D, 1);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        LoraLayer *ga = &t->gl.layer[l];
        lora_backward(A->dxn, A->dg, L->xn2, N, D, a->a_gate, ga->a_gate, D, a->b_gate, ga->b_gate, FW, lo->rank,
                      s, L->lz[LZ_GATE], A->dz);
        lora_backward(A->dxn, A->du, L->xn2, N, D, a->a_up, ga->a_up, D, a->b_up, ga->b_up, FW, lo->rank, s,
                      L->lz[LZ_UP], A->dz);
    }
    par_rmsnorm_backward(t->pool, A->dx, GW(ffn_norm), A->dxn, L->x_mid, w->ffn_norm, L->rstd2, N, D);
}

static void attention_backward_block(Trainer *t, int l, int B, int T) {
    TrainActs *A = t->acts;
    TrainLayerActs *L = &A->layer[l];
    const ModelConfig *c = &t->model->cfg;
    const LayerWeights *w = &t->model->w.layer[l];
    const LayerWeights *gw = &t->gw.layer[l];
    const Lora *lo = t->view.lora;
    int full = lo == NULL, N = B * T, D = c->dim, hd = c->head_dim, QW = L->QW, KW = L->KW;
    float s = lo ? lo->alpha / (float)lo->rank : 0.0f;
    /* x_mid = x_in + ao W_o_t[:QW] (+ LoRA) */
    matmul_nn_backward(A->dao, GW(wo_t), A->dx, L->ao, QW, w->wo_t, D, N, QW, D, 0);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        LoraLayer *ga = &t->gl.layer[l];
        lora_backward(A->dao, A->dx, L->ao, N, QW, a->a_o, ga->a_o, c->n_heads * hd, a->b_o, ga->b_o, D, lo->rank,
                      s, L->lz[LZ_O], A->dz);
    }
    par_attention_backward(t->pool, A->dq, A->dk, A->dv, A->dS, A->dao, L->att, L->q, L->k, L->v, B, T, L->nq,
                           KW / hd, hd, A->rope_cos, A->rope_sin, !c->bidirectional);
    matmul_nt_backward(A->dxn, GW(wq), A->dq, L->xn1, w->wq, N, D, QW, D, 0);
    matmul_nt_backward(A->dxn, GW(wk), A->dk, L->xn1, w->wk, N, D, KW, D, 1);
    matmul_nt_backward(A->dxn, GW(wv), A->dv, L->xn1, w->wv, N, D, KW, D, 1);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        LoraLayer *ga = &t->gl.layer[l];
        lora_backward(A->dxn, A->dq, L->xn1, N, D, a->a_q, ga->a_q, D, a->b_q, ga->b_q, QW, lo->rank, s,
                      L->lz[LZ_Q], A->dz);
        lora_backward(A->dxn, A->dk, L->xn1, N, D, a->a_k, ga->a_k, D, a->b_k, ga->b_k, KW, lo->rank, s,
                      L->lz[LZ_K], A->dz);
        lora_backward(A->dxn, A->dv, L->xn1, N, D, a->a_v, ga->a_v, D, a->b_v, ga->b_v, KW, lo->rank, s,
                      L->lz[LZ_V], A->dz);
    }
    par_rmsnorm_backward(t->pool, A->dx, GW(attn_norm), A->dxn, L->x_in, w->attn_norm, L->rstd1, N, D);
}

int train_backward(Trainer *t, float scale, Err *e) {
    TrainActs *A = t->acts;
    if (!A->have_targets) return err_set(e, "train_backward: no forward with targets to backpropagate");
    const ModelConfig *c = &t->model->cfg;
    const ModelWeights *w = &t->model->w;
    const ModelWeights *gw = &t->gw;
    int full = t->lora == NULL, B = A->cur_B, T = A->cur_T, N = B * T, D = c->dim;
    A->have_targets = false;

    head_backward(t, scale);
    memset(A->dx, 0, sizeof(float) * (size_t)N * D);
    par_rmsnorm_backward(t->pool, A->dx, GW(final_norm), A->dxn, A->x_final, w->final_norm, A->rstdf, N, D);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        if (A->layer[l].FW) ffn_backward(t, l, N);
        if (A->layer[l].QW) attention_backward_block(t, l, B, T);
    }
    if (full) embedding_backward(gw->tok_emb, A->dx, A->tokens, N, D);
    A->have_input_grad = true; /* dx now holds the gradient with respect to the input embeddings */
    return 0;
}
