/* model: configuration checks, the single parameter allocation and its carving, seeded initialisation, and
 * ElasticView helpers (see model.h). Inference lives in model_forward.c, structure edits in model_edit.c. */
#include "engine/model.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/hash.h"
#include "engine/ops.h"

/* head_check: the head fields of c agree with each other (see model_config_check). */
static int head_check(const ModelConfig *c, Err *e) {
    if (c->head != HEAD_LM && c->head != HEAD_TOKEN && c->head != HEAD_SEQUENCE)
        return err_set(e, "config: head kind %d: expected language model, token or sequence classification",
                       (int)c->head);
    if (c->head == HEAD_LM) {
        if (c->n_labels || c->multi_label || c->n_groups)
            return err_set(e, "config: num_labels (%d), multi-label or label_groups given for a language model (they "
                              "belong to classification heads)", c->n_labels);
        return 0;
    }
    const char *name = model_head_name(c->head);
    int lo = c->multi_label ? 1 : 2;
    if (c->n_labels < lo || c->n_labels > ELMS_MAX_LABELS)
        return err_set(e, "config field num_labels = %d: expected an integer in [%d, %d] for a %s head", c->n_labels,
                       lo, ELMS_MAX_LABELS, name);
    if (c->tied)
        return err_set(e, "config field tie_word_embeddings: must be false for a %s head (the classifier is its own "
                          "tensor)", name);
    if (c->head == HEAD_TOKEN && c->multi_label)
        return err_set(e, "config field problem_type: multi-label classification is for sequence heads only");
    if (c->n_groups && (c->head == HEAD_TOKEN || c->multi_label))
        return err_set(e, "config field label_groups: groups are for single-label sequence heads only");
    if (c->n_groups < 0 || c->n_groups > ELMS_MAX_LABEL_GROUPS)
        return err_set(e, "config field label_groups: %d groups, expected 1 to %d", c->n_groups,
                       ELMS_MAX_LABEL_GROUPS);
    long sum = 0;
    for (int g = 0; g < c->n_groups; g++) {
        if (c->group_size[g] < 2 || c->group_size[g] > c->n_labels)
            return err_set(e, "config field label_groups[%d] = %d: expected an integer in [2, %d] (a softmax needs "
                              "two labels)", g, c->group_size[g], c->n_labels);
        sum += c->group_size[g];
    }
    if (c->n_groups && sum != c->n_labels)
        return err_set(e, "config field label_groups: sizes sum to %ld, expected num_labels = %d", sum, c->n_labels);
    return 0;
}

int model_config_check(const ModelConfig *c, Err *e) {
    struct {
        const char *name;
        int v, lo, hi;
    } f[] = {
        {"hidden_size", c->dim, 1, 1 << 16},
        {"num_hidden_layers", c->n_layers, 1, ELMS_MAX_LAYERS},
        {"num_attention_heads", c->n_heads, 1, 4096},
        {"num_key_value_heads", c->n_kv_heads, 1, 4096},
        {"head_dim", c->head_dim, 2, 1024},
        {"intermediate_size", c->ffn_dim, 1, 1 << 20},
        {"vocab_size", c->vocab_size, 1, 1 << 22},
        {"max_position_embeddings", c->max_seq, 1, 1 << 20},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return err_set(e, "config field %s = %d: expected an integer in [%d, %d]", f[i].name, f[i].v, f[i].lo,
                           f[i].hi);
    if (c->n_heads % c->n_kv_heads)
        return err_set(e, "config: num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)",
                       c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2) return err_set(e, "config: head_dim (%d) must be even for rotary embeddings", c->head_dim);
    if (!(c->norm_eps > 0.0f) || !isfinite(c->norm_eps))
        return err_set(e, "config field rms_norm_eps = %g: expected a positive number", (double)c->norm_eps);
    if (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta))
        return err_set(e, "config field rope_theta = %g: expected a positive number", (double)c->rope_theta);
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        return err_set(e, "config: bos_token_id/eos_token_id (%d/%d) outside vocab_size %d", c->bos_id, c->eos_id,
                       c->vocab_size);
    return head_check(c, e);
}

