/* app_uinav: the LlamaTouch-like app. The system prompt lists 77 apps as "CATEGORY NAME ;" (77 of the 96
 * categories, names drawn fresh for every item); the instruction names a purpose, by the category word or (1/3)
 * by its fixed cue word (lexicon.h), never by the app, and ends with that word, so that the answer continues it
 * as the list does (a lookup keyed by the token before the answer). Choices: the 77 names in list order. */
#include <stdlib.h>
#include <string.h>

#include "datasets/appgen.h"

#define PICK(r, n) ((int)gsl_rng_uniform_int((r), (unsigned long)(n)))

static const char *const k_frames[4] = {"open the app for %s", "i need some help with %s", "please show me my %s",
                                        "find an app for %s"};

/* instruction: "instruction : ... WORD" naming category cat by its word or (1/3) its cue. */
static void instruction(gsl_rng *r, int cat, Text *q) {
    text_add(q, "instruction :");
    text_addf(q, k_frames[PICK(r, 4)], lex_categories[cat][PICK(r, 3) == 0]);
}

int app_uinav_build(const World *w, gsl_rng *r, int n_listed, Item *out, Err *e) {
    if (n_listed < 1 || n_listed > UINAV_N_LISTED) return err_set(e, "uinav: %d apps listed", n_listed);
    int cat[UINAV_N_LISTED], name[UINAV_N_LISTED];
    appgen_distinct(r, LEX_N_CATEGORIES, n_listed, NULL, 0, cat);
    appgen_distinct(r, w->cfg.n_app_names, n_listed, NULL, 0, name);
    int slot = PICK(r, n_listed);

    Text sys, q;
    text_init(&sys);
    text_init(&q);
    text_add(&sys, "the phone has the apps below . answer with the app that fits the instruction . apps :");
    int span[1][2] = {{0, 0}};
    const char *choices[UINAV_N_LISTED];
    for (int i = 0; i < n_listed; i++) {
        if (i == slot) span[0][0] = sys.n_words;
        text_addf(&sys, "%s %s ;", lex_categories[cat[i]][0], w->app_name[name[i]]);
        if (i == slot) span[0][1] = sys.n_words;
        choices[i] = w->app_name[name[i]];
    }
    instruction(r, cat[slot], &q);
    int rc = text_ok(&sys) && text_ok(&q)
                 ? appgen_fill(out, &sys, &q, choices, n_listed, slot, (const int(*)[2])span, 1, e)
                 : err_set(e, "uinav: out of memory");
    text_free(&sys);
    text_free(&q);
    return rc;
}

int app_uinav_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e) {
    (void)avoid;
    return app_uinav_build(w, r, UINAV_N_LISTED, out, e);
}

static int category_of(const char *word) {
    for (int c = 0; c < LEX_N_CATEGORIES; c++)
        if (!strcmp(lex_categories[c][0], word)) return c;
    return -1;
}

int app_uinav_requery(const World *w, gsl_rng *r, const Item *it, Text *query, Text *answer, Err *e) {
    (void)w;
    char *buf, **wd;
    int n = appgen_words(it->system, &buf, &wd);
    if (n < 0) return err_set(e, "uinav: out of memory");
    int cat[UINAV_N_LISTED], name[UINAV_N_LISTED], k = 0;
    for (int i = 0; i + 2 < n && k < UINAV_N_LISTED; i++) /* CATEGORY NAME ; */
        if (!strcmp(wd[i + 2], ";") && (cat[k] = category_of(wd[i])) >= 0) name[k++] = i + 1;
    int rc = 0;
    if (k == 0) {
        rc = err_set(e, "uinav item '%s': no app list in the system text", it->id ? it->id : "?");
    } else {
        int slot = PICK(r, k);
        instruction(r, cat[slot], query);
        text_add(answer, wd[name[slot]]);
    }
    free(buf);
    free(wd);
    return rc;
}
