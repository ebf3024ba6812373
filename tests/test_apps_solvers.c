/* Oracle solvers that guard the design of the six apps, written independently of the generators (they parse
 * the item text and consult the world tables or the lexicon's fixed maps):
 *   - funcall, uinav, reading are solved from the system prompt alone (~100%), and are at chance without it;
 *   - facts, science, physical are solved from the world tables (~100%), while matching the choices against
 *     the system prompt (the few-shot examples) is at chance;
 *   - dropping 70% of the system words at random ruins the in-context apps' oracle and leaves the knowledge
 *     apps' oracle untouched (the data-level counterpart of the prompt-sensitivity acceptance check). */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/appgen.h"
#include "datasets/apps.h"
#include "tests/test.h"

/* Words of a string (copy split on spaces). */
typedef struct Words {
    char *buf;
    char **w;
    int n;
} Words;

static void words_split(Words *ws, const char *s) {
    ws->buf = strdup(s);
    ws->w = malloc((strlen(s) / 2 + 2) * sizeof *ws->w);
    ws->n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(ws->buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) ws->w[ws->n++] = tok;
}

static void words_free(Words *ws) {
    free(ws->buf);
    free(ws->w);
}

static int has_word(const Words *ws, const char *w) {
    for (int i = 0; i < ws->n; i++)
        if (!strcmp(ws->w[i], w)) return 1;
    return 0;
}

static int index_of(const char *const *list, int n, const char *w) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], w)) return i;
    return -1;
}

static int choice_index(const Item *it, const char *s) {
    for (int i = 0; i < it->n_choices; i++)
        if (!strcmp(it->choices[i], s)) return i;
    return -1;
}

/* ---- knowledge apps: solvers that read the world ---- */

static int solve_facts(const World *w, const Item *it) {
    Words q;
    words_split(&q, it->query);
    int ent = -1, rel = -1;
    for (int i = 0; i < q.n; i++)
        if (ent < 0) ent = world_entity_find(w, q.w[i]);
    if (has_word(&q, "kind") || has_word(&q, "group")) rel = REL_KIND;
    else if (has_word(&q, "color")) rel = REL_COLOR;
    else if (has_word(&q, "live") || has_word(&q, "home") || has_word(&q, "place")) rel = REL_HOME;
    else if (has_word(&q, "eat") || has_word(&q, "food")) rel = REL_FOOD;
    else if (has_word(&q, "sound")) rel = REL_SOUND;
    words_free(&q);
    if (ent < 0 || rel < 0) return -1;
    return choice_index(it, lex_rel_values[rel][w->ent_value[ent][rel]]);
}

static int solve_science(const World *w, const Item *it) {
    Words q;
    words_split(&q, it->query);
    int ans = -1;
    if (has_word(&q, "happens")) {
        int mat = -1, tr = -1;
        for (int i = 0; i < q.n; i++) {
            int m = index_of(lex_materials, LEX_N_MATERIALS, q.w[i]), o = index_of(lex_objects, LEX_N_OBJECTS, q.w[i]);
            int t = index_of(lex_treatments, LEX_N_TREATMENTS, q.w[i]);
            if (m >= 0) mat = m;
            if (o >= 0) mat = w->obj_material[o];
            if (t >= 0) tr = t;
        }
        if (mat >= 0 && tr >= 0) ans = choice_index(it, lex_effects[w->effect[mat][tr]]);
    } else {
        int kind = -1;
        for (int i = 0; i < q.n; i++) {
            int k = world_value_find(REL_KIND, q.w[i]), e = world_entity_find(w, q.w[i]);
            if (k >= 0) kind = k;
            if (e >= 0) kind = w->ent_value[e][REL_KIND];
        }
        for (int c = 0; kind >= 0 && c < it->n_choices; c++) {
            int t = index_of(lex_traits, LEX_N_TRAITS, it->choices[c]);
            if (t >= 0 && w->kind_trait[kind][t]) ans = ans < 0 ? c : -2; /* exactly one must hold */
        }
    }
    words_free(&q);
    return ans < 0 ? -1 : ans;
}

