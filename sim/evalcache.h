/* evalcache: engine evaluations keyed by (model hash, configuration key, app, item), kept in memory and, when
 * a database is attached, in its `evals` table, so that a configuration is never computed twice (within a run,
 * across policies, or across runs sharing the database).
 *
 * The configuration key describes exactly what the engine computes, independent of which policy chose it:
 * the view (per-layer widths, skips, explicit neuron subsets, the adapter's hash, the selector's key) and the
 * prompt keep-mask (kept count and a hash of the mask). Two policies that run the same thing share entries. */
#ifndef ELMS_EVALCACHE_H
#define ELMS_EVALCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "policies/policy.h"
#include "sim/db.h"
#include "traces/strtab.h"

typedef struct EvalCache {
    StrTab keys;          /* "model\x1fconfig\x1fapp\x1fitem" -> index into vals */
    EvalOutcome *vals;    /* (keys.n) outcome of each key */
    int cap;
    Db *db;               /* optional persistence */
    long hits, db_hits, computed;
} EvalCache;

void evalcache_init(EvalCache *c, Db *db);
void evalcache_free(EvalCache *c);
/* evalcache_get: *found = 1 with the outcome when known (memory first, then the database). */
int evalcache_get(EvalCache *c, const char *model_hash, const char *config, const char *app, const char *item,
                  EvalOutcome *out, int *found, Err *e);
int evalcache_put(EvalCache *c, const char *model_hash, const char *config, const char *app, const char *item,
                  const EvalOutcome *o, Err *e);

/* config_key: the configuration key of a view and keep-mask (keep NULL = all of n_system kept).
 * lora_hash: the adapter's hash or NULL; select_key: the selector's key or NULL. Returns -1 if cap is short. */
int config_key(const ElasticView *v, const char *lora_hash, const char *select_key, const unsigned char *keep,
               int n_system, char *out, size_t cap);
/* The two parts of config_key (view, then keep-mask), each returning the length written or -1 if cap is short;
 * config_key = config_key_view followed by config_key_keep. */
int config_key_view(const ElasticView *v, const char *lora_hash, const char *select_key, char *out, size_t cap);
int config_key_keep(const unsigned char *keep, int n_system, char *out, size_t cap);

#endif
