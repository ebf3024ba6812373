/* io: model directories on disk (Hugging Face layout): config.json, model.safetensors, and LoRA adapters.
 *
 * safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} (parsed
 * with cJSON), then the raw data. F32, F16 and BF16 are read (converted to F32); F32 or F16 are written.
 * Tensor names are Hugging Face's (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ...,
 * model.norm.weight, lm_head.weight; classifier models have classifier.weight and classifier.bias instead of
 * lm_head.weight). On load o_proj and down_proj are transposed into the elastic layout; on
 * save they are transposed back, so files are always plain Hugging Face checkpoints.
 * Every write goes to a temporary name and is renamed into place; a failed write leaves nothing behind. */
#ifndef ELMS_IO_H
#define ELMS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/dtype.h"
#include "engine/err.h"
#include "engine/model.h"

/* One tensor of a safetensors file as read from its header. */
typedef struct StTensor {
    char name[256];
    StDtype dtype;
    int ndim;
    int64_t shape[4];
    size_t offset;   /* byte offset of the data from the start of the data section */
    size_t nbytes;
} StTensor;

/* An open safetensors file: header parsed and validated (offsets inside the file, sizes matching shapes),
 * data mapped in memory. */
typedef struct StFile {
    char path[1024];
    StTensor *tensors;
    int n_tensors;
    unsigned char *data;  /* the data section */
    size_t data_len;
    void *map;            /* whole-file mapping */
    size_t map_len;
} StFile;

/* st_open: open, map and validate the safetensors file path; 0, or -1 with a message naming the file and what is
 * wrong. st_close unmaps it (also after a failed open). st_find: the tensor called name, or NULL. */
int st_open(StFile *f, const char *path, Err *e);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
/* st_check_shape: 0 if tensor name is present with shape rows x cols (cols = 0 for 1-D); else -1 with a message
 * naming the file, the tensor, its shape and the expected one. Reads no data: callers check every shape before
 * they allocate. */
int st_check_shape(const StFile *f, const char *name, int64_t rows, int64_t cols, Err *e);
/* st_read_f32: copy tensor name (expected shape rows x cols; cols = 0 for 1-D) into out as F32. */
int st_read_f32(const StFile *f, const char *name, int64_t rows, int64_t cols, float *out, Err *e);

/* A tensor to be written: F32 data in memory, stored as dtype. */
typedef struct StWriteTensor {
    const char *name;
    const float *data;  /* (shape[0], ..., shape[ndim - 1]) */
    int ndim;
    int64_t shape[4];
} StWriteTensor;

/* st_write: write tensors (in the given order) to path via a temporary file and rename. */
int st_write(const char *path, const StWriteTensor *t, int n, StDtype dtype, Err *e);
/* st_write_meta: st_write plus n_meta string pairs in the header's "__metadata__" object (values are strings in
 * safetensors, e.g. {"rank": "8", "alpha": "16"}). */
int st_write_meta(const char *path, const StWriteTensor *t, int n, StDtype dtype, const char *const *meta_keys,
                  const char *const *meta_vals, int n_meta, Err *e);
/* st_write_stream: the writer behind both, on an open stream (name is only used in messages). Tensor i is
 * stored transposed when transposed && transposed[i]: its data then holds the 2-D tensor as (shape[1], shape[0])
 * row-major and the file receives (shape[0], shape[1]). Streams tensor by tensor (no whole-file buffer). */
int st_write_stream(FILE *f, const char *name, const StWriteTensor *t, int n, StDtype dtype,
                    const unsigned char *transposed, const char *const *meta_keys, const char *const *meta_vals,
                    int n_meta, Err *e);
/* st_meta_get: copy the "__metadata__" value of key into out (capacity cap); 0 if found, -1 if absent. */
int st_meta_get(const StFile *f, const char *key, char *out, size_t cap);


/* config.json <-> ModelConfig (Hugging Face LlamaConfig keys; for classifier models "architectures" names
 * LlamaForTokenClassification or LlamaForSequenceClassification, with "num_labels", "problem_type" and our
 * "label_groups"; "is_causal" is written always and read as true when absent). Every field is validated, and
 * messages name the file and the field. */
int config_read(const char *path, ModelConfig *c, Err *e);
int config_write(const char *path, const ModelConfig *c, Err *e);
/* config_json: the config.json text for c (malloc'd, NUL-terminated), or NULL when out of memory. */
char *config_json(const ModelConfig *c);

/* model_load: read DIR/config.json and DIR/model.safetensors into the elastic layout (allocated with
 * model_alloc). Every tensor must be present with its exact shape and no unknown tensor may appear (a
 * "rotary_emb.inv_freq" buffer, or lm_head.weight of a tied model, is ignored); all of this is checked against
 * the file's header before any parameter memory is allocated, so a config.json that does not describe the
 * weights costs nothing. Every weight must be finite (io_allow_nonfinite); messages name the file and tensor.
 * A directory whose name ends in ".tmp", or that lies inside one (an interrupted checkpoint or write), is
 * refused. */
int model_load(Model *m, const char *dir, Err *e);
/* model_load_staged: model_load without the ".tmp" refusal, for a writer that verifies the staging directory it
 * has just written (DIR.tmp) before renaming it into place. Nobody else should read a staging directory. */
