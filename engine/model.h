/* model: a LLaMA-architecture decoder in fp32 with weights in the elastic layout, the ElasticView that selects a
 * sub-model per call, and inference (batched prefill, single-token decode, KV cache).
 *
 * Elastic layout. An attention unit is a KV group (one KV head and its n_heads/n_kv_heads query heads); an FFN
 * unit is one neuron. Every unit owns a contiguous block of rows in every tensor it touches: o_proj and
 * down_proj are held transposed so that their per-unit slices are rows too. A sub-model that keeps the first k
 * units of a layer reads a prefix of rows of each tensor, so switching sub-models copies no weights.
 *
 * All parameters live in one allocation (Model.params), carved into tensors by model_carve in a fixed order;
 * the trainer carves gradients and optimizer moments from arrays of the same size with the same function.
 *
 * Heads and attention. The same layers serve a language model (causal attention, logits over the vocabulary at
 * every position: lm_head) and encoders with a classifier (classifier.weight and classifier.bias instead of
 * lm_head): per-token labels, or labels of the whole sequence from the mean of its final-normed hidden states.
 * A bidirectional model lets every position attend to every position of the sequence; it runs a whole sequence
 * at once (model_classify, model_logits), never token by token. */
#ifndef ELMS_MODEL_H
#define ELMS_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/dtype.h"
#include "engine/err.h"

#define ELMS_MAX_LAYERS 128
#define ELMS_MAX_LABEL_GROUPS 64
#define ELMS_MAX_LABELS 65536

/* The output head of a model. */
typedef enum {
    HEAD_LM = 0,       /* language model: logits over the vocabulary at every position (lm_head) */
    HEAD_TOKEN = 1,    /* token classification: logits over n_labels at every position (classifier) */
    HEAD_SEQUENCE = 2, /* sequence classification: logits over n_labels of the mean, over the sequence, of the
                          final-normed hidden states (classifier) */
} HeadKind;

typedef struct ModelConfig {
    int dim;          /* hidden size */
    int n_layers;
    int n_heads;      /* query heads */
    int n_kv_heads;   /* KV heads = attention units per layer */
    int head_dim;     /* dim / n_heads unless config says otherwise */
    int ffn_dim;      /* intermediate size = FFN units per layer */
    int vocab_size;
    int max_seq;      /* max_position_embeddings */
    float norm_eps;
    float rope_theta;
    bool tied;        /* tie_word_embeddings: lm_head shares tok_emb */
    int bos_id, eos_id; /* -1 when absent */
    bool bidirectional; /* not is_causal: every position attends to all positions of its sequence (an encoder);
                           false, the default, is causal attention */
    HeadKind head;      /* the output head; HEAD_LM (0) by default */
    int n_labels;       /* classifier heads: num_labels, the rows of classifier.weight; 0 for HEAD_LM */
    bool multi_label;   /* HEAD_SEQUENCE only: every label an independent sigmoid with binary cross-entropy */
    int n_groups;       /* HEAD_SEQUENCE single-label: label groups, each a softmax over group_size[g] consecutive
                           labels (group g starts at the sum of the sizes before it); model_alloc and config_read
                           turn 0 into one group of n_labels. 0 for every other head */
    int group_size[ELMS_MAX_LABEL_GROUPS];
} ModelConfig;

typedef struct LayerWeights {
    float *attn_norm; /* (dim) */
    float *wq;        /* (n_heads*head_dim, dim)    rows of KV group g: [g*rep*head_dim, (g+1)*rep*head_dim) */
    float *wk;        /* (n_kv_heads*head_dim, dim) rows of group g: [g*head_dim, (g+1)*head_dim) */
    float *wv;        /* (n_kv_heads*head_dim, dim) */
    float *wo_t;      /* (n_heads*head_dim, dim)    o_proj transposed: same row blocks as wq */
    float *ffn_norm;  /* (dim) */
    float *w_gate;    /* (ffn_dim, dim)  row i = neuron i */
    float *w_up;      /* (ffn_dim, dim) */
    float *w_down_t;  /* (ffn_dim, dim)  down_proj transposed: row i = neuron i */
} LayerWeights;

