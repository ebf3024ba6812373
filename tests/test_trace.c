/* Tests of traces/: the skew formula, synthesis (without replacement, determinism, arrival statistics),
 * the JSONL round trip, malformed inputs, and the importers (the paper's traces, CSV). */
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"
#include "traces/trace.h"

TEST(trace_skew_counts_match_paper) {
    long c[6];
    CHECK(trace_skew_counts(6, 600, 0.0, false, c) == 600);
    for (int i = 0; i < 6; i++) CHECK(c[i] == 100);
    /* alpha 0.25: floor(600 e^(i/4) / sum) = 48, 62, 80, 103, 133, 170 (sum 596, as in the paper's file) */
    long want[6] = {48, 62, 80, 103, 133, 170};
    CHECK(trace_skew_counts(6, 600, 0.25, false, c) == 596);
    for (int i = 0; i < 6; i++) CHECK_MSG(c[i] == want[i], "app %d: %ld vs %ld", i, c[i], want[i]);
    CHECK(trace_skew_counts(6, 600, -0.25, false, c) == 596);
    for (int i = 0; i < 6; i++) CHECK(c[i] == want[5 - i]);
    CHECK(trace_skew_counts(6, 600, 0.25, true, c) == 600);
    CHECK(trace_skew_counts(6, 1000000, 0.0, true, c) == 1000000);
}

static int count_app(const Trace *t, const char *app) {
    int n = 0;
    for (long i = 0; i < t->n; i++) n += !strcmp(trace_app(t, &t->req[i]), app);
    return n;
}

TEST(trace_gen_counts_items_and_determinism) {
    Trace a, b, c;
    fixture_trace(&a, 200, 600, 0.25, ARRIVAL_SEQUENTIAL, 1, 42);
    fixture_trace(&b, 200, 600, 0.25, ARRIVAL_SEQUENTIAL, 1, 42);
    fixture_trace(&c, 200, 600, 0.25, ARRIVAL_SEQUENTIAL, 1, 43);
    CHECK(a.n == 596);
    long want[6] = {48, 62, 80, 103, 133, 170};
    for (int i = 0; i < 6; i++) CHECK(count_app(&a, TRACE_APPS[i].name) == want[i]);
    /* without replacement: no item repeats within an app (every app has 200 >= its count) */
    int dup = 0;
    for (long i = 0; i < a.n; i++)
        for (long j = i + 1; j < a.n; j++) dup += a.req[i].app == a.req[j].app && a.req[i].item == a.req[j].item;
    CHECK_MSG(dup == 0, "%d repeated items", dup);
    /* SLOs of the app, sequential arrivals, output tokens >= 1, ids 0..n-1 */
    int same = 1, differ = 0, grouped = 1;
    for (long i = 0; i < a.n; i++) {
        const TraceRequest *r = &a.req[i];
        const TraceAppSpec *s = trace_app_spec(trace_app(&a, r));
        CHECK(s && r->slo_ttft == s->slo_ttft && r->slo_tpot == s->slo_tpot);
        CHECK(r->arrival_s == TRACE_SEQUENTIAL && r->output_tokens >= 1 && r->id == i && r->item >= 0);
        same &= r->app == b.req[i].app && !strcmp(trace_item(&a, r), trace_item(&b, &b.req[i])) &&
                r->output_tokens == b.req[i].output_tokens;
        differ |= r->app != c.req[i].app || strcmp(trace_item(&a, r), trace_item(&c, &c.req[i]));
        if (i > 0 && i < 100 && r->app != a.req[i - 1].app) grouped = 0;
    }
    CHECK_MSG(same, "same seed gave a different trace");
    CHECK_MSG(differ, "another seed gave the same trace");
    CHECK_MSG(!grouped, "request order is not shuffled");
    trace_free(&a);
    trace_free(&b);
    trace_free(&c);
}

TEST(trace_gen_reuses_items_only_after_a_full_pass) {
    Trace tr;
    fixture_trace(&tr, 10, 120, 0.0, ARRIVAL_SEQUENTIAL, 1, 7); /* 20 requests per app, 10 items each */
    for (int a = 0; a < 6; a++) {
        int seen[64] = {0};
        for (long i = 0; i < tr.n; i++)
            if (tr.req[i].app == a) seen[tr.req[i].item % 64]++;
        int twice = 0;
        for (int k = 0; k < 64; k++) twice += seen[k] == 2;
        CHECK_MSG(twice == 10, "app %d: %d items used twice (want all 10)", a, twice);
    }
    trace_free(&tr);
}

