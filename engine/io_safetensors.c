/* io_safetensors: the safetensors subset we use (F32, F16, BF16): validated reading through a read-only mapping,
 * streaming writing through a temporary file, and the half-precision conversions. */
#include "engine/io.h"
#include "engine/gemv.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (100u << 20) /* the reference implementation's limit */
#define ST_MAX_DIM ((int64_t)1 << 40)

/* ---- reading ---- */

void st_close(StFile *f) {
    if (f->map && f->map != MAP_FAILED && f->map_len) munmap(f->map, f->map_len);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

/* json_offset: a JSON number that is a non-negative integer below 2^53. */
static int json_offset(const cJSON *v, uint64_t *out) {
    long x;
    if (!v || io_json_int(v, NULL, 0, 1L << 53, &x, "", NULL) != 0) return -1;
    *out = (uint64_t)x;
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}

/* parse_tensor: one header entry into t; messages name the file and the tensor. */
static int parse_tensor(const char *path, const cJSON *it, size_t data_len, StTensor *t, Err *e) {
    if (strlen(it->string) >= sizeof t->name)
        return err_set(e, "%s: tensor name '%.64s...' longer than %zu bytes", path, it->string, sizeof t->name - 1);
    snprintf(t->name, sizeof t->name, "%s", it->string);
    if (!cJSON_IsObject(it)) return err_set(e, "%s: tensor '%s': header entry is not an object", path, t->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt)) return err_set(e, "%s: tensor '%s': missing string field 'dtype'", path, t->name);
    if (!strcmp(dt->valuestring, "F32")) t->dtype = ST_F32;
    else if (!strcmp(dt->valuestring, "F16")) t->dtype = ST_F16;
    else if (!strcmp(dt->valuestring, "BF16")) t->dtype = ST_BF16;
    else
        return err_set(e, "%s: tensor '%s': unsupported dtype '%.32s' (expected F32, F16 or BF16)", path, t->name,
                       dt->valuestring);
    if (!cJSON_IsArray(sh)) return err_set(e, "%s: tensor '%s': missing array field 'shape'", path, t->name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > 4) return err_set(e, "%s: tensor '%s': %d dimensions (at most 4 supported)", path, t->name, nd);
    t->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (json_offset(cJSON_GetArrayItem(sh, i), &d) != 0 || d > (uint64_t)ST_MAX_DIM)
            return err_set(e, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, t->name, i);
        t->shape[i] = (int64_t)d;
        if (d && numel > ((uint64_t)1 << 50) / d)
            return err_set(e, "%s: tensor '%s': shape too large", path, t->name);
        numel *= d;
    }
    for (int i = nd; i < 4; i++) t->shape[i] = 0;
    uint64_t b, en;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || json_offset(cJSON_GetArrayItem(of, 0), &b) != 0 ||
        json_offset(cJSON_GetArrayItem(of, 1), &en) != 0)
        return err_set(e, "%s: tensor '%s': 'data_offsets' must be [begin, end] non-negative integers", path,
                       t->name);
    if (en < b) return err_set(e, "%s: tensor '%s': data_offsets end %llu before begin %llu", path, t->name,
                               (unsigned long long)en, (unsigned long long)b);
    if (en > data_len)
        return err_set(e, "%s: tensor '%s': data_offsets [%llu, %llu] outside the data section (%zu bytes; file "
                          "truncated?)",
                       path, t->name, (unsigned long long)b, (unsigned long long)en, data_len);
    uint64_t want = numel * st_dtype_size(t->dtype);
    if (en - b != want)
        return err_set(e, "%s: tensor '%s': data_offsets span %llu bytes but shape x %s needs %llu", path, t->name,
                       (unsigned long long)(en - b), st_dtype_name(t->dtype), (unsigned long long)want);
    t->offset = (size_t)b;
    t->nbytes = (size_t)(en - b);
    return 0;
}

