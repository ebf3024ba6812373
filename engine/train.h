/* train: training of the LLaMA-architecture model of model.h, in fp32: language models on token windows, and
 * classifier heads (token or sequence classification, model.h) on labelled examples.
 *
 * A Trainer owns the gradients, the AdamW moments and every activation buffer for one batch shape (B sequences of
 * T tokens), all allocated once. A micro-batch runs as (B*T, dim) matrices through cblas_sgemm for every linear
 * layer, forward and backward; attention runs per (sequence, head) through sgemm as well.
 *
 * Two modes:
 *   full  (train_init):      every parameter of the model is trained;
 *   LoRA  (train_lora_init): the base model is frozen and only a low-rank adapter (q,k,v,o,gate,up,down) is.
 * Both run under an ElasticView: only the active units (the prefix widths of each layer) and the sub-blocks that
 * are not skipped take part, so gradients reach exactly the weights the view reads; the rest stay zero. In LoRA
 * mode the classifier of a classifier model is frozen with the rest of the base.
 * The forward computes the same logits as model_prefill (model_classify for classifier heads) under the same
 * view, with the model's attention mask (causal, or bidirectional within each sequence).
 *
 * Losses by head (targets of -1 are ignored everywhere; the loss of a forward is the mean over its counted targets):
 *   language model:  softmax cross-entropy over the vocabulary at every position; targets (B, T);
 *   token head:      softmax cross-entropy over the n_labels at every position; targets (B, T);
 *   sequence head:   the final-normed hidden states are averaged over each sequence, then single-label: one
 *                    softmax cross-entropy per label group, targets (B, n_groups), each a label index within its
 *                    group; multi-label: one binary cross-entropy per label, targets (B, n_labels) in {0, 1}.
 * model_head_targets(cfg, T) gives the targets per sequence.
 *
 * One optimizer step (train_step) = accum micro-batches (forward + backward, gradients summed; each micro-batch
 * contributes the gradient of its mean loss / accum), global-norm clipping, AdamW with decoupled weight
 * decay (matrices and embeddings; never RMSNorm weights or the classifier bias) at the warm-up + cosine learning
 * rate of the step. Same seed, same data, same thread count: bitwise the same parameters. */
#ifndef ELMS_TRAIN_H
#define ELMS_TRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/batch.h"
#include "engine/data.h"
#include "engine/err.h"
#include "engine/examples.h"
#include "engine/model.h"
#include "engine/pool.h"

typedef struct TrainConfig {
    int batch;          /* B: sequences per micro-batch */
    int seq;            /* T: tokens per sequence */
    int accum;          /* micro-batches per optimizer step */
    long steps;         /* optimizer steps of the whole run (sets the cosine schedule) */
    float lr, min_lr;   /* peak learning rate, and the floor the cosine decays to */
    long warmup;        /* linear warm-up steps (from lr/warmup to lr) */
    float wd;           /* decoupled weight decay */
    float beta1, beta2, adam_eps;
    float clip;         /* global gradient-norm clip; <= 0 disables */
    unsigned long seed; /* data order */
} TrainConfig;

/* train_config_default: B 16, T 256, accum 1, 1000 steps, lr 7e-4 -> 7e-5, warm-up 100, wd 0.1,
 * betas (0.9, 0.95), eps 1e-8, clip 1.0, seed 1. */
void train_config_default(TrainConfig *c);
/* train_config_to_json: add every field of c to the JSON object o (seed as a decimal string, so that 64-bit
 * seeds survive); used by checkpoints and by the training log. */
struct cJSON;
void train_config_to_json(const TrainConfig *c, struct cJSON *o);
/* train_config_check: every field in range; names the bad field. */
int train_config_check(const TrainConfig *c, Err *e);
/* train_lr: learning rate of optimizer step `step` (0-based): linear warm-up over `warmup` steps, then a cosine
 * from lr down to min_lr at step `steps`; min_lr after that. */
float train_lr(const TrainConfig *c, long step);

/* A contiguous range of the trained parameters and whether weight decay applies to it. */
typedef struct TrainSeg {
    size_t off, len;
    bool decay;
} TrainSeg;

struct TrainActs; /* saved activations and scratch (engine/train_acts.h) */

