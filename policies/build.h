/* build: offline preparation of a policy (`elms prepare POLICY`). A policy's artefacts (rankings, merged models,
 * manifests of the models it uses, predictors, a tiny LM) go into one folder per policy inside the model
 * directory, MODEL/policies/POLICY/, staged in POLICY.tmp.XXXXXX and renamed when complete, with a manifest
 * `prepare.json` recording the policy, the weights it was prepared for (model hash), the options, the command, and
 * the cost (CPU and wall time of the build). `elms sim` only loads these folders (policy_artefacts). */
#ifndef ELMS_BUILD_H
#define ELMS_BUILD_H

#include <stdbool.h>

#include "elastic/calib.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

#define BUILD_SPARSITY_WINDOWS 512

/* What a build reads: the model (already loaded), its directory, the data directory (calibration windows come
 * from DATA/corpus/train.bin) and the build options. */
typedef struct BuildEnv {
    const Model *model;
    const char *model_dir;
    const Tokenizer *tok;
    const char *data_dir;
    int calib_windows;        /* calibration windows for layer rankings (default 32) */
    int calib_seq;            /* tokens per window (default 128) */
    unsigned long seed;       /* seed of the windows (default 1) */
    double laco_threshold;    /* laco: initial similarity threshold (NAN: laco_options_default's) */
    const char *models;       /* offtheshelf: comma-separated model directories, most capable first; the
                                 policy's model directory itself stands for the base */
    int sparsity_windows;     /* dejavu: windows of calib_seq tokens whose activation traces train the neuron
                                 predictors (default 512); one more for every eight is held out for recall */
    int sparsity_rank;        /* dejavu: the predictors' hidden width r; 0 (default) = chosen from a sweep */
    const char *command;      /* the command line, recorded in prepare.json (may be NULL) */
    struct Evaluator *ev;     /* the one evaluation path for builds that evaluate items (elms), with the
                                 caller's store; NULL: a store-less evaluator of the build's own */
    /* progress (may be NULL): stage name, units done of total */
    void (*progress)(void *ctx, const char *stage, long done, long total);
    void *progress_ctx;
} BuildEnv;

typedef struct BuildReport {
    bool skipped;             /* the folder existed and force was not set */
    double cpu_s, wall_s;     /* of this build (or the recorded ones when skipped) */
    char dir[1024];
} BuildReport;

/* build_env_defaults: the defaults above (model, dirs and tokenizer left NULL). */
void build_env_defaults(BuildEnv *env);

/* policy_build: build policy name's artefacts into MODEL/policies/NAME/ (see the header). An existing folder
 * prepared for the same weights (its model hash) and options is kept (skipped = true, its recorded cost
 * reported) unless force; one prepared for other weights or options is rebuilt. Fails for an unknown policy or
 * one that prepares nothing, leaving no folder behind (an existing one stays as it was). */
int policy_build(const char *name, const BuildEnv *env, bool force, BuildReport *out, Err *e);

/* build_calib: the calibration windows of env (DATA/corpus/train.bin, calib_windows x calib_seq, seed). */
int build_calib(const BuildEnv *env, Calib *c, Err *e);

/* build_progress: report progress through env's callback, if any. */
void build_progress(const BuildEnv *env, const char *stage, long done, long total);

#endif
