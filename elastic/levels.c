/* levels: the elastic space and the level -> view map (see levels.h for why a level is a kept fraction). */
#include "elastic/levels.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "engine/io.h"

const double LEVELS[N_LEVELS] = {0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
const double RATIOS[N_RATIOS] = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};

int levels_index(double level) {
    for (int i = 0; i < N_LEVELS; i++)
        if (fabs(LEVELS[i] - level) < 1e-6) return i;
    return -1;
}

int ratios_index(double ratio) {
    for (int i = 0; i < N_RATIOS; i++)
        if (fabs(RATIOS[i] - ratio) < 1e-6) return i;
    return -1;
}

int levels_view(const Model *m, const unsigned char *anchor, double level, ElasticView *v, Err *e) {
    const ModelConfig *c = &m->cfg;
    if (!(level > 0.0 && level <= 1.0 + 1e-9)) return err_set(e, "levels: level %g outside (0, 1]", level);
    view_full(m, v);
    if (level >= 1.0 - 1e-9) return 0;
    /* parameter counts per unit, the same accounting as view_param_fraction */
    double attn_unit = 2.0 * (c->n_heads / c->n_kv_heads) * c->head_dim * c->dim + 2.0 * c->head_dim * c->dim;
    double ffn_unit = 3.0 * c->dim;
    double layer = attn_unit * c->n_kv_heads + ffn_unit * c->ffn_dim;
    int n_var = 0;
    for (int l = 0; l < c->n_layers; l++) n_var += !(anchor && anchor[l]);
    if (n_var == 0) return 0; /* every layer is an anchor: nothing can shrink */
    double full = layer * c->n_layers, fixed = layer * (c->n_layers - n_var);
    double budget = level * full - fixed; /* parameters the non-anchor layers may read together */
    double s = budget / (layer * n_var);
    int attn = (int)lround(s * c->n_kv_heads);
    if (attn < 1) attn = 1;
    if (attn > c->n_kv_heads) attn = c->n_kv_heads;
    double left = budget - (double)n_var * attn * attn_unit;
    double f = floor(left / ((double)n_var * ffn_unit) + 1e-9);
    int ffn = f < 1 ? 1 : f > c->ffn_dim ? c->ffn_dim : (int)f;
    for (int l = 0; l < c->n_layers; l++) {
        if (anchor && anchor[l]) continue;
        v->layer[l].attn_units = attn;
        v->layer[l].ffn_units = ffn;
    }
    return 0;
}

int levels_read_anchors(const char *dir, int n_layers, unsigned char *anchor, int *n_anchors, Err *e) {
    memset(anchor, 0, (size_t)n_layers);
    *n_anchors = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/elastic.json", dir);
    if (!path_is_file(path)) return 0;
    cJSON *root;
    if (io_read_json(path, &root, e)) return -1;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(e, "%s: expected a JSON object", path);
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "anchors"), *x;
    if (a && !cJSON_IsArray(a)) {
        cJSON_Delete(root);
        return err_set(e, "%s: field anchors: expected an array of layer indices", path);
    }
    cJSON_ArrayForEach(x, a) {
        long l;
        char at[1600];
        snprintf(at, sizeof at, "%s: field anchors", path);
        if (io_json_int(x, NULL, 0, n_layers - 1, &l, at, e)) {
            cJSON_Delete(root);
            return -1;
        }
        if (!anchor[l]) (*n_anchors)++;
        anchor[l] = 1;
    }
    cJSON_Delete(root);
    return 0;
}

int levels_kept_system(int n_system, int n_query, double ratio) {
    if (n_system <= 0) return 0;
    if (ratio >= 1.0 - 1e-12) return n_system;
    double k = floor((double)(n_system + n_query) * ratio - n_query + 1e-9);
    if (k < 0) k = 0;
    if (k > n_system) k = n_system;
    return (int)k;
}

int levelset_load(LevelSet *s, const Model *m, const char *dir, bool with_lora, Err *e) {
    memset(s, 0, sizeof *s);
    if (dir && levels_read_anchors(dir, m->cfg.n_layers, s->anchor, &s->n_anchors, e)) return -1;
    for (int i = 0; i < N_LEVELS; i++) {
        if (levels_view(m, s->anchor, LEVELS[i], &s->view[i], e)) goto fail;
        if (!dir || !with_lora || i == N_LEVELS - 1) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/lora/level-%.1f.safetensors", dir, LEVELS[i]);
        if (!path_is_file(path)) continue;
        if (lora_load(&s->lora[i], &m->cfg, path, e)) {
            err_prefix(e, "level %.1f adapter", LEVELS[i]);
            goto fail;
        }
        s->has_lora[i] = true;
        s->n_lora++;
        s->view[i].lora = &s->lora[i];
    }
    return 0;
fail:
    levelset_free(s);
    return -1;
}

void levelset_free(LevelSet *s) {
    for (int i = 0; i < N_LEVELS; i++)
        if (s->has_lora[i]) lora_free(&s->lora[i]);
    memset(s, 0, sizeof *s);
}
