/* Tests of the results views (analysis/views.sql) and of what reads them: the file, loaded into a fresh database
 * made by the project's schema code, creates views every one of which answers a SELECT, on no runs and on a few;
 * on a small standalone setting and an end-to-end run of known values, the views derive the tables' numbers
 * (accuracy over all apps, gains and their baselines, decision shares, TTFT shares, the CDF, peak memory); and
 * analysis/figures.sh and analysis/report.sh run on such a database (when sqlite3 and gnuplot are installed). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/io.h"
#include "sim/db.h"
#include "tests/test.h"
#include "tests/util.h"

/* One run row (complete, whole) and its requests: app[i], correct[i] (-1: no item), level/ratio, the TTFT parts. */
typedef struct FakeRequest {
    const char *app;
    int correct;
    double level, ratio, queue_ms, tlm_ms, prefill_ms;
} FakeRequest;

static int add_run(sqlite3 *h, long id, const char *policy, const char *trace, const char *profile, double memory_mb,
                   const FakeRequest *r, int n) {
    char sql[1600];
    snprintf(sql, sizeof sql,
             "INSERT INTO runs (id, created, git_rev, command, seed, policy, compressor, trace, profile, model, "
             "model_hash, scheduler, n_requests, complete, memory_bytes, ttft_overhead_mean, ttft_overhead_p99) "
             "VALUES (%ld, '2000-01-01T00:00:0%ldZ', 'abc', 'elms sim --policy %s', 42, '%s', 'random', '%s', '%s', "
             "'models/base-elastic', 'h', 'fcfs', %d, 1, %.17g, 0, 0)",
             id, id % 10, policy, policy, trace, profile, n, memory_mb * 1048576.0);
    if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK) return -1;
    for (int i = 0; i < n; i++) {
        double ttft = r[i].queue_ms + r[i].tlm_ms + r[i].prefill_ms;
        char correct[16], attained[16];
        snprintf(correct, sizeof correct, r[i].correct < 0 ? "NULL" : "%d", r[i].correct);
        snprintf(attained, sizeof attained, r[i].correct < 0 ? "NULL" : "%d", r[i].correct);
        snprintf(sql, sizeof sql,
                 "INSERT INTO requests (run, request, app, item, arrival_ms, slo_ttft_ms, slo_tpot_ms, level, ratio, "
                 "prompt_tokens, kept_tokens, output_tokens, queue_ms, tlm_ms, switch_ms, prefill_ms, decode_ms, "
                 "ttft_ms, tpot_ms, ttft_met, tpot_met, slo_met, choice, correct, memory_bytes, attained) VALUES "
                 "(%ld, %d, '%s', %s, 0, 10, 10, %g, %g, 10, 8, 2, %g, %g, 0, %g, 1, "
                 "%.17g, 1, 1, 1, 1, 0, %s, %.17g, %s)",
                 id, i, r[i].app, r[i].correct < 0 ? "NULL" : "'item'", r[i].level, r[i].ratio, r[i].queue_ms,
                 r[i].tlm_ms, r[i].prefill_ms, ttft, correct, memory_mb * 1048576.0, attained);
        if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK) return -1;
    }
    return 0;
}

/* A fresh database (db_open: the project's schema) holding, when `rows`, two methods of one standalone setting
 * (elms: 3 of 4 correct; shortgpt: 1 of 4), an older elms run of it that the views must ignore, and an end-to-end
 * elms run under host with Poisson-named trace (TTFT parts 1 + 1 + 2 ms), and the same served live with the
 * predictions 0 + 1 + 1 ms and a TPOT of 2 ms (measured: 1). */
