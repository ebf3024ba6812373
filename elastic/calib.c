/* calib: seeded calibration windows and the losses / logit comparisons computed on them (see calib.h). */
#include "elastic/calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"

int calib_sample(Calib *c, const TokenData *d, int n, int seq, unsigned long seed, Err *e) {
    memset(c, 0, sizeof *c);
    if (n < 1 || seq < 1) return err_set(e, "calibration: %d windows of %d tokens, expected both >= 1", n, seq);
    DataLoader l;
    if (data_loader_init(&l, d, seq, seed, e)) return err_prefix(e, "calibration");
    c->inputs = malloc(sizeof(int) * (size_t)n * (size_t)seq);
    c->targets = malloc(sizeof(int) * (size_t)n * (size_t)seq);
    if (!c->inputs || !c->targets) {
        data_loader_free(&l);
        calib_free(c);
        return err_set(e, "calibration: out of memory for %d windows of %d tokens", n, seq);
    }
    data_next_batch(&l, c->inputs, c->targets, n);
    data_loader_free(&l);
    c->n = n;
    c->seq = seq;
    return 0;
}

void calib_free(Calib *c) {
    free(c->inputs);
    free(c->targets);
    memset(c, 0, sizeof *c);
}

int calib_loss(const Model *m, const ElasticView *v, const Calib *c, double *loss, Err *e) {
    if (c->seq > m->cfg.max_seq)
        return err_set(e, "calibration windows of %d tokens exceed the model context of %d", c->seq, m->cfg.max_seq);
    int V = m->cfg.vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)c->seq * (size_t)V);
    if (!logits) return err_set(e, "calibration: out of memory");
    double sum = 0.0;
    for (int i = 0; i < c->n; i++) {
        const int *in = c->inputs + (size_t)i * c->seq, *tg = c->targets + (size_t)i * c->seq;
        if (model_logits(m, v, in, c->seq, logits, e)) {
            free(logits);
            return err_prefix(e, "calibration window %d", i);
        }
        sum += cross_entropy_forward(NULL, logits, tg, c->seq, V);
    }
    free(logits);
    *loss = sum / ((double)c->n * c->seq);
    return 0;
}

int calib_logits_diff(const Model *a, const Model *b, const Calib *c, int max_windows, double *diff, Err *e) {
    if (a->cfg.vocab_size != b->cfg.vocab_size)
        return err_set(e, "logit comparison: vocabularies of %d and %d tokens", a->cfg.vocab_size,
                       b->cfg.vocab_size);
    int n = max_windows > 0 && max_windows < c->n ? max_windows : c->n, V = a->cfg.vocab_size;
    size_t len = (size_t)c->seq * (size_t)V;
    float *la = malloc(sizeof(float) * len), *lb = malloc(sizeof(float) * len);
    int rc = la && lb ? 0 : err_set(e, "logit comparison: out of memory");
    ElasticView va, vb;
    view_full(a, &va);
    view_full(b, &vb);
    double d = 0.0;
    for (int i = 0; !rc && i < n; i++) {
        const int *in = c->inputs + (size_t)i * c->seq;
        rc = model_logits(a, &va, in, c->seq, la, e) || model_logits(b, &vb, in, c->seq, lb, e) ? -1 : 0;
        for (size_t j = 0; !rc && j < len; j++) {
            double x = fabs((double)la[j] - (double)lb[j]);
            if (!(x <= d)) d = x; /* NaN propagates */
        }
    }
    free(la);
    free(lb);
    if (!rc) *diff = d;
    return rc;
}
