/* golden: golden accuracy-vs-SLO curves and the regression check (see golden.h). */
#include "sim/golden.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "traces/trace.h"

static const char HEADER[] = "app\tslo_ttft\tslo_tpot\titems\tcorrect\tslo_met\taccuracy\tslo_met_rate";

void golden_free(GoldenCurve *c) {
    free(c->pt);
    memset(c, 0, sizeof *c);
}

static GoldenPoint *point_add(GoldenCurve *c, Err *e) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        GoldenPoint *p = realloc(c->pt, sizeof *p * (size_t)cap);
        if (!p) return err_set(e, "out of memory for golden points"), NULL;
        c->pt = p;
        c->cap = cap;
    }
    GoldenPoint *p = &c->pt[c->n++];
    memset(p, 0, sizeof *p);
    return p;
}

/* app_rank: the paper's app order, other apps after it, "all" last. */
static int app_rank(const char *app) {
    if (!strcmp(app, GOLDEN_ALL)) return TRACE_N_APPS + 1;
    for (int i = 0; i < TRACE_N_APPS; i++)
        if (!strcmp(app, TRACE_APPS[i].name)) return i;
    return TRACE_N_APPS;
}

static int point_cmp(const void *a, const void *b) {
    const GoldenPoint *x = a, *y = b;
    if (x->slo_ttft != y->slo_ttft) return x->slo_ttft < y->slo_ttft ? 1 : -1;
    if (x->slo_tpot != y->slo_tpot) return x->slo_tpot < y->slo_tpot ? 1 : -1;
    int rx = app_rank(x->app), ry = app_rank(y->app);
    return rx != ry ? rx - ry : strcmp(x->app, y->app);
}

static int same_setting(const GoldenPoint *p, double ttft, double tpot) {
    return fabs(p->slo_ttft - ttft) < 1e-9 && fabs(p->slo_tpot - tpot) < 1e-9;
}

static GoldenPoint *point_find(GoldenCurve *c, const char *app, double ttft, double tpot) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->pt[i].app, app) && same_setting(&c->pt[i], ttft, tpot)) return &c->pt[i];
    return NULL;
}

/* add_totals: one GOLDEN_ALL point per setting, the sums over its apps. */
static int add_totals(GoldenCurve *c, Err *e) {
    int n = c->n;
    for (int i = 0; i < n; i++) {
        GoldenPoint *all = point_find(c, GOLDEN_ALL, c->pt[i].slo_ttft, c->pt[i].slo_tpot);
        if (!all) {
            double ttft = c->pt[i].slo_ttft, tpot = c->pt[i].slo_tpot;
            if (!(all = point_add(c, e))) return -1;
            snprintf(all->app, sizeof all->app, "%s", GOLDEN_ALL);
            all->slo_ttft = ttft;
            all->slo_tpot = tpot;
        }
        all->items += c->pt[i].items;
        all->correct += c->pt[i].correct;
        all->slo_met += c->pt[i].slo_met;
    }
    return 0;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src) {
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int golden_from_db(Db *d, const char *method, const GoldenSelect *sel, GoldenCurve *c, Err *e) {
    memset(c, 0, sizeof *c);
    static const char sql[] =
        "SELECT app, slo_ttft, slo_tpot, items, n_correct, n_slo_met, compressor, seed, model, model_hash "
        "FROM standalone_accuracy WHERE method = ?1 AND profile = ?2 AND items_per_app = ?3 AND "
        "(?4 IS NULL OR model = ?4) AND (?5 IS NULL OR compressor IS ?5) AND (?6 < 0 OR seed = ?6) "
        "ORDER BY run DESC";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(d->h, sql, -1, &s, NULL) != SQLITE_OK)
        return err_set(e, "%s: database: reading standalone_accuracy (apply the views: elms db views): %s", d->path,
                       sqlite3_errmsg(d->h));
    sqlite3_bind_text(s, 1, method, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sel->profile, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, sel->items_per_app);
    if (sel->model) sqlite3_bind_text(s, 4, sel->model, -1, SQLITE_STATIC);
    if (sel->compressor) sqlite3_bind_text(s, 5, sel->compressor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, sel->seed);
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->profile, sizeof c->profile, "%s", sel->profile);
    c->items_per_app = sel->items_per_app;
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(s, 0);
        double ttft = sqlite3_column_double(s, 1), tpot = sqlite3_column_double(s, 2);
        if (c->n == 0) { /* the newest run names the configuration */
            copy_text(c->compressor, sizeof c->compressor, sqlite3_column_text(s, 6));
            c->seed = (long)sqlite3_column_int64(s, 7);
            copy_text(c->model, sizeof c->model, sqlite3_column_text(s, 8));
            copy_text(c->model_hash, sizeof c->model_hash, sqlite3_column_text(s, 9));
        }
        if (point_find(c, app, ttft, tpot)) continue; /* an older run of the same cell */
        GoldenPoint *p = point_add(c, e);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p->app, sizeof p->app, "%s", app);
        p->slo_ttft = ttft;
        p->slo_tpot = tpot;
        p->items = (long)sqlite3_column_int64(s, 3);
        p->correct = (long)sqlite3_column_int64(s, 4);
        p->slo_met = (long)sqlite3_column_int64(s, 5);
    }
    if (!rc && step != SQLITE_DONE)
        rc = err_set(e, "%s: database: reading standalone_accuracy: %s", d->path, sqlite3_errmsg(d->h));
    sqlite3_finalize(s);
    if (!rc && c->n) rc = add_totals(c, e);
    if (!rc && c->n) qsort(c->pt, (size_t)c->n, sizeof *c->pt, point_cmp);
    if (rc) golden_free(c);
    return rc;
}

