/* elms sim: replay a trace under one or more policies with a device profile, recording every request in
 * SQLite, and print one summary line per policy. --shard I/N records one deterministic slice of the requests
 * (sim/sim.h says which, and why the whole timeline is still replayed); --skip-complete leaves out the policies
 * whose run of the same configuration is already complete in the database (resumable experiments). --live serves
 * every request on the real engine in wall-clock time (sim/live.h) and prints, per policy, the simulator's error
 * against the measured times. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_args.h"
#include "policies/policy.h"
#include "sim/sim.h"

enum {
    F_TRACE, F_POLICY, F_PROFILE, F_MODEL, F_DB, F_DATA, F_SPLIT, F_COMPRESSOR, F_SEED, F_SCHED, F_PROFILES,
    F_SHARD, F_SKIP, F_LIVE, F_SETTLE, F_N
};

#define MAX_POLICIES 32

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
    size_t len = (size_t)snprintf(out, cap, "elms sim --trace T --policy P[,P...] --profile F --model DIR --db FILE "
                                            "[--shard I/N] [--skip-complete] [--live [--settle-ms MS]]\n\n"
                                            "policies (offline artefacts: elms prepare POLICY --model DIR):");
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "\n  %-16s %s", names[i], sums[i]);
}

/* The parsed command line. */
typedef struct SimArgs {
    CliFlag fl[F_N];
    char pol_buf[1024];
    const char *pols[MAX_POLICIES];
    int n_pols;
    long seed;
    Scheduler sched;
    int shard_index, shard_count;  /* 1 of 1 without --shard */
    double settle_ms;              /* --live: the settle (LIVE_SETTLE_MS without --settle-ms) */
} SimArgs;

/* parse_shard: "I/N" with 1 <= I <= N. */
static int parse_shard(const char *s, int *index, int *count) {
    long i, n;
    char tail;
    if (sscanf(s, "%ld/%ld%c", &i, &n, &tail) != 2 || n < 1 || n > 1000000 || i < 1 || i > n) {
        fprintf(stderr, "elms sim: --shard expects I/N with 1 <= I <= N <= 1000000, got '%s'\n", s);
        return -1;
    }
    *index = (int)i;
    *count = (int)n;
    return 0;
}

/* parse_policies: the names of --policy into a->pols, each checked before any work; -1, or 2 after the message. */
static int parse_policies(SimArgs *a) {
    snprintf(a->pol_buf, sizeof a->pol_buf, "%s", a->fl[F_POLICY].value);
    a->n_pols = 0;
    for (char *tok = strtok(a->pol_buf, ","); tok && a->n_pols < MAX_POLICIES; tok = strtok(NULL, ","))
        if (*tok) a->pols[a->n_pols++] = tok;
    if (a->n_pols == 0) {
        fprintf(stderr, "elms sim: --policy expects one or more names\n");
        return 2;
    }
    Err e;
    for (int i = 0; i < a->n_pols; i++) {
        Policy probe;
        if (policy_create(&probe, a->pols[i], &e)) {
            fprintf(stderr, "elms sim: %s\n", e.msg);
            return 2;
        }
        policy_destroy(&probe);
    }
    return -1;
}

