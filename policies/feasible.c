/* feasible: feasibility, slack and the ladder rule (see feasible.h). */
#include "policies/feasible.h"

#include <string.h>

Feasibility feasible_times(double ttft_ms, double tpot_ms, double slo_ttft_ms, double slo_tpot_ms) {
    Feasibility f = {.ttft_ms = ttft_ms, .tpot_ms = tpot_ms};
    double a = ttft_ms / slo_ttft_ms, b = tpot_ms / slo_tpot_ms;
    f.excess = a > b ? a : b;
    f.slack = 1.0 - f.excess;
    f.feasible = feasible_within(ttft_ms, slo_ttft_ms) && feasible_within(tpot_ms, slo_tpot_ms);
    return f;
}

int feasible_check(const PolicyEnv *env, const PolicyRequest *r, const Decision *d, Feasibility *out, Err *e) {
    const PolicyHooks *h = &env->hooks;
    if (!h->price) return err_set(e, "no pricing hook: a policy is priced by the simulator");
    double ttft, tpot;
    if (h->price(h->ctx, r, d, &ttft, &tpot, e)) return -1;
    *out = feasible_times(r->queue_ms + ttft, tpot, r->slo_ttft_ms, r->slo_tpot_ms);
    return 0;
}

int feasible_ladder(const PolicyEnv *env, const PolicyRequest *r, FeasibleFillFn fill, void *ctx, int n, Decision *d,
               int *pick, bool *feasible, Err *e) {
    if (n < 1) return err_set(e, "a ladder of %d configurations", n);
    int best = -1;
    double best_excess = 0;
    for (int i = 0; i < n; i++) {
        Decision x;
        memset(&x, 0, sizeof x);
        Feasibility f;
        if (fill(ctx, r, i, &x, e) || feasible_check(env, r, &x, &f, e)) return -1;
        if (f.feasible) {
            *d = x;
            if (pick) *pick = i;
            if (feasible) *feasible = true;
            return 0;
        }
        if (best < 0 || f.excess < best_excess) {
            best = i;
            best_excess = f.excess;
        }
    }
    memset(d, 0, sizeof *d);
    if (fill(ctx, r, best, d, e)) return -1;
    if (pick) *pick = best;
    if (feasible) *feasible = false;
    return 0;
}

typedef struct LevelLadder {
    const PolicyEnv *env;
    const LevelSet *s;
    const unsigned char *keep;
    double ratio;
} LevelLadder;

static int fill_level(void *ctx, const PolicyRequest *r, int i, Decision *d, Err *e) {
    (void)r;
    (void)e;
    const LevelLadder *l = ctx;
    int li = N_LEVELS - 1 - i; /* 1.0 first */
    d->model = l->env->base;
    d->view = l->s->view[li];
    d->keep = l->keep;
    d->level = LEVELS[li];
    d->ratio = l->ratio;
    return 0;
}

int feasible_level(const PolicyEnv *env, const PolicyRequest *r, const LevelSet *s, const unsigned char *keep,
                   double ratio, Decision *d, bool *feasible, Err *e) {
    LevelLadder l = {env, s, keep, ratio};
    return feasible_ladder(env, r, fill_level, &l, N_LEVELS, d, NULL, feasible, e);
}
