/* examples: labelled examples of varying length, the training data of classifier heads (model.h), and the seeded
 * order in which training visits them.
 *
 * An ExampleSet holds examples of 1 or more tokens, each with its targets: one per token (token heads, -1 where a
 * token has no label) or a fixed number per example (sequence heads: one per label group, or one per label when
 * multi-label; see model_head_targets). Examples are copied in with examples_add.
 *
 * An ExampleLoader visits the examples of a set epoch after epoch, each epoch in a shuffled order drawn from a GSL
 * mt19937 generator seeded by data_epoch_seed(seed, epoch), so that the position (epoch, index) alone restores the
 * stream, as for the token windows of data.h. As a BatchSource (batch.h) it hands out micro-batches of one example
 * each (B = 1, T = that example's length: no padding is ever needed); an optimizer step of accum micro-batches
 * (train.h) then sees accum examples, each contributing its mean loss / accum. */
#ifndef ELMS_EXAMPLES_H
#define ELMS_EXAMPLES_H

#include <stddef.h>

#include "engine/batch.h"
#include "engine/err.h"

typedef struct ExampleSet {
    int n_targets;  /* targets per example: 0 = one per token; k > 0 = k per example */
    int n;          /* examples */
    int max_len;    /* tokens of the longest example (the trainer's seq must be at least this) */
    size_t *off;    /* (n + 1) example i's tokens are tok[off[i] .. off[i+1]) */
    int *tok;       /* (off[n]) the tokens of every example, concatenated */
    int *tgt;       /* (off[n]) per-token targets when n_targets == 0, else (n, n_targets) */
    size_t cap_n, cap_tok; /* allocated examples and tokens */
} ExampleSet;

/* examples_init: an empty set whose examples will carry n_targets targets each (0: one per token); n_targets
 * must lie in [0, 65536]. */
int examples_init(ExampleSet *s, int n_targets, Err *e);
/* examples_free: release s's memory and leave it empty (safe on a zeroed set). */
void examples_free(ExampleSet *s);
/* examples_add: append a copy of one example: tokens (len >= 1) and its targets, (len) or (n_targets). Values are
 * not checked here: the trainer checks tokens against the vocabulary and targets against the head. */
int examples_add(ExampleSet *s, const int *tokens, int len, const int *targets, Err *e);
/* examples_get: example i (0 <= i < n): *tokens (*len) and *targets ((*len) or (n_targets)). */
void examples_get(const ExampleSet *s, int i, const int **tokens, int *len, const int **targets);

typedef struct ExampleLoader {
    const ExampleSet *set;  /* not owned */
    unsigned long seed;
    long epoch;             /* current epoch */
    long pos;               /* next example of the epoch's order, in [0, n): the end of an epoch is the start of
                               the next */
    int *order;             /* (set->n) the current epoch's example indices, in visiting order */
} ExampleLoader;

/* example_loader_init: visit the (non-empty) set s in seeded shuffled epochs; starts at (0, 0). s must not grow
 * while the loader is used. */
int example_loader_init(ExampleLoader *l, const ExampleSet *s, unsigned long seed, Err *e);
/* example_loader_free: release l's order (the set is not owned); safe on a zeroed loader. */
void example_loader_free(ExampleLoader *l);
/* example_loader_seek: continue from example pos (0 .. n) of epoch (as saved by a checkpoint). */
int example_loader_seek(ExampleLoader *l, long epoch, long pos, Err *e);
/* example_loader_next: the index of the next example, moving to the next epoch after the last of one. */
int example_loader_next(ExampleLoader *l);
/* example_loader_source: l as a BatchSource of kind "examples": one example per micro-batch; an example longer
 * than the trainer's seq fails, naming it. Valid while l is. */
BatchSource example_loader_source(ExampleLoader *l);

#endif
