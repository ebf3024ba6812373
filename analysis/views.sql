-- elms results views: what every table and figure reads, so that no script derives a metric again
-- (docs/database.md, "Views"). Applied to a database by `elms db views DB` (also by `elms db merge` and
-- `elms regress`; compiled into the binary, sim/db_views.c, which a test keeps identical to this file) or by
-- `sqlite3 DB < analysis/views.sql`. Each view is dropped and created again, so applying this file again
-- replaces older definitions.

-- One row per (run, app): the run's configuration and, over the app's requests, the counts and fractions of
-- correct answers (over requests with an item), SLOs met (over all requests) and attained answers (correct and
-- within the SLO, over requests with an item).
DROP VIEW IF EXISTS run_app;
CREATE VIEW run_app AS
SELECT r.id AS run, r.policy AS policy, r.trace AS trace, r.profile AS profile, r.model AS model,
       r.compressor AS compressor, r.scheduler AS scheduler, r.seed AS seed, r.complete AS complete,
       r.shard_index AS shard_index, r.shard_count AS shard_count, r.policy_hash AS policy_hash, q.app AS app,
       count(*) AS requests,
       count(q.correct) AS items,
       sum(q.correct) AS n_correct,
       sum(q.slo_met) AS n_slo_met,
       sum(q.attained) AS n_attained,
       avg(q.correct) AS accuracy,
       avg(q.slo_met) AS slo_met,
       avg(q.attained) AS attained
FROM runs r JOIN requests q ON q.run = r.id
GROUP BY r.id, q.app;

-- One row per run: where its TTFT goes (mean milliseconds of each part over its requests, and the share of TTFT
-- outside the model: tiny LM + switch), the achieved against the target prompt ratio, memory and the policy's
-- offline preparation cost.
DROP VIEW IF EXISTS run_overhead;
CREATE VIEW run_overhead AS
SELECT r.id AS run, r.policy AS policy, r.trace AS trace, r.profile AS profile, r.model AS model,
       r.scheduler AS scheduler, r.complete AS complete, r.n_requests AS requests,
       avg(q.queue_ms) AS queue_ms, avg(q.tlm_ms) AS tlm_ms, avg(q.switch_ms) AS switch_ms,
       avg(q.prefill_ms) AS prefill_ms, avg(q.ttft_ms) AS ttft_ms, avg(q.decode_ms) AS decode_ms,
       r.ttft_overhead_mean AS ttft_overhead_mean, r.ttft_overhead_p99 AS ttft_overhead_p99,
       r.prompt_ratio AS prompt_ratio, r.target_ratio AS target_ratio,
       r.memory_bytes / 1048576.0 AS memory_mb, r.prepare_cpu_min AS prepare_cpu_min
FROM runs r LEFT JOIN requests q ON q.run = r.id
GROUP BY r.id;

-- The standalone comparison (analysis/standalone.sh): complete whole simulated runs of traces named
-- standalone-N-TTFT-TPOT.jsonl (N test items per app, every app at the SLO setting TTFT,TPOT), in any
-- directory, the newest of each (policy, trace, profile, model).
DROP VIEW IF EXISTS standalone_runs;
CREATE VIEW standalone_runs AS
WITH named AS (
    SELECT r.*, replace(r.trace, rtrim(r.trace, replace(r.trace, '/', '')), '') AS base
    FROM runs r WHERE r.complete = 1 AND r.shard_count = 1 AND r.live = 0),
parsed AS (
    SELECT named.*, substr(base, 12, length(base) - 17) AS setting
    FROM named WHERE base LIKE 'standalone-%-%-%.jsonl'),
cells AS (
    SELECT parsed.*, substr(setting, instr(setting, '-') + 1) AS slo_pair
    FROM parsed
    WHERE id = (SELECT max(p.id) FROM parsed p WHERE p.policy = parsed.policy AND p.trace = parsed.trace
                AND p.profile = parsed.profile AND p.model = parsed.model))
SELECT id AS run, policy AS method, profile, model, model_hash, policy_hash, compressor, seed, scheduler, trace,
       CAST(substr(setting, 1, instr(setting, '-') - 1) AS INTEGER) AS items_per_app,
       replace(slo_pair, '-', ',') AS slo,
       CAST(substr(slo_pair, 1, instr(slo_pair, '-') - 1) AS REAL) AS slo_ttft,
       CAST(substr(slo_pair, instr(slo_pair, '-') + 1) AS REAL) AS slo_tpot,
       accuracy, slo_met, attained, memory_bytes / 1048576.0 AS memory_mb
