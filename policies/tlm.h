/* tlm: the dual-head tiny LM (TLM) that ELMS runs before every request: an encoder over the LLM's own tokenizer
 * (so a score belongs to exactly the token it describes) with
 *   a score head     a token classifier (2 labels: drop, keep) whose keep probability ranks the system tokens;
 *                    compression at prompt ratio p keeps levels_kept_system(S, Q, p) of them, the highest scored,
 *                    in their original order (keepmask_top); the query and choices are never compressed;
 *   a decision head  one of two kinds:
 *                    pair  (the paper's) a sequence classifier with two label groups, 10 prompt ratios then 9 model
 *                          levels, over [prefill-SLO token] [decode-SLO token] + the request's prompt;
 *                    prob  (beyond the paper) a multi-label sequence classifier over the request's prompt alone that
 *                          gives, for every (level, ratio) of the grid, the probability that the LLM answers
 *                          correctly there (label index li * N_RATIOS + ri); the policy masks the infeasible
 *                          configurations at decision time and takes the most probable feasible one.
 * The heads are engine classifier models (Hugging Face layout, engine/model.h) in the TLM directory
 * (MODEL/policies/elms/): score/, pair/ and prob/, with tlm.json saying which decision head the policy uses.
 *
 * SLO tokens. The pair head's vocabulary is the LLM's plus 14 ids: V + i for prefill fraction TLM_PREFILL[i]
 * (0.2 ... 0.9) and V + 8 + j for decode fraction TLM_DECODE[j] (0.5 ... 1.0), the paper's 48 SLO pairs; an SLO
 * off this grid takes the nearest value (ties: the stricter). Every head reads BOS (when the LLM has one) +
 * system + query; the pair head reads its two SLO tokens first. */
#ifndef ELMS_TLM_H
#define ELMS_TLM_H
#include <stdbool.h>
#include "datasets/items.h"
#include "elastic/levels.h"
#include "engine/err.h"
#include "engine/model.h"

#define TLM_N_PREFILL 8
#define TLM_N_DECODE 6
#define TLM_N_SLO_TOKENS (TLM_N_PREFILL + TLM_N_DECODE)
extern const double TLM_PREFILL[TLM_N_PREFILL]; /* 0.2, 0.3, ..., 0.9 */
extern const double TLM_DECODE[TLM_N_DECODE];   /* 0.5, 0.6, ..., 1.0 */

typedef enum { TLM_DECISION_PAIR, TLM_DECISION_PROB } TlmDecisionKind;

typedef struct Tlm {
    Model score;              /* token classifier, 2 labels, vocabulary = the LLM's */
    Model pair;               /* sequence classifier, groups (N_RATIOS, N_LEVELS), vocabulary + 14 SLO tokens */
    Model prob;               /* sequence classifier, N_LEVELS * N_RATIOS independent labels */
    bool has_score, has_pair, has_prob;
    TlmDecisionKind decision; /* the head the policy decides with (tlm.json "decision") */
    double prob_margin;       /* the prob rule's margin (tlm.json "prob_margin", chosen on dev; 0 when absent) */
    int llm_vocab;            /* V */
    int bos;                  /* BOS of every input, or -1 */
    int *buf;                 /* (cap) input scratch */
    float *out;               /* (2 cap + N_LEVELS * N_RATIOS) logits scratch: the score head's 2 per token, or
                               * a sequence head's labels */
    int cap;                  /* tokens buf and out hold */
} Tlm;

/* tlm_slo_tokens: the two SLO token ids of (prefill, decode) for an LLM vocabulary of V. */
void tlm_slo_tokens(int V, double prefill, double decode, int *tok_prefill, int *tok_decode);

/* tlm_input: the input of a head for x into out (cap ints): [the two SLO tokens when slo is true] + [bos] +
 * system + query. Returns the length, or -1 when cap is short. */
int tlm_input(const EncodedItem *x, int bos, bool slo, int tok_prefill, int tok_decode, int *out, int cap);

/* tlm_load: the heads found in dir (score/, pair/, prob/; at least one) and tlm.json's "decision", checked
 * against the LLM llm (vocabulary, label counts, context). bos: the LLM's BOS (eval_bos) or -1. */
int tlm_load(Tlm *t, const char *dir, const Model *llm, int bos, Err *e);
/* tlm_load_score: only a score head, from the model directory dir (a token classifier with 2 labels over the
 * LLM's vocabulary): the prompt compressors "tlm" and "lingua2" use this. */
int tlm_load_score(Tlm *t, const char *dir, const Model *llm, int bos, Err *e);
void tlm_free(Tlm *t);
/* tlm_init_empty: a Tlm for llm with no head yet and its scratch: callers that own their heads (training,
 * measurement) set score / pair / prob and has_*, then release with tlm_scratch_free (heads untouched). */
int tlm_init_empty(Tlm *t, const Model *llm, int bos, Err *e);
void tlm_scratch_free(Tlm *t);

/* tlm_params: parameters of the loaded heads the policy uses (score + its decision head). */
double tlm_params(const Tlm *t);

/* tlm_score: keep probability (x->n_system) of every system token from the score head. */
int tlm_score(Tlm *t, const EncodedItem *x, float *keep_prob, Err *e);

/* tlm_keep_masks: the tiny LM's compression of x for every prompt ratio of the grid: the score head's keep
 * probabilities (score, x->n_system) and, from them, mask ri (masks + ri * stride, stride >= x->n_system; N_RATIOS
 * masks) keeping the levels_kept_system(S, Q, RATIOS[ri]) system tokens of highest probability (keepmask_top, one
 * ranking for all ratios). The elms policy's work before its decision head, and what `elms calibrate` times. */
int tlm_keep_masks(Tlm *t, const EncodedItem *x, float *score, unsigned char *masks, size_t stride, Err *e);

/* tlm_decide_pair: the pair head's argmax ratio and level indices (RATIOS / LEVELS) for x under the SLO. */
int tlm_decide_pair(Tlm *t, const EncodedItem *x, double prefill, double decode, int *ri, int *li, Err *e);

/* tlm_decide_prob: the prob head's probability (N_LEVELS * N_RATIOS, li * N_RATIOS + ri) of a correct answer. */
int tlm_decide_prob(Tlm *t, const EncodedItem *x, float *prob, Err *e);

/* tlm_prob_pick: the prob rule over n candidate configurations (grid indices li * N_RATIOS + ri, the feasible
 * ones, n >= 1): the most probable; with margin > 0, among those within margin of the most probable, the one with
 * the largest m p (the least compression of model and prompt together), then the larger level. Returns the
 * chosen candidate's position in cand. */
int tlm_prob_pick(const float *prob, const int *cand, int n, double margin);

/* tlm_input_tokens: tokens the TLM reads for x, priced as its work: the score head's input when score, plus the
 * decision head's (t->decision) when decision. */
double tlm_input_tokens(const Tlm *t, const EncodedItem *x, bool score, bool decision);

#endif
