/* sim: the discrete-event simulator (see sim.h). */
#include "sim/sim.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/fileutil.h"
#include "base/hash.h"
#include "engine/io.h"
#include "policies/feasible.h"
#include "sim/evq.h"

void sim_context_init(SimContext *c, const Model *base, const Tokenizer *tok, const Profile *profile,
                      ItemStore *items, EvalCache *cache) {
    memset(c, 0, sizeof *c);
    c->base = base;
    c->tok = tok;
    c->profile = profile;
    c->items = items;
    c->cache = cache;
    EvalStore store = evalcache_store(cache);
    evaluator_init(&c->ev, tok, base, cache ? &store : NULL);
}

/* Prompt tokens priced under d: kept system tokens + query (BOS is a fixed cost, inside prefill's a). */
static int kept_prompt(const PolicyRequest *r, const Decision *d) {
    if (!r->enc) {
        if (d->ratio >= 1.0) return r->n_prompt;
        long k = (long)floor(d->ratio * r->n_prompt + 1e-9);
        return k < 1 ? 1 : (int)k;
    }
    int ks = r->enc->n_system;
    if (d->keep) {
        ks = 0;
        for (int i = 0; i < r->enc->n_system; i++) ks += d->keep[i] != 0;
    }
    return ks + r->enc->n_query;
}

/* What the profile charges for a decision (switching aside, which depends on history). */
typedef struct Price {
    CostShape shape;
    int kept;                  /* prompt tokens priced */
    double tlm_ms, prefill_ms, tpot_ms;
} Price;

/* price: the one place a decision is priced (the policies' hook and the replay both call it). */
static void price(const SimContext *c, const PolicyRequest *r, const Decision *d, Price *p) {
    cost_shape(c->base, d->model, &d->view, d->extra_lin, &p->shape);
    p->kept = kept_prompt(r, d);
    p->tlm_ms = profile_tlm_ms(c->profile, d->tlm_tokens, d->tlm_scale > 0 ? d->tlm_scale : 1);
    p->prefill_ms = profile_prefill_ms(c->profile, &p->shape, p->kept);
    p->tpot_ms = profile_tpot_ms(c->profile, &p->shape, p->kept, r->output_tokens);
}

static int hook_price(void *ctx, const PolicyRequest *r, const Decision *d, double *ttft, double *tpot, Err *e) {
    (void)e;
    Price p;
    price(ctx, r, d, &p);
    *ttft = p.tlm_ms + p.prefill_ms;
    *tpot = p.tpot_ms;
    return 0;
}

static int hook_eval(void *ctx, const PolicyRequest *r, const Decision *d, EvalOutcome *o, Err *e) {
    SimContext *c = ctx;
    if (!r->enc) return err_set(e, "request %ld has no item to evaluate", r->id);
    EvalQuery q = {.model = d->model, .view = &d->view, .select_key = d->select_key, .keep = d->keep, .x = r->enc,
                   .app = r->app, .item = r->item};
    return eval_item(&c->ev, &q, o, e);
}

PolicyHooks sim_hooks(SimContext *c) { return (PolicyHooks){c, hook_price, hook_eval}; }

/* ---- the event loop ---- */

typedef struct Pending {        /* per-request state known from arrival */
    double arrival_ms, slo_ttft_ms, slo_tpot_ms, slo_ttft_frac, slo_tpot_frac;
    const StoreEntry *entry;    /* NULL when the request has no item */
    int n_prompt;
} Pending;

typedef struct Run {
    SimContext *c;
    Policy *p;
    const Trace *t;
    const SimOptions *opt;
    Db *db;
    long run_id;
    Pending *pend;              /* (n) */
    RunStats stats;             /* the recorded requests */
    long replayed;              /* requests done, recorded or not */
    Evq events, ready;
    bool busy;
    DbRequest cur;              /* the request in service */
    const Model *last_model;    /* what ran last (switch detection) */
    ElasticView last_view;
    double weight_bytes;        /* resident weights + tiny LM + runtime */
    SimSummary *sum;
} Run;

