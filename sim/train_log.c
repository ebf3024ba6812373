/* train_log: SQLite rows for the training curves (see train_log.h). */
#include "sim/train_log.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "engine/io.h"

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS train_runs("
    "  run TEXT PRIMARY KEY, created TEXT, command TEXT, out_dir TEXT, config TEXT, n_params INTEGER);"
    "CREATE TABLE IF NOT EXISTS train_log("
    "  run TEXT NOT NULL, step INTEGER NOT NULL, loss REAL, val_loss REAL, lr REAL, tokens_per_s REAL,"
    "  grad_norm REAL, tokens INTEGER, elapsed_s REAL, PRIMARY KEY(run, step));";

static int db_fail(TrainLog *l, const char *path, const char *what, Err *e) {
    err_set(e, "%s: %s: %s", path, what, l->db ? sqlite3_errmsg(l->db) : "cannot open");
    return -1;
}

static int exec(TrainLog *l, const char *sql) {
    return sqlite3_exec(l->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int train_log_open(TrainLog *l, const char *path, const char *run, const char *command, const char *out_dir,
                   const char *config_json, long n_params, long resume_step, Err *e) {
    memset(l, 0, sizeof *l);
    snprintf(l->run, sizeof l->run, "%s", run);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (io_mkdirs(dir, e) != 0) return err_prefix(e, "training log");
    }
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        l->db = db;
        db_fail(l, path, "cannot open", e);
        sqlite3_close(db);
        l->db = NULL;
        return -1;
    }
    l->db = db;
    sqlite3_busy_timeout(db, 30000);
    if (exec(l, "PRAGMA journal_mode=WAL;") || exec(l, SCHEMA)) {
        db_fail(l, path, "cannot create the training tables", e);
        train_log_close(l, NULL);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    const char *reg = "INSERT INTO train_runs(run, created, command, out_dir, config, n_params) "
                      "VALUES(?1, datetime('now'), ?2, ?3, ?4, ?5) ON CONFLICT(run) DO UPDATE SET "
                      "command = excluded.command, out_dir = excluded.out_dir, config = excluded.config, "
                      "n_params = excluded.n_params, created = CASE WHEN ?6 THEN train_runs.created "
                      "ELSE excluded.created END;";
    const char *del = resume_step < 0 ? "DELETE FROM train_log WHERE run = ?1;"
                                      : "DELETE FROM train_log WHERE run = ?1 AND step > ?2;";
    int ok = exec(l, "BEGIN IMMEDIATE;") == 0;
    if (ok) ok = sqlite3_prepare_v2(db, reg, -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, command, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, out_dir, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, config_json, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, n_params);
        sqlite3_bind_int(st, 6, resume_step >= 0);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ok) ok = sqlite3_prepare_v2(db, del, -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
        if (resume_step >= 0) sqlite3_bind_int64(st, 2, resume_step);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (ok) ok = exec(l, "COMMIT;") == 0;
    if (ok)
        ok = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO train_log(run, step, loss, val_loss, lr, tokens_per_s, "
                                "grad_norm, tokens, elapsed_s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9);",
                                -1, (sqlite3_stmt **)&l->ins, NULL) == SQLITE_OK;
    if (!ok) {
        db_fail(l, path, "cannot register the run", e);
        exec(l, "ROLLBACK;");
        train_log_close(l, NULL);
        return -1;
    }
    return 0;
}

static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

/* flush: write the buffered rows in one transaction (BEGIN IMMEDIATE takes the write lock up front, so a
 * concurrent writer makes this wait through the busy timeout rather than fail). */
static int flush(TrainLog *l, Err *e) {
    if (l->pending == 0) return 0;
    if (exec(l, "BEGIN IMMEDIATE;") != 0)
        return err_set(e, "training log: cannot start a transaction: %s", sqlite3_errmsg(l->db));
    sqlite3_stmt *st = l->ins;
    for (int i = 0; i < l->pending; i++) {
        const TrainLogRow *r = &l->row[i];
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, l->run, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, r->step);
        bind_real(st, 3, r->loss);
        bind_real(st, 4, r->val_loss);
        bind_real(st, 5, r->lr);
        bind_real(st, 6, r->tokens_per_s);
        bind_real(st, 7, r->grad_norm);
        sqlite3_bind_int64(st, 8, r->tokens);
        bind_real(st, 9, r->elapsed_s);
        if (sqlite3_step(st) != SQLITE_DONE) {
            err_set(e, "training log: cannot insert step %ld: %s", r->step, sqlite3_errmsg(l->db));
            exec(l, "ROLLBACK;");
            return -1;
        }
    }
    if (exec(l, "COMMIT;") != 0) {
        err_set(e, "training log: cannot commit: %s", sqlite3_errmsg(l->db));
        exec(l, "ROLLBACK;");
        return -1;
    }
    l->pending = 0;
    return 0;
}

int train_log_row(TrainLog *l, const TrainLogRow *r, Err *e) {
    l->row[l->pending++] = *r;
    if (l->pending >= TRAIN_LOG_BATCH || r->checkpointed) return flush(l, e);
    return 0;
}

int train_log_close(TrainLog *l, Err *e) {
    if (!l->db) return 0;
    int rc = l->ins ? flush(l, e) : 0;
    if (l->ins) sqlite3_finalize(l->ins);
    sqlite3_close(l->db);
    memset(l, 0, sizeof *l);
    return rc;
}