typedef struct Trainer {
    Model *model;             /* not owned */
    Lora *lora;               /* LoRA mode: the adapter being trained (not owned); NULL in full mode */
    ElasticView view;         /* the view forward and backward run under (view.lora == lora) */
    TrainConfig cfg;
    float *params;            /* (n_train) the trained parameters: model->params or lora->params */
    float *grad;              /* (n_train) gradients, same layout */
    float *m, *v;             /* (n_train) AdamW first and second moments */
    size_t n_train;
    ModelWeights gw;          /* full mode: grad carved like the model's parameters */
    Lora gl;                  /* LoRA mode: grad carved like the adapter (gl.params == grad) */
    TrainSeg *segs;           /* decay / no-decay ranges covering [0, n_train) */
    int n_segs;
    long step;                /* optimizer steps done */
    long tokens;              /* targets trained on (target tokens for a language model) */
    double elapsed_s;         /* wall time of train_run so far, over all resumed runs */
    int *inputs, *targets;    /* batch buffers for train_step / train_eval: (B, T) and (B, max(T, head targets)) */
    struct TrainActs *acts;
    Pool *pool;               /* threads for the non-BLAS kernels (NULL: the calling thread only) */
} Trainer;

/* Statistics of one optimizer step. */
typedef struct TrainStepStats {
    double loss;       /* mean over the step's micro-batches of their mean loss (before the update) */
    double grad_norm;  /* global gradient norm before clipping */
    float lr;          /* learning rate used */
    long tokens;       /* counted targets in the step (target tokens for a language model) */
} TrainStepStats;

/* train_init: full training of m under view v (NULL: the full view). v must be prefix widths and skip flags only
 * (no neuron subset, no selector, no adapter). Allocates everything for cfg->batch x cfg->seq. */
int train_init(Trainer *t, Model *m, const ElasticView *v, const TrainConfig *cfg, Err *e);
/* train_lora_init: train only adapter a (allocated for m's config) on the frozen base m under view v (NULL: full);
 * v's own adapter pointer is ignored (a is used). cfg->wd applies to every adapter tensor (pass 0 for none). */
int train_lora_init(Trainer *t, Model *m, Lora *a, const ElasticView *v, const TrainConfig *cfg, Err *e);
void train_free(Trainer *t);
/* train_set_threads: use n threads: OpenBLAS's thread count (process-wide) and a pool of n threads for the
 * trainer's own kernels. Results depend on n only through OpenBLAS (the pool's kernels are split-invariant). */
int train_set_threads(Trainer *t, int n, Err *e);

/* train_forward: run inputs (B, T) (B <= cfg.batch, T <= cfg.seq and T <= the model context), keeping the
 * activations for train_backward. targets (B, model_head_targets(cfg, T)) as the head's loss needs them (see the
 * top of this file; -1 = ignore), or NULL for logits only; a target out of range fails, naming the sequence and
 * position or label. *loss (if non-NULL): mean loss over the counted targets (NaN when none is); *n_counted (if
 * non-NULL): how many. Logits stay in train_logits(t) until train_backward. */
int train_forward(Trainer *t, const int *inputs, const int *targets, int B, int T, double *loss, long *n_counted,
                  Err *e);
/* train_logits: the logits of the last train_forward: (B*T, vocab) for a language model, (B*T, n_labels) for a
 * token head, (B, n_labels) for a sequence head. */
const float *train_logits(const Trainer *t);
/* train_backward: backpropagate the last forward (which had targets): gradients of scale * (summed loss of its
 * counted targets) are added to t->grad. */
int train_backward(Trainer *t, float scale, Err *e);
/* train_input_grad: after train_backward, the gradient of scale * (summed loss) with respect to the input
 * embeddings (B*T, dim), row i = the embedding looked up for inputs[i] (gradient x input saliency: the dot
 * product of a row with its embedding). Computed in full and in LoRA mode alike. NULL when the last forward has
 * not been backpropagated; valid until the next train_forward (train_eval and train_step run forwards). */
const float *train_input_grad(const Trainer *t);
/* train_zero_grad: grad = 0. */
void train_zero_grad(Trainer *t);
/* train_grad_norm: global L2 norm of t->grad. */
double train_grad_norm(const Trainer *t);
/* train_update: clip the gradient to cfg.clip (global norm), then one AdamW step at learning rate lr; step++. */
void train_update(Trainer *t, float lr, double grad_norm);

/* train_step_source: one optimizer step on accum micro-batches drawn from src (batch.h): token windows of cfg.seq
 * tokens, cfg.batch per micro-batch, or labelled examples, one per micro-batch. Each micro-batch contributes the
 * gradient of its mean loss / accum (one without counted targets contributes nothing). Fails when src's targets do
 * not fit the model's head (per token vs per sequence, their number; token windows train language models only) or
 * a micro-batch does not fit the trainer. */