static int solve_physical(const World *w, const Item *it) {
    Words q;
    words_split(&q, it->query);
    int ans = -1, ent = -1, use = -1;
    for (int i = 0; i < q.n; i++) {
        if (ent < 0) ent = world_entity_find(w, q.w[i]);
        if (use < 0) use = index_of(lex_uses, LEX_N_USES, q.w[i]);
    }
    for (int c = 0; c < it->n_choices; c++) {
        Words ch;
        words_split(&ch, it->choices[c]);
        const char *last = ch.w[ch.n - 1];
        int ok = 0;
        if (!strncmp(it->choices[c], "use a ", 6) && use >= 0) {
            int tool = world_tool_find(w, last);
            ok = tool >= 0 && w->tool_use[tool] == use;
        } else if (!strncmp(it->choices[c], "give it ", 8) && ent >= 0) {
            ok = world_value_find(REL_FOOD, last) == w->ent_value[ent][REL_FOOD];
        } else if (!strncmp(it->choices[c], "search the ", 11) && ent >= 0) {
            ok = world_value_find(REL_HOME, last) == w->ent_value[ent][REL_HOME];
        }
        if (ok) ans = ans < 0 ? c : -2;
        words_free(&ch);
    }
    words_free(&q);
    return ans < 0 ? -1 : ans;
}

/* solve_by_prompt_match: the choice that occurs most often in the system text (first on ties). */
static int solve_by_prompt_match(const char *system, const Item *it) {
    int best = 0, best_n = -1;
    for (int c = 0; c < it->n_choices; c++) {
        int n = 0;
        size_t l = strlen(it->choices[c]);
        for (const char *p = strstr(system, it->choices[c]); p; p = strstr(p + 1, it->choices[c]))
            n += (p == system || p[-1] == ' ') && (p[l] == 0 || p[l] == ' ');
        if (n > best_n) best = c, best_n = n;
    }
    return best;
}

/* ---- in-context apps: solvers that read only the system text and the query ---- */

/* canonical: the lexicon's fixed synonym maps (funcall verbs and objects, uinav cues) applied to one word. */
static const char *canonical(const char *w) {
    for (int i = 0; i < LEX_N_FN_VERBS; i++)
        if (!strcmp(w, lex_fn_verbs[i][1])) return lex_fn_verbs[i][0];
    for (int i = 0; i < LEX_N_FN_OBJECTS; i++)
        if (!strcmp(w, lex_fn_objects[i][1])) return lex_fn_objects[i][0];
    for (int i = 0; i < LEX_N_CATEGORIES; i++)
        if (!strcmp(w, lex_categories[i][1])) return lex_categories[i][0];
    return w;
}

/* solve_list: funcall / uinav. Entries "KEY.. NAME ;" follow the header's ":"; the entry whose key words all occur
 * (canonically) in the query wins; "none" (funcall) or the first choice otherwise. */
static int solve_list(const char *system, const Item *it) {
    Words s, q;
    words_split(&s, system);
    words_split(&q, it->query);
    for (int i = 0; i < q.n; i++) q.w[i] = (char *)canonical(q.w[i]);
    int ans = -1, i = 0;
    while (i < s.n && strcmp(s.w[i], ":")) i++;
    for (int start = i + 1, j = i + 1; j < s.n; j++) {
        if (strcmp(s.w[j], ";")) continue;
        int all = j - start >= 2;
        for (int k = start; k < j - 1 && all; k++) all = has_word(&q, s.w[k]);
        if (all && choice_index(it, s.w[j - 1]) >= 0) ans = choice_index(it, s.w[j - 1]);
        start = j + 1;
    }
    if (ans < 0) ans = choice_index(it, "none");
    words_free(&s);
    words_free(&q);
    return ans < 0 ? 0 : ans;
}

