/* trace: multi-app request traces for the simulator: the in-memory form, the native JSONL format
 * (docs/formats.md), synthesis (the paper's skewed app mix, items without replacement, arrival processes),
 * importers (the paper's trace JSON, CSV with arrived_at,num_prefill_tokens,num_decode_tokens) and a summary.
 *
 * A request names an app and an item of that app's test split, carries its latency SLO (fractions of the full
 * model's TTFT / TPOT for that request, or absolute milliseconds) and the number of tokens it generates.
 * Requests with no arrival time are "sequential": each arrives when the service has finished the previous
 * request, which is the paper's no-queueing replay. */
#ifndef ELMS_TRACE_H
#define ELMS_TRACE_H

#include <stdbool.h>

#include "datasets/items.h"
#include "engine/err.h"
#include "traces/strtab.h"

#define TRACE_N_APPS 6
#define TRACE_SEQUENTIAL (-1.0) /* arrival_s of a sequential request */
#define TRACE_MAX_ARRIVAL_S 1e9   /* the latest arrival a trace may give (about 31 years, in seconds) */
#define TRACE_MAX_SLO 1e9         /* the largest SLO a trace may give (a fraction or milliseconds) */

/* One app of the paper's end-to-end traces with its default SLO and output length. */
typedef struct TraceAppSpec {
    char name[32];
    double slo_ttft, slo_tpot; /* fractions of the full model's TTFT / TPOT */
    double output_mean;        /* mean output tokens (1 + Poisson(mean - 1)) */
} TraceAppSpec;

/* The six apps in the paper's order (index i of the skew formula): facts (OBQA), science (ARC-E),
 * funcall (Octopus), uinav (LlamaTouch), physical (PIQA), reading (SciQ). */
extern const TraceAppSpec TRACE_APPS[TRACE_N_APPS];

typedef struct TraceRequest {
    long id;
    double arrival_s;     /* seconds from the trace start (synthesised and imported: to the microsecond), or
                             TRACE_SEQUENTIAL */
    int app;              /* index into Trace.apps */
    int item;             /* index into Trace.items, or -1 for a request without an item (CSV imports) */
    double slo_ttft;      /* fraction of the full model's TTFT, or milliseconds when slo_ttft_ms */
    double slo_tpot;      /* fraction of the full model's TPOT, or milliseconds when slo_tpot_ms */
    bool slo_ttft_ms, slo_tpot_ms;
    int output_tokens;    /* >= 1 */
    int prompt_tokens;    /* prompt length for requests without an item, else -1 */
} TraceRequest;

typedef struct Trace {
    TraceRequest *req;    /* (n) in trace order */
    long n, cap;
    StrTab apps;          /* app names; request.app indexes apps.str */
    StrTab items;         /* item ids; request.item indexes items.str */
    char hash[17];        /* FNV-1a 64 (base/hash.h) of the file trace_read read, 16 hex digits; "" otherwise */
} Trace;

void trace_init(Trace *t);
void trace_free(Trace *t);
/* trace_add: append a copy of r; -1 on out of memory. */
int trace_add(Trace *t, const TraceRequest *r, Err *e);
/* trace_app / trace_item: names of a request's app and item ("" when it has none). */
const char *trace_app(const Trace *t, const TraceRequest *r);
const char *trace_item(const Trace *t, const TraceRequest *r);
/* trace_canonical_apps: order the app table as the six built-in apps in the paper's order, then any others in
 * order of appearance, dropping apps no request uses (readers and importers call it). */
int trace_canonical_apps(Trace *t, Err *e);
/* trace_app_spec: the built-in spec of an app name, or NULL. */
const TraceAppSpec *trace_app_spec(const char *name);

/* ---- native format (JSONL, one request per line) ---- */

/* trace_read: parse a JSONL trace and hash its bytes into t->hash; errors name the file, line and field. */
int trace_read(Trace *t, const char *path, Err *e);
/* trace_write: write JSONL atomically. */
int trace_write(const Trace *t, const char *path, Err *e);

/* ---- synthesis ---- */