/* Sizes of one layer's tensors, in carving order. */
static void layer_sizes(const ModelConfig *c, size_t sz[9]) {
    size_t d = (size_t)c->dim, qd = (size_t)c->n_heads * c->head_dim, kd = (size_t)c->n_kv_heads * c->head_dim;
    size_t f = (size_t)c->ffn_dim;
    sz[0] = d;      /* attn_norm */
    sz[1] = qd * d; /* wq */
    sz[2] = kd * d; /* wk */
    sz[3] = kd * d; /* wv */
    sz[4] = qd * d; /* wo_t */
    sz[5] = d;      /* ffn_norm */
    sz[6] = f * d;  /* w_gate */
    sz[7] = f * d;  /* w_up */
    sz[8] = f * d;  /* w_down_t */
}

size_t model_param_count(const ModelConfig *c) {
    size_t sz[9], per = 0;
    layer_sizes(c, sz);
    for (int i = 0; i < 9; i++) per += sz[i];
    size_t emb = (size_t)c->vocab_size * c->dim;
    size_t head = c->head == HEAD_LM ? (c->tied ? 0 : emb) : (size_t)c->n_labels * ((size_t)c->dim + 1);
    return emb + per * (size_t)c->n_layers + (size_t)c->dim + head;
}

void model_carve(const ModelConfig *c, float *base, ModelWeights *w) {
    size_t sz[9];
    layer_sizes(c, sz);
    float *p = base;
    memset(w, 0, sizeof *w);
    w->tok_emb = p;
    p += (size_t)c->vocab_size * c->dim;
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *L = &w->layer[l];
        float **t[9] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo_t, &L->ffn_norm, &L->w_gate, &L->w_up,
                        &L->w_down_t};
        for (int i = 0; i < 9; i++) {
            *t[i] = p;
            p += sz[i];
        }
    }
    w->final_norm = p;
    p += c->dim;
    if (c->head == HEAD_LM) {
        w->lm_head = c->tied ? w->tok_emb : p;
        return;
    }
    w->cls_w = p;
    w->cls_b = p + (size_t)c->n_labels * c->dim;
}

int model_alloc(Model *m, const ModelConfig *c, Err *e) {
    memset(m, 0, sizeof *m);
    if (model_config_check(c, e)) return -1;
    m->cfg = *c;
    if (c->head == HEAD_SEQUENCE && !c->multi_label && c->n_groups == 0) {
        m->cfg.n_groups = 1;
        m->cfg.group_size[0] = c->n_labels;
    }
    m->n_params = model_param_count(c);
    m->params = model_weights_alloc(m->n_params * sizeof(float));
    if (!m->params) return err_set(e, "out of memory allocating %zu parameters", m->n_params);
    memset(m->params, 0, m->n_params * sizeof(float)); /* zeroed, and every page faulted in here */
    model_carve(c, m->params, &m->w);
    model_rope_init(m);
    return 0;
}

void *model_weights_alloc(size_t bytes) {
    const size_t huge = (size_t)1 << 21;
    size_t span = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, span ? span : huge);
    if (!p) return NULL;
    if (span) madvise(p, span, MADV_HUGEPAGE); /* advice only: without it (EINVAL under `never`) 4 KiB pages serve */
    return p;
}

void model_rope_init(Model *m) {
    const ModelConfig *c = &m->cfg;
    int n = c->max_seq < ELMS_ROPE_TABLE_POS ? c->max_seq : ELMS_ROPE_TABLE_POS;
    size_t half = (size_t)c->head_dim / 2;
    free(m->rope);
    m->rope = malloc(2 * (size_t)n * half * sizeof(float));
    m->rope_pos = m->rope ? n : 0;
    if (m->rope) rope_table(m->rope, m->rope + (size_t)n * half, n, c->head_dim, c->rope_theta);
}

