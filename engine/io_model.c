/* io_model: model directories (config.json + model.safetensors, Hugging Face names) and LoRA adapter files
 * (PEFT names, rank/alpha in "__metadata__"), converting between the file layout and the elastic layout. */
#include "engine/io.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileutil.h"
#include "engine/gemv.h"

/* The most tensors a model of L layers has: embeddings, 9 per layer, final norm, and lm_head or the classifier's
 * weight and bias. */
#define SLOTS(L) (4 + 9 * (L))

/* One tensor of a checkpoint: its file name and shape, where it lives in memory, and whether memory holds it
 * transposed ((cols, rows) instead of the file's (rows, cols)). cols = 0 for 1-D tensors. */
typedef struct TensorSlot {
    char name[96];
    float *data;          /* (rows, cols), or (cols, rows) when transposed; (rows) when cols = 0 */
    int64_t rows, cols;
    int transposed;
} TensorSlot;

/* model_slots: the tensors of a model in file order; returns the count (slots must hold SLOTS(n_layers)). */
static int model_slots(const ModelConfig *c, const ModelWeights *w, TensorSlot *s) {
    int n = 0;
    int64_t dim = c->dim, qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    s[n++] = (TensorSlot){"model.embed_tokens.weight", w->tok_emb, c->vocab_size, dim, 0};
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &w->layer[l];
        struct {
            const char *suffix;
            float *p;
            int64_t r, k;
            int tr;
        } t[9] = {
            {"input_layernorm.weight", L->attn_norm, dim, 0, 0},
            {"self_attn.q_proj.weight", L->wq, qd, dim, 0},
            {"self_attn.k_proj.weight", L->wk, kvd, dim, 0},
            {"self_attn.v_proj.weight", L->wv, kvd, dim, 0},
            {"self_attn.o_proj.weight", L->wo_t, dim, qd, 1},
            {"post_attention_layernorm.weight", L->ffn_norm, dim, 0, 0},
            {"mlp.gate_proj.weight", L->w_gate, c->ffn_dim, dim, 0},
            {"mlp.up_proj.weight", L->w_up, c->ffn_dim, dim, 0},
            {"mlp.down_proj.weight", L->w_down_t, dim, c->ffn_dim, 1},
        };
        for (int i = 0; i < 9; i++) {
            snprintf(s[n].name, sizeof s[n].name, "model.layers.%d.%s", l, t[i].suffix);
            s[n].data = t[i].p;
            s[n].rows = t[i].r;
            s[n].cols = t[i].k;
            s[n].transposed = t[i].tr;
            n++;
        }
    }
    s[n++] = (TensorSlot){"model.norm.weight", w->final_norm, dim, 0, 0};
    if (c->head == HEAD_LM && !c->tied) s[n++] = (TensorSlot){"lm_head.weight", w->lm_head, c->vocab_size, dim, 0};
    if (c->head != HEAD_LM) {
        s[n++] = (TensorSlot){"classifier.weight", w->cls_w, c->n_labels, dim, 0};
        s[n++] = (TensorSlot){"classifier.bias", w->cls_b, c->n_labels, 0, 0};
    }
    return n;
}

static void transpose(float *dst, const float *src, int64_t rows, int64_t cols) {
    /* dst (cols, rows) = src (rows, cols)^T, in tiles for cache locality */
    const int64_t B = 32;
    for (int64_t i0 = 0; i0 < rows; i0 += B)
        for (int64_t j0 = 0; j0 < cols; j0 += B)
            for (int64_t i = i0; i < rows && i < i0 + B; i++)
                for (int64_t j = j0; j < cols && j < j0 + B; j++) dst[j * rows + i] = src[i * cols + j];
}

/* transpose_elems: dst (cols, rows) = src (rows, cols)^T for elements of es = 2 or 4 bytes, in tiles; src may be
 * unaligned (a tensor's offset in the mapping), read with memcpy */