static void make_db(TestCtx *t, const char *path, int rows) {
    Db db;
    Err e;
    remove(path);
    CHECK_MSG(db_open(&db, path, &e) == 0, "%s", e.msg);
    db_close(&db);
    if (!rows) return;
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    const char *st = "results/traces/standalone-2-0.8-0.9.jsonl";
    FakeRequest old[4] = {{"facts", 0, 1, 1, 0, 0, 1}, {"facts", 0, 1, 1, 0, 0, 1},
                          {"uinav", 0, 1, 1, 0, 0, 1}, {"uinav", 0, 1, 1, 0, 0, 1}};
    FakeRequest elms[4] = {{"facts", 1, 0.5, 0.4, 0, 0.1, 1}, {"facts", 0, 0.5, 0.4, 0, 0.1, 1},
                           {"uinav", 1, 0.8, 1, 0, 0.1, 1}, {"uinav", 1, 0.5, 0.4, 0, 0.1, 1}};
    FakeRequest sgpt[4] = {{"facts", 0, 0.5, 1, 0, 0, 1}, {"facts", 0, 0.5, 1, 0, 0, 1},
                           {"uinav", 1, 0.5, 1, 0, 0, 1}, {"uinav", 0, 0.5, 1, 0, 0, 1}};
    FakeRequest e2e[3] = {{"facts", 1, 0.5, 0.4, 1, 1, 2}, {"uinav", -1, 0.5, 0.4, 1, 1, 2},
                          {"facts", 0, 0.5, 0.4, 1, 1, 2}};
    CHECK(add_run(h, 1, "elms", st, "normalized", 30, old, 4) == 0);
    CHECK(add_run(h, 2, "elms", st, "normalized", 40, elms, 4) == 0);
    CHECK(add_run(h, 3, "shortgpt", st, "normalized", 20, sgpt, 4) == 0);
    CHECK(add_run(h, 4, "elms", "results/traces/poisson-load-alpha0.jsonl", "host", 50, e2e, 3) == 0);
    /* the same configuration served live, newer: the simulated views ignore it, live_error reads it */
    CHECK(add_run(h, 5, "elms", "results/traces/poisson-load-alpha0.jsonl", "host", 60, e2e, 3) == 0);
    CHECK(sqlite3_exec(h, "UPDATE runs SET live = 1 WHERE id = 5; UPDATE requests SET pred_queue_ms = 0, "
                          "pred_tlm_ms = 1, pred_switch_ms = 0, pred_prefill_ms = 1, pred_tpot_ms = 2 WHERE run = 5",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
}

/* SELECTs every view of the database at path, stepping through all its rows; with `want_rows`, each must have one. */
static int select_every_view(TestCtx *t, const char *path, int want_rows) {
    sqlite3 *h;
    sqlite3_stmt *list;
    int n = 0;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h, "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name", -1, &list,
                             NULL) == SQLITE_OK);
    while (sqlite3_step(list) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(list, 0);
        char sql[300];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", name);
        sqlite3_stmt *s;
        int rc = sqlite3_prepare_v2(h, sql, -1, &s, NULL), rows = 0;
        CHECK_MSG(rc == SQLITE_OK, "view %s: %s", name, sqlite3_errmsg(h));
        if (rc != SQLITE_OK) continue;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) rows++;
        CHECK_MSG(rc == SQLITE_DONE, "view %s: %s", name, sqlite3_errmsg(h));
        if (want_rows) CHECK_MSG(rows > 0, "view %s has no rows", name);
        sqlite3_finalize(s);
        n++;
    }
    sqlite3_finalize(list);
    sqlite3_close(h);
    return n;
}

