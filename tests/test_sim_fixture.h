/* test_sim_fixture: a small world for trace and simulator tests: a word-level tokenizer, seeded random items
 * for the six apps, a small random model, and (optionally) all of it written to disk as a model directory and
 * a data directory for CLI tests. Failures abort the test process. */
#ifndef ELMS_TEST_SIM_FIXTURE_H
#define ELMS_TEST_SIM_FIXTURE_H

#include "datasets/items.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "sim/sim.h"

#define FIX_WORDS 60

typedef struct SimFixture {
    Model model;
    Tokenizer tok;
    Profile prof;
    ItemStore items;
    EvalCache cache;
    SimContext ctx;
    char model_dir[600];   /* on disk when fixture_write was called */
    char data_dir[600];
} SimFixture;

/* fixture_items: n seeded items of app (ids APP-0..APP-n-1). */
void fixture_items(ItemSet *s, const char *app, int n, unsigned long seed);
/* fixture_init: tokenizer, model (seed), profile sim/profiles/PROFILE.json, items (per_app per app) in memory,
 * cache (with db or NULL) and context. */
void fixture_init(SimFixture *f, const char *profile, int per_app, unsigned long seed, Db *db);
/* fixture_write: save the model + tokenizer to DIR/model and items to DIR/data/items/APP/test.jsonl. */
void fixture_write(SimFixture *f, const char *dir, int per_app, unsigned long seed);
void fixture_free(SimFixture *f);
/* fixture_trace: a trace over the fixture's items (cfg arrival etc. as given; apps = the six). */
void fixture_trace(Trace *t, int per_app, long n, double alpha, ArrivalKind arrival, double rate, unsigned long seed);

/* Everything the simulator's test hooks (SimOptions.on_event, on_record) saw during a run. */
typedef struct SimLog {
    long n;
    int *arrive, *start, *done;         /* (n) per request counts */
    double *t_arrive, *t_start, *t_done; /* (n) */
    long *start_order;                  /* (n) requests in start order */
    long n_started;
    long *seq_arrive, *seq_start;       /* (n) the hooks' call count at each request's arrival and start */
    long seq;
    double last_t;
    int time_went_back;
    DbRequest *rec;                     /* (n) per request, by trace index (id = index in fixture traces) */
    long n_rec, stop_after;             /* stop after stop_after recorded requests (0: never) */
    volatile sig_atomic_t stop;
    const Trace *trace;
    int edf_violations;
} SimLog;

/* simlog_init / simlog_free: an empty log for the requests of t. */
void simlog_init(SimLog *L, const Trace *t);
void simlog_free(SimLog *L);
/* simlog_on_event / simlog_on_record: the hooks (ctx = a SimLog). */
void simlog_on_event(void *ctx, int kind, long i, double t);
void simlog_on_record(void *ctx, const DbRequest *r);

#endif