static void transpose_elems(void *dst, const unsigned char *src, int64_t rows, int64_t cols, size_t es) {
    const int64_t B = 32;
    unsigned char *d = dst;
    for (int64_t i0 = 0; i0 < rows; i0 += B)
        for (int64_t j0 = 0; j0 < cols; j0 += B)
            for (int64_t i = i0; i < rows && i < i0 + B; i++)
                for (int64_t j = j0; j < cols && j < j0 + B; j++) {
                    if (es == 2) memcpy(d + 2 * (size_t)(j * rows + i), src + 2 * (size_t)(i * cols + j), 2);
                    else memcpy(d + 4 * (size_t)(j * rows + i), src + 4 * (size_t)(i * cols + j), 4);
                }
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

bool io_allow_nonfinite(void) {
    const char *v = getenv("ELMS_ALLOW_NONFINITE");
    return v && !strcmp(v, "1");
}

/* first_nonfinite: index of the first NaN or infinity among the n elements of type t at p, or -1 */
static long long first_nonfinite(const void *p, StDtype t, size_t n) {
    const size_t B = 4096;
    for (size_t i0 = 0; i0 < n; i0 += B) {
        size_t i1 = n - i0 < B ? n : i0 + B;
        int bad = 0; /* a branch-free scan of the block, vectorised by the compiler; the element is found after */
        if (t == ST_F32) {
            const uint32_t *u = p;
            for (size_t i = i0; i < i1; i++) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
        } else {
            const uint16_t *u = p;
            uint16_t ex = t == ST_F16 ? 0x7c00 : 0x7f80;
            for (size_t i = i0; i < i1; i++) bad |= (u[i] & ex) == ex;
        }
        if (!bad) continue;
        for (size_t i = i0; i < i1; i++) {
            float v = t == ST_F32 ? ((const float *)p)[i]
                                  : t == ST_F16 ? f16_to_f32(((const uint16_t *)p)[i]) : bf16_to_f32(((const uint16_t *)p)[i]);
            if (!isfinite(v)) return (long long)i;
        }
    }
    return -1;
}

/* check_finite: every one of the n floats at x is finite (unless io_allow_nonfinite); the message names the file,
 * the tensor and the first bad element. */
static int check_finite(const char *path, const char *name, const float *x, size_t n, Err *e) {
    long long i = io_allow_nonfinite() ? -1 : first_nonfinite(x, ST_F32, n);
    if (i < 0) return 0;
    return err_set(e, "%s: tensor '%s': element %lld is %s (weights must be finite; set ELMS_ALLOW_NONFINITE=1 "
                      "to load anyway)",
                   path, name, i, isnan(x[i]) ? "NaN" : "infinite");
}

/* staging_name: whether a component of dir ends in ".tmp" (DIR.tmp, or DIR.tmp/sub): an unfinished write. */
static int staging_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && dir[i] != '/') continue;
        if (i >= 4 && !memcmp(dir + i - 4, ".tmp", 4)) return 1;
    }
    return 0;
}

int model_load(Model *m, const char *dir, Err *e) {
    memset(m, 0, sizeof *m);
    if (staging_name(dir))
        return err_set(e, "%s: a temporary directory (a name ending in .tmp is an interrupted write, not a model)",
                       dir);
    return model_load_staged(m, dir, e);
}

/* checkpoint_open: read DIR/config.json into c, open DIR/model.safetensors into f and list its tensors into
 * *slots (allocated; *n of them, file order, no memory behind them), checking that every tensor of the file is
 * known and every expected one is present with its shape. On failure nothing stays open or allocated. */
