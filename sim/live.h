/* live: the simulator checked against reality. `elms sim --live` replays a trace through the simulator's own event
 * loop (sim_run with SimOptions.live set) but serves every request on the real engine, on this machine, in wall-
 * clock time, and records the measured times beside the simulator's prediction for the same decisions.
 *
 * The service clock. Times are kept on a clock that advances only while the service is idle (it sleeps until the
 * next arrival; a request that arrives while the engine is busy waits in the scheduler's queue) and while it
 * serves (each phase is measured with base/clock.h and added). What a device serving requests would not do is left
 * out: the runner's recording, the accuracy evaluation of the answer, and the decision of a policy that has no
 * tiny LM (hindsight `oracle` evaluates items to decide; the simulator charges no policy any time for deciding).
 * So that this work does not warm the engine for the request that follows it, a request that arrives at an idle
 * engine is served after settle_ms of idling off the clock (live_settle).
 * A decision that runs a tiny LM (Decision.tlm_tokens > 0) is served: its wall time is the request's measured
 * tiny-LM time.
 *
 * What one request's service runs (live_serve): a view switch when the simulator charges one (the model or view
 * changed since the last request: the new ElasticView with its adapter is set and validated; no weights are
 * copied), then generate_greedy (engine/score.h) in the service's one KV cache, kept across requests, on the
 * prompt the decision produced: BOS + the kept system tokens
 * + the query (eval_prompt, the one prompt rule), or for a request without an item BOS + a seeded sequence of the
 * kept length; its prefill (the first token) and output_tokens - 1 greedy decode steps, without stopping at EOS.
 * A request of one output token decodes no token, so its TPOT is measured by one more decode step that its service
 * does not include (the simulator prices a TPOT for every request).
 *
 * Measured vs predicted, per request (the requests row of a live run holds the measured times, its pred_ columns
 * the prediction; docs/database.md):
 *   service TTFT = tlm + switch + prefill; TTFT = queue + service TTFT; TPOT = decode / (output_tokens - 1).
 *   The prediction of each component is the simulator's price of the decision the live run made (same model,
 *   view, keep-mask, prompt tokens, switch or not). The predicted queue is the FCFS wait of the predicted service
 *   times in the order the live run served its requests: start = max(arrival, the previous predicted end) (a
 *   request of a sequential trace arrives at the previous predicted end), so the predicted TTFT is end to end
 *   under the simulator's own queueing, not the measured one. (A policy's decision
 *   sees the measured wait, as it would on the device.) */
#ifndef ELMS_LIVE_H
#define ELMS_LIVE_H

#include <stdbool.h>

#include "datasets/items.h"
#include "engine/err.h"
#include "engine/model.h"
#include "sim/calibrate.h"
#include "sim/db.h"

/* The measured phases of one request. */
typedef struct LiveTimes {
    double switch_ms;   /* setting the new view (0 when the simulator charges no switch) */
    double prefill_ms;  /* model_prefill of the prompt (its logits give the first token) */
    double decode_ms;   /* the output_tokens - 1 greedy decode steps (0 for one output token) */
    double tpot_ms;     /* decode_ms / (output_tokens - 1); one extra step for a single output token */
} LiveTimes;

/* The error of the simulator over a live run's requests (percentages; NAN when no request qualifies). */
typedef struct LiveSummary {
    long requests;
    double mape_service_ttft, mape_ttft, mape_tpot, mape_prefill;
    double bias_service_ttft, bias_tpot;          /* mean (predicted - measured) / measured, in percent */
    double mean_service_ttft_ms, mean_pred_service_ttft_ms;
    double mean_tpot_ms, mean_pred_tpot_ms;
    double mean_queue_ms, mean_pred_queue_ms;     /* measured and simulated waits */
    /* the error of the predicted distribution's percentiles against the measured one's, (predicted - measured) /
     * measured in percent: TTFT (queue included) and TPOT at the median and the 95th percentile. The
     * distribution-level measure of simulators such as Vidur (the difference of a percentile of normalized request
     * latency); per-request MAPE above is stricter, as it also counts each request's own noise */
    double pct_ttft_p50, pct_ttft_p95, pct_tpot_p50, pct_tpot_p95;
} LiveSummary;

/* The models a live state prepares its cache for (more are served without preparing). */
#define LIVE_MAX_MODELS 8