/* solve_reading: the relation from the question's cue words, the person from the people list; the passage
 * sentence that names the person and a value of that relation gives the answer. */
static int solve_reading(const char *system, const Item *it) {
    static const char *const cue[LEX_N_PREL][2] = {{"live", "town"}, {"job", "work"}, {"eat", "food"},
                                                   {"pet", "animal"}, {"play", "instrument"}};
    Words q;
    words_split(&q, it->query);
    int rel = -1;
    const char *person = NULL;
    for (int r = 0; r < LEX_N_PREL; r++)
        if (has_word(&q, cue[r][0]) || has_word(&q, cue[r][1])) rel = r;
    for (int i = 0; i < q.n; i++)
        if (index_of(lex_people, LEX_N_PEOPLE, q.w[i]) >= 0) person = q.w[i];
    int ans = -1;
    char *buf = strdup(system), *save = NULL;
    for (char *sent = strtok_r(buf, ".", &save); sent && rel >= 0 && person; sent = strtok_r(NULL, ".", &save)) {
        Words s;
        words_split(&s, sent);
        if (has_word(&s, person))
            for (int i = 0; i < s.n; i++)
                if (index_of(lex_prel_values[rel], LEX_PREL_VALUES, s.w[i]) >= 0) ans = choice_index(it, s.w[i]);
        words_free(&s);
    }
    free(buf);
    words_free(&q);
    return ans < 0 ? 0 : ans;
}

/* drop_words: the system text with round(frac * n) of its n words removed at random (malloc'd). */
static char *drop_words(const char *system, double frac, gsl_rng *r) {
    Words s;
    words_split(&s, system);
    int *idx = malloc((size_t)(s.n + 1) * sizeof *idx);
    unsigned char *keep = malloc((size_t)s.n + 1);
    for (int i = 0; i < s.n; i++) idx[i] = i, keep[i] = 1;
    int k = (int)(frac * s.n + 0.5);
    gsl_ran_shuffle(r, idx, (size_t)s.n, sizeof *idx);
    for (int i = 0; i < k; i++) keep[idx[i]] = 0;
    Text t;
    text_init(&t);
    for (int i = 0; i < s.n; i++)
        if (keep[i]) text_add(&t, s.w[i]);
    char *out = text_dup(&t);
    text_free(&t);
    free(idx);
    free(keep);
    words_free(&s);
    return out;
}

typedef struct Acc {
    int right, n, unsolved;
} Acc;

static double acc(const Acc *a) { return a->n ? (double)a->right / a->n : 0; }

static void build(TestCtx *t, AppsData *d) {
    AppsConfig c;
    apps_config_default(&c);
    c.n_split[0] = 300;
    Err e;
    CHECK_MSG(apps_build(d, 21, &c, &e) == 0, "%s", e.msg);
}

TEST(apps_incontext_apps_need_the_system_prompt) {
    AppsData d;
    build(t, &d);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    const int apps[3] = {2, 3, 5};
    for (int k = 0; k < 3; k++) {
        int app = apps[k];
        Acc full = {0}, without = {0}, dropped = {0};
        for (int s = 1; s < APPS_N_SPLITS; s++)
            for (int i = 0; i < d.set[app][s].n; i++) {
                const Item *it = &d.set[app][s].items[i];
                char *low = drop_words(it->system, 0.7, r);
                int a_full = app == 5 ? solve_reading(it->system, it) : solve_list(it->system, it);
                int a_none = app == 5 ? solve_reading("", it) : solve_list("", it);
                int a_drop = app == 5 ? solve_reading(low, it) : solve_list(low, it);
                full.right += a_full == it->answer;
                without.right += a_none == it->answer;
                dropped.right += a_drop == it->answer;
                full.n++, without.n++, dropped.n++;
                free(low);
            }
        double chance = 1.0 / apps_table[app].n_choices;
        printf("  %-8s oracle: system %.3f, no system %.3f (chance %.3f), 70%% dropped %.3f\n", apps_table[app].name,
               acc(&full), acc(&without), chance, acc(&dropped));
        CHECK_MSG(acc(&full) >= 0.99, "%s: the oracle solves only %.3f with the system prompt", apps_table[app].name,
                  acc(&full));
        CHECK_MSG(acc(&without) <= chance + 0.06, "%s: the oracle solves %.3f without the system prompt",
                  apps_table[app].name, acc(&without));
        CHECK_MSG(acc(&dropped) <= acc(&full) - 0.4, "%s: dropping 70%% of the system words leaves %.3f",
                  apps_table[app].name, acc(&dropped));
    }
    gsl_rng_free(r);
    apps_data_free(&d);
}