/* check_layout: tensors must not overlap, names must be distinct, and no byte may follow the last tensor's data
 * (trailing bytes mean a damaged or concatenated file). */
static int check_layout(const StFile *f, Err *e) {
    int n = f->n_tensors;
    size_t end = 0;
    for (int i = 0; i < n; i++)
        if (f->tensors[i].offset + f->tensors[i].nbytes > end) end = f->tensors[i].offset + f->tensors[i].nbytes;
    if (f->data_len > end)
        return err_set(e, "%s: %zu trailing bytes after the last tensor's data (the data section holds %zu bytes, "
                          "the tensors end at byte %zu)",
                       f->path, f->data_len - end, f->data_len, end);
    if (n < 2) return 0;
    const StTensor **p = malloc((size_t)n * sizeof *p);
    if (!p) return err_set(e, "%s: out of memory", f->path);
    for (int i = 0; i < n; i++) p[i] = &f->tensors[i];
    qsort(p, (size_t)n, sizeof *p, cmp_offset);
    int rc = 0;
    for (int i = 1; i < n && !rc; i++)
        if (p[i]->offset < p[i - 1]->offset + p[i - 1]->nbytes)
            rc = err_set(e, "%s: tensors '%s' and '%s' overlap in the data section", f->path, p[i - 1]->name,
                         p[i]->name);
    qsort(p, (size_t)n, sizeof *p, cmp_name);
    for (int i = 1; i < n && !rc; i++)
        if (!strcmp(p[i]->name, p[i - 1]->name)) rc = err_set(e, "%s: tensor '%s' appears twice", f->path, p[i]->name);
    free(p);
    return rc;
}

/* header_parse: the JSON header of a mapped file (len bytes at the start of the data after the 8-byte size). */
static cJSON *header_parse(const StFile *f, uint64_t hlen) {
    return cJSON_ParseWithLength((const char *)f->map + 8, (size_t)hlen);
}

int st_open(StFile *f, const char *path, Err *e) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = io_open_read(path, e);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return err_set(e, "%s: cannot stat: %s", path, strerror(errno));
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        close(fd);
        return err_set(e, "%s: truncated: %zu bytes, a safetensors file starts with an 8-byte header length", path,
                       size);
    }
    f->map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return err_set(e, "%s: cannot map: %s", path, strerror(errno));
    }
    f->map_len = size;
    const unsigned char *b = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen > size - 8) {
        int rc = err_set(e, "%s: header length %llu larger than the file (%zu bytes; truncated or not safetensors)",
                         path, (unsigned long long)hlen, size);
        st_close(f);
        return rc;
    }
    if (hlen > ST_MAX_HEADER || hlen < 2) {
        int rc = err_set(e, "%s: implausible header length %llu", path, (unsigned long long)hlen);
        st_close(f);
        return rc;
    }
    f->data = (unsigned char *)f->map + 8 + hlen;
    f->data_len = size - 8 - (size_t)hlen;
    cJSON *h;
    Err why;
    if (io_json_parse((const char *)f->map + 8, (size_t)hlen, path, &h, &why) || !cJSON_IsObject(h)) {
        cJSON_Delete(h);
        int rc = h ? err_set(e, "%s: header is not a JSON object", path)
                   : err_set(e, "%s: header is not a JSON object (%s)", path, err_after(&why, path));
        st_close(f);
        return rc;
    }
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, h) if (strcmp(it->string, "__metadata__")) n++;
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    int rc = f->tensors ? 0 : err_set(e, "%s: out of memory", path);
    cJSON_ArrayForEach(it, h) {
        if (rc) break;
        if (!strcmp(it->string, "__metadata__")) {
            const cJSON *m;
            if (!cJSON_IsObject(it) && !cJSON_IsNull(it)) {
                rc = err_set(e, "%s: '__metadata__' must be an object of strings", path);
                break;
            }
            cJSON_ArrayForEach(m, it) if (!cJSON_IsString(m)) {
                rc = err_set(e, "%s: '__metadata__' value '%s' is not a string", path, m->string);
                break;
            }
            continue;
        }
        rc = parse_tensor(path, it, f->data_len, &f->tensors[f->n_tensors], e);
        if (!rc) f->n_tensors++;
    }
    cJSON_Delete(h);
    if (!rc) rc = check_layout(f, e);
    if (rc) st_close(f);
    return rc;
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

