/* elms sim: replay a trace under one or more policies with a device profile, recording every request in
 * SQLite, and print one summary line per policy. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_args.h"
#include "policies/policy.h"
#include "sim/sim.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void on_progress(void *ctx, long done, long total) {
    (void)total;
    progress_update(ctx, done);
}

/* The revision of the working tree, or NULL outside a git checkout. */
static char *git_revision(void) {
    FILE *f = popen("git rev-parse HEAD 2>/dev/null", "r");
    if (!f) return NULL;
    char buf[128] = "";
    char *ok = fgets(buf, sizeof buf, f);
    pclose(f);
    if (!ok) return NULL;
    buf[strcspn(buf, "\r\n")] = 0;
    return buf[0] ? strdup(buf) : NULL;
}

/* sim_usage: the usage line followed by every registered policy with its summary. */
static void sim_usage(char *out, size_t cap) {
    const char *names[64], *sums[64];
    int n = policy_names(names, sums, 64);
    size_t len = (size_t)snprintf(out, cap, "elms sim --trace T --policy P[,P...] --profile F --model DIR --db FILE\n\n"
                                            "policies (offline artefacts: elms prepare POLICY --model DIR):");
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "\n  %-16s %s", names[i], sums[i]);
}

static int cmd_sim(int argc, char **argv) {
    CliFlag fl[] = {
        {"trace", "T", "trace (JSONL, see elms trace)", NULL},
        {"policy", "P[,P...]", "policies to replay (one run each)", "full"},
        {"profile", "F", "device profile: a name in sim/profiles/ or a path", "normalized"},
        {"model", "DIR", "base model directory (with tokenizer.json; policies' artefacts in DIR/policies/)",
         "models/base-elastic"},
        {"db", "FILE", "SQLite results database (created if missing; runs are appended)", NULL},
        {"data", "DIR", "datasets directory holding items/APP/SPLIT.jsonl", "data"},
        {"split", "NAME", "item split the trace refers to", "test"},
        {"compressor", "NAME", "prompt compressor for policies that take one (none, random, ...)", "random"},
        {"seed", "S", "seed for policies and compressors", "42"},
        {"sched", "NAME", "fcfs or edf (earliest TTFT deadline first)", "fcfs"},
        {"profiles", "DIR", "directory of named profiles", "sim/profiles"},
    };
    const int nf = sizeof fl / sizeof fl[0];
    char usage[4096];
    sim_usage(usage, sizeof usage);
    int pr = cli_parse(argc, argv, usage, fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value) {
        fprintf(stderr, "elms sim: --trace is required (see --help)\n");
        return 2;
    }
    long seed;
    if (cli_int("sim", "seed", fl[8].value, 0, 4294967295L, &seed)) return 2;
    Scheduler sched;
    if (!strcmp(fl[9].value, "fcfs")) sched = SCHED_FCFS;
    else if (!strcmp(fl[9].value, "edf")) sched = SCHED_EDF;
    else {
        fprintf(stderr, "elms sim: --sched expects fcfs or edf, got '%s'\n", fl[9].value);
        return 2;
    }
    /* validate policy names before any work */
    char pol_list[1024];
    snprintf(pol_list, sizeof pol_list, "%s", fl[1].value);
    const char *pols[32];
    int n_pols = 0;
    for (char *tok = strtok(pol_list, ","); tok && n_pols < 32; tok = strtok(NULL, ","))
        if (*tok) pols[n_pols++] = tok;
    if (n_pols == 0) {
        fprintf(stderr, "elms sim: --policy expects one or more names\n");
        return 2;
    }
    Err e;
    for (int i = 0; i < n_pols; i++) {
        Policy probe;
        if (policy_create(&probe, pols[i], &e)) {
            fprintf(stderr, "elms sim: %s\n", e.msg);
            return 2;
        }
        policy_destroy(&probe);
    }

    int rc = 1;
    Trace trace;
    Profile prof;
    char prof_path[1200];
    profile_resolve(fl[2].value, fl[10].value, prof_path, sizeof prof_path);
    if (profile_load(&prof, prof_path, &e)) return cli_error("sim", "%s", e.msg);
    if (trace_read(&trace, fl[0].value, &e)) return cli_error("sim", "%s", e.msg);
    EngineModel em;
    if (engine_model_load("sim", fl[3].value, &em)) {
        trace_free(&trace);
        return 1;
    }
    Db db, *dbp = NULL;
    if (fl[4].value) {
        if (db_open(&db, fl[4].value, &e)) {
            cli_error("sim", "%s", e.msg);
            goto out_model;
        }
        dbp = &db;
    }
    ItemStore items;
    itemstore_init(&items, fl[5].value, fl[6].value, em.has_tok ? &em.tok : NULL);
    EvalCache cache;
    evalcache_init(&cache, dbp);
    SimContext ctx;
    sim_context_init(&ctx, &em.model, em.has_tok ? &em.tok : NULL, &prof, &items, &cache);
    if (sim_trace_check(&ctx, &trace, fl[0].value, &e)) { /* before any run is begun */
        rc = cli_error("sim", "%s", e.msg);
        goto out_items;
    }
    PolicyEnv env = {.base = &em.model, .model_dir = fl[3].value, .tok = em.has_tok ? &em.tok : NULL,
                     .compressor = fl[7].value, .seed = (unsigned long)seed, .hooks = sim_hooks(&ctx)};
    char *git = git_revision(), *cmdline = cli_command_line(argc, argv);
    char created[32];
    db_now_utc(created, sizeof created);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    SimOptions opt = {.sched = sched, .stop = &g_stop, .progress = on_progress};
    rc = 0;
    for (int i = 0; i < n_pols && !rc; i++) {
        Policy p;
        if (policy_create(&p, pols[i], &e) || policy_prepare(&p, &env, &e)) {
            policy_destroy(&p);
            rc = cli_error("sim", "%s", e.msg);
            break;
        }
        long run_id = 0;
        DbRun run = {.created = created, .git_rev = git, .command = cmdline, .seed = seed, .policy = pols[i],
                     .compressor = fl[7].value, .trace = fl[0].value, .profile = prof.name, .model = fl[3].value,
                     .model_hash = em.model.hash, .scheduler = fl[9].value,
                     .n_requests = trace.n};
        if (dbp && db_run_begin(dbp, &run, &run_id, &e)) {
            policy_destroy(&p);
            rc = cli_error("sim", "%s", e.msg);
            break;
        }
        char label[96];
        snprintf(label, sizeof label, "sim %s", pols[i]);
        Progress prog;
        progress_start(&prog, label, trace.n);
        opt.progress_ctx = &prog;
        SimSummary s;
        int r = sim_run(&ctx, &p, &trace, &opt, dbp, run_id, &s, &e);
        progress_update(&prog, s.requests);
        progress_finish(&prog);
        policy_destroy(&p);
        if (r) {
            rc = cli_error("sim", "%s", e.msg);
            break;
        }
        if (s.interrupted) {
            rc = cli_error("sim", "interrupted after %ld of %ld requests; run %ld is marked incomplete",
                           s.requests, trace.n, run_id);
            break;
        }
        if (dbp) {
            char finished[32];
            db_now_utc(finished, sizeof finished);
            DbRunSummary sum = {finished, s.accuracy, s.slo_met_frac, s.ttft_p50_ms, s.ttft_p99_ms, s.memory_bytes};
            if (db_run_finish(dbp, run_id, &sum, &e)) {
                rc = cli_error("sim", "%s", e.msg);
                break;
            }
        }
        printf("policy %s requests %ld accuracy %.4f slo_met %.4f ttft_p50_ms %.3f ttft_p99_ms %.3f memory_mb %.1f\n",
               pols[i], s.requests, s.accuracy, s.slo_met_frac, s.ttft_p50_ms, s.ttft_p99_ms,
               s.memory_bytes / (1024.0 * 1024.0));
        fflush(stdout);
    }
    fprintf(stderr, "evaluations: %ld computed, %ld from the database, %ld from memory\n", cache.computed,
            cache.db_hits, cache.hits);
    free(git);
    free(cmdline);
out_items:
    evalcache_free(&cache);
    itemstore_free(&items);
    if (dbp && db_commit(dbp, &e) && !rc) rc = cli_error("sim", "%s", e.msg);
    if (dbp) db_close(dbp);
out_model:
    engine_model_free(&em);
    trace_free(&trace);
    return rc;
}

CLI_COMMAND("sim", "replay a trace under policies with a device profile and record the results", cmd_sim)