static int checkpoint_open(const char *dir, ModelConfig *c, StFile *f, char *wpath, size_t wcap, TensorSlot **slots,
                           int *n, Err *e) {
    char cpath[1200];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(wpath, wcap, "%s/model.safetensors", dir);
    *slots = NULL;
    if (!path_is_dir(dir)) return err_set(e, "%s: not a model directory", dir);
    if (config_read(cpath, c, e) != 0) return -1;
    if (!path_is_file(wpath)) {
        char ipath[1300];
        snprintf(ipath, sizeof ipath, "%s.index.json", wpath);
        if (path_is_file(ipath))
            return err_set(e, "%s: sharded checkpoints are not supported; merge the shards into model.safetensors",
                           ipath);
        return err_set(e, "%s: missing (the model's weights)", wpath);
    }
    if (st_open(f, wpath, e) != 0) return -1;
    *slots = malloc((size_t)SLOTS(c->n_layers) * sizeof **slots);
    if (!*slots) {
        st_close(f);
        return err_set(e, "%s: out of memory", wpath);
    }
    /* names and shapes first, from a weight table without memory: nothing is allocated for a config.json that
     * does not describe these weights */
    ModelWeights none;
    memset(&none, 0, sizeof none);
    int rc = 0;
    *n = model_slots(c, &none, *slots);
    /* every tensor in the file must be one we know: a mismatch usually means a config that does not match */
    for (int i = 0; !rc && i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if (ends_with(name, "rotary_emb.inv_freq") || (c->tied && !strcmp(name, "lm_head.weight"))) continue;
        int known = 0;
        for (int j = 0; j < *n && !known; j++) known = !strcmp((*slots)[j].name, name);
        if (!known)
            rc = err_set(e, "%s: unexpected tensor '%s' (config.json describes %d layers%s%s)", wpath, name,
                         c->n_layers, c->tied ? ", tied embeddings" : "",
                         c->head != HEAD_LM ? ", a classifier instead of lm_head" : "");
    }
    for (int i = 0; !rc && i < *n; i++) rc = st_check_shape(f, (*slots)[i].name, (*slots)[i].rows, (*slots)[i].cols, e);
    if (rc) {
        free(*slots);
        *slots = NULL;
        st_close(f);
    }
    return rc;
}

int model_load_staged(Model *m, const char *dir, Err *e) {
    memset(m, 0, sizeof *m);
    char wpath[1200];
    ModelConfig c;
    StFile f;
    TensorSlot *slots;
    int n;
    if (checkpoint_open(dir, &c, &f, wpath, sizeof wpath, &slots, &n, e)) return -1;
    int rc = model_alloc(m, &c, e);
    if (!rc) model_slots(&c, &m->w, slots);
    float *tmp = NULL; /* (dim, max(ffn, n_heads*head_dim)) staging for transposed tensors */
    if (!rc) {
        size_t big = (size_t)c.dim * (size_t)(c.ffn_dim > c.n_heads * c.head_dim ? c.ffn_dim : c.n_heads * c.head_dim);
        tmp = malloc(big * sizeof *tmp);
        if (!tmp) rc = err_set(e, "%s: out of memory", wpath);
    }
    for (int i = 0; !rc && i < n; i++) {
        TensorSlot *s = &slots[i];
        size_t count = (size_t)s->rows * (size_t)(s->cols ? s->cols : 1);
        float *dst = s->transposed ? tmp : s->data;
        rc = st_read_f32(&f, s->name, s->rows, s->cols, dst, e);
        if (!rc) rc = check_finite(wpath, s->name, dst, count, e);
        if (!rc && s->transposed) transpose(s->data, tmp, s->rows, s->cols);
    }
    free(tmp);
    free(slots);
    st_close(&f);
    if (rc) model_free(m);
    else model_rehash(m);
    return rc;
}

/* ---- packed models ---- */

static void packed_release(Packed *P) {
    free(P->owned);
    if (P->file) {
        st_close(P->file);
        free(P->file);
    }
    P->owned = P->file = NULL;
}


/* release_pages: tell the kernel the mapped bytes [p, p + n) will not be read again (the whole pages inside), so
 * that a converted tensor's source does not stay in the process's resident memory */
