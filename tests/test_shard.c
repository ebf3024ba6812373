/* Tests of sharded runs and their merge (`elms sim --shard I/N`, `elms db merge`), and of resuming with
 * `elms sim --skip-complete`: a trace replayed whole and as three shards merged give the same tables, bit for bit,
 * under Poisson arrivals that queue and in a sequential trace; a missing shard is refused; merging twice adds
 * nothing; a policy whose artefacts were rebuilt (another prepare.json) is replayed again, not skipped, and its
 * runs and shards stay apart from the old ones in a merge. */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/io.h"
#include "sim/profile.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"
#include "tests/util.h"

/* Every column of every request but the run id, by policy and request. */
static const char REQUESTS[] =
    "SELECT r.policy, q.request, q.app, q.item, q.arrival_ms, q.slo_ttft_ms, q.slo_tpot_ms, q.level, q.ratio, "
    "q.prompt_tokens, q.kept_tokens, q.output_tokens, q.queue_ms, q.tlm_ms, q.switch_ms, q.prefill_ms, q.decode_ms, "
    "q.ttft_ms, q.tpot_ms, q.ttft_met, q.tpot_met, q.slo_met, q.choice, q.correct, q.memory_bytes, q.attained "
    "FROM requests q JOIN runs r ON r.id = q.run ORDER BY r.policy, q.request";
/* Every column of the runs but those that name when and how a run was made (id, times, revision, command). */
static const char RUNS[] =
    "SELECT seed, policy, compressor, trace, profile, model, model_hash, scheduler, n_requests, complete, accuracy, "
    "slo_met, ttft_p50_ms, ttft_p99_ms, memory_bytes, attained, ttft_overhead_mean, ttft_overhead_p99, prompt_ratio, "
    "target_ratio, prepare_cpu_min, trace_hash, shard_index, shard_count, policy_hash FROM runs ORDER BY policy";
static const char EVALS[] = "SELECT * FROM evals ORDER BY model_hash, config, app, item";

/* same_tables: whether the requests, runs and evaluations of databases a and b are identical. */
static int same_tables(TestCtx *t, const char *a, const char *b) {
    const char *sql[3] = {REQUESTS, RUNS, EVALS};
    int same = 1;
    for (int k = 0; k < 3; k++) {
        char *x = util_sql_dump(a, sql[k]), *y = util_sql_dump(b, sql[k]);
        CHECK_MSG(strlen(x) > 100 && strncmp(x, "error", 5), "%s", x);
        if (strcmp(x, y)) {
            same = 0;
            fprintf(stderr, "  tables differ (%s):\n--- %s\n%.2000s\n--- %s\n%.2000s\n", sql[k], a, x, b, y);
        }
        free(x);
        free(y);
    }
    return same;
}

/* whole_and_shards: replay trace under policies into DIR/whole.db and as 3 shards into DIR/shardI.db, then merge
 * the shards into DIR/merged.db. */
static void whole_and_shards(TestCtx *t, const SimFixture *f, const char *dir, const char *trace,
                             const char *policies, const char *profile) {
    char *out;
    int rc = test_cli(&out, "sim --trace %s --policy %s --profile %s --model %s --data %s --db %s/whole.db", trace,
                      policies, profile, f->model_dir, f->data_dir, dir);
    CHECK_MSG(rc == 0, "%s", out);
    free(out);
    for (int i = 1; i <= 3; i++) {
        rc = test_cli(&out, "sim --trace %s --policy %s --profile %s --model %s --data %s --db %s/shard%d.db "
                      "--shard %d/3", trace, policies, profile, f->model_dir, f->data_dir, dir, i, i);
        CHECK_MSG(rc == 0 && strstr(out, "requests 12 "), "%s", out);
        free(out);
    }
    rc = test_cli(&out, "db merge %s/merged.db %s/shard1.db %s/shard2.db %s/shard3.db", dir, dir, dir, dir);
    CHECK_MSG(rc == 0 && strstr(out, "merged 2 runs from 6 shards"), "%s", out);
    free(out);
}

