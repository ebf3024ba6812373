/* Tests of the simulator: the event queue, event order and time monotonicity, every request completing exactly
 * once, sequential (no-queueing) replay, FCFS and EDF order under load, the oracle against brute force, the
 * evaluation cache, interruption, and what a run records of its policy's prepared artefacts. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "elastic/levels.h"
#include "engine/io.h"
#include "engine/score.h"
#include "policies/compressor.h"
#include "sim/evq.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"

TEST(sim_evq_pops_in_order) {
    Evq q;
    evq_init(&q);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 9);
    for (int i = 0; i < 5000; i++)
        CHECK(evq_push(&q, (double)gsl_rng_uniform_int(r, 300), (int)gsl_rng_uniform_int(r, 3), i) == 0);
    gsl_rng_free(r);
    Event prev = {-1, 0, 0, 0}, ev;
    int n = 0, bad = 0;
    while (evq_pop(&q, &ev)) {
        if (n && (ev.t < prev.t || (ev.t == prev.t && (ev.kind < prev.kind || (ev.kind == prev.kind && ev.seq < prev.seq)))))
            bad++;
        prev = ev;
        n++;
    }
    CHECK(n == 5000 && bad == 0);
    evq_free(&q);
}

static int run(SimFixture *f, const char *policy, const char *compressor, const Trace *t, Scheduler s, SimLog *L,
               SimSummary *sum, Db *db, long run_id) {
    Policy p;
    Err e;
    PolicyEnv env = {.base = &f->model, .tok = &f->tok, .compressor = compressor, .seed = 42,
                     .hooks = sim_hooks(&f->ctx)};
    if (policy_create(&p, policy, &e) || policy_prepare(&p, &env, &e)) {
        fprintf(stderr, "policy: %s\n", e.msg);
        policy_destroy(&p);
        return -1;
    }
    SimOptions o = {.sched = s, .on_event = simlog_on_event, .on_record = simlog_on_record, .hook_ctx = L, .stop = &L->stop};
    int rc = sim_run(&f->ctx, &p, t, &o, db, run_id, sum, &e);
    if (rc) fprintf(stderr, "sim_run: %s\n", e.msg);
    policy_destroy(&p);
    return rc;
}

/* The full model's answer to a request, computed directly with the engine (independent of the simulator). */
static int direct_correct(SimFixture *f, const Trace *t, long i, const ElasticView *v, const unsigned char *keep) {
    const StoreEntry *x;
    Err e;
    if (itemstore_get(&f->items, trace_app(t, &t->req[i]), trace_item(t, &t->req[i]), &x, &e)) return -1;
    int prompt[512];
    int n = item_prompt(&x->enc, keep, f->ctx.ev.bos_id, prompt);
    ScoreResult r;
    if (score_choices(&f->model, v, prompt, n, (const int *const *)x->enc.choices, x->enc.choice_len,
                      x->enc.n_choices, &r, &e))
        return -1;
    int ok = r.best == x->enc.answer;
    score_result_free(&r);
    return ok;
}

