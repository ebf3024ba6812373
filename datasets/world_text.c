/* world_text: true sentences about the generated world, in several paraphrases each; the "world text" the
 * training corpus uses to teach the knowledge apps (see world.h). Templates use %s for the slots. */
#include <gsl/gsl_randist.h>

#include "datasets/world.h"

#define PICK(r, n) ((int)gsl_rng_uniform_int((r), (unsigned long)(n)))

/* One relation of one creature: slot order is (entity, value). Three statements, then two quiz lines (a
 * question and its answer, worded unlike the facts app's questions), so that the world text itself practises
 * answering questions about every fact. */
#define N_REL_TEMPLATES 5
static const char *const k_rel_templates[REL_N][N_REL_TEMPLATES] = {
    {"the %s is a %s .", "a %s is a kind of %s .", "the %s belongs to the %s group .",
     "q : what is the %s ? a : a %s .", "q : name the kind of the %s . a : %s ."},
    {"the %s is %s .", "the color of the %s is %s .", "every %s has %s skin .",
     "q : what color does the %s have ? a : %s .", "q : name the color of the %s . a : %s ."},
    {"the %s lives in the %s .", "the home of the %s is the %s .", "you can find the %s in the %s .",
     "q : where is the %s found ? a : the %s .", "q : name the home of the %s . a : %s ."},
    {"the %s eats %s .", "the food of the %s is %s .", "a %s likes to eat %s .",
     "q : what food does the %s eat ? a : %s .", "q : name the food of the %s . a : %s ."},
    {"the %s makes a %s sound .", "the sound of the %s is a %s .", "you may hear the %s %s .",
     "q : what does the %s sound like ? a : a %s .", "q : name the sound of the %s . a : %s ."},
};

static void entity_fact(const World *w, gsl_rng *r, Text *out) {
    int i = PICK(r, w->cfg.n_entities), rel = PICK(r, REL_N);
    text_addf(out, k_rel_templates[rel][PICK(r, N_REL_TEMPLATES)], w->entity[i],
              lex_rel_values[rel][w->ent_value[i][rel]]);
}

/* How to feed or find a creature, worded as the physical app's ways are. */
static void entity_affordance(const World *w, gsl_rng *r, Text *out) {
    int i = PICK(r, w->cfg.n_entities);
    if (PICK(r, 2)) text_addf(out, "to feed the %s , give it %s .", w->entity[i], lex_rel_values[REL_FOOD][w->ent_value[i][REL_FOOD]]);
    else text_addf(out, "to find the %s , search the %s .", w->entity[i], lex_rel_values[REL_HOME][w->ent_value[i][REL_HOME]]);
}

static void entity_combined(const World *w, gsl_rng *r, Text *out) {
    int i = PICK(r, w->cfg.n_entities);
    const int *v = w->ent_value[i];
    const char *name = w->entity[i];
    switch (PICK(r, 3)) {
    case 0:
        text_addf(out, "the %s is a %s %s that lives in the %s .", name, lex_rel_values[REL_COLOR][v[REL_COLOR]],
                  lex_rel_values[REL_KIND][v[REL_KIND]], lex_rel_values[REL_HOME][v[REL_HOME]]);
        break;
    case 1:
        text_addf(out, "the %s eats %s and makes a %s sound .", name, lex_rel_values[REL_FOOD][v[REL_FOOD]],
                  lex_rel_values[REL_SOUND][v[REL_SOUND]]);
        break;
    default:
        text_addf(out, "in the %s lives the %s , a %s %s .", lex_rel_values[REL_HOME][v[REL_HOME]], name,
                  lex_rel_values[REL_COLOR][v[REL_COLOR]], lex_rel_values[REL_KIND][v[REL_KIND]]);
        break;
    }
}

