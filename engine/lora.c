/* lora: allocation, canonical carving and initialisation of LoRA adapters (see Lora in model.h). The
 * forward pass applies them in model_forward.c; the trainer carves gradients with lora_carve. */
#include "engine/model.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LORA_MAX_RANK 256

/* Per-layer (in, out) of the seven adapted projections, in carving order q, k, v, o, gate, up, down. */
static void lora_dims(const ModelConfig *c, int in[7], int out[7]) {
    int d = c->dim, qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim, f = c->ffn_dim;
    int i_[7] = {d, d, d, qd, d, d, f}, o_[7] = {qd, kd, kd, d, f, f, d};
    memcpy(in, i_, sizeof i_);
    memcpy(out, o_, sizeof o_);
}

size_t lora_param_count(const ModelConfig *c, int rank) {
    int in[7], out[7];
    lora_dims(c, in, out);
    size_t per = 0;
    for (int i = 0; i < 7; i++) per += (size_t)rank * (size_t)(in[i] + out[i]);
    return per * (size_t)c->n_layers;
}

void lora_carve(const ModelConfig *c, int rank, float *base, Lora *a) {
    int in[7], out[7];
    lora_dims(c, in, out);
    a->rank = rank;
    a->n_layers = c->n_layers;
    float *p = base;
    for (int l = 0; l < c->n_layers; l++) {
        LoraLayer *L = &a->layer[l];
        float **A[7] = {&L->a_q, &L->a_k, &L->a_v, &L->a_o, &L->a_gate, &L->a_up, &L->a_down};
        float **B[7] = {&L->b_q, &L->b_k, &L->b_v, &L->b_o, &L->b_gate, &L->b_up, &L->b_down};
        for (int i = 0; i < 7; i++) {
            *A[i] = p;
            p += (size_t)rank * in[i];
            *B[i] = p;
            p += (size_t)out[i] * rank;
        }
    }
}

int lora_alloc(Lora *a, const ModelConfig *c, int rank, float alpha, Err *e) {
    memset(a, 0, sizeof *a);
    if (rank < 1 || rank > LORA_MAX_RANK) return err_set(e, "LoRA rank %d: expected 1 to %d", rank, LORA_MAX_RANK);
    if (!(alpha > 0.0f) || !isfinite(alpha)) return err_set(e, "LoRA alpha %g: expected a positive number", alpha);
    a->n_params = lora_param_count(c, rank);
    a->params = calloc(a->n_params, sizeof(float));
    if (!a->params) return err_set(e, "out of memory allocating a LoRA adapter of %zu parameters", a->n_params);
    a->alpha = alpha;
    lora_carve(c, rank, a->params, a);
    return 0;
}

void lora_free(Lora *a) {
    free(a->params);
    memset(a, 0, sizeof *a);
}

void lora_init(Lora *a, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    memset(a->params, 0, sizeof(float) * a->n_params);
    for (int l = 0; l < a->n_layers; l++) {
        LoraLayer *L = &a->layer[l];
        float *A[7] = {L->a_q, L->a_k, L->a_v, L->a_o, L->a_gate, L->a_up, L->a_down};
        float *B[7] = {L->b_q, L->b_k, L->b_v, L->b_o, L->b_gate, L->b_up, L->b_down};
        for (int i = 0; i < 7; i++) {
            /* A's size is rank*in; in = (B - A) / rank in the carved layout. */
            size_t n = (size_t)(B[i] - A[i]);
            double bound = 1.0 / sqrt((double)n / a->rank);
            for (size_t j = 0; j < n; j++) A[i][j] = (float)((2.0 * gsl_rng_uniform(r) - 1.0) * bound);
        }
    }
    gsl_rng_free(r);
    lora_rehash(a);
}