static int on_arrival(Run *R, long i, double now, Err *e) {
    const TraceRequest *q = &R->t->req[i];
    Pending *p = &R->pend[i];
    p->arrival_ms = now;
    p->entry = NULL;
    if (q->item >= 0) {
        if (itemstore_get(R->c->items, trace_app(R->t, q), trace_item(R->t, q), &p->entry, e))
            return err_prefix(e, "request %ld", q->id);
        p->n_prompt = p->entry->enc.n_system + p->entry->enc.n_query;
    } else {
        p->n_prompt = q->prompt_tokens;
    }
    CostShape full = cost_full();
    double ttft_full = profile_prefill_ms(R->c->profile, &full, p->n_prompt);
    double tpot_full = profile_tpot_ms(R->c->profile, &full, p->n_prompt, q->output_tokens);
    p->slo_ttft_ms = q->slo_ttft_ms ? q->slo_ttft : q->slo_ttft * ttft_full;
    p->slo_tpot_ms = q->slo_tpot_ms ? q->slo_tpot : q->slo_tpot * tpot_full;
    p->slo_ttft_frac = q->slo_ttft_ms ? q->slo_ttft / ttft_full : q->slo_ttft;
    p->slo_tpot_frac = q->slo_tpot_ms ? q->slo_tpot / tpot_full : q->slo_tpot;
    if (R->opt && R->opt->on_event) R->opt->on_event(R->opt->hook_ctx, SIM_EV_ARRIVAL, i, now);
    double key = R->opt && R->opt->sched == SCHED_EDF ? now + p->slo_ttft_ms : now;
    if (evq_push(&R->ready, key, 0, i)) return err_set(e, "out of memory");
    return 0;
}

/* mine: whether the request at trace position i belongs to the shard being recorded. */
static bool mine(const Run *R, long i) {
    int n = R->opt ? R->opt->shard_count : 0;
    return n <= 1 || i % n == R->opt->shard_index - 1;
}

/* serve_live: serve the request in R->cur (trace position index; priced; decided as d in decide_ms of wall time)
 * on the real engine: its prices become its predictions and its times the measured ones (sim/live.h). */
static int serve_live(Run *R, long index, const PolicyRequest *r, const Decision *d, double decide_ms, int kept,
                      Err *e) {
    SimLive *L = R->opt->live;
    DbRequest *x = &R->cur;
    x->has_pred = true;
    x->pred_tlm_ms = x->tlm_ms;
    x->pred_switch_ms = x->switch_ms;
    x->pred_prefill_ms = x->prefill_ms;
    x->pred_tpot_ms = x->tpot_ms;
    x->pred_queue_ms = live_predict_queue(L, x->arrival_ms, R->t->req[index].arrival_s < 0,
                                          x->tlm_ms + x->switch_ms + x->prefill_ms + x->decode_ms);
    x->tlm_ms = d->tlm_tokens > 0 ? decide_ms : 0; /* a tiny LM's decision is served; others are not */
    live_advance(L, x->tlm_ms);
    int n = live_prompt(L, r->enc, d->keep, R->c->ev.bos_id, r->id, kept, d->model->cfg.vocab_size, e);
    LiveTimes lt;
    if (n < 0 || live_serve(L, d->model, &d->view, x->switch_ms > 0, n, r->output_tokens, &lt, e))
        return err_prefix(e, "request %ld (live)", r->id);
    x->switch_ms = lt.switch_ms;
    x->prefill_ms = lt.prefill_ms;
    x->decode_ms = lt.decode_ms;
    x->tpot_ms = lt.tpot_ms;
    return 0;
}

