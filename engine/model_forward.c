/* model_forward: inference under an ElasticView: the KV cache, batched prefill (BLAS sgemm over all new
 * tokens) and single-token decode (the engine's own gemv and attention kernels, engine/gemv.h), with an
 * optional unmerged LoRA adapter, the capture of the residual stream for layer-importance scores, and the
 * classifier heads (both through the same layer loop). Every linear layer reads a prefix block of its weight
 * tensor (see the elastic layout in model.h), so views cost no copy. The weights are an ordinary model's F32
 * tensors or a packed model's (F32, F16 or BF16, model.h); activations, the KV cache and every accumulation are
 * F32 in both. */
#include "engine/gemv.h"
#include "engine/model.h"
#include "engine/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- KV cache ---- */

static int kv_width(const Model *m, const LayerView *L) {
    return L->skip_attn ? 0 : L->attn_units * m->cfg.head_dim;
}

size_t kvcache_bytes_for(const Model *m, const ElasticView *v, int cap) {
    size_t floats = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) floats += 2 * (size_t)cap * (size_t)kv_width(m, &v->layer[l]);
    return floats * sizeof(float);
}

int kvcache_reset(KVCache *c, const Model *m, const ElasticView *v, int cap, Err *e) {
    if (view_check(m, v, e)) return -1;
    if (cap < 1 || cap > m->cfg.max_seq)
        return err_set(e, "KV cache of %d positions: the model's context is %d", cap, m->cfg.max_seq);
    size_t bytes = kvcache_bytes_for(m, v, cap);
    if (!c->buf || bytes > c->buf_bytes) {
        free(c->buf);
        c->buf_bytes = bytes ? bytes : sizeof(float);
        c->buf = malloc(c->buf_bytes);
        if (!c->buf) {
            c->buf_bytes = 0;
            return err_set(e, "out of memory allocating a KV cache of %zu bytes", bytes);
        }
    }
    c->cap = cap;
    c->len = 0;
    c->n_layers = m->cfg.n_layers;
    c->bytes = bytes;
    float *p = c->buf;
    for (int l = 0; l < c->n_layers; l++) {
        c->kv_width[l] = kv_width(m, &v->layer[l]);
        size_t n = (size_t)cap * (size_t)c->kv_width[l];
        c->k[l] = p;
        c->v[l] = p + n;
        p += 2 * n;
    }
    return 0;
}

int kvcache_init(KVCache *c, const Model *m, const ElasticView *v, int cap, Err *e) {
    memset(c, 0, sizeof *c);
    return kvcache_reset(c, m, v, cap, e);
}

int kvcache_prepare(KVCache *c, const Model *m, Err *e) {
    ElasticView full;
    view_full(m, &full);
    int T = m->cfg.max_seq;
    float *logits = malloc(sizeof *logits * (size_t)m->cfg.vocab_size);
    int *tok = malloc(sizeof *tok * (size_t)T);
    int rc = logits && tok ? kvcache_reset(c, m, &full, T, e) : err_set(e, "out of memory");
    if (!rc) {
        memset(c->buf, 0, c->buf_bytes);
        for (int i = 0; i < T; i++) tok[i] = i % m->cfg.vocab_size;
        rc = model_prefill(m, &full, c, tok, T, NULL, logits, e);
        c->len = 0;
    }
    free(logits);
    free(tok);
    return rc ? err_prefix(e, "preparing a KV cache") : 0;
}

void kvcache_free(KVCache *c) {
    free(c->buf);
    free(c->work);
    memset(c, 0, sizeof *c);
}

void kvcache_truncate(KVCache *c, int len) {
    if (len >= 0 && len < c->len) c->len = len;
}

/* ---- scratch ---- */

