/* io_json: the one strict JSON parse (no NUL bytes, no trailing data, no duplicate keys) and the one
 * range-checked reading of JSON numbers, used by every JSON reader of the project. */
#include "engine/io.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* nul_escape: the offset of the first "\u0000" escape inside a JSON string of txt (len), or -1. Tracks string
 * state and backslash escapes, so an escaped backslash followed by "u0000" is not counted. */
static long nul_escape(const char *txt, size_t len) {
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = txt[i];
        if (!in_str) {
            in_str = ch == '"';
            continue;
        }
        if (ch == '"') {
            in_str = 0;
        } else if (ch == '\\' && i + 1 < len) {
            if (txt[i + 1] == 'u' && i + 6 <= len && !memcmp(txt + i + 2, "0000", 4)) return (long)i;
            i++; /* skip the escaped character */
        }
    }
    return -1;
}

static int cmp_key(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* dup_key: the first key that appears twice in an object anywhere inside v (sorted per object), or NULL. Sets
 * *oom when memory runs out. */
static const char *dup_key(const cJSON *v, int *oom) {
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return NULL;
    const cJSON *c;
    if (cJSON_IsObject(v)) {
        int n = cJSON_GetArraySize(v);
        if (n > 1) {
            const cJSON **p = malloc((size_t)n * sizeof *p);
            if (!p) {
                *oom = 1;
                return NULL;
            }
            int i = 0;
            cJSON_ArrayForEach(c, v) p[i++] = c;
            qsort(p, (size_t)n, sizeof *p, cmp_key);
            const char *d = NULL;
            for (i = 1; i < n && !d; i++)
                if (!strcmp(p[i]->string, p[i - 1]->string)) d = p[i]->string;
            free(p);
            if (d) return d;
        }
    }
    cJSON_ArrayForEach(c, v) {
        const char *d = dup_key(c, oom);
        if (d || *oom) return d;
    }
    return NULL;
}

int io_json_parse(const char *txt, size_t len, const char *where, cJSON **out, Err *e) {
    *out = NULL;
    const char *nul = memchr(txt, 0, len);
    if (nul) return err_set(e, "%s: NUL byte at byte %ld (JSON text may not contain NUL)", where, (long)(nul - txt));
    long esc = nul_escape(txt, len);
    if (esc >= 0) return err_set(e, "%s: \\u0000 in a string at byte %ld (strings may not contain NUL)", where, esc);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(txt, len, &end, 0);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= txt && at <= txt + len ? (long)(at - txt) : -1;
        return err_set(e, "%s: malformed JSON near byte %ld", where, off);
    }
    size_t pos = end && end >= txt && end <= txt + len ? (size_t)(end - txt) : len;
    while (pos < len && strchr(" \t\r\n", txt[pos])) pos++;
    if (pos < len) {
        cJSON_Delete(j);
        return err_set(e, "%s: trailing data after the JSON value at byte %zu", where, pos);
    }
    int oom = 0;
    const char *d = dup_key(j, &oom);
    if (d || oom) {
        int rc = oom ? err_set(e, "%s: out of memory checking keys", where)
                     : err_set(e, "%s: field '%.200s' appears twice (duplicate key)", where, d);
        cJSON_Delete(j);
        return rc;
    }
    *out = j;
    return 0;
}

/* number_at: the number obj.field (obj itself when field is NULL) into *d; the messages for a missing value or a
 * non-number say what was expected (want, e.g. "an integer in [0, 9]"). Sets *sep and *name for the caller's
 * own message ("PATH: field NAME" or "PATH"). */
static int number_at(const cJSON *obj, const char *field, const char *want, const char *path, double *d,
                     const char **sep, const char **name, Err *e) {
    const cJSON *v = field ? cJSON_GetObjectItemCaseSensitive(obj, field) : obj;
    *sep = field ? ": field " : "";
    *name = field ? field : "";
    if (!v) return err_set(e, "%s%s%s: missing (expected %s)", path, *sep, *name, want);
    if (!cJSON_IsNumber(v)) return err_set(e, "%s%s%s: expected %s, got a non-number", path, *sep, *name, want);
    *d = v->valuedouble;
    return 0;
}

int io_json_int(const cJSON *obj, const char *field, long lo, long hi, long *out, const char *path, Err *e) {
    char want[96];
    snprintf(want, sizeof want, "an integer in [%ld, %ld]", lo, hi);
    const char *sep, *name;
    double d;
    if (number_at(obj, field, want, path, &d, &sep, &name, e)) return -1;
    /* (double)hi may round up past hi (LONG_MAX becomes 2^63): compare against 2^63 before any cast */
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d) || !(d < 9223372036854775808.0) ||
        !(d >= -9223372036854775808.0) || (long)d > hi || (long)d < lo)
        return err_set(e, "%s%s%s: expected %s, got %.17g", path, sep, name, want, d);
    *out = (long)d;
    return 0;
}

int io_json_double(const cJSON *obj, const char *field, double lo, double hi, double *out, const char *path,
                   Err *e) {
    char want[96];
    snprintf(want, sizeof want, "a finite number in [%g, %g]", lo, hi);
    const char *sep, *name;
    double d;
    if (number_at(obj, field, want, path, &d, &sep, &name, e)) return -1;
    if (!isfinite(d) || !(d >= lo && d <= hi))
        return err_set(e, "%s%s%s: expected %s, got %.17g", path, sep, name, want, d);
    *out = d;
    return 0;
}

int io_write_json(const char *path, const cJSON *j, Err *e) {
    char *text = cJSON_Print(j);
    if (!text) return err_set(e, "%s: out of memory", path);
    int rc = io_write_atomic(path, text, strlen(text), e);
    free(text);
    return rc;
}
