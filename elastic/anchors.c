/* anchors: leave-one-layer-out losses and the choice of anchor layers (see anchors.h). */
#include "elastic/anchors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int anchors_loo(const Model *m, const Calib *c, double *loss, double *base, Err *e) {
    ElasticView v;
    if (base) {
        view_full(m, &v);
        if (calib_loss(m, &v, c, base, e)) return err_prefix(e, "anchors: full model");
    }
    for (int l = 0; l < m->cfg.n_layers; l++) {
        view_full(m, &v);
        v.layer[l].skip_attn = true;
        v.layer[l].skip_ffn = true;
        if (calib_loss(m, &v, c, &loss[l], e)) return err_prefix(e, "anchors: without layer %d", l);
    }
    return 0;
}

int anchors_pick(const double *loss, int n_layers, int count, int *out, Err *e) {
    if (count < 0 || count > n_layers)
        return err_set(e, "anchors: count %d, expected 0 to %d layers", count, n_layers);
    unsigned char taken[ELMS_MAX_LAYERS] = {0};
    for (int k = 0; k < count; k++) {
        int best = -1;
        for (int l = 0; l < n_layers; l++) /* NaN losses (a diverged model) rank first: they hurt most */
            if (!taken[l] && (best < 0 || loss[l] > loss[best] || (isnan(loss[l]) && !isnan(loss[best]))))
                best = l;
        taken[best] = 1;
    }
    int n = 0;
    for (int l = 0; l < n_layers; l++)
        if (taken[l]) out[n++] = l;
    return 0;
}

double anchors_min_fraction(const ModelConfig *c, int n_anchors) {
    double attn_unit = 2.0 * (c->n_heads / c->n_kv_heads) * c->head_dim * c->dim + 2.0 * c->head_dim * c->dim;
    double ffn_unit = 3.0 * c->dim;
    double layer = attn_unit * c->n_kv_heads + ffn_unit * c->ffn_dim;
    double kept = layer * n_anchors + (attn_unit + ffn_unit) * (c->n_layers - n_anchors);
    return kept / (layer * c->n_layers);
}

int anchors_default_count(const ModelConfig *c) {
    int k = (int)lround(c->n_layers / 5.0);
    while (k > 0 && anchors_min_fraction(c, k) > 0.2 + 1e-9) k--;
    return k;
}
