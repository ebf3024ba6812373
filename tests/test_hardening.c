/* Regression tests of the robustness review (issue 17), one or more per finding, at the library level (the
 * command-line cases are in test_badinput.c): JSON numbers out of range, non-finite weights, a config.json far
 * larger than its weights, FIFOs in place of files, trailing data / duplicate keys / NUL in JSON and safetensors,
 * bad traces refused before a run, two writers on one database, and training logs and checkpoints that agree.
 * docs/bad-inputs.md lists each class of bad input with its message and its test. */
#include <cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/items.h"
#include "elastic/elastic_meta.h"
#include "engine/data.h"
#include "engine/io.h"
#include "engine/tokenizer.h"
#include "engine/train.h"
#include "sim/db.h"
#include "sim/profile.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"
#include "tests/util.h"
#include "traces/trace.h"

/* ASan reserves terabytes of address space: a limit on it cannot be used there. */
#if defined(__SANITIZE_ADDRESS__)
#define HARDEN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARDEN_ASAN 1
#endif
#endif
#ifndef HARDEN_ASAN
#define HARDEN_ASAN 0
#endif

/* write_text: path <- txt (n bytes), aborting the test process on failure. */
static void write_text(const char *path, const char *txt, size_t n) {
    Err e;
    if (io_write_atomic(path, txt, n, &e) != 0) abort();
}

/* json_edit: rewrite the JSON file path with fn applied to its root. */
static void json_edit(const char *path, void (*fn)(cJSON *root)) {
    char *txt;
    size_t n;
    Err e;
    if (io_read_file(path, &txt, &n, &e) != 0) abort();
    cJSON *r = cJSON_Parse(txt);
    free(txt);
    fn(r);
    char *out = cJSON_PrintUnformatted(r);
    write_text(path, out, strlen(out));
    free(out);
    cJSON_Delete(r);
}

/* ---- 1. JSON numbers are range-checked before any conversion ---- */

static void seq_too_big(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "calibration"), "seq", cJSON_CreateNumber(2147483648.0));
}
static void seed_huge(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "calibration"), "seed", cJSON_CreateNumber(1e300));
}
static void samples_negative(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "calibration"), "samples", cJSON_CreateNumber(-3));
}

TEST(harden_elastic_meta_numbers_out_of_range) {
    ModelConfig c = util_config();
    ElasticMeta x, y;
    Err e;
    CHECK(elastic_meta_alloc(&x, &c, &e) == 0);
    x.calib_samples = 8;
    x.calib_seq = 32;
    const char *path = test_path("elastic.json");
    CHECK_MSG(elastic_meta_write(&x, path, &e) == 0, "%s", e.msg);
    CHECK_MSG(elastic_meta_read(&y, &c, path, &e) == 0, "%s", e.msg); /* intact: reads */
    elastic_meta_free(&y);
    void (*edits[])(cJSON *) = {seq_too_big, seed_huge, samples_negative};
    const char *field[] = {"seq", "seed", "samples"};
    for (int i = 0; i < 3; i++) {
        CHECK(elastic_meta_write(&x, path, &e) == 0);
        json_edit(path, edits[i]);
        memset(&e, 0, sizeof e);
        int rc = elastic_meta_read(&y, &c, path, &e);
        CHECK_MSG(rc != 0 && strstr(e.msg, "elastic.json") && strstr(e.msg, "calibration") &&
                      strstr(e.msg, field[i]),
                  "%s: rc %d: %s", field[i], rc, e.msg);
        if (rc == 0) elastic_meta_free(&y);
    }
    elastic_meta_free(&x);
}

static void step_huge(cJSON *r) { cJSON_ReplaceItemInObject(r, "step", cJSON_CreateNumber(1e300)); }
static void pos_fraction(cJSON *r) { cJSON_ReplaceItemInObject(r, "data_pos", cJSON_CreateNumber(2.5)); }

/* small_trainer: a full-mode trainer of util_config's model (seed 3), batch 2 x 8 tokens, for steps steps. */
static void small_trainer(TestCtx *t, Model *m, Trainer *tr, long steps) {
    ModelConfig c = util_config();
    util_model(m, &c, 3);
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = 2;
    tc.seq = 8;
    tc.steps = steps;
    tc.warmup = 1;
    Err e;
    CHECK_MSG(train_init(tr, m, NULL, &tc, &e) == 0, "%s", e.msg);
}

