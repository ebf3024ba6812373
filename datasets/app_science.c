/* app_science: the ARC-Easy-like app. Applying memorised rules in one or two steps:
 *   kind:     which trait does every creature of a kind have          (kind -> trait)
 *   creature: which trait does a named creature have                  (creature -> kind -> trait)
 *   material: what happens to a material under a treatment           (material, treatment -> effect)
 *   object:   what happens to an everyday object under a treatment    (object -> material -> effect)
 * Four two-word choices. The system prompt is an instruction plus few-shot examples that contain none of the
 * item's choices. */
#include "datasets/appgen.h"

#define PICK(r, n) ((int)gsl_rng_uniform_int((r), (unsigned long)(n)))

enum { SCI_KIND = 0, SCI_CREATURE, SCI_MATERIAL, SCI_OBJECT, SCI_N };

/* One question with its correct choice and three wrong ones. */
typedef struct SciQ {
    Text q;              /* "question : ... answer :" */
    const char *ch[4];   /* ch[0] correct */
    int subject;         /* creature index for SCI_CREATURE, else -1 */
} SciQ;

/* trait_choices: ch[0] a trait of kind k, ch[1..3] traits it lacks. */
static void trait_choices(const World *w, gsl_rng *r, int k, const char **ch) {
    int has[WORLD_TRAITS_PER_KIND], n_has = 0;
    for (int t = 0; t < LEX_N_TRAITS; t++)
        if (w->kind_trait[k][t]) has[n_has++] = t;
    int right = has[PICK(r, n_has)], wrong[3];
    appgen_distinct(r, LEX_N_TRAITS, 3, has, n_has, wrong);
    ch[0] = lex_traits[right];
    for (int i = 0; i < 3; i++) ch[1 + i] = lex_traits[wrong[i]];
}

static void effect_choices(gsl_rng *r, int effect, const char **ch) {
    int wrong[3];
    appgen_distinct(r, LEX_N_EFFECTS, 3, &effect, 1, wrong);
    ch[0] = lex_effects[effect];
    for (int i = 0; i < 3; i++) ch[1 + i] = lex_effects[wrong[i]];
}

/* sci_question: a random question of a random type into q (q->q is cleared first). */
static void sci_question(const World *w, gsl_rng *r, SciQ *q) {
    text_clear(&q->q);
    q->subject = -1;
    text_add(&q->q, "question :");
    int tpl = PICK(r, 2);
    switch (PICK(r, SCI_N)) {
    case SCI_KIND: {
        int k = PICK(r, LEX_REL_VALUES);
        const char *kind = lex_rel_values[REL_KIND][k];
        text_addf(&q->q, tpl ? "which of these is true of every %s ?" : "what do we know about every %s ?", kind);
        trait_choices(w, r, k, q->ch);
        break;
    }
    case SCI_CREATURE: {
        int i = PICK(r, w->cfg.n_entities);
        q->subject = i;
        text_addf(&q->q, tpl ? "which of these is true of the %s ?" : "what do we know about the %s ?", w->entity[i]);
        trait_choices(w, r, w->ent_value[i][REL_KIND], q->ch);
        break;
    }
    case SCI_MATERIAL: {
        int m = PICK(r, LEX_N_MATERIALS), t = PICK(r, LEX_N_TREATMENTS);
        text_addf(&q->q, tpl ? "what happens to %s when it is %s ?" : "if %s is %s , what happens ?", lex_materials[m],
                  lex_treatments[t]);
        effect_choices(r, w->effect[m][t], q->ch);
        break;
    }
    default: {
        int o = PICK(r, LEX_N_OBJECTS), t = PICK(r, LEX_N_TREATMENTS);
        text_addf(&q->q, tpl ? "what happens to a %s when it is %s ?" : "if a %s is %s , what happens ?", lex_objects[o],
                  lex_treatments[t]);
        effect_choices(r, w->effect[w->obj_material[o]][t], q->ch);
        break;
    }
    }
    text_add(&q->q, "answer :");
}

int app_science_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e) {
    SciQ main, shot;
    text_init(&main.q);
    text_init(&shot.q);
    sci_question(w, r, &main);
    Text sys;
    text_init(&sys);
    text_add(&sys, "use the rules of this world to answer each question .");
    for (int s = 0; s < SHOTS_N; s++) {
        for (int tries = 0; tries < 200; tries++) { /* a shot that names none of the item's choices */
            sci_question(w, r, &shot);
            if (avoid && text_ok(&shot.q) && keyset_has(avoid, shot.q.s)) continue;
            text_add(&shot.q, shot.ch[0]);
            text_add(&shot.q, ".");
            if (!text_ok(&shot.q)) break;
            if (shot.subject >= 0 && shot.subject == main.subject) continue;
            if (!appgen_has_any(shot.q.s, main.ch, 4)) break;
        }
        text_add(&sys, shot.q.s ? shot.q.s : "");
    }
    const char *choices[4] = {main.ch[0], main.ch[1], main.ch[2], main.ch[3]};
    int answer = appgen_shuffle(r, choices, 4);
    int rc = text_ok(&sys) && text_ok(&main.q) ? appgen_fill(out, &sys, &main.q, choices, 4, answer, NULL, 0, e)
                                                : err_set(e, "science: out of memory");
    text_free(&sys);
    text_free(&main.q);
    text_free(&shot.q);
    return rc;
}