TEST(sim_sequential_full_replay) {
    SimFixture f;
    fixture_init(&f, "normalized", 40, 1, NULL);
    Trace tr;
    fixture_trace(&tr, 40, 60, 0.0, ARRIVAL_SEQUENTIAL, 1, 3);
    SimLog L;
    simlog_init(&L, &tr);
    SimSummary s;
    CHECK(run(&f, "full", "none", &tr, SCHED_FCFS, &L, &s, NULL, 0) == 0);
    CHECK(s.requests == 60 && !s.interrupted && !L.time_went_back);
    long correct = 0, met = 0;
    for (long i = 0; i < tr.n; i++) {
        CHECK_MSG(L.arrive[i] == 1 && L.start[i] == 1 && L.done[i] == 1, "request %ld: %d/%d/%d", i, L.arrive[i],
                  L.start[i], L.done[i]);
        const DbRequest *r = &L.rec[i];
        CHECK(L.t_start[i] == L.t_arrive[i] && r->queue_ms == 0);      /* no queueing */
        if (i > 0) CHECK(L.t_arrive[i] == L.t_done[i - 1]);           /* arrives when the previous is done */
        CHECK(L.t_done[i] >= L.t_start[i]);
        /* normalized profile, full model: TTFT = prompt tokens, TPOT = 1, SLO = fraction x that */
        CHECK_NEAR(r->ttft_ms, r->prompt_tokens, 1e-9);
        CHECK_NEAR(r->tpot_ms, 1.0, 1e-12);
        CHECK_NEAR(r->decode_ms, r->output_tokens - 1, 1e-9);
        CHECK_NEAR(r->slo_ttft_ms, tr.req[i].slo_ttft * r->prompt_tokens, 1e-9);
        CHECK(r->level == 1.0 && r->ratio == 1.0 && r->kept_tokens == r->prompt_tokens && r->switch_ms == 0);
        CHECK(r->slo_met == (tr.req[i].slo_ttft >= 1.0 && tr.req[i].slo_tpot >= 1.0));
        ElasticView v;
        view_full(&f.model, &v);
        int ok = direct_correct(&f, &tr, i, &v, NULL);
        CHECK_MSG(ok == r->correct, "request %ld: engine says %d, simulator %d", i, ok, r->correct);
        correct += r->correct;
        met += r->slo_met;
    }
    CHECK_NEAR(s.accuracy, (double)correct / 60, 1e-12);
    CHECK_NEAR(s.slo_met_frac, (double)met / 60, 1e-12);
    CHECK(s.memory_bytes >= 4.0 * f.model.n_params);
    simlog_free(&L);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(sim_fcfs_queues_in_arrival_order) {
    SimFixture f;
    fixture_init(&f, "normalized", 40, 1, NULL);
    /* normalized full model: ~30-60 "ms" per request; 100 requests/s arrive every ~10 ms: the queue grows */
    Trace tr;
    fixture_trace(&tr, 40, 120, 0.0, ARRIVAL_POISSON, 100.0, 4);
    SimLog L;
    simlog_init(&L, &tr);
    SimSummary s;
    CHECK(run(&f, "full", "none", &tr, SCHED_FCFS, &L, &s, NULL, 0) == 0);
    CHECK(s.requests == tr.n && !L.time_went_back);
    long queued = 0;
    for (long k = 0; k < L.n_started; k++) {
        long i = L.start_order[k];
        CHECK_MSG(i == k, "start %ld is request %ld (FCFS on a time-ordered trace)", k, i);
        const DbRequest *r = &L.rec[i];
        CHECK(L.arrive[i] == 1 && L.start[i] == 1 && L.done[i] == 1);
        CHECK_NEAR(r->queue_ms, L.t_start[i] - L.t_arrive[i], 1e-9);
        CHECK_NEAR(r->ttft_ms, r->queue_ms + r->prefill_ms, 1e-9);
        CHECK_NEAR(r->arrival_ms, tr.req[i].arrival_s * 1000.0, 1e-9);
        if (k > 0) CHECK(L.t_start[i] >= L.t_done[L.start_order[k - 1]] - 1e-9); /* one request at a time */
        queued += r->queue_ms > 0;
    }
    CHECK_MSG(queued > 60, "only %ld requests waited", queued);
    simlog_free(&L);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(sim_edf_starts_the_earliest_deadline) {
    SimFixture f;
    fixture_init(&f, "normalized", 40, 1, NULL);
    Trace tr;
    fixture_trace(&tr, 40, 120, 0.0, ARRIVAL_POISSON, 100.0, 4);
    SimLog L;
    simlog_init(&L, &tr);
    SimSummary s;
    CHECK(run(&f, "full", "none", &tr, SCHED_EDF, &L, &s, NULL, 0) == 0);
    CHECK(s.requests == tr.n);
    long reordered = 0;
    for (long k = 0; k < L.n_started; k++) {
        long i = L.start_order[k];
        double t0 = L.t_start[i], dl = L.rec[i].arrival_ms + L.rec[i].slo_ttft_ms;
        reordered += i != k;
        /* no request that had arrived and was still waiting had an earlier deadline */
        for (long j = 0; j < tr.n; j++)
            if (j != i && L.t_arrive[j] <= t0 && L.t_start[j] > t0)
                CHECK_MSG(L.rec[j].arrival_ms + L.rec[j].slo_ttft_ms >= dl - 1e-9, "start %ld: %ld waited with an "
                          "earlier deadline", k, j);
    }
    CHECK_MSG(reordered > 0, "EDF never reordered");
    simlog_free(&L);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(sim_oracle_matches_brute_force) {
    SimFixture f;
    fixture_init(&f, "normalized", 12, 2, NULL);
    Trace tr;
    fixture_trace(&tr, 12, 36, 0.0, ARRIVAL_SEQUENTIAL, 1, 5);
    SimLog L;
    simlog_init(&L, &tr);
    SimSummary s;
    CHECK(run(&f, "oracle", "random", &tr, SCHED_FCFS, &L, &s, NULL, 0) == 0);
    LevelSet ls;
    Err e;
    CHECK(levelset_load(&ls, &f.model, NULL, false, &e) == 0);
    Compressor comp;
    PolicyEnv env = {.base = &f.model, .tok = &f.tok, .compressor = "random", .seed = 42};
    CHECK(compressor_create(&comp, "random", &env, &e) == 0);
    int better = 0;
    for (long i = 0; i < tr.n; i++) {
        const DbRequest *r = &L.rec[i];
        CHECK(levels_index(r->level) >= 0 && ratios_index(r->ratio) >= 0);
        /* brute force: is any configuration of the grid feasible (by the accounting m*p, m) and correct? */
        const StoreEntry *x;
        CHECK(itemstore_get(&f.items, trace_app(&tr, &tr.req[i]), trace_item(&tr, &tr.req[i]), &x, &e) == 0);
        PolicyRequest pr = {.id = tr.req[i].id, .app = trace_app(&tr, &tr.req[i]), .item = trace_item(&tr, &tr.req[i]),
                            .enc = &x->enc};
        int any = 0, feasible_any = 0;
        unsigned char keep[256];
        for (int li = 0; li < N_LEVELS; li++)
            for (int ri = 0; ri < N_RATIOS; ri++) {
                double ttft_frac = view_param_fraction(&f.model, &ls.view[li]) *
                                   (levels_kept_system(x->enc.n_system, x->enc.n_query, RATIOS[ri]) + x->enc.n_query) /
                                   (double)(x->enc.n_system + x->enc.n_query);
                double tpot_frac = view_param_fraction(&f.model, &ls.view[li]);
                if (ttft_frac > tr.req[i].slo_ttft + 1e-9 || tpot_frac > tr.req[i].slo_tpot + 1e-9) continue;
                feasible_any = 1;
                if (any) continue;
                CHECK(compressor_keep(&comp, &pr, RATIOS[ri], keep, &e) >= 0);
                if (direct_correct(&f, &tr, i, &ls.view[li], keep) == 1) any = 1;
            }
        CHECK(feasible_any);
        CHECK_MSG(r->slo_met, "request %ld: the oracle missed its SLO", i);
        CHECK_MSG(r->correct == any, "request %ld: oracle correct %d, brute force %d", i, r->correct, any);
        better += any;
    }
    CHECK(s.correct == better);
    compressor_destroy(&comp);
    levelset_free(&ls);
    simlog_free(&L);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(sim_cache_never_recomputes_and_interrupts_cleanly) {
    char path[700];
    snprintf(path, sizeof path, "%s/c.db", test_tmpdir());
    Db db;
    Err e;
    CHECK(db_open(&db, path, &e) == 0);
    SimFixture f;
    fixture_init(&f, "normalized", 10, 1, &db);
    Trace tr;
    fixture_trace(&tr, 10, 60, 0.0, ARRIVAL_SEQUENTIAL, 1, 6);
    SimLog L1, L2, L3;
    simlog_init(&L1, &tr);
    simlog_init(&L2, &tr);
    simlog_init(&L3, &tr);
    SimSummary s1, s2, s3;
    CHECK(run(&f, "oracle", "random", &tr, SCHED_FCFS, &L1, &s1, NULL, 0) == 0);
    long computed = f.cache.computed;
    CHECK(computed > 0);
    CHECK(run(&f, "oracle", "random", &tr, SCHED_FCFS, &L2, &s2, NULL, 0) == 0);
    CHECK_MSG(f.cache.computed == computed, "second run computed %ld more", f.cache.computed - computed);
    /* a fresh in-memory cache on the same database: everything comes from the evals table */
    EvalCache fresh;
    evalcache_init(&fresh, &db);
    f.ctx.cache = &fresh;
    f.ctx.ev.store = evalcache_store(&fresh);
    L3.stop_after = 25;
    CHECK(run(&f, "oracle", "random", &tr, SCHED_FCFS, &L3, &s3, NULL, 0) == 0);
    CHECK(fresh.computed == 0 && fresh.db_hits > 0);
    CHECK(s3.interrupted && s3.requests == 25);
    for (long i = 0; i < tr.n; i++) {
        CHECK(L1.rec[i].correct == L2.rec[i].correct && L1.rec[i].level == L2.rec[i].level &&
              L1.rec[i].ratio == L2.rec[i].ratio && L1.rec[i].ttft_ms == L2.rec[i].ttft_ms);
        if (i < 25) CHECK(L3.rec[i].correct == L1.rec[i].correct && L3.rec[i].level == L1.rec[i].level);
    }
    evalcache_free(&fresh);
    f.ctx.cache = &f.cache;
    simlog_free(&L1), simlog_free(&L2), simlog_free(&L3);
    trace_free(&tr);
    fixture_free(&f);
    db_close(&db);
}

TEST(sim_config_key_identifies_the_computation) {
    SimFixture f;
    fixture_init(&f, "normalized", 2, 1, NULL);
    ElasticView a, b;
    view_full(&f.model, &a);
    view_full(&f.model, &b);
    char ka[512], kb[512];
    unsigned char m1[10] = {1, 1, 0, 1, 1, 1, 1, 1, 1, 1}, m2[10] = {1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
    CHECK(eval_key_config(&a, NULL, NULL, NULL, 10, ka, sizeof ka) == 0);
    CHECK(eval_key_config(&b, NULL, NULL, m1, 10, kb, sizeof kb) == 0);
    CHECK(strcmp(ka, kb) != 0);
    CHECK(eval_key_config(&a, NULL, NULL, m2, 10, ka, sizeof ka) == 0);
    CHECK_MSG(strcmp(ka, kb) != 0, "same count, different mask: %s", ka);
    unsigned char all[10];
    memset(all, 1, 10);
    CHECK(eval_key_config(&a, NULL, NULL, all, 10, ka, sizeof ka) == 0);
    CHECK(eval_key_config(&b, NULL, NULL, NULL, 10, kb, sizeof kb) == 0);
    CHECK(!strcmp(ka, kb)); /* a mask keeping everything is the same computation as no mask */
    b.layer[1].ffn_units--;
    CHECK(eval_key_config(&b, NULL, NULL, NULL, 10, kb, sizeof kb) == 0);
    CHECK(strcmp(ka, kb) != 0);
    b.layer[1].ffn_units++;
    b.layer[2].skip_attn = true;
    CHECK(eval_key_config(&b, NULL, NULL, NULL, 10, kb, sizeof kb) == 0);
    CHECK(strcmp(ka, kb) != 0);
    CHECK(eval_key_config(&a, "0123456789abcdef", "dejavu-1", NULL, 10, kb, sizeof kb) == 0);
    CHECK(strstr(kb, "lora=0123456789abcdef") && strstr(kb, "select=dejavu-1"));
    CHECK(eval_key_config(&a, NULL, NULL, NULL, 10, kb, 8) == -1);
    fixture_free(&f);
}

/* write_manifest: text as MODEL/policies/NAME/prepare.json, and the FNV-1a 64 of its bytes into hash. */
static void write_manifest(TestCtx *t, const char *model, const char *name, const char *text, char hash[17]) {
    char path[1200];
    Err e;
    snprintf(path, sizeof path, "%s/policies/%s", model, name);
    CHECK(io_mkdirs(path, &e) == 0);
    snprintf(path, sizeof path, "%s/policies/%s/prepare.json", model, name);
    CHECK(io_write_atomic(path, text, strlen(text), &e) == 0);
    hash_hex(hash_fnv1a(HASH_FNV_OFFSET, text, strlen(text)), hash);
}

/* prepared: sim_policy_prepared for the policy called name (which must succeed). */
static void prepared(TestCtx *t, const char *model, const char *name, double *cpu_min, char hash[17]) {
    Policy p;
    Err e;
    CHECK(policy_create(&p, name, &e) == 0);
    CHECK_MSG(sim_policy_prepared(model, &p, cpu_min, hash, &e) == 0, "%s", e.msg);
    policy_destroy(&p);
}

TEST(sim_policy_hash_is_of_the_artefacts_a_policy_reads) {
    const char *model = test_path("prepared-model");
    char elms[17], shortgpt[17], stray[17], hash[17];
    double cpu;
    write_manifest(t, model, "elms", "{\"policy\": \"elms\", \"cpu_min\": 2.5}\n", elms);
    write_manifest(t, model, "shortgpt", "not JSON, but bytes all the same", shortgpt);
    write_manifest(t, model, "full", "{\"cpu_min\": 1}", stray);
    /* where each policy's artefacts are */
    static const char *const names[][2] = {
        {"elms", "elms"},         {"elms-nolora", "elms"},  {"elms-pair", "elms"}, {"elms-nodecision", "elms"},
        {"elms-loo", "elms-loo"}, {"shortgpt", "shortgpt"}, {"full", NULL},        {"oracle", NULL},
        {"llm-pruner", NULL},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        Policy p;
        Err e;
        CHECK(policy_create(&p, names[i][0], &e) == 0);
        const char *got = policy_artefacts_name(&p);
        CHECK_MSG(names[i][1] ? got && !strcmp(got, names[i][1]) : !got, "%s: %s", names[i][0], got ? got : "NULL");
        policy_destroy(&p);
    }
    /* a policy's own manifest: its cost and the hash of its bytes, from one read */
    prepared(t, model, "elms", &cpu, hash);
    CHECK(cpu == 2.5 && !strcmp(hash, elms) && strlen(hash) == 16);
    CHECK(sim_prepare_cpu_min(model, "elms") == 2.5);
    /* an ablation that reads elms's tiny LM: elms's hash (a rebuild of elms changes it), no cost of its own */
    prepared(t, model, "elms-nolora", &cpu, hash);
    CHECK(isnan(cpu) && !strcmp(hash, elms));
    prepared(t, model, "elms-pair", &cpu, hash);
    CHECK(isnan(cpu) && !strcmp(hash, elms));
    /* the hash is of the bytes, whatever they hold; the cost needs JSON */
    prepared(t, model, "shortgpt", &cpu, hash);
    CHECK(isnan(cpu) && !strcmp(hash, shortgpt));
    /* none: a policy without artefacts (even with a folder of its name), a folder not prepared, no model dir */
    prepared(t, model, "full", &cpu, hash);
    CHECK(hash[0] == 0);
    prepared(t, model, "laco", &cpu, hash);
    CHECK(hash[0] == 0 && isnan(cpu));
    prepared(t, NULL, "elms", &cpu, hash);
    CHECK(hash[0] == 0 && isnan(cpu));
    /* a rebuild (a new prepare.json) changes the hash */
    char rebuilt[17];
    write_manifest(t, model, "elms", "{\"policy\": \"elms\", \"cpu_min\": 2.75}\n", rebuilt);
    CHECK(strcmp(rebuilt, elms));
    prepared(t, model, "elms-nolora", &cpu, hash);
    CHECK(!strcmp(hash, rebuilt));
}
