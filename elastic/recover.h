/* recover: LoRA recovery per level. For a level m of an elastic (reordered) model, one adapter on q, k, v, o,
 * gate, up and down of every layer is trained on the training corpus with the base frozen under the level's
 * view (levels_view), and saved as DIR/lora/level-0.X.safetensors. Training checkpoints into
 * DIR/lora/ckpt-level-0.X so an interrupted run resumes where it stopped; an existing adapter is not retrained.
 * At run time a level switch replaces the active view (unit widths) and its adapter pointer, nothing else:
 * recover_switch_us measures that. */
#ifndef ELMS_RECOVER_H
#define ELMS_RECOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "elastic/levels.h"
#include "engine/data.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/train.h"

typedef struct RecoverOpts {
    int rank;                 /* LoRA rank (the paper: 8) */
    float alpha;              /* LoRA alpha (the paper: 16) */
    TrainConfig train;        /* batch, seq, steps, learning rate ...; train.seed orders the data */
    unsigned long init_seed;  /* adapter initialisation */
    long ckpt_every;          /* steps between checkpoints (0: only at the end or on a stop) */
    const TokenData *eval;    /* tokens for the loss before / after (held-out corpus, or the training one) */
    long eval_windows;        /* windows of train.seq+1 tokens for that loss (<= 0: all) */
    TrainLogFn log;           /* per-step progress (may be NULL) */
    void *log_ctx;
} RecoverOpts;

/* recover_opts_default: the options of the shipped adapters (`make prepare`): rank 8, alpha 16, batch 16, seq
 * min(128, context), 300 steps, lr 2e-3 -> 2e-4 (cosine), warm-up 30 (a tenth), no weight decay, clip 1, seeds 1,
 * checkpoint every 50 steps, 16 evaluation windows. */
void recover_opts_default(RecoverOpts *o, const ModelConfig *c);

typedef struct RecoverResult {
    bool skipped;             /* the adapter file already existed: nothing trained */
    bool resumed;             /* training continued from a checkpoint */
    long steps;               /* optimizer steps done in this call */
    double loss_before;       /* eval loss of the level's view without adapter (NAN when skipped) */
    double loss_after;        /* eval loss with the trained adapter */
    double wall_s, cpu_s;     /* time of this call */
} RecoverResult;

/* recover_adapter_path / recover_ckpt_path: DIR/lora/level-0.X.safetensors and DIR/lora/ckpt-level-0.X. */
int recover_adapter_path(char *out, size_t cap, const char *dir, double level);
int recover_ckpt_path(char *out, size_t cap, const char *dir, double level);

/* recover_level: train (or resume, or skip when present) the adapter of level (0 < level < 1) of model m,
 * whose anchor layers are anchor (n_layers, may be NULL), on train; writes it under dir. force: retrain even
 * when the adapter exists. */
int recover_level(Model *m, const unsigned char *anchor, double level, const TokenData *train, const char *dir,
                  const RecoverOpts *o, bool force, RecoverResult *r, Err *e);

/* recover_switch: make active the view of level index i of s (widths and adapter pointer). */
void recover_switch(ElasticView *active, const LevelSet *s, int i);

/* recover_switch_us: mean microseconds of one recover_switch, cycling through the levels reps times. */
double recover_switch_us(const LevelSet *s, long reps);

#endif
