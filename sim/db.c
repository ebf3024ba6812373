/* db: the SQLite results database (see db.h). */
#include "sim/db.h"

#include "base/clock.h"

#include <math.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { ST_RUN, ST_RUN_FINISH, ST_REQ, ST_EVAL_GET, ST_EVAL_PUT, ST_CAL, ST_RUN_FIND, ST_N };

static const char *const SQL[ST_N] = {
    "INSERT INTO runs (created, git_rev, command, seed, policy, compressor, trace, profile, model, model_hash, "
    "scheduler, n_requests, trace_hash, prepare_cpu_min, shard_index, shard_count, policy_hash, live, profile_hash, "
    "complete) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
    "UPDATE runs SET complete = 1, finished = ?, accuracy = ?, slo_met = ?, ttft_p50_ms = ?, ttft_p99_ms = ?, "
    "memory_bytes = ?, attained = ?, ttft_overhead_mean = ?, ttft_overhead_p99 = ?, prompt_ratio = ?, "
    "target_ratio = ? WHERE id = ?",
    "INSERT INTO requests (run, request, app, item, arrival_ms, slo_ttft_ms, slo_tpot_ms, level, ratio, "
    "prompt_tokens, kept_tokens, output_tokens, queue_ms, tlm_ms, switch_ms, prefill_ms, decode_ms, ttft_ms, "
    "tpot_ms, ttft_met, tpot_met, slo_met, choice, correct, memory_bytes, attained, pred_queue_ms, pred_tlm_ms, "
    "pred_switch_ms, pred_prefill_ms, pred_tpot_ms) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "SELECT choice, correct, margin FROM evals WHERE model_hash = ? AND config = ? AND app = ? AND item = ?",
    "INSERT OR REPLACE INTO evals (model_hash, config, app, item, choice, correct, margin) VALUES (?,?,?,?,?,?,?)",
    "INSERT INTO calibration (created, profile, model, phase, level, tokens, measured_ms, predicted_ms) "
    "VALUES (?,?,?,?,?,?,?,?)",
    "SELECT id, accuracy, slo_met, ttft_p50_ms, ttft_p99_ms, memory_bytes, attained, ttft_overhead_mean, "
    "ttft_overhead_p99, prompt_ratio, target_ratio, n_requests FROM runs WHERE complete = 1 AND policy = ? AND "
    "compressor IS ? AND trace = ? AND trace_hash = ? AND profile = ? AND model_hash = ? AND scheduler = ? AND "
    "seed = ? AND shard_index = ? AND shard_count = ? AND policy_hash IS ? AND live = ? AND profile_hash IS ? "
    "ORDER BY id DESC LIMIT 1",
};

/* One write waiting in memory for the next short transaction: a request row or an evaluation. */
typedef struct DbPending {
    int kind;        /* ST_REQ or ST_EVAL_PUT */
    long run;
    DbRequest req;   /* ST_REQ (its app and item point into text[0], text[1]) */
    char *text[4];   /* owned copies: app, item (requests); model_hash, config, app, item (evaluations) */
    int choice, correct;
    double margin;
} DbPending;

static int fail(Db *d, Err *e, const char *what) {
    return err_set(e, "%s: database: %s: %s", d->path, what, d->h ? sqlite3_errmsg(d->h) : "not open");
}

