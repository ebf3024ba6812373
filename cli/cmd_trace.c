/* elms trace gen|import|stats: synthesise, import and summarise request traces (traces/trace.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "datasets/items.h"
#include "traces/trace.h"

/* Copies argv with argv[0] = name and "-o" spelled "--out" (the short form the interface uses). */
static char **sub_argv(int argc, char **argv, const char *name) {
    char **v = calloc((size_t)argc + 1, sizeof *v);
    if (!v) return NULL;
    v[0] = (char *)name;
    for (int i = 1; i < argc; i++) v[i] = !strcmp(argv[i], "-o") ? (char *)"--out" : argv[i];
    return v;
}

/* Parses "app:ttft:tpot[,app:ttft:tpot...]" into the app table. */
static int parse_slos(const char *s, TraceAppSpec *apps, int n) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char name[64];
        double ttft, tpot;
        char tail;
        if (sscanf(tok, "%63[^:]:%lf:%lf%c", name, &ttft, &tpot, &tail) != 3 || !(ttft > 0) || !(tpot > 0)) {
            fprintf(stderr, "elms trace gen: --slo expects APP:TTFT:TPOT[,...] with positive fractions, got '%s'\n",
                    tok);
            return -1;
        }
        int found = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(apps[i].name, name)) {
                apps[i].slo_ttft = ttft;
                apps[i].slo_tpot = tpot;
                found = 1;
            }
        if (!found) {
            fprintf(stderr, "elms trace gen: --slo: unknown app '%s'\n", name);
            return -1;
        }
    }
    return 0;
}

/* read_splits: every built-in app's items of split from data (sets, and ptr pointing at them); on failure every set
 * is freed. */
static int read_splits(const char *data, const char *split, ItemSet *sets, const ItemSet **ptr, Err *e) {
    memset(sets, 0, sizeof(ItemSet) * TRACE_N_APPS);
    for (int i = 0; i < TRACE_N_APPS; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/items/%s/%s.jsonl", data, TRACE_APPS[i].name, split);
        if (items_read(&sets[i], path, e)) {
            for (int k = 0; k < i; k++) items_free(&sets[k]);
            memset(sets, 0, sizeof(ItemSet) * TRACE_N_APPS);
            return -1;
        }
        ptr[i] = &sets[i];
    }
    return 0;
}

