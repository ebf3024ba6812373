/* trace_import: importers from other trace formats into the native form (see trace.h):
 * the paper's trace JSON (one array per request) and CSV with arrived_at,num_prefill_tokens,num_decode_tokens. */
#include "traces/trace.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/io.h"

/* The paper's dataset names and the app each one became in this project. */
static const struct {
    const char *dataset, *app;
} DATASET_APP[] = {
    {"OBQA", "facts"},   {"ARC_E", "science"}, {"octopus", "funcall"},
    {"llamatouch", "uinav"}, {"PIQA", "physical"}, {"SCIQ", "reading"},
};

static const char *app_of_dataset(const char *d) {
    for (size_t i = 0; i < sizeof DATASET_APP / sizeof DATASET_APP[0]; i++)
        if (!strcasecmp(DATASET_APP[i].dataset, d)) return DATASET_APP[i].app;
    return NULL;
}

int trace_import_elastilm(Trace *t, const char *path, Err *e) {
    trace_init(t);
    cJSON *root;
    if (io_read_json(path, &root, e)) return -1;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return err_set(e, "%s: expected a JSON array of requests [prompt, choices, answer, [prefill, decode], id, "
                          "dataset]", path);
    }
    long i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, root) {
        int n = cJSON_GetArraySize(x);
        if (!cJSON_IsArray(x) || n != 6) {
            err_set(e, "%s: request %ld: expected an array of 6 fields, got %d", path, i, cJSON_IsArray(x) ? n : 0);
            goto fail;
        }
        const cJSON *slo = cJSON_GetArrayItem(x, 3), *id = cJSON_GetArrayItem(x, 4), *ds = cJSON_GetArrayItem(x, 5);
        char at[1600];
        double pre = 0, dec = 0;
        snprintf(at, sizeof at, "%s: request %ld: field 4 (SLO)", path, i);
        if (!cJSON_IsArray(slo) || cJSON_GetArraySize(slo) != 2) {
            err_set(e, "%s: expected [prefill_frac, decode_frac] with positive numbers", at);
            goto fail;
        }
        if (io_json_double(cJSON_GetArrayItem(slo, 0), NULL, 0, TRACE_MAX_SLO, &pre, at, e) ||
            io_json_double(cJSON_GetArrayItem(slo, 1), NULL, 0, TRACE_MAX_SLO, &dec, at, e))
            goto fail;
        if (!(pre > 0) || !(dec > 0)) {
            err_set(e, "%s: expected [prefill_frac, decode_frac] with positive numbers", at);
            goto fail;
        }
        char item[64];
        long idn;
        snprintf(at, sizeof at, "%s: request %ld: field 5 (id)", path, i);
        if (cJSON_IsNumber(id)) {
            if (io_json_int(id, NULL, 0, 1L << 52, &idn, at, e)) goto fail;
            snprintf(item, sizeof item, "%ld", idn);
        } else if (cJSON_IsString(id) && id->valuestring[0] && strlen(id->valuestring) < sizeof item) {
            snprintf(item, sizeof item, "%s", id->valuestring);
        } else {
            err_set(e, "%s: expected a non-negative integer", at);
            goto fail;
        }
        const char *app = cJSON_IsString(ds) ? app_of_dataset(ds->valuestring) : NULL;
        if (!app) {
            err_set(e, "%s: request %ld: field 6 (dataset): expected one of OBQA, ARC_E, octopus, llamatouch, PIQA, "
                       "SCIQ, got %s", path, i, cJSON_IsString(ds) ? ds->valuestring : "a non-string");
            goto fail;
        }
        const TraceAppSpec *spec = trace_app_spec(app);
        TraceRequest r = {.id = i, .arrival_s = TRACE_SEQUENTIAL, .slo_ttft = pre, .slo_tpot = dec,
                          .prompt_tokens = -1};
        if ((r.app = strtab_intern(&t->apps, app)) < 0) {
            err_set(e, "out of memory");
            goto fail;
        }
        r.output_tokens = (int)lround(spec->output_mean);
        if ((r.item = strtab_intern(&t->items, item)) < 0) {
            err_set(e, "out of memory");
            goto fail;
        }
        if (trace_add(t, &r, e)) goto fail;
        i++;
    }
    cJSON_Delete(root);
    if (t->n == 0) {
        trace_free(t);
        return err_set(e, "%s: the array holds no requests", path);
    }
    return trace_canonical_apps(t, e);
fail:
    cJSON_Delete(root);
    trace_free(t);
    return -1;
}

