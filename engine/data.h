/* data: training token streams and the seeded order in which their windows are visited.
 *
 * A corpus file is a flat array of little-endian int32 token ids: documents [BOS] ... [EOS] concatenated.
 * Training reads windows of seq+1 tokens (inputs are the first seq, targets the last seq). Epoch e visits the
 * windows that start at phase_e + i*seq (i = 0 .. n_windows-1) in a shuffled order; phase_e and the order are
 * drawn from a GSL mt19937 generator seeded by (seed, e), so the position (epoch, index) alone restores the
 * stream exactly: nothing else needs saving in a checkpoint. */
#ifndef ELMS_DATA_H
#define ELMS_DATA_H

#include <stddef.h>

#include "engine/batch.h"
#include "engine/err.h"

typedef struct TokenData {
    int *tok;   /* (n) token ids in [0, vocab) */
    size_t n;
} TokenData;

/* data_load: read a token file; every id must lie in [0, vocab_size) (the error names the file and offset). */
int data_load(TokenData *d, const char *path, int vocab_size, Err *e);
/* data_save: write ids (n) as a token file (atomically). */
int data_save(const char *path, const int *ids, size_t n, Err *e);
void data_free(TokenData *d);

typedef struct DataLoader {
    const TokenData *data;  /* not owned */
    int seq;                /* T */
    unsigned long seed;
    int max_phase;          /* epoch phases are drawn from [0, max_phase] */
    long n_windows;         /* windows per epoch */
    long epoch;             /* current epoch */
    long pos;               /* next window of the epoch's order */
    size_t *order;          /* (n_windows) start offsets of the current epoch's windows, in visiting order */
} DataLoader;

/* data_loader_init: windows of seq+1 tokens over d (which needs at least seq+1 tokens); starts at (0, 0). */
int data_loader_init(DataLoader *l, const TokenData *d, int seq, unsigned long seed, Err *e);
void data_loader_free(DataLoader *l);
/* data_loader_seek: continue from window pos of epoch (as saved by a checkpoint). */
int data_loader_seek(DataLoader *l, long epoch, long pos, Err *e);
/* data_next_batch: the next B windows: inputs (B, seq) and targets (B, seq) (the same window shifted by one). */
void data_next_batch(DataLoader *l, int *inputs, int *targets, int B);
/* data_loader_source: l as a BatchSource of kind "windows" (micro-batches of max_b windows; max_t must equal
 * l->seq), valid while l is. */
BatchSource data_loader_source(DataLoader *l);
/* data_epoch_seed: the generator seed of epoch `epoch` of a run seeded by seed (splitmix64 of both, 32 bits):
 * every seeded order of training data is drawn from it. */
unsigned long data_epoch_seed(unsigned long seed, long epoch);

#endif
