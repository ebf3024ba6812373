/* trace_io: the native JSONL trace format (docs/formats.md), read and written with cJSON.
 *   {"id":0,"arrival_s":1.25|null,"app":"facts","item":"facts-17"|null,
 *    "slo":{"ttft":0.8,"tpot":0.9} or {"ttft_ms":300,"tpot_ms":60},"output_tokens":12,"prompt_tokens":90}
 * arrival_s null (or absent) = sequential; prompt_tokens only for requests without an item. */
#include "traces/trace.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/io.h"

/* Reads one SLO component ("ttft" or "tpot") from the slo object: fraction under KEY, ms under KEY_ms. */
static int read_slo(const cJSON *slo, const char *key, double *val, bool *ms, const char *where, Err *e) {
    char key_ms[16], at[1200];
    snprintf(key_ms, sizeof key_ms, "%s_ms", key);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(slo, key);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(slo, key_ms);
    if (f && m) return err_set(e, "%s: field slo: give either %s or %s, not both", where, key, key_ms);
    if (!f && !m) return err_set(e, "%s: field slo: expected %s (fraction) or %s (milliseconds)", where, key, key_ms);
    snprintf(at, sizeof at, "%s: field slo.%s", where, f ? key : key_ms);
    if (io_json_double(f ? f : m, NULL, 0, TRACE_MAX_SLO, val, at, e)) return -1;
    if (!(*val > 0)) return err_set(e, "%s: expected a positive number", at);
    *ms = (m != NULL);
    return 0;
}

/* int_field: an optional integer field in [lo, hi] (absent or null: *present = false). */
static int int_field(const cJSON *o, const char *name, long lo, long hi, long *out, bool *present, const char *where,
                     Err *e) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    *present = x != NULL && !cJSON_IsNull(x);
    if (!*present) return 0;
    return io_json_int(o, name, lo, hi, out, where, e);
}

static int parse_line(Trace *t, const char *s, size_t len, const char *path, long line, Err *e) {
    char where[1100];
    snprintf(where, sizeof where, "%s:%ld", path, line);
    cJSON *o;
    Err why;
    if (io_json_parse(s, len, where, &o, &why)) /* why: "WHERE: what is wrong" */
        return err_set(e, "%s: expected one JSON object per line (%s)", where, err_after(&why, where));
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(e, "%s: expected one JSON object per line", where);
    }
    TraceRequest r = {.arrival_s = TRACE_SEQUENTIAL, .item = -1, .prompt_tokens = -1};
    int rc = -1;
    long v;
    bool have;
    if (int_field(o, "id", 0, 1L << 52, &v, &have, where, e)) goto done;
    if (!have) {
        err_set(e, "%s: field id: missing (expected a non-negative integer)", where);
        goto done;
    }
    r.id = v;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "arrival_s");
    if (arr && !cJSON_IsNull(arr)) {
        if (io_json_double(o, "arrival_s", 0, TRACE_MAX_ARRIVAL_S, &r.arrival_s, where, e)) goto done;
    }
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(o, "app");
    if (!cJSON_IsString(app) || !app->valuestring[0]) {
        err_set(e, "%s:%ld: field app: expected a non-empty string", path, line);
        goto done;
    }
    if ((r.app = strtab_intern(&t->apps, app->valuestring)) < 0) {
        err_set(e, "out of memory");
        goto done;
    }
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, "item");
    if (item && !cJSON_IsNull(item)) {
        if (!cJSON_IsString(item) || !item->valuestring[0]) {
            err_set(e, "%s:%ld: field item: expected a non-empty string or null", path, line);
            goto done;
        }
        if ((r.item = strtab_intern(&t->items, item->valuestring)) < 0) {
            err_set(e, "out of memory");
            goto done;
        }
    }
    const cJSON *slo = cJSON_GetObjectItemCaseSensitive(o, "slo");
    if (slo) {
        if (!cJSON_IsObject(slo)) {
            err_set(e, "%s:%ld: field slo: expected an object {\"ttft\":..,\"tpot\":..}", path, line);
            goto done;
        }
        if (read_slo(slo, "ttft", &r.slo_ttft, &r.slo_ttft_ms, where, e) ||
            read_slo(slo, "tpot", &r.slo_tpot, &r.slo_tpot_ms, where, e))
            goto done;
    } else {
        const TraceAppSpec *spec = trace_app_spec(app->valuestring);
        if (!spec) {
            err_set(e, "%s:%ld: field slo: missing, and app '%s' has no default SLO", path, line, app->valuestring);
            goto done;
        }
        r.slo_ttft = spec->slo_ttft;
        r.slo_tpot = spec->slo_tpot;
    }
    if (int_field(o, "output_tokens", 1, 1 << 24, &v, &have, where, e)) goto done;
    r.output_tokens = have ? (int)v : 1;
    if (int_field(o, "prompt_tokens", 1, 1 << 24, &v, &have, where, e)) goto done;
    if (have) r.prompt_tokens = (int)v;
    if (r.item < 0 && r.prompt_tokens < 0) {
        err_set(e, "%s:%ld: a request without an item needs prompt_tokens", path, line);
        goto done;
    }
    rc = trace_add(t, &r, e);
