/* feasible: the one feasibility and pricing helper. Whether a decision meets a request's SLO under the profile in
 * use, by how much (slack), and the choice every ladder-shaped method makes: given its configurations in order
 * of preference (most accurate first), the first that is feasible, or, when none is, the cheapest one (the
 * request is then an SLO miss). The simulator and every policy use these, so that the same code serves the
 * `normalized`, phone and `host` profiles.
 *
 * A request's TTFT as a policy can know it = the time it already waited + the decision's service TTFT (its
 * tiny-LM time and prefill, priced by the simulator's hook); switching depends on history and is left out. */
#ifndef ELMS_FEASIBLE_H
#define ELMS_FEASIBLE_H

#include <stdbool.h>

#include "elastic/levels.h"
#include "policies/policy.h"

typedef struct Feasibility {
    double ttft_ms, tpot_ms;   /* queue + service TTFT; time per output token */
    double slack;              /* min(1 - ttft / slo_ttft, 1 - tpot / slo_tpot); negative when infeasible */
    double excess;             /* max(ttft / slo_ttft, tpot / slo_tpot): <= 1 when feasible; orders misses */
    bool feasible;
} Feasibility;

/* feasible_within: a time meets a limit, with a relative tolerance of 1e-9 for rounding in products such as m * p. */
static inline bool feasible_within(double ms, double limit_ms) { return ms <= limit_ms * (1.0 + 1e-9) + 1e-12; }

/* feasible_times: the Feasibility of given TTFT and TPOT against the SLO limits (the simulator's SLO-met test). */
Feasibility feasible_times(double ttft_ms, double tpot_ms, double slo_ttft_ms, double slo_tpot_ms);

/* feasible_check: price d for r through env's hooks, add r's queue wait and test it against r's SLO. */
int feasible_check(const PolicyEnv *env, const PolicyRequest *r, const Decision *d, Feasibility *out, Err *e);

/* A ladder: n configurations in order of preference; fill writes configuration i into d (a zeroed Decision). */
typedef int (*FeasibleFillFn)(void *ctx, const PolicyRequest *r, int i, Decision *d, Err *e);

/* feasible_ladder: the index of the first feasible configuration of the ladder, or, when none is, the one with the
 * least excess (the cheapest relative to the SLO; ties: the earlier); d receives it. *feasible (may be NULL)
 * says which case it was. Prices every configuration until the first feasible one. n >= 1. */
int feasible_ladder(const PolicyEnv *env, const PolicyRequest *r, FeasibleFillFn fill, void *ctx, int n, Decision *d,
               int *pick, bool *feasible, Err *e);

/* feasible_level: the largest level of s (1.0, 0.9, ..., 0.2, each view with its adapter) that is feasible for r
 * on the base model with prompt keep-mask keep (NULL: the whole prompt) labelled ratio; when none is, the
 * cheapest level. d receives the decision; *feasible (may be NULL) says which case it was. LLM-Pruner's rule,
 * and ELMS's fallback when its predicted pair is infeasible (keep p, take the largest feasible m). */
int feasible_level(const PolicyEnv *env, const PolicyRequest *r, const LevelSet *s, const unsigned char *keep,
                   double ratio, Decision *d, bool *feasible, Err *e);

#endif
