/* tlm_data: the items the tiny LM is trained and evaluated on: the first n items of one split of every app
 * (optionally all apps but one, for the leave-one-app-out TLM), read from DATA/items/APP/SPLIT.jsonl and encoded
 * with the LLM's tokenizer. */
#ifndef ELMS_TLM_DATA_H
#define ELMS_TLM_DATA_H
#include <stdbool.h>
#include "datasets/items.h"
#include "engine/err.h"
#include "engine/tokenizer.h"

typedef struct TlmItems {
    ItemSet set[6];           /* per app (apps_table order); empty for an excluded app */
    EncodedItem *enc[6];      /* (set[a].n) */
    int n_apps;               /* 6 */
} TlmItems;

/* tlm_items_load: the first n (<= 0: all) items of split of every app except `exclude` (NULL: none). */
int tlm_items_load(TlmItems *t, const char *data_dir, const char *split, int n, const char *exclude,
                   const Tokenizer *tok, Err *e);
void tlm_items_free(TlmItems *t);
/* tlm_items_count: items over all apps. */
int tlm_items_count(const TlmItems *t);

#endif