int model_require_plain(const Model *m, const char *what, Err *e) {
    if (!m->packed) return 0;
    return err_set(e, "%s needs the model's F32 weights in the training layout; this one is packed (%s, "
                      "inference only): load it with model_load", what, st_dtype_name(m->packed->type));
}

int model_copy(const Model *src, Model *dst, Err *e) {
    memset(dst, 0, sizeof *dst);
    if (model_require_plain(src, "copying a model", e)) return -1;
    if (model_alloc(dst, &src->cfg, e)) return -1;
    memcpy(dst->params, src->params, sizeof(float) * src->n_params);
    model_rehash(dst);
    return 0;
}

void model_free(Model *m) {
    if (m->packed) {
        if (m->packed->release) m->packed->release(m->packed);
        free(m->packed);
    }
    free(m->params);
    free(m->rope);
    memset(m, 0, sizeof *m);
}

static void fill_normal(gsl_rng *r, float *x, size_t n, double sd) {
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian_ziggurat(r, sd);
}

static void fill_const(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void model_init_random(Model *m, unsigned long seed) {
    const ModelConfig *c = &m->cfg;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    size_t sz[9], d = (size_t)c->dim;
    layer_sizes(c, sz);
    double sd = 0.02, sd_out = 0.02 / sqrt(2.0 * c->n_layers);
    fill_normal(r, m->w.tok_emb, (size_t)c->vocab_size * d, sd);
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *L = &m->w.layer[l];
        fill_const(L->attn_norm, d, 1.0f);
        fill_normal(r, L->wq, sz[1], sd);
        fill_normal(r, L->wk, sz[2], sd);
        fill_normal(r, L->wv, sz[3], sd);
        fill_normal(r, L->wo_t, sz[4], sd_out);
        fill_const(L->ffn_norm, d, 1.0f);
        fill_normal(r, L->w_gate, sz[6], sd);
        fill_normal(r, L->w_up, sz[7], sd);
        fill_normal(r, L->w_down_t, sz[8], sd_out);
    }
    fill_const(m->w.final_norm, d, 1.0f);
    if (c->head == HEAD_LM && !c->tied) fill_normal(r, m->w.lm_head, (size_t)c->vocab_size * d, sd);
    if (c->head != HEAD_LM) {
        fill_normal(r, m->w.cls_w, (size_t)c->n_labels * d, sd);
        fill_const(m->w.cls_b, (size_t)c->n_labels, 0.0f);
    }
    gsl_rng_free(r);
    model_rehash(m);
}

void model_copy_outer(Model *dst, const Model *src) {
    const ModelConfig *c = &src->cfg;
    size_t d = (size_t)c->dim;
    memcpy(dst->w.tok_emb, src->w.tok_emb, sizeof(float) * (size_t)c->vocab_size * d);
    memcpy(dst->w.final_norm, src->w.final_norm, sizeof(float) * d);
    if (c->head == HEAD_LM && !c->tied)
        memcpy(dst->w.lm_head, src->w.lm_head, sizeof(float) * (size_t)c->vocab_size * d);
    if (c->head != HEAD_LM) {
        memcpy(dst->w.cls_w, src->w.cls_w, sizeof(float) * (size_t)c->n_labels * d);
        memcpy(dst->w.cls_b, src->w.cls_b, sizeof(float) * (size_t)c->n_labels);
    }
}

/* ---- heads ---- */

const char *model_head_name(HeadKind h) {
    return h == HEAD_TOKEN ? "token-classification" : h == HEAD_SEQUENCE ? "sequence-classification"
                                                                          : "language-model";
}

int model_head_width(const ModelConfig *c) { return c->head == HEAD_LM ? c->vocab_size : c->n_labels; }

int model_head_targets(const ModelConfig *c, int T) {
    if (c->head != HEAD_SEQUENCE) return T;
    if (c->multi_label) return c->n_labels;
    return c->n_groups > 0 ? c->n_groups : 1;
}

