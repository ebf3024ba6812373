/* batch: the interface through which training draws its micro-batches, so that one optimizer step, one run loop,
 * one checkpoint format and one resume serve every kind of training data: token windows (DataLoader, data.h) and
 * labelled examples of varying length (ExampleLoader, examples.h).
 *
 * A source visits its data in a seeded order, epoch after epoch; its position (epoch, index of the next item in
 * the epoch's order) alone restores the stream, and is what a checkpoint saves (train.h). A BatchSource is a
 * small value pointing at its loader (data_loader_source, example_loader_source): it stays valid as long as the
 * loader does. */
#ifndef ELMS_BATCH_H
#define ELMS_BATCH_H

#include "engine/err.h"

typedef struct BatchSource {
    void *self;          /* the loader */
    const char *kind;    /* "windows" or "examples": a checkpoint records it, and a resume needs the same kind */
    int targets_per_seq; /* targets per sequence: 0 = one per token (language models, token heads); k > 0 = k per
                            sequence (sequence heads: model_head_targets) */
    /* next: the next micro-batch of at most max_b sequences of at most max_t tokens: inputs (*B, *T) and targets
     * (*B, *T) or (*B, targets_per_seq), in buffers of max_b * max_t and max_b * max(max_t, targets_per_seq) ints.
     * Fails, with the position unchanged, when the data does not fit these limits. */
    int (*next)(void *self, int max_b, int max_t, int *inputs, int *targets, int *B, int *T, Err *e);
    /* tell: the current position. seek: continue from a position (as a checkpoint saved it). */
    void (*tell)(const void *self, long *epoch, long *pos);
    int (*seek)(void *self, long epoch, long pos, Err *e);
} BatchSource;

#endif
