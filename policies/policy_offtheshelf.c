/* policy_offtheshelf: off-the-shelf smaller models (the ELMS paper's seventh baseline: smaller, independently
 * pre-trained models of the same family, there OPT-2.7B and OPT-1.3B). Here: the base model and the smaller
 * models trained by this project's trainer on the same data (models/small, models/tiny). Offline
 * (`elms prepare offtheshelf --models DIR,DIR`): each smaller model is copied into the policy's folder
 * (SMALLER_i/config.json, model.safetensors) and listed in models.json with its weight hash; every model must
 * share the base's tokenizer. Online: the largest model that is feasible (the base, whole, at SLO 1.0: the
 * released code never used it), else the cheapest. All models stay resident (memory counts every one), and
 * changing model is priced as the profile's model switch. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "elastic/dirs.h"
#include "engine/io.h"
#include "policies/build.h"
#include "policies/modelset.h"
#include "policies/policy.h"

#define OTS_MAX 8

/* same_file: two files hold the same bytes. */
static int same_file(const char *a, const char *b, Err *e) {
    char *x = NULL, *y = NULL;
    size_t nx, ny;
    if (io_read_file(a, &x, &nx, e)) return -1;
    if (io_read_file(b, &y, &ny, e)) {
        free(x);
        return -1;
    }
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

/* copy_one: model src into DIR/NAME (NAME = src's last path component), checked against the base. */
static int copy_one(const BuildEnv *env, const char *src, const char *dir, cJSON *list, Err *e) {
    const char *name = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
    char a[1200], b[1400], dst[1200];
    snprintf(a, sizeof a, "%s/tokenizer.json", src);
    snprintf(b, sizeof b, "%s/tokenizer.json", env->model_dir);
    int same = same_file(a, b, e);
    if (same < 0) return -1;
    if (!same) return err_set(e, "%s: differs from %s: an off-the-shelf model must share the base's tokenizer", a, b);
    Model m;
    if (model_load(&m, src, e)) return -1;
    int rc = m.cfg.vocab_size == env->model->cfg.vocab_size
                 ? 0
                 : err_set(e, "%s: vocabulary of %d, the base has %d", src, m.cfg.vocab_size, env->model->cfg.vocab_size);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    if (!rc) rc = io_mkdirs(dst, e);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; !rc && i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dst, files[i]);
        rc = dir_copy_file(a, b, e);
    }
    cJSON *o = cJSON_CreateObject();
    if (!rc && o) {
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "source", src);
        cJSON_AddStringToObject(o, "hash", m.hash);
        cJSON_AddNumberToObject(o, "params", (double)m.n_params);
        cJSON_AddItemToArray(list, o);
    } else cJSON_Delete(o);
    model_free(&m);
    return rc;
}

static int ots_build(const BuildEnv *env, const char *dir, Err *e) {
    const char *models = env->models ? env->models : "models/small,models/tiny";
    char buf[2048];
    if ((size_t)snprintf(buf, sizeof buf, "%s", models) >= sizeof buf) return err_set(e, "--models: too long");
    cJSON *j = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(j, "models");
    if (!j || !list) {
        cJSON_Delete(j);
        return err_set(e, "out of memory");
    }
    int rc = 0, n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); !rc && t; t = strtok_r(NULL, ",", &save), n++) {
        if (n == OTS_MAX) rc = err_set(e, "--models: at most %d models", OTS_MAX);
        else rc = copy_one(env, t, dir, list, e);
        build_progress(env, "copy models", n + 1, 0);
    }
    if (!rc && n == 0) rc = err_set(e, "--models: no model given");
    char *text = rc ? NULL : cJSON_Print(j), path[1200];
    cJSON_Delete(j);
    if (!rc && !text) rc = err_set(e, "out of memory");
    snprintf(path, sizeof path, "%s/models.json", dir);
    if (!rc) rc = io_write_atomic(path, text, strlen(text), e);
    free(text);
    return rc;
}

static int ots_prepare(Policy *p, Err *e) {
    if (modelset_attach(p, e)) return -1;
    ModelSet *s = p->state;
    char dir[1200], path[1300];
    if (policy_artefacts(p, dir, sizeof dir, e)) return -1;
    snprintf(path, sizeof path, "%s/models.json", dir);
    cJSON *j;
    if (io_read_json(path, &j, e)) return -1;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "models"), *o;
    int rc = cJSON_IsArray(list) && cJSON_GetArraySize(list) <= OTS_MAX
                 ? 0 : err_set(e, "%s: models: expected an array of at most %d models", path, OTS_MAX);
    const cJSON *walk = rc ? NULL : list;
    cJSON_ArrayForEach(o, walk) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name"), *hash = cJSON_GetObjectItemCaseSensitive(o, "hash");
        if (!cJSON_IsString(name) || !cJSON_IsString(hash) || strchr(name->valuestring, '/')) {
            rc = err_set(e, "%s: models[%d]: expected a name and a hash", path, s->n);
            break;
        }
        char mdir[1500];
        snprintf(mdir, sizeof mdir, "%s/%s", dir, name->valuestring);
        if (model_load(&s->model[s->n], mdir, e)) {
            rc = -1;
            break;
        }
        s->n++;
        if (strcmp(s->model[s->n - 1].hash, hash->valuestring)) {
            rc = err_set(e, "%s: weights differ from the hash in %s", mdir, path);
            break;
        }
        if (s->model[s->n - 1].cfg.vocab_size != p->env->base->cfg.vocab_size) {
            rc = err_set(e, "%s: vocabulary differs from the base's", mdir);
            break;
        }
    }
    cJSON_Delete(j);
    return rc;
}

static int ots_create(Policy *p, Err *e) {
    (void)e;
    p->build = ots_build;
    p->prepare = ots_prepare;
    p->decide = modelset_policy_decide;
    p->memory = modelset_policy_memory;
    p->destroy = modelset_policy_destroy;
    return 0;
}

POLICY_REGISTER("offtheshelf", "baseline: the largest of the base and smaller independently trained models that is feasible",
                ots_create)
