/* Tests of the SQLite training log (sim/train_log.c): two trainers logging into one database at the same time
 * both succeed (no write lock is held between flushes), every row lands, and a resume drops the rows after its
 * step. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>

#include "sim/train_log.h"
#include "tests/test.h"

static long count_rows(TestCtx *t, const char *db, const char *run) {
    sqlite3 *h;
    sqlite3_stmt *st;
    long n = -1;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h, "SELECT count(*) FROM train_log WHERE run = ?1", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static TrainLogRow row(long step, bool ckpt) {
    TrainLogRow r = {step, 2.0, NAN, 1e-3f, 0.5, 1000.0, 1.0, step * 64, ckpt};
    return r;
}

TEST(train_log_two_writers_share_a_database) {
    char db[1100];
    snprintf(db, sizeof db, "%s/log/train.db", test_tmpdir());
    TrainLog a, b;
    Err e;
    CHECK_MSG(train_log_open(&a, db, "a", "cmd a", "out/a", "{}", 10, -1, &e) == 0, "%s", e.msg);
    TrainLogRow r = row(1, false);
    CHECK_MSG(train_log_row(&a, &r, &e) == 0, "%s", e.msg);
    /* a has a row pending; b must still be able to register and write */
    CHECK_MSG(train_log_open(&b, db, "b", "cmd b", "out/b", "{}", 10, -1, &e) == 0, "%s", e.msg);
    for (long s = 1; s <= 450; s++) {
        r = row(s, s % 100 == 0);
        CHECK_MSG(train_log_row(&b, &r, &e) == 0, "b step %ld: %s", s, e.msg);
        r = row(s + 1, false);
        CHECK_MSG(train_log_row(&a, &r, &e) == 0, "a step %ld: %s", s + 1, e.msg);
    }
    CHECK_MSG(train_log_close(&a, &e) == 0, "%s", e.msg);
    CHECK_MSG(train_log_close(&b, &e) == 0, "%s", e.msg);
    CHECK(count_rows(t, db, "a") == 451);
    CHECK(count_rows(t, db, "b") == 450);
    /* a resume of b from step 300 keeps rows 1..300 */
    CHECK_MSG(train_log_open(&b, db, "b", "cmd b", "out/b", "{}", 10, 300, &e) == 0, "%s", e.msg);
    CHECK(count_rows(t, db, "b") == 300);
    CHECK_MSG(train_log_close(&b, &e) == 0, "%s", e.msg);
}