typedef struct ModelWeights {
    float *tok_emb;    /* (vocab_size, dim) */
    LayerWeights layer[ELMS_MAX_LAYERS];
    float *final_norm; /* (dim) */
    float *lm_head;    /* HEAD_LM: (vocab_size, dim); == tok_emb when tied. NULL for classifier heads */
    float *cls_w;      /* classifier heads: classifier.weight (n_labels, dim); NULL for HEAD_LM */
    float *cls_b;      /* classifier heads: classifier.bias (n_labels); NULL for HEAD_LM */
} ModelWeights;

/* The matrices of a packed model's layer, in the elastic layout of LayerWeights: o_proj and down_proj transposed,
 * so that a view reads a prefix of rows of every matrix (contiguous: a column prefix of the checkpoint's layout
 * would read every row in part, half the read bandwidth in decode). */
typedef struct PackedLayer {
    const void *wq;       /* (n_heads*head_dim, dim) */
    const void *wk;       /* (n_kv_heads*head_dim, dim) */
    const void *wv;       /* (n_kv_heads*head_dim, dim) */
    const void *wo_t;     /* (n_heads*head_dim, dim): o_proj transposed */
    const void *w_gate;   /* (ffn_dim, dim) */
    const void *w_up;     /* (ffn_dim, dim) */
    const void *w_down_t; /* (ffn_dim, dim): down_proj transposed */
} PackedLayer;

/* Packed: the weights of an inference-only model (model_load_packed, io.h), every matrix of one element type.
 * Matrices point into the mapped checkpoint when it stores that type (no copy), else into `owned`, converted
 * once at load; o_proj and down_proj are always transposed into `owned`. Norms and the classifier stay F32 in
 * Model.params. */
typedef struct Packed {
    StDtype type;          /* element type of every matrix below */
    const void *tok_emb;   /* (vocab_size, dim) */
    const void *lm_head;   /* (vocab_size, dim), == tok_emb when tied; NULL for classifier heads */
    PackedLayer layer[ELMS_MAX_LAYERS];
    void *owned;           /* converted matrices, or NULL */
    size_t owned_bytes;
    size_t mapped_bytes;   /* bytes of matrices read in place from the mapping */
    void *file;            /* the open checkpoint the matrices point into (an StFile), or NULL */
    void (*release)(struct Packed *); /* frees owned and file; called by model_free */
} Packed;

typedef struct Model {
    ModelConfig cfg;
    float *params;     /* one allocation of n_params floats; for a packed model only its F32 tensors (norms,
                          classifier) and the matrices' entries of w are NULL */
    size_t n_params;
    ModelWeights w;    /* tensors carved from params */
    float *rope;       /* rotary table for positions [0, rope_pos): cos (rope_pos, head_dim/2) then sin, the exact
                          values rope_forward computes (rope_table); NULL when allocation failed (the forward then
                          computes the angles itself) */
    int rope_pos;
    Packed *packed;    /* inference-only weights (model_load_packed), or NULL: an ordinary F32 model, the only
                          kind training, editing and saving accept */
    char hash[17];     /* FNV-1a 64 of params' bytes and the configuration values that change the computation
                          (16 hex digits), set by model_rehash: by every function that loads or makes weights;
                          "" until then. Keys the evaluation cache (eval/eval.h). A packed model's hash is
                          left "" at load (hashing every byte would cost more than loading them); model_rehash
                          computes it over the held matrices and their type when the cache needs it. */
} Model;

/* LoRA adapter on q,k,v,o,gate,up,down of every layer, applied unmerged: y += (alpha/rank) * B (A x).
 * Hugging Face PEFT layout: A is (rank, in_features), B is (out_features, rank). For o and down the input is
 * the unit dimension, so a sub-model reads a column prefix of A (leading dimension = full in_features). */
