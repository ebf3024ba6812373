/* elms regress: the regression check of the standalone comparison against golden accuracy-vs-SLO curves
 * (sim/golden.h states the tolerance): prints every point that moved and a summary, and exits 1 when one did (or
 * the database lacks a point); --export writes the curves of a database as the golden instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "sim/db.h"
#include "sim/golden.h"

enum { F_GOLDEN, F_DB, F_EXPORT, F_MODEL, F_ITEMS, F_PROFILE, F_POLICY, F_COMPRESSOR, F_SEED, F_VERBOSE, F_N };

static void print_check(const GoldenCheck *c) {
    static const char *const word[GOLDEN_N_STATUS] = {"equal", "within", "moved", "missing", "items"};
    printf("%-7s %-16s %-9s slo %g,%g  %-8s  %ld/%ld (%.3f) -> ", word[c->status], c->method, c->app, c->slo_ttft,
           c->slo_tpot, c->metric, c->k0, c->n0, (double)c->k0 / (double)c->n0);
    if (c->status == GOLDEN_ITEMS)
        printf("%ld/%ld: measured on another number of items\n", c->k1, c->n1);
    else
        printf("%ld/%ld (%.3f): %+.3f, tolerance %.3f%s\n", c->k1, c->n1, (double)c->k1 / (double)c->n1,
               (double)c->k1 / (double)c->n1 - (double)c->k0 / (double)c->n0, c->tolerance,
               c->status == GOLDEN_MOVED ? ((double)c->k1 / c->n1 < (double)c->k0 / c->n0 ? "  DOWN" : "  UP") : "");
}

/* print_report: the points that failed (and with verbose those that changed within the tolerance), missing
 * points once per method, and the summary line; returns the exit status. */
static int print_report(const GoldenReport *r, const char *dir, const char *db, int verbose) {
    printf("regress: %d golden curves in %s against %s\n", r->curves, dir, db);
    for (int i = 0; i < r->n_notes; i++) printf("note: %s\n", r->notes[i]);
    for (long i = 0; i < r->n; i++) {
        const GoldenCheck *c = &r->check[i];
        if (c->status == GOLDEN_MOVED || c->status == GOLDEN_ITEMS || (verbose && c->status == GOLDEN_WITHIN))
            print_check(c);
        if (c->status == GOLDEN_MISSING && (i == 0 || strcmp(r->check[i - 1].method, c->method) ||
                                            r->check[i - 1].status != GOLDEN_MISSING)) {
            long k = i;
            while (k < r->n && !strcmp(r->check[k].method, c->method) && r->check[k].status == GOLDEN_MISSING) k++;
            printf("missing %-16s %ld checks (from slo %g,%g %s): no complete standalone run of this "
                   "configuration in %s\n", c->method, k - i, c->slo_ttft, c->slo_tpot, c->app, db);
        }
    }
    long bad = r->count[GOLDEN_MOVED] + r->count[GOLDEN_MISSING] + r->count[GOLDEN_ITEMS];
    printf("regress: %s: %ld checks (accuracy and SLO met of %ld points): %ld moved beyond the 99%% two-proportion "
           "tolerance (%ld down, %ld up), %ld missing, %ld on another number of items; %ld changed within the "
           "tolerance, %ld equal\n", bad ? "FAIL" : "PASS", r->n, r->n / 2, r->count[GOLDEN_MOVED], r->down, r->up,
           r->count[GOLDEN_MISSING], r->count[GOLDEN_ITEMS], r->count[GOLDEN_WITHIN], r->count[GOLDEN_EQUAL]);
    return bad ? 1 : 0;
}

static int export(const CliFlag *fl, Db *d, const char *cmdline) {
    GoldenSelect sel = {.profile = fl[F_PROFILE].value, .model = fl[F_MODEL].value,
                        .compressor = fl[F_COMPRESSOR].value, .seed = -1};
    if (fl[F_ITEMS].value && cli_int("regress", "items", fl[F_ITEMS].value, 1, 1000000, &sel.items_per_app))
        return 2;
    if (fl[F_SEED].value && cli_int("regress", "seed", fl[F_SEED].value, 0, 4294967295L, &sel.seed)) return 2;
    char buf[1024];
    const char *methods[64];
    if (fl[F_POLICY].value) {
        snprintf(buf, sizeof buf, "%s", fl[F_POLICY].value);
        for (char *tok = strtok(buf, ","); tok && sel.n_methods < 64; tok = strtok(NULL, ","))
            if (*tok) methods[sel.n_methods++] = tok;
        sel.methods = methods;
    }
    Err e;
    int n;
    if (golden_export(d, &sel, fl[F_GOLDEN].value, cmdline, &n, &e)) return cli_error("regress", "%s", e.msg);
    printf("regress: wrote %d golden curves into %s\n", n, fl[F_GOLDEN].value);
    return 0;
}

static int cmd_regress(int argc, char **argv) {
    CliFlag fl[F_N] = {
        [F_GOLDEN] = {"golden", "DIR", "golden curves, one METHOD.tsv per method (results/golden/NAME)", NULL},
        [F_DB] = {"db", "FILE", "results database holding the standalone runs to check (or export)", NULL},
        [F_EXPORT] = {"export", NULL, "write the database's curves into --golden instead of checking", NULL},
        [F_MODEL] = {"model", "DIR", "only runs of this model directory (default: the newest run of any)", NULL},
        [F_ITEMS] = {"items", "N", "--export: items per app of the runs (default: the only count present)", NULL},
        [F_PROFILE] = {"profile", "NAME", "--export: device profile of the runs", "normalized"},
        [F_POLICY] = {"policy", "P[,P...]", "--export: these methods only (default: every method present)", NULL},
        [F_COMPRESSOR] = {"compressor", "NAME", "--export: runs with this prompt compressor only", NULL},
        [F_SEED] = {"seed", "S", "--export: runs with this seed only", NULL},
        [F_VERBOSE] = {"verbose", NULL, "also print the points that changed within the tolerance", NULL},
    };
    int pr = cli_parse(argc, argv,
                       "elms regress --golden DIR --db FILE [--model DIR] [--verbose]\n"
                       "       elms regress --export --golden DIR --db FILE [--items N] [--policy P,...] [--model DIR]",
                       fl, F_N, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[F_GOLDEN].value || !fl[F_DB].value) {
        fprintf(stderr, "elms regress: --golden and --db are required (see --help)\n");
        return 2;
    }
    if (!path_is_file(fl[F_DB].value)) return cli_error("regress", "%s: no such database", fl[F_DB].value);
    Db d;
    Err e;
    if (db_open(&d, fl[F_DB].value, &e)) return cli_error("regress", "%s", e.msg);
    int rc;
    if (fl[F_EXPORT].value) {
        char *cmdline = cli_command_line(argc, argv);
        rc = export(fl, &d, cmdline);
        free(cmdline);
    } else {
        GoldenReport r;
        if (golden_check(&d, fl[F_GOLDEN].value, fl[F_MODEL].value, &r, &e)) rc = cli_error("regress", "%s", e.msg);
        else rc = print_report(&r, fl[F_GOLDEN].value, fl[F_DB].value, fl[F_VERBOSE].value != NULL);
        golden_report_free(&r);
    }
    db_close(&d);
    return rc;
}

CLI_COMMAND("regress", "check standalone accuracy-vs-SLO curves against golden ones (or export them)", cmd_regress)
