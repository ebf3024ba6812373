/* app_funcall: the Octopus-like app. The system prompt lists 20 functions as "VERB OBJECT NAME ;" with names
 * drawn fresh for every item (so no name can be memorised); the request asks for one of them and ends with its
 * verb and object, as the list does, except that in a third of the requests one of the two is replaced by its
 * fixed synonym (lexicon.h). Choices: the 20 names in list order, then "none" (the answer in about 5% of items,
 * when the request matches no listed function; other functions in the list then often share its verb or its
 * object). */
#include <stdlib.h>
#include <string.h>

#include "datasets/appgen.h"

#define PICK(r, n) ((int)gsl_rng_uniform_int((r), (unsigned long)(n)))

static const char *const k_frames[4] = {"please %s %s", "can you %s %s", "i want to %s %s", "help me %s %s"};

/* request: "request : ... VERB OBJECT" asking for function fn; in a third of the requests the verb or the object
 * (even odds) is its synonym. */
static void request(gsl_rng *r, int fn, Text *q) {
    int syn = PICK(r, 3) == 0, which = PICK(r, 2);
    const char *verb = lex_fn_verbs[lex_functions[fn][0]][syn && which == 0];
    const char *obj = lex_fn_objects[lex_functions[fn][1]][syn && which == 1];
    text_add(q, "request :");
    text_addf(q, k_frames[PICK(r, 4)], verb, obj);
}

int app_funcall_build(const World *w, gsl_rng *r, int n_listed, Item *out, Err *e) {
    if (n_listed < 1 || n_listed > FUNCALL_N_LISTED) return err_set(e, "funcall: %d functions listed", n_listed);
    int fn[FUNCALL_N_LISTED], name[FUNCALL_N_LISTED];
    appgen_distinct(r, LEX_N_FUNCTIONS, n_listed, NULL, 0, fn);
    appgen_distinct(r, w->cfg.n_fn_names, n_listed, NULL, 0, name);
    int none = PICK(r, 1000) < FUNCALL_NONE_PERMILLE;
    int target, slot = -1;
    if (none) appgen_distinct(r, LEX_N_FUNCTIONS, 1, fn, n_listed, &target);
    else target = fn[slot = PICK(r, n_listed)];

    Text sys, q;
    text_init(&sys);
    text_init(&q);
    text_add(&sys, "you can call the functions below . answer with the name of the function that does what the "
                   "request asks , or none if no function does . functions :");
    int span[1][2] = {{0, 0}};
    const char *choices[FUNCALL_N_LISTED + 1];
    for (int i = 0; i < n_listed; i++) {
        if (i == slot) span[0][0] = sys.n_words;
        text_addf(&sys, "%s %s %s ;", lex_fn_verbs[lex_functions[fn[i]][0]][0],
                  lex_fn_objects[lex_functions[fn[i]][1]][0], w->fn_name[name[i]]);
        if (i == slot) span[0][1] = sys.n_words;
        choices[i] = w->fn_name[name[i]];
    }
    choices[n_listed] = "none";
    request(r, target, &q);
    int rc = text_ok(&sys) && text_ok(&q)
                 ? appgen_fill(out, &sys, &q, choices, n_listed + 1, none ? n_listed : slot,
                               none ? NULL : (const int(*)[2])span, none ? 0 : 1, e)
                 : err_set(e, "funcall: out of memory");
    text_free(&sys);
    text_free(&q);
    return rc;
}

int app_funcall_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e) {
    (void)avoid;
    return app_funcall_build(w, r, FUNCALL_N_LISTED, out, e);
}

/* function_of: index of the function (canonical verb, canonical object), or -1. */
static int function_of(const char *verb, const char *obj) {
    for (int f = 0; f < LEX_N_FUNCTIONS; f++)
        if (!strcmp(lex_fn_verbs[lex_functions[f][0]][0], verb) && !strcmp(lex_fn_objects[lex_functions[f][1]][0], obj))
            return f;
    return -1;
}

int app_funcall_requery(const World *w, gsl_rng *r, const Item *it, Text *query, Text *answer, Err *e) {
    (void)w;
    char *buf, **wd;
    int n = appgen_words(it->system, &buf, &wd);
    if (n < 0) return err_set(e, "funcall: out of memory");
    int fn[FUNCALL_N_LISTED], name[FUNCALL_N_LISTED], k = 0;
    for (int i = 0; i + 3 < n && k < FUNCALL_N_LISTED; i++) /* VERB OBJECT NAME ; */
        if (!strcmp(wd[i + 3], ";") && (fn[k] = function_of(wd[i], wd[i + 1])) >= 0) name[k++] = i + 2;
    int rc = 0;
    if (k == 0) {
        rc = err_set(e, "funcall item '%s': no function list in the system text", it->id ? it->id : "?");
    } else if (PICK(r, 1000) < FUNCALL_NONE_PERMILLE) {
        int target;
        appgen_distinct(r, LEX_N_FUNCTIONS, 1, fn, k, &target);
        request(r, target, query);
        text_add(answer, "none");
    } else {
        int slot = PICK(r, k);
        request(r, fn[slot], query);
        text_add(answer, wd[name[slot]]);
    }
    free(buf);
    free(wd);
    return rc;
}
