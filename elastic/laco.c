/* laco: RDSC layer merge, final-representation similarity and the top-down collapse (see laco.h). */
#include "elastic/laco.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/layerscore.h"
#include "engine/ops.h"

/* ---- merge ---- */

/* layer_tensors: the 9 tensors of a layer of shape c (t) and their sizes in floats (sz), attention first. */
static void layer_tensors(const ModelConfig *c, const LayerWeights *W, float *t[9], size_t sz[9]) {
    size_t d = (size_t)c->dim, qd = (size_t)c->n_heads * c->head_dim, kd = (size_t)c->n_kv_heads * c->head_dim;
    size_t f = (size_t)c->ffn_dim;
    float *p[9] = {W->attn_norm, W->wq, W->wk, W->wv, W->wo_t, W->ffn_norm, W->w_gate, W->w_up, W->w_down_t};
    size_t s[9] = {d, qd * d, kd * d, kd * d, qd * d, d, f * d, f * d, f * d};
    memcpy(t, p, sizeof p);
    memcpy(sz, s, sizeof s);
}

int laco_merge(const Model *src, int first, int count, Model *dst, Err *e) {
    const ModelConfig *c = &src->cfg;
    memset(dst, 0, sizeof *dst);
    if (count < 1 || first < 0 || first + count > c->n_layers)
        return err_set(e, "layer merge: layers %d..%d (%d from %d): expected a range inside the model's %d layers",
                       first, first + count - 1, count, first, c->n_layers);
    ModelConfig dc = *c;
    dc.n_layers = c->n_layers - count + 1;
    if (model_alloc(dst, &dc, e)) return err_prefix(e, "layer merge");
    model_copy_outer(dst, src);
    float *from[9], *to[9], *base[9];
    size_t sz[9];
    for (int l = 0; l < dc.n_layers; l++) { /* dst layer l = src layer l, or l + count - 1 above the merge */
        layer_tensors(c, &src->w.layer[l <= first ? l : l + count - 1], from, sz);
        layer_tensors(&dc, &dst->w.layer[l], to, sz);
        for (int i = 0; i < 9; i++) memcpy(to[i], from[i], sizeof(float) * sz[i]);
    }
    layer_tensors(c, &src->w.layer[first], base, sz);
    layer_tensors(&dc, &dst->w.layer[first], to, sz);
    for (int k = 1; k < count; k++) { /* theta_first + sum_k (theta_{first+k} - theta_first) */
        layer_tensors(c, &src->w.layer[first + k], from, sz);
        for (int i = 0; i < 9; i++)
            for (size_t j = 0; j < sz[i]; j++) to[i][j] += from[i][j] - base[i][j];
    }
    model_rehash(dst);
    return 0;
}

/* ---- similarity ---- */

/* final_hidden: for every window of c, m's last residual after its final RMSNorm (full view):
 * out (c->n, c->seq, dim). */
static int final_hidden(const Model *m, const Calib *c, float *out, Err *e) {
    const ModelConfig *cf = &m->cfg;
    int L = cf->n_layers, d = cf->dim, n = c->seq;
    size_t plane = (size_t)n * d;
    float *res = layerscore_residual_buffer(m, c, "similarity", e); /* (2L+1, seq, dim) */
    if (!res) return -1;
    ElasticView v;
    view_full(m, &v);
    int rc = 0;
    for (int w = 0; w < c->n && !rc; w++) {
        rc = model_residuals(m, &v, c->inputs + (size_t)w * n, n, res, e);
        if (rc) err_prefix(e, "similarity: window %d", w);
        else rmsnorm_forward(out + (size_t)w * plane, NULL, res + 2 * (size_t)L * plane, m->w.final_norm, n, d,
                             cf->norm_eps);
    }
    free(res);
    return rc;
}

/* similarity_to: mean over windows of the flattened cosine between m's final hidden states and ref
 * (c->n, c->seq, dim), another model's. */
static int similarity_to(const Model *m, const Calib *c, const float *ref, double *sim, Err *e) {
    size_t win = (size_t)c->seq * m->cfg.dim;
    float *h = malloc(sizeof(float) * (size_t)c->n * win); /* (n, seq, dim) */
    if (!h) return err_set(e, "similarity: out of memory for %d windows", c->n);
    int rc = final_hidden(m, c, h, e);
    if (!rc) {
        double s = 0.0;
        for (int w = 0; w < c->n; w++) s += layerscore_cosine(h + (size_t)w * win, ref + (size_t)w * win, win);
        *sim = s / c->n;
    }
    free(h);
    return rc;
}

int laco_similarity(const Model *a, const Model *b, const Calib *c, double *sim, Err *e) {
    if (a->cfg.dim != b->cfg.dim || a->cfg.vocab_size != b->cfg.vocab_size)
        return err_set(e, "similarity: models of dim %d / %d and vocabularies of %d / %d tokens, expected equal",
                       a->cfg.dim, b->cfg.dim, a->cfg.vocab_size, b->cfg.vocab_size);
    if (c->n < 1 || c->seq < 1)
        return err_set(e, "similarity: %d windows of %d tokens, expected >= 1 each", c->n, c->seq);
    float *ref = malloc(sizeof(float) * (size_t)c->n * c->seq * b->cfg.dim); /* (n, seq, dim) */
    if (!ref) return err_set(e, "similarity: out of memory for %d windows", c->n);
    int rc = final_hidden(b, c, ref, e) || similarity_to(a, c, ref, sim, e) ? -1 : 0;
    free(ref);
    return rc;
}

