/* golden: the golden accuracy-vs-SLO curves of the standalone comparison, and the regression check against them
 * (`elms regress`, docs/experiments.md).
 *
 * A curve is one method's points: per (SLO setting, app), the items, the correct answers and the requests that
 * met the SLO, read from the view standalone_accuracy of a results database (analysis/views.sql; the newest
 * complete run of each setting), plus per setting one point over all apps, "all". It is stored as METHOD.tsv in
 * a golden directory (format in docs/formats.md) with the selection it came from: profile, items per app,
 * compressor, seed, and the model it was measured on.
 *
 * The check takes the same selection (profile, items per app, compressor, seed) from a database and compares
 * every point twice, accuracy (correct of items) and SLO met (met of items). A point has moved when the golden
 * proportion k0/n0 and the run's k1/n1 differ by more than the two-sided two-proportion z-test allows at 99%:
 *     |k0/n0 - k1/n1| > z sqrt(p (1 - p) (1/n0 + 1/n1)),   p = (k0 + k1) / (n0 + n1),   z = 2.5758 (GOLDEN_Z).
 * Both proportions are treated as samples of n items (a retrained model or regenerated items differ in both),
 * so the tolerance shrinks with the number of items: about 0.25 for one item off 10 of 10, 0.14 at 87 of 100,
 * 0.06 for a setting's 600 items near 0.8. Replays are deterministic, so an unchanged build gives equal counts;
 * the tolerance decides which changes are too large to be the noise of n items. A point the database lacks, or
 * measures on another number of items, also fails the check. */
#ifndef ELMS_GOLDEN_H
#define ELMS_GOLDEN_H

#include "engine/err.h"
#include "sim/db.h"

#define GOLDEN_Z 2.5758293035489004 /* the standard normal's 99.5% quantile: a two-sided 99% test */
#define GOLDEN_ALL "all"            /* the app name of a setting's point over all apps */

typedef struct GoldenPoint {
    char app[32];                   /* an app, or GOLDEN_ALL */
    double slo_ttft, slo_tpot;      /* the SLO setting (fractions of the full model's TTFT and TPOT) */
    long items, correct, slo_met;
} GoldenPoint;

typedef struct GoldenCurve {
    char method[64], profile[64], compressor[64], model[512], model_hash[32];
    long items_per_app, seed;
    GoldenPoint *pt;                /* (n) by setting (tighter last), then app in the paper's order, "all" last */
    int n, cap;
} GoldenCurve;

/* Which runs of a database a curve is taken from. */
typedef struct GoldenSelect {
    const char *profile;            /* the device profile (normalized for the paper's comparison) */
    long items_per_app;             /* 0: the only value the database holds for profile */
    const char *model;              /* runs of this model directory only, or NULL: any */
    const char *compressor;         /* NULL: any */
    long seed;                      /* -1: any */
    const char *const *methods;     /* (n_methods) to export; NULL: every method the database holds */
    int n_methods;
} GoldenSelect;

/* golden_free: release c's points (c becomes empty). */
void golden_free(GoldenCurve *c);
/* golden_from_db: the curve of method under sel from d's view standalone_accuracy (the views must exist, see
 * db_views_apply): the newest complete run of each setting. c->n == 0 when the database holds none. */
int golden_from_db(Db *d, const char *method, const GoldenSelect *sel, GoldenCurve *c, Err *e);
/* golden_write: c as a golden file at path, atomically; command (may be NULL) is recorded in it. */
int golden_write(const GoldenCurve *c, const char *path, const char *command, Err *e);
/* golden_read: a golden file; errors name the file, the line and the field. */
int golden_read(const char *path, GoldenCurve *c, Err *e);
/* golden_export: write DIR/METHOD.tsv for every method of sel found in d (created directory included); fails
 * when sel leaves a method with runs of several models, compressors or seeds, or several item counts, naming
 * them. *n_written = the files written. */
int golden_export(Db *d, const GoldenSelect *sel, const char *dir, const char *command, int *n_written, Err *e);

/* golden_tolerance: the largest |k0/n0 - k1/n1| that is not a move (see the header). */
double golden_tolerance(long k0, long n0, long k1, long n1);

typedef enum { GOLDEN_EQUAL, GOLDEN_WITHIN, GOLDEN_MOVED, GOLDEN_MISSING, GOLDEN_ITEMS, GOLDEN_N_STATUS } GoldenStatus;

/* One metric of one golden point against the database. */
typedef struct GoldenCheck {
    char method[64], app[32];
    const char *metric;             /* "accuracy" or "slo_met" */
    double slo_ttft, slo_tpot;
    long k0, n0;                    /* golden */
    long k1, n1;                    /* the database's (-1 when missing) */
    double tolerance;
    GoldenStatus status;
} GoldenCheck;

typedef struct GoldenReport {
    GoldenCheck *check;             /* (n) in the order of the golden files and their points */
    long n, cap;
    long count[GOLDEN_N_STATUS];
    long down, up;                  /* moved points, by direction */
    int curves;                     /* golden files read */
    char notes[16][1024];           /* facts that do not fail the check (another model hash) */
    int n_notes;
} GoldenReport;

/* golden_check: compare d with every DIR/ *.tsv curve (files in name order); the views are applied to d first.
 * model restricts the runs to that model directory (NULL: any). Fails only when a file or the database cannot
 * be read; the verdict is in r (passed when count[GOLDEN_MOVED] + count[GOLDEN_MISSING] + count[GOLDEN_ITEMS]
 * is 0). */
int golden_check(Db *d, const char *dir, const char *model, GoldenReport *r, Err *e);
/* golden_report_free: release r's checks. */
void golden_report_free(GoldenReport *r);

#endif