static int cmd_gen(int argc, char **argv) {
    CliFlag fl[] = {
        {"alpha", "A", "skew over apps: app i gets N e^(A i) / sum e^(A j) requests", "0"},
        {"requests", "N", "N of the skew formula", "600"},
        {"arrival", "KIND", "sequential (no queueing), poisson or bursty", "sequential"},
        {"rate", "R", "mean requests per second (poisson, bursty)", "1"},
        {"burst-cv", "C", "bursty: coefficient of variation of the Gamma inter-arrival times", "2"},
        {"seed", "S", "random seed", "42"},
        {"data", "DIR", "datasets directory holding items/APP/test.jsonl", "data"},
        {"split", "NAME", "item split to sample", "test"},
        {"slo", "LIST", "override SLOs: APP:TTFT:TPOT[,APP:TTFT:TPOT...]", NULL},
        {"output-mean", "T", "override the mean output tokens of every app", NULL},
        {"fill", NULL, "hand out the skew formula's remainder so that exactly N requests are made", NULL},
        {"out", "FILE", "output trace (JSONL); also -o FILE", NULL},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms trace gen --alpha A --requests N --arrival sequential|poisson|bursty "
                                   "[--rate R] --seed S -o OUT.jsonl",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    TraceGenConfig c;
    trace_gen_defaults(&c);
    TraceAppSpec apps[TRACE_N_APPS];
    memcpy(apps, TRACE_APPS, sizeof apps);
    c.apps = apps;
    long v;
    if (cli_double("trace gen", "alpha", fl[0].value, &c.alpha)) return 2;
    if (cli_int("trace gen", "requests", fl[1].value, 1, 100000000L, &v)) return 2;
    c.n_requests = v;
    if (!strcmp(fl[2].value, "sequential")) c.arrival = ARRIVAL_SEQUENTIAL;
    else if (!strcmp(fl[2].value, "poisson")) c.arrival = ARRIVAL_POISSON;
    else if (!strcmp(fl[2].value, "bursty")) c.arrival = ARRIVAL_BURSTY;
    else {
        fprintf(stderr, "elms trace gen: --arrival expects sequential, poisson or bursty, got '%s'\n", fl[2].value);
        return 2;
    }
    if (cli_double("trace gen", "rate", fl[3].value, &c.rate)) return 2;
    if (cli_double("trace gen", "burst-cv", fl[4].value, &c.burst_cv)) return 2;
    if (cli_int("trace gen", "seed", fl[5].value, 0, 4294967295L, &v)) return 2;
    c.seed = (unsigned long)v;
    if (fl[8].value && parse_slos(fl[8].value, apps, TRACE_N_APPS)) return 2;
    if (fl[9].value) {
        double m;
        if (cli_double("trace gen", "output-mean", fl[9].value, &m)) return 2;
        if (!(m >= 1)) {
            fprintf(stderr, "elms trace gen: --output-mean expects a number >= 1\n");
            return 2;
        }
        for (int i = 0; i < TRACE_N_APPS; i++) apps[i].output_mean = m;
    }
    c.fill = fl[10].value != NULL;
    if (!fl[11].value) {
        fprintf(stderr, "elms trace gen: -o OUT.jsonl is required\n");
        return 2;
    }
    ItemSet sets[TRACE_N_APPS];
    const ItemSet *ptr[TRACE_N_APPS];
    Err e;
    int rc = 1;
    if (read_splits(fl[6].value, fl[7].value, sets, ptr, &e)) {
        cli_error("trace gen", "%s", e.msg);
        goto done;
    }
    Trace t;
    if (trace_gen(&t, &c, ptr, &e) || trace_write(&t, fl[11].value, &e)) {
        cli_error("trace gen", "%s", e.msg);
        goto done;
    }
    fprintf(stderr, "wrote %ld requests to %s\n", t.n, fl[11].value);
    trace_free(&t);
    rc = 0;
done:
    for (int i = 0; i < TRACE_N_APPS; i++) items_free(&sets[i]);
    return rc;
}

static int cmd_import(int argc, char **argv) {
    CliFlag fl[] = {
        {"from", "FORMAT", "elastilm (the paper's trace JSON) or csv (arrived_at,num_prefill_tokens,num_decode_tokens)",
         NULL},
        {"out", "FILE", "output trace (JSONL); also -o FILE", NULL},
        {"app", "NAME", "csv: the app of every request (default: drawn uniformly with --seed)", NULL},
        {"seed", "S", "csv: seed for drawing apps", "42"},
        {"data", "DIR", "elastilm: data directory whose items the paper's question ids map onto (id k -> item k mod N "
                        "of the app's split)", "data"},
        {"split", "NAME", "elastilm: the split the ids map onto", "test"},
        {"paper-ids", NULL, "elastilm: keep the paper's question ids as item ids (no mapping; not replayable)", NULL},
    };
    const char *pos[1];
    int np = 0;
    int pr = cli_parse(argc, argv, "elms trace import --from elastilm|csv FILE -o OUT.jsonl [--data DIR --split S]", fl,
                       sizeof fl / sizeof fl[0], pos, 1, &np);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || np != 1 || !fl[1].value) {
        fprintf(stderr, "elms trace import: expected --from FORMAT FILE -o OUT.jsonl\n");
        return 2;
    }
    long seed;
    if (cli_int("trace import", "seed", fl[3].value, 0, 4294967295L, &seed)) return 2;
    Trace t;
    Err e;
    int r;
    if (!strcmp(fl[0].value, "elastilm")) r = trace_import_elastilm(&t, pos[0], &e);
    else if (!strcmp(fl[0].value, "csv")) r = trace_import_csv(&t, pos[0], fl[2].value, (unsigned long)seed, &e);
    else {
        fprintf(stderr, "elms trace import: --from expects elastilm or csv, got '%s'\n", fl[0].value);
        return 2;
    }
    if (r) return cli_error("trace import", "%s", e.msg);
    if (!strcmp(fl[0].value, "elastilm") && !fl[6].value) {
        ItemSet sets[TRACE_N_APPS];
        const ItemSet *ptr[TRACE_N_APPS];
        if (read_splits(fl[4].value, fl[5].value, sets, ptr, &e)) {
            trace_free(&t);
            return cli_error("trace import", "%s (the paper's ids map onto these items; --paper-ids keeps them)", e.msg);
        }
        r = trace_map_items(&t, ptr, &e);
        for (int i = 0; i < TRACE_N_APPS; i++) items_free(&sets[i]);
        if (r) {
            trace_free(&t);
            return cli_error("trace import", "%s: %s", pos[0], e.msg);
        }
    }
    if (trace_write(&t, fl[1].value, &e)) {
        trace_free(&t);
        return cli_error("trace import", "%s", e.msg);
    }
    fprintf(stderr, "imported %ld requests into %s\n", t.n, fl[1].value);
    trace_free(&t);
    return 0;
}