TEST(views_sql_file_loads_and_every_view_selects) {
    const char *path = test_path("views.db");
    char *views;
    size_t len;
    Err e;
    CHECK(io_read_file("analysis/views.sql", &views, &len, &e) == 0);
    for (int rows = 0; rows <= 1; rows++) {
        make_db(t, path, rows);
        sqlite3 *h;
        char *msg = NULL;
        CHECK(sqlite3_open(path, &h) == SQLITE_OK);
        CHECK_MSG(sqlite3_exec(h, views, NULL, NULL, &msg) == SQLITE_OK, "analysis/views.sql: %s", msg ? msg : "");
        sqlite3_free(msg);
        /* applying the file again replaces the views */
        CHECK(sqlite3_exec(h, views, NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(h);
        int n = select_every_view(t, path, rows);
        CHECK_MSG(n >= 14, "%d views", n);
    }
    free(views);
    /* the compiled-in copy (elms db views) creates the same views */
    make_db(t, path, 1);
    Db db;
    CHECK(db_open(&db, path, &e) == 0);
    CHECK_MSG(db_views_apply(&db, &e) == 0, "%s", e.msg);
    db_close(&db);
    CHECK(select_every_view(t, path, 1) >= 14);
}

TEST(views_derive_the_tables_numbers) {
    const char *path = test_path("numbers.db");
    make_db(t, path, 1);
    Db db;
    Err e;
    CHECK(db_open(&db, path, &e) == 0);
    CHECK(db_views_apply(&db, &e) == 0);
    db_close(&db);
    /* the newest run of a (policy, trace, profile, model) only; names split from the trace path */
    CHECK(util_sql_number(path, "SELECT count(*) FROM latest_runs") == 3);
    CHECK(util_sql_number(path, "SELECT run FROM latest_runs WHERE method = 'elms' AND profile = 'normalized'") == 2);
    CHECK(util_sql_number(path, "SELECT count(*) FROM latest_runs WHERE trace_dir = 'results/traces/' AND "
                                "trace_name = 'poisson-load-alpha0'") == 1);
    CHECK(util_sql_number(path, "SELECT count(*) FROM e2e_runs") == 1);
    /* the accuracy over all apps is pooled over items; the settings are ranked */
    CHECK_NEAR(util_sql_number(path, "SELECT accuracy FROM standalone_curve WHERE method = 'elms' AND app = 'all'"),
               0.75, 1e-12);
    CHECK_NEAR(util_sql_number(path, "SELECT accuracy FROM standalone_curve WHERE method = 'shortgpt' AND "
                                     "app = 'uinav'"), 0.5, 1e-12);
    CHECK(util_sql_number(path, "SELECT max(setting_rank) FROM standalone_curve") == 1);
    /* gains: elms over shortgpt; an ELMS policy is never a baseline */
    CHECK(util_sql_number(path, "SELECT count(*) FROM standalone_gain") == 1);
    CHECK_NEAR(util_sql_number(path, "SELECT mean_gain FROM standalone_gains WHERE method = 'elms' AND "
                                     "baseline = 'shortgpt'"), 0.5, 1e-12);
    CHECK(util_sql_number(path, "SELECT settings_lost FROM standalone_gains") == 0);
    /* decision shares add up to 1 per app and over all apps */
    CHECK_NEAR(util_sql_number(path, "SELECT share FROM standalone_decisions WHERE method = 'elms' AND app = 'all' "
                                     "AND level = 0.5 AND ratio = 0.4"), 0.75, 1e-12);
    CHECK(util_sql_number(path, "SELECT count(*) FROM (SELECT run, app, sum(share) AS s FROM standalone_decisions "
                                "GROUP BY run, app HAVING abs(s - 1) > 1e-12)") == 0);
    /* TTFT parts as shares of the mean TTFT; the CDF ends at 1 */
    CHECK_NEAR(util_sql_number(path, "SELECT queue_share FROM e2e_overhead"), 0.25, 1e-12);
    CHECK_NEAR(util_sql_number(path, "SELECT tlm_share + switch_share + prefill_share FROM e2e_overhead"), 0.75,
               1e-12);
    CHECK_NEAR(util_sql_number(path, "SELECT max(cdf) FROM e2e_ttft_cdf"), 1, 1e-12);
    /* the live run: never a latest run, and its errors (service 2 vs 3, TTFT 2 vs 4, TPOT 2 vs 1, prefill 1 vs 2) */
    CHECK(util_sql_number(path, "SELECT count(*) FROM latest_runs WHERE run = 5") == 0);
    CHECK(util_sql_number(path, "SELECT run FROM live_error") == 5);
    CHECK_NEAR(util_sql_number(path, "SELECT service_ttft_mape FROM live_error"), 100.0 / 3, 1e-9);
    CHECK_NEAR(util_sql_number(path, "SELECT ttft_mape FROM live_error"), 50, 1e-9);
    CHECK_NEAR(util_sql_number(path, "SELECT tpot_mape FROM live_error"), 100, 1e-9);
    CHECK_NEAR(util_sql_number(path, "SELECT prefill_mape FROM live_error"), 50, 1e-9);
    CHECK_NEAR(util_sql_number(path, "SELECT service_ttft_bias + tpot_bias FROM live_error"), 100 - 100.0 / 3, 1e-9);
    CHECK_NEAR(util_sql_number(path, "SELECT queue_ms - pred_queue_ms FROM live_error"), 1, 1e-12);
    /* peak memory per method and profile */
    CHECK_NEAR(util_sql_number(path, "SELECT memory_mb FROM method_memory WHERE method = 'elms' AND "
                                     "profile = 'normalized'"), 40, 1e-9);
}

/* The figures and the report from a small database, through the scripts as `make figures` runs them. */
TEST(views_figures_and_report_scripts_run) {
    if (system("command -v sqlite3 >/dev/null 2>&1") != 0) SKIP("the sqlite3 command-line tool is not installed");
    const char *db = test_path("report.db");
    make_db(t, db, 1);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "sh analysis/report.sh %s %s > %s 2>&1", db, test_path("out/REPORT.md"),
             test_path("report.log"));
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    char *text;
    size_t len;
    Err e;
    CHECK(io_read_file(test_path("out/REPORT.md"), &text, &len, &e) == 0);
    if (len) {
        CHECK(strstr(text, "0.750") != NULL); /* elms over all apps */
        CHECK(strstr(text, "+50.0") != NULL);
        CHECK(strstr(text, "poisson-load-alpha0") != NULL);
        free(text);
    }
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) SKIP("gnuplot is not installed: the report ran");
    snprintf(cmd, sizeof cmd, "sh analysis/figures.sh %s %s > %s 2>&1", db, test_path("out/figures"),
             test_path("figures.log"));
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    static const char *const drawn[] = {"standalone_accuracy", "e2e_attained", "ttft_cdf", "memory", "decisions",
                                        "decisions-facts", "overhead"};
    for (size_t i = 0; i < sizeof drawn / sizeof *drawn; i++) {
        char png[700];
        struct stat sb;
        snprintf(png, sizeof png, "%s/%s.png", test_path("out/figures"), drawn[i]);
        CHECK_MSG(stat(png, &sb) == 0 && sb.st_size > 1000, "%s not drawn", png);
    }
    /* the report embeds them by relative path */
    snprintf(cmd, sizeof cmd, "sh analysis/report.sh %s %s > %s 2>&1 && grep -q '(figures/ttft_cdf.png)' %s", db,
             test_path("out/REPORT.md"), test_path("report.log"), test_path("out/REPORT.md"));
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
}