static void release_pages(const void *p, size_t n) {
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    uintptr_t b = ((uintptr_t)p + n) / (uintptr_t)pg * (uintptr_t)pg;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* packed_matrix: point *dst at tensor s of f held as type t: in place in the mapping when the file stores t at an
 * aligned offset and s is not held transposed, else converted (and transposed when s->transposed) into *owned
 * (advanced past it). Checks finiteness either way. */
static int packed_matrix(const StFile *f, const TensorSlot *s, StDtype t, const void **dst, char **owned,
                         size_t *mapped, Err *e) {
    const StTensor *st = st_find(f, s->name);
    size_t count = (size_t)s->rows * (size_t)s->cols, es = st_dtype_size(t);
    const unsigned char *src = f->data + st->offset;
    long long bad;
    if (!s->transposed && st->dtype == t && (uintptr_t)src % es == 0 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        *dst = src;
        *mapped += count * es;
        bad = io_allow_nonfinite() ? -1 : first_nonfinite(src, t, count);
    } else if (s->transposed && st->dtype == t && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        /* o_proj, down_proj stored in the type held: transposed element by element straight from the mapping */
        transpose_elems(*owned, src, s->rows, s->cols, es);
        release_pages(src, st->nbytes);
        *dst = *owned;
        *owned += (count * es + 63) / 64 * 64;
        bad = io_allow_nonfinite() ? -1 : first_nonfinite(*dst, t, count);
    } else if (s->transposed) {
        /* o_proj, down_proj in another type: the whole tensor widened (st_read_f32 does the file's byte order),
         * transposed, then narrowed */
        float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
        int rc = a && b ? st_read_f32(f, s->name, s->rows, s->cols, a, e) : err_set(e, "%s: out of memory", f->path);
        if (!rc) {
            transpose(b, a, s->rows, s->cols);
            f32_to_wtype(*owned, t, b, count);
        }
        free(a);
        free(b);
        if (rc) return -1;
        release_pages(src, st->nbytes);
        *dst = *owned;
        *owned += (count * es + 63) / 64 * 64;
        bad = io_allow_nonfinite() ? -1 : first_nonfinite(*dst, t, count);
    } else {
        /* widen to F32 a block of rows at a time (st_read_f32 does the file's byte order), then narrow */
        size_t rows_per = 65536 / (size_t)s->cols + 1;
        float *row = malloc(rows_per * (size_t)s->cols * sizeof *row);
        if (!row) return err_set(e, "%s: out of memory", f->path);
        StFile sub = *f; /* st_read_f32 reads whole tensors: give it a view of one block at a time */
        StTensor blk = *st;
        sub.tensors = &blk;
        sub.n_tensors = 1;
        int rc = 0;
        for (size_t r0 = 0; !rc && r0 < (size_t)s->rows; r0 += rows_per) {
            size_t r = (size_t)s->rows - r0 < rows_per ? (size_t)s->rows - r0 : rows_per;
            blk.offset = st->offset + r0 * (size_t)s->cols * st_dtype_size(st->dtype);
            blk.shape[0] = (int64_t)r;
            blk.nbytes = r * (size_t)s->cols * st_dtype_size(st->dtype);
            rc = st_read_f32(&sub, s->name, (int64_t)r, s->cols, row, e);
            if (!rc) f32_to_wtype(*owned + r0 * (size_t)s->cols * es, t, row, r * (size_t)s->cols);
        }
        free(row);
        if (rc) return -1;
        release_pages(src, st->nbytes);
        *dst = *owned;
        *owned += (count * es + 63) / 64 * 64;
        bad = io_allow_nonfinite() ? -1 : first_nonfinite(*dst, t, count);
    }
    if (bad >= 0)
        return err_set(e, "%s: tensor '%s': element %lld is not finite%s (weights must be finite; set "
                          "ELMS_ALLOW_NONFINITE=1 to load anyway)",
                       f->path, s->name, bad, st->dtype != t ? " once converted" : "");
    return 0;
}

int model_load_packed(Model *m, const char *dir, int type, Err *e) {
    memset(m, 0, sizeof *m);
    if (staging_name(dir))
        return err_set(e, "%s: a temporary directory (a name ending in .tmp is an interrupted write, not a model)",
                       dir);
    if (type != -1 && type != ST_F32 && type != ST_F16 && type != ST_BF16)
        return err_set(e, "%s: weights are held as F32, F16 or BF16 (got type %d)", dir, type);
    char wpath[1200];
    ModelConfig c;
    TensorSlot *slots;
    int n;
    StFile *f = calloc(1, sizeof *f);
    Packed *P = calloc(1, sizeof *P);
    if (!f || !P) {
        free(f), free(P);
        return err_set(e, "%s: out of memory", dir);
    }
    if (checkpoint_open(dir, &c, f, wpath, sizeof wpath, &slots, &n, e)) {
        free(f), free(P);
        return -1;
    }
    P->type = type == -1 ? f->tensors[0].dtype : (StDtype)type;
    for (int i = 1; type == -1 && i < f->n_tensors; i++)
        if (f->tensors[i].dtype != P->type) P->type = ST_F32; /* a mixed file: hold the widest type */
    P->file = f;
    P->release = packed_release;
    m->packed = P;
    int rc = 0;
    if (model_config_check(&c, e)) rc = err_prefix(e, "%s", wpath);
    /* the F32 tensors (norms, classifier) in params; the matrices' bytes that must be converted in owned */
    size_t small = 0, conv = 0, es = st_dtype_size(P->type);
    for (int i = 0; !rc && i < n; i++) {
        const StTensor *st = st_find(f, slots[i].name);
        int matrix = slots[i].cols && strcmp(slots[i].name, "classifier.weight");
        size_t count = (size_t)slots[i].rows * (size_t)(slots[i].cols ? slots[i].cols : 1);
        if (!matrix) small += count;
        else if (slots[i].transposed || st->dtype != P->type || (uintptr_t)(f->data + st->offset) % es)
            conv += (count * es + 63) / 64 * 64;
    }
    if (!rc) {
        m->cfg = c;
        if (c.head == HEAD_SEQUENCE && !c.multi_label && c.n_groups == 0) {
            m->cfg.n_groups = 1;
            m->cfg.group_size[0] = c.n_labels;
        }
        m->n_params = small;
        m->params = calloc(small, sizeof(float));
        model_rope_init(m);
        if (conv) { /* on huge pages, as a plain model's weights */
            P->owned = model_weights_alloc(conv);
            P->owned_bytes = conv;
        }
        if (!m->params || (conv && !P->owned)) rc = err_set(e, "%s: out of memory", wpath);
    }
    float *sp = m->params;
    char *own = P->owned;
    for (int i = 0, l = -1, k = 0; !rc && i < n; i++) {
        TensorSlot *s = &slots[i];
        size_t count = (size_t)s->rows * (size_t)(s->cols ? s->cols : 1);
        /* file order (model_slots): embeddings, 9 per layer, final norm, then lm_head or the classifier */
        if (i >= 1 && i <= 9 * c.n_layers) {
            l = (i - 1) / 9;
            k = (i - 1) % 9;
        } else {
            l = -1;
        }
        float **small_dst = NULL;
        const void **mat = NULL;
        if (i == 0) mat = &P->tok_emb;
        else if (l >= 0) {
            LayerWeights *W = &m->w.layer[l];
            PackedLayer *L = &P->layer[l];
            const void **mats[9] = {NULL, &L->wq, &L->wk, &L->wv, &L->wo_t, NULL, &L->w_gate, &L->w_up, &L->w_down_t};
            if (k == 0) small_dst = &W->attn_norm;
            else if (k == 5) small_dst = &W->ffn_norm;
            else mat = mats[k];
        } else if (!strcmp(s->name, "model.norm.weight")) small_dst = &m->w.final_norm;
        else if (!strcmp(s->name, "lm_head.weight")) mat = &P->lm_head;
        else if (!strcmp(s->name, "classifier.weight")) small_dst = &m->w.cls_w;
        else small_dst = &m->w.cls_b;
        if (mat) {
            rc = packed_matrix(f, s, P->type, mat, &own, &P->mapped_bytes, e);
        } else {
            *small_dst = sp;
            rc = st_read_f32(f, s->name, s->rows, s->cols, sp, e);
            if (!rc) rc = check_finite(wpath, s->name, sp, count, e);
            sp += count;
        }
    }
    if (!rc && c.head == HEAD_LM && c.tied) P->lm_head = P->tok_emb;
    free(slots);
    if (rc) model_free(m);
    return rc;
}

/* dir_created: mkdir -p dir, reporting whether dir itself did not exist before (to remove it on failure). */
static int make_dir(const char *dir, int *created, Err *e) {
    struct stat st;
    *created = stat(dir, &st) != 0;
    if (!*created && !S_ISDIR(st.st_mode)) return err_set(e, "%s: exists and is not a directory", dir);
    return io_mkdirs(dir, e);
}

StDtype model_stored_dtype(const char *dir) {
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    StFile f;
    Err e;
    StDtype d = ST_F32;
    if (st_open(&f, path, &e) == 0) {
        if (f.n_tensors > 0 && f.tensors[0].dtype == ST_F16) d = ST_F16;
        st_close(&f);
    }
    return d;
}

int model_save(const Model *m, const char *dir, StDtype dtype, Err *e) {
    const ModelConfig *c = &m->cfg;
    if (dtype != ST_F32 && dtype != ST_F16) return err_set(e, "%s: models are written as F32 or F16", dir);
    if (model_require_plain(m, "saving a model", e)) return err_prefix(e, "%s", dir);
    if (model_config_check(c, e) != 0) return err_prefix(e, "%s", dir);
    int created;
    if (make_dir(dir, &created, e) != 0) return -1;
    char cpath[1200], wpath[1200];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    int cap = SLOTS(c->n_layers);
    TensorSlot *slots = malloc((size_t)cap * sizeof *slots);
    StWriteTensor *wt = malloc((size_t)cap * sizeof *wt);
    unsigned char *tr = malloc((size_t)cap);
    char *cfg = config_json(c);
    int rc = slots && wt && tr && cfg ? 0 : err_set(e, "%s: out of memory", dir);
    IoAtomic aw = {0}, ac = {0};
    if (!rc) {
        int n = model_slots(c, &m->w, slots);
        for (int i = 0; i < n; i++) {
            wt[i] = (StWriteTensor){slots[i].name, slots[i].data, slots[i].cols ? 2 : 1,
                                    {slots[i].rows, slots[i].cols, 0, 0}};
            tr[i] = (unsigned char)slots[i].transposed;
        }
        const char *mk[] = {"format"}, *mv[] = {"pt"};
        rc = io_atomic_open(&aw, wpath, e);
        if (!rc && st_write_stream(aw.f, wpath, wt, n, dtype, tr, mk, mv, 1, e) != 0) rc = -1;
        if (!rc) rc = io_atomic_finish(&aw, e);
        if (!rc) rc = io_atomic_open(&ac, cpath, e);
        if (!rc && fputs(cfg, ac.f) == EOF) rc = err_set(e, "%s: write failed: %s", cpath, strerror(errno));
        if (!rc) rc = io_atomic_finish(&ac, e);
        /* both files are complete on disk; only now replace the old ones */
        if (!rc) rc = io_atomic_rename(&aw, e);
        if (!rc) rc = io_atomic_rename(&ac, e);
        if (rc) {
            io_atomic_abort(&aw);
            io_atomic_abort(&ac);
        }
    }
    free(slots);
    free(wt);
    free(tr);
    free(cfg);
    if (rc && created) rmdir(dir);
    return rc;
}

/* ---- LoRA adapters ---- */

/* lora_slots: A and B of every module of every layer (14 per layer), PEFT names, (rows, cols) shapes. */
static int lora_slots(const ModelConfig *c, const Lora *a, TensorSlot *s) {
    int n = 0, r = a->rank;
    int64_t dim = c->dim, qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim,
            ffn = c->ffn_dim;
    for (int l = 0; l < c->n_layers; l++) {
        const LoraLayer *L = &a->layer[l];
        struct {
            const char *mod;
            float *pa, *pb;
            int64_t in, out;
        } t[7] = {
            {"self_attn.q_proj", L->a_q, L->b_q, dim, qd},       {"self_attn.k_proj", L->a_k, L->b_k, dim, kvd},
            {"self_attn.v_proj", L->a_v, L->b_v, dim, kvd},      {"self_attn.o_proj", L->a_o, L->b_o, qd, dim},
            {"mlp.gate_proj", L->a_gate, L->b_gate, dim, ffn},   {"mlp.up_proj", L->a_up, L->b_up, dim, ffn},
            {"mlp.down_proj", L->a_down, L->b_down, ffn, dim},
        };
        for (int i = 0; i < 7; i++) {
            snprintf(s[n].name, sizeof s[n].name, "base_model.model.model.layers.%d.%s.lora_A.weight", l, t[i].mod);
            s[n].data = t[i].pa;
            s[n].rows = r;
            s[n].cols = t[i].in;
            s[n].transposed = 0;
            n++;
            snprintf(s[n].name, sizeof s[n].name, "base_model.model.model.layers.%d.%s.lora_B.weight", l, t[i].mod);
            s[n].data = t[i].pb;
            s[n].rows = t[i].out;
            s[n].cols = r;
            s[n].transposed = 0;
            n++;
        }
    }
    return n;
}

/* meta_number: a "__metadata__" value parsed strictly as a finite number. */
static int meta_number(const StFile *f, const char *key, double *out, Err *e) {
    char buf[64], *end;
    if (st_meta_get(f, key, buf, sizeof buf) != 0)
        return err_set(e, "%s: missing \"__metadata__\" field '%s' (LoRA adapters store rank and alpha there)",
                       f->path, key);
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(v))
        return err_set(e, "%s: \"__metadata__\" field '%s' must be a number, got '%s'", f->path, key, buf);
    *out = v;
    return 0;
}

