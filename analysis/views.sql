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

-- The standalone comparison (analysis/standalone.sh): complete whole runs of traces named
-- standalone-N-TTFT-TPOT.jsonl (N test items per app, every app at the SLO setting TTFT,TPOT), in any
-- directory, the newest of each (policy, trace, profile, model).
DROP VIEW IF EXISTS standalone_runs;
CREATE VIEW standalone_runs AS
WITH named AS (
    SELECT r.*, replace(r.trace, rtrim(r.trace, replace(r.trace, '/', '')), '') AS base
    FROM runs r WHERE r.complete = 1 AND r.shard_count = 1),
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
