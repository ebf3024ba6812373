/* train_init: setting up a Trainer (full or LoRA mode): view validation, gradient and moment arrays carved like
 * the trained parameters, the decay / no-decay ranges, and the activation buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "engine/ops.h"
#include "engine/train.h"
#include "engine/train_acts.h"

void train_config_default(TrainConfig *c) {
    memset(c, 0, sizeof *c);
    c->batch = 16;
    c->seq = 256;
    c->accum = 1;
    c->steps = 1000;
    c->lr = 7e-4f;
    c->min_lr = 7e-5f;
    c->warmup = 100;
    c->wd = 0.1f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->adam_eps = 1e-8f;
    c->clip = 1.0f;
    c->seed = 1;
}

int train_config_check(const TrainConfig *c, Err *e) {
    if (c->batch < 1 || c->batch > 4096) return err_set(e, "train config: batch %d, expected 1..4096", c->batch);
    if (c->seq < 1 || c->seq > 65536) return err_set(e, "train config: seq %d, expected 1..65536", c->seq);
    if (c->accum < 1 || c->accum > 65536) return err_set(e, "train config: accum %d, expected 1..65536", c->accum);
    if (c->steps < 1) return err_set(e, "train config: steps %ld, expected >= 1", c->steps);
    if (!(c->lr > 0.0f) || !(c->lr < 10.0f)) return err_set(e, "train config: lr %g, expected in (0, 10)", c->lr);
    if (!(c->min_lr >= 0.0f) || c->min_lr > c->lr)
        return err_set(e, "train config: min_lr %g, expected in [0, lr = %g]", c->min_lr, c->lr);
    if (c->warmup < 0) return err_set(e, "train config: warmup %ld, expected >= 0", c->warmup);
    if (!(c->wd >= 0.0f) || c->wd >= 10.0f) return err_set(e, "train config: wd %g, expected in [0, 10)", c->wd);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return err_set(e, "train config: betas (%g, %g), expected in [0, 1)", c->beta1, c->beta2);
    if (!(c->adam_eps > 0.0f)) return err_set(e, "train config: adam_eps %g, expected > 0", c->adam_eps);
    if (c->clip != c->clip) return err_set(e, "train config: clip is NaN");
    return 0;
}

/* Training handles prefix widths and skip flags; neuron subsets and selectors are inference-only. */
static int view_trainable(const Model *m, const ElasticView *v, Err *e) {
    if (view_check(m, v, e) != 0) return err_prefix(e, "train view");
    if (v->ffn_select) return err_set(e, "train view: a per-token FFN selector cannot be trained through");
    for (int l = 0; l < v->n_layers; l++)
        if (v->layer[l].ffn_idx)
            return err_set(e, "train view: layer %d uses an explicit neuron subset; training needs prefix widths", l);
    return 0;
}

typedef struct SegList {
    TrainSeg s[4 * ELMS_MAX_LAYERS + 8];
    int n;
} SegList;

static void seg_add(SegList *L, const float *base, const float *p, size_t len, bool decay) {
    L->s[L->n++] = (TrainSeg){(size_t)(p - base), len, decay};
}

static int seg_cmp(const void *a, const void *b) {
    size_t x = ((const TrainSeg *)a)->off, y = ((const TrainSeg *)b)->off;
    return x < y ? -1 : x > y;
}

/* Full mode: every tensor of the model as a range of params; norms and the classifier bias without decay. Sorted,
 * merged, and checked to tile [0, n_params) exactly. */
static int build_segments(Trainer *t, Err *e) {
    const ModelConfig *c = &t->model->cfg;
    const ModelWeights *w = &t->model->w;
    const float *base = t->model->params;
    size_t D = (size_t)c->dim, V = (size_t)c->vocab_size, Q = (size_t)c->n_heads * c->head_dim,
           K = (size_t)c->n_kv_heads * c->head_dim, F = (size_t)c->ffn_dim;
    SegList *L = calloc(1, sizeof *L);
    if (!L) return err_set(e, "train: out of memory");
    seg_add(L, base, w->tok_emb, V * D, true);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &w->layer[l];
        seg_add(L, base, lw->attn_norm, D, false);
        seg_add(L, base, lw->wq, Q * D, true);
        seg_add(L, base, lw->wk, K * D, true);
        seg_add(L, base, lw->wv, K * D, true);
        seg_add(L, base, lw->wo_t, Q * D, true);
        seg_add(L, base, lw->ffn_norm, D, false);
        seg_add(L, base, lw->w_gate, F * D, true);
        seg_add(L, base, lw->w_up, F * D, true);
        seg_add(L, base, lw->w_down_t, F * D, true);
    }
    seg_add(L, base, w->final_norm, D, false);
    if (w->lm_head && w->lm_head != w->tok_emb) seg_add(L, base, w->lm_head, V * D, true);
    if (w->cls_w) {
        seg_add(L, base, w->cls_w, (size_t)c->n_labels * D, true);
        seg_add(L, base, w->cls_b, (size_t)c->n_labels, false); /* a bias, like a norm weight: no decay */
    }
    qsort(L->s, (size_t)L->n, sizeof L->s[0], seg_cmp);
    t->segs = malloc(sizeof(TrainSeg) * (size_t)L->n);
    if (!t->segs) {
        free(L);
        return err_set(e, "train: out of memory");
    }
    size_t at = 0;
    t->n_segs = 0;
    for (int i = 0; i < L->n; i++) {
        if (L->s[i].off != at) {
            free(L);
            return err_set(e, "train: parameter tensors do not tile the parameter array (gap or overlap at %zu)", at);
        }
        at += L->s[i].len;
        if (t->n_segs && t->segs[t->n_segs - 1].decay == L->s[i].decay) t->segs[t->n_segs - 1].len += L->s[i].len;
        else t->segs[t->n_segs++] = L->s[i];
    }
    free(L);
    if (at != t->n_train)
        return err_set(e, "train: parameter tensors cover %zu of %zu floats", at, t->n_train);
    return 0;
}

