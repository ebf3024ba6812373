/* app_facts: the OpenBookQA-like app. A question about one fact of one creature of the world (its kind,
 * color, home, food or sound); four one-word choices of that relation. The answer is memorised world
 * knowledge: the system prompt is an instruction plus few-shot examples about other creatures that contain none
 * of the item's choices. */
#include "datasets/appgen.h"

#define PICK(r, n) ((int)gsl_rng_uniform_int((r), (unsigned long)(n)))

/* Question templates per relation (slot: the creature). Phrased differently from the world text. */
static const char *const k_questions[REL_N][3] = {
    {"what kind of animal is the %s ?", "the %s is which kind of animal ?", "to which group does the %s belong ?"},
    {"what color is the %s ?", "which color does the %s have ?", "the %s has what color ?"},
    {"where does the %s live ?", "in which place is the %s found ?", "what is the home of the %s ?"},
    {"what does the %s eat ?", "which food does the %s like ?", "what is the food of the %s ?"},
    {"what sound does the %s make ?", "which sound comes from the %s ?", "how does the %s sound ?"},
};

/* question: "question : Q answer :" about creature ent and relation rel into out. */
static void question(const World *w, gsl_rng *r, int ent, int rel, Text *out) {
    text_add(out, "question :");
    text_addf(out, k_questions[rel][PICK(r, 3)], w->entity[ent]);
    text_add(out, "answer :");
}

int app_facts_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e) {
    int ent = PICK(r, w->cfg.n_entities), rel = PICK(r, REL_N);
    int truth = w->ent_value[ent][rel], wrong[3];
    appgen_distinct(r, LEX_REL_VALUES, 3, &truth, 1, wrong);
    const char *choices[4] = {lex_rel_values[rel][truth], lex_rel_values[rel][wrong[0]],
                              lex_rel_values[rel][wrong[1]], lex_rel_values[rel][wrong[2]]};

    Text sys, q, shot;
    text_init(&sys);
    text_init(&q);
    text_init(&shot);
    text_add(&sys, "answer each question about the animals of this world with one word .");
    for (int s = 0; s < SHOTS_N; s++) {
        for (int tries = 0; tries < 200; tries++) { /* a shot about another creature that names no choice */
            int se = PICK(r, w->cfg.n_entities), sr = PICK(r, REL_N);
            if (se == ent) continue;
            text_clear(&shot);
            question(w, r, se, sr, &shot);
            if (avoid && text_ok(&shot) && keyset_has(avoid, shot.s)) continue;
            text_add(&shot, lex_rel_values[sr][w->ent_value[se][sr]]);
            text_add(&shot, ".");
            if (text_ok(&shot) && !appgen_has_any(shot.s, choices, 4)) break;
        }
        text_add(&sys, shot.s ? shot.s : "");
    }
    question(w, r, ent, rel, &q);
    int answer = appgen_shuffle(r, choices, 4);
    int rc = text_ok(&sys) && text_ok(&q) ? appgen_fill(out, &sys, &q, choices, 4, answer, NULL, 0, e)
                                           : err_set(e, "facts: out of memory");
    text_free(&sys);
    text_free(&q);
    text_free(&shot);
    return rc;
}
