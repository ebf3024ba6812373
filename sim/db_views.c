/* db_views: analysis/views.sql compiled in as a string (a test checks that the two are identical), and
 * db_views_apply, which (re)creates the views in a database. */
#include "sim/db.h"

#include <sqlite3.h>
#include <stddef.h>

const char DB_VIEWS_SQL[] =
    "-- elms results views: what every table and figure reads, so that no script derives a metric again\n"
    "-- (docs/database.md, \"Views\"). Applied to a database by `elms db views DB` (also by `elms db merge` and\n"
    "-- `elms regress`; compiled into the binary, sim/db_views.c, which a test keeps identical to this file) or by\n"
    "-- `sqlite3 DB < analysis/views.sql`. Each view is dropped and created again, so applying this file again\n"
    "-- replaces older definitions.\n"
    "\n"
    "-- One row per (run, app): the run's configuration and, over the app's requests, the counts and fractions of\n"
    "-- correct answers (over requests with an item), SLOs met (over all requests) and attained answers (correct and\n"
    "-- within the SLO, over requests with an item).\n"
    "DROP VIEW IF EXISTS run_app;\n"
    "CREATE VIEW run_app AS\n"
    "SELECT r.id AS run, r.policy AS policy, r.trace AS trace, r.profile AS profile, r.model AS model,\n"
    "       r.compressor AS compressor, r.scheduler AS scheduler, r.seed AS seed, r.complete AS complete,\n"
    "       r.shard_index AS shard_index, r.shard_count AS shard_count, r.policy_hash AS policy_hash, q.app AS app,\n"
    "       count(*) AS requests,\n"
    "       count(q.correct) AS items,\n"
    "       sum(q.correct) AS n_correct,\n"
    "       sum(q.slo_met) AS n_slo_met,\n"
    "       sum(q.attained) AS n_attained,\n"
    "       avg(q.correct) AS accuracy,\n"
    "       avg(q.slo_met) AS slo_met,\n"
    "       avg(q.attained) AS attained\n"
    "FROM runs r JOIN requests q ON q.run = r.id\n"
    "GROUP BY r.id, q.app;\n"
    "\n"
    "-- One row per run: where its TTFT goes (mean milliseconds of each part over its requests, and the share of TTFT\n"
    "-- outside the model: tiny LM + switch), the achieved against the target prompt ratio, memory and the policy's\n"
    "-- offline preparation cost.\n"
    "DROP VIEW IF EXISTS run_overhead;\n"
    "CREATE VIEW run_overhead AS\n"
    "SELECT r.id AS run, r.policy AS policy, r.trace AS trace, r.profile AS profile, r.model AS model,\n"
    "       r.scheduler AS scheduler, r.complete AS complete, r.n_requests AS requests,\n"
    "       avg(q.queue_ms) AS queue_ms, avg(q.tlm_ms) AS tlm_ms, avg(q.switch_ms) AS switch_ms,\n"
    "       avg(q.prefill_ms) AS prefill_ms, avg(q.ttft_ms) AS ttft_ms, avg(q.decode_ms) AS decode_ms,\n"
    "       r.ttft_overhead_mean AS ttft_overhead_mean, r.ttft_overhead_p99 AS ttft_overhead_p99,\n"
    "       r.prompt_ratio AS prompt_ratio, r.target_ratio AS target_ratio,\n"
    "       r.memory_bytes / 1048576.0 AS memory_mb, r.prepare_cpu_min AS prepare_cpu_min\n"
    "FROM runs r LEFT JOIN requests q ON q.run = r.id\n"
    "GROUP BY r.id;\n"
    "\n"
    "-- The standalone comparison (analysis/standalone.sh): complete whole runs of traces named\n"
    "-- standalone-N-TTFT-TPOT.jsonl (N test items per app, every app at the SLO setting TTFT,TPOT), in any\n"
    "-- directory, the newest of each (policy, trace, profile, model).\n"
    "DROP VIEW IF EXISTS standalone_runs;\n"
    "CREATE VIEW standalone_runs AS\n"
    "WITH named AS (\n"
    "    SELECT r.*, replace(r.trace, rtrim(r.trace, replace(r.trace, '/', '')), '') AS base\n"
    "    FROM runs r WHERE r.complete = 1 AND r.shard_count = 1),\n"
    "parsed AS (\n"
    "    SELECT named.*, substr(base, 12, length(base) - 17) AS setting\n"
    "    FROM named WHERE base LIKE 'standalone-%-%-%.jsonl'),\n"
    "cells AS (\n"
    "    SELECT parsed.*, substr(setting, instr(setting, '-') + 1) AS slo_pair\n"
    "    FROM parsed\n"
    "    WHERE id = (SELECT max(p.id) FROM parsed p WHERE p.policy = parsed.policy AND p.trace = parsed.trace\n"
    "                AND p.profile = parsed.profile AND p.model = parsed.model))\n"
    "SELECT id AS run, policy AS method, profile, model, model_hash, policy_hash, compressor, seed, scheduler, trace,\n"
    "       CAST(substr(setting, 1, instr(setting, '-') - 1) AS INTEGER) AS items_per_app,\n"
    "       replace(slo_pair, '-', ',') AS slo,\n"
    "       CAST(substr(slo_pair, 1, instr(slo_pair, '-') - 1) AS REAL) AS slo_ttft,\n"
    "       CAST(substr(slo_pair, instr(slo_pair, '-') + 1) AS REAL) AS slo_tpot,\n"
    "       accuracy, slo_met, attained, memory_bytes / 1048576.0 AS memory_mb\n"
    "FROM cells;\n"
    "\n"
    "-- The standalone accuracy curves: one row per (method, SLO setting, app) of standalone_runs, with the counts\n"
    "-- the golden curves and their tolerance need (elms regress).\n"
    "DROP VIEW IF EXISTS standalone_accuracy;\n"
    "CREATE VIEW standalone_accuracy AS\n"
    "SELECT s.method AS method, s.profile AS profile, s.model AS model, s.model_hash AS model_hash,\n"
    "       s.policy_hash AS policy_hash, s.compressor AS compressor, s.seed AS seed, s.items_per_app AS items_per_app,\n"
    "       s.slo AS slo, s.slo_ttft AS slo_ttft, s.slo_tpot AS slo_tpot, a.app AS app, a.requests AS requests,\n"
    "       a.items AS items, a.n_correct AS n_correct, a.n_slo_met AS n_slo_met, a.n_attained AS n_attained,\n"
    "       a.accuracy AS accuracy, a.slo_met AS slo_met, a.attained AS attained, s.memory_mb AS memory_mb, s.run AS run,\n"
    "       s.trace AS trace\n"
    "FROM standalone_runs s JOIN run_app a ON a.run = s.run;\n";

int db_views_apply(Db *d, Err *e) {
    if (db_commit(d, e)) return -1;
    char *msg = NULL;
    int rc = sqlite3_exec(d->h, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(d->h, DB_VIEWS_SQL, NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(d->h, "COMMIT", NULL, NULL, &msg);
    if (rc == SQLITE_OK) return 0;
    err_set(e, "%s: database: creating the views of analysis/views.sql: %s", d->path, msg ? msg : sqlite3_errmsg(d->h));
    sqlite3_free(msg);
    sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
