/* tlm_build: training the tiny LM (policies/tlm.h) end to end, `elms tlm train` and `elms prepare elms`.
 *
 *   1. score labels on train items, both kinds (tlm_labels.h: relevant spans, target-LLM saliency);
 *   2. a score head trained on each kind; both evaluated on dev items (precision and recall against the dev
 *      items' labels of each kind; accuracy of the full LLM on prompts compressed to ratios 0.5 and 0.3); the
 *      better by that accuracy becomes score/ (or the kind asked for);
 *   3. grid outcomes (every level x ratio, the prompt compressed by that score head) of train and dev items
 *      through the one evaluation path;
 *   4. the two decision heads trained on the train grid: pair (the paper's self-induced labels over the 48 SLO
 *      pairs) and prob (the outcome of every configuration);
 *   5. both evaluated on the dev grid over the 48 SLO pairs under the paper's accounting (m p <= prefill,
 *      m <= decode): the accuracy of the configurations they pick (with the policy's fallbacks), the share of
 *      their first choices that were infeasible, and (pair) agreement with the dev labels; the better accuracy
 *      becomes tlm.json's "decision".
 * Everything is written into out (score/, pair/, prob/, tlm.json with every figure above and the options);
 * every head trains from a seeded initialisation with AdamW, one example per micro-batch. Train items only for
 * labels and weights; dev items only for the choices between variants; test items never. */
#ifndef ELMS_TLM_BUILD_H
#define ELMS_TLM_BUILD_H
#include "engine/err.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "eval/eval.h"

typedef struct TlmShape {
    int dim, layers, heads, ffn;
} TlmShape;

typedef struct TlmBuildOpts {
    const Model *llm;          /* the reordered LLM (hash set) */
    const char *model_dir;     /* its directory: elastic.json and lora/ for the level views */
    const Tokenizer *tok;
    const char *data_dir;      /* DATA/items/APP/{train,dev}.jsonl */
    Evaluator *ev;             /* the one evaluation path (with a store, repeated builds are cheap) */
    int score_items;           /* train items per app for the score head (default 500) */
    int grid_items;            /* train items per app for the decision heads (default 100) */
    int dev_items;             /* dev items per app for the choices (default 50) */
    TlmShape shape;            /* default 32 wide, 1 layer, 2 heads, FFN 64 */
    int epochs;                /* passes over each head's examples (default 3) */
    int prob_epochs;           /* passes for the prob head, which has one example per item where the pair head
                                  has one per item and SLO pair (default 30) */
    float lr;                  /* peak AdamW learning rate (default 1e-3) */
    int accum;                 /* examples per optimizer step (default 16) */
    unsigned long seed;        /* initialisation and example order (default 1) */
    const char *score_labels;  /* "auto" (the better on dev), "relevant" or "saliency" */
    const char *exclude;       /* an app left out of every step (leave-one-app-out), or NULL */
    TlmShape sweep[8];         /* shapes of a size sweep after the build (n_sweep of them; 0: none): the score and
                                  prob heads at each are trained on the same labels, measured on dev and timed
                                  per request on this machine; tlm.json "size_sweep" holds the curve */
    int n_sweep;
    void (*progress)(void *ctx, const char *stage, long done, long total);
    void *progress_ctx;
} TlmBuildOpts;

/* tlm_build_defaults: the defaults above (pointers NULL, score_labels "auto"). */
void tlm_build_defaults(TlmBuildOpts *o);

/* tlm_build_from_env: the defaults with the model, directories, tokenizer, seed and progress of an `elms prepare`
 * build; its evaluator, or own (initialised here without a store) when the build has none. */
struct BuildEnv;
void tlm_build_from_env(TlmBuildOpts *o, const struct BuildEnv *env, Evaluator *own);

/* tlm_build: run the steps above into the existing directory out. */
int tlm_build(const TlmBuildOpts *o, const char *out, Err *e);

/* tlm_build_classifier: a general-purpose token classifier in the style of LLMLingua-2 (the lingua2-cs baseline's
 * compressor): steps 1 and 2 with the relevant-span labels alone (no target-LLM signal), of shape o->shape, saved
 * as the model directory out; its dev figures (precision and recall against the dev spans, the full LLM's
 * accuracy on prompts compressed to 0.5 and 0.3 of the system tokens' formula count) go into
 * out/classifier.json. */
int tlm_build_classifier(const TlmBuildOpts *o, const char *out, Err *e);

/* tlm_evaluate: the figures of a trained tiny LM (dir: score/, pair/, prob/, tlm.json) on the first o->dev_items
 * items per app of split (dev or test): the score head's precision, recall and top-k precision against both label
 * kinds and the full LLM's accuracy on compressed prompts (with the random and whole-prompt references); the grid
 * outcomes of those items with its score head; each decision head's accuracy over the 48 SLO pairs, its share of
 * infeasible first choices and (pair) agreement with the self-induced labels; written to out_json. q: the
 * saliency label fraction of the build (tlm.json). Reporting only: nothing is chosen from these figures. */
int tlm_evaluate(const TlmBuildOpts *o, const char *dir, const char *split, const char *out_json, Err *e);

#endif