TEST(shard_three_shards_merged_equal_the_whole_run) {
    SimFixture f;
    fixture_init(&f, "host", 12, 4, NULL);
    fixture_write(&f, test_tmpdir(), 12, 4);
    char *out, dir[800], trace[900];
    /* Poisson arrivals fast enough to queue: each request's row depends on the requests before it */
    snprintf(dir, sizeof dir, "%s/poisson", test_tmpdir());
    snprintf(trace, sizeof trace, "%s/poisson.jsonl", test_tmpdir());
    CHECK(test_cli(&out, "trace gen --requests 36 --arrival poisson --rate 400 --seed 5 --data %s -o %s",
                   f.data_dir, trace) == 0);
    free(out);
    Err e;
    CHECK(io_mkdirs(dir, &e) == 0);
    whole_and_shards(t, &f, dir, trace, "full,oracle", "host");
    char whole[900], merged[900], shard1[900];
    snprintf(whole, sizeof whole, "%s/whole.db", dir);
    snprintf(merged, sizeof merged, "%s/merged.db", dir);
    snprintf(shard1, sizeof shard1, "%s/shard1.db", dir);
    CHECK_MSG(util_sql_number(whole, "SELECT count(*) FROM requests WHERE queue_ms > 0") >= 5,
              "the trace should queue");
    CHECK(same_tables(t, whole, merged));
    /* shard 1 of 3 holds the requests at positions 0, 3, 6, ... of the trace */
    CHECK(util_sql_number(shard1, "SELECT count(*) FROM requests") == 24);
    CHECK(util_sql_number(shard1, "SELECT count(*) FROM runs WHERE shard_index = 1 AND shard_count = 3 AND "
                                  "n_requests = 12") == 2);
    /* merging again adds nothing */
    int rc = test_cli(&out, "db merge %s %s/shard1.db %s/shard2.db %s/shard3.db", merged, dir, dir, dir);
    CHECK_MSG(rc == 0 && strstr(out, "merged 0 runs from 0 shards") && strstr(out, "2 runs already in"), "%s", out);
    free(out);
    CHECK(util_sql_number(merged, "SELECT count(*) FROM runs") == 2);
    /* a missing shard: refused before anything is written */
    rc = test_cli(&out, "db merge %s/partial.db %s/shard1.db %s/shard3.db", dir, dir, dir);
    CHECK_MSG(rc == 1 && strstr(out, "only shards 1,3 of 3 are complete"), "%s", out);
    free(out);
    CHECK(util_sql_number(test_path("poisson/partial.db"), "SELECT count(*) FROM runs") == 0);
    /* the sequential case (the standalone comparison): the same */
    snprintf(dir, sizeof dir, "%s/sequential", test_tmpdir());
    snprintf(trace, sizeof trace, "%s/sequential.jsonl", test_tmpdir());
    CHECK(io_mkdirs(dir, &e) == 0);
    CHECK(test_cli(&out, "trace gen --requests 36 --arrival sequential --seed 6 --data %s -o %s", f.data_dir,
                   trace) == 0);
    free(out);
    whole_and_shards(t, &f, dir, trace, "full,oracle", "normalized");
    snprintf(whole, sizeof whole, "%s/whole.db", dir);
    snprintf(merged, sizeof merged, "%s/merged.db", dir);
    CHECK(same_tables(t, whole, merged));
    /* bad shards */
    rc = test_cli(&out, "sim --trace %s --shard 0/3 --model %s --data %s", trace, f.model_dir, f.data_dir);
    CHECK_MSG(rc == 2 && strstr(out, "elms sim: --shard expects I/N with 1 <= I <= N"), "%s", out);
    free(out);
    rc = test_cli(&out, "db merge %s %s", whole, whole);
    CHECK_MSG(rc == 1 && strstr(out, "cannot also be an input"), "%s", out);
    free(out);
    fixture_free(&f);
}

