/* elastic_meta: elastic.json writer and checked reader (format in elastic_meta.h). */
#include "elastic/elastic_meta.h"

#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"

#define META_FORMAT "elms-elastic-1"

int elastic_meta_alloc(ElasticMeta *x, const ModelConfig *c, Err *e) {
    memset(x, 0, sizeof *x);
    x->n_layers = c->n_layers;
    x->n_attn = c->n_kv_heads;
    x->n_ffn = c->ffn_dim;
    x->max_abs_diff = -1.0;
    size_t na = (size_t)c->n_layers * c->n_kv_heads, nf = (size_t)c->n_layers * c->ffn_dim;
    x->attn_order = malloc(sizeof(int) * na);
    x->ffn_order = malloc(sizeof(int) * nf);
    x->attn_imp = calloc(na, sizeof(double));
    x->ffn_imp = calloc(nf, sizeof(double));
    if (!x->attn_order || !x->ffn_order || !x->attn_imp || !x->ffn_imp) {
        elastic_meta_free(x);
        return err_set(e, "elastic.json: out of memory");
    }
    for (size_t i = 0; i < na; i++) x->attn_order[i] = (int)(i % (size_t)c->n_kv_heads);
    for (size_t i = 0; i < nf; i++) x->ffn_order[i] = (int)(i % (size_t)c->ffn_dim);
    return 0;
}

void elastic_meta_free(ElasticMeta *x) {
    free(x->attn_order);
    free(x->ffn_order);
    free(x->attn_imp);
    free(x->ffn_imp);
    memset(x, 0, sizeof *x);
}

void elastic_meta_anchor_mask(const ElasticMeta *x, unsigned char *anchor) {
    memset(anchor, 0, (size_t)x->n_layers);
    for (int i = 0; i < x->n_anchors; i++) anchor[x->anchors[i]] = 1;
}

/* ---- writer ---- */

static cJSON *int_array(const int *v, int n) { return cJSON_CreateIntArray(v, n); }
static cJSON *double_array(const double *v, int n) { return cJSON_CreateDoubleArray(v, n); }

/* add: attach item to obj under key; returns 0, or -1 when item is NULL (out of memory). */
static int add(cJSON *obj, const char *key, cJSON *item) {
    if (!item) return -1;
    cJSON_AddItemToObject(obj, key, item);
    return 0;
}

