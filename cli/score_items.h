/* score_items: multiple-choice evaluation for the CLI: score a set of items with the engine (optionally dropping a
 * seeded random fraction of each item's system tokens) and accumulate / print accuracy per app and the macro
 * average. Used by `elms score`; any command that produces items can reuse it. */
#ifndef ELMS_CLI_SCORE_ITEMS_H
#define ELMS_CLI_SCORE_ITEMS_H

#include <stdio.h>

#include "cli/engine_args.h"
#include "datasets/items.h"

/* Correct / total per app, in order of first appearance (printed sorted by name). */
typedef struct AppTally {
    int n, cap;
    char **app;     /* (n) names */
    long *correct;  /* (n) */
    long *total;    /* (n) */
} AppTally;

void app_tally_init(AppTally *t);
void app_tally_free(AppTally *t);
/* app_tally_add: count one answer of app; 0, or -1 when out of memory. */
int app_tally_add(AppTally *t, const char *app, int correct);
/* app_tally_macro: mean of the per-app accuracies (0 when empty). */
double app_tally_macro(const AppTally *t);
/* app_tally_print: "APP accuracy CORRECT/TOTAL = X" per app (sorted by name, X with 4 decimals), then
 * "macro X". */
void app_tally_print(const AppTally *t, FILE *f);

/* score_itemset: encode every item of s with em's tokenizer, build its prompt (item_prompt, BOS from
 * engine_bos) with round(drop * n) of its n system tokens removed (keepmask_random seeded from seed, the item's
 * app and id and 1 - drop: an item's mask does not depend on the other items; drop = 0 keeps all), check
 * that prompt + longest choice fits the context, and only then answer each item through eval_item (the one
 * evaluation path) under em->view, adding the result to t. src names the items' origin in messages. Returns 0, or 1 after printing
 * "elms CMD: message" (nothing is added to t on failure before scoring starts). */
int score_itemset(const char *cmd, const char *src, const EngineModel *em, const ItemSet *s, double drop,
                  unsigned long seed, AppTally *t);

#endif