FROM cells;

-- The standalone accuracy curves: one row per (method, SLO setting, app) of standalone_runs, with the counts
-- the golden curves and their tolerance need (elms regress).
DROP VIEW IF EXISTS standalone_accuracy;
CREATE VIEW standalone_accuracy AS
SELECT s.method AS method, s.profile AS profile, s.model AS model, s.model_hash AS model_hash,
       s.policy_hash AS policy_hash, s.compressor AS compressor, s.seed AS seed, s.items_per_app AS items_per_app,
       s.slo AS slo, s.slo_ttft AS slo_ttft, s.slo_tpot AS slo_tpot, a.app AS app, a.requests AS requests,
       a.items AS items, a.n_correct AS n_correct, a.n_slo_met AS n_slo_met, a.n_attained AS n_attained,
       a.accuracy AS accuracy, a.slo_met AS slo_met, a.attained AS attained, s.memory_mb AS memory_mb, s.run AS run,
       s.trace AS trace
FROM standalone_runs s JOIN run_app a ON a.run = s.run;

-- The newest complete whole simulated run (not live) of each (policy, trace, profile, model, scheduler), whatever
-- the trace, with the
-- run's summary and provenance (when, by which code and command line it was recorded): trace_dir is the trace's
-- directory (with its final '/', '' for none) and trace_name the file name
-- without the directory and a final .jsonl. What the end-to-end tables and figures read (analysis/report.sh,
-- analysis/figures.sh).
DROP VIEW IF EXISTS latest_runs;
CREATE VIEW latest_runs AS
WITH whole AS (
    SELECT r.*, rtrim(r.trace, replace(r.trace, '/', '')) AS dir
    FROM runs r WHERE r.complete = 1 AND r.shard_count = 1 AND r.live = 0),
newest AS (
    SELECT whole.*, substr(trace, length(dir) + 1) AS file
    FROM whole
    WHERE id = (SELECT max(w.id) FROM whole w WHERE w.policy = whole.policy AND w.trace = whole.trace
                AND w.profile = whole.profile AND w.model = whole.model AND w.scheduler = whole.scheduler))
SELECT id AS run, policy AS method, trace, dir AS trace_dir,
       CASE WHEN file LIKE '%.jsonl' THEN substr(file, 1, length(file) - 6) ELSE file END AS trace_name,
       profile, model, model_hash, compressor, seed, scheduler, n_requests AS requests,
       accuracy, slo_met, attained, ttft_p50_ms, ttft_p99_ms, memory_bytes / 1048576.0 AS memory_mb,
       ttft_overhead_mean, ttft_overhead_p99, prompt_ratio, target_ratio, prepare_cpu_min, created, git_rev,
       command
FROM newest;

-- The end-to-end runs: latest_runs of every trace but the standalone comparison's (the paper's traces under each
-- profile, the Poisson trace under host, ...); trace_name carries the scheduler when it is not FCFS
-- ("poisson-load-alpha0 EDF"), so that a table or figure grouped by trace keeps the two apart.
DROP VIEW IF EXISTS e2e_runs;
CREATE VIEW e2e_runs AS
SELECT run, method, trace, trace_dir,
       CASE WHEN scheduler = 'fcfs' THEN trace_name ELSE trace_name || ' ' || upper(scheduler) END AS trace_name,
       profile, model, model_hash, compressor, seed, scheduler, requests, accuracy, slo_met, attained, ttft_p50_ms,
       ttft_p99_ms, memory_mb, ttft_overhead_mean, ttft_overhead_p99, prompt_ratio, target_ratio, prepare_cpu_min,
       created, git_rev, command
FROM latest_runs WHERE trace_name NOT LIKE 'standalone-%';

