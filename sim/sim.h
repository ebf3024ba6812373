/* sim: the discrete-event simulator of one on-device LLM service that runs one request at a time.
 *
 * Events (binary heap, sim/evq.h): ARRIVAL puts a request in the ready queue (FCFS by arrival, or EDF by TTFT
 * deadline); when the service is idle the head of the queue starts: the policy decides (knowing how long the
 * request waited), the profile prices the decision (tiny-LM, switch, prefill, decode), the engine answers the
 * item under the decision (through the evaluation cache), and a DONE event fires when the last token is out.
 * Requests without an arrival time arrive when the request before them in the trace is done, which replays a
 * `sequential` trace exactly as the paper does: no queueing.
 *
 * Prompt length = system + query tokens (BOS is a fixed cost). Per request: TTFT = queue + tlm + switch + prefill; TPOT = the decode time per token at the mean context;
 * decode = (output_tokens - 1) TPOT. SLO fractions become milliseconds through the profile's full-model times
 * for that request (whole base model, whole prompt). Switch time is zero when the model and view are unchanged.
 * Memory per request = the policy's resident weights (all its models, adapters, predictors) + its tiny LM + the
 * request's KV cache + the profile's runtime bytes; a run reports the peak.
 *
 * Shards (SimOptions.shard_index/shard_count): shard i of n records the requests at trace positions k (0-based,
 * trace order) with k mod n = i - 1. It still replays the whole trace's timeline (every arrival, queue, decision,
 * price and switch, which are cheap and which its own requests depend on: under Poisson or bursty arrivals through
 * queueing, in a sequential trace through the previous request's finish time and view) and runs the engine only
 * for its own requests, so each recorded row equals the row of the unsharded run. Hindsight policies (oracle)
 * still evaluate every request to decide it.
 *
 * Live (SimOptions.live, `elms sim --live`; sim/live.h): the same event loop and decisions, but every request is
 * served by the real engine on the service clock, so event times, queueing and the request's times are measured;
 * each recorded row also carries the simulator's price of the same decision (DbRequest pred_ fields). */
#ifndef ELMS_SIM_H
#define ELMS_SIM_H

#include <signal.h>
#include <stdbool.h>

#include "engine/model.h"
#include "engine/tokenizer.h"
#include "eval/eval.h"
#include "policies/policy.h"
#include "sim/db.h"
#include "sim/evalcache.h"
#include "sim/itemstore.h"
#include "sim/live.h"
#include "sim/profile.h"
#include "sim/runstats.h"
#include "traces/trace.h"

enum { SIM_EV_DONE = 0, SIM_EV_ARRIVAL = 1, SIM_EV_START = 2 }; /* kinds (DONE first at equal times) */

typedef enum { SCHED_FCFS = 0, SCHED_EDF = 1 } Scheduler;

/* What a run shares with every policy: the base model, its tokenizer, the profile, items and the cache. */
typedef struct SimContext {
    const Model *base;
    const Tokenizer *tok;
    const Profile *profile;
    ItemStore *items;
    EvalCache *cache;
    Evaluator ev;                  /* the one evaluation path, storing outcomes in cache */
} SimContext;

typedef struct SimOptions {
    Scheduler sched;
    volatile sig_atomic_t *stop;   /* when set, the run stops after the current request (interrupted) */
    void (*progress)(void *ctx, long done, long total); /* requests replayed of the trace's */
    void *progress_ctx;
    int shard_index, shard_count;  /* record shard shard_index (1-based) of shard_count; shard_count 0 or 1: all */
    SimLive *live;                 /* non-NULL: serve every request on the real engine (sim/live.h); unsharded */
    /* test hooks: every event (kind, trace index, time) and every finished request */
    void (*on_event)(void *ctx, int kind, long req, double t_ms);
    void (*on_record)(void *ctx, const DbRequest *r);
    void *hook_ctx;
} SimOptions;


/* sim_context_init: a context whose evaluations go through eval_item with cache as the store (cache may be
 * NULL: every evaluation runs the engine). */
void sim_context_init(SimContext *c, const Model *base, const Tokenizer *tok, const Profile *profile,
                      ItemStore *items, EvalCache *cache);
/* sim_hooks: the PolicyHooks (price, eval) a policy of this context is prepared with. */
PolicyHooks sim_hooks(SimContext *c);

/* sim_trace_check: validate the whole trace (path names it in messages) against the context before a run
 * begins: request ids unique; arrival times sequential or in [0, TRACE_MAX_ARRIVAL_S] seconds; SLOs positive and
 * at most TRACE_MAX_SLO; every item present in the item split of its app (loading and tokenising it); a request
 * without an item of a built-in app; every prompt (with BOS, and for items with the longest choice) within the
 * base model's context. 0, or -1 with the first problem ("PATH: request ID: field ...: ..."). */
int sim_trace_check(SimContext *c, const Trace *t, const char *path, Err *e);
/* sim_run: replay trace under policy p (already prepared with sim_hooks(c)). The requests of opt's shard (all of
 * them without one) are written to db as run run_id when db is non-NULL and summarised into out. With opt->live
 * the requests are served live (live_begin is called first; live_summarize gives the simulator's error after);
 * a live run cannot be sharded. */
int sim_run(SimContext *c, Policy *p, const Trace *trace, const SimOptions *opt, Db *db, long run_id,
            SimSummary *out, Err *e);

/* sim_trace_check_live: what a live run needs of a trace already checked by sim_trace_check: every request's whole
 * prompt (with BOS) and its output tokens fit the base model's context (live_check_context). 0, or -1 naming the
 * file, the request and the field. */
int sim_trace_check_live(SimContext *c, const Trace *t, const char *path, Err *e);

/* sim_shard_size: how many of n requests shard index of count records (all n when count <= 1). */
long sim_shard_size(long n, int index, int count);
/* sim_prepare_cpu_min: the CPU minutes of policy's offline preparation recorded in
 * MODEL_DIR/policies/POLICY/prepare.json (cpu_min), or NAN when the file or the field is missing or unreadable. */
double sim_prepare_cpu_min(const char *model_dir, const char *policy);
/* sim_policy_prepared: what a run of p (created, not necessarily prepared) records of its offline preparation:
 * *cpu_min = sim_prepare_cpu_min(model_dir, p->name), and hash = FNV-1a 64 of the bytes of
 * MODEL_DIR/policies/A/prepare.json as 16 hex digits, A = policy_artefacts_name(p) (`elms prepare` writes the file
 * anew with every build, so a rebuild changes the hash), or "" when A is NULL, model_dir is NULL or the file does
 * not exist. A file read for both is read once. Fails, naming the file, when it exists but cannot be read. */
int sim_policy_prepared(const char *model_dir, const Policy *p, double *cpu_min, char hash[17], Err *e);

#endif
