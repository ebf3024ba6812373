/* compressor: the prompt-compressor interface (which system tokens to keep for a prompt ratio) and its
 * registry. Only the system part of a prompt is compressed; the query and choices never are. The number of
 * kept system tokens for ratio p is levels_kept_system(S, Q, p) (the paper's formula); a compressor decides
 * which ones, and kept tokens stay in their original order.
 *
 * Built in: "none" (keeps everything whatever the ratio: a policy's grid collapses to p = 1) and "random"
 * (a seeded uniform subset, base/keepmask.h; the seed mixes the run seed with the app, item and ratio so that
 * the mask of a request does not depend on replay order). Later compressors (the tiny LM's score head,
 * LLMLingua-style classifiers) register the same way. */
#ifndef ELMS_COMPRESSOR_H
#define ELMS_COMPRESSOR_H

#include <stdbool.h>

#include "engine/err.h"
#include "policies/policy.h"

typedef struct Compressor {
    const char *name;
    bool compresses;        /* false: keeps every token for any ratio */
    double tlm_scale;       /* its work per prompt token as a multiple of the tiny LM's (0 for none, random) */
    unsigned long seed;
    const PolicyEnv *env;
    void *state;
    /* keep: fill keep (r->enc->n_system) for ratio; returns the number of kept system tokens or -1 */
    int (*keep)(struct Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, Err *e);
    void (*destroy)(struct Compressor *c);
} Compressor;

typedef int (*CompressorCreateFn)(Compressor *c, Err *e);
/* compressor_register: make name creatable by compressor_create (called at start-up by COMPRESSOR_REGISTER; the
 * table holds 32, far more than the compressors there are). */
void compressor_register(const char *name, const char *summary, CompressorCreateFn fn);

#define COMPRESSOR_REGISTER(name, summary, fn)                                     \
    __attribute__((constructor)) static void compressor_register_##fn(void) {      \
        compressor_register(name, summary, fn);                                    \
    }

/* compressor_create: construct the compressor called name for env (seed = env->seed). */
int compressor_create(Compressor *c, const char *name, const PolicyEnv *env, Err *e);
void compressor_destroy(Compressor *c);
/* compressor_keep: run c->keep for r (which must have an item) and ratio; checks the kept count. */
int compressor_keep(Compressor *c, const PolicyRequest *r, double ratio, unsigned char *keep, Err *e);

#endif