int golden_write(const GoldenCurve *c, const char *path, const char *command, Err *e) {
    size_t cap = 4096 + (size_t)c->n * 128, len = 0;
    char *buf = malloc(cap);
    if (!buf) return err_set(e, "out of memory");
    len += (size_t)snprintf(buf + len, cap - len,
                            "# elms golden curve: accuracy and SLO met against the SLO setting, per app and over all "
                            "apps (\"all\"),\n# from the standalone comparison (analysis/standalone.sh); checked by "
                            "elms regress (docs/experiments.md)\n"
                            "# method: %s\n# profile: %s\n# items_per_app: %ld\n# compressor: %s\n# seed: %ld\n"
                            "# model: %s\n# model_hash: %s\n# command: %s\n%s\n",
                            c->method, c->profile, c->items_per_app, c->compressor, c->seed, c->model, c->model_hash,
                            command ? command : "", HEADER);
    for (int i = 0; i < c->n && len < cap; i++) {
        const GoldenPoint *p = &c->pt[i];
        len += (size_t)snprintf(buf + len, cap - len, "%s\t%g\t%g\t%ld\t%ld\t%ld\t%.6f\t%.6f\n", p->app, p->slo_ttft,
                                p->slo_tpot, p->items, p->correct, p->slo_met, (double)p->correct / (double)p->items,
                                (double)p->slo_met / (double)p->items);
    }
    int rc = len < cap ? io_write_atomic(path, buf, len, e) : err_set(e, "%s: golden curve too long", path);
    free(buf);
    return rc;
}

/* ---- reading ---- */

static int parse_long(const char *s, long lo, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo) return -1;
    *out = v;
    return 0;
}

static int parse_slo(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > TRACE_MAX_SLO) return -1;
    *out = v;
    return 0;
}

/* read_meta: one "# key: value" line into c (unknown keys and comment lines are ignored). */
static int read_meta(GoldenCurve *c, char *line, const char *path, long ln, Err *e) {
    char *colon = strchr(line, ':');
    if (!colon || colon == line + 2) return 0;
    *colon = 0;
    const char *key = line + 2, *val = colon + 1 + (colon[1] == ' ');
    struct { const char *key; char *dst; size_t cap; } text[] = {
        {"method", c->method, sizeof c->method}, {"profile", c->profile, sizeof c->profile},
        {"compressor", c->compressor, sizeof c->compressor}, {"model", c->model, sizeof c->model},
        {"model_hash", c->model_hash, sizeof c->model_hash}};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (!strcmp(key, text[i].key)) {
            snprintf(text[i].dst, text[i].cap, "%s", val);
            return 0;
        }
    if (!strcmp(key, "items_per_app") && parse_long(val, 1, &c->items_per_app))
        return err_set(e, "%s: line %ld: field items_per_app: expected an integer >= 1, got '%s'", path, ln, val);
    if (!strcmp(key, "seed") && parse_long(val, 0, &c->seed))
        return err_set(e, "%s: line %ld: field seed: expected an integer >= 0, got '%s'", path, ln, val);
    return 0;
}