-- One row per e2e_runs run: where its TTFT goes, from run_overhead, with each part's share of the mean TTFT
-- (the parts add up to TTFT request by request, so the four shares add up to 1).
DROP VIEW IF EXISTS e2e_overhead;
CREATE VIEW e2e_overhead AS
SELECT e.run AS run, e.method AS method, e.trace AS trace, e.trace_name AS trace_name, e.profile AS profile,
       e.model AS model, o.queue_ms AS queue_ms, o.tlm_ms AS tlm_ms, o.switch_ms AS switch_ms,
       o.prefill_ms AS prefill_ms, o.ttft_ms AS ttft_ms, o.decode_ms AS decode_ms,
       o.queue_ms / o.ttft_ms AS queue_share, o.tlm_ms / o.ttft_ms AS tlm_share,
       o.switch_ms / o.ttft_ms AS switch_share, o.prefill_ms / o.ttft_ms AS prefill_share,
       o.ttft_overhead_mean AS ttft_overhead_mean, o.ttft_overhead_p99 AS ttft_overhead_p99,
       o.prompt_ratio AS prompt_ratio, o.target_ratio AS target_ratio, o.memory_mb AS memory_mb,
       o.prepare_cpu_min AS prepare_cpu_min
FROM e2e_runs e JOIN run_overhead o ON o.run = e.run;

-- The empirical TTFT distribution of every e2e_runs run: one row per request, with the fraction of the run's
-- requests whose TTFT is at most this one's.
DROP VIEW IF EXISTS e2e_ttft_cdf;
CREATE VIEW e2e_ttft_cdf AS
SELECT e.run AS run, e.method AS method, e.trace_name AS trace_name, e.profile AS profile, e.model AS model,
       q.request AS request, q.ttft_ms AS ttft_ms,
       cume_dist() OVER (PARTITION BY q.run ORDER BY q.ttft_ms) AS cdf
FROM e2e_runs e JOIN requests q ON q.run = e.run;

-- One row per (method, profile, model): the peak resident memory over the method's latest_runs under the profile
-- (models, adapters, predictors, tiny LM, KV cache and runtime together: the database does not split them), the
-- number of runs it is the peak of, and the policy's offline preparation cost (runs.prepare_cpu_min).
DROP VIEW IF EXISTS method_memory;
CREATE VIEW method_memory AS
SELECT method, profile, model, max(memory_mb) AS memory_mb, count(*) AS runs,
       max(prepare_cpu_min) AS prepare_cpu_min
FROM latest_runs GROUP BY method, profile, model;

-- The standalone curves with the mean over apps: standalone_accuracy's rows, and for every run a row with app
-- 'all' whose fractions are over all its apps' items and requests (the "mean" of analysis/standalone.sh).
-- setting_rank numbers the SLO settings of a (profile, model, items per app, trace directory) from the loosest
-- (1: largest TTFT, then TPOT, fraction) to the tightest.
DROP VIEW IF EXISTS standalone_curve;
CREATE VIEW standalone_curve AS
WITH rows AS (
    SELECT method, profile, model, items_per_app, trace, run, slo, slo_ttft, slo_tpot, app, requests, items,
           n_correct, n_slo_met, n_attained, accuracy, slo_met, attained, memory_mb
    FROM standalone_accuracy
    UNION ALL
    SELECT method, profile, model, items_per_app, trace, run, slo, slo_ttft, slo_tpot, 'all', sum(requests),
           sum(items), sum(n_correct), sum(n_slo_met), sum(n_attained), sum(n_correct) * 1.0 / sum(items),
           sum(n_slo_met) * 1.0 / sum(requests), sum(n_attained) * 1.0 / sum(items), max(memory_mb)
    FROM standalone_accuracy GROUP BY run),
placed AS (
    SELECT rows.*, rtrim(trace, replace(trace, '/', '')) AS trace_dir FROM rows)
SELECT method, profile, model, items_per_app, trace_dir, trace, run, slo, slo_ttft, slo_tpot,
       dense_rank() OVER (PARTITION BY profile, model, items_per_app, trace_dir
                          ORDER BY slo_ttft DESC, slo_tpot DESC) AS setting_rank,
       app, requests, items, n_correct, n_slo_met, n_attained, accuracy, slo_met, attained, memory_mb
FROM placed;

-- A method's accuracy gain over each baseline at every standalone SLO setting (the same trace, profile and
-- model): the accuracy over all apps of standalone_curve, method minus baseline. Baselines are every other method
-- but full, oracle and the ELMS policies (elms, elms-*).
DROP VIEW IF EXISTS standalone_gain;
CREATE VIEW standalone_gain AS
SELECT m.method AS method, b.method AS baseline, m.profile AS profile, m.model AS model,
       m.items_per_app AS items_per_app, m.trace_dir AS trace_dir, m.trace AS trace, m.slo AS slo,
       m.setting_rank AS setting_rank, m.accuracy - b.accuracy AS gain
