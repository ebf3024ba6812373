/* bench_sim: simulator throughput. A small random model answers 600 distinct items once (warming the
 * evaluation cache); then a 1,000,000-request Poisson trace over those items is replayed under `full` without
 * and with SQLite recording, and 100,000 requests under `oracle` (90 priced configurations per request).
 * Prints requests per second and the peak resident memory. */
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "bench/bench.h"
#include "elastic/levels.h"
#include "engine/tokenizer.h"
#include "sim/sim.h"

#define BENCH_WORDS 60
#define BENCH_ITEMS 100

static char *words(gsl_rng *r, int n) {
    char *s = malloc((size_t)n * 5 + 1);
    size_t len = 0;
    for (int i = 0; i < n; i++) len += (size_t)sprintf(s + len, "%sw%d", i ? " " : "", (int)gsl_rng_uniform_int(r, BENCH_WORDS));
    s[len] = 0;
    return s;
}

static char *dupstr(const char *s) {
    char *d = malloc(strlen(s) + 1);
    return strcpy(d, s);
}

static void make_items(ItemSet *s, const char *app, gsl_rng *r) {
    s->n = BENCH_ITEMS;
    s->items = calloc(BENCH_ITEMS, sizeof *s->items);
    for (int i = 0; i < BENCH_ITEMS; i++) {
        Item *it = &s->items[i];
        char id[64];
        snprintf(id, sizeof id, "%s-%d", app, i);
        it->app = dupstr(app);
        it->id = dupstr(id);
        it->system = words(r, 40 + (int)gsl_rng_uniform_int(r, 40));
        it->query = words(r, 6);
        it->n_choices = 4;
        it->choices = calloc(4, sizeof *it->choices);
        for (int c = 0; c < 4; c++) it->choices[c] = words(r, 2);
        it->answer = (int)gsl_rng_uniform_int(r, 4);
    }
}

static int replay(SimContext *ctx, const PolicyEnv *env, const char *policy, const Trace *t, Db *db, double *secs,
                  SimSummary *s, Err *e) {
    Policy p;
    if (policy_create(&p, policy, e) || policy_prepare(&p, env, e)) {
        policy_destroy(&p);
        return -1;
    }
    long run = 0;
    if (db) {
        DbRun r = {.created = "bench", .command = "elms-bench", .policy = policy, .trace = "bench", .profile = "normalized",
                   .model = "random", .model_hash = env->base->hash, .scheduler = "fcfs",
                   .n_requests = t->n};
        if (db_run_begin(db, &r, &run, e)) {
            policy_destroy(&p);
            return -1;
        }
    }
    SimOptions o = {0};
    double t0 = clock_wall_s();
    int rc = sim_run(ctx, &p, t, &o, db, run, s, e);
    *secs = clock_wall_s() - t0;
    policy_destroy(&p);
    return rc;
}