/* Shared tail of both init functions: arrays, segments, activations, batch buffers. */
static int trainer_setup(Trainer *t, int lora_rank, Err *e) {
    size_t n = t->n_train;
    t->grad = calloc(n, sizeof(float));
    t->m = calloc(n, sizeof(float));
    t->v = calloc(n, sizeof(float));
    size_t bt = (size_t)t->cfg.batch * t->cfg.seq, nt = (size_t)model_head_targets(&t->model->cfg, t->cfg.seq);
    t->inputs = malloc(sizeof(int) * bt);
    t->targets = malloc(sizeof(int) * (size_t)t->cfg.batch * (nt > (size_t)t->cfg.seq ? nt : (size_t)t->cfg.seq));
    t->acts = train_acts_alloc(&t->model->cfg, &t->view, t->cfg.batch, t->cfg.seq, lora_rank);
    if (!t->grad || !t->m || !t->v || !t->inputs || !t->targets || !t->acts) {
        train_free(t);
        return err_set(e, "train: out of memory for %zu parameters and a %d x %d batch", n, t->cfg.batch,
                       t->cfg.seq);
    }
    const ModelConfig *c = &t->model->cfg;
    rope_table(t->acts->rope_cos, t->acts->rope_sin, t->cfg.seq, c->head_dim, c->rope_theta);
    return 0;
}

static int common_checks(Model *m, const TrainConfig *cfg, Err *e) {
    if (model_require_plain(m, "training", e)) return -1;
    if (train_config_check(cfg, e) != 0) return -1;
    if (cfg->seq > m->cfg.max_seq)
        return err_set(e, "train config: seq %d exceeds the model context %d", cfg->seq, m->cfg.max_seq);
    return 0;
}

int train_init(Trainer *t, Model *m, const ElasticView *v, const TrainConfig *cfg, Err *e) {
    memset(t, 0, sizeof *t);
    if (common_checks(m, cfg, e) != 0) return -1;
    if (v && v->lora) return err_set(e, "train view: full training runs without an adapter (use train_lora_init)");
    t->model = m;
    t->cfg = *cfg;
    if (v) t->view = *v;
    else view_full(m, &t->view);
    if (view_trainable(m, &t->view, e) != 0) return -1;
    t->params = m->params;
    t->n_train = m->n_params;
    if (trainer_setup(t, 0, e) != 0) return -1;
    model_carve(&m->cfg, t->grad, &t->gw);
    if (build_segments(t, e) != 0) {
        train_free(t);
        return -1;
    }
    return 0;
}

int train_lora_init(Trainer *t, Model *m, Lora *a, const ElasticView *v, const TrainConfig *cfg, Err *e) {
    memset(t, 0, sizeof *t);
    if (common_checks(m, cfg, e) != 0) return -1;
    if (a->n_layers != m->cfg.n_layers || a->rank < 1 || a->n_params != lora_param_count(&m->cfg, a->rank))
        return err_set(e, "train: adapter (rank %d, %d layers) does not match the model (%d layers)", a->rank,
                       a->n_layers, m->cfg.n_layers);
    t->model = m;
    t->lora = a;
    t->cfg = *cfg;
    if (v) t->view = *v;
    else view_full(m, &t->view);
    t->view.lora = a;
    if (view_trainable(m, &t->view, e) != 0) return -1;
    t->params = a->params;
    t->n_train = a->n_params;
    if (trainer_setup(t, a->rank, e) != 0) return -1;
    lora_carve(&m->cfg, a->rank, t->grad, &t->gl);
    t->gl.rank = a->rank;
    t->gl.alpha = a->alpha;
    t->gl.n_layers = a->n_layers;
    t->gl.params = t->grad;
    t->gl.n_params = t->n_train;
    t->segs = malloc(sizeof(TrainSeg));
    if (!t->segs) {
        train_free(t);
        return err_set(e, "train: out of memory");
    }
    t->segs[0] = (TrainSeg){0, t->n_train, true};
    t->n_segs = 1;
    return 0;
}

void train_free(Trainer *t) {
    free(t->grad);
    free(t->m);
    free(t->v);
    free(t->segs);
    free(t->inputs);
    free(t->targets);
    train_acts_free(t->acts);
    pool_free(t->pool);
    memset(t, 0, sizeof *t);
}

int train_set_threads(Trainer *t, int n, Err *e) {
    if (n < 1 || n > 64) return err_set(e, "train: %d threads, expected 1..64", n);
    pool_free(t->pool);
    t->pool = NULL;
    openblas_set_num_threads(n);
    if (n == 1) return 0;
    t->pool = pool_create(n);
    if (!t->pool) return err_set(e, "train: cannot start %d threads", n);
    return 0;
}
