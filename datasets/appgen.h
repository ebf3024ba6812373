/* appgen: what the six app generators share: the generator entry points (one file each, app_NAME.c),
 * filling an Item from built texts, shuffling choices while tracking the answer, drawing distinct indices,
 * and whole-word phrase search (used to keep few-shot examples free of the item's choices). */
#ifndef ELMS_APPGEN_H
#define ELMS_APPGEN_H

#include <gsl/gsl_rng.h>

#include "datasets/items.h"
#include "datasets/keyset.h"
#include "datasets/text.h"
#include "datasets/world.h"
#include "engine/err.h"

/* The generators: fill out->system, query, choices, n_choices, answer, relevant (app and id are left NULL).
 * Each draws only from r and reads only w (and avoid), so the same stream gives the same item. The few-shot
 * examples of the knowledge apps never use a query in avoid (NULL: none), so that the queries of one split do
 * not appear, answered, in the prompts of another. */
int app_facts_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e);
int app_science_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e);
int app_funcall_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e);
int app_uinav_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e);
int app_physical_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e);
int app_reading_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e);

/* The in-context generators with smaller lists or passages (the apps use the full sizes; the corpus uses smaller
 * ones for its skill drills, corpus.h): 1..20 functions, 1..77 apps, 1..3 people and 0..2 fillers. */
int app_funcall_build(const World *w, gsl_rng *r, int n_listed, Item *out, Err *e);
int app_uinav_build(const World *w, gsl_rng *r, int n_listed, Item *out, Err *e);
int app_reading_build(const World *w, gsl_rng *r, int n_people, int n_fillers, Item *out, Err *e);

/* Requeries of the in-context apps (training drills, corpus.h): parse an item's system text (a list or a
 * passage this module generated) and ask about a random other entry of it, with the query phrased exactly as
 * the app's generator phrases queries. Fill query ("... answer :") and answer (a choice of the item); fail
 * (naming the item) if the system text is not in the app's format. */
int app_funcall_requery(const World *w, gsl_rng *r, const Item *it, Text *query, Text *answer, Err *e);
int app_uinav_requery(const World *w, gsl_rng *r, const Item *it, Text *query, Text *answer, Err *e);
int app_reading_requery(const World *w, gsl_rng *r, const Item *it, Text *query, Text *answer, Err *e);

/* appgen_recall: for a list item (funcall, uinav: entries "KEY... NAME ;" after the header's ":"), append
 * "recall :" and every entry again, in a random order: one lookup per entry (the name after its key), the
 * densest practice of what the list apps need (corpus.h). Returns the number of entries, or -1 when the system
 * text holds none or memory runs out. */
int appgen_recall(const Item *it, gsl_rng *r, Text *out);

/* appgen_words: split s at spaces into a malloc'd copy (*buf) and word pointers (*words, malloc'd); returns the
 * count, or -1 when out of memory. */
int appgen_words(const char *s, char **buf, char ***words);
/* appgen_index: index of w in list (n), or -1. */
int appgen_index(const char *const *list, int n, const char *w);

/* Numbers of the in-context apps. */
#define FUNCALL_N_LISTED 20     /* functions in the list (choices = these + "none") */
#define FUNCALL_NONE_PERMILLE 50 /* items whose request matches no listed function */
#define UINAV_N_LISTED 77       /* apps in the list = choices */
#define READING_N_PEOPLE 3      /* people in a passage */
#define READING_N_FILLERS 2     /* sentences that carry no answer */
#define SHOTS_N 3               /* few-shot examples of the knowledge apps */

/* appgen_fill: copy the texts and choices into out (answer index into choices; spans (n_spans, 2) word ranges
 * of the system text, may be NULL). Fails only when out of memory. */
int appgen_fill(Item *out, const Text *system, const Text *query, const char *const *choices, int n_choices,
                int answer, const int (*spans)[2], int n_spans, Err *e);
/* appgen_shuffle: permute choices (n) at random; choices[0] is the correct one on entry; returns its new index. */
int appgen_shuffle(gsl_rng *r, const char **choices, int n);
/* appgen_distinct: k distinct indices in [0, n) into out, none equal to any of exclude (m); requires
 * k <= n - m. */
void appgen_distinct(gsl_rng *r, int n, int k, const int *exclude, int m, int *out);
/* appgen_has_phrase: 1 if the words of phrase occur consecutively, as whole words, in text. */
int appgen_has_phrase(const char *text, const char *phrase);
/* appgen_has_any: 1 if any of the n phrases occurs in text (appgen_has_phrase). */
int appgen_has_any(const char *text, const char *const *phrases, int n);

#endif
