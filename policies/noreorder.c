/* noreorder: the un-reordered elastic model of the elms-noreorder ablation (policies/noreorder.h). */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "elastic/dirs.h"
#include "elastic/elastic_meta.h"
#include "elastic/levels.h"
#include "elastic/recover.h"
#include "engine/data.h"
#include "engine/io.h"
#include "policies/noreorder.h"

#define WORK_NAME "elms-noreorder.work"

int noreorder_undo(Model *m, ElasticMeta *meta, Err *e) {
    int na = meta->n_attn, nf = meta->n_ffn;
    int *inv_a = malloc(sizeof(int) * (size_t)na), *inv_f = malloc(sizeof(int) * (size_t)nf);
    double *imp = malloc(sizeof(double) * (size_t)(na > nf ? na : nf));
    if (!inv_a || !inv_f || !imp) {
        free(inv_a);
        free(inv_f);
        free(imp);
        return err_set(e, "out of memory");
    }
    int rc = 0;
    for (int l = 0; l < meta->n_layers && !rc; l++) {
        int *oa = meta->attn_order + (size_t)l * na, *of = meta->ffn_order + (size_t)l * nf;
        double *ia = meta->attn_imp + (size_t)l * na, *iff = meta->ffn_imp + (size_t)l * nf;
        /* reordered unit i = original unit order[i]; the original unit j = reordered unit inv[j] */
        for (int i = 0; i < na; i++) inv_a[oa[i]] = i;
        for (int i = 0; i < nf; i++) inv_f[of[i]] = i;
        rc = model_permute_units(m, l, inv_a, inv_f, e);
        for (int i = 0; i < na; i++) imp[oa[i]] = ia[i];
        memcpy(ia, imp, sizeof(double) * (size_t)na);
        for (int i = 0; i < nf; i++) imp[of[i]] = iff[i];
        memcpy(iff, imp, sizeof(double) * (size_t)nf);
        for (int i = 0; i < na; i++) oa[i] = i;
        for (int i = 0; i < nf; i++) of[i] = i;
    }
    free(inv_a);
    free(inv_f);
    free(imp);
    if (!rc) model_rehash(m);
    return rc;
}

/* source_matches: work/source.json records the hash of the reordered weights it was made from. */
static bool source_matches(const char *work, const char *hash) {
    char path[1400];
    snprintf(path, sizeof path, "%s/source.json", work);
    cJSON *j = NULL;
    Err ignore;
    if (!path_is_file(path) || io_read_json(path, &j, &ignore)) return false;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "source_hash");
    bool same = cJSON_IsString(h) && !strcmp(h->valuestring, hash);
    cJSON_Delete(j);
    return same;
}

/* write_model: the un-reordered model, its elastic.json and tokenizer into work (staged, then swapped in), and
 * source.json last */
