/* reorder: descending-importance permutation of every layer and the whole offline reorder step (reorder.h). */
#include "elastic/reorder.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "elastic/anchors.h"
#include "elastic/levels.h"

/* A score and its unit index: the index breaks ties, so the sort is deterministic. */
typedef struct ScoreIdx {
    double s;
    int i;
} ScoreIdx;

static int cmp_desc(const void *a, const void *b) {
    const ScoreIdx *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

int reorder_order(const double *score, int n, int *order) {
    ScoreIdx *t = malloc(sizeof *t * (size_t)(n > 0 ? n : 1));
    if (!t) return -1;
    for (int i = 0; i < n; i++) t[i] = (ScoreIdx){score[i] == score[i] ? score[i] : -1.0, i}; /* NaN last */
    qsort(t, (size_t)n, sizeof *t, cmp_desc);
    for (int i = 0; i < n; i++) order[i] = t[i].i;
    free(t);
    return 0;
}

/* permute_doubles: x (n) <- x[order[i]]. */
static int permute_doubles(double *x, const int *order, int n) {
    double *tmp = malloc(sizeof(double) * (size_t)n);
    if (!tmp) return -1;
    for (int i = 0; i < n; i++) tmp[i] = x[order[i]];
    memcpy(x, tmp, sizeof(double) * (size_t)n);
    free(tmp);
    return 0;
}

int reorder_apply(Model *m, Importance *imp, int *attn_order, int *ffn_order, Err *e) {
    const ModelConfig *c = &m->cfg;
    if (imp->n_layers != c->n_layers || imp->n_attn != c->n_kv_heads || imp->n_ffn != c->ffn_dim)
        return err_set(e, "reorder: importance table shaped for another model");
    for (int l = 0; l < c->n_layers; l++) {
        int *ao = attn_order + (size_t)l * c->n_kv_heads, *fo = ffn_order + (size_t)l * c->ffn_dim;
        double *a_imp = imp->attn + (size_t)l * c->n_kv_heads, *f_imp = imp->ffn + (size_t)l * c->ffn_dim;
        if (reorder_order(a_imp, c->n_kv_heads, ao) || reorder_order(f_imp, c->ffn_dim, fo))
            return err_set(e, "reorder: out of memory");
        if (model_permute_units(m, l, ao, fo, e)) return err_prefix(e, "reorder");
        if (permute_doubles(a_imp, ao, c->n_kv_heads) || permute_doubles(f_imp, fo, c->ffn_dim))
            return err_set(e, "reorder: out of memory");
    }
    return 0;
}

int reorder_level_table(const Model *m, ElasticMeta *meta, Err *e) {
    unsigned char anchor[ELMS_MAX_LAYERS];
    elastic_meta_anchor_mask(meta, anchor);
    meta->n_levels = N_LEVELS;
    for (int i = 0; i < N_LEVELS; i++) {
        ElasticView v;
        if (levels_view(m, anchor, LEVELS[i], &v, e)) return err_prefix(e, "reorder: level table");
        ElasticLevel *L = &meta->levels[i];
        L->level = LEVELS[i];
        L->param_fraction = view_param_fraction(m, &v);
        for (int l = 0; l < m->cfg.n_layers; l++) {
            L->attn_units[l] = v.layer[l].skip_attn ? 0 : v.layer[l].attn_units;
            L->ffn_units[l] = v.layer[l].skip_ffn ? 0 : v.layer[l].ffn_units;
        }
    }
    return 0;
}

int reorder_prepare(Model *m, const Calib *c, const ReorderOpts *o, ElasticMeta *meta, ReorderCost *cost, Err *e) {
    const ModelConfig *cfg = &m->cfg;
    int n_anchors = o->n_anchors < 0 ? anchors_default_count(cfg) : o->n_anchors;
    if (n_anchors > cfg->n_layers)
        return err_set(e, "reorder: %d anchor layers asked, the model has %d layers", n_anchors, cfg->n_layers);
    if (elastic_meta_alloc(meta, cfg, e)) return -1;
    meta->calib_samples = c->n;
    meta->calib_seq = c->seq;
    Importance imp;
    ReorderCost k = {0};
    if (importance_alloc(&imp, cfg, e)) goto fail;
    double w0 = clock_wall_s(), c0 = clock_cpu_s();
    if (importance_taylor(m, c, o->batch, &imp, &meta->calib_loss, e)) goto fail;
    k.importance_wall = clock_wall_s() - w0;
    k.importance_cpu = clock_cpu_s() - c0;
    w0 = clock_wall_s();
    c0 = clock_cpu_s();
    if (anchors_loo(m, c, meta->loo_loss, NULL, e)) goto fail;
    if (anchors_pick(meta->loo_loss, cfg->n_layers, n_anchors, meta->anchors, e)) goto fail;
    k.anchors_wall = clock_wall_s() - w0;
    k.anchors_cpu = clock_cpu_s() - c0;
    meta->n_anchors = n_anchors;
    if (reorder_apply(m, &imp, meta->attn_order, meta->ffn_order, e)) goto fail;
    memcpy(meta->attn_imp, imp.attn, sizeof(double) * (size_t)cfg->n_layers * cfg->n_kv_heads);
    memcpy(meta->ffn_imp, imp.ffn, sizeof(double) * (size_t)cfg->n_layers * cfg->ffn_dim);
    if (reorder_level_table(m, meta, e)) goto fail;
    importance_free(&imp);
    if (cost) *cost = k;
    return 0;
fail:
    importance_free(&imp);
    elastic_meta_free(meta);
    return -1;
}