typedef struct Scratch {
    float *x;    /* (n, dim) residual stream */
    float *xn;   /* (n, dim) normed input */
    float *q;    /* (n, n_heads*head_dim) */
    float *ao;   /* (n, n_heads*head_dim) attention output */
    float *att;  /* (n, T) attention scores of one head; (n_heads, T) for one token (attention_decode) */
    float *g;    /* (n, ffn_dim) gate, then SwiGLU output */
    float *u;    /* (n, ffn_dim) up */
    float *lr;   /* (n, rank) LoRA intermediate */
    float *wconv; /* (wconv_cap) a block of half-precision weights widened for sgemm (packed F16/BF16 only) */
    size_t wconv_cap;
    int *idx;    /* (ffn_dim) selected neurons of one token */
} Scratch;

/* WCONV_ROWS: rows of a half-precision weight matrix widened per sgemm call in a prefill */
#define WCONV_ROWS 64

static int scratch_get(KVCache *c, const Model *m, const ElasticView *v, int n, Scratch *s, Err *e) {
    const ModelConfig *cf = &m->cfg;
    size_t T = (size_t)(c->len + n), nn = (size_t)n;
    size_t qd = (size_t)cf->n_heads * cf->head_dim, r = v->lora ? (size_t)v->lora->rank : 0;
    size_t widest = (size_t)(cf->ffn_dim > cf->dim ? cf->ffn_dim : cf->dim);
    if (qd > widest) widest = qd;
    size_t wconv = n > 1 && m->packed && m->packed->type != ST_F32 ? WCONV_ROWS * widest : 0;
    size_t att = (n == 1 ? (size_t)cf->n_heads : nn) * T;
    size_t sizes[9] = {nn * cf->dim, nn * cf->dim, nn * qd, nn * qd, att, nn * cf->ffn_dim, nn * cf->ffn_dim,
                       nn * r, wconv};
    size_t total = (size_t)cf->ffn_dim; /* idx */
    for (int i = 0; i < 9; i++) total += sizes[i] + 16; /* keep each buffer 64-byte aligned */
    if (total > c->work_cap) {
        free(c->work);
        c->work = aligned_alloc(64, ((total * sizeof(float) + 63) / 64) * 64);
        c->work_cap = c->work ? total : 0;
        if (!c->work) return err_set(e, "out of memory allocating %zu floats of scratch", total);
    }
    float *p = c->work, **dst[9] = {&s->x, &s->xn, &s->q, &s->ao, &s->att, &s->g, &s->u, &s->lr, &s->wconv};
    s->wconv_cap = wconv;
    for (int i = 0; i < 9; i++) {
        *dst[i] = p;
        p += (sizes[i] + 15) / 16 * 16;
    }
    s->idx = (int *)p;
    return 0;
}

/* ---- weight matrices and linear layers ---- */

/* A weight matrix as the forward pass reads it: logically (out, in); memory holds rows of outputs ((out, ld),
 * trans = 0), or rows of inputs ((in, ld), trans = 1: o_proj and down_proj, held transposed so that a view's
 * prefix of units is a prefix of rows). */
typedef struct WMat {
    const void *p;
    StDtype type;
    int ld;
    int trans;
} WMat;

enum { M_Q, M_K, M_V, M_O, M_GATE, M_UP, M_DOWN };

/* layer_mat: matrix `which` of layer l, from the packed weights or the F32 tensors */
static WMat layer_mat(const Model *m, int l, int which) {
    const ModelConfig *c = &m->cfg;
    int d = c->dim;
    if (m->packed) {
        const PackedLayer *L = &m->packed->layer[l];
        StDtype t = m->packed->type;
        const void *p[7] = {L->wq, L->wk, L->wv, L->wo_t, L->w_gate, L->w_up, L->w_down_t};
        return (WMat){p[which], t, d, which == M_O || which == M_DOWN};
    }
    const LayerWeights *W = &m->w.layer[l];
    const float *p[7] = {W->wq, W->wk, W->wv, W->wo_t, W->w_gate, W->w_up, W->w_down_t};
    return (WMat){p[which], ST_F32, d, which == M_O || which == M_DOWN};
}

/* head_mat: the LM head (vocab_size, dim) */
static WMat head_mat(const Model *m) {
    if (m->packed) return (WMat){m->packed->lm_head, m->packed->type, m->cfg.dim, 0};
    return (WMat){m->w.lm_head, ST_F32, m->cfg.dim, 0};
}