/* parse_args: fill a from the command line; returns -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, SimArgs *a) {
    CliFlag fl[F_N] = {
        [F_TRACE] = {"trace", "T", "trace (JSONL, see elms trace)", NULL},
        [F_POLICY] = {"policy", "P[,P...]", "policies to replay (one run each)", "full"},
        [F_PROFILE] = {"profile", "F", "device profile: a name in sim/profiles/ or a path", "normalized"},
        [F_MODEL] = {"model", "DIR", "base model directory (with tokenizer.json; policies' artefacts in "
                                     "DIR/policies/)", "models/base-elastic"},
        [F_DB] = {"db", "FILE", "SQLite results database (created if missing; runs are appended)", NULL},
        [F_DATA] = {"data", "DIR", "datasets directory holding items/APP/SPLIT.jsonl", "data"},
        [F_SPLIT] = {"split", "NAME", "item split the trace refers to", "test"},
        [F_COMPRESSOR] = {"compressor", "NAME", "prompt compressor for policies that take one (none, random, ...)",
                          "random"},
        [F_SEED] = {"seed", "S", "seed for policies and compressors", "42"},
        [F_SCHED] = {"sched", "NAME", "fcfs or edf (earliest TTFT deadline first)", "fcfs"},
        [F_PROFILES] = {"profiles", "DIR", "directory of named profiles", "sim/profiles"},
        [F_SHARD] = {"shard", "I/N", "record shard I of N: the requests at trace positions k with k mod N = I-1 "
                                     "(merge the shards' databases with elms db merge)", NULL},
        [F_SKIP] = {"skip-complete", NULL, "skip a policy whose run of this configuration (trace and its hash, "
                                           "profile, model weights, the policy's prepared artefacts, compressor, "
                                           "seed, scheduler, shard) is complete in --db, printing its recorded "
                                           "summary", NULL},
        [F_LIVE] = {"live", NULL, "serve every request on the real engine in wall-clock time (arrivals honoured, "
                                  "measured queueing, the policy's decisions, greedy decode of the output tokens) and "
                                  "record the measured times beside the profile's prediction for the same decisions; "
                                  "prints the simulator's error (MAPE) per policy. Use --profile host", NULL},
        [F_SETTLE] = {"settle-ms", "MS", "--live: idle off the clock before serving a request that arrives at an "
                                         "idle engine (the state the profile priced: elms calibrate's --idle-ms)",
                      NULL},
    };
    memcpy(a->fl, fl, sizeof fl);
    char usage[4096];
    sim_usage(usage, sizeof usage);
    int pr = cli_parse(argc, argv, usage, a->fl, F_N, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!a->fl[F_TRACE].value) {
        fprintf(stderr, "elms sim: --trace is required (see --help)\n");
        return 2;
    }
    if (a->fl[F_LIVE].value && (a->fl[F_SHARD].value || a->fl[F_SKIP].value)) {
        fprintf(stderr, "elms sim: --live measures every run anew: it takes neither --shard nor --skip-complete\n");
        return 2;
    }
    if (a->fl[F_SKIP].value && !a->fl[F_DB].value) {
        fprintf(stderr, "elms sim: --skip-complete needs --db (the database that holds the complete runs)\n");
        return 2;
    }
    if (cli_int("sim", "seed", a->fl[F_SEED].value, 0, 4294967295L, &a->seed)) return 2;
    a->settle_ms = LIVE_SETTLE_MS;
    if (a->fl[F_SETTLE].value) {
        if (!a->fl[F_LIVE].value) {
            fprintf(stderr, "elms sim: --settle-ms applies to --live runs only\n");
            return 2;
        }
        if (cli_double_in("sim", "settle-ms", a->fl[F_SETTLE].value, 0, 10000, &a->settle_ms)) return 2;
    }
    const char *sched = a->fl[F_SCHED].value;
    if (!strcmp(sched, "fcfs")) a->sched = SCHED_FCFS;
    else if (!strcmp(sched, "edf")) a->sched = SCHED_EDF;
    else {
        fprintf(stderr, "elms sim: --sched expects fcfs or edf, got '%s'\n", sched);
        return 2;
    }
    a->shard_index = a->shard_count = 1;
    if (a->fl[F_SHARD].value && parse_shard(a->fl[F_SHARD].value, &a->shard_index, &a->shard_count)) return 2;
    return parse_policies(a);
}

/* print_summary: the one summary line of a run (fresh or found complete). */
static void print_summary(const char *policy, long requests, const DbRunSummary *s) {
    printf("policy %s requests %ld accuracy %.4f slo_met %.4f attained %.4f ttft_p50_ms %.3f ttft_p99_ms %.3f "
           "memory_mb %.1f\n", policy, requests, s->accuracy, s->slo_met, s->attained, s->ttft_p50_ms,
           s->ttft_p99_ms, s->memory_bytes / (1024.0 * 1024.0));
    fflush(stdout);
}

