/* train_step: one optimizer step (gradient accumulation over micro-batches from a DataLoader, then
 * train_update), and train_eval: the mean loss over a token stream's windows, forward only. */
#include <math.h>

#include "engine/train.h"
#include "engine/train_acts.h"

int train_step(Trainer *t, DataLoader *d, TrainStepStats *st, Err *e) {
    const TrainConfig *c = &t->cfg;
    if (d->seq != c->seq) return err_set(e, "train_step: loader windows of %d tokens, trainer seq %d", d->seq, c->seq);
    train_zero_grad(t);
    double loss_sum = 0.0;
    long tokens = 0;
    int micro = 0;
    for (int a = 0; a < c->accum; a++) {
        data_next_batch(d, t->inputs, t->targets, c->batch);
        double loss;
        long counted;
        if (train_forward(t, t->inputs, t->targets, c->batch, c->seq, &loss, &counted, e) != 0) return -1;
        if (counted == 0) continue;
        /* each micro-batch contributes its mean loss / accum */
        if (train_backward(t, 1.0f / ((float)counted * (float)c->accum), e) != 0) return -1;
        loss_sum += loss;
        tokens += counted;
        micro++;
    }
    double norm = train_grad_norm(t);
    float lr = train_lr(c, t->step);
    if (!isfinite(norm))
        return err_set(e, "train_step: step %ld: gradient norm is not finite (loss %g); lower --lr or --clip",
                       t->step + 1, micro ? loss_sum / micro : NAN);
    train_update(t, lr, norm);
    t->tokens += tokens;
    if (st) {
        st->loss = micro ? loss_sum / (double)micro : NAN;
        st->grad_norm = norm;
        st->lr = lr;
        st->tokens = tokens;
    }
    return 0;
}

int train_eval(Trainer *t, const TokenData *data, long max_windows, double *loss, Err *e) {
    int T = t->cfg.seq, B = t->cfg.batch;
    if (data->n < (size_t)T + 1) return err_set(e, "train_eval: %zu tokens, need at least %d", data->n, T + 1);
    long n_win = (long)((data->n - 1) / (size_t)T);
    if (max_windows > 0 && n_win > max_windows) n_win = max_windows;
    double sum = 0.0;
    long count = 0;
    for (long w0 = 0; w0 < n_win; w0 += B) {
        int nb = (int)(n_win - w0 < B ? n_win - w0 : B);
        for (int b = 0; b < nb; b++) {
            const int *src = data->tok + (size_t)(w0 + b) * T;
            for (int i = 0; i < T; i++) {
                t->inputs[(size_t)b * T + i] = src[i];
                t->targets[(size_t)b * T + i] = src[i + 1];
            }
        }
        double l;
        long counted;
        if (train_forward(t, t->inputs, t->targets, nb, T, &l, &counted, e) != 0) return -1;
        sum += l * (double)counted;
        count += counted;
    }
    t->acts->have_targets = false; /* an evaluation is not something to backpropagate */
    *loss = count ? sum / (double)count : NAN;
    return 0;
}