/* hash_int / hash_float: fold one configuration value into h (field by field: no padding bytes hashed). */
static uint64_t hash_int(uint64_t h, int x) { return hash_fnv1a(h, &x, sizeof x); }
static uint64_t hash_float(uint64_t h, float x) { return hash_fnv1a(h, &x, sizeof x); }

/* The hash covers the parameters and every configuration value that changes what the engine computes (the
 * context length only limits it, and a model's token ids are its vocabulary's). The attention mask and the head
 * are folded in only when they differ from a causal language model's, so such models keep the hashes they had
 * before those options existed. */
/* packed_hash: a packed model's matrices in carving order, their element type, then its F32 tensors (a packed
 * model never shares a hash with an F32 model: their results differ in rounding). */
static uint64_t packed_hash(const Model *m) {
    const ModelConfig *c = &m->cfg;
    const Packed *P = m->packed;
    size_t es = P->type == ST_F32 ? 4 : 2, d = (size_t)c->dim, qd = (size_t)c->n_heads * c->head_dim;
    size_t kd = (size_t)c->n_kv_heads * c->head_dim, f = (size_t)c->ffn_dim, V = (size_t)c->vocab_size;
    uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, "packed", 6);
    h = hash_fnv1a(h, st_dtype_name(P->type), strlen(st_dtype_name(P->type)));
    h = hash_fnv1a(h, P->tok_emb, V * d * es);
    for (int l = 0; l < c->n_layers; l++) {
        const PackedLayer *L = &P->layer[l];
        const void *t[7] = {L->wq, L->wk, L->wv, L->wo_t, L->w_gate, L->w_up, L->w_down_t};
        size_t n[7] = {qd * d, kd * d, kd * d, qd * d, f * d, f * d, f * d};
        for (int i = 0; i < 7; i++) h = hash_fnv1a(h, t[i], n[i] * es);
    }
    if (P->lm_head && P->lm_head != P->tok_emb) h = hash_fnv1a(h, P->lm_head, V * d * es);
    return hash_fnv1a(h, m->params, m->n_params * sizeof *m->params);
}

void model_rehash(Model *m) {
    const ModelConfig *c = &m->cfg;
    uint64_t h = m->packed ? packed_hash(m) : hash_fnv1a(HASH_FNV_OFFSET, m->params, m->n_params * sizeof *m->params);
    int v[] = {c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn_dim, c->vocab_size, c->tied};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) h = hash_int(h, v[i]);
    h = hash_float(hash_float(h, c->norm_eps), c->rope_theta);
    if (c->bidirectional || c->head != HEAD_LM) {
        int groups = c->head == HEAD_SEQUENCE && !c->multi_label ? model_head_targets(c, 0) : 0;
        int hv[] = {c->bidirectional, (int)c->head, c->n_labels, c->multi_label, groups};
        for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) h = hash_int(h, hv[i]);
        for (int g = 0; g < groups; g++) h = hash_int(h, c->n_groups ? c->group_size[g] : c->n_labels);
    }
    hash_hex(h, m->hash);
}

void lora_rehash(Lora *a) {
    uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, a->params, a->n_params * sizeof *a->params);
    hash_hex(hash_float(hash_int(h, a->rank), a->alpha), a->hash);
}

/* ---- views ---- */

void view_uniform(const Model *m, int attn_units, int ffn_units, ElasticView *v) {
    memset(v, 0, sizeof *v);
    v->n_layers = m->cfg.n_layers;
    for (int l = 0; l < v->n_layers; l++) {
        v->layer[l].attn_units = attn_units;
        v->layer[l].ffn_units = ffn_units;
    }
}

void view_full(const Model *m, ElasticView *v) { view_uniform(m, m->cfg.n_kv_heads, m->cfg.ffn_dim, v); }