/* linear: out (n, rows) = x (n, k) . W[:rows, :k]^T, or out += when accumulate (ops.h's typed products: the
 * engine's gemm for several tokens, BLAS sgemv for one token over F32 weights, the engine's gemv over half
 * precision). */
static void linear(float *out, const float *x, WMat W, int n, int k, int rows, int accumulate, const Scratch *s) {
    if (W.trans)
        matmul_nn_typed(out, x, W.p, W.type, n, k, rows, W.ld, accumulate, s->wconv, s->wconv_cap);
    else
        matmul_nt_typed(out, x, W.p, W.type, n, k, rows, W.ld, accumulate, s->wconv, s->wconv_cap);
}

/* embed: x (n, dim) = the embeddings of tokens */
static void embed(const Model *m, float *x, const int *tokens, int n) {
    int d = m->cfg.dim;
    if (!m->packed) {
        embedding_forward(x, m->w.tok_emb, tokens, n, d);
        return;
    }
    size_t es = st_dtype_size(m->packed->type);
    for (int i = 0; i < n; i++)
        wtype_to_f32(x + (size_t)i * d, (const char *)m->packed->tok_emb + (size_t)tokens[i] * d * es,
                     m->packed->type, d, 1, d);
}

/* ---- the unmerged LoRA term ---- */

/* lora_add: y (n, rows) += scale * (x (n, in_used) . A[:, :in_used]^T) . B[:rows]^T, A (r, in_full), B (out, r). */
static void lora_add(float *y, const float *x, const float *A, const float *B, int n, int in_used, int in_full,
                     int rows, int rank, float scale, float *tmp) {
    matmul_nt(tmp, x, A, n, in_used, rank, in_full, 0);
    for (size_t i = 0; i < (size_t)n * rank; i++) tmp[i] *= scale;
    matmul_nt(y, tmp, B, n, rank, rows, rank, 1);
}

/* ---- attention block ---- */

static void attention_block(const Model *m, const ElasticView *v, int l, KVCache *c, int n, Scratch *s) {
    const ModelConfig *cf = &m->cfg;
    const LayerWeights *W = &m->w.layer[l];
    const LoraLayer *A = v->lora ? &v->lora->layer[l] : NULL;
    int d = cf->dim, hd = cf->head_dim, rep = cf->n_heads / cf->n_kv_heads;
    int units = v->layer[l].attn_units, qd = units * rep * hd, kd = units * hd, qfull = cf->n_heads * hd;
    int rank = A ? v->lora->rank : 0;
    float scale = A ? v->lora->alpha / (float)rank : 0.0f;
    int pos0 = c->len;
    float *kc = c->k[l] + (size_t)pos0 * kd, *vc = c->v[l] + (size_t)pos0 * kd;

    rmsnorm_forward(s->xn, NULL, s->x, W->attn_norm, n, d, cf->norm_eps);
    linear(s->q, s->xn, layer_mat(m, l, M_Q), n, d, qd, 0, s); /* (n, qd) */
    linear(kc, s->xn, layer_mat(m, l, M_K), n, d, kd, 0, s);   /* (n, kd) written into the cache */
    linear(vc, s->xn, layer_mat(m, l, M_V), n, d, kd, 0, s);
    if (A) {
        lora_add(s->q, s->xn, A->a_q, A->b_q, n, d, d, qd, rank, scale, s->lr);
        lora_add(kc, s->xn, A->a_k, A->b_k, n, d, d, kd, rank, scale, s->lr);
        lora_add(vc, s->xn, A->a_v, A->b_v, n, d, d, kd, rank, scale, s->lr);
    }
    if (pos0 + n <= m->rope_pos) { /* the model's table: the same values, without the trigonometry */
        const float *cs = m->rope, *sn = m->rope + (size_t)m->rope_pos * (hd / 2);
        rope_apply(s->q, n, units * rep, hd, pos0, cs, sn, 0);
        rope_apply(kc, n, units, hd, pos0, cs, sn, 0);
    } else {
        rope_forward(s->q, n, units * rep, hd, pos0, cf->rope_theta);
        rope_forward(kc, n, units, hd, pos0, cf->rope_theta);
    }
    if (n == 1) /* one query attends to every cached position, causal or not */
        attention_decode(s->ao, s->att, s->q, c->k[l], c->v[l], pos0 + 1, units * rep, units, hd);
    else
        attention_forward(s->ao, s->att, s->q, c->k[l], c->v[l], n, pos0, units * rep, units, hd, 0,
                          !cf->bidirectional);
    linear(s->x, s->ao, layer_mat(m, l, M_O), n, qd, d, 1, s); /* x += ao (n, qd) . o_proj[:, :qd]^T */
    if (A) lora_add(s->x, s->ao, A->a_o, A->b_o, n, qd, qfull, d, rank, scale, s->lr);
}