int trace_map_items(Trace *t, const ItemSet *const *sets, Err *e) {
    StrTab ids; /* the new item table: the old one is indexed by the paper's ids */
    strtab_init(&ids);
    for (long i = 0; i < t->n; i++) {
        TraceRequest *r = &t->req[i];
        if (r->item < 0) continue;
        const char *app = trace_app(t, r), *old = trace_item(t, r);
        int a = -1;
        for (int k = 0; k < TRACE_N_APPS && a < 0; k++)
            if (!strcmp(TRACE_APPS[k].name, app)) a = k;
        char *end;
        errno = 0;
        long k = strtol(old, &end, 10);
        if (a < 0 || !sets[a] || sets[a]->n <= 0) {
            strtab_free(&ids);
            return err_set(e, "request %ld: app '%s' has no items to map its id onto", r->id, app);
        }
        if (!old[0] || *end || k < 0 || errno) {
            strtab_free(&ids);
            return err_set(e, "request %ld: item '%s' is not a paper question id (a non-negative integer)", r->id, old);
        }
        if ((r->item = strtab_intern(&ids, sets[a]->items[k % sets[a]->n].id)) < 0) {
            strtab_free(&ids);
            return err_set(e, "out of memory");
        }
    }
    strtab_free(&t->items);
    t->items = ids;
    return 0;
}

/* ---- CSV ---- */

/* Splits line (modified in place) at commas into at most max fields; returns the count. Fields are trimmed;
 * surrounding double quotes are removed (quoted commas are not supported: numeric traces do not need them). */
static int split_csv(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        while (isspace((unsigned char)*p)) p++;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1])) *--end = 0;
        if (end - p >= 2 && *p == '"' && end[-1] == '"') {
            end[-1] = 0;
            p++;
        }
        f[n++] = p;
        if (!c) break;
        p = c + 1;
    }
    return n;
}

static int parse_num(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int trace_import_csv(Trace *t, const char *path, const char *app, unsigned long seed, Err *e) {
    trace_init(t);
    const TraceAppSpec *fixed = NULL;
    if (app && !(fixed = trace_app_spec(app))) {
        return err_set(e, "trace import: unknown app '%s' (expected facts, science, funcall, uinav, physical or "
                          "reading)", app);
    }
    char *buf;
    size_t len;
    if (io_read_file(path, &buf, &len, e)) return -1;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    int col_arr = -1, col_pre = -1, col_dec = -1, ncol = 0;
    long line = 0;
    double t0 = INFINITY;
    char *p = buf, *f[64];
    int rc = -1;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        line++;
        char *l = p;
        p = nl ? nl + 1 : p + strlen(p);
        size_t ll = strlen(l);
        if (ll && l[ll - 1] == '\r') l[ll - 1] = 0;
        if (!l[strspn(l, " \t")]) continue;
        int n = split_csv(l, f, 64);
        if (col_arr < 0) {
            ncol = n;
            for (int i = 0; i < n; i++) {
                if (!strcmp(f[i], "arrived_at")) col_arr = i;
                else if (!strcmp(f[i], "num_prefill_tokens")) col_pre = i;
                else if (!strcmp(f[i], "num_decode_tokens")) col_dec = i;
            }
            if (col_arr < 0 || col_pre < 0 || col_dec < 0) {
                err_set(e, "%s:%ld: expected a header with columns arrived_at, num_prefill_tokens, num_decode_tokens",
                        path, line);
                goto done;
            }
            continue;
        }
        if (n != ncol) {
            err_set(e, "%s:%ld: expected %d fields like the header, got %d", path, line, ncol, n);
            goto done;
        }
        double at, pre, dec;
        if (parse_num(f[col_arr], &at) || !(at >= 0 && at <= TRACE_MAX_ARRIVAL_S)) {
            err_set(e, "%s:%ld: field arrived_at: expected a non-negative number of seconds, got '%s'", path, line,
                    f[col_arr]);
            goto done;
        }
        if (parse_num(f[col_pre], &pre) || pre < 1 || pre > (1 << 24) || pre != floor(pre)) {
            err_set(e, "%s:%ld: field num_prefill_tokens: expected a positive integer, got '%s'", path, line,
                    f[col_pre]);
            goto done;
        }
        if (parse_num(f[col_dec], &dec) || dec < 1 || dec > (1 << 24) || dec != floor(dec)) {
            err_set(e, "%s:%ld: field num_decode_tokens: expected a positive integer, got '%s'", path, line,
                    f[col_dec]);
            goto done;
        }
        const TraceAppSpec *spec = fixed ? fixed : &TRACE_APPS[gsl_rng_uniform_int(r, TRACE_N_APPS)];
        TraceRequest q = {.id = t->n, .arrival_s = at, .item = -1, .slo_ttft = spec->slo_ttft,
                          .slo_tpot = spec->slo_tpot, .output_tokens = (int)dec, .prompt_tokens = (int)pre};
        if ((q.app = strtab_intern(&t->apps, spec->name)) < 0) {
            err_set(e, "out of memory");
            goto done;
        }
        if (at < t0) t0 = at;
        if (trace_add(t, &q, e)) goto done;
    }
    if (col_arr < 0) {
        err_set(e, "%s: empty file (expected a header with arrived_at, num_prefill_tokens, num_decode_tokens)", path);
        goto done;
    }
    if (t->n == 0) {
        err_set(e, "%s: no requests after the header", path);
        goto done;
    }
    for (long i = 0; i < t->n; i++) t->req[i].arrival_s = round((t->req[i].arrival_s - t0) * 1e6) / 1e6;
    rc = trace_canonical_apps(t, e);
done:
    gsl_rng_free(r);
    free(buf);
    if (rc) trace_free(t);
    return rc;
}