int lora_load(Lora *a, const ModelConfig *c, const char *path, Err *e) {
    memset(a, 0, sizeof *a);
    StFile f;
    if (st_open(&f, path, e) != 0) return -1;
    double rank, alpha;
    int rc = meta_number(&f, "rank", &rank, e) || meta_number(&f, "alpha", &alpha, e) ? -1 : 0;
    if (!rc && (rank != floor(rank) || rank < 1 || rank > 65536))
        rc = err_set(e, "%s: \"__metadata__\" rank %g must be a positive integer", path, rank);
    if (!rc && !(fabs(alpha) <= FLT_MAX)) /* also what (float)alpha needs: a larger double is undefined behaviour */
        rc = err_set(e, "%s: \"__metadata__\" alpha %g must be a finite number within float range", path, alpha);
    TensorSlot *slots = NULL;
    int n = 0;
    if (!rc) {
        slots = malloc((size_t)(14 * c->n_layers + 1) * sizeof *slots);
        if (!slots) rc = err_set(e, "%s: out of memory", path);
    }
    if (!rc) { /* names and shapes from an adapter without memory, checked before anything is allocated */
        Lora *none = calloc(1, sizeof *none);
        if (!none) rc = err_set(e, "%s: out of memory", path);
        else {
            none->rank = (int)rank;
            n = lora_slots(c, none, slots);
            free(none);
        }
    }
    for (int i = 0; !rc && i < f.n_tensors; i++) {
        int known = 0;
        for (int j = 0; j < n && !known; j++) known = !strcmp(slots[j].name, f.tensors[i].name);
        if (!known)
            rc = err_set(e, "%s: unexpected tensor '%s' (expected PEFT LoRA names for %d layers)", path,
                         f.tensors[i].name, c->n_layers);
    }
    for (int i = 0; !rc && i < n; i++) rc = st_check_shape(&f, slots[i].name, slots[i].rows, slots[i].cols, e);
    if (!rc && lora_alloc(a, c, (int)rank, (float)alpha, e) != 0) rc = err_prefix(e, "%s", path);
    if (!rc) lora_slots(c, a, slots);
    for (int i = 0; !rc && i < n; i++) {
        TensorSlot *s = &slots[i];
        rc = st_read_f32(&f, s->name, s->rows, s->cols, s->data, e);
        if (!rc) rc = check_finite(path, s->name, s->data, (size_t)s->rows * (size_t)s->cols, e);
    }
    free(slots);
    st_close(&f);
    if (rc && a->params) lora_free(a);
    else if (!rc) lora_rehash(a);
    return rc;
}

