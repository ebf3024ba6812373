/* train_head: the output head in training (see train_head.h). Language-model and token heads are row-parallel
 * cross-entropy over every position (the kernels of train_par.c); sequence heads pool each sequence first and
 * compute their few losses serially. */
#include "engine/train_head.h"

#include <string.h>

#include "engine/ops.h"
#include "engine/train_acts.h"
#include "engine/train_par.h"

int head_check_targets(const ModelConfig *c, const int *targets, int B, int T, Err *e) {
    int nt = model_head_targets(c, T), W = model_head_width(c);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < nt; i++) {
            int y = targets[(size_t)b * nt + i], hi;
            const char *what;
            if (c->head != HEAD_SEQUENCE) {
                hi = W;
                what = c->head == HEAD_LM ? "position" : "position (token label)";
            } else if (c->multi_label) {
                hi = 2;
                what = "label (multi-label: 0 or 1)";
            } else {
                hi = c->group_size[i];
                what = "label group";
            }
            if (y < -1 || y >= hi)
                return err_set(e, "train_forward: target of sequence %d, %s %d is %d, expected -1 or [0, %d)", b, what,
                               i, y, hi);
        }
    return 0;
}

/* pool: pooled (B, dim) = the mean over each sequence's T rows of xf (N, dim), summed in position order. */
static void pool(float *pooled, const float *xf, int B, int T, int D) {
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) {
            float acc = 0.0f;
            for (int i = 0; i < T; i++) acc += xf[((size_t)b * T + i) * D + j];
            pooled[(size_t)b * D + j] = acc / (float)T;
        }
}

void head_forward(Trainer *t, int B, int T) {
    TrainActs *A = t->acts;
    const ModelConfig *c = &t->model->cfg;
    const ModelWeights *w = &t->model->w;
    int N = B * T, D = c->dim, W = model_head_width(c);
    if (c->head == HEAD_LM) {
        matmul_nt(A->logits, A->xf, w->lm_head, N, D, W, D, 0);
        return;
    }
    const float *h = A->xf;
    int rows = N;
    if (c->head == HEAD_SEQUENCE) {
        pool(A->pooled, A->xf, B, T, D);
        h = A->pooled;
        rows = B;
    }
    for (int i = 0; i < rows; i++) memcpy(A->logits + (size_t)i * W, w->cls_b, sizeof(float) * (size_t)W);
    matmul_nt(A->logits, h, w->cls_w, rows, D, W, D, 1); /* logits (rows, W) += h (rows, D) . cls_w^T */
}

/* Single-label sequence head: the targets of sequence b, one per label group; each group's logits are a softmax. */
static double seq_groups_loss(const ModelConfig *c, const float *logits, const int *targets, int B) {
    double sum = 0.0;
    for (int b = 0; b < B; b++)
        for (int g = 0, off = 0; g < c->n_groups; off += c->group_size[g++]) {
            const int *y = targets + (size_t)b * c->n_groups + g;
            sum += cross_entropy_forward(NULL, logits + (size_t)b * c->n_labels + off, y, 1, c->group_size[g]);
        }
    return sum;
}

double head_loss(Trainer *t, const int *targets, int B, int T, long *counted) {
    TrainActs *A = t->acts;
    const ModelConfig *c = &t->model->cfg;
    int nt = model_head_targets(c, T), W = model_head_width(c);
    *counted = 0;
    for (long i = 0; i < (long)B * nt; i++) *counted += targets[i] >= 0;
    if (c->head != HEAD_SEQUENCE)
        return par_cross_entropy_forward(t->pool, A->row_loss, A->logits, targets, B * T, W);
    if (c->multi_label) return bce_logits_forward(NULL, A->logits, targets, B * W);
    return seq_groups_loss(c, A->logits, targets, B);
}

/* The bias gradient: gb (W) += the column sums of dlogits (rows, W), rows in order. */
static void bias_backward(float *gb, const float *dlogits, int rows, int W) {
    for (int i = 0; i < rows; i++)
        for (int o = 0; o < W; o++) gb[o] += dlogits[(size_t)i * W + o];
}

/* Sequence heads: dlogits (B, W) in place, then back through the classifier to dpooled (B, dim), and each of a
 * sequence's T positions receives dpooled / T. */
static void seq_backward(Trainer *t, float scale, bool full) {
    TrainActs *A = t->acts;
    const ModelConfig *c = &t->model->cfg;
    int B = A->cur_B, T = A->cur_T, D = c->dim, W = c->n_labels;
    if (c->multi_label) {
        bce_logits_backward(A->logits, A->logits, A->targets, B * W, scale);
    } else {
        for (int b = 0; b < B; b++)
            for (int g = 0, off = 0; g < c->n_groups; off += c->group_size[g++]) {
                float *x = A->logits + (size_t)b * W + off;
                cross_entropy_backward(x, x, A->targets + (size_t)b * c->n_groups + g, 1, c->group_size[g], scale);
            }
    }
    matmul_nt_backward(A->dpooled, full ? t->gw.cls_w : NULL, A->logits, A->pooled, t->model->w.cls_w, B, D, W, D,
                       0);
    if (full) bias_backward(t->gw.cls_b, A->logits, B, W);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            float *d = A->dxn + ((size_t)b * T + i) * D;
            const float *p = A->dpooled + (size_t)b * D;
            for (int j = 0; j < D; j++) d[j] = p[j] / (float)T;
        }
}

void head_backward(Trainer *t, float scale) {
    TrainActs *A = t->acts;
    const ModelConfig *c = &t->model->cfg;
    const ModelWeights *w = &t->model->w;
    bool full = t->lora == NULL;
    int N = A->cur_B * A->cur_T, D = c->dim, W = model_head_width(c);
    if (c->head == HEAD_SEQUENCE) {
        seq_backward(t, scale, full);
        return;
    }
    par_cross_entropy_backward(t->pool, A->logits, A->logits, A->targets, N, W, scale);
    const float *hw = c->head == HEAD_LM ? w->lm_head : w->cls_w;
    float *ghw = !full ? NULL : c->head == HEAD_LM ? t->gw.lm_head : t->gw.cls_w;
    matmul_nt_backward(A->dxn, ghw, A->logits, A->xf, hw, N, D, W, D, 0);
    if (full && c->head == HEAD_TOKEN) bias_backward(t->gw.cls_b, A->logits, N, W);
}
