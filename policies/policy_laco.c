/* policy_laco: LaCo (Yang et al., "LaCo: Large Language Model Pruning via Layer Collapse", 2024). Offline: for
 * every depth from n_layers - 1 down to one layer (layer 0 is merged only for the one-layer model, so that the
 * method has a configuration for the tightest SLOs), the LaCo algorithm (elastic/laco.h: runs of adjacent layers collapsed into one by adding parameter differences,
 * theta = theta_l + sum_k (theta_{l+k} - theta_l), a merge accepted while the cosine similarity of the final
 * hidden states on calibration windows stays above a threshold, lowered when a pass accepts nothing) on the
 * training corpus; laco.json records each depth's merges (first layer and count, in the order applied), its
 * similarity and the log. Online: the merged models are rebuilt from the base by replaying the merges (they are
 * separate weights: all of them stay resident and memory counts every one; a change of model is priced as the
 * profile's model switch), and the deepest feasible model is chosen, the base itself first, else the cheapest. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/laco.h"
#include "engine/io.h"
#include "policies/build.h"
#include "policies/modelset.h"
#include "policies/policy.h"


/* parse_merges: the (first, count) pairs of laco_collapse's log lines "merge COUNT layers at FIRST: ...". */
static cJSON *parse_merges(const char *log) {
    cJSON *a = cJSON_CreateArray();
    for (const char *p = log; a && p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        int count, first;
        if (sscanf(p, "merge %d layers at %d:", &count, &first) == 2) {
            int pair[2] = {first, count};
            cJSON_AddItemToArray(a, cJSON_CreateIntArray(pair, 2));
        }
    }
    return a;
}

static int laco_build(const BuildEnv *env, const char *dir, Err *e) {
    Calib c;
    if (build_calib(env, &c, e)) return -1;
    LacoOptions o;
    laco_options_default(&o);
    if (!isnan(env->laco_threshold)) o.threshold = env->laco_threshold;
    const Model *m = env->model;
    cJSON *j = cJSON_CreateObject(), *levels = cJSON_AddArrayToObject(j, "levels");
    int rc = j && levels ? 0 : err_set(e, "out of memory");
    cJSON *opt = rc ? NULL : cJSON_AddObjectToObject(j, "options");
    if (opt) {
        cJSON_AddNumberToObject(opt, "merge_layers", o.merge_layers);
        cJSON_AddNumberToObject(opt, "interval", o.interval);
        cJSON_AddNumberToObject(opt, "threshold", o.threshold);
        cJSON_AddNumberToObject(opt, "threshold_step", o.threshold_step);
        cJSON_AddNumberToObject(opt, "lowest", o.lowest);
    }
    int L = m->cfg.n_layers, total = L - 1;
    static char log[16384];
    for (int k = L - 1; !rc && k >= 1; k--) {
        build_progress(env, "collapse", L - 1 - k, total);
        LacoOptions ok = o; /* below lowest + 1 layers, the bottom layers may be merged too (down to one layer) */
        if (k < ok.lowest + 1) ok.lowest = k - 1;
        Model out;
        double sim;
        if (laco_collapse(m, &c, k, &ok, &out, log, sizeof log, e)) {
            rc = err_prefix(e, "collapsing to %d layers", k);
            break;
        }
        rc = laco_similarity(&out, m, &c, &sim, e);
        cJSON *lv = cJSON_CreateObject();
        if (!rc && lv) {
            cJSON_AddNumberToObject(lv, "layers", out.cfg.n_layers);
            cJSON_AddStringToObject(lv, "hash", out.hash);
            cJSON_AddNumberToObject(lv, "similarity", sim);
            cJSON_AddItemToObject(lv, "merges", parse_merges(log));
            cJSON_AddStringToObject(lv, "log", log);
            cJSON_AddItemToArray(levels, lv);
        } else cJSON_Delete(lv);
        model_free(&out);
    }
    build_progress(env, "collapse", total, total);
    char path[1200];
    snprintf(path, sizeof path, "%s/laco.json", dir);
    if (!rc) rc = io_write_json(path, j, e);
    cJSON_Delete(j);
    calib_free(&c);
    return rc;
}

