/* ranking: drop orders of layers and sub-blocks, and their JSON artefact (see ranking.h). */
#include "policies/ranking.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "policies/build.h"
#include "policies/feasible.h"
#include "policies/policy.h"

int ranking_from_scores(Ranking *r, const double *score, int n, bool subblocks, Err *e) {
    if (n < 1 || n > RANKING_MAX) return err_set(e, "ranking of %d units (expected 1..%d)", n, RANKING_MAX);
    memset(r, 0, sizeof *r);
    r->n = n;
    r->subblocks = subblocks;
    for (int i = 0; i < n; i++) {
        if (!isfinite(score[i])) return err_set(e, "ranking: unit %d has a non-finite score", i);
        r->score[i] = score[i];
        r->order[i] = i;
    }
    for (int i = 1; i < n; i++) { /* insertion sort: stable, so ties keep the lower index first */
        int u = r->order[i], j = i;
        while (j > 0 && r->score[r->order[j - 1]] > r->score[u]) {
            r->order[j] = r->order[j - 1];
            j--;
        }
        r->order[j] = u;
    }
    return 0;
}

int ranking_write(const Ranking *r, const char *dir, Err *e) {
    cJSON *j = cJSON_CreateObject(), *s = cJSON_CreateDoubleArray(r->score, r->n), *o = cJSON_CreateIntArray(r->order, r->n);
    if (!j || !s || !o) {
        cJSON_Delete(j);
        cJSON_Delete(s);
        cJSON_Delete(o);
        return err_set(e, "out of memory");
    }
    cJSON_AddStringToObject(j, "unit", r->subblocks ? "subblock" : "layer");
    cJSON_AddItemToObject(j, "scores", s);
    cJSON_AddItemToObject(j, "order", o);
    char path[1200];
    snprintf(path, sizeof path, "%s/ranking.json", dir);
    int rc = io_write_json(path, j, e);
    cJSON_Delete(j);
    return rc;
}

/* read_array: n numbers of field name into out (as doubles). */
static int read_array(const cJSON *j, const char *path, const char *name, int n, double *out, Err *e) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return err_set(e, "%s: %s: expected an array of %d numbers", path, name, n);
    int i = 0;
    const cJSON *x;
    char at[1600];
    cJSON_ArrayForEach(x, a) {
        snprintf(at, sizeof at, "%s: field %s[%d]", path, name, i);
        if (io_json_double(x, NULL, -HUGE_VAL, HUGE_VAL, &out[i++], at, e)) return -1;
    }
    return 0;
}

int ranking_read(Ranking *r, const char *dir, int n_layers, Err *e) {
    char path[1200];
    snprintf(path, sizeof path, "%s/ranking.json", dir);
    cJSON *j;
    if (io_read_json(path, &j, e)) return -1;
    memset(r, 0, sizeof *r);
    int rc = 0;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "unit");
    if (!cJSON_IsString(u) || (strcmp(u->valuestring, "layer") && strcmp(u->valuestring, "subblock")))
        rc = err_set(e, "%s: unit: expected \"layer\" or \"subblock\"", path);
    double order[RANKING_MAX];
    if (!rc) {
        r->subblocks = !strcmp(u->valuestring, "subblock");
        r->n = r->subblocks ? 2 * n_layers : n_layers;
        rc = read_array(j, path, "scores", r->n, r->score, e) || read_array(j, path, "order", r->n, order, e);
    }
    unsigned char seen[RANKING_MAX] = {0};
    for (int i = 0; !rc && i < r->n; i++) {
        if (order[i] != floor(order[i]) || order[i] < 0 || order[i] >= r->n || seen[(int)order[i]])
            rc = err_set(e, "%s: order[%d]: expected a permutation of 0..%d", path, i, r->n - 1);
        else {
            r->order[i] = (int)order[i];
            seen[r->order[i]] = 1;
        }
    }
    cJSON_Delete(j);
    return rc ? -1 : 0;
}

void ranking_view(const Ranking *r, const Model *m, int n_drop, ElasticView *v) {
    view_full(m, v);
    for (int i = 0; i < n_drop && i < r->n; i++) {
        int u = r->order[i];
        if (!r->subblocks) {
            v->layer[u].skip_attn = v->layer[u].skip_ffn = true;
        } else if (u % 2 == 0) {
            v->layer[u / 2].skip_attn = true;
        } else {
            v->layer[u / 2].skip_ffn = true;
        }
    }
}

/* ---- the offline side ---- */

int ranking_build(const BuildEnv *env, const char *dir, RankingScoreFn fn, bool subblocks, const char *stage,
                  Err *e) {
    Calib c;
    if (build_calib(env, &c, e)) return -1;
    int n = (subblocks ? 2 : 1) * env->model->cfg.n_layers;
    double *score = malloc(sizeof *score * (size_t)n); /* (n) one score per unit */
    Ranking r;
    int rc = score ? 0 : err_set(e, "out of memory");
    build_progress(env, stage, 0, 1);
    if (!rc) rc = fn(env->model, &c, score, e);
    build_progress(env, stage, 1, 1);
    if (!rc) rc = ranking_from_scores(&r, score, n, subblocks, e);
    if (!rc) rc = ranking_write(&r, dir, e);
    free(score);
    calib_free(&c);
    return rc;
}

/* ---- the online side ---- */

typedef struct RankingState {
    Ranking rank;
    int n_rungs;               /* drop 0 .. n-1 units */
    ElasticView *view;         /* (n_rungs) */
    double *level;             /* (n_rungs) view_param_fraction of each rung */
} RankingState;

int ranking_policy_prepare(Policy *p, Err *e) {
    RankingState *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, "out of memory");
    p->state = s;
    char dir[1200];
    const Model *m = p->env->base;
    if (policy_artefacts(p, dir, sizeof dir, e) || ranking_read(&s->rank, dir, m->cfg.n_layers, e)) return -1;
    s->n_rungs = s->rank.n; /* never drop every unit */
    s->view = malloc(sizeof *s->view * (size_t)s->n_rungs);
    s->level = malloc(sizeof *s->level * (size_t)s->n_rungs);
    if (!s->view || !s->level) return err_set(e, "out of memory");
    for (int i = 0; i < s->n_rungs; i++) {
        ranking_view(&s->rank, m, i, &s->view[i]);
        s->level[i] = view_param_fraction(m, &s->view[i]);
    }
    return 0;
}

static int fill_rung(void *ctx, const PolicyRequest *r, int i, Decision *d, Err *e) {
    (void)r;
    (void)e;
    const Policy *p = ctx;
    const RankingState *s = p->state;
    d->model = p->env->base;
    d->view = s->view[i];
    d->level = s->level[i] > 0 ? s->level[i] : 1e-9;
    d->ratio = 1.0;
    return 0;
}

int ranking_policy_decide(Policy *p, const PolicyRequest *r, Decision *d, Err *e) {
    const RankingState *s = p->state;
    return feasible_ladder(p->env, r, fill_rung, p, s->n_rungs, d, NULL, NULL, e);
}

void ranking_policy_memory(const Policy *p, PolicyMemory *m) {
    m->params = (double)p->env->base->n_params;
    m->tlm_params = 0;
}

void ranking_policy_destroy(Policy *p) {
    RankingState *s = p->state;
    if (!s) return;
    free(s->view);
    free(s->level);
    free(s);
    p->state = NULL;
}
