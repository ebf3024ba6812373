/* tlm_measure: what the tiny LM's build measures, private to policies/tlm_build*.c: the score labels of a set of
 * items (both kinds, tlm_labels.h), a score head's dev figures (agreement with each label kind, the full LLM's
 * accuracy on prompts it compressed, with the random and whole-prompt references), the decision heads' accuracy
 * over the paper's 48 SLO pairs from grid outcomes, and the time per request. */
#ifndef ELMS_TLM_MEASURE_H
#define ELMS_TLM_MEASURE_H
#include <stdbool.h>
#include "policies/tlm.h"
#include "policies/tlm_build.h"
#include "policies/tlm_data.h"

#define N_GRID (N_LEVELS * N_RATIOS)

/* tlm_build_progress: report through o's callback, if any. */
void tlm_build_progress(const TlmBuildOpts *o, const char *stage, long done, long total);

/* Score labels of a set of items: per item (n_system) labels of each kind, the items of all apps in order. */
typedef struct TlmScoreLabels {
    int *rel, *sal;   /* relevant spans, saliency top-q; -1 = no label */
    long *off;        /* (n_items + 1) item k's labels are [off[k], off[k+1]) */
    double q;         /* the saliency label fraction: the share of relevant-span tokens (items with spans) */
} TlmScoreLabels;

/* tlm_score_labels: both kinds for every item of it (saliency false: relevant only, saliency labels all -1); q
 * from these items, or q_fixed when >= 0 (dev and test take the train items'). */
int tlm_score_labels(const TlmBuildOpts *o, const TlmItems *it, bool saliency, double q_fixed, TlmScoreLabels *l,
                     const char *stage, Err *e);
void tlm_score_labels_free(TlmScoreLabels *l);

/* A score head's figures on a set of items. */
typedef struct TlmScoreDev {
    double acc[2];            /* full LLM accuracy at ratios 0.5 and 0.3, the head's compression */
    double acc_random[2];     /* the same with a seeded random subset of the system tokens (reference) */
    double acc_whole;         /* the same with the whole prompt (reference) */
    double prec[2], rec[2];   /* keep probability > 0.5 against the relevant [0] and saliency [1] labels */
    double topk[2];           /* of each item's k labelled-1 tokens, the share among its k highest-scored tokens
                                 (precision = recall at k) */
} TlmScoreDev;

/* tlm_score_dev: the figures of tlm's score head on items it (labels l); tlm_score_dev_head: of a head held alone. */
int tlm_score_dev(const TlmBuildOpts *o, Tlm *tlm, const TlmItems *it, const TlmScoreLabels *l, TlmScoreDev *out,
                  Err *e);
int tlm_score_dev_head(const TlmBuildOpts *o, const Model *head, const TlmItems *it, const TlmScoreLabels *l,
                       TlmScoreDev *out, Err *e);

/* The prob rule's margins tried on dev. */
#define TLM_N_MARGINS 6
extern const double TLM_MARGINS[TLM_N_MARGINS];

/* A decision head's figures over items x the 48 SLO pairs, under the paper's accounting (m p <= prefill,
 * m <= decode), from the items' grid outcomes. */
typedef struct TlmDecisionDev {
    double acc;               /* correct at the picked configuration */
    double infeasible;        /* share of first choices that were infeasible */
    double label_agree;       /* pair: share of labelled requests whose (ratio, level) equal the label */
    double oracle;            /* share of requests some feasible configuration answers */
} TlmDecisionDev;

/* tlm_decision_dev: tlm's pair head (pair) with the policy's fallbacks, or its prob head with margin, on items it
 * with grid outcomes grid (N_GRID per item). */
int tlm_decision_dev(Tlm *tlm, bool pair, double margin, const TlmItems *it, const unsigned char *grid,
                     TlmDecisionDev *out, Err *e);

/* tlm_time_requests: mean milliseconds per request of the score head plus a decision head (pair: with its SLO
 * tokens) over the first n_max items of it. */
int tlm_time_requests(Tlm *t, const TlmItems *it, bool pair, int n_max, double *ms, Err *e);

#endif