/* ---- FFN block ---- */

/* One token through an explicit neuron subset: out (dim) += sum_i swiglu_i * down_t[i]. */
static int ffn_block(const Model *m, const ElasticView *v, int l, int n, Scratch *s, Err *e) {
    const ModelConfig *cf = &m->cfg;
    const LayerWeights *W = &m->w.layer[l];
    const LayerView *L = &v->layer[l];
    const LoraLayer *A = v->lora ? &v->lora->layer[l] : NULL;
    int d = cf->dim, rank = A ? v->lora->rank : 0;
    float scale = A ? v->lora->alpha / (float)rank : 0.0f;

    rmsnorm_forward(s->xn, NULL, s->x, W->ffn_norm, n, d, cf->norm_eps);
    if (v->ffn_select || L->ffn_idx) {
        /* a neuron subset per token: every neuron through BLAS, then each token's unselected ones zeroed before
         * the down projection (the same result as computing only the subset, at the dense rate) */
        int f = cf->ffn_dim;
        linear(s->g, s->xn, layer_mat(m, l, M_GATE), n, d, f, 0, s); /* (n, f) */
        linear(s->u, s->xn, layer_mat(m, l, M_UP), n, d, f, 0, s);
        if (A) {
            lora_add(s->g, s->xn, A->a_gate, A->b_gate, n, d, d, f, rank, scale, s->lr);
            lora_add(s->u, s->xn, A->a_up, A->b_up, n, d, d, f, rank, scale, s->lr);
        }
        swiglu_forward(s->g, s->g, s->u, (size_t)n * f);
        for (int i = 0; i < n; i++) {
            const float *xi = s->xn + (size_t)i * d;
            const int *idx = L->ffn_idx;
            int k = L->n_ffn_idx;
            if (v->ffn_select) {
                k = v->ffn_select(v->ffn_select_ctx, l, xi, s->idx, f);
                if (k < 0 || k > f) return err_set(e, "FFN selector failed at layer %d", l);
                for (int t = 0; t < k; t++)
                    if (s->idx[t] < 0 || s->idx[t] >= f)
                        return err_set(e, "FFN selector returned neuron %d at layer %d", s->idx[t], l);
                idx = s->idx;
            }
            float *keep = s->u + (size_t)i * f, *h = s->g + (size_t)i * f; /* u's row is free after SwiGLU */
            memset(keep, 0, sizeof(float) * (size_t)f);
            for (int t = 0; t < k; t++) keep[idx[t]] = 1.0f;
            for (int j = 0; j < f; j++) h[j] *= keep[j];
        }
        linear(s->x, s->g, layer_mat(m, l, M_DOWN), n, f, d, 1, s); /* x += h (n, f) . down_proj^T */
        if (A) lora_add(s->x, s->g, A->a_down, A->b_down, n, f, cf->ffn_dim, d, rank, scale, s->lr);
        return 0;
    }
    int f = L->ffn_units;
    if (f == 0) return 0;
    linear(s->g, s->xn, layer_mat(m, l, M_GATE), n, d, f, 0, s); /* (n, f) */
    linear(s->u, s->xn, layer_mat(m, l, M_UP), n, d, f, 0, s);
    if (A) {
        lora_add(s->g, s->xn, A->a_gate, A->b_gate, n, d, d, f, rank, scale, s->lr);
        lora_add(s->u, s->xn, A->a_up, A->b_up, n, d, d, f, rank, scale, s->lr);
    }
    swiglu_forward(s->g, s->g, s->u, (size_t)n * f);
    linear(s->x, s->g, layer_mat(m, l, M_DOWN), n, f, d, 1, s); /* x += h (n, f) . down_proj[:, :f]^T */
    if (A) lora_add(s->x, s->g, A->a_down, A->b_down, n, f, cf->ffn_dim, d, rank, scale, s->lr);
    return 0;
}