TEST(harden_checkpoint_state_numbers_out_of_range) {
    Model m;
    Trainer tr;
    Err e;
    small_trainer(t, &m, &tr, 4);
    const char *dir = test_path("ck");
    char state[1100];
    snprintf(state, sizeof state, "%s/state.json", dir);
    void (*edits[])(cJSON *) = {step_huge, pos_fraction};
    const char *field[] = {"step", "data_pos"};
    for (int i = 0; i < 2; i++) {
        CHECK_MSG(train_ckpt_save(&tr, NULL, dir, &e) == 0, "%s", e.msg);
        json_edit(state, edits[i]);
        tr.step = 0;
        memset(&e, 0, sizeof e);
        int rc = train_ckpt_load(&tr, NULL, dir, &e);
        CHECK_MSG(rc != 0 && strstr(e.msg, "state.json") && strstr(e.msg, field[i]), "%s: rc %d step %ld: %s",
                  field[i], rc, tr.step, e.msg);
    }
    train_free(&tr);
    model_free(&m);
}

/* ---- 2. non-finite weights ---- */

TEST(harden_nonfinite_lora_is_refused_unless_allowed) {
    ModelConfig c = util_config();
    Lora a, b;
    Err e;
    CHECK(lora_alloc(&a, &c, 4, 8.0f, &e) == 0);
    lora_init(&a, 5);
    a.layer[2].b_up[3] = INFINITY;
    const char *path = test_path("level-0.5.safetensors");
    CHECK_MSG(lora_save(&a, &c, path, &e) == 0, "%s", e.msg);
    int rc = lora_load(&b, &c, path, &e);
    CHECK_MSG(rc != 0 && strstr(e.msg, "level-0.5.safetensors") &&
                  strstr(e.msg, "base_model.model.model.layers.2.mlp.up_proj.lora_B.weight") &&
                  strstr(e.msg, "infinite"),
              "rc %d: %s", rc, e.msg);
    if (rc == 0) lora_free(&b);
    setenv("ELMS_ALLOW_NONFINITE", "1", 1);
    rc = lora_load(&b, &c, path, &e);
    unsetenv("ELMS_ALLOW_NONFINITE");
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc == 0) lora_free(&b);
    lora_free(&a);
}

/* ---- 3. a config.json much larger than its weights ---- */

