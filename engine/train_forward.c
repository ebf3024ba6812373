/* train_forward: the training forward pass. The batch runs as (N = B*T, dim) matrices through every linear layer
 * (one sgemm each), attention per (sequence, head), then the head (train_head.c); every activation the backward
 * needs is kept in TrainActs. Numerically the same computation as model_prefill (model_classify for classifier
 * heads) under the same view. */
#include <math.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/train.h"
#include "engine/train_acts.h"
#include "engine/train_head.h"
#include "engine/train_par.h"

/* y (n, out) += B[:out] (s A x): z (n, r) = s * x (n, k) A^T (A (r, k) with row stride lda) is kept in z. */
static void lora_forward(float *y, const float *x, int n, int k, const float *A, int lda, const float *B, int out,
                         int r, float s, float *z) {
    matmul_nt(z, x, A, n, k, r, lda, 0);
    for (size_t i = 0; i < (size_t)n * r; i++) z[i] *= s;
    matmul_nt(y, z, B, n, r, out, r, 1);
}

static void attention_block(Trainer *t, int l, int B, int T) {
    TrainActs *A = t->acts;
    TrainLayerActs *L = &A->layer[l];
    const ModelConfig *c = &t->model->cfg;
    const LayerWeights *w = &t->model->w.layer[l];
    const Lora *lo = t->view.lora;
    int N = B * T, D = c->dim, hd = c->head_dim, QW = L->QW, KW = L->KW, NHD = c->n_heads * hd;
    par_rmsnorm_forward(t->pool, L->xn1, L->rstd1, L->x_in, w->attn_norm, N, D, c->norm_eps);
    matmul_nt(L->q, L->xn1, w->wq, N, D, QW, D, 0);
    matmul_nt(L->k, L->xn1, w->wk, N, D, KW, D, 0);
    matmul_nt(L->v, L->xn1, w->wv, N, D, KW, D, 0);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        float s = lo->alpha / (float)lo->rank;
        lora_forward(L->q, L->xn1, N, D, a->a_q, D, a->b_q, QW, lo->rank, s, L->lz[LZ_Q]);
        lora_forward(L->k, L->xn1, N, D, a->a_k, D, a->b_k, KW, lo->rank, s, L->lz[LZ_K]);
        lora_forward(L->v, L->xn1, N, D, a->a_v, D, a->b_v, KW, lo->rank, s, L->lz[LZ_V]);
    }
    par_attention_forward(t->pool, L->ao, L->att, L->q, L->k, L->v, B, T, L->nq, KW / hd, hd, A->rope_cos,
                          A->rope_sin, !c->bidirectional);
    memcpy(L->x_mid, L->x_in, sizeof(float) * (size_t)N * D);
    matmul_nn(L->x_mid, L->ao, QW, w->wo_t, D, N, QW, D, 1);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        lora_forward(L->x_mid, L->ao, N, QW, a->a_o, NHD, a->b_o, D, lo->rank, lo->alpha / (float)lo->rank,
                     L->lz[LZ_O]);
    }
}

static void ffn_block(Trainer *t, int l, int N, float *x_out) {
    TrainLayerActs *L = &t->acts->layer[l];
    const ModelConfig *c = &t->model->cfg;
    const LayerWeights *w = &t->model->w.layer[l];
    const Lora *lo = t->view.lora;
    int D = c->dim, FW = L->FW;
    par_rmsnorm_forward(t->pool, L->xn2, L->rstd2, L->x_mid, w->ffn_norm, N, D, c->norm_eps);
    matmul_nt(L->g, L->xn2, w->w_gate, N, D, FW, D, 0);
    matmul_nt(L->u, L->xn2, w->w_up, N, D, FW, D, 0);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        float s = lo->alpha / (float)lo->rank;
        lora_forward(L->g, L->xn2, N, D, a->a_gate, D, a->b_gate, FW, lo->rank, s, L->lz[LZ_GATE]);
        lora_forward(L->u, L->xn2, N, D, a->a_up, D, a->b_up, FW, lo->rank, s, L->lz[LZ_UP]);
    }
    par_swiglu_forward(t->pool, L->h, L->g, L->u, N, FW);
    memcpy(x_out, L->x_mid, sizeof(float) * (size_t)N * D);
    matmul_nn(x_out, L->h, FW, w->w_down_t, D, N, FW, D, 1);
    if (lo) {
        const LoraLayer *a = &lo->layer[l];
        lora_forward(x_out, L->h, N, FW, a->a_down, c->ffn_dim, a->b_down, D, lo->rank,
                     lo->alpha / (float)lo->rank, L->lz[LZ_DOWN]);
    }
}

int train_forward(Trainer *t, const int *inputs, const int *targets, int B, int T, double *loss, long *n_counted,
                  Err *e) {
    TrainActs *A = t->acts;
    const ModelConfig *c = &t->model->cfg;
    if (B < 1 || B > A->B || T < 1 || T > A->T)
        return err_set(e, "train_forward: batch %d x %d outside the trainer's 1..%d x 1..%d", B, T, A->B, A->T);
    int N = B * T, D = c->dim, V = c->vocab_size, NT = model_head_targets(c, T);
    for (int i = 0; i < N; i++)
        if (inputs[i] < 0 || inputs[i] >= V)
            return err_set(e, "train_forward: input token %d (row %d) is %d, expected [0, %d)", i % T, i / T,
                           inputs[i], V);
    if (targets && head_check_targets(c, targets, B, T, e) != 0) return -1;
    A->cur_B = B;
    A->cur_T = T;
    A->NT = NT;
    A->have_targets = false;
    A->have_input_grad = false;
    memcpy(A->tokens, inputs, sizeof(int) * (size_t)N);
    if (targets) memcpy(A->targets, targets, sizeof(int) * (size_t)B * NT);

    float *x0 = c->n_layers > 0 ? A->layer[0].x_in : A->x_final;
    embedding_forward(x0, t->model->w.tok_emb, inputs, N, D);
    for (int l = 0; l < c->n_layers; l++) {
        TrainLayerActs *L = &A->layer[l];
        float *x_out = l + 1 < c->n_layers ? A->layer[l + 1].x_in : A->x_final;
        if (L->QW) attention_block(t, l, B, T);
        else memcpy(L->x_mid, L->x_in, sizeof(float) * (size_t)N * D);
        if (L->FW) ffn_block(t, l, N, x_out);
        else memcpy(x_out, L->x_mid, sizeof(float) * (size_t)N * D);
    }
    par_rmsnorm_forward(t->pool, A->xf, A->rstdf, A->x_final, t->model->w.final_norm, N, D, c->norm_eps);
    head_forward(t, B, T);

    long counted = 0;
    double sum = 0.0;
    if (targets) {
        sum = head_loss(t, targets, B, T, &counted);
        A->have_targets = true;
    }
    if (loss) *loss = counted ? sum / (double)counted : NAN;
    if (n_counted) *n_counted = counted;
    return 0;
}

const float *train_logits(const Trainer *t) { return t->acts->logits; }

const float *train_input_grad(const Trainer *t) { return t->acts->have_input_grad ? t->acts->dx : NULL; }