/* ---- prefill / decode ---- */

/* prefill_check: the inputs model_prefill rejects before touching any state. */
static int prefill_check(const Model *m, const ElasticView *v, const KVCache *c, const int *tokens, int n, Err *e) {
    const ModelConfig *cf = &m->cfg;
    if (n < 1) return err_set(e, "prefill: no tokens");
    if (cf->bidirectional && c->len > 0)
        return err_set(e, "prefill: the model is bidirectional (is_causal false): it runs a whole sequence on an empty "
                          "cache, and this cache holds %d positions", c->len);
    if (v->n_layers != cf->n_layers || c->n_layers != cf->n_layers)
        return err_set(e, "prefill: view or cache has a different layer count than the model (%d)", cf->n_layers);
    if (c->len + n > c->cap)
        return err_set(e, "prefill: %d positions exceed the cache of %d (context %d)", c->len + n, c->cap,
                       cf->max_seq);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cf->vocab_size)
            return err_set(e, "prefill: token %d at position %d is outside the vocabulary of %d", tokens[i], i,
                           cf->vocab_size);
    for (int l = 0; l < cf->n_layers; l++)
        if (kv_width(m, &v->layer[l]) != c->kv_width[l])
            return err_set(e, "prefill: the KV cache was sized for another view (layer %d)", l);
    return 0;
}

/* forward_layers: the one forward pass of the engine: n tokens at positions [c->len, c->len+n) through every
 * layer of the view, appending to the cache; the final residual (n, dim) is left in s->x. When res is non-NULL
 * it receives the residual stream (2*n_layers + 1, n, dim): the embeddings, then the stream after each
 * attention and each MLP sub-block (a skipped sub-block repeats its input). */
static int forward_layers(const Model *m, const ElasticView *v, KVCache *c, const int *tokens, int n, float *res,
                          Scratch *s, Err *e) {
    const ModelConfig *cf = &m->cfg;
    if (prefill_check(m, v, c, tokens, n, e) || scratch_get(c, m, v, n, s, e)) return -1;
    size_t plane = (size_t)n * cf->dim;
    embed(m, s->x, tokens, n);
    if (res) memcpy(res, s->x, sizeof(float) * plane);
    for (int l = 0; l < cf->n_layers; l++) {
        const LayerView *L = &v->layer[l];
        if (!L->skip_attn && L->attn_units > 0) attention_block(m, v, l, c, n, s);
        if (res) memcpy(res + (2 * (size_t)l + 1) * plane, s->x, sizeof(float) * plane);
        if (!L->skip_ffn && ffn_block(m, v, l, n, s, e)) return -1;
        if (res) memcpy(res + (2 * (size_t)l + 2) * plane, s->x, sizeof(float) * plane);
    }
    c->len += n;
    return 0;
}