typedef struct LoraLayer {
    float *a_q, *b_q;       /* (r, dim), (n_heads*head_dim, r) */
    float *a_k, *b_k;       /* (r, dim), (n_kv_heads*head_dim, r) */
    float *a_v, *b_v;       /* (r, dim), (n_kv_heads*head_dim, r) */
    float *a_o, *b_o;       /* (r, n_heads*head_dim), (dim, r) */
    float *a_gate, *b_gate; /* (r, dim), (ffn_dim, r) */
    float *a_up, *b_up;     /* (r, dim), (ffn_dim, r) */
    float *a_down, *b_down; /* (r, ffn_dim), (dim, r) */
} LoraLayer;

typedef struct Lora {
    int rank;
    float alpha;
    int n_layers;
    float *params;     /* one allocation of n_params floats */
    size_t n_params;
    LoraLayer layer[ELMS_MAX_LAYERS];
    char hash[17];     /* as Model.hash: the parameters, rank and alpha (lora_rehash) */
} Lora;

/* Dynamic FFN neuron selection (contextual sparsity): called with the FFN input of one token (normed, (dim)),
 * writes up to cap neuron indices into idx and returns how many (or -1 on error). */
typedef int (*FfnSelectFn)(void *ctx, int layer, const float *x, int *idx, int cap);

typedef struct LayerView {
    int attn_units;      /* active KV groups: the prefix [0, attn_units) */
    int ffn_units;       /* active FFN neurons: the prefix [0, ffn_units) */
    bool skip_attn;      /* attention sub-block does not run (residual passes through) */
    bool skip_ffn;       /* MLP sub-block does not run */
    const int *ffn_idx;  /* optional explicit neuron subset (n_ffn_idx indices, any order); overrides ffn_units */
    int n_ffn_idx;
} LayerView;

typedef struct ElasticView {
    int n_layers;                       /* must equal the model's */
    LayerView layer[ELMS_MAX_LAYERS];
    const Lora *lora;                   /* adapter applied unmerged, or NULL */
    FfnSelectFn ffn_select;             /* optional per-token neuron selector (overrides ffn_units / ffn_idx) */
    void *ffn_select_ctx;
} ElasticView;

/* KV cache for one sequence under one view: per layer (cap, attn_units*head_dim) for K and for V, sized by the
 * view it was created for. Also holds decode scratch. Positions [0, len) are filled. */
typedef struct KVCache {
    int cap;                          /* positions the cache can hold */
    int len;                          /* positions filled */
    int n_layers;
    int kv_width[ELMS_MAX_LAYERS];    /* attn_units*head_dim per layer (0 when the layer's attention is skipped) */
    float *k[ELMS_MAX_LAYERS];        /* (cap, kv_width[l]) */
    float *v[ELMS_MAX_LAYERS];        /* (cap, kv_width[l]) */
    float *buf;                       /* one allocation holding all k, v (buf_bytes) */
    size_t bytes;                     /* bytes of K and V storage of this view and cap */
    size_t buf_bytes;                 /* bytes allocated at buf (>= bytes: kvcache_reset reuses it) */
    float *work;                      /* forward scratch, grown on demand (not part of the KV state) */
    size_t work_cap;                  /* floats in work */
} KVCache;

/* ---- configuration and allocation ---- */

/* model_config_check: validate a configuration (positive sizes, divisibility, limits, and a head that is
 * consistent: labels only for classifier heads, at least 2 labels per softmax, groups summing to n_labels, an
 * untied classifier); names the bad field. */
int model_config_check(const ModelConfig *c, Err *e);
/* model_param_count: floats needed for all tensors of c (tied head counted once). */
size_t model_param_count(const ModelConfig *c);
/* model_carve: point the tensors of w into base (n = model_param_count floats) in the canonical order:
 * tok_emb, the layers, final_norm, then lm_head (untied LM) or classifier.weight and classifier.bias. */
void model_carve(const ModelConfig *c, float *base, ModelWeights *w);
/* model_alloc: allocate zeroed parameters for c (model_weights_alloc) and carve them (m->cfg is c with n_groups made
 * explicit). */
int model_alloc(Model *m, const ModelConfig *c, Err *e);
/* model_weights_alloc: bytes of memory for weights, 2 MiB-aligned and advised onto transparent huge pages before
 * the first touch (MADV_HUGEPAGE: taken under the kernel's THP modes `madvise` and `always`, ignored under
 * `never`); not initialised and not touched: the caller writes it before any timing (model_alloc zeroes it, a
 * packed load converts into it). Free with free(); NULL when out of memory. Why huge pages: README, "Huge
 * pages". */
