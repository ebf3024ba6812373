/* compressor_relevant: the "oracle-relevant" prompt compressor, an upper bound for analysis. For ratio p it keeps
 * levels_kept_system(S, Q, p) system tokens like every compressor, choosing first the tokens of the item's
 * `relevant` spans (those that carry the answer, in span order) and filling the rest with a seeded uniform
 * subset of the other system tokens (keepmask_add_random, seeded from the run seed, app, item and ratio like
 * "random", with the compressor's name as the seed's tag).
 * A PolicyRequest carries the encoded item only, not its spans, so the caller supplies a lookup from
 * (app, item id) to the Item with compressor_relevant_set_items before the first keep. */
#ifndef ELMS_COMPRESSOR_RELEVANT_H
#define ELMS_COMPRESSOR_RELEVANT_H

#include "datasets/items.h"
#include "policies/compressor.h"

/* The item called item of app, or NULL when unknown. */
typedef const Item *(*CompressorItemFn)(void *ctx, const char *app, const char *item);

/* compressor_relevant_set_items: give an "oracle-relevant" compressor its item lookup; fails for any other. */
int compressor_relevant_set_items(Compressor *c, CompressorItemFn fn, void *ctx, Err *e);

#endif