int model_prefill(const Model *m, const ElasticView *v, KVCache *c, const int *tokens, int n, float *logits,
                  float *last_logits, Err *e) {
    const ModelConfig *cf = &m->cfg;
    Scratch s;
    if ((logits || last_logits) && cf->head != HEAD_LM)
        return err_set(e, "prefill: a %s model has no language-model logits (use model_classify)",
                       model_head_name(cf->head));
    if (forward_layers(m, v, c, tokens, n, NULL, &s, e)) return -1;
    int d = cf->dim;
    if (logits) {
        rmsnorm_forward(s.xn, NULL, s.x, m->w.final_norm, n, d, cf->norm_eps);
        linear(logits, s.xn, head_mat(m), n, d, cf->vocab_size, 0, &s);
        if (last_logits) memcpy(last_logits, logits + (size_t)(n - 1) * cf->vocab_size,
                                sizeof(float) * (size_t)cf->vocab_size);
    } else if (last_logits) {
        rmsnorm_forward(s.xn, NULL, s.x + (size_t)(n - 1) * d, m->w.final_norm, 1, d, cf->norm_eps);
        linear(last_logits, s.xn, head_mat(m), 1, d, cf->vocab_size, 0, &s);
    }
    return 0;
}

int model_decode(const Model *m, const ElasticView *v, KVCache *c, int token, float *logits, Err *e) {
    if (m->cfg.bidirectional)
        return err_set(e, "decode: the model is bidirectional (is_causal false): it cannot run token by token (run the "
                          "whole sequence at once)");
    return model_prefill(m, v, c, &token, 1, NULL, logits, e);
}

int model_logits(const Model *m, const ElasticView *v, const int *tokens, int n, float *logits, Err *e) {
    KVCache c;
    if (n < 1 || n > m->cfg.max_seq)
        return err_set(e, "%d tokens: expected 1 to %d (the model's context)", n, m->cfg.max_seq);
    if (kvcache_init(&c, m, v, n, e)) return -1;
    int rc = model_prefill(m, v, &c, tokens, n, logits, NULL, e);
    kvcache_free(&c);
    return rc;
}

int model_residuals(const Model *m, const ElasticView *v, const int *tokens, int n, float *res, Err *e) {
    KVCache c;
    Scratch s;
    if (n < 1 || n > m->cfg.max_seq)
        return err_set(e, "residuals: %d tokens, expected 1 to %d (the model's context)", n, m->cfg.max_seq);
    if (kvcache_init(&c, m, v, n, e)) return -1;
    int rc = forward_layers(m, v, &c, tokens, n, res, &s, e);
    kvcache_free(&c);
    return rc;
}

/* classify_head: the classifier on the final residual x (n, dim): normed into xn (n, dim), then out (n, n_labels)
 * per position (HEAD_TOKEN) or out (n_labels) of the mean of the normed rows (HEAD_SEQUENCE, the mean written into
 * x's first row). */
static void classify_head(const Model *m, float *x, float *xn, int n, float *out) {
    const ModelConfig *cf = &m->cfg;
    int d = cf->dim, L = cf->n_labels;
    rmsnorm_forward(xn, NULL, x, m->w.final_norm, n, d, cf->norm_eps);
    const float *h = xn;
    int rows = n;
    if (cf->head == HEAD_SEQUENCE) {
        float *pooled = x; /* (dim) */
        for (int j = 0; j < d; j++) {
            float acc = 0.0f;
            for (int i = 0; i < n; i++) acc += xn[(size_t)i * d + j];
            pooled[j] = acc / (float)n;
        }
        h = pooled;
        rows = 1;
    }
    for (int i = 0; i < rows; i++) memcpy(out + (size_t)i * L, m->w.cls_b, sizeof(float) * (size_t)L);
    matmul_nt(out, h, m->w.cls_w, rows, d, L, d, 1); /* out (rows, L) += h (rows, d) . cls_w^T */
}

int model_classify(const Model *m, const ElasticView *v, const int *tokens, int n, float *out, Err *e) {
    KVCache c;
    Scratch s;
    if (m->cfg.head == HEAD_LM)
        return err_set(e, "classify: a language model has no classifier (use model_logits)");
    if (n < 1 || n > m->cfg.max_seq)
        return err_set(e, "classify: %d tokens, expected 1 to %d (the model's context)", n, m->cfg.max_seq);
    if (kvcache_init(&c, m, v, n, e)) return -1;
    int rc = forward_layers(m, v, &c, tokens, n, NULL, &s, e);
    if (!rc) classify_head(m, s.x, s.xn, n, out);
    kvcache_free(&c);
    return rc;
}