/* read_point: one data line (the columns of HEADER). */
static int read_point(GoldenCurve *c, char *line, const char *path, long ln, Err *e) {
    static const char *const name[6] = {"app", "slo_ttft", "slo_tpot", "items", "correct", "slo_met"};
    char *f[8];
    int nf = 0;
    for (char *p = line; nf < 8; nf++) {
        f[nf] = p;
        char *tab = strchr(p, '\t');
        if (!tab) {
            nf++;
            break;
        }
        *tab = 0;
        p = tab + 1;
    }
    if (nf != 8) return err_set(e, "%s: line %ld: expected the 8 columns of the header, got %d", path, ln, nf);
    GoldenPoint *p = point_add(c, e);
    if (!p) return -1;
    if (!f[0][0] || strlen(f[0]) >= sizeof p->app)
        return err_set(e, "%s: line %ld: field app: expected a name of 1 to %zu characters", path, ln,
                       sizeof p->app - 1);
    snprintf(p->app, sizeof p->app, "%s", f[0]);
    double *slo[3] = {NULL, &p->slo_ttft, &p->slo_tpot};
    for (int k = 1; k <= 2; k++)
        if (parse_slo(f[k], slo[k]))
            return err_set(e, "%s: line %ld: field %s: expected a number in (0, %g], got '%s'", path, ln, name[k],
                           TRACE_MAX_SLO, f[k]);
    long *dst[3] = {&p->items, &p->correct, &p->slo_met};
    for (int k = 0; k < 3; k++)
        if (parse_long(f[3 + k], k == 0 ? 1 : 0, dst[k]) || (k > 0 && *dst[k] > p->items))
            return err_set(e, "%s: line %ld: field %s: expected an integer in [%d, items], got '%s'", path, ln,
                           name[3 + k], k == 0 ? 1 : 0, f[3 + k]);
    return 0;
}

int golden_read(const char *path, GoldenCurve *c, Err *e) {
    memset(c, 0, sizeof *c);
    c->seed = -1;
    char *buf;
    size_t len;
    if (io_read_file(path, &buf, &len, e)) return -1;
    int rc = 0, header = 0;
    long ln = 0;
    for (char *line = buf, *next; !rc && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        ln++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r') line[n - 1] = 0;
        if (!line[0]) continue;
        if (line[0] == '#') {
            if (line[1] == ' ') rc = read_meta(c, line, path, ln, e);
        } else if (!header) {
            header = 1;
            if (strcmp(line, HEADER)) rc = err_set(e, "%s: line %ld: expected the header '%s'", path, ln, HEADER);
        } else {
            rc = read_point(c, line, path, ln, e);
        }
    }
    free(buf);
    const char *missing = !c->method[0] ? "method" : !c->profile[0] ? "profile" : !c->items_per_app ? "items_per_app"
                        : !c->compressor[0] ? "compressor" : c->seed < 0 ? "seed" : NULL;
    if (!rc && missing) rc = err_set(e, "%s: field %s: missing (a '# %s: ...' line)", path, missing, missing);
    if (!rc && c->n == 0) rc = err_set(e, "%s: no points", path);
    if (rc) golden_free(c);
    return rc;
}

/* ---- export ---- */

/* distinct_text: the distinct values of column col of standalone_runs for method (or every method when NULL) under
 * sel's profile and item count, as "a, b, c" into out; *n = how many. */
