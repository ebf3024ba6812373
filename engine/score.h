/* score: multiple-choice log-likelihood scoring with a shared prompt prefix, and greedy generation.
 * The prompt is prefilled once; each choice continues from the prompt's KV cache (truncated back after each).
 * A choice's score is the mean log-probability of its tokens (length-normalised log-likelihood). */
#ifndef ELMS_SCORE_H
#define ELMS_SCORE_H

#include "engine/err.h"
#include "engine/model.h"

typedef struct ScoreResult {
    int best;              /* argmax choice */
    double *scores;        /* (n_choices) mean log-prob per token; caller frees (or pass to score_result_free) */
    int n_choices;
    double margin;         /* score[best] - best other score */
} ScoreResult;

/* score_choices: prompt (n_prompt ids, n_prompt >= 1) and n_choices continuations; choices[i] has
 * choice_len[i] >= 1 ids. Fails if prompt + longest choice exceeds the model context. */
int score_choices(const Model *m, const ElasticView *v, const int *prompt, int n_prompt, const int *const *choices,
                  const int *choice_len, int n_choices, ScoreResult *out, Err *e);
/* score_choice_alone: the same score for one choice computed from scratch (reference for tests). */
int score_choice_alone(const Model *m, const ElasticView *v, const int *prompt, int n_prompt, const int *choice,
                       int len, double *score, Err *e);
void score_result_free(ScoreResult *r);

/* Wall time of one generation (base/clock.h): the prompt's prefill and the decode steps after it. */
typedef struct GenerateTiming {
    double prefill_s;   /* model_prefill of the prompt (its logits give the first token) */
    double decode_s;    /* every model_decode after it */
    int decode_steps;   /* model_decode calls (generated tokens minus the first, fewer when EOS or the context
                           ends the run) */
} GenerateTiming;

/* generate_greedy: prefill prompt then emit up to max_new tokens (stops after eos_id if >= 0); out holds
 * max_new ids; returns the count or -1. timing (may be NULL) receives the wall time of each phase. cache: NULL
 * (a cache of its own, allocated and freed here) or a cache the caller keeps across calls (kvcache_reset to v
 * and the needed capacity: a service's, which allocates nothing per request once it is large enough). */
int generate_greedy(const Model *m, const ElasticView *v, KVCache *cache, const int *prompt, int n_prompt,
                    int max_new, int eos_id, int *out, GenerateTiming *timing, Err *e);

#endif