static int dispatch(Run *R, double now, bool at_arrival, Err *e) {
    Event ev;
    if (R->busy || !evq_pop(&R->ready, &ev)) return 0;
    SimLive *L = R->opt ? R->opt->live : NULL;
    if (L) now = L->now_ms; /* the service clock: at or after the event that freed the service */
    long i = ev.req;
    const TraceRequest *q = &R->t->req[i];
    const Pending *p = &R->pend[i];
    const Profile *prof = R->c->profile;
    if (R->opt && R->opt->on_event) R->opt->on_event(R->opt->hook_ctx, SIM_EV_START, i, now);
    PolicyRequest r = {
        .id = q->id, .app = trace_app(R->t, q), .item = trace_item(R->t, q),
        .enc = p->entry ? &p->entry->enc : NULL, .n_prompt = p->n_prompt, .output_tokens = q->output_tokens,
        .slo_ttft_frac = p->slo_ttft_frac, .slo_tpot_frac = p->slo_tpot_frac, .slo_ttft_ms = p->slo_ttft_ms,
        .slo_tpot_ms = p->slo_tpot_ms, .queue_ms = now - p->arrival_ms,
    };
    Decision d;
    bool settle = L && at_arrival; /* a request that finds the engine idle finds it as an idle device's */
    if (settle) live_settle(L);
    double t0 = clock_wall_s();
    if (policy_decide(R->p, &r, &d, e)) return -1;
    double decide_ms = 1e3 * (clock_wall_s() - t0);
    if (settle && d.tlm_tokens <= 0) live_settle(L); /* the decision was the runner's work, not the device's */
    Price pr;
    price(R->c, &r, &d, &pr);
    DbRequest *x = &R->cur;
    memset(x, 0, sizeof *x);
    x->request = q->id;
    x->app = r.app;
    x->item = q->item >= 0 ? r.item : NULL;
    x->arrival_ms = p->arrival_ms;
    x->slo_ttft_ms = p->slo_ttft_ms;
    x->slo_tpot_ms = p->slo_tpot_ms;
    x->level = d.level;
    x->ratio = d.ratio;
    x->prompt_tokens = p->n_prompt;
    x->kept_tokens = pr.kept;
    x->output_tokens = q->output_tokens;
    x->queue_ms = r.queue_ms;
    x->tlm_ms = pr.tlm_ms;
    if (R->last_model && R->last_model != d.model) x->switch_ms = prof->switch_model_ms;
    else if (R->last_model && !view_equal(&R->last_view, &d.view)) x->switch_ms = prof->switch_view_ms;
    R->last_model = d.model;
    R->last_view = d.view;
    x->prefill_ms = pr.prefill_ms;
    x->tpot_ms = pr.tpot_ms;
    x->decode_ms = (q->output_tokens - 1) * x->tpot_ms;
    if (L && serve_live(R, i, &r, &d, decide_ms, pr.kept, e)) return -1;
    x->ttft_ms = x->queue_ms + x->tlm_ms + x->switch_ms + x->prefill_ms;
    x->ttft_met = feasible_within(x->ttft_ms, x->slo_ttft_ms);
    x->tpot_met = feasible_within(x->tpot_ms, x->slo_tpot_ms);
    x->slo_met = x->ttft_met && x->tpot_met;
    x->choice = x->correct = -1;
    if (r.enc && mine(R, i)) { /* another shard's request: its answer changes nothing this shard records */
        EvalOutcome o;
        if (hook_eval(R->c, &r, &d, &o, e)) return err_prefix(e, "request %ld", q->id);
        x->choice = o.choice;
        x->correct = o.correct;
    }
    x->memory_bytes = R->weight_bytes + profile_kv_bytes(prof, &pr.shape, x->kept_tokens + q->output_tokens,
                                                         cost_kv_elems_per_token(&R->c->base->cfg));
    double end = now + x->tlm_ms + x->switch_ms + x->prefill_ms + x->decode_ms;
    if (L) end = L->now_ms; /* the same sum, measured, on the service clock */
    R->busy = true;
    if (evq_push(&R->events, end, SIM_EV_DONE, i)) return err_set(e, "out of memory");
    return 0;
}

static int on_done(Run *R, long i, double now, Err *e) {
    const DbRequest *x = &R->cur;
    R->busy = false;
    if (R->opt && R->opt->on_event) R->opt->on_event(R->opt->hook_ctx, SIM_EV_DONE, i, now);
    if (mine(R, i)) {
        if (R->db && db_request_add(R->db, R->run_id, x, e)) return -1;
        if (R->opt && R->opt->on_record) R->opt->on_record(R->opt->hook_ctx, x);
        if (runstats_add(&R->stats, x, e)) return -1;
        if (R->opt && R->opt->live && live_record(R->opt->live, x, e)) return -1;
    }
    R->replayed++;
    R->sum->end_ms = now;
    if (i + 1 < R->t->n && R->t->req[i + 1].arrival_s < 0 && evq_push(&R->events, now, SIM_EV_ARRIVAL, i + 1))
        return err_set(e, "out of memory");
    long every = R->opt && R->opt->live ? 1 : 1024; /* a live request takes wall time */
    if (R->opt && R->opt->progress && (R->replayed % every == 0 || R->replayed == R->t->n))
        R->opt->progress(R->opt->progress_ctx, R->replayed, R->t->n);
    return 0;
}