TEST(shard_skip_complete_resumes_without_replaying) {
    SimFixture f;
    fixture_init(&f, "normalized", 8, 4, NULL);
    fixture_write(&f, test_tmpdir(), 8, 4);
    char *out, trace[900];
    const char *db = test_path("resume.db");
    snprintf(trace, sizeof trace, "%s/resume.jsonl", test_tmpdir());
    CHECK(test_cli(&out, "trace gen --requests 24 --arrival sequential --seed 7 --data %s -o %s", f.data_dir,
                   trace) == 0);
    free(out);
    char *first;
    int rc = test_cli(&first, "sim --trace %s --policy full --model %s --data %s --db %s --skip-complete", trace,
                      f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && !strstr(first, "skipped"), "%s", first);
    /* a second policy is added; full is found complete and printed from the database */
    rc = test_cli(&out, "sim --trace %s --policy full,oracle --model %s --data %s --db %s --skip-complete", trace,
                  f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && strstr(out, "full: run 1 of this configuration is complete") &&
              strstr(out, "policy oracle requests 24"), "%s", out);
    char line[300] = "-";
    const char *at = strstr(first, "policy full requests");
    if (at) snprintf(line, sizeof line, "%.*s", (int)strcspn(at, "\n"), at);
    CHECK_MSG(strstr(out, line), "the recorded summary line '%s' is not printed again: %s", line, out);
    free(first);
    free(out);
    CHECK(util_sql_number(db, "SELECT count(*) FROM runs") == 2);
    /* another seed is another configuration */
    rc = test_cli(&out, "sim --trace %s --policy full --model %s --data %s --db %s --skip-complete --seed 7", trace,
                  f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && !strstr(out, "skipped"), "%s", out);
    free(out);
    CHECK(util_sql_number(db, "SELECT count(*) FROM runs") == 3);
    rc = test_cli(&out, "sim --trace %s --skip-complete --model %s", trace, f.model_dir);
    CHECK_MSG(rc == 2 && strstr(out, "--skip-complete needs --db"), "%s", out);
    free(out);
    fixture_free(&f);
}

/* prepare_shortgpt: the artefacts `elms prepare shortgpt` would leave in MODEL/policies/shortgpt for the fixture's
 * 3-layer model, written by hand (a layer ranking and the manifest, with cost cpu_min: another cost is another
 * build), and the FNV-1a 64 of the manifest's bytes into hash. */
static void prepare_shortgpt(TestCtx *t, const SimFixture *f, double cpu_min, char hash[17]) {
    char dir[900], path[1000], text[600];
    Err e;
    snprintf(dir, sizeof dir, "%s/policies/shortgpt", f->model_dir);
    CHECK(io_mkdirs(dir, &e) == 0);
    snprintf(path, sizeof path, "%s/ranking.json", dir);
    const char *ranking = "{\"unit\": \"layer\", \"scores\": [0.3, 0.1, 0.2], \"order\": [1, 2, 0]}\n";
    CHECK(io_write_atomic(path, ranking, strlen(ranking), &e) == 0);
    int n = snprintf(text, sizeof text, "{\"format\": \"elms-policy-1\", \"policy\": \"shortgpt\", \"model_hash\": "
                     "\"%s\", \"cpu_s\": %g, \"cpu_min\": %g}\n", f->model.hash, cpu_min * 60, cpu_min);
    snprintf(path, sizeof path, "%s/prepare.json", dir);
    CHECK(io_write_atomic(path, text, (size_t)n, &e) == 0);
    hash_hex(hash_fnv1a(HASH_FNV_OFFSET, text, (size_t)n), hash);
}

