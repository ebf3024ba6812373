/* policy: the policy registry and the checks applied to every decision (see policy.h). */
#include "policies/policy.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "engine/io.h"

typedef struct PolicyEntry {
    const char *name, *summary;
    PolicyCreateFn fn;
} PolicyEntry;

static PolicyEntry g_policies[64];
static int g_n_policies;

void policy_register(const char *name, const char *summary, PolicyCreateFn fn) {
    if (g_n_policies < (int)(sizeof g_policies / sizeof g_policies[0]))
        g_policies[g_n_policies++] = (PolicyEntry){name, summary, fn};
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const PolicyEntry *)a)->name, ((const PolicyEntry *)b)->name);
}

int policy_names(const char **names, const char **summaries, int max) {
    qsort(g_policies, (size_t)g_n_policies, sizeof g_policies[0], cmp_entry);
    int n = 0;
    for (int i = 0; i < g_n_policies && n < max; i++, n++) {
        if (names) names[n] = g_policies[i].name;
        if (summaries) summaries[n] = g_policies[i].summary;
    }
    return n;
}

int policy_create(Policy *p, const char *name, Err *e) {
    memset(p, 0, sizeof *p);
    for (int i = 0; i < g_n_policies; i++)
        if (!strcmp(g_policies[i].name, name)) {
            if (g_policies[i].fn(p, e)) return -1;
            if (!p->name) p->name = g_policies[i].name;
            if (!p->decide) return err_set(e, "policy %s: no decide function", name);
            return 0;
        }
    char list[512] = "";
    const char *names[64];
    int n = policy_names(names, NULL, 64);
    for (int i = 0; i < n; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return err_set(e, "unknown policy '%s' (expected one of: %s)", name, list);
}

int policy_prepare(Policy *p, const PolicyEnv *env, Err *e) {
    p->env = env;
    if (p->prepare && p->prepare(p, e)) return err_prefix(e, "policy %s: prepare", p->name);
    return 0;
}

int policy_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    memset(d, 0, sizeof *d);
    if (p->decide(p, r, d, e)) return err_prefix(e, "policy %s: request %ld", p->name, r->id);
    if (!d->model) return err_set(e, "policy %s: request %ld: decision names no model", p->name, r->id);
    if (view_check(d->model, &d->view, e)) return err_prefix(e, "policy %s: request %ld", p->name, r->id);
    if (!(d->level > 0 && d->level <= 1.0 + 1e-9) || !(d->ratio > 0 && d->ratio <= 1.0 + 1e-9))
        return err_set(e, "policy %s: request %ld: labels level %g, ratio %g outside (0, 1]", p->name, r->id,
                       d->level, d->ratio);
    if (!(d->tlm_tokens >= 0) || !(d->tlm_scale >= 0) || !(d->extra_lin >= 0))
        return err_set(e, "policy %s: request %ld: negative overheads", p->name, r->id);
    if (d->view.ffn_select && !d->select_key)
        return err_set(e, "policy %s: request %ld: a view with ffn_select needs a select_key", p->name, r->id);
    return 0;
}

void policy_destroy(Policy *p) {
    if (p->destroy) p->destroy(p);
    memset(p, 0, sizeof *p);
}

void decision_full(const PolicyEnv *env, Decision *d) {
    memset(d, 0, sizeof *d);
    d->model = env->base;
    view_full(env->base, &d->view);
    d->level = 1.0;
    d->ratio = 1.0;
}

const char *policy_summary(const char *name) {
    for (int i = 0; i < g_n_policies; i++)
        if (!strcmp(g_policies[i].name, name)) return g_policies[i].summary;
    return NULL;
}

int policy_artefacts_named(const Policy *p, const char *name, char *out, size_t cap, Err *e) {
    const PolicyEnv *env = p->env;
    const char *dir = env && env->model_dir ? env->model_dir : NULL;
    if (!dir) return err_set(e, "policy %s needs the model directory its artefacts live in", p->name);
    if ((size_t)snprintf(out, cap, "%s/policies/%s", dir, name) >= cap)
        return err_set(e, "policy %s: path too long", name);
    char manifest[1200];
    snprintf(manifest, sizeof manifest, "%s/prepare.json", out);
    if (!path_is_file(manifest))
        return err_set(e, "%s: missing (prepare it first: elms prepare %s --model %s --data DATA)", manifest, name,
                       dir);
    cJSON *j;
    if (io_read_json(manifest, &j, e)) return -1;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "model_hash");
    int rc = 0;
    if (!cJSON_IsString(h)) rc = err_set(e, "%s: model_hash: expected a string", manifest);
    else if (strcmp(h->valuestring, env->base->hash))
        rc = err_set(e, "%s: prepared for weights with hash %s, but %s has %s (rebuild: elms prepare %s --model %s "
                        "--data DATA --force)", manifest, h->valuestring, dir, env->base->hash, name, dir);
    cJSON_Delete(j);
    return rc;
}

const char *policy_artefacts_name(const Policy *p) {
    if (p->artefacts) return p->artefacts;
    return p->build ? p->name : NULL;
}

int policy_artefacts(const Policy *p, char *out, size_t cap, Err *e) {
    return policy_artefacts_named(p, p->artefacts ? p->artefacts : p->name, out, cap, e);
}
