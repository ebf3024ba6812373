/* build: the `elms prepare` driver (see build.h). */
#include "policies/build.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/fileutil.h"
#include "elastic/dirs.h"
#include "engine/data.h"
#include "engine/io.h"
#include "policies/policy.h"

void build_env_defaults(BuildEnv *env) {
    memset(env, 0, sizeof *env);
    env->calib_windows = 32;
    env->calib_seq = 128;
    env->seed = 1;
    env->laco_threshold = NAN; /* laco_options_default */
    env->sparsity_windows = BUILD_SPARSITY_WINDOWS;
}

void build_progress(const BuildEnv *env, const char *stage, long done, long total) {
    if (env->progress) env->progress(env->progress_ctx, stage, done, total);
}

int build_calib(const BuildEnv *env, Calib *c, Err *e) {
    if (!env->data_dir) return err_set(e, "calibration windows need the data directory (--data)");
    char path[1200];
    snprintf(path, sizeof path, "%s/corpus/train.bin", env->data_dir);
    if (env->calib_seq > env->model->cfg.max_seq)
        return err_set(e, "calibration windows of %d tokens exceed the model context of %d", env->calib_seq,
                       env->model->cfg.max_seq);
    TokenData d;
    if (data_load(&d, path, env->model->cfg.vocab_size, e)) return -1;
    int rc = calib_sample(c, &d, env->calib_windows, env->calib_seq, env->seed, e);
    data_free(&d);
    return rc;
}

/* options_key: the build options as one string (recorded in prepare.json; a change rebuilds). The sparsity options
 * appear only when they differ from their defaults, so that folders prepared before they existed stay valid. */
static void options_key(const BuildEnv *env, char *out, size_t cap) {
    int n = snprintf(out, cap, "calib %dx%d seed %lu laco-threshold %g models %s", env->calib_windows, env->calib_seq,
                     env->seed, env->laco_threshold, env->models ? env->models : "-");
    if (n < 0 || (size_t)n >= cap) return;
    if (env->sparsity_windows != BUILD_SPARSITY_WINDOWS || env->sparsity_rank != 0)
        snprintf(out + n, cap - (size_t)n, " sparsity %d rank %d", env->sparsity_windows, env->sparsity_rank);
}

/* read_recorded: whether DIR/prepare.json exists and was prepared for weights with hash model_hash and the
 * options of env; if so, the cost it records goes into out. */
static bool read_recorded(const char *dir, const BuildEnv *env, BuildReport *out) {
    const char *model_hash = env->model->hash;
    char path[1300];
    snprintf(path, sizeof path, "%s/prepare.json", dir);
    cJSON *j;
    Err e;
    if (!path_is_file(path) || io_read_json(path, &j, &e)) return false;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cpu_s"), *w = cJSON_GetObjectItemCaseSensitive(j, "wall_s");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "model_hash"), *o = cJSON_GetObjectItemCaseSensitive(j, "options");
    char opts[2300];
    options_key(env, opts, sizeof opts);
    bool same = cJSON_IsString(h) && !strcmp(h->valuestring, model_hash) && cJSON_IsString(o) &&
                !strcmp(o->valuestring, opts);
    Err ignore; /* the cost line is informative: an odd value is left out */
    if (same && c) io_json_double(c, NULL, 0, HUGE_VAL, &out->cpu_s, path, &ignore);
    if (same && w) io_json_double(w, NULL, 0, HUGE_VAL, &out->wall_s, path, &ignore);
    cJSON_Delete(j);
    return same;
}

/* write_manifest: DIR/prepare.json for a finished build. */
static int write_manifest(const char *dir, const char *name, const BuildEnv *env, double cpu_s, double wall_s,
                          Err *e) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return err_set(e, "out of memory");
    cJSON_AddStringToObject(j, "format", "elms-policy-1");
    cJSON_AddStringToObject(j, "policy", name);
    cJSON_AddStringToObject(j, "model_hash", env->model->hash);
    if (env->command) cJSON_AddStringToObject(j, "command", env->command);
    char opts[2300];
    options_key(env, opts, sizeof opts);
    cJSON_AddStringToObject(j, "options", opts);
    cJSON *cal = cJSON_AddObjectToObject(j, "calibration");
    if (cal) {
        cJSON_AddStringToObject(cal, "corpus", "corpus/train.bin");
        cJSON_AddNumberToObject(cal, "windows", env->calib_windows);
        cJSON_AddNumberToObject(cal, "seq", env->calib_seq);
        cJSON_AddNumberToObject(cal, "seed", (double)env->seed);
    }
    cJSON_AddNumberToObject(j, "cpu_s", cpu_s);
    cJSON_AddNumberToObject(j, "wall_s", wall_s);
    cJSON_AddNumberToObject(j, "cpu_min", cpu_s / 60.0);
    char path[1300];
    snprintf(path, sizeof path, "%s/prepare.json", dir);
    int rc = io_write_json(path, j, e);
    cJSON_Delete(j);
    return rc;
}

int policy_build(const char *name, const BuildEnv *env, bool force, BuildReport *out, Err *e) {
    memset(out, 0, sizeof *out);
    Policy p;
    if (policy_create(&p, name, e)) return -1;
    bool builds = p.build != NULL;
    int (*build)(const struct BuildEnv *, const char *, Err *) = p.build;
    policy_destroy(&p);
    if (!builds) return err_set(e, "policy %s has nothing to prepare", name);
    if (!env->model || !env->model->hash[0]) return err_set(e, "policy %s: no model (with a weight hash) to prepare", name);
    char root[1100], tmp[1200];
    snprintf(root, sizeof root, "%s/policies", env->model_dir);
    if ((size_t)snprintf(out->dir, sizeof out->dir, "%s/%s", root, name) >= sizeof out->dir)
        return err_set(e, "%s: path too long", root);
    if (!force && read_recorded(out->dir, env, out)) {
        out->skipped = true;
        return 0;
    }
    /* a staging directory of its own (two builds at once never share one; a killed build leaves it behind) */
    if (dir_stage(out->dir, tmp, sizeof tmp, e)) return -1;
    double w0 = clock_wall_s(), c0 = clock_cpu_s();
    int rc = build(env, tmp, e);
    if (rc) err_prefix(e, "elms prepare %s", name);
    out->wall_s = clock_wall_s() - w0;
    out->cpu_s = clock_cpu_s() - c0;
    if (!rc) rc = write_manifest(tmp, name, env, out->cpu_s, out->wall_s, e);
    if (!rc) rc = dir_replace(tmp, out->dir, e);
    if (rc) {
        Err ignore;
        dir_remove_tree(tmp, &ignore);
    }
    return rc;
}