done:
    cJSON_Delete(o);
    return rc;
}

int trace_read(Trace *t, const char *path, Err *e) {
    trace_init(t);
    char *buf;
    size_t len;
    if (io_read_file(path, &buf, &len, e)) return -1;
    hash_hex(hash_fnv1a(HASH_FNV_OFFSET, buf, len), t->hash);
    long line = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && buf[end] != '\n') end++;
        line++;
        size_t a = pos, b = end;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r')) a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r')) b--;
        if (b > a && parse_line(t, buf + a, b - a, path, line, e)) {
            free(buf);
            trace_free(t);
            return -1;
        }
        pos = end + 1;
    }
    free(buf);
    if (t->n == 0) {
        trace_free(t);
        return err_set(e, "%s: no requests (expected one JSON object per line)", path);
    }
    if (trace_canonical_apps(t, e)) {
        trace_free(t);
        return -1;
    }
    return 0;
}

/* A growing byte buffer. */
typedef struct Buf {
    char *p;
    size_t len, cap;
} Buf;

static int buf_add(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (b->len + n + 1 > cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static cJSON *request_json(const Trace *t, const TraceRequest *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    if (r->arrival_s < 0) cJSON_AddNullToObject(o, "arrival_s");
    else cJSON_AddNumberToObject(o, "arrival_s", r->arrival_s);
    cJSON_AddStringToObject(o, "app", trace_app(t, r));
    if (r->item < 0) cJSON_AddNullToObject(o, "item");
    else cJSON_AddStringToObject(o, "item", trace_item(t, r));
    cJSON *slo = cJSON_AddObjectToObject(o, "slo");
    cJSON_AddNumberToObject(slo, r->slo_ttft_ms ? "ttft_ms" : "ttft", r->slo_ttft);
    cJSON_AddNumberToObject(slo, r->slo_tpot_ms ? "tpot_ms" : "tpot", r->slo_tpot);
    cJSON_AddNumberToObject(o, "output_tokens", r->output_tokens);
    if (r->prompt_tokens >= 0) cJSON_AddNumberToObject(o, "prompt_tokens", r->prompt_tokens);
    return o;
}

int trace_write(const Trace *t, const char *path, Err *e) {
    Buf b = {0};
    for (long i = 0; i < t->n; i++) {
        cJSON *o = request_json(t, &t->req[i]);
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!s || buf_add(&b, s, strlen(s)) || buf_add(&b, "\n", 1)) {
            free(s);
            free(b.p);
            return err_set(e, "%s: out of memory formatting request %ld", path, i);
        }
        free(s);
    }
    int rc = io_write_atomic(path, b.p ? b.p : "", b.len, e);
    free(b.p);
    return rc;
}