/* What every policy's run shares. */
typedef struct SimJob {
    const SimArgs *a;
    const Trace *trace;
    SimContext *ctx;
    PolicyEnv env;
    Db *db;                        /* NULL without --db */
    DbRun run;                     /* the configuration; policy, prepare cost and policy hash set per policy */
    char policy_hash[17];          /* run.policy_hash points here (or is NULL) */
    SimOptions opt;
    SimLive live;                  /* --live: the engine's state (opt.live points here) */
    LiveSummary errs[MAX_POLICIES]; /* --live: the simulator's error per policy run */
    const char *err_names[MAX_POLICIES];
    int n_errs;
} SimJob;

/* run_policy: one policy's run: skipped when --skip-complete finds it, else replayed, recorded and printed.
 * Returns 0, or 1 after printing the error (also for an interruption). */
static int run_policy(SimJob *j, const char *name) {
    Err e;
    Policy p;
    j->run.policy = name;
    if (policy_create(&p, name, &e) ||
        sim_policy_prepared(j->a->fl[F_MODEL].value, &p, &j->run.prepare_cpu_min, j->policy_hash, &e)) {
        policy_destroy(&p);
        return cli_error("sim", "%s", e.msg);
    }
    j->run.policy_hash = j->policy_hash[0] ? j->policy_hash : NULL;
    if (j->a->fl[F_SKIP].value) {
        long found, n;
        DbRunSummary old;
        if (db_run_find_complete(j->db, &j->run, &found, &old, &n, &e)) {
            policy_destroy(&p);
            return cli_error("sim", "%s", e.msg);
        }
        if (found) {
            fprintf(stderr, "elms sim: %s: run %ld of this configuration is complete in %s; skipped\n", name, found,
                    j->a->fl[F_DB].value);
            print_summary(name, n, &old);
            policy_destroy(&p);
            return 0;
        }
    }
    if (policy_prepare(&p, &j->env, &e)) {
        policy_destroy(&p);
        return cli_error("sim", "%s", e.msg);
    }
    long run_id = 0;
    if (j->db && db_run_begin(j->db, &j->run, &run_id, &e)) {
        policy_destroy(&p);
        return cli_error("sim", "%s", e.msg);
    }
    char label[96];
    snprintf(label, sizeof label, "%s %s", j->opt.live ? "sim --live" : "sim", name);
    Progress prog;
    progress_start(&prog, label, j->trace->n);
    j->opt.progress_ctx = &prog;
    SimSummary s;
    int r = sim_run(j->ctx, &p, j->trace, &j->opt, j->db, run_id, &s, &e);
    progress_finish(&prog);
    policy_destroy(&p);
    if (r) return cli_error("sim", "%s", e.msg);
    if (s.interrupted)
        return cli_error("sim", "interrupted after %ld of %ld requests; run %ld is marked incomplete", s.requests,
                         j->run.n_requests, run_id);
    char finished[32];
    db_now_utc(finished, sizeof finished);
    DbRunSummary row;
    sim_summary_row(&s, finished, &row);
    if (j->db && db_run_finish(j->db, run_id, &row, &e)) return cli_error("sim", "%s", e.msg);
    print_summary(name, s.requests, &row);
    if (j->opt.live) {
        LiveSummary *l = &j->errs[j->n_errs];
        live_summarize(j->opt.live, l);
        j->err_names[j->n_errs++] = name;
        printf("live %s requests %ld service_ttft_mape %.2f ttft_mape %.2f tpot_mape %.2f prefill_mape %.2f "
               "service_ttft_bias %.2f tpot_bias %.2f queue_ms %.3f pred_queue_ms %.3f ttft_p50_err %.2f "
               "ttft_p95_err %.2f tpot_p50_err %.2f tpot_p95_err %.2f\n", name, l->requests, l->mape_service_ttft,
               l->mape_ttft, l->mape_tpot, l->mape_prefill, l->bias_service_ttft, l->bias_tpot, l->mean_queue_ms,
               l->mean_pred_queue_ms, l->pct_ttft_p50, l->pct_ttft_p95, l->pct_tpot_p50, l->pct_tpot_p95);
        fflush(stdout);
    }
    return 0;
}

