/* app_physical: the PIQA-like app. A goal and two ways to reach it; the right one follows from memorised
 * affordances of the world:
 *   tool: which tool serves a purpose              (tool -> use)
 *   feed: what to give a creature                   (creature -> food)
 *   find: where to look for a creature              (creature -> home)
 * Choices are three-word phrases that differ only in their last word. The system prompt is an instruction plus
 * few-shot examples about other goals that contain neither choice. */
#include "datasets/appgen.h"

#define PICK(r, n) ((int)gsl_rng_uniform_int((r), (unsigned long)(n)))

enum { PHY_TOOL = 0, PHY_FEED, PHY_FIND };

typedef struct PhyQ {
    Text q;          /* "goal : ... answer :" */
    Text ch[2];      /* ch[0] right, ch[1] wrong */
    int subject;     /* creature index (feed, find) or -1 */
} PhyQ;

static void phy_question(const World *w, gsl_rng *r, PhyQ *q) {
    text_clear(&q->q);
    text_clear(&q->ch[0]);
    text_clear(&q->ch[1]);
    q->subject = -1;
    text_add(&q->q, "goal :");
    int tpl = PICK(r, 2), p = PICK(r, 10);
    int type = p < 4 ? PHY_TOOL : p < 7 ? PHY_FEED : PHY_FIND;
    if (type == PHY_TOOL) {
        int right = PICK(r, w->cfg.n_tools), wrong, o = PICK(r, LEX_N_OBJECTS);
        do wrong = PICK(r, w->cfg.n_tools);
        while (w->tool_use[wrong] == w->tool_use[right]);
        const char *use = lex_uses[w->tool_use[right]];
        text_addf(&q->q, tpl ? "you need to %s the %s . what should you do ?" : "how can you %s a %s ?", use,
                  lex_objects[o]);
        text_addf(&q->ch[0], "use a %s", w->tool[right]);
        text_addf(&q->ch[1], "use a %s", w->tool[wrong]);
    } else {
        int i = PICK(r, w->cfg.n_entities), rel = type == PHY_FEED ? REL_FOOD : REL_HOME;
        int right = w->ent_value[i][rel], wrong;
        q->subject = i;
        appgen_distinct(r, LEX_REL_VALUES, 1, &right, 1, &wrong);
        if (type == PHY_FEED) {
            text_addf(&q->q, tpl ? "you want to feed the %s . what should you do ?" : "how can you feed a %s ?",
                      w->entity[i]);
            text_addf(&q->ch[0], "give it %s", lex_rel_values[rel][right]);
            text_addf(&q->ch[1], "give it %s", lex_rel_values[rel][wrong]);
        } else {
            text_addf(&q->q, tpl ? "you want to find a %s . what should you do ?" : "how can you find a %s ?",
                      w->entity[i]);
            text_addf(&q->ch[0], "search the %s", lex_rel_values[rel][right]);
            text_addf(&q->ch[1], "search the %s", lex_rel_values[rel][wrong]);
        }
    }
    text_add(&q->q, "answer :");
}

static void phy_init(PhyQ *q) {
    text_init(&q->q);
    text_init(&q->ch[0]);
    text_init(&q->ch[1]);
}

static void phy_free(PhyQ *q) {
    text_free(&q->q);
    text_free(&q->ch[0]);
    text_free(&q->ch[1]);
}

static int phy_ok(const PhyQ *q) { return text_ok(&q->q) && text_ok(&q->ch[0]) && text_ok(&q->ch[1]); }

int app_physical_make(const World *w, gsl_rng *r, const KeySet *avoid, Item *out, Err *e) {
    PhyQ main, shot;
    phy_init(&main);
    phy_init(&shot);
    phy_question(w, r, &main);
    Text sys;
    text_init(&sys);
    text_add(&sys, "pick the way that best reaches each goal .");
    int ok = phy_ok(&main);
    const char *choices[2] = {main.ch[0].s, main.ch[1].s};
    for (int s = 0; ok && s < SHOTS_N; s++) {
        for (int tries = 0; tries < 200; tries++) { /* another goal whose text names neither choice */
            phy_question(w, r, &shot);
            if (avoid && phy_ok(&shot) && keyset_has(avoid, shot.q.s)) continue;
            text_add(&shot.q, shot.ch[0].s);
            text_add(&shot.q, ".");
            if (!(ok = phy_ok(&shot))) break;
            if (shot.subject >= 0 && shot.subject == main.subject) continue;
            if (!appgen_has_any(shot.q.s, choices, 2)) break;
        }
        if (ok) text_add(&sys, shot.q.s);
    }
    int rc;
    if (ok && text_ok(&sys)) {
        int answer = appgen_shuffle(r, choices, 2);
        rc = appgen_fill(out, &sys, &main.q, choices, 2, answer, NULL, 0, e);
    } else {
        rc = err_set(e, "physical: out of memory");
    }
    text_free(&sys);
    phy_free(&main);
    phy_free(&shot);
    return rc;
}