/* ---- collapse ---- */

void laco_options_default(LacoOptions *o) {
    o->merge_layers = 4;
    o->interval = 1;
    o->threshold = 0.65;
    o->threshold_step = 0.1;
    o->lowest = 1;
}

/* Collapse: the state of one laco_collapse run. */
typedef struct Collapse {
    const Calib *c;
    const float *ref;  /* (n, seq, dim) the original model's final hidden states */
    const LacoOptions *o;
    int target;        /* layers to reach */
    double T;          /* current threshold */
    Model cur;         /* the model collapsed so far */
    char *log;         /* caller's buffer (or NULL) */
    size_t cap;
} Collapse;

static void log_line(Collapse *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(Collapse *s, const char *fmt, ...) {
    if (!s->log || s->cap == 0) return;
    size_t len = strlen(s->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->log + len, s->cap - len, fmt, ap);
    va_end(ap);
}

/* collapse_pass: one pass of LaCo from the top of s->cur down to layer L: at each l, merge the (clamped) C
 * layers from l; keep the merge when its similarity to the original is >= T and move down by I, else by one.
 * Stops at the target depth. *accepted = merges kept. */
static int collapse_pass(Collapse *s, int *accepted, Err *e) {
    const LacoOptions *o = s->o;
    int n = s->cur.cfg.n_layers, C = o->merge_layers < n - s->target + 1 ? o->merge_layers : n - s->target + 1;
    int l = n - C > o->lowest ? n - C : o->lowest;
    *accepted = 0;
    while (l >= o->lowest && s->cur.cfg.n_layers > s->target) {
        n = s->cur.cfg.n_layers;
        int count = o->merge_layers;
        if (count > n - s->target + 1) count = n - s->target + 1; /* never below the target */
        if (count > n - l) count = n - l;                          /* never past the top */
        if (count < 2) {
            l--;
            continue;
        }
        Model tmp;
        double sim;
        if (laco_merge(&s->cur, l, count, &tmp, e)) return -1;
        if (similarity_to(&tmp, s->c, s->ref, &sim, e)) {
            model_free(&tmp);
            return err_prefix(e, "LaCo: merge of %d layers at %d", count, l);
        }
        if (sim >= s->T) {
            model_free(&s->cur);
            s->cur = tmp;
            (*accepted)++;
            log_line(s, "merge %d layers at %d: similarity %.6f >= %.3f, %d layers left\n", count, l, sim, s->T,
                     s->cur.cfg.n_layers);
            l -= o->interval;
        } else {
            model_free(&tmp);
            l--;
        }
    }
    return 0;
}

/* collapse_check: options and target in range. */
static int collapse_check(const Model *m, int target, const LacoOptions *o, Err *e) {
    if (o->merge_layers < 2 || o->interval < 1 || o->lowest < 0 || !(o->threshold_step > 0) ||
        !isfinite(o->threshold))
        return err_set(e, "LaCo: options C %d, I %d, L %d, T %g, step %g: expected C >= 2, I >= 1, L >= 0, a finite "
                       "T and step > 0", o->merge_layers, o->interval, o->lowest, o->threshold, o->threshold_step);
    if (target < o->lowest + 1 || target < 1)
        return err_set(e, "LaCo: target of %d layers: merges start at layer %d or above, so at least %d layers "
                       "remain (the model has %d)", target, o->lowest, o->lowest + 1, m->cfg.n_layers);
    return 0;
}

int laco_collapse(const Model *m, const Calib *c, int target_layers, const LacoOptions *o, Model *out,
                  char *merges, size_t merges_cap, Err *e) {
    memset(out, 0, sizeof *out);
    if (merges && merges_cap) merges[0] = 0;
    if (collapse_check(m, target_layers, o, e)) return -1;
    if (c->n < 1 || c->seq < 1) return err_set(e, "LaCo: %d windows of %d tokens, expected >= 1 each", c->n, c->seq);
    float *ref = malloc(sizeof(float) * (size_t)c->n * c->seq * m->cfg.dim); /* (n, seq, dim) */
    if (!ref) return err_set(e, "LaCo: out of memory for %d windows", c->n);
    Collapse s = {.c = c, .ref = ref, .o = o, .target = target_layers, .T = o->threshold, .log = merges,
                  .cap = merges_cap};
    int rc = final_hidden(m, c, ref, e) || laco_merge(m, 0, 1, &s.cur, e) ? -1 : 0;
    while (!rc && s.cur.cfg.n_layers > target_layers) {
        int accepted;
        rc = collapse_pass(&s, &accepted, e);
        if (rc || accepted) continue;
        if (s.T < -1.0) {
            rc = err_set(e, "LaCo: no merge reaches similarity %g: the similarity is not a number", s.T);
            break;
        }
        s.T -= o->threshold_step;
        log_line(&s, "threshold lowered to %.3f\n", s.T);
    }
    free(ref);
    if (rc) model_free(&s.cur);
    else *out = s.cur;
    return rc;
}
