/* ranking: the artefact of the layer-dropping baselines (layer-reduction, shortgpt, attndrop): a score per unit
 * (a layer, or a sub-block) and the order in which units are dropped (least important first), stored as
 * MODEL/policies/NAME/ranking.json: {"unit": "layer"|"subblock", "scores": [...], "order": [...]}; a sub-block
 * unit u is layer u / 2's attention (u even) or MLP (u odd) sub-block. The ladder of such a policy drops the
 * first i units of the order, i = 0 (the whole model) up to all but one. */
#ifndef ELMS_RANKING_H
#define ELMS_RANKING_H

#include <stdbool.h>

#include "engine/err.h"
#include "engine/model.h"

#define RANKING_MAX (2 * ELMS_MAX_LAYERS)

typedef struct Ranking {
    bool subblocks;               /* units are sub-blocks (2 per layer) instead of layers */
    int n;                        /* units */
    double score[RANKING_MAX];    /* (n) importance score of each unit (higher = more important) */
    int order[RANKING_MAX];       /* (n) units in drop order: ascending score, ties by lower index */
} Ranking;

/* ranking_from_scores: a ranking of n units from their scores (order = ascending score, ties by index). */
int ranking_from_scores(Ranking *r, const double *score, int n, bool subblocks, Err *e);

/* ranking_write / ranking_read: DIR/ranking.json. Reading checks the unit count against n_layers, that order
 * is a permutation, and names the file and field on error. */
int ranking_write(const Ranking *r, const char *dir, Err *e);
int ranking_read(Ranking *r, const char *dir, int n_layers, Err *e);

/* ranking_view: the full view of m with the first n_drop units of the order skipped (no adapter). */
void ranking_view(const Ranking *r, const Model *m, int n_drop, ElasticView *v);


/* ---- the offline side shared by the ranking policies ---- */
struct BuildEnv;
struct Calib;

/* RankingScoreFn: n scores (n = n_layers, or 2 n_layers for sub-blocks) of model m on calibration windows c. */
typedef int (*RankingScoreFn)(const Model *m, const struct Calib *c, double *score, Err *e);

/* ranking_build: calibration windows of env (build_calib), the scores of fn (progress stage `stage`), and the
 * ranking written as DIR/ranking.json. */
int ranking_build(const struct BuildEnv *env, const char *dir, RankingScoreFn fn, bool subblocks, const char *stage,
                  Err *e);

/* ---- the online side shared by the ranking policies ---- */
struct Policy;
struct PolicyRequest;
struct Decision;
struct PolicyMemory;

/* ranking_policy_prepare: load the policy's ranking.json (policy_artefacts) and its ladder of views. */
int ranking_policy_prepare(struct Policy *p, Err *e);
/* ranking_policy_decide: the first feasible rung of the ladder (drop 0, 1, ... units), else the cheapest. */
int ranking_policy_decide(struct Policy *p, const struct PolicyRequest *r, struct Decision *d, Err *e);
void ranking_policy_memory(const struct Policy *p, struct PolicyMemory *m);
void ranking_policy_destroy(struct Policy *p);

#endif
