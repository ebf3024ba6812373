/* Tests of the golden curves and `elms regress`: the tolerance against values computed independently, an
 * unchanged standalone run passes, a perturbed model is caught, bad golden files are refused. The fixture's items
 * are relabelled with the fixture model's own answers, so the golden accuracy is 1 at every point and a real
 * change of the weights shows. */
#include <gsl/gsl_cdf.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "sim/golden.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"
#include "tests/util.h"

#define PER_APP 12

TEST(regress_tolerance_is_the_two_proportion_test_at_99_percent) {
    CHECK_NEAR(GOLDEN_Z, gsl_cdf_ugaussian_Pinv(0.995), 1e-12);
    /* z sqrt(p (1 - p) (1/n0 + 1/n1)) with the pooled p, computed apart from the code */
    CHECK_NEAR(golden_tolerance(9, 10, 10, 10), 0.2510607848902364, 1e-12);
    CHECK_NEAR(golden_tolerance(87, 100, 75, 100), 0.142906304052492, 1e-12);
    CHECK_NEAR(golden_tolerance(50, 100, 50, 60), 0.20363718657549407, 1e-12);
    CHECK_NEAR(golden_tolerance(57, 600, 80, 600), 0.047293572573032044, 1e-12);
    CHECK(golden_tolerance(10, 10, 10, 10) == 0);
}

/* relabel: rewrite the fixture's test items with the answer the full model gives to each. */
static void relabel(TestCtx *t, SimFixture *f) {
    Err e;
    ElasticView full;
    view_full(&f->model, &full);
    for (int a = 0; a < TRACE_N_APPS; a++) {
        ItemSet s;
        fixture_items(&s, TRACE_APPS[a].name, PER_APP, 4);
        for (int i = 0; i < s.n; i++) {
            const StoreEntry *x;
            EvalOutcome o;
            CHECK(itemstore_get(&f->items, s.items[i].app, s.items[i].id, &x, &e) == 0);
            EvalQuery q = {.model = &f->model, .view = &full, .x = &x->enc, .app = s.items[i].app,
                           .item = s.items[i].id};
            CHECK(eval_item(&f->ctx.ev, &q, &o, &e) == 0);
            s.items[i].answer = o.choice;
        }
        char path[1400];
        snprintf(path, sizeof path, "%s/items/%s/test.jsonl", f->data_dir, TRACE_APPS[a].name);
        CHECK(items_write(&s, path, &e) == 0);
        items_free(&s);
    }
}

/* standalone: the standalone comparison in small (two SLO settings, full and oracle) on model into db. */
static void standalone(TestCtx *t, const SimFixture *f, const char *model, const char *db) {
    static const char *const settings[2] = {"1:1", "0.5:0.5"};
    for (int k = 0; k < 2; k++) {
        char slo[512] = "", name[64], *out;
        for (int a = 0; a < TRACE_N_APPS; a++)
            snprintf(slo + strlen(slo), sizeof slo - strlen(slo), "%s%s:%s", a ? "," : "", TRACE_APPS[a].name,
                     settings[k]);
        snprintf(name, sizeof name, "standalone-%d-%s.jsonl", PER_APP, k ? "0.5-0.5" : "1-1");
        const char *trace = test_path(name);
        CHECK(test_cli(&out, "trace gen --requests %d --arrival sequential --seed 42 --data %s --slo %s -o %s",
                       6 * PER_APP, f->data_dir, slo, trace) == 0);
        free(out);
        int rc = test_cli(&out, "sim --trace %s --policy full,oracle --model %s --data %s --db %s --skip-complete",
                          trace, model, f->data_dir, db);
        CHECK_MSG(rc == 0, "%s", out);
        free(out);
    }
}

static int count_lines(const char *text, const char *prefix) {
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += !strncmp(p, prefix, strlen(prefix));
    return n;
}