/* print_live_table: the simulator's error of every live run, one row per policy (stdout). */
static void print_live_table(const SimJob *j) {
    printf("\nsimulator (profile %s, %s) vs live on %s: MAPE %%, bias = mean (predicted - measured) / measured %%\n",
           j->ctx->profile->name, j->ctx->profile->path, j->a->fl[F_TRACE].value);
    printf("| policy | requests | service TTFT MAPE | TTFT MAPE | TPOT MAPE | prefill MAPE | service TTFT bias | "
           "TPOT bias | queue ms measured / predicted |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < j->n_errs; i++) {
        const LiveSummary *l = &j->errs[i];
        printf("| %s | %ld | %.2f | %.2f | %.2f | %.2f | %+.2f | %+.2f | %.2f / %.2f |\n", j->err_names[i], l->requests,
               l->mape_service_ttft, l->mape_ttft, l->mape_tpot, l->mape_prefill, l->bias_service_ttft, l->bias_tpot,
               l->mean_queue_ms, l->mean_pred_queue_ms);
    }
    printf("\nthe same runs by distribution: error of the predicted percentile against the measured one, (predicted - "
           "measured) / measured %%\n| policy | TTFT P50 | TTFT P95 | TPOT P50 | TPOT P95 |\n|---|---|---|---|---|\n");
    for (int i = 0; i < j->n_errs; i++) {
        const LiveSummary *l = &j->errs[i];
        printf("| %s | %+.2f | %+.2f | %+.2f | %+.2f |\n", j->err_names[i], l->pct_ttft_p50, l->pct_ttft_p95,
               l->pct_tpot_p50, l->pct_tpot_p95);
    }
    fflush(stdout);
}

/* The inputs every policy's run reads, loaded once. */
typedef struct SimInputs {
    Profile prof;
    Trace trace;
    EngineModel em;
    Db db, *dbp;                   /* dbp: NULL without --db */
    int loaded;                    /* 1: trace, 2: and model, 3: and database */
} SimInputs;

static void free_inputs(SimInputs *in) {
    if (in->loaded >= 3 && in->dbp) db_close(in->dbp);
    if (in->loaded >= 2) engine_model_free(&in->em);
    if (in->loaded >= 1) trace_free(&in->trace);
}

/* load_inputs: the profile, the trace, the model and the database; 0, or 1 after printing the error. */
static int load_inputs(const SimArgs *a, SimInputs *in) {
    const CliFlag *fl = a->fl;
    Err e;
    memset(in, 0, sizeof *in);
    char prof_path[1200];
    profile_resolve(fl[F_PROFILE].value, fl[F_PROFILES].value, prof_path, sizeof prof_path);
    if (profile_load(&in->prof, prof_path, &e)) return cli_error("sim", "%s", e.msg);
    if (trace_read(&in->trace, fl[F_TRACE].value, &e)) return cli_error("sim", "%s", e.msg);
    in->loaded = 1;
    if (engine_model_load("sim", fl[F_MODEL].value, &in->em)) return 1;
    in->loaded = 2;
    if (fl[F_DB].value) {
        if (db_open(&in->db, fl[F_DB].value, &e)) return cli_error("sim", "%s", e.msg);
        if (in->db.migrated_from)
            fprintf(stderr, "elms sim: %s: migrated the database from schema version %d to %d\n", fl[F_DB].value,
                    in->db.migrated_from, DB_SCHEMA_VERSION);
        in->dbp = &in->db;
    }
    in->loaded = 3;
    return 0;
}