TEST(harden_big_config_over_tiny_weights_allocates_nothing) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 1);
    const char *dir = test_path("big");
    Err e;
    CHECK(model_save(&m, dir, ST_F32, &e) == 0);
    model_free(&m);
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *cfg = "{\"hidden_size\": 4096, \"intermediate_size\": 11008, \"num_hidden_layers\": 32, "
                      "\"num_attention_heads\": 32, \"num_key_value_heads\": 32, \"vocab_size\": 32000, "
                      "\"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-5}";
    write_text(path, cfg, strlen(cfg));
    /* in a child limited to 1 GB of address space: the 27 GB of parameters must never be asked for */
    pid_t pid = fork();
    if (pid == 0) {
#if !HARDEN_ASAN
        struct rlimit rl = {1UL << 30, 1UL << 30};
        setrlimit(RLIMIT_AS, &rl);
#endif
        Model x;
        Err ce;
        int rc = model_load(&x, dir, &ce);
        int ok = rc != 0 && strstr(ce.msg, "model.safetensors") && strstr(ce.msg, "model.embed_tokens.weight") &&
                 !strstr(ce.msg, "out of memory");
        if (!ok) fprintf(stderr, "  child: rc %d: %s\n", rc, rc ? ce.msg : "");
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

/* ---- 4. a FIFO in place of a file is refused, not waited on ---- */

/* read_as: read path as the file called name would be read (a config, weights, tokenizer, items, trace,
 * profile or token file); what it returns and the message in e. */
static int read_as(const char *name, const char *p, Err *e) {
    union {
        ModelConfig c;
        StFile st;
        Tokenizer tok;
        ItemSet items;
        Trace trace;
        Profile prof;
        TokenData data;
    } u;
    if (!strcmp(name, "config.json")) return config_read(p, &u.c, e);
    if (!strcmp(name, "profile.json")) return profile_load(&u.prof, p, e);
    int rc = -1;
    if (!strcmp(name, "model.safetensors") && !(rc = st_open(&u.st, p, e))) st_close(&u.st);
    if (!strcmp(name, "tokenizer.json") && !(rc = tokenizer_load(&u.tok, p, e))) tokenizer_free(&u.tok);
    if (!strcmp(name, "items.jsonl") && !(rc = items_read(&u.items, p, e))) items_free(&u.items);
    if (!strcmp(name, "trace.jsonl") && !(rc = trace_read(&u.trace, p, e))) trace_free(&u.trace);
    if (!strcmp(name, "train.bin") && !(rc = data_load(&u.data, p, 100, e))) data_free(&u.data);
    return rc;
}

TEST(harden_fifo_in_place_of_a_file_is_refused) {
    const char *names[] = {"config.json", "model.safetensors", "tokenizer.json", "items.jsonl",
                           "trace.jsonl", "profile.json",      "train.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = test_path(names[i]);
        CHECK(mkfifo(p, 0600) == 0);
        pid_t pid = fork();
        if (pid == 0) { /* in a child with a 3 s alarm: a reader that waits on the FIFO is killed */
            alarm(3);
            Err e;
            int rc = read_as(names[i], p, &e);
            int ok = rc != 0 && strstr(e.msg, names[i]) && strstr(e.msg, "not a regular file");
            if (!ok) fprintf(stderr, "  child: %s: rc %d: %s\n", names[i], rc, rc ? e.msg : "");
            _exit(ok ? 0 : 1);
        }
        int st = 0;
        CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s", names[i],
                  WIFSIGNALED(st) ? "hung (killed by the alarm)" : "accepted or wrong message");
        unlink(p);
    }
}

/* ---- 5. trailing data, duplicate keys, NUL in JSON; trailing bytes in safetensors ---- */

#define CFG_HEAD                                                                                                    \
    "{\"hidden_size\": 32, \"intermediate_size\": 48, \"num_hidden_layers\": 3, \"num_attention_heads\": 4, "    \
    "\"num_key_value_heads\": 2, \"vocab_size\": 61, \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5"

TEST(harden_json_trailing_duplicate_and_nul_are_refused) {
    struct {
        const char *txt;
        size_t len; /* 0: strlen */
        const char *want;
    } cases[] = {
        {CFG_HEAD "}", 0, NULL}, /* the intact one reads */
        {CFG_HEAD "}\n  \n", 0, NULL},
        {CFG_HEAD "} x", 0, "trailing data"},
        {CFG_HEAD "}{}", 0, "trailing data"},
        {CFG_HEAD ", \"hidden_size\": 64}", 0, "'hidden_size' appears twice"},
        {CFG_HEAD ", \"hidden_act\": \"silu\\u0000x\"}", 0, "\\u0000"},
        {CFG_HEAD ", \"hidden_act\": \"silu\0x\"}", sizeof(CFG_HEAD ", \"hidden_act\": \"silu\0x\"}") - 1, "NUL"},
    };
    const char *path = test_path("config.json");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].txt, cases[i].len ? cases[i].len : strlen(cases[i].txt));
        ModelConfig c;
        Err e;
        memset(&e, 0, sizeof e);
        int rc = config_read(path, &c, &e);
        if (!cases[i].want) CHECK_MSG(rc == 0, "case %zu: %s", i, e.msg);
        else
            CHECK_MSG(rc != 0 && strstr(e.msg, "config.json") && strstr(e.msg, cases[i].want), "case %zu: rc %d: %s",
                      i, rc, e.msg);
    }
    /* a JSONL item file and a trace: the line is named */
    const char *items = "{\"app\":\"x\",\"id\":\"a\",\"query\":\"q\",\"choices\":[\"a\"],\"answer\":0,\"answer\":1}\n";
    const char *ip = test_path("items.jsonl");
    write_text(ip, items, strlen(items));
    ItemSet s;
    Err e;
    int rc = items_read(&s, ip, &e);
    CHECK_MSG(rc != 0 && strstr(e.msg, "items.jsonl:1") && strstr(e.msg, "'answer' appears twice"), "rc %d: %s", rc,
              e.msg);
    if (rc == 0) items_free(&s);
    const char *trace = "{\"id\":0,\"app\":\"facts\",\"id\":1,\"prompt_tokens\":3}\n";
    const char *tp = test_path("trace.jsonl");
    write_text(tp, trace, strlen(trace));
    Trace tr;
    rc = trace_read(&tr, tp, &e);
    CHECK_MSG(rc != 0 && strstr(e.msg, "trace.jsonl:1") && strstr(e.msg, "'id' appears twice"), "rc %d: %s", rc,
              e.msg);
    if (rc == 0) trace_free(&tr);
}