static int distinct_values(Db *d, const char *col, const char *method, const GoldenSelect *sel, char *out,
                           size_t cap, int *n, Err *e) {
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT DISTINCT %s FROM standalone_runs WHERE profile = ?1 AND (?2 IS NULL OR "
             "method = ?2) AND (?3 <= 0 OR items_per_app = ?3) AND (?4 IS NULL OR model = ?4) AND (?5 IS NULL OR "
             "compressor IS ?5) AND (?6 < 0 OR seed = ?6) ORDER BY 1", col);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(d->h, sql, -1, &s, NULL) != SQLITE_OK)
        return err_set(e, "%s: database: reading standalone_runs (apply the views: elms db views): %s", d->path,
                       sqlite3_errmsg(d->h));
    sqlite3_bind_text(s, 1, sel->profile, -1, SQLITE_STATIC);
    if (method) sqlite3_bind_text(s, 2, method, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, sel->items_per_app);
    if (sel->model) sqlite3_bind_text(s, 4, sel->model, -1, SQLITE_STATIC);
    if (sel->compressor) sqlite3_bind_text(s, 5, sel->compressor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, sel->seed);
    size_t len = 0;
    out[0] = 0;
    *n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        len += (size_t)snprintf(out + len, cap > len ? cap - len : 0, "%s%s", *n ? ", " : "", v ? v : "NULL");
        (*n)++;
    }
    sqlite3_finalize(s);
    return 0;
}

int golden_export(Db *d, const GoldenSelect *sel_in, const char *dir, const char *command, int *n_written, Err *e) {
    *n_written = 0;
    GoldenSelect sel = *sel_in;
    char vals[4096];
    int n;
    if (db_views_apply(d, e)) return -1;
    if (!sel.items_per_app) {
        if (distinct_values(d, "items_per_app", NULL, &sel, vals, sizeof vals, &n, e)) return -1;
        if (n != 1)
            return err_set(e, "%s: %s standalone runs under profile %s%s%s: choose the items per app (--items)",
                           d->path, n ? "several item counts" : "no", sel.profile, n ? ": " : "", vals);
        sel.items_per_app = atol(vals);
    }
    char methods[4096];
    const char *list[256];
    int n_list = 0;
    if (sel.methods) {
        for (int i = 0; i < sel.n_methods && n_list < 256; i++) list[n_list++] = sel.methods[i];
    } else {
        if (distinct_values(d, "method", NULL, &sel, methods, sizeof methods, &n, e)) return -1;
        for (char *tok = strtok(methods, ", "); tok && n_list < 256; tok = strtok(NULL, ", ")) list[n_list++] = tok;
    }
    if (n_list == 0)
        return err_set(e, "%s: no standalone runs of %ld items per app under profile %s", d->path, sel.items_per_app,
                       sel.profile);
    static const char *const config[3] = {"model", "compressor", "seed"};
    for (int i = 0; i < n_list; i++)
        for (int k = 0; k < 3; k++) {
            if (distinct_values(d, config[k], list[i], &sel, vals, sizeof vals, &n, e)) return -1;
            if (n == 0)
                return err_set(e, "%s: no standalone runs of %s with %ld items per app under profile %s", d->path,
                               list[i], sel.items_per_app, sel.profile);
            if (n > 1)
                return err_set(e, "%s: %s has standalone runs of several %ss (%s): choose one (--%s)", d->path, list[i],
                               config[k], vals, config[k]);
        }
    if (io_mkdirs(dir, e)) return -1;
    for (int i = 0; i < n_list; i++) {
        GoldenCurve c;
        if (golden_from_db(d, list[i], &sel, &c, e)) return -1;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s.tsv", dir, list[i]);
        int rc = golden_write(&c, path, command, e);
        golden_free(&c);
        if (rc) return -1;
        (*n_written)++;
    }
    return 0;
}

/* ---- the check ---- */

double golden_tolerance(long k0, long n0, long k1, long n1) {
    double p = (double)(k0 + k1) / (double)(n0 + n1);
    return GOLDEN_Z * sqrt(p * (1.0 - p) * (1.0 / (double)n0 + 1.0 / (double)n1));
}