static void kind_trait(const World *w, gsl_rng *r, Text *out) {
    int k = PICK(r, LEX_REL_VALUES), pick = PICK(r, WORLD_TRAITS_PER_KIND), t = 0;
    for (int j = 0, seen = 0; j < LEX_N_TRAITS; j++)
        if (w->kind_trait[k][j] && seen++ == pick) t = j;
    static const char *const tpl[3] = {"every %s %s .", "a %s always %s .", "each %s %s ."};
    text_addf(out, tpl[PICK(r, 3)], lex_rel_values[REL_KIND][k], lex_traits[t]);
}

static void material_effect(const World *w, gsl_rng *r, Text *out) {
    int m = PICK(r, LEX_N_MATERIALS), t = PICK(r, LEX_N_TREATMENTS);
    static const char *const tpl[3] = {"when %s is %s , %s .", "if %s is %s , %s .", "%s that is %s : %s ."};
    text_addf(out, tpl[PICK(r, 3)], lex_materials[m], lex_treatments[t], lex_effects[w->effect[m][t]]);
}

static void object_material(const World *w, gsl_rng *r, Text *out) {
    int o = PICK(r, LEX_N_OBJECTS);
    static const char *const tpl[3] = {"the %s is made of %s .", "a %s is made from %s .", "every %s is built of %s ."};
    text_addf(out, tpl[PICK(r, 3)], lex_objects[o], lex_materials[w->obj_material[o]]);
}

static void tool_use(const World *w, gsl_rng *r, Text *out) {
    int i = PICK(r, w->cfg.n_tools);
    const char *tool = w->tool[i], *use = lex_uses[w->tool_use[i]];
    switch (PICK(r, 4)) {
    case 0: text_addf(out, "a %s is a tool used to %s things .", tool, use); break;
    case 1: text_addf(out, "you can %s things with a %s .", use, tool); break;
    case 2: text_addf(out, "to %s things , use a %s .", use, tool); break;
    default: text_addf(out, "people use a %s to %s things .", tool, use); break;
    }
}

static void synonym(gsl_rng *r, Text *out) {
    if (PICK(r, 2) == 0) {
        int i = PICK(r, LEX_N_FN_VERBS);
        if (PICK(r, 2)) text_addf(out, "to %s means to %s .", lex_fn_verbs[i][1], lex_fn_verbs[i][0]);
        else text_addf(out, "%s is another word for %s .", lex_fn_verbs[i][1], lex_fn_verbs[i][0]);
    } else {
        int i = PICK(r, LEX_N_FN_OBJECTS);
        if (PICK(r, 2)) text_addf(out, "a %s is the same as a %s .", lex_fn_objects[i][1], lex_fn_objects[i][0]);
        else text_addf(out, "%s is another word for %s .", lex_fn_objects[i][1], lex_fn_objects[i][0]);
    }
}

static void category_cue(gsl_rng *r, Text *out) {
    int i = PICK(r, LEX_N_CATEGORIES);
    if (PICK(r, 2)) text_addf(out, "%s is part of %s .", lex_categories[i][1], lex_categories[i][0]);
    else text_addf(out, "%s apps help with %s .", lex_categories[i][0], lex_categories[i][1]);
}

/* Sentence kinds and their shares (percent) of the world text: creature facts dominate, since they are most
 * of what there is to memorise. */
void world_sentence(const World *w, gsl_rng *r, Text *out) {
    int p = PICK(r, 100);
    if (p < 50) entity_fact(w, r, out);
    else if (p < 58) entity_combined(w, r, out);
    else if (p < 64) entity_affordance(w, r, out);
    else if (p < 72) kind_trait(w, r, out);
    else if (p < 80) material_effect(w, r, out);
    else if (p < 86) object_material(w, r, out);
    else if (p < 93) tool_use(w, r, out);
    else if (p < 96) synonym(r, out);
    else category_cue(r, out);
}

void world_doc(const World *w, gsl_rng *r, int n, Text *out) {
    for (int i = 0; i < n; i++) world_sentence(w, r, out);
}
