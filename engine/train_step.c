/* train_step: one optimizer step (gradient accumulation over micro-batches from a BatchSource, then
 * train_update), and the forward-only evaluations: train_eval (the mean loss over a token stream's windows) and
 * train_eval_examples (over labelled examples). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/train.h"
#include "engine/train_acts.h"

/* targets_fit: the targets a data source hands out are the ones the model's head needs: one per token for language
 * models and token heads, model_head_targets per sequence for sequence heads. */
static int targets_fit(const ModelConfig *c, int targets_per_seq, const char *what, Err *e) {
    int want = c->head == HEAD_SEQUENCE ? model_head_targets(c, 0) : 0;
    if (targets_per_seq == want) return 0;
    char have[64], need[96];
    if (targets_per_seq) snprintf(have, sizeof have, "%d targets per sequence", targets_per_seq);
    else snprintf(have, sizeof have, "one target per token");
    if (want)
        snprintf(need, sizeof need, "%d per sequence (one per %s)", want, c->multi_label ? "label" : "label group");
    else snprintf(need, sizeof need, "one per token");
    return err_set(e, "%s: the data has %s, but the model's %s head needs %s", what, have, model_head_name(c->head),
                   need);
}

/* windows_fit: token windows (next-token targets) train language models only. */
static int windows_fit(const ModelConfig *c, const char *what, Err *e) {
    if (c->head == HEAD_LM) return 0;
    return err_set(e, "%s: token windows have next-token targets, which train a language model; a %s head trains on "
                      "labelled examples (ExampleSet)", what, model_head_name(c->head));
}

int train_step_source(Trainer *t, BatchSource *src, TrainStepStats *st, Err *e) {
    const TrainConfig *c = &t->cfg;
    if (targets_fit(&t->model->cfg, src->targets_per_seq, "train_step", e) != 0) return -1;
    if (!strcmp(src->kind, "windows") && windows_fit(&t->model->cfg, "train_step", e) != 0) return -1;
    train_zero_grad(t);
    double loss_sum = 0.0;
    long tokens = 0;
    int micro = 0;
    for (int a = 0; a < c->accum; a++) {
        int B, T;
        if (src->next(src->self, c->batch, c->seq, t->inputs, t->targets, &B, &T, e) != 0) return -1;
        double loss;
        long counted;
        if (train_forward(t, t->inputs, t->targets, B, T, &loss, &counted, e) != 0) return -1;
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

int train_step(Trainer *t, DataLoader *d, TrainStepStats *st, Err *e) {
    BatchSource src = data_loader_source(d);
    return train_step_source(t, &src, st, e);
}

int train_eval(Trainer *t, const TokenData *data, long max_windows, double *loss, Err *e) {
    int T = t->cfg.seq, B = t->cfg.batch;
    if (windows_fit(&t->model->cfg, "train_eval", e) != 0) return -1;
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

int train_eval_examples(Trainer *t, const ExampleSet *s, long max_examples, double *loss, Err *e) {
    if (targets_fit(&t->model->cfg, s->n_targets, "train_eval_examples", e) != 0) return -1;
    long n = max_examples > 0 && max_examples < s->n ? max_examples : s->n;
    double sum = 0.0;
    long count = 0;
    for (long i = 0; i < n; i++) {
        const int *tok, *tgt;
        int len;
        examples_get(s, (int)i, &tok, &len, &tgt);
        if (len > t->cfg.seq)
            return err_set(e, "train_eval_examples: example %ld has %d tokens, more than the trainer's seq %d", i, len,
                           t->cfg.seq);
        double l;
        long counted;
        if (train_forward(t, tok, tgt, 1, len, &l, &counted, e) != 0) return err_prefix(e, "example %ld", i);
        if (counted) sum += l * (double)counted;
        count += counted;
    }
    t->acts->have_targets = false;
    *loss = count ? sum / (double)count : NAN;
    return 0;
}
