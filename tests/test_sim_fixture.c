/* test_sim_fixture: the shared small world of the trace and simulator tests (see test_sim_fixture.h). */
#include "tests/test_sim_fixture.h"

#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "tests/util.h"

static void die(const char *what, const Err *e) {
    fprintf(stderr, "fixture: %s: %s\n", what, e ? e->msg : "");
    abort();
}

static char *words(gsl_rng *r, int n) {
    char *s = malloc((size_t)n * 5 + 1);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, "%sw%d", i ? " " : "", (int)gsl_rng_uniform_int(r, FIX_WORDS));
    s[len] = 0;
    return s;
}

static char *dupstr(const char *s) {
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

void fixture_items(ItemSet *s, const char *app, int n, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed * 7919 + (unsigned long)strlen(app) * 31 + (unsigned long)app[0]);
    s->n = n;
    s->items = calloc((size_t)n, sizeof *s->items);
    for (int i = 0; i < n; i++) {
        Item *it = &s->items[i];
        char id[64];
        snprintf(id, sizeof id, "%s-%d", app, i);
        it->app = dupstr(app);
        it->id = dupstr(id);
        it->system = words(r, 16 + (int)gsl_rng_uniform_int(r, 24));
        it->query = words(r, 3 + (int)gsl_rng_uniform_int(r, 3));
        it->n_choices = 4;
        it->choices = calloc(4, sizeof *it->choices);
        for (int c = 0; c < 4; c++) it->choices[c] = words(r, 1 + (int)gsl_rng_uniform_int(r, 2));
        it->answer = (int)gsl_rng_uniform_int(r, 4);
    }
    gsl_rng_free(r);
}

static void make_tokenizer(Tokenizer *t) {
    const char *pieces[FIX_WORDS + 2];
    char buf[FIX_WORDS][16];
    pieces[0] = "<s>";
    pieces[1] = "<unk>";
    for (int i = 0; i < FIX_WORDS; i++) {
        snprintf(buf[i], sizeof buf[i], "w%d", i);
        pieces[i + 2] = buf[i];
    }
    Err e;
    if (tokenizer_from_vocab(t, pieces, FIX_WORDS + 2, "<unk>", &e)) die("tokenizer", &e);
}

void fixture_init(SimFixture *f, const char *profile, int per_app, unsigned long seed, Db *db) {
    memset(f, 0, sizeof *f);
    Err e;
    make_tokenizer(&f->tok);
    ModelConfig c = util_config();
    c.vocab_size = FIX_WORDS + 2;
    c.max_seq = 128;
    c.bos_id = 0;
    util_model(&f->model, &c, seed);
    char path[256];
    snprintf(path, sizeof path, "sim/profiles/%s.json", profile);
    if (profile_load(&f->prof, path, &e)) die("profile", &e);
    itemstore_init(&f->items, "nonexistent-data", "test", &f->tok);
    for (int a = 0; a < TRACE_N_APPS; a++) {
        ItemSet s;
        fixture_items(&s, TRACE_APPS[a].name, per_app, seed);
        if (itemstore_add_set(&f->items, TRACE_APPS[a].name, &s, &e)) die("items", &e);
    }
    evalcache_init(&f->cache, db);
    sim_context_init(&f->ctx, &f->model, &f->tok, &f->prof, &f->items, &f->cache);
}

void fixture_write(SimFixture *f, const char *dir, int per_app, unsigned long seed) {
    Err e;
    snprintf(f->model_dir, sizeof f->model_dir, "%s/model", dir);
    snprintf(f->data_dir, sizeof f->data_dir, "%s/data", dir);
    if (model_save(&f->model, f->model_dir, ST_F32, &e)) die("model_save", &e);
    char path[1400];
    snprintf(path, sizeof path, "%s/tokenizer.json", f->model_dir);
    if (tokenizer_save(&f->tok, path, &e)) die("tokenizer_save", &e);
    for (int a = 0; a < TRACE_N_APPS; a++) {
        snprintf(path, sizeof path, "%s/items/%s", f->data_dir, TRACE_APPS[a].name);
        if (io_mkdirs(path, &e)) die("mkdirs", &e);
        strcat(path, "/test.jsonl");
        ItemSet s;
        fixture_items(&s, TRACE_APPS[a].name, per_app, seed);
        if (items_write(&s, path, &e)) die("items_write", &e);
        items_free(&s);
    }
}

void fixture_free(SimFixture *f) {
    evalcache_free(&f->cache);
    itemstore_free(&f->items);
    tokenizer_free(&f->tok);
    model_free(&f->model);
}

void fixture_trace(Trace *t, int per_app, long n, double alpha, ArrivalKind arrival, double rate,
                   unsigned long seed) {
    ItemSet sets[TRACE_N_APPS];
    const ItemSet *ptr[TRACE_N_APPS];
    for (int a = 0; a < TRACE_N_APPS; a++) {
        fixture_items(&sets[a], TRACE_APPS[a].name, per_app, 1);
        ptr[a] = &sets[a];
    }
    TraceGenConfig c;
    trace_gen_defaults(&c);
    c.n_requests = n;
    c.alpha = alpha;
    c.arrival = arrival;
    c.rate = rate;
    c.seed = seed;
    Err e;
    if (trace_gen(t, &c, ptr, &e)) die("trace_gen", &e);
    for (int a = 0; a < TRACE_N_APPS; a++) items_free(&sets[a]);
}

void simlog_init(SimLog *L, const Trace *t) {
    memset(L, 0, sizeof *L);
    L->n = t->n;
    L->trace = t;
    L->arrive = calloc((size_t)t->n, sizeof(int));
    L->start = calloc((size_t)t->n, sizeof(int));
    L->done = calloc((size_t)t->n, sizeof(int));
    L->t_arrive = calloc((size_t)t->n, sizeof(double));
    L->t_start = calloc((size_t)t->n, sizeof(double));
    L->t_done = calloc((size_t)t->n, sizeof(double));
    L->start_order = calloc((size_t)t->n, sizeof(long));
    L->seq_arrive = calloc((size_t)t->n, sizeof(long));
    L->seq_start = calloc((size_t)t->n, sizeof(long));
    L->rec = calloc((size_t)t->n, sizeof(DbRequest));
}

void simlog_free(SimLog *L) {
    free(L->arrive), free(L->start), free(L->done), free(L->t_arrive), free(L->t_start), free(L->t_done);
    free(L->start_order), free(L->seq_arrive), free(L->seq_start), free(L->rec);
}

void simlog_on_event(void *ctx, int kind, long i, double t) {
    SimLog *L = ctx;
    if (t < L->last_t) L->time_went_back = 1;
    L->last_t = t;
    L->seq++;
    if (kind == SIM_EV_ARRIVAL) L->arrive[i]++, L->t_arrive[i] = t, L->seq_arrive[i] = L->seq;
    if (kind == SIM_EV_START) {
        L->start[i]++, L->t_start[i] = t, L->seq_start[i] = L->seq;
        L->start_order[L->n_started++] = i;
    }
    if (kind == SIM_EV_DONE) L->done[i]++, L->t_done[i] = t;
}

void simlog_on_record(void *ctx, const DbRequest *r) {
    SimLog *L = ctx;
    L->rec[r->request] = *r;
    L->n_rec++;
    if (L->stop_after && L->n_rec >= L->stop_after) L->stop = 1;
}