int view_check(const Model *m, const ElasticView *v, Err *e) {
    const ModelConfig *c = &m->cfg;
    if (v->n_layers != c->n_layers)
        return err_set(e, "view: %d layers, but the model has %d", v->n_layers, c->n_layers);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerView *L = &v->layer[l];
        if (L->attn_units < 0 || L->attn_units > c->n_kv_heads)
            return err_set(e, "view: layer %d has %d attention units, the model has %d", l, L->attn_units,
                           c->n_kv_heads);
        if (L->ffn_units < 0 || L->ffn_units > c->ffn_dim)
            return err_set(e, "view: layer %d has %d FFN units, the model has %d", l, L->ffn_units, c->ffn_dim);
        if (L->ffn_idx) {
            if (L->n_ffn_idx < 0 || L->n_ffn_idx > c->ffn_dim)
                return err_set(e, "view: layer %d has %d explicit FFN units, the model has %d", l, L->n_ffn_idx,
                               c->ffn_dim);
            unsigned char *seen = calloc((size_t)c->ffn_dim, 1);
            if (!seen) return err_set(e, "out of memory");
            for (int i = 0; i < L->n_ffn_idx; i++) {
                int j = L->ffn_idx[i];
                if (j < 0 || j >= c->ffn_dim || seen[j]) {
                    free(seen);
                    return err_set(e, "view: layer %d explicit FFN unit %d is out of range or repeated", l, j);
                }
                seen[j] = 1;
            }
            free(seen);
        }
    }
    if (v->lora) {
        const Lora *a = v->lora;
        if (a->n_layers != c->n_layers || a->rank < 1)
            return err_set(e, "view: adapter has %d layers and rank %d, the model has %d layers", a->n_layers,
                           a->rank, c->n_layers);
    }
    return 0;
}

bool view_equal(const ElasticView *a, const ElasticView *b) {
    if (a->n_layers != b->n_layers || a->lora != b->lora || a->ffn_select != b->ffn_select ||
        a->ffn_select_ctx != b->ffn_select_ctx)
        return false;
    for (int l = 0; l < a->n_layers; l++) {
        const LayerView *x = &a->layer[l], *y = &b->layer[l];
        if (x->attn_units != y->attn_units || x->ffn_units != y->ffn_units || x->skip_attn != y->skip_attn ||
            x->skip_ffn != y->skip_ffn || x->n_ffn_idx != y->n_ffn_idx || (x->ffn_idx == NULL) != (y->ffn_idx == NULL))
            return false;
        if (x->ffn_idx && memcmp(x->ffn_idx, y->ffn_idx, sizeof(int) * (size_t)x->n_ffn_idx)) return false;
    }
    return true;
}

/* Active FFN units of a layer under a view (explicit subsets count their size). */
static int ffn_active(const LayerView *L) { return L->skip_ffn ? 0 : (L->ffn_idx ? L->n_ffn_idx : L->ffn_units); }

/* Parameters of one attention unit (a KV group: its query heads' q and o rows, its k and v rows) and of one FFN
 * neuron (gate, up and down rows). */
static double attn_unit_params(const ModelConfig *c) {
    return 2.0 * (c->n_heads / c->n_kv_heads) * c->head_dim * c->dim + 2.0 * c->head_dim * c->dim;
}
static double ffn_unit_params(const ModelConfig *c) { return 3.0 * c->dim; }

double model_layer_params(const ModelConfig *c) {
    return c->n_layers * (attn_unit_params(c) * c->n_kv_heads + ffn_unit_params(c) * c->ffn_dim);
}

double view_param_fraction(const Model *m, const ElasticView *v) {
    const ModelConfig *c = &m->cfg;
    double attn_per_unit = attn_unit_params(c), ffn_per_unit = ffn_unit_params(c);
    double full = model_layer_params(c), kept = 0.0;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerView *L = &v->layer[l];
        if (!L->skip_attn) kept += attn_per_unit * L->attn_units;
        kept += ffn_per_unit * ffn_active(L);
    }
    return kept / full;
}
