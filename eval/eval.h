/* eval: the one evaluation path. An item is answered by the engine under (model, view, prompt keep-mask):
 * the prompt is BOS (the one BOS rule, eval_bos) + the kept system tokens + the query, every choice is scored
 * by its length-normalised log-likelihood from the prompt's KV cache (engine/score.h), and the outcome is the
 * chosen choice, whether it is the answer, and its margin over the best other choice.
 *
 * Every caller goes through eval_item: `elms score`, the accuracy grid, the simulator, hindsight policies and
 * every labelling step. Outcomes can be kept in a store (the simulator's `evals` table) under a key built here
 * and nowhere else: the model's weight hash (Model.hash, computed when the weights were loaded or made) and a
 * configuration key that describes exactly what the engine computes (per-layer widths and skipped sub-blocks,
 * explicit neuron subsets, the adapter's hash, a per-token selector's key, the keep-mask), independent of which
 * method chose it, so that two methods that run the same thing share entries. */
#ifndef ELMS_EVAL_H
#define ELMS_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "datasets/items.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

/* Outcome of one item under one configuration. */
typedef struct EvalOutcome {
    int choice;     /* the chosen choice */
    bool correct;   /* it is the answer */
    double margin;  /* its normalised log-likelihood minus the best other choice's */
} EvalOutcome;

/* A persistent store of outcomes by (model hash, configuration key, app, item); both functions may be NULL. */
typedef struct EvalStore {
    void *ctx;
    /* get: *found = 1 and *out when the key is stored */
    int (*get)(void *ctx, const char *model_hash, const char *config, const char *app, const char *item,
               EvalOutcome *out, int *found, Err *e);
    int (*put)(void *ctx, const char *model_hash, const char *config, const char *app, const char *item,
               const EvalOutcome *o, Err *e);
} EvalStore;

/* What one evaluation runs. */
typedef struct EvalQuery {
    const Model *model;          /* weights (model->hash must be set: model_rehash) */
    const ElasticView *view;     /* the sub-model on them, adapter included (its hash must be set) */
    const char *select_key;      /* identifies view->ffn_select's behaviour; required when it is set */
    const unsigned char *keep;   /* (x->n_system) 0/1 keep-mask of the system tokens, or NULL = keep all */
    const EncodedItem *x;        /* the item's tokens */
    const char *app, *item;      /* the item's identity (store key) */
} EvalQuery;

typedef struct Evaluator {
    int bos_id;                  /* BOS prepended to every prompt, or -1 */
    EvalStore store;
    long computed, stored_hits;  /* engine runs; outcomes found in the store */
    /* the view part of the last configuration key (consecutive queries usually share a view) */
    ElasticView key_view;
    char key_lora[17];           /* the adapter's hash in that key ("" = none) */
    char key_select[128];
    char key_text[2048];
    int key_len;                 /* -1 when empty */
} Evaluator;

/* eval_bos: the one BOS rule: the tokenizer's BOS id when it has one, else the model config's, else -1. */
int eval_bos(const Tokenizer *tok, const Model *m);

/* evaluator_init: an evaluator for prompts of tok / m (BOS by eval_bos), with an optional store (NULL: every
 * query runs the engine). */
void evaluator_init(Evaluator *ev, const Tokenizer *tok, const Model *m, const EvalStore *store);

/* eval_item: the outcome of q, from the store when it holds the key, else computed by the engine and stored.
 * Fails (naming the app and item) on a prompt that does not fit the model's context, a view that does not fit
 * the model, or a missing weight hash. */
int eval_item(Evaluator *ev, const EvalQuery *q, EvalOutcome *out, Err *e);

/* eval_key: the configuration key of q (see the header comment) into out (cap bytes); -1 when it does not fit. */
int eval_key(Evaluator *ev, const EvalQuery *q, char *out, size_t cap, Err *e);

/* eval_prompt: the prompt of x under keep with this evaluator's BOS into out (1 + n_system + n_query ints);
 * returns its length. */
int eval_prompt(const Evaluator *ev, const EncodedItem *x, const unsigned char *keep, int *out);

/* The two parts of a configuration key (exposed for tests and documentation): the view, then the keep-mask;
 * each returns the length written or -1 when cap is short. lora_hash / select_key may be NULL. */
int eval_key_view(const ElasticView *v, const char *lora_hash, const char *select_key, char *out, size_t cap);
int eval_key_keep(const unsigned char *keep, int n_system, char *out, size_t cap);
/* eval_key_config: eval_key_view followed by eval_key_keep (keep NULL = all of n_system kept); 0, or -1 when cap
 * is short. */
int eval_key_config(const ElasticView *v, const char *lora_hash, const char *select_key, const unsigned char *keep,
                    int n_system, char *out, size_t cap);

#endif