TEST(regress_passes_an_unchanged_run_and_catches_a_perturbed_model) {
    SimFixture f;
    fixture_init(&f, "normalized", PER_APP, 4, NULL);
    fixture_write(&f, test_tmpdir(), PER_APP, 4);
    relabel(t, &f);
    const char *golden_db = test_path("golden.db"), *golden = test_path("golden");
    standalone(t, &f, f.model_dir, golden_db);
    char *out;
    int rc = test_cli(&out, "regress --export --db %s --golden %s", golden_db, golden);
    CHECK_MSG(rc == 0 && strstr(out, "wrote 2 golden curves"), "%s", out);
    free(out);
    /* the view's counts are the requests' own, and the golden holds them */
    CHECK(util_sql_number(golden_db, "SELECT sum(n_correct) FROM standalone_accuracy WHERE method = 'oracle'") ==
          util_sql_number(golden_db, "SELECT sum(correct) FROM requests q JOIN runs r ON r.id = q.run "
                                     "WHERE r.policy = 'oracle'"));
    char *text;
    size_t len;
    Err e;
    CHECK(io_read_file(test_path("golden/full.tsv"), &text, &len, &e) == 0);
    CHECK_MSG(strstr(text, "# items_per_app: 12\n") &&
              strstr(text, "\nall\t1\t1\t72\t72\t72\t1.000000\t1.000000\n") &&
              strstr(text, "\nall\t0.5\t0.5\t72\t72\t0\t1.000000\t0.000000\n"), "%s", text);
    free(text);

    /* the same build, replayed into another database: every point equal */
    standalone(t, &f, f.model_dir, test_path("same.db"));
    rc = test_cli(&out, "regress --golden %s --db %s", golden, test_path("same.db"));
    CHECK_MSG(rc == 0 && strstr(out, "regress: PASS: 56 checks") && strstr(out, "0 changed within the tolerance, "
                                                                              "56 equal"), "%s", out);
    free(out);

    /* a perturbed model: noise of the weights' own size on every weight */
    Model bad;
    CHECK(model_alloc(&bad, &f.model.cfg, &e) == 0);
    ModelConfig cfg = f.model.cfg;
    Model noise;
    util_model(&noise, &cfg, 99);
    for (size_t i = 0; i < bad.n_params; i++) bad.params[i] = f.model.params[i] + noise.params[i];
    model_rehash(&bad);
    char bad_dir[900], tok[1000];
    snprintf(bad_dir, sizeof bad_dir, "%s/perturbed", test_tmpdir());
    snprintf(tok, sizeof tok, "%s/tokenizer.json", bad_dir);
    CHECK(model_save(&bad, bad_dir, ST_F32, &e) == 0 && tokenizer_save(&f.tok, tok, &e) == 0);
    model_free(&bad);
    model_free(&noise);
    standalone(t, &f, bad_dir, test_path("perturbed.db"));
    rc = test_cli(&out, "regress --golden %s --db %s", golden, test_path("perturbed.db"));
    CHECK_MSG(rc == 1 && strstr(out, "regress: FAIL: 56 checks") && strstr(out, "note: full: the run's weights"),
              "%s", out);
    /* full's accuracy falls towards chance: beyond the tolerance over all apps (72 items) at both settings, and
     * on most apps alone (12 items each); the oracle, which picks among 90 configurations in hindsight, may
     * still find one that answers, and is not required to move */
    CHECK_MSG(count_lines(out, "moved   full             all       slo 1,1  accuracy") == 1 &&
              count_lines(out, "moved   full             all       slo 0.5,0.5  accuracy") == 1 &&
              count_lines(out, "moved   full") >= 8 && strstr(out, "DOWN"), "%s", out);
    free(out);

    /* a point the database lacks fails too */
    rc = test_cli(&out, "regress --golden %s --db %s --model %s", golden, test_path("same.db"), bad_dir);
    CHECK_MSG(rc == 1 && strstr(out, "missing full") && strstr(out, "56 missing"), "%s", out);
    free(out);
    fixture_free(&f);
}

TEST(regress_refuses_bad_golden_files) {
    const char *dir = test_path("badgolden"), *db = test_path("empty.db");
    Err e;
    CHECK(io_mkdirs(dir, &e) == 0);
    Db d;
    CHECK(db_open(&d, db, &e) == 0);
    db_close(&d);
    struct { const char *text, *msg; } cases[] = {
        {"# method: full\n# profile: normalized\n# items_per_app: 10\n# compressor: random\n# seed: 42\n"
         "app\tslo_ttft\tslo_tpot\titems\tcorrect\tslo_met\taccuracy\tslo_met_rate\nfacts\t0.8\t0.9\t10\t11\t10\t1\t1\n",
         "x.tsv: line 7: field correct: expected an integer in [0, items], got '11'"},
        {"# method: full\n# profile: normalized\n# items_per_app: 10\n# compressor: random\n# seed: 42\n"
         "app\tslo_ttft\tslo_tpot\titems\tcorrect\tslo_met\taccuracy\tslo_met_rate\nfacts\t-1\t0.9\t10\t1\t10\t1\t1\n",
         "x.tsv: line 7: field slo_ttft: expected a number in (0, 1e+09], got '-1'"},
        {"# method: full\n# profile: normalized\n# compressor: random\n# seed: 42\n"
         "app\tslo_ttft\tslo_tpot\titems\tcorrect\tslo_met\taccuracy\tslo_met_rate\nfacts\t1\t1\t10\t1\t10\t1\t1\n",
         "x.tsv: field items_per_app: missing"},
        {"# method: full\n# profile: normalized\n# items_per_app: 10\n# compressor: random\n# seed: 42\n"
         "app\tslo\nfacts\t1\n", "x.tsv: line 6: expected the header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[900], *out;
        snprintf(path, sizeof path, "%s/x.tsv", dir);
        CHECK(io_write_atomic(path, cases[i].text, strlen(cases[i].text), &e) == 0);
        int rc = test_cli(&out, "regress --golden %s --db %s", dir, db);
        CHECK_MSG(rc == 1 && strstr(out, cases[i].msg), "case %zu: %s", i, out);
        free(out);
    }
    char *out;
    CHECK(test_cli(&out, "regress --golden %s --db %s/nothere.db", dir, dir) == 1 && strstr(out, "no such database"));
    free(out);
}
