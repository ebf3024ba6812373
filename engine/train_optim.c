/* train_optim: the optimizer side of training: learning-rate schedule (linear warm-up, cosine decay), global
 * gradient norm and clipping, and AdamW with decoupled weight decay applied per parameter range. */
#include <math.h>
#include <string.h>

#include "engine/train.h"

float train_lr(const TrainConfig *c, long step) {
    if (step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    if (c->steps <= c->warmup) return c->lr;
    double p = (double)(step - c->warmup) / (double)(c->steps - c->warmup);
    if (p > 1.0) p = 1.0;
    return (float)(c->min_lr + 0.5 * (c->lr - c->min_lr) * (1.0 + cos(M_PI * p)));
}

void train_zero_grad(Trainer *t) { memset(t->grad, 0, sizeof(float) * t->n_train); }

double train_grad_norm(const Trainer *t) {
    double s = 0.0;
    const float *g = t->grad;
    for (size_t i = 0; i < t->n_train; i++) s += (double)g[i] * (double)g[i];
    return sqrt(s);
}

/* AdamW (Loshchilov & Hutter): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p) with bias-corrected m_hat, v_hat; wd only where decay. */
void train_update(Trainer *t, float lr, double grad_norm) {
    const TrainConfig *c = &t->cfg;
    float clip = c->clip > 0.0f && grad_norm > (double)c->clip ? (float)((double)c->clip / grad_norm) : 1.0f;
    t->step++;
    float b1 = c->beta1, b2 = c->beta2, eps = c->adam_eps;
    float bc1 = (float)(1.0 - pow((double)b1, (double)t->step));
    float bc2 = (float)(1.0 - pow((double)b2, (double)t->step));
    float inv_bc1 = 1.0f / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    for (int s = 0; s < t->n_segs; s++) {
        const TrainSeg *sg = &t->segs[s];
        float wd = sg->decay ? c->wd : 0.0f;
        float *p = t->params + sg->off, *m = t->m + sg->off, *v = t->v + sg->off;
        const float *g = t->grad + sg->off;
        for (size_t i = 0; i < sg->len; i++) {
            float gi = g[i] * clip;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            float upd = (m[i] * inv_bc1) / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
            p[i] -= lr * (upd + wd * p[i]);
        }
    }
}