static int write_model(const BuildEnv *env, const char *work, Err *e) {
    char path[1400], src[1400], tmp[1300];
    ElasticMeta meta = {0};
    Model m;
    memset(&m, 0, sizeof m);
    snprintf(path, sizeof path, "%s/elastic.json", env->model_dir);
    int rc = elastic_meta_read(&meta, &env->model->cfg, path, e);
    if (!rc) rc = model_copy(env->model, &m, e);
    if (!rc) rc = noreorder_undo(&m, &meta, e);
    if (!rc) rc = dir_stage(work, tmp, sizeof tmp, e);
    if (rc) goto done;
    /* F16 weights stay F16 (a permutation moves values, it does not round them) */
    StDtype dtype = model_stored_dtype(env->model_dir);
    Err ignore;
    const char *name = strrchr(env->model_dir, '/'); /* the directory's name, as elms reorder records it */
    name = name && name[1] ? name + 1 : env->model_dir;
    snprintf(meta.source, sizeof meta.source, "%s (its reordering undone)", name);
    meta.max_abs_diff = -1;
    snprintf(path, sizeof path, "%s/elastic.json", tmp);
    rc = model_save(&m, tmp, dtype, e) || elastic_meta_write(&meta, path, e);
    snprintf(src, sizeof src, "%s/tokenizer.json", env->model_dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    if (!rc && path_is_file(src)) rc = dir_copy_file(src, path, e);
    if (!rc) {
        cJSON *j = cJSON_CreateObject();
        if (!j) rc = err_set(e, "out of memory");
        else {
            cJSON_AddStringToObject(j, "source_hash", env->model->hash);
            snprintf(path, sizeof path, "%s/source.json", tmp);
            rc = io_write_json(path, j, e);
            cJSON_Delete(j);
        }
    }
    if (!rc) rc = dir_replace(tmp, work, e);
    if (rc) dir_remove_tree(tmp, &ignore);
done:
    model_free(&m);
    elastic_meta_free(&meta);
    return rc;
}

typedef struct LogCtx {
    const BuildEnv *env;
    char stage[64];
    long steps;
} LogCtx;

static int log_step(void *ctx, const TrainLogRow *row) {
    const LogCtx *c = ctx;
    build_progress(c->env, c->stage, row->step, c->steps);
    return 0;
}

/* train_adapters: the eight level adapters of the model in work (each resumes from its checkpoint) */
static int train_adapters(const BuildEnv *env, const char *work, Err *e) {
    Model m;
    TokenData train = {0}, val = {0};
    char corpus[1300], vpath[1300];
    snprintf(corpus, sizeof corpus, "%s/corpus/train.bin", env->data_dir);
    snprintf(vpath, sizeof vpath, "%s/corpus/val.bin", env->data_dir);
    if (model_load(&m, work, e)) return -1;
    unsigned char anchor[ELMS_MAX_LAYERS];
    int n_anchors = 0, rc = levels_read_anchors(work, m.cfg.n_layers, anchor, &n_anchors, e);
    if (!rc) rc = data_load(&train, corpus, m.cfg.vocab_size, e);
    if (!rc && path_is_file(vpath)) rc = data_load(&val, vpath, m.cfg.vocab_size, e);
    RecoverOpts o;
    recover_opts_default(&o, &m.cfg);
    o.eval = val.tok ? &val : NULL;
    LogCtx lc = {.env = env, .steps = o.train.steps};
    o.log = log_step;
    o.log_ctx = &lc;
    for (int i = 0; i < N_LEVELS && !rc; i++) {
        if (LEVELS[i] >= 1.0) continue;
        snprintf(lc.stage, sizeof lc.stage, "adapter of level %.1f", LEVELS[i]);
        RecoverResult r;
        rc = recover_level(&m, anchor, LEVELS[i], &train, work, &o, false, &r, e);
        if (!rc && !r.skipped)
            fprintf(stderr, "elms-noreorder: level %.1f loss_before %.4f loss_after %.4f%s\n", LEVELS[i],
                    r.loss_before, r.loss_after, r.resumed ? " (resumed)" : "");
    }
    data_free(&val);
    data_free(&train);
    model_free(&m);
    return rc;
}

int noreorder_build(const BuildEnv *env, const char *dir, Err *e) {
    if (!env->data_dir) return err_set(e, "no data directory (the adapters train on DATA/corpus/train.bin)");
    char work[1300], a[1400], b[1400];
    if ((size_t)snprintf(work, sizeof work, "%s/policies/" WORK_NAME, env->model_dir) >= sizeof work)
        return err_set(e, "%s: path too long", env->model_dir);
    if (!source_matches(work, env->model->hash)) {
        Err ignore;
        dir_remove_tree(work, &ignore); /* made from other weights, or never finished */
        if (write_model(env, work, e)) return -1;
    }
    if (train_adapters(env, work, e)) return -1;
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json", "elastic.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", work, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        if (path_is_file(a) && dir_copy_file(a, b, e)) return -1;
    }
    snprintf(b, sizeof b, "%s/lora", dir);
    if (io_mkdirs(b, e)) return -1;
    for (int i = 0; i < N_LEVELS; i++) {
        if (LEVELS[i] >= 1.0) continue;
        if (recover_adapter_path(a, sizeof a, work, LEVELS[i]) || recover_adapter_path(b, sizeof b, dir, LEVELS[i]))
            return err_set(e, "%s: path too long", dir);
        if (dir_copy_file(a, b, e)) return -1;
    }
    Err ignore;
    dir_remove_tree(work, &ignore); /* the build directory holds everything now */
    return 0;
}