TEST(shard_skip_complete_replays_a_rebuilt_policy) {
    SimFixture f;
    fixture_init(&f, "normalized", 8, 4, NULL);
    fixture_write(&f, test_tmpdir(), 8, 4);
    char *out, trace[900], sql[300], h1[17], h2[17];
    const char *db = test_path("rebuilt.db");
    snprintf(trace, sizeof trace, "%s/rebuilt.jsonl", test_tmpdir());
    CHECK(test_cli(&out, "trace gen --requests 24 --arrival sequential --seed 8 --data %s -o %s", f.data_dir,
                   trace) == 0);
    free(out);
    prepare_shortgpt(t, &f, 0.5, h1);
    int rc = test_cli(&out, "sim --trace %s --policy full,shortgpt --model %s --data %s --db %s --skip-complete",
                      trace, f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && !strstr(out, "skipped") && strstr(out, "policy shortgpt requests 24"), "%s", out);
    free(out);
    /* the run records the hash of the manifest it ran with; full has no artefacts */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE policy = 'shortgpt' AND policy_hash = '%s' AND "
             "prepare_cpu_min = 0.5", h1);
    CHECK(util_sql_number(db, sql) == 1);
    CHECK(util_sql_number(db, "SELECT count(*) FROM runs WHERE policy = 'full' AND policy_hash IS NULL") == 1);
    /* the same artefacts: both skipped */
    rc = test_cli(&out, "sim --trace %s --policy full,shortgpt --model %s --data %s --db %s --skip-complete", trace,
                  f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && strstr(out, "full: run 1 of this configuration is complete") &&
              strstr(out, "shortgpt: run 2 of this configuration is complete"), "%s", out);
    free(out);
    /* shortgpt rebuilt (elms prepare shortgpt --force writes a new prepare.json): replayed, full still skipped */
    prepare_shortgpt(t, &f, 0.75, h2);
    CHECK(strcmp(h1, h2));
    rc = test_cli(&out, "sim --trace %s --policy full,shortgpt --model %s --data %s --db %s --skip-complete", trace,
                  f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && strstr(out, "full: run 1 of this configuration is complete") &&
              !strstr(out, "shortgpt: run") && strstr(out, "policy shortgpt requests 24"), "%s", out);
    free(out);
    snprintf(sql, sizeof sql, "SELECT id FROM runs WHERE policy = 'shortgpt' AND policy_hash = '%s' AND "
             "prepare_cpu_min = 0.75 AND complete = 1", h2);
    CHECK(util_sql_number(db, sql) == 3);
    /* ... and skipped from then on */
    rc = test_cli(&out, "sim --trace %s --policy shortgpt --model %s --data %s --db %s --skip-complete", trace,
                  f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && strstr(out, "shortgpt: run 3 of this configuration is complete"), "%s", out);
    free(out);
    CHECK(util_sql_number(db, "SELECT count(*) FROM runs") == 3);
    fixture_free(&f);
}

/* A profile refitted under the same name (elms calibrate --force rewrites sim/profiles/host.json) prices every
 * request anew: a run complete under the profile's former version is not taken for one under the new version. */