/* Index of dispersion of arrival counts in windows of w seconds, and mean / CV of the gaps. */
static void arrival_stats(const Trace *t, double w, double *disp, double *rate, double *cv) {
    double span = t->req[t->n - 1].arrival_s;
    int nb = (int)(span / w);
    double *cnt = calloc((size_t)nb, sizeof *cnt), *gap = malloc(sizeof *gap * (size_t)t->n);
    for (long i = 0; i < t->n; i++) {
        int b = (int)(t->req[i].arrival_s / w);
        if (b < nb) cnt[b]++;
        gap[i] = t->req[i].arrival_s - (i ? t->req[i - 1].arrival_s : 0);
    }
    double m = gsl_stats_mean(cnt, 1, (size_t)nb);
    *disp = gsl_stats_variance_m(cnt, 1, (size_t)nb, m) / m;
    double gm = gsl_stats_mean(gap, 1, (size_t)t->n);
    *rate = 1.0 / gm;
    *cv = gsl_stats_sd_m(gap, 1, (size_t)t->n, gm) / gm;
    free(cnt);
    free(gap);
}

TEST(trace_poisson_counts_consistent_with_rate) {
    Trace tr;
    fixture_trace(&tr, 4000, 24000, 0.0, ARRIVAL_POISSON, 20.0, 42);
    CHECK(tr.n == 24000);
    for (long i = 1; i < tr.n; i++) CHECK(tr.req[i].arrival_s >= tr.req[i - 1].arrival_s);
    double disp, rate, cv;
    arrival_stats(&tr, 1.0, &disp, &rate, &cv);
    /* rate: standard error of the mean gap is 1/sqrt(n) ~ 0.65%; allow 3% */
    CHECK_MSG(fabs(rate - 20.0) / 20.0 < 0.03, "rate %g", rate);
    /* Poisson counts: variance / mean = 1 (standard error ~ sqrt(2/1200) = 4%); allow 0.85..1.15 */
    CHECK_MSG(disp > 0.85 && disp < 1.15, "index of dispersion %g", disp);
    CHECK_MSG(fabs(cv - 1.0) < 0.05, "gap CV %g", cv);
    trace_free(&tr);
}

TEST(trace_bursty_is_overdispersed_with_the_same_rate) {
    ItemSet sets[6];
    const ItemSet *ptr[6];
    for (int a = 0; a < 6; a++) {
        fixture_items(&sets[a], TRACE_APPS[a].name, 4000, 1);
        ptr[a] = &sets[a];
    }
    TraceGenConfig c;
    trace_gen_defaults(&c);
    c.n_requests = 24000;
    c.arrival = ARRIVAL_BURSTY;
    c.rate = 20.0;
    c.burst_cv = 3.0;
    Trace tr;
    Err e;
    CHECK(trace_gen(&tr, &c, ptr, &e) == 0);
    double disp, rate, cv;
    arrival_stats(&tr, 1.0, &disp, &rate, &cv);
    CHECK_MSG(fabs(rate - 20.0) / 20.0 < 0.08, "rate %g", rate);
    CHECK_MSG(fabs(cv - 3.0) < 0.3, "gap CV %g (want 3)", cv);
    CHECK_MSG(disp > 3.0, "index of dispersion %g (want well above 1)", disp);
    trace_free(&tr);
    for (int a = 0; a < 6; a++) items_free(&sets[a]);
}

TEST(trace_jsonl_round_trip) {
    Trace tr, u;
    fixture_trace(&tr, 50, 60, 0.0, ARRIVAL_POISSON, 3.0, 5);
    tr.req[3].slo_ttft = 250.5;
    tr.req[3].slo_ttft_ms = true;
    char path[700];
    snprintf(path, sizeof path, "%s/t.jsonl", test_tmpdir());
    Err e;
    CHECK(trace_write(&tr, path, &e) == 0);
    CHECK(trace_read(&u, path, &e) == 0);
    CHECK(u.n == tr.n);
    for (long i = 0; i < tr.n && i < u.n; i++) {
        const TraceRequest *a = &tr.req[i], *b = &u.req[i];
        CHECK_MSG(a->id == b->id && a->arrival_s == b->arrival_s && a->output_tokens == b->output_tokens,
                  "%ld: id %ld/%ld arrival %.17g/%.17g out %d/%d", i, a->id, b->id, a->arrival_s, b->arrival_s,
                  a->output_tokens, b->output_tokens);
        CHECK(a->slo_ttft == b->slo_ttft && a->slo_tpot == b->slo_tpot && a->slo_ttft_ms == b->slo_ttft_ms);
        CHECK(!strcmp(trace_app(&tr, a), trace_app(&u, b)) && !strcmp(trace_item(&tr, a), trace_item(&u, b)));
    }
    trace_free(&tr);
    trace_free(&u);
}