int lora_save(const Lora *a, const ModelConfig *c, const char *path, Err *e) {
    if (a->n_layers != c->n_layers)
        return err_set(e, "%s: adapter has %d layers but the model has %d", path, a->n_layers, c->n_layers);
    if (a->rank < 1) return err_set(e, "%s: adapter rank %d must be positive", path, a->rank);
    char parent[1200];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (io_mkdirs(parent, e) != 0) return -1;
    }
    TensorSlot *slots = malloc((size_t)(14 * c->n_layers + 1) * sizeof *slots);
    StWriteTensor *wt = malloc((size_t)(14 * c->n_layers + 1) * sizeof *wt);
    int rc = slots && wt ? 0 : err_set(e, "%s: out of memory", path);
    if (!rc) {
        int n = lora_slots(c, a, slots);
        for (int i = 0; i < n; i++)
            wt[i] = (StWriteTensor){slots[i].name, slots[i].data, 2, {slots[i].rows, slots[i].cols, 0, 0}};
        char rank[32], alpha[32];
        snprintf(rank, sizeof rank, "%d", a->rank);
        snprintf(alpha, sizeof alpha, "%.9g", (double)a->alpha);
        const char *mk[] = {"format", "rank", "alpha"}, *mv[] = {"pt", rank, alpha};
        rc = st_write_meta(path, wt, n, ST_F32, mk, mv, 3, e);
    }
    free(slots);
    free(wt);
    return rc;
}