TEST(shard_skip_complete_replays_a_refitted_profile) {
    SimFixture f;
    fixture_init(&f, "normalized", 8, 4, NULL);
    fixture_write(&f, test_tmpdir(), 8, 4);
    char *out, trace[900], prof[900], sql[300];
    const char *db = test_path("refit.db");
    snprintf(trace, sizeof trace, "%s/refit.jsonl", test_tmpdir());
    snprintf(prof, sizeof prof, "%s/refit-profile.json", test_tmpdir());
    CHECK(test_cli(&out, "trace gen --requests 24 --arrival sequential --seed 10 --data %s -o %s", f.data_dir,
                   trace) == 0);
    free(out);
    Profile p, q;
    Err e;
    CHECK(profile_load(&p, "sim/profiles/normalized.json", &e) == 0);
    CHECK(profile_write(&p, prof, &e) == 0 && profile_load(&q, prof, &e) == 0 && strlen(q.hash) == 16);
    int rc = test_cli(&out, "sim --trace %s --policy full --profile %s --model %s --data %s --db %s --skip-complete",
                      trace, prof, f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && !strstr(out, "skipped"), "%s", out);
    free(out);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE profile = 'normalized' AND profile_hash = '%s'", q.hash);
    CHECK(util_sql_number(db, sql) == 1);
    /* the same file: skipped; the same profile refitted (another constant): replayed, then skipped */
    rc = test_cli(&out, "sim --trace %s --policy full --profile %s --model %s --data %s --db %s --skip-complete",
                  trace, prof, f.model_dir, f.data_dir, db);
    CHECK_MSG(rc == 0 && strstr(out, "full: run 1 of this configuration is complete"), "%s", out);
    free(out);
    p.prefill_a += 1;
    CHECK(profile_write(&p, prof, &e) == 0 && profile_load(&p, prof, &e) == 0 && strcmp(p.hash, q.hash));
    for (int k = 0; k < 2; k++) {
        rc = test_cli(&out, "sim --trace %s --policy full --profile %s --model %s --data %s --db %s --skip-complete",
                      trace, prof, f.model_dir, f.data_dir, db);
        CHECK_MSG(rc == 0 && (k ? strstr(out, "full: run 2 of this configuration is complete") != NULL
                                : !strstr(out, "skipped") && strstr(out, "policy full requests 24")),
                  "%s", out);
        free(out);
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE profile_hash = '%s' AND complete = 1", p.hash);
    CHECK(util_sql_number(db, sql) == 1);
    CHECK(util_sql_number(db, "SELECT count(*) FROM runs") == 2);
    fixture_free(&f);
}

TEST(shard_merge_keeps_policy_hashes_apart) {
    SimFixture f;
    fixture_init(&f, "normalized", 8, 4, NULL);
    fixture_write(&f, test_tmpdir(), 8, 4);
    char *out, trace[900], sql[300], h1[17], h2[17];
    const char *dir = test_tmpdir();
    snprintf(trace, sizeof trace, "%s/apart.jsonl", dir);
    CHECK(test_cli(&out, "trace gen --requests 24 --arrival sequential --seed 9 --data %s -o %s", f.data_dir,
                   trace) == 0);
    free(out);
    /* shortgpt as built first: a whole run in a.db and shard 1 of 2 in s1.db; rebuilt: the same in b.db, s1b.db,
     * and shard 2 of 2 in s2.db */
    const char *dbs[5] = {"a.db", "s1.db", "b.db", "s1b.db", "s2.db"};
    const char *shards[5] = {"", " --shard 1/2", "", " --shard 1/2", " --shard 2/2"};
    for (int k = 0; k < 5; k++) {
        if (k == 0 || k == 2) prepare_shortgpt(t, &f, k ? 0.75 : 0.5, k ? h2 : h1);
        int rc = test_cli(&out, "sim --trace %s --policy shortgpt --model %s --data %s --db %s/%s%s", trace,
                          f.model_dir, f.data_dir, dir, dbs[k], shards[k]);
        CHECK_MSG(rc == 0, "%s", out);
        free(out);
    }
    /* two whole runs of the same configuration but for the artefacts: both copied, neither taken for the other */
    int rc = test_cli(&out, "db merge %s/m.db %s/a.db %s/b.db", dir, dir, dir);
    CHECK_MSG(rc == 0 && strstr(out, "copied 2 whole runs") && strstr(out, "0 runs already in"), "%s", out);
    free(out);
    const char *m = test_path("m.db");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE policy_hash = '%s' OR policy_hash = '%s'", h1, h2);
    CHECK(util_sql_number(m, sql) == 2);
    CHECK(util_sql_number(m, "SELECT count(DISTINCT policy_hash) FROM run_app WHERE policy = 'shortgpt'") == 2);
    rc = test_cli(&out, "db merge %s/m.db %s/a.db %s/b.db", dir, dir, dir);
    CHECK_MSG(rc == 0 && strstr(out, "copied 0 whole runs") && strstr(out, "2 runs already in"), "%s", out);
    free(out);
    /* shards of different builds are not one run: the old build's shard 1 leaves both groups incomplete */
    rc = test_cli(&out, "db merge %s/p.db %s/s1.db %s/s2.db", dir, dir, dir);
    CHECK_MSG(rc == 1 && strstr(out, "of 2 are complete") && (strstr(out, h1) || strstr(out, h2)), "%s", out);
    free(out);
    CHECK(util_sql_number(test_path("p.db"), "SELECT count(*) FROM runs") == 0);
    /* the rebuilt shards merge into the rebuilt whole run, hash and all */
    rc = test_cli(&out, "db merge %s/q.db %s/s1b.db %s/s2.db", dir, dir, dir);
    CHECK_MSG(rc == 0 && strstr(out, "merged 1 runs from 2 shards"), "%s", out);
    free(out);
    char b[900], q[900];
    snprintf(b, sizeof b, "%s/b.db", dir);
    snprintf(q, sizeof q, "%s/q.db", dir);
    CHECK(same_tables(t, b, q));
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE policy_hash = '%s' AND shard_count = 1", h2);
    CHECK(util_sql_number(q, sql) == 1);
    fixture_free(&f);
}