/* Writes text to a temp file and expects trace_read to fail with a message containing want. */
static void expect_bad(TestCtx *t, const char *name, const char *text, const char *want) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    Err e = {{0}};
    CHECK(io_write_atomic(path, text, strlen(text), &e) == 0);
    Trace tr;
    int rc = trace_read(&tr, path, &e);
    CHECK_MSG(rc == -1, "%s: accepted", name);
    if (rc == 0) trace_free(&tr);
    CHECK_MSG(strstr(e.msg, want) != NULL, "%s: message '%s' lacks '%s'", name, e.msg, want);
}

TEST(trace_malformed_inputs_give_clear_errors) {
    const char *ok = "{\"id\":0,\"arrival_s\":null,\"app\":\"facts\",\"item\":\"a\",\"slo\":{\"ttft\":1,\"tpot\":1},"
                     "\"output_tokens\":3}\n";
    char two[600];
    snprintf(two, sizeof two, "%s{\"id\":1,\"app\":\"facts\",\"item\":\"b\",\"slo\":{\"ttft\":-1,\"tpot\":1}}\n", ok);
    expect_bad(t, "slo.jsonl", two, ":2: field slo.ttft");
    expect_bad(t, "json.jsonl", "{\"id\":0,\"app\":", ":1: expected one JSON object");
    expect_bad(t, "noid.jsonl", "{\"app\":\"facts\",\"item\":\"a\"}\n", "field id");
    expect_bad(t, "noapp.jsonl", "{\"id\":0,\"item\":\"a\"}\n", "field app");
    expect_bad(t, "arr.jsonl", "{\"id\":0,\"app\":\"facts\",\"item\":\"a\",\"arrival_s\":\"x\"}\n", "field arrival_s");
    expect_bad(t, "out.jsonl", "{\"id\":0,\"app\":\"facts\",\"item\":\"a\",\"output_tokens\":0}\n",
               "field output_tokens");
    expect_bad(t, "noslo.jsonl", "{\"id\":0,\"app\":\"mystery\",\"item\":\"a\"}\n", "no default SLO");
    expect_bad(t, "both.jsonl", "{\"id\":0,\"app\":\"x\",\"item\":\"a\",\"slo\":{\"ttft\":1,\"ttft_ms\":3,\"tpot\":1}}\n",
               "not both");
    expect_bad(t, "noitem.jsonl", "{\"id\":0,\"app\":\"facts\"}\n", "needs prompt_tokens");
    expect_bad(t, "empty.jsonl", "\n\n", "no requests");
    Trace tr;
    Err e;
    CHECK(trace_read(&tr, "no/such/file.jsonl", &e) == -1);
}

TEST(trace_import_paper_traces) {
    const char *shared = test_shared_dir();
    if (!shared) SKIP("no ../shared directory with the paper's traces");
    struct {
        const char *file;
        long n;
    } f[] = {{"trace_0.json", 600}, {"trace_0.25.json", 596}, {"trace_-0.25.json", 596}};
    for (int k = 0; k < 3; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s/data/elastilm-traces/%s", shared, f[k].file);
        Trace tr;
        Err e;
        if (trace_import_elastilm(&tr, path, &e)) {
            CHECK_MSG(0, "%s: %s", f[k].file, e.msg);
            continue;
        }
        CHECK_MSG(tr.n == f[k].n, "%s: %ld requests", f[k].file, tr.n);
        CHECK(tr.apps.n == 6);
        for (long i = 0; i < tr.n; i++) {
            const TraceAppSpec *s = trace_app_spec(trace_app(&tr, &tr.req[i]));
            CHECK_MSG(s && tr.req[i].slo_ttft == s->slo_ttft && tr.req[i].slo_tpot == s->slo_tpot,
                      "%s request %ld: app %s slo %g %g", f[k].file, i, trace_app(&tr, &tr.req[i]), tr.req[i].slo_ttft,
                      tr.req[i].slo_tpot);
            CHECK(tr.req[i].arrival_s == TRACE_SEQUENTIAL && tr.req[i].item >= 0);
        }
        if (k == 1) { /* alpha 0.25: SciQ (reading) 170 ... OBQA (facts) 48 */
            CHECK(count_app(&tr, "reading") == 170 && count_app(&tr, "facts") == 48);
            CHECK(count_app(&tr, "physical") == 133 && count_app(&tr, "uinav") == 103);
        }
        trace_free(&tr);
    }
}

