/* Tests of the live replay (sim/live.h, elms sim --live) on the fixture's small model and tiny traces: every request
 * is served once, its measured times are positive and recorded with the simulator's predictions, the predictions
 * are exactly what the simulator prices for the same decisions (and its FCFS queue), arrivals are honoured (no
 * request starts before it arrives), requests queue in the scheduler's order, the error summary is computed from
 * the recorded rows, and bad inputs are refused with the file, request and field named. Wall-time magnitudes are
 * never asserted. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fit.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"

/* run_policy: replay t under policy (compressor "random", seed 42), live when live is non-NULL. */
static int run_policy(SimFixture *f, const char *policy, const Trace *t, Scheduler s, SimLive *live, SimLog *L,
                      Db *db, long run_id, Err *e) {
    Policy p;
    PolicyEnv env = {.base = &f->model, .tok = &f->tok, .compressor = "random", .seed = 42,
                     .hooks = sim_hooks(&f->ctx)};
    if (policy_create(&p, policy, e) || policy_prepare(&p, &env, e)) {
        policy_destroy(&p);
        return -1;
    }
    SimOptions o = {.sched = s, .on_event = simlog_on_event, .on_record = simlog_on_record, .hook_ctx = L, .live = live};
    SimSummary sum;
    int rc = sim_run(&f->ctx, &p, t, &o, db, run_id, &sum, e);
    if (!rc && sum.requests != t->n) rc = err_set(e, "%ld of %ld requests summarised", sum.requests, t->n);
    policy_destroy(&p);
    return rc;
}

/* small_outputs: output tokens 1..4 (one of each length at least), so that every prompt fits the fixture's
 * 128-token context with its output; groups of `group` requests arrive together, gap_s apart (the engine is
 * busy inside a group and idle between groups at any speed of this machine that matters: gap_s is generous). */
static void shape_trace(Trace *t, int group, double gap_s) {
    for (long i = 0; i < t->n; i++) {
        t->req[i].output_tokens = 1 + (int)(i % 4);
        if (group > 0) t->req[i].arrival_s = (double)(i / group) * gap_s;
    }
}

/* check_served: every request arrived, started and finished once, no request started before its arrival or before
 * the previous one finished, the measured times are positive and add up, and the prediction is recorded. */
static void check_served(TestCtx *t, const SimLog *L, const Trace *tr) {
    CHECK_MSG(L->n_rec == tr->n && L->n_started == tr->n, "%ld recorded, %ld started of %ld", L->n_rec,
              L->n_started, tr->n);
    for (long k = 0; k < L->n_started; k++) {
        long i = L->start_order[k];
        const DbRequest *r = &L->rec[i];
        CHECK_MSG(L->arrive[i] == 1 && L->start[i] == 1 && L->done[i] == 1, "request %ld: %d/%d/%d", i, L->arrive[i],
                  L->start[i], L->done[i]);
        if (tr->req[i].arrival_s >= 0) CHECK_NEAR(L->t_arrive[i], tr->req[i].arrival_s * 1000.0, 1e-9);
        CHECK_MSG(L->t_start[i] >= L->t_arrive[i], "request %ld starts at %.6f before it arrives at %.6f", i,
                  L->t_start[i], L->t_arrive[i]);
        if (k > 0) CHECK(L->t_start[i] >= L->t_done[L->start_order[k - 1]]); /* one request at a time */
        /* work-conserving on the service clock: a request starts at its arrival when the engine is idle (the
         * runner's lateness in waking is not on the clock) or when the one before it is done */
        double prev_done = k > 0 ? L->t_done[L->start_order[k - 1]] : 0, free_at = prev_done;
        if (tr->req[i].arrival_s >= 0 && L->t_arrive[i] > free_at) free_at = L->t_arrive[i];
        CHECK_MSG(fabs(L->t_start[i] - free_at) < 1e-6, "request %ld starts at %.6f, the engine was free at %.6f", i,
                  L->t_start[i], free_at);
        CHECK_NEAR(r->queue_ms, L->t_start[i] - L->t_arrive[i], 1e-9);
        CHECK(r->queue_ms >= 0 && r->prefill_ms > 0 && r->tpot_ms > 0 && r->switch_ms >= 0 && r->tlm_ms >= 0);
        CHECK(r->output_tokens > 1 ? r->decode_ms > 0 : r->decode_ms == 0);
        CHECK_NEAR(r->ttft_ms, r->queue_ms + r->tlm_ms + r->switch_ms + r->prefill_ms, 1e-9);
        /* the service ends when its measured phases do, on the service clock */
        CHECK_NEAR(L->t_done[i], L->t_start[i] + r->tlm_ms + r->switch_ms + r->prefill_ms + r->decode_ms, 1e-6);
        CHECK(r->has_pred && r->pred_prefill_ms > 0 && r->pred_tpot_ms > 0 && r->pred_queue_ms >= 0);
    }
}