TEST(harden_safetensors_trailing_bytes_are_refused) {
    StWriteTensor w[2] = {{"a", (float[]){1, 2, 3}, 1, {3, 0, 0, 0}}, {"b", (float[]){4, 5}, 1, {2, 0, 0, 0}}};
    const char *p = test_path("x.safetensors");
    Err e;
    CHECK(st_write(p, w, 2, ST_F32, &e) == 0);
    StFile f;
    CHECK_MSG(st_open(&f, p, &e) == 0, "%s", e.msg);
    st_close(&f);
    char *buf;
    size_t n;
    CHECK(io_read_file(p, &buf, &n, &e) == 0);
    char *more = malloc(n + 5);
    memcpy(more, buf, n);
    memcpy(more + n, "junk!", 5);
    write_text(p, more, n + 5);
    int rc = st_open(&f, p, &e);
    CHECK_MSG(rc != 0 && strstr(e.msg, "x.safetensors") && strstr(e.msg, "5 trailing bytes"), "rc %d: %s", rc,
              e.msg);
    if (rc == 0) st_close(&f);
    free(more);
    free(buf);
}

/* ---- 6. a bad trace is refused before any run begins ---- */

static double db_count(const char *path, const char *sql) {
    sqlite3 *h;
    double v = -1;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return 0; /* no database: no runs */
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_double(s, 0);
    else v = 0; /* no table: no runs */
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

TEST(harden_sim_refuses_a_bad_trace_before_any_run) {
    SimFixture f;
    fixture_init(&f, "normalized", 4, 4, NULL);
    fixture_write(&f, test_tmpdir(), 4, 4);
    struct {
        const char *lines, *want;
    } cases[] = {
        {"{\"id\":0,\"app\":\"facts\",\"item\":\"facts-0\"}\n{\"id\":1,\"app\":\"facts\",\"item\":\"facts-1\"}\n"
         "{\"id\":0,\"app\":\"facts\",\"item\":\"facts-2\"}\n",
         "request id 0 appears more than once"},
        {"{\"id\":0,\"app\":\"facts\",\"item\":\"facts-0\",\"arrival_s\":0}\n"
         "{\"id\":1,\"app\":\"facts\",\"item\":\"facts-1\",\"arrival_s\":1e308}\n",
         "arrival_s"},
        {"{\"id\":0,\"app\":\"facts\",\"item\":\"facts-0\"}\n{\"id\":1,\"app\":\"facts\",\"item\":\"facts-1\"}\n"
         "{\"id\":2,\"app\":\"nosuchapp\",\"item\":\"nosuchapp-1\"}\n",
         "nosuchapp"},
        {"{\"id\":0,\"app\":\"facts\",\"item\":\"facts-0\"}\n"
         "{\"id\":1,\"app\":\"nosuchapp\",\"item\":\"nosuchapp-1\",\"slo\":{\"ttft\":1,\"tpot\":1}}\n",
         "no items for app 'nosuchapp'"},
        {"{\"id\":0,\"app\":\"facts\",\"item\":\"facts-0\"}\n{\"id\":1,\"app\":\"facts\",\"item\":\"facts-77\"}\n",
         "facts-77"},
        {"{\"id\":0,\"app\":\"facts\",\"item\":\"facts-0\"}\n{\"id\":1,\"app\":\"facts\",\"prompt_tokens\":100000}\n",
         "context of 128"},
    };
    char tp[1100], db[1100];
    snprintf(tp, sizeof tp, "%s/bad.jsonl", test_tmpdir());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(db, sizeof db, "%s/bad-%zu.db", test_tmpdir(), i);
        write_text(tp, cases[i].lines, strlen(cases[i].lines));
        char *out;
        int rc = test_cli(&out, "sim --trace %s --policy full --model %s --data %s --db %s", tp, f.model_dir,
                          f.data_dir, db);
        CHECK_MSG(rc == 1 && strstr(out, "elms sim: ") && strstr(out, "bad.jsonl") && strstr(out, cases[i].want) &&
                      !strstr(out, "policy full requests"),
                  "case %zu: rc %d: %s", i, rc, out);
        CHECK_MSG(db_count(db, "SELECT count(*) FROM runs") == 0, "case %zu: a run was begun", i);
        free(out);
    }
    fixture_free(&f);
}