/* A live run's state: the service clock, the engine's current view, buffers and the rows' errors. */
typedef struct SimLive {
    double now_ms;              /* the service clock (see the header), ms since the run began */
    double pred_free_ms;        /* when the predicted service becomes free */
    const Model *model;         /* the model and view in service (has_view) */
    ElasticView view;
    bool has_view;
    int *prompt, *out;          /* (prompt_cap), (out_cap) */
    int prompt_cap, out_cap;
    long n, cap;                /* recorded requests and the arrays' capacity */
    double *meas[4], *pred[4];  /* (n) each: service TTFT, TTFT, TPOT, prefill, measured and predicted */
    double queue_sum, pred_queue_sum;
    KVCache kv;                 /* the service's one KV cache and forward scratch, kept across requests and runs */
    const Model *prepared[LIVE_MAX_MODELS]; /* the models kv was prepared for (live_serve) */
    int n_prepared;
    double settle_ms;           /* idle off the clock before serving a request that arrived at an idle engine */
    long settles;               /* live_settle calls of the run (live_begin zeroes it) */
} SimLive;

/* The default settle_ms: elms calibrate's default --idle-ms, the state the host profile prices. */
#define LIVE_SETTLE_MS CALIB_IDLE_MS

/* live_init: an empty live state (live_begin starts a run). */
void live_init(SimLive *L);
/* live_free: release the buffers (L becomes empty). */
void live_free(SimLive *L);
/* live_begin: a new run: the clock at 0, no view in service, no rows, no model prepared (live_serve). */
void live_begin(SimLive *L);
/* live_wait: idle until the service clock reaches t_ms: sleep the difference; the clock is then t_ms (it never
 * goes back). The runner's lateness in waking (a sleep's timer slack and wake-up, 0.1-0.2 ms on a virtual
 * machine) is not on the clock: counted, it made every request that arrived at an idle engine wait that long,
 * which a device woken by the request does not. */
void live_wait(SimLive *L, double t_ms);
/* live_settle: idle settle_ms off the service clock (the clock does not move): a request that arrives at an idle
 * engine is served after it, so that the runner's own work (the evaluation of the previous answer, a decision
 * without a tiny LM) leaves the caches and clocks as an idle device's, the state `elms calibrate` times every pass
 * in (--idle-ms). A tiny LM's decision is served: the settling comes before it. */
void live_settle(SimLive *L);
/* live_advance: add ms of measured service (the decision of a policy with a tiny LM) to the clock. */
void live_advance(SimLive *L, double ms);
/* live_prompt: the prompt to serve into L's buffer: eval's prompt of x under keep with bos (x non-NULL), else
 * [bos] + kept tokens of a sequence seeded by the request id, ids in [0, vocab). Returns its length, -1 on
 * memory. */
int live_prompt(SimLive *L, const EncodedItem *x, const unsigned char *keep, int bos, long request_id, int kept,
                int vocab, Err *e);
/* live_serve: serve the prompt in L's buffer (n tokens) under (m, v) and output_tokens greedy tokens; switching
 * says whether the simulator charges a switch (the view is set and checked in either case, timed only then).
 * Every request runs in L's one KV cache (kvcache_reset: nothing allocated per request, as a service that keeps
 * its cache). The first time a run serves a model, the cache is sized for the model's full
 * view and context, its pages touched and one untimed prefill of the whole context run (the scratch sized), then
 * L settles: the first requests of a run no longer pay the first touch of several MB (a 256-token prefill took
 * 1.6-2.3x its steady time for the first two of its size in a fresh process).
 * Fills t and advances the clock by switch + prefill + decode. Fails (naming nothing: the caller names the
 * request) when the prompt and the output do not fit the model's context or the view is invalid. */
int live_serve(SimLive *L, const Model *m, const ElasticView *v, bool switching, int n, int output_tokens,
               LiveTimes *t, Err *e);
/* live_predict_queue: the simulated FCFS wait of a request arriving at arrival_ms (the trace's time; sequential:
 * it arrives when the request before it is done, in either timeline, and never waits) whose predicted service
 * takes service_ms, served after the requests L has served in this run (advances L's predicted timeline). */
double live_predict_queue(SimLive *L, double arrival_ms, bool sequential, double service_ms);
/* live_record: add one recorded request row (with its predictions) to the run's errors. */
int live_record(SimLive *L, const DbRequest *r, Err *e);
/* live_summarize: the simulator's error over the rows recorded since live_begin (MAPE through fit_mape, over
 * every row; percentiles by GSL's interpolated quantile of the sorted values). */
void live_summarize(const SimLive *L, LiveSummary *out);

/* live_check_context: whether a request of full prompt n_prompt tokens (BOS excluded; bos >= 0 adds one) and
 * output_tokens fits a model context of max_seq when served live (prompt + output tokens, the last one not
 * decoded; a single output token needs one more position for its TPOT step). */
bool live_check_context(int n_prompt, int bos, int output_tokens, int max_seq);

#endif