FROM standalone_curve m
JOIN standalone_curve b ON b.trace = m.trace AND b.profile = m.profile AND b.model = m.model AND b.app = 'all'
WHERE m.app = 'all' AND b.method <> m.method AND b.method NOT IN ('full', 'oracle') AND b.method NOT LIKE 'elms%';

-- standalone_gain over the SLO settings: mean, largest and smallest gain, the settings compared and those where
-- the method loses (what analysis/gains.sh prints).
DROP VIEW IF EXISTS standalone_gains;
CREATE VIEW standalone_gains AS
SELECT method, baseline, profile, model, items_per_app, trace_dir, avg(gain) AS mean_gain, max(gain) AS max_gain,
       min(gain) AS min_gain, count(*) AS settings, sum(gain < 0) AS settings_lost
FROM standalone_gain GROUP BY method, baseline, profile, model, items_per_app, trace_dir;

-- The (model level, prompt ratio) decisions of every standalone_runs run: per app and over all apps (app 'all'),
-- the requests decided for each (level, ratio) and their share of the app's (or run's) requests.
DROP VIEW IF EXISTS standalone_decisions;
CREATE VIEW standalone_decisions AS
WITH cells AS (
    SELECT s.run AS run, q.app AS app, q.level AS level, q.ratio AS ratio, count(*) AS requests
    FROM standalone_runs s JOIN requests q ON q.run = s.run GROUP BY s.run, q.app, q.level, q.ratio
    UNION ALL
    SELECT s.run, 'all', q.level, q.ratio, count(*)
    FROM standalone_runs s JOIN requests q ON q.run = s.run GROUP BY s.run, q.level, q.ratio)
SELECT s.method AS method, s.profile AS profile, s.model AS model, s.items_per_app AS items_per_app,
       s.trace AS trace, rtrim(s.trace, replace(s.trace, '/', '')) AS trace_dir, s.slo AS slo,
       s.slo_ttft AS slo_ttft, s.slo_tpot AS slo_tpot, c.run AS run, c.app AS app, c.level AS level,
       c.ratio AS ratio, c.requests AS requests,
       c.requests * 1.0 / sum(c.requests) OVER (PARTITION BY c.run, c.app) AS share
FROM cells c JOIN standalone_runs s ON s.run = c.run;

-- The simulator against the real engine: one row per complete live run (elms sim --live, runs.live = 1), with the
-- error of the profile's prediction for the same decisions over its requests, in percent: the mean absolute
-- percentage error of the service TTFT (tiny LM + switch + prefill), of the end-to-end TTFT (predicted with the
-- simulator's own queue, pred_queue_ms), of TPOT and of prefill; the mean signed errors (bias; negative: the
-- profile is optimistic); and the mean measured and predicted waits. What elms sim --live prints (sim/live.h).
DROP VIEW IF EXISTS live_error;
CREATE VIEW live_error AS
WITH x AS (
    SELECT run, queue_ms, pred_queue_ms, ttft_ms, tpot_ms, pred_tpot_ms, prefill_ms, pred_prefill_ms,
           tlm_ms + switch_ms + prefill_ms AS service, pred_tlm_ms + pred_switch_ms + pred_prefill_ms AS pred_service
    FROM requests)
SELECT r.id AS run, r.policy AS method, r.trace AS trace, r.profile AS profile, r.model AS model,
       r.scheduler AS scheduler, count(*) AS requests,
       100 * avg(abs(x.pred_service - x.service) / x.service) AS service_ttft_mape,
       100 * avg(abs(x.pred_queue_ms + x.pred_service - x.ttft_ms) / x.ttft_ms) AS ttft_mape,
       100 * avg(abs(x.pred_tpot_ms - x.tpot_ms) / x.tpot_ms) AS tpot_mape,
       100 * avg(abs(x.pred_prefill_ms - x.prefill_ms) / x.prefill_ms) AS prefill_mape,
       100 * avg((x.pred_service - x.service) / x.service) AS service_ttft_bias,
       100 * avg((x.pred_tpot_ms - x.tpot_ms) / x.tpot_ms) AS tpot_bias,
       avg(x.queue_ms) AS queue_ms, avg(x.pred_queue_ms) AS pred_queue_ms
FROM runs r JOIN x ON x.run = r.id
WHERE r.complete = 1 AND r.live = 1
GROUP BY r.id;
