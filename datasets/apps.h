/* apps: the registry of the six synthetic multiple-choice apps, their train / dev / test splits, and the data
 * directory that `elms data gen` writes.
 *
 *   app       mirrors     choices  answer comes from
 *   facts     OpenBookQA  4        memorised world facts (entity -> kind, color, home, food, sound)
 *   science   ARC-Easy    4        memorised rules, one or two steps (kind -> trait; material -> effect)
 *   funcall   Octopus     21       the function list in the system prompt (20 functions + "none")
 *   uinav     LlamaTouch  77       the app list in the system prompt
 *   physical  PIQA        2        memorised affordances (tool -> use; entity -> food, home)
 *   reading   SciQ        4        the passage in the system prompt (values randomised per item)
 *
 * Every item is generated from the World (world.h) and a GSL mt19937 stream that depends only on (seed, app,
 * split), so a split does not change when the size of another split does. Splits share no item: each app has
 * a key (the query for facts and physical; the query plus its choice set for science; the whole prompt for
 * the in-context apps) and a key used by one split is never used by another; nor do the few-shot examples of
 * one split ask a query of an earlier one. */
#ifndef ELMS_APPS_H
#define ELMS_APPS_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "datasets/items.h"
#include "datasets/keyset.h"
#include "datasets/world.h"
#include "engine/err.h"

#define APPS_N 6
#define APPS_N_SPLITS 3

/* How an app's split key is formed (see apps_item_key). */
typedef enum { APP_KEY_QUERY = 0, APP_KEY_QUERY_CHOICES = 1, APP_KEY_PROMPT = 2 } AppKey;

/* One app: its generator fills out (system, query, choices, answer, relevant; not app or id). The in-context
 * apps also have requery: another question about the same list or passage, with its answer (corpus drills). */
typedef struct AppDef {
    const char *name;
    const char *mirrors;
    int n_choices;
    AppKey key;
    int (*make)(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e);
    int (*requery)(const World *w, gsl_rng *r, const Item *it, Text *query, Text *answer, Err *e); /* or NULL */
} AppDef;

extern const AppDef apps_table[APPS_N];
extern const char *const apps_split_names[APPS_N_SPLITS]; /* "train", "dev", "test" */

/* apps_find: index of the app called name in apps_table, or -1. */
int apps_find(const char *name);
/* apps_split_find: index of "train" / "dev" / "test", or -1. */
int apps_split_find(const char *split);

/* Sizes of the splits (items per app). */
typedef struct AppsConfig {
    WorldConfig world;
    int n_split[APPS_N_SPLITS]; /* train, dev, test */
} AppsConfig;

/* apps_config_default: world_config_default and 6000 / 500 / 500 items per app. */
void apps_config_default(AppsConfig *c);

/* The items of every app and split, generated in memory. */
typedef struct AppsData {
    World world;
    ItemSet set[APPS_N][APPS_N_SPLITS];
} AppsData;

/* apps_build: generate the world and all splits of all apps from seed. Fails (naming the app) if a generator
 * cannot find enough distinct items. */
int apps_build(AppsData *d, unsigned long seed, const AppsConfig *c, Err *e);
void apps_data_free(AppsData *d);

/* apps_generate_split: the items of one app and split, exactly as apps_build makes them (it regenerates the
 * splits generated before this one, whose keys this split must avoid). */
int apps_generate_split(ItemSet *out, const World *w, int app, int split, unsigned long seed,
                        const AppsConfig *c, Err *e);

/* apps_items_path: "DIR/items/APP/SPLIT.jsonl" into out (capacity cap); returns 0, or -1 if it does not fit. */
int apps_items_path(char *out, size_t cap, const char *dir, const char *app, const char *split);

/* apps_write_items: write every split of every app under DIR/items (creating directories). */
int apps_write_items(const AppsData *d, const char *dir, Err *e);

/* apps_generate: generate the items of every app and split for seed (c NULL = defaults) and write them under
 * DIR/items. No tokenizer or corpus (see corpus.h and `elms data gen` for the whole data directory). */
int apps_generate(const char *dir, unsigned long seed, const AppsConfig *c, Err *e);

/* apps_item_key: the split key of an item under mode k (malloc'd string, or NULL when out of memory). */
char *apps_item_key(const Item *it, AppKey k);

#endif