TEST(apps_knowledge_apps_need_the_world) {
    AppsData d;
    build(t, &d);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 6);
    const int apps[3] = {0, 1, 4};
    for (int k = 0; k < 3; k++) {
        int app = apps[k];
        Acc world = {0}, prompt = {0}, dropped = {0};
        for (int s = 0; s < APPS_N_SPLITS; s++)
            for (int i = 0; i < d.set[app][s].n; i++) {
                const Item *it = &d.set[app][s].items[i];
                int a = app == 0 ? solve_facts(&d.world, it) : app == 1 ? solve_science(&d.world, it)
                                                                        : solve_physical(&d.world, it);
                world.right += a == it->answer;
                world.unsolved += a < 0;
                world.n++;
                prompt.right += solve_by_prompt_match(it->system, it) == it->answer;
                prompt.n++;
                /* the knowledge solver never reads the system text; check that dropping changes nothing for it
                 * and that the prompt matcher gains nothing either */
                char *low = drop_words(it->system, 0.7, r);
                dropped.right += solve_by_prompt_match(low, it) == it->answer;
                dropped.n++;
                free(low);
            }
        double chance = 1.0 / apps_table[app].n_choices;
        printf("  %-8s world oracle %.3f (%d unsolved), prompt matching %.3f (chance %.3f), after 70%% drop %.3f\n",
               apps_table[app].name, acc(&world), world.unsolved, acc(&prompt), chance, acc(&dropped));
        CHECK_MSG(acc(&world) >= 0.999 && world.unsolved == 0, "%s: the world oracle solves only %.3f",
                  apps_table[app].name, acc(&world));
        CHECK_MSG(acc(&prompt) <= chance + 0.04, "%s: matching choices in the system prompt solves %.3f",
                  apps_table[app].name, acc(&prompt));
        CHECK_MSG(acc(&dropped) <= chance + 0.04, "%s: matching after dropping solves %.3f", apps_table[app].name,
                  acc(&dropped));
    }
    /* the few-shot examples never name any of the item's choices */
    int named = 0;
    for (int k = 0; k < 3; k++) {
        int app = apps[k];
        for (int i = 0; i < d.set[app][2].n; i++) {
            const Item *it = &d.set[app][2].items[i];
            named += appgen_has_any(it->system, (const char *const *)it->choices, it->n_choices);
        }
    }
    CHECK_MSG(named == 0, "%d knowledge test items name a choice in their system prompt", named);
    gsl_rng_free(r);
    apps_data_free(&d);
}

/* The drills' extra questions (requery) are answered by the same oracle from the same system text: they ask
 * about entries that really are in the list or passage, with the answer the text gives. */