static int exec(Db *d, const char *sql, Err *e) {
    char *msg = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "%s: database: %s: %s", d->path, sql, msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int db_open(Db *d, const char *path, Err *e) {
    memset(d, 0, sizeof *d);
    snprintf(d->path, sizeof d->path, "%s", path);
    if (sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        err_set(e, "%s: database: cannot open: %s", path, d->h ? sqlite3_errmsg(d->h) : "out of memory");
        sqlite3_close(d->h);
        d->h = NULL;
        return -1;
    }
    sqlite3_busy_timeout(d->h, DB_BUSY_MS);
    if (exec(d, "PRAGMA journal_mode = WAL", e) || exec(d, "PRAGMA synchronous = NORMAL", e) ||
        exec(d, "PRAGMA foreign_keys = ON", e) || db_schema_ensure(d, e))
        goto bad;
    for (int i = 0; i < ST_N; i++)
        if (sqlite3_prepare_v2(d->h, SQL[i], -1, &d->st[i], NULL) != SQLITE_OK) {
            fail(d, e, "preparing a statement");
            goto bad;
        }
    return 0;
bad:
    db_close(d);
    return -1;
}

static void pending_clear(Db *d) {
    for (long i = 0; i < d->n_pending; i++)
        for (int k = 0; k < 4; k++) free(d->pending[i].text[k]);
    d->n_pending = 0;
}

void db_close(Db *d) {
    if (!d->h) return;
    db_commit(d, NULL);
    pending_clear(d);
    free(d->pending);
    for (int i = 0; i < ST_N; i++) sqlite3_finalize(d->st[i]);
    sqlite3_close(d->h);
    memset(d, 0, sizeof *d);
}

static int write_request(Db *d, long run_id, const DbRequest *r, Err *e);
static int write_eval(Db *d, const DbPending *p, Err *e);

/* db_commit: the buffered writes in one short IMMEDIATE transaction (waiting up to DB_BUSY_MS for another
 * writer); nothing else runs while it is open. On failure the transaction is rolled back and the writes stay
 * buffered. */
int db_commit(Db *d, Err *e) {
    if (d->n_pending == 0) return 0;
    if (exec(d, "BEGIN IMMEDIATE", e)) return -1;
    for (long i = 0; i < d->n_pending; i++) {
        const DbPending *p = &d->pending[i];
        if (p->kind == ST_REQ ? write_request(d, p->run, &p->req, e) : write_eval(d, p, e)) {
            exec(d, "ROLLBACK", NULL);
            return -1;
        }
    }
    if (exec(d, "COMMIT", e)) {
        exec(d, "ROLLBACK", NULL);
        return -1;
    }
    pending_clear(d);
    return 0;
}

/* pending_add: a slot for one more buffered write (zeroed), or NULL when memory runs out. */
static DbPending *pending_add(Db *d, Err *e) {
    if (d->n_pending == 0) d->pending_since = clock_wall_s();
    if (d->n_pending == d->cap_pending) {
        long nc = d->cap_pending ? 2 * d->cap_pending : 64;
        DbPending *np = realloc(d->pending, sizeof *np * (size_t)nc);
        if (!np) return err_set(e, "%s: database: out of memory buffering writes", d->path), NULL;
        d->pending = np;
        d->cap_pending = nc;
    }
    DbPending *p = &d->pending[d->n_pending];
    memset(p, 0, sizeof *p);
    return p;
}

/* pending_done: keep the slot filled by the caller (its copies must all have succeeded), and write the buffer
 * when it holds DB_BATCH writes or its oldest is DB_FLUSH_S seconds old. */
static int pending_done(Db *d, DbPending *p, int n_text, Err *e) {
    for (int k = 0; k < n_text; k++)
        if (!p->text[k]) {
            for (k = 0; k < 4; k++) free(p->text[k]);
            return err_set(e, "%s: database: out of memory buffering writes", d->path);
        }
    d->n_pending++;
    if (d->n_pending >= DB_BATCH || clock_wall_s() - d->pending_since >= DB_FLUSH_S) return db_commit(d, e);
    return 0;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
    if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, i);
}

static void bind_real(sqlite3_stmt *s, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(s, i);
    else sqlite3_bind_double(s, i, v);
}