int train_step_source(Trainer *t, BatchSource *src, TrainStepStats *st, Err *e);
/* train_step: train_step_source on loader d (windows of cfg.seq+1 tokens). */
int train_step(Trainer *t, DataLoader *d, TrainStepStats *st, Err *e);
/* train_eval: mean loss over up to max_windows windows of cfg.seq+1 tokens of data (non-overlapping, from the
 * start; all of them when max_windows <= 0), forward only; language models only. Parameters, gradients and moments are untouched; the
 * activations of an earlier train_forward are overwritten (it can no longer be backpropagated). */
int train_eval(Trainer *t, const TokenData *data, long max_windows, double *loss, Err *e);
/* train_eval_examples: as train_eval over the first max_examples examples of s (all when max_examples <= 0), one
 * forward each: the mean loss over all their counted targets (NaN when none is). Every example must fit cfg.seq and
 * s's targets the model's head. */
int train_eval_examples(Trainer *t, const ExampleSet *s, long max_examples, double *loss, Err *e);

/* ---- checkpoints: DIR/{model.safetensors, config.json} (full mode, F32) or DIR/lora.safetensors (LoRA mode),
 * DIR/optim.safetensors (AdamW m and v), DIR/state.json (step, tokens, the data source's kind and position,
 * config). Written into DIR.tmp and renamed over DIR, so DIR always holds a complete checkpoint. ---- */

/* train_ckpt_save_source: save t and the position of src (may be NULL: position (0, 0), kind "windows"). */
int train_ckpt_save_source(const Trainer *t, const BatchSource *src, const char *dir, Err *e);
/* train_ckpt_load_source: restore parameters, moments, step, tokens, elapsed time and src's position (src may be
 * NULL) into an initialised trainer of the same shape, head and mode; the checkpoint's seed, batch and seq must
 * match t's, and its data kind src's (a checkpoint without one is of token windows). */
int train_ckpt_load_source(Trainer *t, BatchSource *src, const char *dir, Err *e);
/* train_ckpt_save / train_ckpt_load: the same for a DataLoader's position (d may be NULL). */
int train_ckpt_save(const Trainer *t, const DataLoader *d, const char *dir, Err *e);
int train_ckpt_load(Trainer *t, DataLoader *d, const char *dir, Err *e);
/* train_ckpt_find: DIR (or a leftover DIR.old of an interrupted save) holds a checkpoint; *found receives the
 * directory to load from. A leftover DIR.tmp (a save killed while writing) is removed: it is never loaded
 * (model_load refuses ".tmp" directories) and the next save would replace it anyway. */
bool train_ckpt_find(const char *dir, char *found, size_t cap);

/* ---- a whole run ---- */

/* One row of the training log, reported after every optimizer step. */
typedef struct TrainLogRow {
    long step;           /* optimizer steps done (1-based after the first) */
    double loss;         /* training loss of this step */
    double val_loss;     /* validation loss, or NAN when not evaluated at this step */
    float lr;
    double grad_norm;
    double tokens_per_s; /* this step's throughput in counted targets per second (tokens for a language model) */
    double elapsed_s;    /* wall time of training so far, including runs before a resume */
    long tokens;         /* targets trained on, in total (target tokens for a language model) */
    bool checkpointed;   /* a checkpoint is written right after this row is logged (the log callback runs first,
                          * so a logger that flushes here never runs behind a checkpoint) */
} TrainLogRow;

/* Called after every step, before the step's checkpoint; return non-zero to stop early (a checkpoint is then
 * written right after the call when a dir is set, whether or not one was due: flush the log before returning). */
typedef int (*TrainLogFn)(void *ctx, const TrainLogRow *row);

typedef struct TrainRunOpts {
    const char *ckpt_dir;     /* NULL: no checkpoints */
    long ckpt_every;          /* steps between checkpoints; 0: time-based (ckpt_secs) */
    double ckpt_secs;         /* with ckpt_every == 0: seconds between checkpoints (<= 0: only at the end) */
    const TokenData *val;     /* validation tokens, or NULL */
    const ExampleSet *val_examples; /* or validation examples (train_eval_examples), or NULL; not both */
    long val_every;           /* steps between validations (0: only at the end) */
    long val_windows;         /* windows (or examples) per validation (<= 0: all) */
    TrainLogFn log;
    void *log_ctx;
} TrainRunOpts;

/* train_run_source: optimizer steps (train_step_source) from t->step to cfg.steps on batches from src, validating
 * and checkpointing (src's position included) as asked; always checkpoints (when a dir is set) after the last
 * step or an early stop. *stopped (may be NULL): stopped early. The weights' hash is recomputed at the end, even
 * after a failure. */
int train_run_source(Trainer *t, BatchSource *src, const TrainRunOpts *o, bool *stopped, Err *e);
/* train_run: train_run_source on loader d. */
int train_run(Trainer *t, DataLoader *d, const TrainRunOpts *o, bool *stopped, Err *e);

#endif