/* replay_all: check the trace, then run every policy of a; returns the exit status. */
static int replay_all(const SimArgs *a, SimInputs *in, int argc, char **argv) {
    const CliFlag *fl = a->fl;
    const Tokenizer *tok = in->em.has_tok ? &in->em.tok : NULL;
    Err e;
    ItemStore items;
    itemstore_init(&items, fl[F_DATA].value, fl[F_SPLIT].value, tok);
    EvalCache cache;
    evalcache_init(&cache, in->dbp);
    SimContext ctx;
    sim_context_init(&ctx, &in->em.model, tok, &in->prof, &items, &cache);
    if (sim_trace_check(&ctx, &in->trace, fl[F_TRACE].value, &e) || /* before any run is begun */
        (fl[F_LIVE].value && sim_trace_check_live(&ctx, &in->trace, fl[F_TRACE].value, &e))) {
        evalcache_free(&cache);
        itemstore_free(&items);
        return cli_error("sim", "%s", e.msg);
    }
    signal(SIGINT, on_signal); /* from here on, an interruption leaves the current run incomplete */
    signal(SIGTERM, on_signal);
    char *git = git_revision(), *cmdline = cli_command_line(argc, argv);
    char created[32];
    db_now_utc(created, sizeof created);
    SimJob job = {
        .a = a, .trace = &in->trace, .ctx = &ctx, .db = in->dbp,
        .env = {.base = &in->em.model, .model_dir = fl[F_MODEL].value, .tok = tok,
                .compressor = fl[F_COMPRESSOR].value, .seed = (unsigned long)a->seed, .hooks = sim_hooks(&ctx)},
        .run = {.created = created, .git_rev = git, .command = cmdline, .seed = a->seed,
                .compressor = fl[F_COMPRESSOR].value, .trace = fl[F_TRACE].value, .profile = in->prof.name,
                .model = fl[F_MODEL].value, .model_hash = in->em.model.hash, .scheduler = fl[F_SCHED].value,
                .n_requests = sim_shard_size(in->trace.n, a->shard_index, a->shard_count),
                .trace_hash = in->trace.hash, .shard_index = a->shard_index, .shard_count = a->shard_count,
                .live = fl[F_LIVE].value != NULL, .profile_hash = in->prof.hash[0] ? in->prof.hash : NULL},
        .opt = {.sched = a->sched, .stop = &g_stop, .progress = on_progress, .shard_index = a->shard_index,
                .shard_count = a->shard_count},
    };
    live_init(&job.live);
    if (fl[F_LIVE].value) {
        job.opt.live = &job.live;
        job.live.settle_ms = a->settle_ms;
        if (strcmp(in->prof.name, "host"))
            fprintf(stderr, "elms sim: warning: --live compares against profile '%s'; the one measured on this machine "
                            "is 'host' (elms calibrate)\n", in->prof.name);
    }
    int rc = 0;
    for (int i = 0; i < a->n_pols && !rc; i++) rc = run_policy(&job, a->pols[i]);
    if (job.n_errs > 0) print_live_table(&job);
    live_free(&job.live);
    fprintf(stderr, "evaluations: %ld computed, %ld from the database, %ld from memory\n", cache.computed,
            cache.db_hits, cache.hits);
    free(git);
    free(cmdline);
    evalcache_free(&cache);
    itemstore_free(&items);
    if (in->dbp && db_commit(in->dbp, &e) && !rc) rc = cli_error("sim", "%s", e.msg);
    return rc;
}

static int cmd_sim(int argc, char **argv) {
    SimArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    SimInputs in;
    rc = load_inputs(&a, &in);
    if (!rc) rc = replay_all(&a, &in, argc, argv);
    free_inputs(&in);
    return rc;
}

CLI_COMMAND("sim", "replay a trace under policies with a device profile and record the results", cmd_sim)