static void print_slo(double v, bool ms) { printf(ms ? " %gms" : " %g", v); }

static int cmd_stats(int argc, char **argv) {
    const char *pos[1];
    int np = 0;
    int pr = cli_parse(argc, argv, "elms trace stats FILE", NULL, 0, pos, 1, &np);
    if (pr) return pr > 0 ? 0 : 2;
    if (np != 1) {
        fprintf(stderr, "elms trace stats: expected one trace file\n");
        return 2;
    }
    Trace t;
    TraceStats s;
    Err e;
    if (trace_read(&t, pos[0], &e)) return cli_error("trace stats", "%s", e.msg);
    if (trace_stats(&t, &s, &e)) {
        trace_free(&t);
        return cli_error("trace stats", "%s", e.msg);
    }
    printf("requests %ld\n", s.requests);
    for (int a = 0; a < s.n_apps; a++) {
        if (!s.app[a].requests) continue;
        printf("app %s requests %ld slo", t.apps.str[a], s.app[a].requests);
        print_slo(s.app[a].slo_ttft, s.app[a].slo_ttft_ms);
        print_slo(s.app[a].slo_tpot, s.app[a].slo_tpot_ms);
        putchar('\n');
    }
    printf("arrivals sequential %ld timed %ld", s.sequential, s.requests - s.sequential);
    if (s.requests - s.sequential > 1)
        printf(" span_s %.3f rate_per_s %.4g interarrival_cv %.3f", s.span_s, s.rate, s.interarrival_cv);
    printf("\noutput_tokens mean %.2f\nitems %ld distinct %d\n", s.output_mean, s.with_item, t.items.n);
    trace_stats_free(&s);
    trace_free(&t);
    return 0;
}

static int cmd_trace(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: elms trace gen|import|stats ...   (elms trace SUB --help for options)\n");
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    int (*fn)(int, char **) = NULL;
    const char *name = NULL;
    if (!strcmp(sub, "gen")) fn = cmd_gen, name = "trace gen";
    else if (!strcmp(sub, "import")) fn = cmd_import, name = "trace import";
    else if (!strcmp(sub, "stats")) fn = cmd_stats, name = "trace stats";
    else {
        fprintf(stderr, "elms trace: unknown subcommand '%s' (expected gen, import or stats)\n", sub);
        return 2;
    }
    char **v = sub_argv(argc - 1, argv + 1, name);
    if (!v) return cli_error("trace", "out of memory");
    int rc = fn(argc - 1, v);
    free(v);
    return rc;
}

CLI_COMMAND("trace", "synthesise, import and summarise request traces (gen|import|stats)", cmd_trace)
