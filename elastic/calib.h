/* calib: calibration windows drawn (seeded) from a training corpus, and the mean next-token loss of a model
 * view on them. Shared by Taylor importance, leave-one-layer-out anchor selection and the reorder check. */
#ifndef ELMS_CALIB_H
#define ELMS_CALIB_H

#include "engine/data.h"
#include "engine/err.h"
#include "engine/model.h"

typedef struct Calib {
    int n;        /* windows */
    int seq;      /* tokens per window */
    int *inputs;  /* (n, seq) */
    int *targets; /* (n, seq) the same windows shifted by one token */
} Calib;

/* calib_sample: the first n windows of seq+1 tokens that a DataLoader seeded with seed visits in d. */
int calib_sample(Calib *c, const TokenData *d, int n, int seq, unsigned long seed, Err *e);
void calib_free(Calib *c);

/* calib_loss: mean cross-entropy over every target of every window, model m under view v (engine forward). */
int calib_loss(const Model *m, const ElasticView *v, const Calib *c, double *loss, Err *e);

/* calib_logits_diff: max |logits_a - logits_b| over the first max_windows windows (<= 0: all), a and b under
 * their full views. The two models must share vocabulary and context. */
int calib_logits_diff(const Model *a, const Model *b, const Calib *c, int max_windows, double *diff, Err *e);

#endif