TEST(apps_requery_asks_about_the_same_system_text) {
    AppsData d;
    build(t, &d);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    const int apps[3] = {2, 3, 5};
    for (int k = 0; k < 3; k++) {
        int app = apps[k], right = 0, n = 0, none = 0, distinct = 0;
        for (int i = 0; i < d.set[app][0].n; i++) {
            Item it = d.set[app][0].items[i];
            const char *prev = NULL;
            for (int rep = 0; rep < 4; rep++) {
                Text q, a;
                text_init(&q);
                text_init(&a);
                Err e;
                CHECK_MSG(apps_table[app].requery(&d.world, r, &it, &q, &a, &e) == 0, "%s", e.msg);
                /* the same item with the new query: the oracle must find the new answer */
                Item x = it;
                x.query = q.s;
                const char *two[2] = {a.s, "zzzz"};
                if (app == 5) {
                    x.choices = (char **)two;
                    x.n_choices = 2;
                }
                int want = app == 5 ? 0 : choice_index(&x, a.s);
                int got = app == 5 ? solve_reading(x.system, &x) : solve_list(x.system, &x);
                right += want >= 0 && got == want;
                none += !strcmp(a.s, "none");
                n++;
                if (rep == 0) prev = NULL;
                distinct += prev == NULL || strcmp(prev, q.s) != 0;
                text_free(&q);
                text_free(&a);
                prev = "";
            }
        }
        printf("  %-8s requery: oracle agrees on %d of %d (%d none)\n", apps_table[app].name, right, n, none);
        CHECK_MSG(right == n, "%s: the oracle disagrees with %d requeries", apps_table[app].name, n - right);
        CHECK(distinct > 0);
        if (app == 2) CHECK_MSG(none > n / 50 && none < n / 8, "funcall: %d of %d requeries answer none", none, n);
    }
    /* the smaller lists and passages of the skill drills: the item and its requeries agree with the oracle */
    int agree = 0, total = 0;
    for (int i = 0; i < 300; i++) {
        Item it;
        Err e;
        int app = apps[i % 3], rc;
        if (app == 2) rc = app_funcall_build(&d.world, r, 1 + i % FUNCALL_N_LISTED, &it, &e);
        else if (app == 3) rc = app_uinav_build(&d.world, r, 1 + i % UINAV_N_LISTED, &it, &e);
        else rc = app_reading_build(&d.world, r, 1 + i % READING_N_PEOPLE, i % (READING_N_FILLERS + 1), &it, &e);
        CHECK_MSG(rc == 0, "%s", e.msg);
        if (rc) continue;
        int got = app == 5 ? solve_reading(it.system, &it) : solve_list(it.system, &it);
        agree += got == it.answer;
        total++;
        Text q, a;
        text_init(&q);
        text_init(&a);
        CHECK_MSG(apps_table[app].requery(&d.world, r, &it, &q, &a, &e) == 0, "%s", e.msg);
        Item x = it;
        x.query = q.s;
        const char *two[2] = {a.s, "zzzz"};
        if (app == 5) {
            x.choices = (char **)two;
            x.n_choices = 2;
        }
        int want = app == 5 ? 0 : choice_index(&x, a.s);
        agree += want >= 0 && (app == 5 ? solve_reading(x.system, &x) : solve_list(x.system, &x)) == want;
        total++;
        text_free(&q);
        text_free(&a);
        item_free(&it);
    }
    CHECK_MSG(agree == total, "small in-context items: the oracle agrees on %d of %d", agree, total);
    Err e0;
    Item none;
    CHECK(app_uinav_build(&d.world, r, 0, &none, &e0) == -1 && app_funcall_build(&d.world, r, 21, &none, &e0) == -1 &&
          app_reading_build(&d.world, r, 4, 0, &none, &e0) == -1);
    /* a system text in the wrong format is an error naming the item */
    Item bad = d.set[3][0].items[0];
    bad.system = (char *)"no list here";
    Text q, a;
    text_init(&q);
    text_init(&a);
    Err e;
    CHECK(app_uinav_requery(&d.world, r, &bad, &q, &a, &e) == -1 && strstr(e.msg, bad.id));
    CHECK(app_funcall_requery(&d.world, r, &bad, &q, &a, &e) == -1 && strstr(e.msg, bad.id));
    CHECK(app_reading_requery(&d.world, r, &bad, &q, &a, &e) == -1 && strstr(e.msg, bad.id));
    text_free(&q);
    text_free(&a);
    gsl_rng_free(r);
    apps_data_free(&d);
}