int st_meta_get(const StFile *f, const char *key, char *out, size_t cap) {
    if (!f->map || f->map_len < 8 || !cap) return -1;
    const unsigned char *b = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen > f->map_len - 8) return -1;
    cJSON *h = header_parse(f, hlen);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    int rc = -1;
    if (cJSON_IsString(v)) {
        snprintf(out, cap, "%s", v->valuestring);
        rc = 0;
    }
    cJSON_Delete(h);
    return rc;
}

int st_check_shape(const StFile *f, const char *name, int64_t rows, int64_t cols, Err *e) {
    const StTensor *t = st_find(f, name);
    if (!t) return err_set(e, "%s: missing tensor '%s'", f->path, name);
    int want_nd = cols ? 2 : 1;
    if (t->ndim != want_nd || t->shape[0] != rows || (cols && t->shape[1] != cols)) {
        char got[96] = "[";
        for (int i = 0; i < t->ndim; i++) {
            size_t k = strlen(got);
            snprintf(got + k, sizeof got - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        }
        strncat(got, "]", sizeof got - strlen(got) - 1);
        if (cols)
            return err_set(e, "%s: tensor '%s' has shape %s, expected [%lld, %lld]", f->path, name, got,
                           (long long)rows, (long long)cols);
        return err_set(e, "%s: tensor '%s' has shape %s, expected [%lld]", f->path, name, got, (long long)rows);
    }
    return 0;
}

int st_read_f32(const StFile *f, const char *name, int64_t rows, int64_t cols, float *out, Err *e) {
    if (st_check_shape(f, name, rows, cols, e) != 0) return -1;
    const StTensor *t = st_find(f, name);
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    const unsigned char *src = f->data + t->offset;
    if (t->dtype == ST_F32) {
        memcpy(out, src, n * 4);
    } else if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && (uintptr_t)src % 2 == 0) {
        for (size_t i0 = 0; i0 < n; i0 += 1 << 20) { /* the vectorised widening, in blocks an int can count */
            size_t k = n - i0 < (1u << 20) ? n - i0 : 1u << 20;
            wtype_to_f32(out + i0, src + 2 * i0, t->dtype, (int)k, 1, (int)k);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            out[i] = t->dtype == ST_F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
    }
    return 0;
}

/* ---- writing ---- */

static size_t numel_of(const StWriteTensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

/* header_text: the JSON header padded with spaces to a multiple of 8 bytes (malloc'd); *len gets its length. */
static char *header_text(const StWriteTensor *t, int n, StDtype dtype, const char *const *mk, const char *const *mv,
                         int n_meta, size_t *len, Err *e) {
    cJSON *h = cJSON_CreateObject();
    if (!h) return err_set(e, "out of memory"), NULL;
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
        for (int i = 0; m && i < n_meta; i++) cJSON_AddStringToObject(m, mk[i], mv[i]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_AddObjectToObject(h, t[i].name);
        if (!o) break;
        cJSON_AddStringToObject(o, "dtype", st_dtype_name(dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; sh && d < t[i].ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        size_t nb = numel_of(&t[i]) * st_dtype_size(dtype);
        cJSON *of = cJSON_AddArrayToObject(o, "data_offsets");
        if (of) {
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        }
        off += nb;
    }
    char *s = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!s) return err_set(e, "out of memory"), NULL;
    size_t k = strlen(s), padded = (k + 7) / 8 * 8;
    char *out = malloc(padded + 1);
    if (out) {
        memcpy(out, s, k);
        memset(out + k, ' ', padded - k);
        out[padded] = 0;
        *len = padded;
    } else {
        err_set(e, "out of memory");
    }
    free(s);
    return out;
}

static int check_write_args(const char *name, const StWriteTensor *t, int n, StDtype dtype, Err *e) {
    if (dtype != ST_F32 && dtype != ST_F16) return err_set(e, "%s: writing supports F32 and F16 only", name);
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !*t[i].name || !strcmp(t[i].name, "__metadata__"))
            return err_set(e, "%s: tensor %d has an invalid name", name, i);
        if (t[i].ndim < 1 || t[i].ndim > 4) return err_set(e, "%s: tensor '%s': ndim %d", name, t[i].name, t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0) return err_set(e, "%s: tensor '%s': negative shape", name, t[i].name);
        if (!t[i].data && numel_of(&t[i])) return err_set(e, "%s: tensor '%s': no data", name, t[i].name);
    }
    return 0;
}

int st_write_stream(FILE *f, const char *name, const StWriteTensor *t, int n, StDtype dtype,
                    const unsigned char *transposed, const char *const *meta_keys, const char *const *meta_vals,
                    int n_meta, Err *e) {
    if (check_write_args(name, t, n, dtype, e) != 0) return -1;
    for (int i = 0; i < n; i++)
        if (transposed && transposed[i] && t[i].ndim != 2)
            return err_set(e, "%s: tensor '%s': only 2-D tensors can be written transposed", name, t[i].name);
    size_t hlen = 0;
    char *hdr = header_text(t, n, dtype, meta_keys, meta_vals, n_meta, &hlen, e);
    if (!hdr) return err_prefix(e, "%s", name);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    free(hdr);
    enum { CHUNK = 8192 };
    unsigned char buf[CHUNK * 4];
    for (int i = 0; ok && i < n; i++) {
        size_t total = numel_of(&t[i]), rows = 0, cols = 0;
        int tr = transposed && transposed[i];
        if (tr) {
            rows = (size_t)t[i].shape[0];
            cols = (size_t)t[i].shape[1];
        }
        for (size_t s = 0; ok && s < total; s += CHUNK) {
            size_t k = total - s < CHUNK ? total - s : CHUNK;
            for (size_t j = 0; j < k; j++) {
                size_t idx = s + j;
                /* file element (r, c) of a (rows, cols) tensor lives at data[c*rows + r] when transposed */
                float v = tr ? t[i].data[(idx % cols) * rows + idx / cols] : t[i].data[idx];
                if (dtype == ST_F32) {
                    memcpy(buf + 4 * j, &v, 4);
                } else {
                    uint16_t h = f32_to_f16(v);
                    buf[2 * j] = (unsigned char)(h & 0xff);
                    buf[2 * j + 1] = (unsigned char)(h >> 8);
                }
            }
            size_t nb = k * st_dtype_size(dtype);
            ok = fwrite(buf, 1, nb, f) == nb;
        }
    }
    if (!ok) return err_set(e, "%s: write failed: %s", name, strerror(errno));
    return 0;
}

int st_write_meta(const char *path, const StWriteTensor *t, int n, StDtype dtype, const char *const *meta_keys,
                  const char *const *meta_vals, int n_meta, Err *e) {
    if (check_write_args(path, t, n, dtype, e) != 0) return -1;
    IoAtomic a;
    if (io_atomic_open(&a, path, e) != 0) return -1;
    if (st_write_stream(a.f, path, t, n, dtype, NULL, meta_keys, meta_vals, n_meta, e) != 0) {
        io_atomic_abort(&a);
        return -1;
    }
    return io_atomic_commit(&a, e);
}

int st_write(const char *path, const StWriteTensor *t, int n, StDtype dtype, Err *e) {
    return st_write_meta(path, t, n, dtype, NULL, NULL, 0, e);
}
