/* policy_offtheshelf: off-the-shelf smaller models (the ELMS paper's seventh baseline: smaller, independently
 * pre-trained models of the same family, there OPT-2.7B and OPT-1.3B). Here: the base model and the smaller
 * models trained by this project's trainer on the same data (models/small, models/tiny). Offline
 * (`elms prepare offtheshelf --models DIR,DIR`): each smaller model is checked (the base's tokenizer, vocabulary
 * and at least its context; fewer parameters), copied into the policy's folder (NAME/config.json,
 * model.safetensors, NAME = the directory's name) and listed in models.json with its weight hash, most
 * parameters first whatever the order given. Online: the largest model that is feasible (the base, whole, at
 * SLO 1.0: the released code never used it), else the cheapest. All models stay resident (memory counts every one), and
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

/* One smaller model as given to --models. */
typedef struct OtsModel {
    char src[1024];          /* its directory, trailing slashes removed */
    char name[256];          /* its last path component: the folder it is copied to */
    double params;
    char hash[17];
} OtsModel;

/* ots_check: load src and check it against the base: the same tokenizer file, vocabulary and at least the base's
 * context, fewer parameters (the ladder puts the base first). Fills x. */
static int ots_check(const BuildEnv *env, OtsModel *x, Err *e) {
    size_t n = strlen(x->src);
    while (n > 1 && x->src[n - 1] == '/') x->src[--n] = 0;
    const char *base = strrchr(x->src, '/') ? strrchr(x->src, '/') + 1 : x->src;
    if ((size_t)snprintf(x->name, sizeof x->name, "%s", base) >= sizeof x->name)
        return err_set(e, "--models: '%s': name too long", x->src);
    if (!x->name[0] || !strcmp(x->name, ".") || !strcmp(x->name, ".."))
        return err_set(e, "--models: '%s': expected a model directory with a name", x->src);
    char a[1100], b[1400];
    snprintf(a, sizeof a, "%s/tokenizer.json", x->src);
    snprintf(b, sizeof b, "%s/tokenizer.json", env->model_dir);
    int same = same_file(a, b, e);
    if (same < 0) return -1;
    if (!same) return err_set(e, "%s: differs from %s: an off-the-shelf model must share the base's tokenizer", a, b);
    Model m;
    if (model_load(&m, x->src, e)) return -1;
    const ModelConfig *c = &m.cfg, *bc = &env->model->cfg;
    int rc = 0;
    if (c->vocab_size != bc->vocab_size)
        rc = err_set(e, "%s: vocabulary of %d, the base has %d", x->src, c->vocab_size, bc->vocab_size);
    else if (c->max_seq < bc->max_seq)
        rc = err_set(e, "%s: context of %d, shorter than the base's %d (every request must fit)", x->src, c->max_seq,
                     bc->max_seq);
    else if (m.n_params >= env->model->n_params)
        rc = err_set(e, "%s: %zu parameters, not fewer than the base's %zu", x->src, m.n_params, env->model->n_params);
    x->params = (double)m.n_params;
    memcpy(x->hash, m.hash, sizeof x->hash);
    model_free(&m);
    return rc;
}

/* ots_copy: x's config and weights into DIR/NAME, and its entry in list. */
static int ots_copy(const OtsModel *x, const char *dir, cJSON *list, Err *e) {
    char a[1100], b[1600], dst[1400];
    snprintf(dst, sizeof dst, "%s/%s", dir, x->name);
    int rc = io_mkdirs(dst, e);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; !rc && i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", x->src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dst, files[i]);
        rc = dir_copy_file(a, b, e);
    }
    cJSON *o = rc ? NULL : cJSON_CreateObject();
    if (!rc && !o) rc = err_set(e, "out of memory");
    if (rc) return -1;
    cJSON_AddStringToObject(o, "name", x->name);
    cJSON_AddStringToObject(o, "source", x->src);
    cJSON_AddStringToObject(o, "hash", x->hash);
    cJSON_AddNumberToObject(o, "params", x->params);
    cJSON_AddItemToArray(list, o);
    return 0;
}

static int cmp_params_desc(const void *a, const void *b) {
    const OtsModel *x = a, *y = b;
    return x->params > y->params ? -1 : x->params < y->params;
}

/* ots_build: every model of --models checked, ordered most capable (most parameters) first whatever the order
 * given, copied, and listed in models.json. */
static int ots_build(const BuildEnv *env, const char *dir, Err *e) {
    const char *models = env->models ? env->models : "models/small,models/tiny";
    char buf[2048];
    if ((size_t)snprintf(buf, sizeof buf, "%s", models) >= sizeof buf) return err_set(e, "--models: too long");
    OtsModel x[OTS_MAX];
    int rc = 0, n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); !rc && t; t = strtok_r(NULL, ",", &save), n++) {
        if (n == OTS_MAX) rc = err_set(e, "--models: at most %d models", OTS_MAX);
        else if ((size_t)snprintf(x[n].src, sizeof x[n].src, "%s", t) >= sizeof x[n].src) rc = err_set(e, "--models: path too long");
        else rc = ots_check(env, &x[n], e);
        for (int k = 0; !rc && k < n; k++)
            if (!strcmp(x[k].name, x[n].name)) rc = err_set(e, "--models: two models named '%s'", x[n].name);
        build_progress(env, "check models", n + 1, 0);
    }
    if (!rc && n == 0) rc = err_set(e, "--models: no model given");
    if (rc) return -1;
    qsort(x, (size_t)n, sizeof x[0], cmp_params_desc);
    cJSON *j = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(j, "models");
    if (!j || !list) rc = err_set(e, "out of memory");
    for (int k = 0; !rc && k < n; k++) rc = ots_copy(&x[k], dir, list, e);
    char path[1200];
    snprintf(path, sizeof path, "%s/models.json", dir);
    if (!rc) rc = io_write_json(path, j, e);
    cJSON_Delete(j);
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
        const Model *m = &s->model[s->n - 1], *prev = s->n > 1 ? &s->model[s->n - 2] : p->env->base;
        if (m->cfg.vocab_size != p->env->base->cfg.vocab_size || m->cfg.max_seq < p->env->base->cfg.max_seq) {
            rc = err_set(e, "%s: vocabulary or context differs from the base's", mdir);
            break;
        }
        if (m->n_params >= prev->n_params) {
            rc = err_set(e, "%s: models[%d]: expected fewer parameters than the model before it (most capable first)",
                         path, s->n - 1);
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