static cJSON *meta_json(const ElasticMeta *x) {
    cJSON *root = cJSON_CreateObject(), *cal = cJSON_CreateObject(), *layers = cJSON_CreateArray(),
          *levels = cJSON_CreateArray();
    int bad = !root || !cal || !layers || !levels;
    if (bad) {
        cJSON_Delete(root);
        cJSON_Delete(cal);
        cJSON_Delete(layers);
        cJSON_Delete(levels);
        return NULL;
    }
    bad |= add(root, "format", cJSON_CreateString(META_FORMAT));
    bad |= add(root, "source", cJSON_CreateString(x->source));
    bad |= add(root, "anchors", int_array(x->anchors, x->n_anchors));
    bad |= add(cal, "samples", cJSON_CreateNumber(x->calib_samples));
    bad |= add(cal, "seq", cJSON_CreateNumber(x->calib_seq));
    bad |= add(cal, "seed", cJSON_CreateNumber((double)x->calib_seed));
    bad |= add(cal, "corpus", cJSON_CreateString(x->corpus));
    bad |= add(cal, "loss", cJSON_CreateNumber(x->calib_loss));
    cJSON_AddItemToObject(root, "calibration", cal);
    bad |= add(root, "loo_loss", double_array(x->loo_loss, x->n_layers));
    bad |= add(root, "max_abs_diff", cJSON_CreateNumber(x->max_abs_diff));
    cJSON_AddItemToObject(root, "layers", layers);
    for (int l = 0; l < x->n_layers && !bad; l++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            bad = 1;
            break;
        }
        cJSON_AddItemToArray(layers, o);
        bad |= add(o, "attn_order", int_array(x->attn_order + (size_t)l * x->n_attn, x->n_attn));
        bad |= add(o, "ffn_order", int_array(x->ffn_order + (size_t)l * x->n_ffn, x->n_ffn));
        bad |= add(o, "attn_importance", double_array(x->attn_imp + (size_t)l * x->n_attn, x->n_attn));
        bad |= add(o, "ffn_importance", double_array(x->ffn_imp + (size_t)l * x->n_ffn, x->n_ffn));
    }
    cJSON_AddItemToObject(root, "levels", levels);
    for (int i = 0; i < x->n_levels && !bad; i++) {
        const ElasticLevel *L = &x->levels[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            bad = 1;
            break;
        }
        cJSON_AddItemToArray(levels, o);
        bad |= add(o, "level", cJSON_CreateNumber(L->level));
        bad |= add(o, "param_fraction", cJSON_CreateNumber(L->param_fraction));
        bad |= add(o, "attn_units", int_array(L->attn_units, x->n_layers));
        bad |= add(o, "ffn_units", int_array(L->ffn_units, x->n_layers));
    }
    if (bad) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int elastic_meta_write(const ElasticMeta *x, const char *path, Err *e) {
    cJSON *root = meta_json(x);
    if (!root) return err_set(e, "%s: out of memory building JSON", path);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return err_set(e, "%s: out of memory printing JSON", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* replace the terminator: the file ends with a newline */
    int rc = io_write_atomic(path, text, n + 1, e);
    free(text);
    return rc;
}

/* ---- reader ---- */

/* get_ints: the array field key of o, exactly n integers in [lo, hi], into out. */
static int get_ints(const cJSON *o, const char *key, int n, int lo, int hi, int *out, const char *where, Err *e) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *v;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return err_set(e, "%s: field %s: expected an array of %d integers", where, key, n);
    int i = 0;
    char at[1600];
    cJSON_ArrayForEach(v, a) {
        long x;
        snprintf(at, sizeof at, "%s: field %s[%d]", where, key, i);
        if (io_json_int(v, NULL, lo, hi, &x, at, e)) return -1;
        out[i++] = (int)x;
    }
    return 0;
}

/* get_doubles: the array field key of o, exactly n finite numbers, into out. */
static int get_doubles(const cJSON *o, const char *key, int n, double *out, const char *where, Err *e) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *v;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return err_set(e, "%s: field %s: expected an array of %d numbers", where, key, n);
    int i = 0;
    char at[1600];
    cJSON_ArrayForEach(v, a) {
        snprintf(at, sizeof at, "%s: field %s[%d]", where, key, i);
        if (io_json_double(v, NULL, -HUGE_VAL, HUGE_VAL, &out[i++], at, e)) return -1;
    }
    return 0;
}

/* get_int: the integer field key of o in [lo, hi]. */
static int get_int(const cJSON *o, const char *key, long lo, long hi, int *out, const char *where, Err *e) {
    long x;
    if (io_json_int(o, key, lo, hi, &x, where, e)) return -1;
    *out = (int)x;
    return 0;
}

static int get_number(const cJSON *o, const char *key, double *out, const char *where, Err *e) {
    return io_json_double(o, key, -HUGE_VAL, HUGE_VAL, out, where, e);
}