typedef enum { ARRIVAL_SEQUENTIAL = 0, ARRIVAL_POISSON = 1, ARRIVAL_BURSTY = 2 } ArrivalKind;

typedef struct TraceGenConfig {
    const TraceAppSpec *apps; /* (n_apps) in skew order */
    int n_apps;
    long n_requests;          /* N of the skew formula */
    double alpha;             /* skew: app i gets floor(N e^(alpha i) / sum_j e^(alpha j)) requests */
    bool fill;                /* hand out the remainder of the floors (largest fractions first) to reach N */
    ArrivalKind arrival;
    double rate;              /* mean requests per second (poisson, bursty) */
    double burst_cv;          /* bursty: coefficient of variation of Gamma inter-arrival times (> 1) */
    unsigned long seed;
} TraceGenConfig;

/* trace_gen_defaults: the paper's setting: six apps, N = 600, alpha 0, sequential, seed 42. */
void trace_gen_defaults(TraceGenConfig *c);
/* trace_skew_counts: requests per app (counts has n_apps entries); returns the total. */
long trace_skew_counts(int n_apps, long n, double alpha, bool fill, long *counts);
/* trace_gen: synthesise a trace. sets[i] holds the test items of cfg->apps[i]; each app's items are drawn
 * without replacement (a fresh shuffled pass when an app needs more requests than it has items), the request
 * order is shuffled, output tokens are 1 + Poisson(mean - 1), and arrivals follow cfg->arrival. */
int trace_gen(Trace *t, const TraceGenConfig *cfg, const ItemSet *const *sets, Err *e);

/* ---- importers ---- */

/* trace_import_elastilm: the paper's trace file, a JSON array of
 * [prompt, [choices...], groundtruth, [prefill_frac, decode_frac], id, dataset]. Datasets map to apps
 * (OBQA->facts, ARC_E->science, octopus->funcall, llamatouch->uinav, PIQA->physical, SCIQ->reading); the item
 * is the paper's question id (trace_map_items maps it onto this project's items); arrivals are sequential; output
 * tokens are the app's default mean. */
int trace_import_elastilm(Trace *t, const char *path, Err *e);

/* trace_map_items: give every request of an imported paper trace an item of this project: the paper's question id
 * k (a non-negative integer) of app A becomes item k mod N of A's split, sets[i] being the split of TRACE_APPS[i]
 * (N items, in file order). Deterministic and independent of the other requests: the same paper id maps to the
 * same item in every trace, and ids of one app that differ by less than N map to different items (the paper's ids
 * within one of its traces are a range of at most 170 per dataset, so no two requests of a trace share an item
 * with N = 500). Requests without an item are left as they are; an item id that is not a number or an app with an
 * empty split is an error naming the request. */
int trace_map_items(Trace *t, const ItemSet *const *sets, Err *e);

/* trace_import_csv: CSV with a header naming arrived_at, num_prefill_tokens and num_decode_tokens (any order,
 * other columns ignored). arrived_at is in seconds (shifted so the first arrival is 0). Requests carry no item:
 * each is assigned an app (app if non-NULL, else one of the six drawn uniformly with seed) and that app's SLO. */
int trace_import_csv(Trace *t, const char *path, const char *app, unsigned long seed, Err *e);

/* ---- summary ---- */

typedef struct TraceAppStats {
    long requests;
    double slo_ttft, slo_tpot;   /* the most common SLO of the app's requests */
    bool slo_ttft_ms, slo_tpot_ms;
    double output_mean;
} TraceAppStats;

typedef struct TraceStats {
    long requests;
    int n_apps;
    TraceAppStats *app;          /* (n_apps), indexed like Trace.apps */
    long sequential;             /* requests without arrival time */
    double span_s;               /* last - first arrival of timed requests */
    double rate;                 /* timed requests per second over the span */
    double interarrival_cv;      /* coefficient of variation of inter-arrival times */
    double output_mean;
    long with_item;
} TraceStats;

/* trace_stats: summarise t into s (caller frees with trace_stats_free); 0, or -1 when out of memory (s then
 * holds nothing to free). */
int trace_stats(const Trace *t, TraceStats *s, Err *e);
void trace_stats_free(TraceStats *s);

#endif
