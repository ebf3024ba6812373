/* evalcache: engine evaluations keyed by (model hash, configuration key, app, item), kept in memory and, when
 * a database is attached, in its `evals` table, so that a configuration is never computed twice (within a run,
 * across policies, or across runs sharing the database). The keys are built by the one evaluation path
 * (eval/eval.h), which uses this cache as its store (evalcache_store). */
#ifndef ELMS_EVALCACHE_H
#define ELMS_EVALCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "eval/eval.h"
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

/* evalcache_store: c as the store of an Evaluator (eval/eval.h). */
EvalStore evalcache_store(EvalCache *c);

#endif