TEST(trace_import_malformed_paper_trace) {
    char path[700];
    snprintf(path, sizeof path, "%s/bad.json", test_tmpdir());
    const char *bad = "[[\"q\", [\"a\",\"b\"], \"A\", [0.8, 0.9], 1, \"ARC_E\"], [\"q\", [\"a\"], 0, [0.2], 2, \"SCIQ\"]]";
    Err e;
    CHECK(io_write_atomic(path, bad, strlen(bad), &e) == 0);
    Trace tr;
    CHECK(trace_import_elastilm(&tr, path, &e) == -1);
    CHECK_MSG(strstr(e.msg, "request 1") && strstr(e.msg, "SLO"), "%s", e.msg);
    const char *bad2 = "[[\"q\", [\"a\"], 0, [0.2, 0.5], 2, \"MMLU\"]]";
    CHECK(io_write_atomic(path, bad2, strlen(bad2), &e) == 0);
    CHECK(trace_import_elastilm(&tr, path, &e) == -1);
    CHECK_MSG(strstr(e.msg, "dataset") && strstr(e.msg, "MMLU"), "%s", e.msg);
}

/* trace_map_items: paper id k of an app -> item k mod N of the app's split; errors name the request. */
TEST(trace_map_items_onto_the_split) {
    char path[700];
    snprintf(path, sizeof path, "%s/map.json", test_tmpdir());
    const char *paper = "[[\"q\", [\"a\",\"b\"], \"A\", [0.8, 0.9], 153, \"ARC_E\"],"
                        " [\"q\", [\"a\",\"b\"], 1, [0.2, 0.5], 526, \"SCIQ\"],"
                        " [\"q\", [\"a\",\"b\"], 1, [0.2, 0.5], 3, \"SCIQ\"],"
                        " [\"q\", [\"a\",\"b\"], 1, [0.2, 0.5], \"7\", \"OBQA\"]]";
    Err e;
    CHECK(io_write_atomic(path, paper, strlen(paper), &e) == 0);
    ItemSet sets[TRACE_N_APPS];
    const ItemSet *ptr[TRACE_N_APPS];
    for (int a = 0; a < TRACE_N_APPS; a++) {
        fixture_items(&sets[a], TRACE_APPS[a].name, 10, 40 + (unsigned long)a);
        ptr[a] = &sets[a];
    }
    Trace tr;
    CHECK(trace_import_elastilm(&tr, path, &e) == 0);
    CHECK_MSG(trace_map_items(&tr, ptr, &e) == 0, "%s", e.msg);
    int sci = -1, rd = -1, fa = -1;
    for (int a = 0; a < TRACE_N_APPS; a++) {
        if (!strcmp(TRACE_APPS[a].name, "science")) sci = a;
        if (!strcmp(TRACE_APPS[a].name, "reading")) rd = a;
        if (!strcmp(TRACE_APPS[a].name, "facts")) fa = a;
    }
    CHECK(tr.n == 4 && sci >= 0 && rd >= 0 && fa >= 0);
    if (tr.n == 4 && sci >= 0 && rd >= 0 && fa >= 0) {
        CHECK(!strcmp(trace_item(&tr, &tr.req[0]), sets[sci].items[153 % 10].id));
        CHECK(!strcmp(trace_item(&tr, &tr.req[1]), sets[rd].items[526 % 10].id));
        CHECK(!strcmp(trace_item(&tr, &tr.req[2]), sets[rd].items[3].id));
        CHECK(!strcmp(trace_item(&tr, &tr.req[3]), sets[fa].items[7].id));
        CHECK(tr.items.n == 4);
    }
    trace_free(&tr);
    /* an app with no items, and an id that is no number */
    CHECK(trace_import_elastilm(&tr, path, &e) == 0);
    ptr[rd] = NULL;
    CHECK(trace_map_items(&tr, ptr, &e) == -1);
    CHECK_MSG(strstr(e.msg, "request 1") && strstr(e.msg, "reading"), "%s", e.msg);
    trace_free(&tr);
    ptr[rd] = &sets[rd];
    const char *bad = "[[\"q\", [\"a\",\"b\"], 1, [0.2, 0.5], \"x7\", \"OBQA\"]]";
    CHECK(io_write_atomic(path, bad, strlen(bad), &e) == 0);
    CHECK(trace_import_elastilm(&tr, path, &e) == 0);
    CHECK(trace_map_items(&tr, ptr, &e) == -1);
    CHECK_MSG(strstr(e.msg, "request 0") && strstr(e.msg, "x7"), "%s", e.msg);
    trace_free(&tr);
    for (int a = 0; a < TRACE_N_APPS; a++) items_free(&sets[a]);
}