static GoldenCheck *check_add(GoldenReport *r, Err *e) {
    if (r->n == r->cap) {
        long cap = r->cap ? 2 * r->cap : 256;
        GoldenCheck *p = realloc(r->check, sizeof *p * (size_t)cap);
        if (!p) return err_set(e, "out of memory"), NULL;
        r->check = p;
        r->cap = cap;
    }
    GoldenCheck *c = &r->check[r->n++];
    memset(c, 0, sizeof *c);
    return c;
}

/* compare: the two checks (accuracy, SLO met) of golden point g against the run's point p (NULL if none). */
static int compare(GoldenReport *r, const GoldenCurve *gc, const GoldenPoint *g, const GoldenPoint *p, Err *e) {
    for (int m = 0; m < 2; m++) {
        GoldenCheck *c = check_add(r, e);
        if (!c) return -1;
        snprintf(c->method, sizeof c->method, "%s", gc->method);
        snprintf(c->app, sizeof c->app, "%s", g->app);
        c->metric = m == 0 ? "accuracy" : "slo_met";
        c->slo_ttft = g->slo_ttft;
        c->slo_tpot = g->slo_tpot;
        c->k0 = m == 0 ? g->correct : g->slo_met;
        c->n0 = g->items;
        c->k1 = c->n1 = -1;
        if (!p) {
            c->status = GOLDEN_MISSING;
        } else {
            c->k1 = m == 0 ? p->correct : p->slo_met;
            c->n1 = p->items;
            c->tolerance = golden_tolerance(c->k0, c->n0, c->k1, c->n1);
            double diff = (double)c->k1 / (double)c->n1 - (double)c->k0 / (double)c->n0;
            if (c->n1 != c->n0) c->status = GOLDEN_ITEMS;
            else if (c->k1 == c->k0) c->status = GOLDEN_EQUAL;
            else if (fabs(diff) <= c->tolerance + 1e-12) c->status = GOLDEN_WITHIN;
            else {
                c->status = GOLDEN_MOVED;
                if (diff < 0) r->down++;
                else r->up++;
            }
        }
        r->count[c->status]++;
    }
    return 0;
}

/* check_curve: every point of the golden file at path against d. */
static int check_curve(Db *d, const char *path, const char *model, GoldenReport *r, Err *e) {
    GoldenCurve g, run;
    if (golden_read(path, &g, e)) return -1;
    GoldenSelect sel = {.profile = g.profile, .items_per_app = g.items_per_app, .model = model,
                        .compressor = g.compressor, .seed = g.seed};
    int rc = golden_from_db(d, g.method, &sel, &run, e);
    if (!rc && run.n && g.model_hash[0] && strcmp(run.model_hash, g.model_hash) && r->n_notes < 16)
        snprintf(r->notes[r->n_notes++], sizeof r->notes[0], "%s: the run's weights (%.200s, hash %s) are not the "
                 "golden's (%.200s, hash %s)", g.method, run.model, run.model_hash, g.model, g.model_hash);
    for (int i = 0; !rc && i < g.n; i++)
        rc = compare(r, &g, &g.pt[i], point_find(&run, g.pt[i].app, g.pt[i].slo_ttft, g.pt[i].slo_tpot), e);
    r->curves++;
    golden_free(&g);
    golden_free(&run);
    return rc;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int golden_check(Db *d, const char *dir, const char *model, GoldenReport *r, Err *e) {
    memset(r, 0, sizeof *r);
    if (db_views_apply(d, e)) return -1;
    DIR *dh = opendir(dir);
    if (!dh) return err_set(e, "%s: cannot open the golden directory: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = 0;
    for (struct dirent *de; !rc && (de = readdir(dh));) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".tsv")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **p = realloc(names, sizeof *p * (size_t)cap);
            if (!p) {
                rc = err_set(e, "out of memory");
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(de->d_name))) rc = err_set(e, "out of memory");
        else n++;
    }
    closedir(dh);
    if (!rc && n == 0) rc = err_set(e, "%s: no golden curves (*.tsv) in the directory", dir);
    if (!rc) qsort(names, (size_t)n, sizeof *names, name_cmp);
    for (int i = 0; i < n && !rc; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = check_curve(d, path, model, r, e);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

void golden_report_free(GoldenReport *r) {
    free(r->check);
    memset(r, 0, sizeof *r);
}