TEST(live_full_serves_every_request_and_predicts_as_the_simulator) {
    SimFixture f;
    fixture_init(&f, "host", 12, 1, NULL);
    Trace tr;
    fixture_trace(&tr, 12, 18, 0.0, ARRIVAL_POISSON, 10.0, 5);
    shape_trace(&tr, 3, 0.05); /* six groups of three, 50 ms apart */
    Err e;
    CHECK_MSG(sim_trace_check_live(&f.ctx, &tr, "t.jsonl", &e) == 0, "%s", e.msg);
    SimLive live;
    live_init(&live);
    /* a request that arrives at an idle engine is served after idling off the clock (check_served's clock
     * identities hold with it), before full's decision and again after it; a request dispatched when the one
     * before it ends does not settle */
    CHECK(live.settle_ms == LIVE_SETTLE_MS);
    live.settle_ms = 1;
    SimLog L, S;
    simlog_init(&L, &tr);
    simlog_init(&S, &tr);
    CHECK_MSG(run_policy(&f, "full", &tr, SCHED_FCFS, &live, &L, NULL, 0, &e) == 0, "%s", e.msg);
    check_served(t, &L, &tr);
    /* the simulator on the same trace: full decides the same whatever the wait, so its prices and its queue are
     * the live run's predictions, bit for bit */
    CHECK_MSG(run_policy(&f, "full", &tr, SCHED_FCFS, NULL, &S, NULL, 0, &e) == 0, "%s", e.msg);
    long waited = 0;
    for (long i = 0; i < tr.n; i++) {
        const DbRequest *r = &L.rec[i], *s = &S.rec[i];
        CHECK(!s->has_pred);
        CHECK(r->level == s->level && r->ratio == s->ratio && r->kept_tokens == s->kept_tokens);
        CHECK_MSG(r->pred_prefill_ms == s->prefill_ms && r->pred_tpot_ms == s->tpot_ms && r->pred_tlm_ms == s->tlm_ms &&
                      r->pred_switch_ms == s->switch_ms,
                  "request %ld: predicted %.9g %.9g, simulated %.9g %.9g", i, r->pred_prefill_ms, r->pred_tpot_ms,
                  s->prefill_ms, s->tpot_ms);
        CHECK_NEAR(r->pred_queue_ms, s->queue_ms, 1e-9);
        CHECK(r->correct == s->correct && r->choice == s->choice); /* the same evaluation path */
        CHECK(r->switch_ms == 0 && r->tlm_ms == 0);                 /* one view, no tiny LM */
        /* FCFS: a time-ordered trace starts in trace order; the second and third of a group wait */
        CHECK(L.start_order[i] == i);
        if (i % 3) CHECK_MSG(r->queue_ms > 0, "request %ld arrived with the one before it but did not wait", i);
        waited += r->queue_ms > 0;
    }
    CHECK(waited >= 12);
    long at_idle = (tr.n + 2) / 3; /* the first of each group arrives at an idle engine */
    CHECK_MSG(live.settles == 2 * at_idle, "%ld settles for %ld requests served at arrival", live.settles, at_idle);
    /* every request ran in the one kept cache, prepared once for the model's full view and whole context */
    ElasticView full;
    view_full(f.ctx.base, &full);
    CHECK(live.n_prepared == 1 && live.prepared[0] == f.ctx.base && live.kv.len > 0);
    CHECK(live.kv.buf_bytes >= kvcache_bytes_for(f.ctx.base, &full, f.ctx.base->cfg.max_seq));
    /* the summary is the rows' error */
    LiveSummary ls;
    live_summarize(&live, &ls);
    double meas[64], pred[64];
    for (long i = 0; i < tr.n; i++) meas[i] = L.rec[i].tpot_ms, pred[i] = L.rec[i].pred_tpot_ms;
    CHECK(ls.requests == tr.n);
    CHECK_NEAR(ls.mape_tpot, fit_mape(pred, meas, (int)tr.n), 1e-9);
    for (long i = 0; i < tr.n; i++) {
        const DbRequest *r = &L.rec[i];
        meas[i] = r->queue_ms + r->prefill_ms;
        pred[i] = r->pred_queue_ms + r->pred_prefill_ms;
    }
    CHECK_NEAR(ls.mape_ttft, fit_mape(pred, meas, (int)tr.n), 1e-9);
    CHECK(ls.mape_service_ttft >= 0 && ls.mape_prefill == ls.mape_service_ttft); /* full: service = prefill */
    live_free(&live);
    simlog_free(&L);
    simlog_free(&S);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(live_oracle_sequential_decides_and_predicts_as_the_simulator) {
    /* a sequential trace never queues, live or simulated, so a policy that looks at the wait (oracle, hindsight)
     * decides the same in both, and switches between views where the simulator charges them */
    SimFixture f;
    fixture_init(&f, "host", 12, 1, NULL);
    Trace tr;
    fixture_trace(&tr, 12, 16, 0.0, ARRIVAL_SEQUENTIAL, 1, 6);
    shape_trace(&tr, 0, 0);
    Err e;
    SimLive live;
    live_init(&live);
    SimLog L, S;
    simlog_init(&L, &tr);
    simlog_init(&S, &tr);
    CHECK_MSG(run_policy(&f, "oracle", &tr, SCHED_FCFS, &live, &L, NULL, 0, &e) == 0, "%s", e.msg);
    check_served(t, &L, &tr);
    CHECK_MSG(run_policy(&f, "oracle", &tr, SCHED_FCFS, NULL, &S, NULL, 0, &e) == 0, "%s", e.msg);
    int switches = 0, levels = 0;
    for (long i = 0; i < tr.n; i++) {
        const DbRequest *r = &L.rec[i], *s = &S.rec[i];
        CHECK_MSG(r->queue_ms == 0 && r->pred_queue_ms == 0 && s->queue_ms == 0, "request %ld: queue %.9g, predicted %.9g, simulated %.9g", i, r->queue_ms, r->pred_queue_ms, s->queue_ms);
        CHECK_MSG(r->level == s->level && r->ratio == s->ratio && r->kept_tokens == s->kept_tokens,
                  "request %ld: live (%g, %g), simulated (%g, %g)", i, r->level, r->ratio, s->level, s->ratio);
        CHECK(r->pred_prefill_ms == s->prefill_ms && r->pred_tpot_ms == s->tpot_ms && r->pred_switch_ms == s->switch_ms);
        CHECK((r->pred_switch_ms > 0) == (r->switch_ms > 0)); /* a measured switch exactly where one is priced */
        switches += s->switch_ms > 0;
        levels += r->level < 1.0;
        if (i > 0) CHECK(L.t_arrive[i] == L.t_done[i - 1]);
    }
    CHECK_MSG(switches > 0 && levels > 0, "the oracle never switched (%d) or shrank (%d): the test proves little",
              switches, levels);
    live_free(&live);
    simlog_free(&L);
    simlog_free(&S);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(live_edf_orders_a_queue_by_deadline_and_records) {
    SimFixture f;
    Db db;
    Err e;
    CHECK(db_open(&db, test_path("live.db"), &e) == 0);
    fixture_init(&f, "host", 12, 1, &db);
    Trace tr;
    fixture_trace(&tr, 12, 12, 0.0, ARRIVAL_POISSON, 10.0, 7);
    shape_trace(&tr, 4, 0.05); /* three groups of four arrive together */
    SimLive live;
    live_init(&live);
    SimLog L;
    simlog_init(&L, &tr);
    DbRun run = {.created = "2000-01-01T00:00:00Z", .command = "test", .seed = 42, .policy = "full", .trace = "t",
                 .profile = "host", .model = "m", .model_hash = f.model.hash, .scheduler = "edf", .n_requests = tr.n,
                 .live = true};
    long id;
    CHECK(db_run_begin(&db, &run, &id, &e) == 0);
    CHECK_MSG(run_policy(&f, "full", &tr, SCHED_EDF, &live, &L, &db, id, &e) == 0, "%s", e.msg);
    check_served(t, &L, &tr);
    /* EDF: each request starts with the earliest TTFT deadline (arrival + SLO) of those waiting at its start; the
     * ones that arrived with another wait */
    long waited = 0;
    for (long k = 0; k < L.n_started; k++) {
        long i = L.start_order[k];
        double deadline = L.rec[i].arrival_ms + L.rec[i].slo_ttft_ms;
        for (long m = k + 1; m < L.n_started; m++) {
            long j = L.start_order[m];
            if (L.seq_arrive[j] < L.seq_start[i]) /* it had arrived (the service learnt of it) */
                CHECK_MSG(deadline <= L.rec[j].arrival_ms + L.rec[j].slo_ttft_ms,
                          "request %ld started before request %ld, which was waiting with an earlier deadline", i, j);
        }
        waited += L.rec[i].queue_ms > 0;
    }
    CHECK(waited >= 9);
    CHECK(db_commit(&db, &e) == 0);
    sqlite3 *h = db.h;
    sqlite3_stmt *s;
    CHECK(sqlite3_prepare_v2(h, "SELECT count(*), min(prefill_ms), min(tpot_ms), count(pred_queue_ms), "
                                "count(pred_tlm_ms), count(pred_switch_ms), count(pred_prefill_ms), count(pred_tpot_ms), "
                                "(SELECT live FROM runs WHERE id = ?1) FROM requests WHERE run = ?1",
                             -1, &s, NULL) == SQLITE_OK);
    sqlite3_bind_int64(s, 1, id);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK(sqlite3_column_int64(s, 0) == tr.n && sqlite3_column_double(s, 1) > 0 && sqlite3_column_double(s, 2) > 0);
    for (int c = 3; c < 8; c++) CHECK(sqlite3_column_int64(s, c) == tr.n);
    CHECK(sqlite3_column_int(s, 8) == 1);
    sqlite3_finalize(s);
    /* the view of the recorded rows gives the summary the command prints */
    DbRunSummary row = {.finished = "2000-01-01T00:00:01Z"};
    CHECK(db_run_finish(&db, id, &row, &e) == 0 && db_views_apply(&db, &e) == 0);
    LiveSummary ls;
    live_summarize(&live, &ls);
    CHECK(sqlite3_prepare_v2(h, "SELECT requests, service_ttft_mape, ttft_mape, tpot_mape, prefill_mape, "
                                "service_ttft_bias, tpot_bias, queue_ms, pred_queue_ms FROM live_error WHERE run = ?1",
                             -1, &s, NULL) == SQLITE_OK);
    sqlite3_bind_int64(s, 1, id);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    const double want[] = {ls.mape_service_ttft, ls.mape_ttft, ls.mape_tpot, ls.mape_prefill, ls.bias_service_ttft,
                           ls.bias_tpot, ls.mean_queue_ms, ls.mean_pred_queue_ms};
    CHECK(sqlite3_column_int64(s, 0) == ls.requests && ls.requests == tr.n);
    for (int c = 0; c < 8; c++)
        CHECK_MSG(fabs(sqlite3_column_double(s, c + 1) - want[c]) <= 1e-9 * (1 + fabs(want[c])),
                  "column %d: view %.12g, live_summarize %.12g", c + 1, sqlite3_column_double(s, c + 1), want[c]);
    sqlite3_finalize(s);
    /* a live run cannot be sharded */
    SimOptions o = {.live = &live, .shard_index = 1, .shard_count = 2};
    Policy p;
    PolicyEnv env = {.base = &f.model, .tok = &f.tok, .compressor = "none", .seed = 1, .hooks = sim_hooks(&f.ctx)};
    CHECK(policy_create(&p, "full", &e) == 0 && policy_prepare(&p, &env, &e) == 0);
    SimSummary sum;
    CHECK(sim_run(&f.ctx, &p, &tr, &o, NULL, 0, &sum, &e) != 0);
    CHECK_MSG(strstr(e.msg, "cannot be sharded"), "%s", e.msg);
    policy_destroy(&p);
    live_free(&live);
    simlog_free(&L);
    trace_free(&tr);
    fixture_free(&f);
    db_close(&db);
}

TEST(live_refuses_requests_that_do_not_fit_and_the_cli_reports) {
    SimFixture f;
    fixture_init(&f, "host", 12, 4, NULL);
    fixture_write(&f, test_tmpdir(), 12, 4);
    Trace tr;
    fixture_trace(&tr, 12, 8, 0.0, ARRIVAL_POISSON, 50.0, 8);
    shape_trace(&tr, 0, 0);
    Err e;
    CHECK(sim_trace_check_live(&f.ctx, &tr, "t.jsonl", &e) == 0);
    tr.req[5].output_tokens = f.model.cfg.max_seq; /* prompt + output beyond the context */
    CHECK(sim_trace_check_live(&f.ctx, &tr, "t.jsonl", &e) != 0);
    char want[64];
    snprintf(want, sizeof want, "request %ld: field output_tokens", tr.req[5].id);
    CHECK_MSG(strstr(e.msg, "t.jsonl") && strstr(e.msg, want), "%s", e.msg);
    tr.req[5].output_tokens = 2;
    const char *tmp = test_tmpdir();
    char path[700], cmd[3000], *out = NULL;
    snprintf(path, sizeof path, "%s/live.jsonl", tmp);
    CHECK(trace_write(&tr, path, &e) == 0);
    /* the command: a summary line and the error line per policy, then the table */
    snprintf(cmd, sizeof cmd, "sim --live --trace %s --policy full,oracle --profile host --model %s --db %s/live-cli.db "
             "--data %s", path, f.model_dir, tmp, f.data_dir);
    int rc = test_run_cli(cmd, &out);
    CHECK_MSG(rc == 0, "%s", out);
    char w1[128], w2[128], w3[64], w4[64];
    snprintf(w1, sizeof w1, "live full requests %ld service_ttft_mape ", tr.n);
    snprintf(w2, sizeof w2, "live oracle requests %ld service_ttft_mape ", tr.n);
    snprintf(w3, sizeof w3, "| oracle | %ld | ", tr.n);
    snprintf(w4, sizeof w4, "sim --live full %ld/%ld done", tr.n, tr.n); /* progress on stderr */
    const char *l1 = strstr(out, w1);
    CHECK_MSG(l1 && strstr(out, w2) && strstr(out, "| policy | requests | service TTFT MAPE |") && strstr(out, w3) &&
                  strstr(out, w4) && strstr(out, "| policy | TTFT P50 | TTFT P95 | TPOT P50 | TPOT P95 |") &&
                  strstr(out, " tpot_p95_err "),
              "%s", out);
    if (l1) {
        double m[4];
        CHECK(sscanf(l1 + strlen(w1), "%lf ttft_mape %lf tpot_mape %lf prefill_mape %lf", &m[0], &m[1], &m[2],
                     &m[3]) == 4);
        for (int k = 0; k < 4; k++) CHECK(m[k] >= 0 && isfinite(m[k]));
    }
    free(out);
    snprintf(cmd, sizeof cmd, "sim --live --shard 1/2 --trace %s --model %s --data %s", path, f.model_dir, f.data_dir);
    CHECK(test_run_cli(cmd, &out) == 2);
    CHECK_MSG(strstr(out, "--live measures every run anew"), "%s", out);
    free(out);
    /* --settle-ms: recorded in the run's command, refused out of range or without --live */
    snprintf(cmd, sizeof cmd, "sim --live --settle-ms 1 --trace %s --policy full --profile host --model %s --db "
             "%s/live-cli.db --data %s", path, f.model_dir, tmp, f.data_dir);
    CHECK_MSG(test_run_cli(cmd, &out) == 0, "%s", out);
    free(out);
    {
        char dbp[800];
        snprintf(dbp, sizeof dbp, "%s/live-cli.db", tmp);
        sqlite3 *h = NULL;
        CHECK(sqlite3_open(dbp, &h) == SQLITE_OK);
        sqlite3_stmt *st = NULL;
        CHECK(sqlite3_prepare_v2(h, "SELECT count(*) FROM runs WHERE live = 1 AND command LIKE '%--settle-ms 1 %'", -1,
                                 &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1);
        sqlite3_finalize(st);
        sqlite3_close(h);
    }
    const char *bad[] = {"--live --settle-ms -1", "--live --settle-ms 20000", "--live --settle-ms x", "--settle-ms 5"};
    const char *why[] = {"--settle-ms expects a number in [0, 10000]", "--settle-ms expects a number in [0, 10000]",
                         "settle-ms", "--settle-ms applies to --live runs only"};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "sim %s --trace %s --profile host --model %s --data %s", bad[i], path, f.model_dir,
                 f.data_dir);
        CHECK(test_run_cli(cmd, &out) == 2);
        CHECK_MSG(strstr(out, why[i]), "%s: %s", bad[i], out);
        free(out);
    }
    tr.req[3].output_tokens = f.model.cfg.max_seq;
    CHECK(trace_write(&tr, path, &e) == 0);
    snprintf(cmd, sizeof cmd, "sim --live --trace %s --profile host --model %s --data %s", path, f.model_dir,
             f.data_dir);
    CHECK(test_run_cli(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "live.jsonl") && strstr(out, "field output_tokens"), "%s", out);
    free(out);
    trace_free(&tr);
    fixture_free(&f);
}

/* The distribution errors: the predicted and measured percentiles (GSL's interpolated quantile) compared. Five rows
 * whose TPOT is measured 1..5 ms and predicted 2, 2, 3, 4, 10: medians equal, 95th percentiles 4.8 and 8.8. */
TEST(live_summary_compares_percentiles) {
    SimLive L;
    live_init(&L);
    Err e;
    const double meas[5] = {3, 1, 5, 2, 4}, pred[5] = {3, 2, 10, 2, 4};
    for (int i = 0; i < 5; i++) {
        DbRequest r = {0};
        r.request = i, r.has_pred = true;
        r.prefill_ms = 10 * meas[i], r.pred_prefill_ms = 10 * meas[i]; /* TTFT exact */
        r.tpot_ms = meas[i], r.pred_tpot_ms = pred[i];
        CHECK(live_record(&L, &r, &e) == 0);
    }
    LiveSummary s;
    live_summarize(&L, &s);
    CHECK(s.requests == 5 && s.pct_ttft_p50 == 0 && s.pct_ttft_p95 == 0);
    CHECK_NEAR(s.pct_tpot_p50, 0, 1e-12);
    CHECK_NEAR(s.pct_tpot_p95, 100 * (8.8 - 4.8) / 4.8, 1e-9);
    live_free(&L);
    live_init(&L);
    live_summarize(&L, &s); /* no rows: unknown */
    CHECK(s.requests == 0 && isnan(s.pct_tpot_p95) && isnan(s.pct_ttft_p50));
    live_free(&L);
}