TEST(trace_import_csv) {
    char path[700];
    snprintf(path, sizeof path, "%s/t.csv", test_tmpdir());
    const char *csv = "num_decode_tokens,arrived_at,extra,num_prefill_tokens\n"
                      "12,100.5,x,300\n"
                      "4,101.0,y,20\r\n"
                      "\n"
                      "7,103.25,z,55\n";
    Err e;
    CHECK(io_write_atomic(path, csv, strlen(csv), &e) == 0);
    Trace tr;
    CHECK(trace_import_csv(&tr, path, "science", 1, &e) == 0);
    CHECK(tr.n == 3);
    if (tr.n == 3) {
        CHECK(tr.req[0].arrival_s == 0.0 && fabs(tr.req[2].arrival_s - 2.75) < 1e-12);
        CHECK(tr.req[0].prompt_tokens == 300 && tr.req[0].output_tokens == 12 && tr.req[1].prompt_tokens == 20);
        CHECK(tr.req[0].item == -1 && !strcmp(trace_app(&tr, &tr.req[0]), "science") && tr.req[0].slo_ttft == 0.8);
    }
    trace_free(&tr);
    const char *bad = "arrived_at,num_prefill_tokens,num_decode_tokens\n1,2,3\n1,-5,3\n";
    CHECK(io_write_atomic(path, bad, strlen(bad), &e) == 0);
    CHECK(trace_import_csv(&tr, path, NULL, 1, &e) == -1);
    CHECK_MSG(strstr(e.msg, ":3:") && strstr(e.msg, "num_prefill_tokens"), "%s", e.msg);
    const char *nohead = "a,b,c\n1,2,3\n";
    CHECK(io_write_atomic(path, nohead, strlen(nohead), &e) == 0);
    CHECK(trace_import_csv(&tr, path, NULL, 1, &e) == -1);
    CHECK_MSG(strstr(e.msg, "header"), "%s", e.msg);
}

TEST(trace_cli_gen_import_stats) {
    SimFixture f;
    fixture_init(&f, "normalized", 120, 3, NULL);
    fixture_write(&f, test_tmpdir(), 120, 3);
    char cmd[2400], *out = NULL;
    snprintf(cmd, sizeof cmd, "trace gen --alpha 0.25 --requests 600 --arrival sequential --seed 42 --data %s -o %s/g.jsonl",
             f.data_dir, test_tmpdir());
    CHECK_MSG(test_run_cli(cmd, &out) == 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "trace stats %s/g.jsonl", test_tmpdir());
    CHECK(test_run_cli(cmd, &out) == 0);
    CHECK_MSG(!strncmp(out, "requests 596\n", 13), "%s", out);
    CHECK_MSG(strstr(out, "\napp facts requests 48 slo 1 1\n") && strstr(out, "\napp reading requests 170 slo 0.2 0.5\n") &&
                  strstr(out, "\napp science requests 62 slo 0.8 0.9\n"),
              "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "trace gen --requests 60 --arrival poisson --rate 2 --seed 1 --data %s -o %s/p.jsonl",
             f.data_dir, test_tmpdir());
    CHECK(test_run_cli(cmd, &out) == 0);
    free(out);
    snprintf(cmd, sizeof cmd, "trace gen --requests 60 --arrival nope --seed 1 --data %s -o %s/x.jsonl", f.data_dir,
             test_tmpdir());
    CHECK(test_run_cli(cmd, &out) == 2);
    CHECK_MSG(strstr(out, "elms trace gen: --arrival"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "trace gen --requests 60 --seed 1 --data %s/none -o %s/x.jsonl", f.data_dir, test_tmpdir());
    CHECK(test_run_cli(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "elms trace gen: ") && strstr(out, "test.jsonl"), "%s", out);
    free(out);
    const char *shared = test_shared_dir();
    if (shared) {
        snprintf(cmd, sizeof cmd, "trace import --from elastilm %s/data/elastilm-traces/trace_-0.25.json -o %s/i.jsonl "
                 "--data %s", shared, test_tmpdir(), f.data_dir);
        CHECK_MSG(test_run_cli(cmd, &out) == 0, "%s", out);
        free(out);
        snprintf(cmd, sizeof cmd, "trace stats %s/i.jsonl", test_tmpdir());
        CHECK(test_run_cli(cmd, &out) == 0);
        CHECK_MSG(!strncmp(out, "requests 596\n", 13) && strstr(out, "app facts requests 170 slo 1 1\n"), "%s", out);
        free(out);
    }
    fixture_free(&f);
}