void bench_sim(void) {
    Err e;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 1);
    const char *pieces[BENCH_WORDS + 2];
    char buf[BENCH_WORDS][16];
    pieces[0] = "<s>";
    pieces[1] = "<unk>";
    for (int i = 0; i < BENCH_WORDS; i++) {
        snprintf(buf[i], sizeof buf[i], "w%d", i);
        pieces[i + 2] = buf[i];
    }
    Tokenizer tok;
    Model m;
    Profile prof;
    ModelConfig c = {.dim = 64, .n_layers = 4, .n_heads = 4, .n_kv_heads = 4, .head_dim = 16, .ffn_dim = 172,
                     .vocab_size = BENCH_WORDS + 2, .max_seq = 256, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                     .bos_id = 0, .eos_id = -1};
    if (tokenizer_from_vocab(&tok, pieces, BENCH_WORDS + 2, "<unk>", &e) || model_alloc(&m, &c, &e) ||
        profile_load(&prof, "sim/profiles/normalized.json", &e)) {
        bench_fail("bench_sim: %s", e.msg);
        return;
    }
    model_init_random(&m, 1);
    ItemStore items;
    itemstore_init(&items, "none", "test", &tok);
    ItemSet sets[TRACE_N_APPS];
    const ItemSet *ptr[TRACE_N_APPS];
    for (int a = 0; a < TRACE_N_APPS; a++) {
        make_items(&sets[a], TRACE_APPS[a].name, r);
        ItemSet copy;
        make_items(&copy, TRACE_APPS[a].name, r);
        for (int i = 0; i < BENCH_ITEMS; i++) { /* same ids as sets[a]: the trace only needs the ids */
            free(copy.items[i].id);
            copy.items[i].id = dupstr(sets[a].items[i].id);
        }
        itemstore_add_set(&items, TRACE_APPS[a].name, &copy, &e);
        ptr[a] = &sets[a];
    }
    EvalCache cache;
    evalcache_init(&cache, NULL);
    SimContext ctx;
    sim_context_init(&ctx, &m, &tok, &prof, &items, &cache);
    PolicyEnv env = {.base = &m, .tok = &tok, .compressor = "random", .seed = 42, .hooks = sim_hooks(&ctx)};

    TraceGenConfig g;
    trace_gen_defaults(&g);
    g.fill = true;
    g.arrival = ARRIVAL_POISSON;
    g.rate = 10.0; /* normalized full-model service takes ~100 units: moderate queueing */
    Trace warm, big, mid;
    g.n_requests = TRACE_N_APPS * BENCH_ITEMS;
    if (trace_gen(&warm, &g, ptr, &e)) goto fail;
    g.n_requests = 1000000;
    if (trace_gen(&big, &g, ptr, &e)) goto fail;
    g.n_requests = 100000;
    if (trace_gen(&mid, &g, ptr, &e)) goto fail;

    double secs;
    SimSummary s;
    if (replay(&ctx, &env, "full", &warm, NULL, &secs, &s, &e)) goto fail;
    printf("sim warm-up: %ld requests, %ld evaluations computed in %.2f s\n", warm.n, cache.computed, secs);
    long computed = cache.computed;
    if (replay(&ctx, &env, "full", &big, NULL, &secs, &s, &e)) goto fail;
    printf("sim replay full, 1000000 requests, no database: %.3f s, %.0f requests/s (accuracy %.4f, evaluations "
           "computed %ld)\n", secs, big.n / secs, s.accuracy, cache.computed - computed);

    char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/elms-bench-%d.db", tmp ? tmp : P_tmpdir, (int)getpid());
    Db db;
    if (db_open(&db, path, &e)) goto fail;
    if (replay(&ctx, &env, "full", &big, &db, &secs, &s, &e)) {
        db_close(&db);
        goto fail;
    }
    db_close(&db);
    printf("sim replay full, 1000000 requests, recorded in SQLite: %.3f s, %.0f requests/s\n", secs, big.n / secs);
    char wal[600];
    unlink(path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);

    computed = cache.computed;
    if (replay(&ctx, &env, "oracle", &warm, NULL, &secs, &s, &e)) goto fail;
    printf("sim oracle warm-up: %ld evaluations computed in %.2f s\n", cache.computed - computed, secs);
    computed = cache.computed;
    if (replay(&ctx, &env, "oracle", &mid, NULL, &secs, &s, &e)) goto fail;
    printf("sim replay oracle, 100000 requests, no database: %.3f s, %.0f requests/s (evaluations computed %ld)\n",
           secs, mid.n / secs, cache.computed - computed);
    printf("sim peak resident memory: %.1f MiB\n", bench_peak_rss_mb());
    trace_free(&warm);
    trace_free(&big);
    trace_free(&mid);
    goto done;
fail:
    bench_fail("bench_sim: %s", e.msg);
done:
    for (int a = 0; a < TRACE_N_APPS; a++) items_free(&sets[a]);
    evalcache_free(&cache);
    itemstore_free(&items);
    tokenizer_free(&tok);
    model_free(&m);
    gsl_rng_free(r);
}
