/* elms prepare: build a policy's offline artefacts into MODEL/policies/POLICY/ (policies/build.h), with
 * progress and a final cost line `cost POLICY C cpu_min`. POLICY may be `all` (every policy that prepares
 * something, in name order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_args.h"
#include "cli/grid_wiring.h"
#include "policies/build.h"
#include "policies/policy.h"

enum { F_MODEL, F_DATA, F_FORCE, F_WINDOWS, F_SEQ, F_SEED, F_LACO, F_MODELS, F_DB, F_SP_WINDOWS, F_SP_RANK, F_N };

/* prepare_one: build name and print its cost line; 0, or 1 after printing the error. */
static int prepare_one(const char *name, BuildEnv *env, bool force) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "prepare %s:", name);
    StageProgress sp;
    stage_progress_init(&sp, prefix);
    env->progress_ctx = &sp;
    BuildReport rep;
    Err e;
    int rc = policy_build(name, env, force, &rep, &e);
    stage_progress_finish(&sp);
    if (rc) return cli_error("prepare", "%s", e.msg);
    if (rep.skipped) fprintf(stderr, "prepare %s: %s exists (recorded cost below; --force rebuilds it)\n", name, rep.dir);
    else printf("wrote %s\n", rep.dir);
    printf("cost %s %.4f cpu_min (%.1f s wall)\n", name, rep.cpu_s / 60.0, rep.wall_s);
    fflush(stdout);
    return 0;
}

static int cmd_prepare(int argc, char **argv) {
    CliFlag fl[F_N] = {
        [F_MODEL] = {"model", "DIR", "model directory (the reordered base); artefacts go to DIR/policies/POLICY", NULL},
        [F_DATA] = {"data", "DIR", "data directory (calibration windows from DIR/corpus/train.bin)", "data"},
        [F_FORCE] = {"force", NULL, "rebuild artefacts that already exist", NULL},
        [F_WINDOWS] = {"calib-windows", "N", "calibration windows for layer and sub-block rankings", "32"},
        [F_SEQ] = {"calib-seq", "T", "tokens per calibration window", "128"},
        [F_SEED] = {"seed", "S", "seed of the calibration windows", "1"},
        [F_LACO] = {"laco-threshold", "X", "laco: initial similarity threshold (default: the LaCo option default)", NULL},
        [F_MODELS] = {"models", "DIR[,DIR]", "offtheshelf: smaller models, most capable first", "models/small,models/tiny"},
        [F_DB] = {"db", "FILE", "elms: results database whose evaluation cache the tiny LM's labels use",
                  "results/elms.db"},
        [F_SP_WINDOWS] = {"sparsity-windows", "N",
                          "dejavu: training windows of the neuron predictors (1 in 8 more held out)", "512"},
        [F_SP_RANK] = {"sparsity-rank", "R", "dejavu: the predictors' hidden width (0: chosen from a sweep of 8..128)",
                       "0"},
    };
    const char *pos[2];
    int n_pos = 0;
    int pr = cli_parse(argc, argv, "elms prepare POLICY|all --model DIR --data DIR [--force] [options]", fl, F_N, pos, 2,
                       &n_pos);
    if (pr) return pr > 0 ? 0 : 2;
    if (n_pos != 1 || !fl[F_MODEL].value) {
        fprintf(stderr, "elms prepare: a policy name (or all) and --model are required (see --help)\n");
        return 2;
    }
    long windows, seq, seed, sp_windows, sp_rank;
    BuildEnv env;
    build_env_defaults(&env);
    if (cli_int("prepare", "calib-windows", fl[F_WINDOWS].value, 1, 100000, &windows) ||
        cli_int("prepare", "calib-seq", fl[F_SEQ].value, 2, 1 << 20, &seq) ||
        cli_int("prepare", "seed", fl[F_SEED].value, 0, 4294967295L, &seed) ||
        cli_int("prepare", "sparsity-windows", fl[F_SP_WINDOWS].value, 1, 100000, &sp_windows) ||
        cli_int("prepare", "sparsity-rank", fl[F_SP_RANK].value, 0, 4096, &sp_rank) ||
        (fl[F_LACO].value && cli_double("prepare", "laco-threshold", fl[F_LACO].value, &env.laco_threshold)))
        return 2;
    const char *names[64];
    int n = 0;
    if (!strcmp(pos[0], "all")) {
        const char *all[64];
        int na = policy_names(all, NULL, 64);
        for (int i = 0; i < na; i++) {
            Policy p;
            Err e;
            if (!policy_create(&p, all[i], &e) && p.build) names[n++] = all[i];
            policy_destroy(&p);
        }
    } else {
        Policy p;
        Err e;
        if (policy_create(&p, pos[0], &e)) {
            cli_error("prepare", "%s", e.msg);
            return 2;
        }
        bool builds = p.build != NULL;
        policy_destroy(&p);
        if (!builds) return cli_error("prepare", "policy %s has nothing to prepare (it uses the model as it is)", pos[0]);
        names[n++] = pos[0];
    }
    EngineModel em;
    if (engine_model_load("prepare", fl[F_MODEL].value, &em)) return 1;
    char *cmdline = cli_command_line(argc, argv);
    env.model = &em.model;
    env.model_dir = fl[F_MODEL].value;
    env.tok = em.has_tok ? &em.tok : NULL;
    env.data_dir = fl[F_DATA].value;
    env.calib_windows = (int)windows;
    env.calib_seq = (int)seq;
    env.seed = (unsigned long)seed;
    env.models = fl[F_MODELS].value;
    env.sparsity_windows = (int)sp_windows;
    env.sparsity_rank = (int)sp_rank;
    env.command = cmdline;
    env.progress = stage_progress_report;
    int rc = 0, evaluates = 0;
    for (int i = 0; i < n; i++) evaluates |= !strcmp(names[i], "elms") || !strcmp(names[i], "elms-loo"); /* tiny LMs */
    GridWiring w;
    if (evaluates && em.has_tok) {
        if (grid_wiring_open(&w, "prepare", fl[F_DB].value, "none", env.seed, &em.model, &em.tok)) {
            free(cmdline);
            engine_model_free(&em);
            return 1;
        }
        env.ev = &w.ev;
    }
    for (int i = 0; i < n && !rc; i++) rc = prepare_one(names[i], &env, fl[F_FORCE].value != NULL);
    if (env.ev && grid_wiring_close(&w) && !rc) rc = 1;
    free(cmdline);
    engine_model_free(&em);
    return rc;
}

CLI_COMMAND("prepare", "build a policy's offline artefacts into MODEL/policies/POLICY (or all of them)", cmd_prepare)