int model_load_staged(Model *m, const char *dir, Err *e);
/* model_load_packed: load DIR for inference only, every weight matrix held as `type` (ST_F32, ST_F16 or ST_BF16;
 * -1: the type the file stores): where the file stores that type the matrices are read in place from its
 * read-only mapping (nothing is copied; the pages are shared with the page cache), otherwise they are converted
 * once (rounded to nearest even) into one allocation; o_proj and down_proj are transposed into it (the elastic
 * layout: a view reads a prefix of their rows) and their mapped pages released. Norms and the classifier are F32
 * in m->params. The same validation as model_load (names, shapes, finite weights). The hash
 * is left "" (model_rehash computes it); training, editing, copying and saving refuse the model
 * (model_require_plain). model_free releases the mapping. */
int model_load_packed(Model *m, const char *dir, int type, Err *e);
/* io_allow_nonfinite: true when the environment variable ELMS_ALLOW_NONFINITE is "1": model_load and lora_load
 * then accept NaN and infinite weights (for users who inspect damaged checkpoints on purpose). */
bool io_allow_nonfinite(void);
/* model_save: write DIR/config.json and DIR/model.safetensors (creating DIR); dtype ST_F32 or ST_F16. Other
 * files in DIR (tokenizer.json, elastic.json, lora/) are left alone. */
int model_save(const Model *m, const char *dir, StDtype dtype, Err *e);
/* model_stored_dtype: F16 when DIR/model.safetensors stores its weights as F16, else F32 (also when it cannot be
 * read; BF16 cannot be written): the dtype a derived model keeps. */
StDtype model_stored_dtype(const char *dir);

/* LoRA adapters as safetensors with PEFT names (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight,
 * ...lora_B.weight, mlp.gate_proj ...), stored F32, with rank and alpha as strings in the header's
 * "__metadata__" object ({"rank": "8", "alpha": "16"}). lora_load allocates with lora_alloc and requires all
 * 14 tensors of every layer and no others; lora_save creates the parent directory. */
int lora_load(Lora *a, const ModelConfig *c, const char *path, Err *e);
int lora_save(const Lora *a, const ModelConfig *c, const char *path, Err *e);

/* io_write_atomic: write len bytes to path through path.tmp.PID and rename. */
int io_write_atomic(const char *path, const void *buf, size_t len, Err *e);
/* io_read_file: read a whole file (NUL-terminated); caller frees *out. */
int io_read_file(const char *path, char **out, size_t *len, Err *e);
/* io_open_read: open path for reading (O_RDONLY, close-on-exec) only if it is a regular file: a FIFO, device or
 * directory is refused with "PATH: not a regular file" without blocking (opened non-blocking, checked with
 * fstat, then switched back to blocking). Returns the descriptor, or -1 with the error in e. Every reader of a
 * file the user names goes through it (io_read_file, st_open, data_load). */
int io_open_read(const char *path, Err *e);
/* io_read_json: read and parse a whole JSON file strictly (io_json_parse); the error names the file and what
 * is wrong ("PATH: malformed JSON near byte N"). Caller frees *out with cJSON_Delete. */
struct cJSON;
int io_read_json(const char *path, struct cJSON **out, Err *e);
/* io_write_json: write j as indented JSON text to path atomically (io_write_atomic); the message names path. */
int io_write_json(const char *path, const struct cJSON *j, Err *e);
/* io_json_parse: parse the JSON text txt (len bytes) strictly: refused, with `where` (a file, or FILE:LINE)
 * leading the message, are a NUL byte or a \u0000 escape in the text, malformed JSON, anything but
 * whitespace after the value ("trailing data"), and a key that appears twice in any object ("field 'K' appears
 * twice"; Python would take the last, cJSON the first). 0 with *out (caller frees with cJSON_Delete), or -1. */
int io_json_parse(const char *txt, size_t len, const char *where, struct cJSON **out, Err *e);
/* io_json_int: the number obj.field (obj itself when field is NULL) as a long, required to be an integer in
 * [lo, hi]: no float-to-integer conversion happens before the range is checked, so 1e300, 2^63 or NaN are
 * refused, never converted. Message: "PATH: field FIELD: expected an integer in [LO, HI], got V" (PATH alone
 * names the value when field is NULL, e.g. "f.json: field anchors[2]"). 0, or -1 with *out untouched. */
int io_json_int(const struct cJSON *obj, const char *field, long lo, long hi, long *out, const char *path, Err *e);
/* io_json_double: as io_json_int for a finite number in [lo, hi] (pass -HUGE_VAL, HUGE_VAL for any finite
 * number); NaN and infinities are always refused. */
int io_json_double(const struct cJSON *obj, const char *field, double lo, double hi, double *out, const char *path,
                   Err *e);
/* io_mkdirs: mkdir -p. */
int io_mkdirs(const char *path, Err *e);

/* Streaming form of io_write_atomic: io_atomic_open creates path.tmp.PID and opens it as a->f; the caller
 * writes to a->f; io_atomic_commit flushes, syncs and renames it into place (io_atomic_finish + io_atomic_rename
 * split the two steps so several files can be completed before any is renamed); io_atomic_abort removes the
 * temporary file. Every failing call removes the temporary file too. */
typedef struct IoAtomic {
    FILE *f;
    char path[1024];
    char tmp[1100];
} IoAtomic;
int io_atomic_open(IoAtomic *a, const char *path, Err *e);
int io_atomic_finish(IoAtomic *a, Err *e);
int io_atomic_rename(IoAtomic *a, Err *e);
int io_atomic_commit(IoAtomic *a, Err *e);
void io_atomic_abort(IoAtomic *a);

#endif