int sim_run(SimContext *c, Policy *p, const Trace *t, const SimOptions *opt, Db *db, long run_id, SimSummary *out,
            Err *e) {
    memset(out, 0, sizeof *out);
    if (opt && opt->live && opt->shard_count > 1)
        return err_set(e, "a live run cannot be sharded (its queueing is measured, not replayed)");
    c->ev.key_len = -1; /* models and adapters of earlier runs may have been freed */
    if (opt && opt->live) live_begin(opt->live);
    Run R = {.c = c, .p = p, .t = t, .opt = opt, .db = db, .run_id = run_id, .sum = out};
    int rc = -1;
    evq_init(&R.events);
    evq_init(&R.ready);
    runstats_init(&R.stats);
    R.pend = malloc(sizeof *R.pend * (size_t)(t->n ? t->n : 1));
    if (!R.pend) {
        err_set(e, "out of memory for %ld requests", t->n);
        goto done;
    }
    PolicyMemory pm = {(double)c->base->n_params, 0};
    if (p->memory) p->memory(p, &pm);
    const Profile *prof = c->profile;
    double tlm_bytes = prof->memory_target ? (pm.tlm_params > 0 ? prof->tlm_params * prof->tlm_bytes_per_param : 0)
                                           : pm.tlm_params * 4.0;
    R.weight_bytes = profile_weight_bytes(prof, pm.params, (double)c->base->n_params) + tlm_bytes +
                     prof->runtime_bytes;
    for (long i = 0; i < t->n; i++)
        if (t->req[i].arrival_s >= 0 && evq_push(&R.events, t->req[i].arrival_s * 1000.0, SIM_EV_ARRIVAL, i)) {
            err_set(e, "out of memory");
            goto done;
        }
    if (t->n > 0 && t->req[0].arrival_s < 0 && evq_push(&R.events, 0.0, SIM_EV_ARRIVAL, 0)) {
        err_set(e, "out of memory");
        goto done;
    }
    Event ev;
    while (evq_pop(&R.events, &ev)) {
        if (ev.kind == SIM_EV_ARRIVAL) {
            if (opt && opt->live) live_wait(opt->live, ev.t); /* idle until it arrives (no wait once it has) */
            if (on_arrival(&R, ev.req, ev.t, e) || dispatch(&R, ev.t, true, e)) goto done;
        } else {
            if (on_done(&R, ev.req, ev.t, e)) goto done;
            if (opt && opt->stop && *opt->stop) {
                out->interrupted = true;
                break;
            }
            if (dispatch(&R, ev.t, false, e)) goto done;
        }
    }
    runstats_summarize(&R.stats, out);
    if (!out->interrupted && R.replayed != t->n) {
        err_set(e, "simulator: %ld of %ld requests completed", R.replayed, t->n);
        goto done;
    }
    rc = 0;
done:
    if (db && db_commit(db, rc ? NULL : e)) rc = -1;
    evq_free(&R.events);
    evq_free(&R.ready);
    free(R.pend);
    runstats_free(&R.stats);
    return rc;
}

long sim_shard_size(long n, int index, int count) {
    if (count <= 1) return n;
    return n / count + (index - 1 < n % count ? 1 : 0);
}

/* read_manifest: the bytes of MODEL_DIR/policies/NAME/prepare.json into *text (len; caller frees), or *text = NULL
 * when model_dir or name is NULL or the file does not exist. -1 when it exists but cannot be read. */
static int read_manifest(const char *model_dir, const char *name, char **text, size_t *len, Err *e) {
    char path[1400];
    *text = NULL;
    *len = 0;
    if (!model_dir || !name) return 0;
    if ((size_t)snprintf(path, sizeof path, "%s/policies/%s/prepare.json", model_dir, name) >= sizeof path)
        return err_set(e, "%s/policies/%s/prepare.json: path too long", model_dir, name);
    if (!path_is_file(path)) return 0;
    return io_read_file(path, text, len, e);
}

/* cpu_min_of: the cpu_min of the prepare.json text (len bytes) of policy, or NAN when missing or malformed. */
static double cpu_min_of(const char *model_dir, const char *policy, const char *text, size_t len) {
    if (!text) return NAN;
    char path[1400];
    snprintf(path, sizeof path, "%s/policies/%s/prepare.json", model_dir, policy);
    cJSON *j;
    Err e;
    double v = NAN;
    if (io_json_parse(text, len, path, &j, &e)) return NAN;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cpu_min");
    if (c && io_json_double(c, NULL, 0, HUGE_VAL, &v, path, &e)) v = NAN;
    cJSON_Delete(j);
    return v;
}

double sim_prepare_cpu_min(const char *model_dir, const char *policy) {
    char *text;
    size_t len;
    Err e;
    if (read_manifest(model_dir, policy, &text, &len, &e)) return NAN;
    double v = cpu_min_of(model_dir, policy, text, len);
    free(text);
    return v;
}

int sim_policy_prepared(const char *model_dir, const Policy *p, double *cpu_min, char hash[17], Err *e) {
    const char *name = policy_artefacts_name(p);
    bool shared = name && !strcmp(name, p->name); /* the cost and the hash come from one file */
    char *own, *other = NULL;
    size_t own_len, other_len = 0;
    Err ignore;
    hash[0] = 0;
    /* the cost is informative: an unreadable file leaves it NAN (as sim_prepare_cpu_min does); the hash is not */
    int rc = read_manifest(model_dir, p->name, &own, &own_len, shared ? e : &ignore);
    if (rc && !shared) rc = 0;
    if (!rc && name && !shared) rc = read_manifest(model_dir, name, &other, &other_len, e);
    *cpu_min = cpu_min_of(model_dir, p->name, own, own_len);
    const char *text = shared ? own : other;
    if (!rc && text) hash_hex(hash_fnv1a(HASH_FNV_OFFSET, text, shared ? own_len : other_len), hash);
    free(own);
    free(other);
    return rc;
}