void *model_weights_alloc(size_t bytes);
void model_free(Model *m);
/* model_rope_init: compute m->rope for min(max_seq, ELMS_ROPE_TABLE_POS) positions (model_alloc and
 * model_load_packed call it; without memory the table is left NULL, which only costs speed). */
#define ELMS_ROPE_TABLE_POS 8192
void model_rope_init(Model *m);
/* model_require_plain: 0 for an ordinary F32 model; for a packed one an error saying that `what` (training,
 * editing, saving, copying) needs a model loaded with model_load. */
int model_require_plain(const Model *m, const char *what, Err *e);
/* model_copy: dst, a new model with src's configuration and a copy of its parameters (and hash). Refuses a
 * packed model. */
int model_copy(const Model *src, Model *dst, Err *e);
/* model_rehash / lora_rehash: recompute the weight hash after the parameters changed. model_load, lora_load,
 * model_init_random, lora_init, model_permute_units and model_slice call them; code that edits parameters
 * directly (training, merging, tests) must call them before the weights are evaluated. */
void model_rehash(Model *m);
void lora_rehash(Lora *a);
/* model_init_random: seeded initialisation (normal(0, 0.02), out-projections scaled by 1/sqrt(2*n_layers),
 * norms = 1, classifier weight normal(0, 0.02) and bias 0). Deterministic for a seed. */
void model_init_random(Model *m, unsigned long seed);
/* model_copy_outer: copy the tensors outside the layers (embeddings, final norm, lm_head or classifier) from src
 * to dst, which must have the same vocabulary, width and head (used when a model is rebuilt layer by layer). */
void model_copy_outer(Model *dst, const Model *src);

/* ---- heads ---- */

/* model_head_name: "language-model", "token-classification" or "sequence-classification". */
const char *model_head_name(HeadKind h);
/* model_head_width: the columns of the head's logits: vocab_size (HEAD_LM) or n_labels. */
int model_head_width(const ModelConfig *c);
/* model_head_targets: training targets per sequence of T tokens: T (one per position) for HEAD_LM and
 * HEAD_TOKEN; for HEAD_SEQUENCE, the number of label groups (single-label) or n_labels (multi-label). */
int model_head_targets(const ModelConfig *c, int T);

/* ---- views ---- */

/* view_full: every unit of every layer, no adapter. */
void view_full(const Model *m, ElasticView *v);
/* view_uniform: the same attention / FFN unit counts in every layer. */
void view_uniform(const Model *m, int attn_units, int ffn_units, ElasticView *v);
/* view_check: units within the model's widths, subset indices in range and distinct, adapter shape matches. */
int view_check(const Model *m, const ElasticView *v, Err *e);
/* view_equal: same widths, skips, subsets and adapter pointer (no switch needed). */
bool view_equal(const ElasticView *a, const ElasticView *b);
/* model_layer_params: attention + FFN parameters of all layers of c (what view_param_fraction counts as 1). */
double model_layer_params(const ModelConfig *c);
/* view_param_fraction: fraction of the model's parameters the view reads per token (embedding excluded). */
double view_param_fraction(const Model *m, const ElasticView *v);

/* ---- KV cache ---- */

/* kvcache_init: an empty cache of cap positions under v (its own buffers); kvcache_free releases them. */
int kvcache_init(KVCache *c, const Model *m, const ElasticView *v, int cap, Err *e);
/* kvcache_reset: make c (from kvcache_init or zeroed) an empty cache of cap positions under v, reusing its
 * buffers: the KV buffer is reallocated only when v and cap need more bytes than it holds, and the forward
 * scratch is kept. A service that keeps one cache this way allocates nothing per request (no page first touched
 * on its critical path) and switches views without copying. */
int kvcache_reset(KVCache *c, const Model *m, const ElasticView *v, int cap, Err *e);
/* kvcache_prepare: size c (from kvcache_init or zeroed) for every view of m at m's whole context: the KV buffer
 * for the full view, its pages touched, and the forward scratch by one prefill of the whole context (its result
 * discarded; c is left empty). Later kvcache_reset calls on m allocate nothing. */
