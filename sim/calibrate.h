/* calibrate: measure the real engine on this machine and fit a latency profile (the `host` profile).
 * For every model level (levels_view, with the level's adapter when the model directory has one) and prompt
 * length it times model_prefill and a few model_decode steps, each pass after idle_ms of idling (a request
 * arrives at an idle engine, not at one that has just run the same view), takes the median over `reps`
 * interleaved rounds (a prediction of one served request, not of the least disturbed pass), and fits the
 * profile's cost model (sim/latfit.h; the formulas are in sim/profile.h) on the points of every other level
 * (0.2, 0.4, ..., 1.0) and of two uniform views narrower than the lowest level (5% and 10% of every layer's FFN
 * neurons and of its KV groups, at least one; no adapter; timed like the levels: they let the decode fit separate
 * its per-step constant from the cost of a byte in the cache and from the levels' adapters), holding
 * out the points of the levels in between (0.3, 0.5, 0.7, 0.9), then the decode
 * warm-up (latfit_warmup): the profile stores the fitted coefficients with the error on the fitted and on the
 * held-out points. It also times a view switch (building a view and its KV cache) and the tiny LM (or a small
 * proxy), each of its passes after an untimed request on the LLM and the idle, as it decides a request that
 * arrives after another was served. Times are wall clock: tests never assert on them. */
#ifndef ELMS_CALIBRATE_H
#define ELMS_CALIBRATE_H

#include <stdbool.h>

#include "engine/err.h"
#include "engine/model.h"
#include "sim/profile.h"

/* The default idle before every timed pass (elms calibrate --idle-ms), in ms; the live replay settles as long
 * (LIVE_SETTLE_MS), so that a served request finds the engine as calibration timed it. 100 ms, not less: a short
 * level-0.2 prefill ran 5-9% slower after 100-500 ms of idle than after 20 ms (whatever work came before), and
 * with a 20 ms settle the runner's own work before a request (oracle's hindsight evaluations) still left it warm
 * caches: oracle's first live run, which computed them, and its second, which found them computed, differed by
 * 8-37% per request in four Poisson runs, against 9-11% in three with 100 ms (README, live replay). */
#define CALIB_IDLE_MS 100.0

typedef struct CalibConfig {
    const int *lengths;     /* prompt lengths to time */
    int n_lengths;
    int reps;               /* runs per point (the median is kept) */
    double idle_ms;         /* idle time before each timed pass (a request arrives at an idle engine) */
    int decode_steps;       /* decode steps timed after each prefill */
    unsigned long seed;     /* token ids */
    const char *name;       /* profile name */
    const char *device;     /* device description */
    const char *command;    /* the command line, recorded as the source */
    const char *date;       /* UTC date, recorded as the source */
} CalibConfig;

typedef struct CalibPoint {
    const char *phase;      /* "prefill", "decode", "tlm", "switch" */
    double level;           /* the level, or for a narrower view the FFN width it keeps (calibrate.c) */
    int tokens;             /* prompt length (prefill, tlm) or mean context (decode) */
    double measured_ms, predicted_ms;
    bool held_out;          /* prefill and decode: not used by the fit */
} CalibPoint;

typedef struct CalibResult {
    Profile prof;
    CalibPoint *pts;        /* (n_pts) */
    int n_pts;
} CalibResult;

/* calibrate_run: time model m (directory dir, or NULL: no anchors or adapters) and fit a profile. */
int calibrate_run(const Model *m, const char *dir, const CalibConfig *c, CalibResult *out, Err *e);
void calibrate_result_free(CalibResult *r);
/* calibrate_tlm: time the tiny LM of dir (DIR/policies/elms: its score head and the decision head tlm.json
 * names, per request, against the tokens the policy prices, each pass after an untimed request on m and the
 * idle; without one, a random 4-layer dim-128 proxy) and set
 * out->prof's tlm group (a_ms, b_ms_per_token, params, source), appending its points to out (allocated when
 * out->pts is NULL). calibrate_run calls it; `elms calibrate --tlm-only` calls it alone. */
int calibrate_tlm(const Model *m, const char *dir, const CalibConfig *c, CalibResult *out, Err *e);

#endif
