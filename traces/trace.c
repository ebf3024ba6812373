/* trace: the in-memory trace, the built-in app table and small accessors (see trace.h). */
#include "traces/trace.h"

#include <stdlib.h>
#include <string.h>

/* SLOs are the paper's end-to-end trace settings. Output lengths are this project's choice: the apps are
 * multiple choice (answers are scored, not generated), so output tokens only set the decode work of a
 * request; function calls and UI actions are given longer outputs than short answers. */
const TraceAppSpec TRACE_APPS[TRACE_N_APPS] = {
    {"facts", 1.0, 1.0, 12.0},   {"science", 0.8, 0.9, 12.0},  {"funcall", 0.6, 0.8, 24.0},
    {"uinav", 0.4, 0.7, 16.0},   {"physical", 0.2, 0.6, 16.0}, {"reading", 0.2, 0.5, 12.0},
};

void trace_init(Trace *t) {
    memset(t, 0, sizeof *t);
    strtab_init(&t->apps);
    strtab_init(&t->items);
}

void trace_free(Trace *t) {
    free(t->req);
    strtab_free(&t->apps);
    strtab_free(&t->items);
    memset(t, 0, sizeof *t);
}

int trace_add(Trace *t, const TraceRequest *r, Err *e) {
    if (t->n == t->cap) {
        long cap = t->cap ? t->cap * 2 : 1024;
        TraceRequest *req = realloc(t->req, sizeof *req * (size_t)cap);
        if (!req) return err_set(e, "out of memory holding %ld trace requests", cap);
        t->req = req;
        t->cap = cap;
    }
    t->req[t->n++] = *r;
    return 0;
}

const char *trace_app(const Trace *t, const TraceRequest *r) {
    return r->app >= 0 && r->app < t->apps.n ? t->apps.str[r->app] : "";
}

const char *trace_item(const Trace *t, const TraceRequest *r) {
    return r->item >= 0 && r->item < t->items.n ? t->items.str[r->item] : "";
}

const TraceAppSpec *trace_app_spec(const char *name) {
    for (int i = 0; i < TRACE_N_APPS; i++)
        if (!strcmp(TRACE_APPS[i].name, name)) return &TRACE_APPS[i];
    return NULL;
}

int trace_canonical_apps(Trace *t, Err *e) {
    int n = t->apps.n;
    int *map = malloc(sizeof *map * (size_t)(n ? n : 1));
    char *used = calloc((size_t)(n ? n : 1), 1);
    StrTab apps;
    strtab_init(&apps);
    if (!map || !used) goto oom;
    for (long i = 0; i < t->n; i++)
        if (t->req[i].app >= 0 && t->req[i].app < n) used[t->req[i].app] = 1;
    for (int a = 0; a < n; a++) map[a] = -1;
    for (int k = 0; k < TRACE_N_APPS; k++) {
        int a = strtab_find(&t->apps, TRACE_APPS[k].name);
        if (a >= 0 && used[a] && (map[a] = strtab_intern(&apps, TRACE_APPS[k].name)) < 0) goto oom;
    }
    for (int a = 0; a < n; a++)
        if (used[a] && map[a] < 0 && (map[a] = strtab_intern(&apps, t->apps.str[a])) < 0) goto oom;
    for (long i = 0; i < t->n; i++) t->req[i].app = map[t->req[i].app];
    strtab_free(&t->apps);
    t->apps = apps;
    free(map);
    free(used);
    return 0;
oom:
    free(map);
    free(used);
    strtab_free(&apps);
    return err_set(e, "out of memory");
}