int kvcache_prepare(KVCache *c, const Model *m, Err *e);
void kvcache_free(KVCache *c);
/* kvcache_truncate: forget positions >= len (used to score several continuations of one prompt). */
void kvcache_truncate(KVCache *c, int len);
/* kvcache_bytes_for: bytes a cache of cap positions would take under v (memory model). */
size_t kvcache_bytes_for(const Model *m, const ElasticView *v, int cap);

/* ---- inference ---- */

/* model_prefill: run n tokens at positions [c->len, c->len+n) through the view, appending to the cache.
 * logits: (n, vocab) for every position, or NULL; last_logits: (vocab) for the last position, or NULL.
 * Fails (no state change) if tokens are out of range or the cache would overflow, if logits are asked of a
 * classifier model (use model_classify), or if a bidirectional model's cache is not empty (its positions attend
 * to later ones, so a sequence cannot be continued). */
int model_prefill(const Model *m, const ElasticView *v, KVCache *c, const int *tokens, int n, float *logits,
                  float *last_logits, Err *e);
/* model_decode: one token at position c->len; logits (vocab). Fails for a bidirectional model. */
int model_decode(const Model *m, const ElasticView *v, KVCache *c, int token, float *logits, Err *e);
/* model_logits: convenience: fresh cache, prefill tokens, logits (n, vocab). */
int model_logits(const Model *m, const ElasticView *v, const int *tokens, int n, float *logits, Err *e);
/* model_residuals: run tokens (n, fresh cache, positions 0..n-1) through view v and write the residual stream
 * res (2*n_layers + 1, n, dim): res[0] = the embeddings, res[2l+1] = after layer l's attention sub-block,
 * res[2l+2] = after layer l's MLP sub-block (a skipped sub-block repeats its input). The same layer loop as
 * model_prefill. Fails on n outside 1..max_seq, tokens out of range or an invalid view. */
int model_residuals(const Model *m, const ElasticView *v, const int *tokens, int n, float *res, Err *e);
/* model_classify: run tokens (n, fresh cache, positions 0..n-1; bidirectional attention when the model is
 * configured so) through view v with the layer loop of model_prefill, then the classifier: HEAD_TOKEN writes
 * out (n, n_labels), the logits of every position; HEAD_SEQUENCE writes out (n_labels), the logits of the mean
 * over the n positions of the final-normed hidden states (multi-label: one sigmoid logit per label). Fails for a
 * HEAD_LM model, n outside 1..max_seq, tokens out of range or an invalid view. */
int model_classify(const Model *m, const ElasticView *v, const int *tokens, int n, float *out, Err *e);

/* ---- structure edits (used by tests and by reordering) ---- */

/* model_permute_units: reorder layer l's units: new unit i = old unit attn_perm[i] (KV groups) and
 * ffn_perm[i] (neurons); either may be NULL. Applies to every tensor the units touch. */
int model_permute_units(Model *m, int l, const int *attn_perm, const int *ffn_perm, Err *e);
/* model_slice: a new, physically smaller model holding the first attn_units / ffn_units units of every layer. */
int model_slice(const Model *src, int attn_units, int ffn_units, Model *dst, Err *e);

/* ---- LoRA ---- */

/* lora_alloc: a zeroed adapter of rank (1 to LORA_MAX_RANK) and scale alpha (positive, finite) for models of
 * config c, its tensors carved from one block (lora_carve); free with lora_free. */
int lora_alloc(Lora *a, const ModelConfig *c, int rank, float alpha, Err *e);
void lora_free(Lora *a);
/* lora_carve: point a's tensors into base in the canonical order (trainer gradients use the same layout). */
size_t lora_param_count(const ModelConfig *c, int rank);
void lora_carve(const ModelConfig *c, int rank, float *base, Lora *a);
/* lora_init: A ~ kaiming-uniform-like seeded, B = 0 (adapter starts as identity). */
void lora_init(Lora *a, unsigned long seed);

#endif
