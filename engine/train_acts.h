/* train_acts: the activations a training forward keeps for its backward, and the backward's scratch, carved from
 * one allocation sized for the trainer's batch (B sequences of T tokens, N = B*T rows), view (per-layer active
 * widths: QW = active query heads * head_dim, KW = active KV groups * head_dim, FW = active FFN neurons) and head
 * (HW = model_head_width: the vocabulary or the labels; NT = targets per sequence, model_head_targets).
 * Private to engine/train_*.c. */
#ifndef ELMS_TRAIN_ACTS_H
#define ELMS_TRAIN_ACTS_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/model.h"

/* LoRA slots, in the order of LoraLayer. */
enum { LZ_Q, LZ_K, LZ_V, LZ_O, LZ_GATE, LZ_UP, LZ_DOWN, LZ_COUNT };

typedef struct TrainLayerActs {
    int nq, QW, KW;     /* active query heads, their width, the active KV width (0 when attention is off) */
    int FW;             /* active FFN neurons (0 when the MLP is off) */
    float *x_in;        /* (N, dim) residual stream entering the layer */
    float *xn1;         /* (N, dim) attn_norm(x_in) */
    float *rstd1;       /* (N) */
    float *q;           /* (N, QW) after RoPE */
    float *k, *v;       /* (N, KW) k after RoPE */
    float *att;         /* (B, nq, T, T) softmax probabilities */
    float *ao;          /* (N, QW) attention output, the input of o_proj */
    float *x_mid;       /* (N, dim) residual after the attention block */
    float *xn2;         /* (N, dim) ffn_norm(x_mid) */
    float *rstd2;       /* (N) */
    float *g, *u, *h;   /* (N, FW) gate, up, silu(gate) * up */
    float *lz[LZ_COUNT]; /* LoRA mode: (N, rank) (alpha/rank) * A x of each adapted projection */
} TrainLayerActs;

typedef struct TrainActs {
    int B, T;                 /* capacity */
    int cur_B, cur_T;         /* shape of the last forward */
    bool have_targets;        /* the last forward had targets and its logits are intact (backward allowed) */
    bool have_input_grad;     /* dx holds the input gradient of the last forward (train_input_grad) */
    float *buf;               /* the one allocation */
    size_t n_floats;
    TrainLayerActs layer[ELMS_MAX_LAYERS];
    float *x_final;           /* (N, dim) residual after the last layer */
    float *xf;                /* (N, dim) final_norm(x_final) */
    float *rstdf;             /* (N) */
    float *logits;            /* (N, HW) per position, or (B, HW) for a sequence head; becomes dlogits in backward */
    float *pooled, *dpooled;  /* sequence heads: (B, dim) mean of xf over each sequence, and its gradient */
    int *tokens;              /* (N) a copy of the last forward's inputs */
    int *targets;             /* (B, NT) a copy of its targets */
    int NT;                   /* targets per sequence of the last forward */
    float *rope_cos, *rope_sin; /* (T, head_dim/2) */
    /* backward scratch */
    float *dx, *dxn;          /* (N, dim) residual gradient and a norm-output gradient */
    float *dq, *dao;          /* (N, max QW) */
    float *dk, *dv;           /* (N, max KW) */
    float *dg, *du, *dh;      /* (N, max FW) */
    float *dz;                /* (N, rank) */
    float *dS;                /* (B, T, T) attention score gradients, one (T, T) per sequence */
    double *row_loss;         /* (max(N, B*NT)) loss of each row (or target) */
} TrainActs;

/* train_acts_alloc: size and carve for B x T under view v (with LoRA rank r, 0 for none) and c's head. */
TrainActs *train_acts_alloc(const ModelConfig *c, const ElasticView *v, int B, int T, int r);
void train_acts_free(TrainActs *a);

#endif