/* replay: the merged model of one laco.json level, rebuilt from base by applying its merges in order. */
static int replay(const Model *base, const cJSON *merges, const char *path, int li, Model *out, Err *e) {
    Model cur;
    if (laco_merge(base, 0, 1, &cur, e)) return -1; /* a copy */
    const cJSON *mg;
    int i = 0;
    cJSON_ArrayForEach(mg, merges) {
        long f, c;
        char at[1600];
        snprintf(at, sizeof at, "%s: field levels[%d].merges[%d]", path, li, i);
        if (!cJSON_IsArray(mg) || cJSON_GetArraySize(mg) != 2) {
            model_free(&cur);
            return err_set(e, "%s: expected [first, count]", at);
        }
        if (io_json_int(cJSON_GetArrayItem(mg, 0), NULL, 0, ELMS_MAX_LAYERS, &f, at, e) ||
            io_json_int(cJSON_GetArrayItem(mg, 1), NULL, 0, ELMS_MAX_LAYERS, &c, at, e)) {
            model_free(&cur);
            return -1;
        }
        Model next;
        if (laco_merge(&cur, (int)f, (int)c, &next, e)) {
            model_free(&cur);
            return err_prefix(e, "%s: levels[%d].merges[%d]", path, li, i);
        }
        model_free(&cur);
        cur = next;
        i++;
    }
    *out = cur;
    return 0;
}

static int laco_prepare(Policy *p, Err *e) {
    if (modelset_attach(p, e)) return -1;
    ModelSet *s = p->state;
    char dir[1200], path[1300];
    if (policy_artefacts(p, dir, sizeof dir, e)) return -1;
    snprintf(path, sizeof path, "%s/laco.json", dir);
    cJSON *j;
    if (io_read_json(path, &j, e)) return -1;
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(j, "levels"), *lv;
    int rc = cJSON_IsArray(levels) && cJSON_GetArraySize(levels) <= MODELSET_MAX
                 ? 0 : err_set(e, "%s: levels: expected an array", path);
    const cJSON *walk = rc ? NULL : levels;
    cJSON_ArrayForEach(lv, walk) {
        const cJSON *mg = cJSON_GetObjectItemCaseSensitive(lv, "merges"), *ly = cJSON_GetObjectItemCaseSensitive(lv, "layers");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(lv, "hash");
        long n_ly = 0;
        char at[1600];
        snprintf(at, sizeof at, "%s: field levels[%d]", path, s->n);
        if (!cJSON_IsArray(mg) || !ly || !cJSON_IsString(h)) {
            rc = err_set(e, "%s: expected layers, hash and merges", at);
            break;
        }
        if ((rc = io_json_int(ly, NULL, 1, ELMS_MAX_LAYERS, &n_ly, at, e))) break;
        if ((rc = replay(p->env->base, mg, path, s->n, &s->model[s->n], e))) break;
        s->n++;
        const Model *m = &s->model[s->n - 1];
        if (m->cfg.n_layers != (int)n_ly || strcmp(m->hash, h->valuestring)) {
            rc = err_set(e, "%s: the merges give a model of %d layers with hash %s, not the recorded %ld layers with "
                         "hash %s", at, m->cfg.n_layers, m->hash, n_ly, h->valuestring);
            break;
        }
    }
    cJSON_Delete(j);
    return rc;
}

static int laco_create(Policy *p, Err *e) {
    (void)e;
    p->build = laco_build;
    p->prepare = laco_prepare;
    p->decide = modelset_policy_decide;
    p->memory = modelset_policy_memory;
    p->destroy = modelset_policy_destroy;
    return 0;
}

POLICY_REGISTER("laco", "baseline: the deepest LaCo layer-collapsed model that is feasible", laco_create)
