/* app_reading: the SciQ-like app. The system prompt is a passage about three people (names from a fixed list,
 * every value drawn fresh for the item, so nothing can be memorised): the asked person's value for the asked
 * relation, one statement of another relation about each of the other people, one more statement (of a third
 * relation) about each person, and two sentences that carry no answer, in random order. Only the answer
 * sentence states the asked relation. As in SciQ, the three wrong choices are values of that relation that the
 * passage does not state: the answer is found by reading the passage, and without it the four choices are
 * equally likely. The query ends with the start of the statement it asks about ("... ? anna lives in"), so
 * that the answer continues it as the passage does. */
#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/appgen.h"

#define PICK(r, n) ((int)gsl_rng_uniform_int((r), (unsigned long)(n)))

/* The statement of each person relation is its stem (slot: person), the value, and a full stop; question
 * templates (slot: person). */
static const char *const k_stems[LEX_N_PREL] = {"%s lives in", "%s works as a", "%s likes to eat", "%s has a pet",
                                               "%s plays the"};
static const char *const k_questions[LEX_N_PREL][2] = {
    {"where does %s live ?", "in which town does %s live ?"},
    {"what is the job of %s ?", "what does %s do for work ?"},
    {"what food does %s like ?", "what does %s like to eat ?"},
    {"what pet does %s have ?", "which animal does %s keep ?"},
    {"what does %s play ?", "which instrument does %s play ?"},
};

/* question: "question : ... ? PERSON lives in" asking person's value of relation rel. */
static void question(gsl_rng *r, int rel, const char *person, Text *q) {
    text_add(q, "question :");
    text_addf(q, k_questions[rel][PICK(r, 2)], person);
    text_addf(q, k_stems[rel], person);
}

/* statement: "PERSON lives in VALUE ." */
static void statement(Text *t, int rel, const char *person, const char *value) {
    text_addf(t, k_stems[rel], person);
    text_add(t, value);
    text_add(t, ".");
}

enum { MAX_SENT = 2 * READING_N_PEOPLE + READING_N_FILLERS };

int app_reading_build(const World *w, gsl_rng *r, int n_people, int n_fillers, Item *out, Err *e) {
    (void)w;
    if (n_people < 1 || n_people > READING_N_PEOPLE || n_fillers < 0 || n_fillers > READING_N_FILLERS)
        return err_set(e, "reading: %d people and %d fillers", n_people, n_fillers);
    int person[READING_N_PEOPLE], value[4], filler[READING_N_FILLERS]; /* value[0] stated, value[1..3] not */
    int rel = PICK(r, LEX_N_PREL);
    appgen_distinct(r, LEX_N_PEOPLE, n_people, NULL, 0, person);
    appgen_distinct(r, LEX_PREL_VALUES, 4, NULL, 0, value);
    appgen_distinct(r, LEX_N_FILLERS, n_fillers, NULL, 0, filler);
    int asked = PICK(r, n_people);
    /* each person's two statement relations: distinct, and only the asked person's first is the asked one */
    int srel[2][READING_N_PEOPLE];
    for (int i = 0; i < n_people; i++) {
        int others[LEX_N_PREL - 1], two[2];
        for (int k = 0; k < LEX_N_PREL - 1; k++) others[k] = (rel + 1 + k) % LEX_N_PREL;
        appgen_distinct(r, LEX_N_PREL - 1, 2, NULL, 0, two);
        srel[0][i] = i == asked ? rel : others[two[0]];
        srel[1][i] = others[two[1]];
    }

    /* sentence s < P: person s's statement (the asked relation for the asked person, another relation for the
     * others); P <= s < 2P: one more statement of another relation about person s-P; then fillers */
    const int n_sent = 2 * n_people + n_fillers, P = n_people;
    int order[MAX_SENT];
    for (int s = 0; s < n_sent; s++) order[s] = s;
    gsl_ran_shuffle(r, order, (size_t)n_sent, sizeof order[0]);

    Text sys, q;
    text_init(&sys);
    text_init(&q);
    text_add(&sys, "read the passage and answer the question . passage :");
    int span[1][2] = {{0, 0}};
    for (int k = 0; k < n_sent; k++) {
        int s = order[k], start = sys.n_words;
        if (s == asked) {
            statement(&sys, rel, lex_people[person[s]], lex_prel_values[rel][value[0]]);
            span[0][0] = start;
            span[0][1] = sys.n_words;
        } else if (s < 2 * P) {
            int i = s % P, sr = srel[s / P][i];
            statement(&sys, sr, lex_people[person[i]], lex_prel_values[sr][PICK(r, LEX_PREL_VALUES)]);
        } else {
            text_add(&sys, lex_fillers[filler[s - 2 * P]]);
        }
    }
    question(r, rel, lex_people[person[asked]], &q);

    const char *choices[4]; /* the stated value, then three the passage does not state */
    for (int i = 0; i < 4; i++) choices[i] = lex_prel_values[rel][value[i]];
    int answer = appgen_shuffle(r, choices, 4);
    int rc = text_ok(&sys) && text_ok(&q) ? appgen_fill(out, &sys, &q, choices, 4, answer, (const int(*)[2])span, 1, e)
                                           : err_set(e, "reading: out of memory");
    text_free(&sys);
    text_free(&q);
    return rc;
}

int app_reading_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e) {
    (void)avoid;
    return app_reading_build(w, r, READING_N_PEOPLE, READING_N_FILLERS, out, e);
}

int app_reading_requery(const World *w, gsl_rng *r, const Item *it, Text *query, Text *answer, Err *e) {
    (void)w;
    char *buf, **wd;
    int n = appgen_words(it->system, &buf, &wd);
    if (n < 0) return err_set(e, "reading: out of memory");
    /* statements: sentences holding a person and a value (of any relation) */
    enum { MAX_ST = 2 * READING_N_PEOPLE };
    const char *who[MAX_ST], *val[MAX_ST];
    int rel[MAX_ST], k = 0;
    const char *person = NULL, *value = NULL;
    int value_rel = -1;
    for (int i = 0; i < n; i++) {
        if (!strcmp(wd[i], ".")) { /* end of a sentence */
            if (person && value && k < MAX_ST) {
                who[k] = person;
                val[k] = value;
                rel[k++] = value_rel;
            }
            person = value = NULL;
            continue;
        }
        if (appgen_index(lex_people, LEX_N_PEOPLE, wd[i]) >= 0) person = wd[i];
        for (int p = 0; p < LEX_N_PREL; p++)
            if (appgen_index(lex_prel_values[p], LEX_PREL_VALUES, wd[i]) >= 0) {
                value = wd[i];
                value_rel = p;
            }
    }
    int rc = 0;
    if (k == 0) {
        rc = err_set(e, "reading item '%s': no statements in the passage", it->id ? it->id : "?");
    } else {
        int s = PICK(r, k);
        question(r, rel[s], who[s], query);
        text_add(answer, val[s]);
    }
    free(buf);
    free(wd);
    return rc;
}