static void get_string(const cJSON *o, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* is_perm: p (n) holds every index 0..n-1 once. */
static int is_perm(const int *p, int n) {
    unsigned char *seen = calloc((size_t)n, 1);
    int ok = seen != NULL;
    for (int i = 0; ok && i < n; i++) {
        ok = p[i] >= 0 && p[i] < n && !seen[p[i]];
        if (ok) seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static int parse_meta(ElasticMeta *x, const cJSON *root, const char *path, Err *e) {
    char where[1400];
    if (!cJSON_IsObject(root)) return err_set(e, "%s: expected a JSON object", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, META_FORMAT))
        return err_set(e, "%s: field format: expected \"%s\"", path, META_FORMAT);
    get_string(root, "source", x->source, sizeof x->source);
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(root, "anchors");
    int na = cJSON_IsArray(an) ? cJSON_GetArraySize(an) : -1;
    if (na < 0 || na > x->n_layers)
        return err_set(e, "%s: field anchors: expected an array of at most %d layer indices", path, x->n_layers);
    if (get_ints(root, "anchors", na, 0, x->n_layers - 1, x->anchors, path, e)) return -1;
    for (int i = 1; i < na; i++)
        if (x->anchors[i] <= x->anchors[i - 1])
            return err_set(e, "%s: field anchors: expected distinct layers in ascending order", path);
    x->n_anchors = na;
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(root, "calibration");
    if (!cJSON_IsObject(cal)) return err_set(e, "%s: field calibration: expected an object", path);
    snprintf(where, sizeof where, "%s: calibration", path);
    long seed = 0;
    if (get_int(cal, "samples", 0, INT_MAX, &x->calib_samples, where, e) ||
        get_int(cal, "seq", 0, INT_MAX, &x->calib_seq, where, e) ||
        io_json_int(cal, "seed", 0, LONG_MAX, &seed, where, e) || get_number(cal, "loss", &x->calib_loss, where, e))
        return -1;
    x->calib_seed = (unsigned long)seed;
    get_string(cal, "corpus", x->corpus, sizeof x->corpus);
    if (get_doubles(root, "loo_loss", x->n_layers, x->loo_loss, path, e)) return -1;
    if (get_number(root, "max_abs_diff", &x->max_abs_diff, path, e)) return -1;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *o;
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) != x->n_layers)
        return err_set(e, "%s: field layers: expected an array of %d objects", path, x->n_layers);
    int l = 0;
    cJSON_ArrayForEach(o, layers) {
        snprintf(where, sizeof where, "%s: layers[%d]", path, l);
        int *ao = x->attn_order + (size_t)l * x->n_attn, *fo = x->ffn_order + (size_t)l * x->n_ffn;
        if (!cJSON_IsObject(o)) return err_set(e, "%s: expected an object", where);
        if (get_ints(o, "attn_order", x->n_attn, 0, x->n_attn - 1, ao, where, e) ||
            get_ints(o, "ffn_order", x->n_ffn, 0, x->n_ffn - 1, fo, where, e) ||
            get_doubles(o, "attn_importance", x->n_attn, x->attn_imp + (size_t)l * x->n_attn, where, e) ||
            get_doubles(o, "ffn_importance", x->n_ffn, x->ffn_imp + (size_t)l * x->n_ffn, where, e))
            return -1;
        if (!is_perm(ao, x->n_attn)) return err_set(e, "%s: field attn_order: expected a permutation", where);
        if (!is_perm(fo, x->n_ffn)) return err_set(e, "%s: field ffn_order: expected a permutation", where);
        l++;
    }
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(root, "levels");
    int nl = cJSON_IsArray(levels) ? cJSON_GetArraySize(levels) : -1;
    if (nl < 0 || nl > ELASTIC_META_MAX_LEVELS)
        return err_set(e, "%s: field levels: expected an array of at most %d objects", path, ELASTIC_META_MAX_LEVELS);
    int i = 0;
    cJSON_ArrayForEach(o, levels) {
        ElasticLevel *L = &x->levels[i];
        snprintf(where, sizeof where, "%s: levels[%d]", path, i);
        if (!cJSON_IsObject(o)) return err_set(e, "%s: expected an object", where);
        if (get_number(o, "level", &L->level, where, e) || get_number(o, "param_fraction", &L->param_fraction, where, e) ||
            get_ints(o, "attn_units", x->n_layers, 0, x->n_attn, L->attn_units, where, e) ||
            get_ints(o, "ffn_units", x->n_layers, 0, x->n_ffn, L->ffn_units, where, e))
            return -1;
        if (!(L->level > 0.0 && L->level <= 1.0)) return err_set(e, "%s: field level: expected a value in (0, 1]", where);
        i++;
    }
    x->n_levels = nl;
    return 0;
}

int elastic_meta_read(ElasticMeta *x, const ModelConfig *c, const char *path, Err *e) {
    if (elastic_meta_alloc(x, c, e)) return -1;
    cJSON *root;
    if (io_read_json(path, &root, e)) {
        elastic_meta_free(x);
        return -1;
    }
    int rc = parse_meta(x, root, path, e);
    cJSON_Delete(root);
    if (rc) elastic_meta_free(x);
    return rc;
}