static int step_done(Db *d, sqlite3_stmt *s, Err *e, const char *what) {
    int rc = sqlite3_step(s);
    int bad = rc != SQLITE_DONE;
    if (bad) fail(d, e, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return bad ? -1 : 0;
}

/* The shard a run records (1 of 1 when r has none). */
static int shard_count_of(const DbRun *r) { return r->shard_count > 1 ? r->shard_count : 1; }
static int shard_index_of(const DbRun *r) { return r->shard_count > 1 ? r->shard_index : 1; }

int db_run_begin(Db *d, const DbRun *r, long *run_id, Err *e) {
    if (db_commit(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_RUN];
    bind_text(s, 1, r->created);
    bind_text(s, 2, r->git_rev);
    bind_text(s, 3, r->command ? r->command : "");
    sqlite3_bind_int64(s, 4, r->seed);
    bind_text(s, 5, r->policy);
    bind_text(s, 6, r->compressor);
    bind_text(s, 7, r->trace ? r->trace : "");
    bind_text(s, 8, r->profile ? r->profile : "");
    bind_text(s, 9, r->model ? r->model : "");
    bind_text(s, 10, r->model_hash ? r->model_hash : "");
    bind_text(s, 11, r->scheduler ? r->scheduler : "fcfs");
    sqlite3_bind_int64(s, 12, r->n_requests);
    bind_text(s, 13, r->trace_hash);
    bind_real(s, 14, r->prepare_cpu_min);
    sqlite3_bind_int(s, 15, shard_index_of(r));
    sqlite3_bind_int(s, 16, shard_count_of(r));
    bind_text(s, 17, r->policy_hash);
    sqlite3_bind_int(s, 18, r->live);
    bind_text(s, 19, r->profile_hash);
    if (step_done(d, s, e, "adding a run")) return -1;
    *run_id = (long)sqlite3_last_insert_rowid(d->h);
    return 0;
}

int db_run_finish(Db *d, long run_id, const DbRunSummary *x, Err *e) {
    if (db_commit(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_RUN_FINISH];
    bind_text(s, 1, x->finished);
    bind_real(s, 2, x->accuracy);
    bind_real(s, 3, x->slo_met);
    bind_real(s, 4, x->ttft_p50_ms);
    bind_real(s, 5, x->ttft_p99_ms);
    bind_real(s, 6, x->memory_bytes);
    bind_real(s, 7, x->attained);
    bind_real(s, 8, x->ttft_overhead_mean);
    bind_real(s, 9, x->ttft_overhead_p99);
    bind_real(s, 10, x->prompt_ratio);
    bind_real(s, 11, x->target_ratio);
    sqlite3_bind_int64(s, 12, run_id);
    return step_done(d, s, e, "finishing a run");
}

static double column_real(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

int db_run_find_complete(Db *d, const DbRun *r, long *run_id, DbRunSummary *x, long *n_requests, Err *e) {
    *run_id = 0;
    if (!r->trace_hash) return 0;
    if (db_commit(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_RUN_FIND];
    bind_text(s, 1, r->policy);
    bind_text(s, 2, r->compressor);
    bind_text(s, 3, r->trace ? r->trace : "");
    bind_text(s, 4, r->trace_hash);
    bind_text(s, 5, r->profile ? r->profile : "");
    bind_text(s, 6, r->model_hash ? r->model_hash : "");
    bind_text(s, 7, r->scheduler ? r->scheduler : "fcfs");
    sqlite3_bind_int64(s, 8, r->seed);
    sqlite3_bind_int(s, 9, shard_index_of(r));
    sqlite3_bind_int(s, 10, shard_count_of(r));
    bind_text(s, 11, r->policy_hash);
    sqlite3_bind_int(s, 12, r->live);
    bind_text(s, 13, r->profile_hash);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *run_id = (long)sqlite3_column_int64(s, 0);
        memset(x, 0, sizeof *x);
        double *f[] = {&x->accuracy, &x->slo_met, &x->ttft_p50_ms, &x->ttft_p99_ms, &x->memory_bytes, &x->attained,
                       &x->ttft_overhead_mean, &x->ttft_overhead_p99, &x->prompt_ratio, &x->target_ratio};
        for (int k = 0; k < 10; k++) *f[k] = column_real(s, k + 1);
        *n_requests = (long)sqlite3_column_int64(s, 11);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(d, e, "looking up a complete run");
    return 0;
}

static int write_request(Db *d, long run_id, const DbRequest *r, Err *e) {
    sqlite3_stmt *s = d->st[ST_REQ];
    int i = 1;
    sqlite3_bind_int64(s, i++, run_id);
    sqlite3_bind_int64(s, i++, r->request);
    bind_text(s, i++, r->app);
    bind_text(s, i++, r->item);
    sqlite3_bind_double(s, i++, r->arrival_ms);
    sqlite3_bind_double(s, i++, r->slo_ttft_ms);
    sqlite3_bind_double(s, i++, r->slo_tpot_ms);
    sqlite3_bind_double(s, i++, r->level);
    sqlite3_bind_double(s, i++, r->ratio);
    sqlite3_bind_int(s, i++, r->prompt_tokens);
    sqlite3_bind_int(s, i++, r->kept_tokens);
    sqlite3_bind_int(s, i++, r->output_tokens);
    sqlite3_bind_double(s, i++, r->queue_ms);
    sqlite3_bind_double(s, i++, r->tlm_ms);
    sqlite3_bind_double(s, i++, r->switch_ms);
    sqlite3_bind_double(s, i++, r->prefill_ms);
    sqlite3_bind_double(s, i++, r->decode_ms);
    sqlite3_bind_double(s, i++, r->ttft_ms);
    sqlite3_bind_double(s, i++, r->tpot_ms);
    sqlite3_bind_int(s, i++, r->ttft_met);
    sqlite3_bind_int(s, i++, r->tpot_met);
    sqlite3_bind_int(s, i++, r->slo_met);
    if (r->correct < 0) {
        sqlite3_bind_null(s, i++);
        sqlite3_bind_null(s, i++);
    } else {
        sqlite3_bind_int(s, i++, r->choice);
        sqlite3_bind_int(s, i++, r->correct);
    }
    sqlite3_bind_double(s, i++, r->memory_bytes);
    if (r->correct < 0) sqlite3_bind_null(s, i++);
    else sqlite3_bind_int(s, i++, r->correct && r->slo_met);
    const double pred[] = {r->pred_queue_ms, r->pred_tlm_ms, r->pred_switch_ms, r->pred_prefill_ms, r->pred_tpot_ms};
    for (int k = 0; k < 5; k++) bind_real(s, i++, r->has_pred ? pred[k] : NAN);
    return step_done(d, s, e, "adding a request");
}

int db_request_add(Db *d, long run_id, const DbRequest *r, Err *e) {
    DbPending *p = pending_add(d, e);
    if (!p) return -1;
    p->kind = ST_REQ;
    p->run = run_id;
    p->req = *r;
    p->text[0] = dup_or_null(r->app ? r->app : "");
    p->text[1] = dup_or_null(r->item);
    p->req.app = p->text[0];
    p->req.item = p->text[1];
    return pending_done(d, p, r->item ? 2 : 1, e);
}

int db_eval_get(Db *d, const char *model_hash, const char *config, const char *app, const char *item, int *choice,
                int *correct, double *margin, int *found, Err *e) {
    sqlite3_stmt *s = d->st[ST_EVAL_GET];
    bind_text(s, 1, model_hash);
    bind_text(s, 2, config);
    bind_text(s, 3, app);
    bind_text(s, 4, item);
    int rc = sqlite3_step(s);
    *found = rc == SQLITE_ROW;
    if (*found) {
        *choice = sqlite3_column_int(s, 0);
        *correct = sqlite3_column_int(s, 1);
        *margin = sqlite3_column_double(s, 2);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(d, e, "reading evals");
    return 0;
}

static int write_eval(Db *d, const DbPending *p, Err *e) {
    sqlite3_stmt *s = d->st[ST_EVAL_PUT];
    for (int k = 0; k < 4; k++) bind_text(s, k + 1, p->text[k]);
    sqlite3_bind_int(s, 5, p->choice);
    sqlite3_bind_int(s, 6, p->correct);
    sqlite3_bind_double(s, 7, p->margin);
    return step_done(d, s, e, "adding an eval");
}

int db_eval_put(Db *d, const char *model_hash, const char *config, const char *app, const char *item, int choice,
                int correct, double margin, Err *e) {
    DbPending *p = pending_add(d, e);
    if (!p) return -1;
    p->kind = ST_EVAL_PUT;
    const char *src[4] = {model_hash, config, app, item};
    for (int k = 0; k < 4; k++) p->text[k] = dup_or_null(src[k] ? src[k] : "");
    p->choice = choice;
    p->correct = correct;
    p->margin = margin;
    return pending_done(d, p, 4, e);
}

int db_calibration_add(Db *d, const char *created, const char *profile, const char *model, const char *phase,
                       double level, long tokens, double measured_ms, double predicted_ms, Err *e) {
    if (db_commit(d, e)) return -1; /* one short transaction of its own, after what is buffered */
    sqlite3_stmt *s = d->st[ST_CAL];
    bind_text(s, 1, created);
    bind_text(s, 2, profile);
    bind_text(s, 3, model);
    bind_text(s, 4, phase);
    bind_real(s, 5, level);
    if (tokens >= 0) sqlite3_bind_int64(s, 6, tokens);
    else sqlite3_bind_null(s, 6);
    sqlite3_bind_double(s, 7, measured_ms);
    bind_real(s, 8, predicted_ms);
    return step_done(d, s, e, "adding a calibration point");
}

void db_now_utc(char *out, int cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, (size_t)cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