/* ---- 7. two writers on one database ---- */

typedef struct Writer {
    const char *path, *policy;
    volatile int *go;         /* the first writer sets it after its first request, then waits for other_done */
    volatile int *other_done; /* set when the second writer has finished */
    int rc;
    char err[ERR_MSG_MAX];
} Writer;

static void wait_flag(volatile int *flag, double seconds) {
    for (int i = 0; i < (int)(seconds * 1000) && !__atomic_load_n(flag, __ATOMIC_SEQ_CST); i++) usleep(1000);
}

/* write_run: a run of 50 requests (and an evaluation each) as sim_run writes them; the first writer gives the
 * other its turn in the middle of its run, as a simulator computing its next answer does. */
static void *write_run(void *arg) {
    Writer *w = arg;
    Db d;
    Err e;
    long id = 0;
    int rc = db_open(&d, w->path, &e);
    DbRun run = {.created = "2000-01-01T00:00:00Z", .command = "test", .policy = w->policy, .n_requests = 50};
    if (!rc) rc = db_run_begin(&d, &run, &id, &e);
    for (long i = 0; !rc && i < 50; i++) {
        DbRequest r = {.request = i, .app = "facts", .item = "facts-1", .choice = 1, .correct = 1};
        rc = db_request_add(&d, id, &r, &e);
        if (!rc) rc = db_eval_put(&d, "hash", w->policy, "facts", "facts-1", 1, 1, 0.5, &e);
        if (i == 0 && w->go) {
            __atomic_store_n(w->go, 1, __ATOMIC_SEQ_CST);
            wait_flag(w->other_done, 5.0);
        }
    }
    DbRunSummary s = {.finished = "2000-01-01T00:00:01Z", .accuracy = 1, .slo_met = 1, .ttft_p50_ms = 1,
                      .ttft_p99_ms = 1, .memory_bytes = 1};
    if (!rc) rc = db_run_finish(&d, id, &s, &e);
    if (d.h) db_close(&d);
    w->rc = rc;
    snprintf(w->err, sizeof w->err, "%s", rc ? e.msg : "");
    return NULL;
}

static volatile int g_go, g_done;
static int g_probe; /* SQLite's answer to a write tried, without waiting, while the first writer is mid-run */

static void *second_writer(void *arg) {
    Writer *w = arg;
    wait_flag(&g_go, 5.0);
    sqlite3 *h;
    g_probe = sqlite3_open(w->path, &h);
    if (g_probe == SQLITE_OK) g_probe = sqlite3_exec(h, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    write_run(arg);
    __atomic_store_n(&g_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

TEST(harden_two_writers_on_one_database_both_complete) {
    const char *path = test_path("shared.db");
    g_go = g_done = 0;
    Writer a = {path, "first", &g_go, &g_done, 0, ""}, b = {path, "second", NULL, NULL, 0, ""};
    pthread_t ta, tb;
    CHECK(pthread_create(&tb, NULL, second_writer, &b) == 0);
    CHECK(pthread_create(&ta, NULL, write_run, &a) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_MSG(g_probe == SQLITE_OK, "the first writer holds the write lock between its writes (SQLite code %d)",
              g_probe);
    CHECK_MSG(a.rc == 0, "first: %s", a.err);
    CHECK_MSG(b.rc == 0, "second: %s", b.err);
    CHECK(db_count(path, "SELECT count(*) FROM runs WHERE complete = 1") == 2);
    CHECK(db_count(path, "SELECT count(*) FROM requests") == 100);
    CHECK(db_count(path, "SELECT count(*) FROM evals") == 2);
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    sqlite3_stmt *s;
    CHECK(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW);
    CHECK(!strcmp((const char *)sqlite3_column_text(s, 0), "ok"));
    sqlite3_finalize(s);
    sqlite3_close(h);
}

TEST(harden_database_errors_name_the_file) {
    const char *path = test_path("named.db");
    Db d;
    Err e;
    long id;
    CHECK(db_open(&d, path, &e) == 0);
    DbRun run = {.created = "2000-01-01T00:00:00Z", .command = "test", .policy = "full", .n_requests = 1};
    CHECK(db_run_begin(&d, &run, &id, &e) == 0);
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(sqlite3_exec(h, "DROP TABLE requests", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    DbRequest r = {.request = 0, .app = "facts", .choice = -1, .correct = -1};
    memset(&e, 0, sizeof e);
    int rc = db_request_add(&d, id, &r, &e);
    if (!rc) rc = db_commit(&d, &e);
    CHECK_MSG(rc != 0 && strstr(e.msg, "named.db") && strstr(e.msg, "requests"), "rc %d: %s", rc, e.msg);
    db_close(&d);
    /* a directory in place of the database */
    memset(&e, 0, sizeof e);
    CHECK(db_open(&d, test_tmpdir(), &e) != 0 && strstr(e.msg, test_tmpdir()));
}

/* The acceptance check: two `elms sim` started 0.2 s apart on one fresh database both complete (the first is
 * still replaying when the second starts: each finds some of the other's evaluations in the database). */
TEST(harden_two_sim_processes_share_a_fresh_database) {
    SimFixture f;
    fixture_init(&f, "normalized", 40, 4, NULL);
    fixture_write(&f, test_tmpdir(), 40, 4);
    const char *tmp = test_tmpdir(), *bin = getenv("ELMS_BIN") ? getenv("ELMS_BIN") : "bin/elms";
    char *out;
    CHECK(test_cli(&out, "trace gen --requests 240 --arrival sequential --seed 42 --data %s -o %s/t.jsonl", f.data_dir,
                   tmp) == 0);
    free(out);
    char sim[2400];
    snprintf(sim, sizeof sim, "sim --trace %s/t.jsonl --policy full,oracle --model %s --data %s --db %s/two.db", tmp,
             f.model_dir, f.data_dir, tmp);
    int rc = test_cli(&out, "%s > %s/first.out 2>&1 & sleep 0.2; %s %s 2>&1; second=$?; wait $!; echo \"first $? "
                      "second $second\"; cat %s/first.out",
                      sim, tmp, bin, sim, tmp);
    CHECK_MSG(rc == 0 && strstr(out, "first 0 second 0"), "rc %d: %s", rc, out);
    free(out);
    char db[1100];
    snprintf(db, sizeof db, "%s/two.db", tmp);
    CHECK(db_count(db, "SELECT count(*) FROM runs WHERE complete = 1") == 4);
    CHECK(db_count(db, "SELECT count(*) FROM requests") == 4 * 240);
    fixture_free(&f);
}

/* ---- 8. the training log and checkpoints agree ---- */

typedef struct LogProbe {
    const char *state;
    long bad, rows;
} LogProbe;

/* on_row: a row flagged as checkpointed must be logged before its checkpoint exists on disk. */
static int on_row(void *ctx, const TrainLogRow *r) {
    LogProbe *p = ctx;
    p->rows++;
    if (!r->checkpointed) return 0;
    cJSON *j;
    Err e;
    if (io_read_json(p->state, &j, &e) == 0) {
        const cJSON *s = cJSON_GetObjectItem(j, "step");
        if (cJSON_IsNumber(s) && s->valuedouble >= (double)r->step) p->bad++;
        cJSON_Delete(j);
    }
    return 0;
}

TEST(harden_training_log_row_precedes_its_checkpoint) {
    Model m;
    Trainer tr;
    Err e;
    small_trainer(t, &m, &tr, 6);
    TokenData data = {malloc(sizeof(int) * 300), 300};
    util_tokens(data.tok, 300, m.cfg.vocab_size, 2);
    DataLoader d;
    CHECK(data_loader_init(&d, &data, tr.cfg.seq, tr.cfg.seed, &e) == 0);
    const char *dir = test_path("ckpt");
    char state[1100];
    snprintf(state, sizeof state, "%s/state.json", dir);
    LogProbe p = {state, 0, 0};
    TrainRunOpts o = {.ckpt_dir = dir, .ckpt_every = 2, .log = on_row, .log_ctx = &p};
    CHECK_MSG(train_run(&tr, &d, &o, NULL, &e) == 0, "%s", e.msg);
    CHECK(p.rows == 6);
    CHECK_MSG(p.bad == 0, "%ld checkpointed rows were logged after their checkpoint", p.bad);
    /* a killed save leaves DIR.tmp: never a model, and cleaned when the run resumes */
    char tmp[1100], sub[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    CHECK(model_save(&m, tmp, ST_F32, &e) == 0);
    snprintf(sub, sizeof sub, "%s/inner", tmp);
    CHECK(model_save(&m, sub, ST_F32, &e) == 0);
    Model x;
    const char *bad[] = {tmp, sub};
    for (int i = 0; i < 2; i++) {
        memset(&e, 0, sizeof e);
        int rc = model_load(&x, bad[i], &e);
        CHECK_MSG(rc != 0 && strstr(e.msg, bad[i]) && strstr(e.msg, ".tmp"), "%s: rc %d: %s", bad[i], rc, e.msg);
        if (rc == 0) model_free(&x);
    }
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char f[1300];
        snprintf(f, sizeof f, "%s/%s", sub, files[i]);
        unlink(f);
    }
    rmdir(sub);
    char found[1100];
    CHECK(train_ckpt_find(dir, found, sizeof found));
    struct stat sb;
    CHECK_MSG(stat(tmp, &sb) != 0, "%s left behind", tmp);
    data_loader_free(&d);
    data_free(&data);
    train_free(&tr);
    model_free(&m);
}

/* sim_trace_check itself (elms sim calls it before any run): a good trace passes; each bad one is named. */
TEST(harden_trace_check_library) {
    SimFixture f;
    fixture_init(&f, "normalized", 4, 4, NULL);
    const char *ok = "{\"id\":0,\"app\":\"facts\",\"item\":\"facts-0\",\"arrival_s\":0.5}\n"
                     "{\"id\":1,\"app\":\"reading\",\"prompt_tokens\":100,\"output_tokens\":4}\n";
    const char *bad[][2] = {
        {"{\"id\":3,\"app\":\"facts\",\"item\":\"facts-0\"}\n{\"id\":3,\"app\":\"facts\",\"item\":\"facts-1\"}\n",
         "request id 3 appears more than once"},
        {"{\"id\":0,\"app\":\"custom\",\"prompt_tokens\":5,\"slo\":{\"ttft\":1,\"tpot\":1}}\n",
         "'custom' is not a known app"},
        {"{\"id\":0,\"app\":\"facts\",\"prompt_tokens\":128}\n", "exceed the model's context of 128"},
        {"{\"id\":0,\"app\":\"facts\",\"item\":\"facts-9\"}\n", "facts-9"},
    };
    const char *p = test_path("t.jsonl");
    Trace tr;
    Err e;
    write_text(p, ok, strlen(ok));
    CHECK(trace_read(&tr, p, &e) == 0);
    CHECK_MSG(sim_trace_check(&f.ctx, &tr, p, &e) == 0, "%s", e.msg);
    trace_free(&tr);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(p, bad[i][0], strlen(bad[i][0]));
        CHECK(trace_read(&tr, p, &e) == 0);
        int rc = sim_trace_check(&f.ctx, &tr, p, &e);
        CHECK_MSG(rc != 0 && strstr(e.msg, "t.jsonl") && strstr(e.msg, bad[i][1]), "case %zu: rc %d: %s", i, rc,
                  e.msg);
        trace_free(&tr);
    }
    fixture_free(&f);
}
