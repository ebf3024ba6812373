/* Tests of the six synthetic apps: the world, determinism, disjoint splits, JSONL round trip and the shape of
 * every item (choice counts, comparable choice lengths, relevant spans). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/appgen.h"
#include "datasets/apps.h"
#include "datasets/keyset.h"
#include "tests/test.h"

/* small_config: the default world and test/dev sizes with a small train split (fast). */
static AppsConfig small_config(void) {
    AppsConfig c;
    apps_config_default(&c);
    c.n_split[0] = 400;
    return c;
}

static int items_equal(const Item *a, const Item *b) {
    if (strcmp(a->app, b->app) || strcmp(a->id, b->id) || strcmp(a->system, b->system) || strcmp(a->query, b->query) ||
        a->n_choices != b->n_choices || a->answer != b->answer || a->n_relevant != b->n_relevant)
        return 0;
    for (int i = 0; i < a->n_choices; i++)
        if (strcmp(a->choices[i], b->choices[i])) return 0;
    for (int i = 0; i < a->n_relevant; i++)
        if (a->relevant[i][0] != b->relevant[i][0] || a->relevant[i][1] != b->relevant[i][1]) return 0;
    return 1;
}

TEST(apps_world_is_balanced_and_unique) {
    WorldConfig c;
    world_config_default(&c);
    World w, w2, w3;
    Err e;
    CHECK(world_build(&w, &c, 7, &e) == 0);
    CHECK(world_build(&w2, &c, 7, &e) == 0);
    CHECK(world_build(&w3, &c, 8, &e) == 0);
    int same = 1, diff = 0;
    for (int i = 0; i < c.n_entities; i++) {
        same &= !strcmp(w.entity[i], w2.entity[i]) && !memcmp(w.ent_value[i], w2.ent_value[i], sizeof w.ent_value[i]);
        diff += strcmp(w.entity[i], w3.entity[i]) != 0;
    }
    CHECK_MSG(same, "same seed gave a different world");
    CHECK_MSG(diff > c.n_entities / 2, "another seed changed only %d of %d names", diff, c.n_entities);
    /* every invented name unique across pools, lower-case letters, not a lexicon word */
    KeySet names;
    keyset_init(&names);
    char **pools[4] = {w.entity, w.tool, w.fn_name, w.app_name};
    int sizes[4] = {c.n_entities, c.n_tools, c.n_fn_names, c.n_app_names};
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < sizes[p]; i++) {
            const char *s = pools[p][i];
            CHECK_MSG(keyset_add(&names, s) == 1, "name '%s' drawn twice", s);
            CHECK_MSG(!lex_contains(s), "name '%s' is a lexicon word", s);
            for (const char *q = s; *q; q++) CHECK_MSG(*q >= 'a' && *q <= 'z', "name '%s' has a non-letter", s);
        }
    keyset_free(&names);
    /* relation values spread evenly */
    for (int rel = 0; rel < REL_N; rel++) {
        int count[LEX_REL_VALUES] = {0};
        for (int i = 0; i < c.n_entities; i++) count[w.ent_value[i][rel]]++;
        for (int v = 0; v < LEX_REL_VALUES; v++)
            CHECK_MSG(abs(count[v] - c.n_entities / LEX_REL_VALUES) <= 1, "relation %d value %d used %d times", rel, v,
                      count[v]);
    }
    /* traits: WORLD_TRAITS_PER_KIND per kind, each trait in exactly two kinds */
    for (int tr = 0; tr < LEX_N_TRAITS; tr++) {
        int kinds = 0;
        for (int k = 0; k < LEX_REL_VALUES; k++) kinds += w.kind_trait[k][tr];
        CHECK_MSG(kinds == 2, "trait %d belongs to %d kinds", tr, kinds);
    }
    for (int k = 0; k < LEX_REL_VALUES; k++) {
        int n = 0;
        for (int tr = 0; tr < LEX_N_TRAITS; tr++) n += w.kind_trait[k][tr];
        CHECK(n == WORLD_TRAITS_PER_KIND);
    }
    /* tools spread evenly over the uses */
    int uses[LEX_N_USES] = {0};
    for (int i = 0; i < c.n_tools; i++) uses[w.tool_use[i]]++;
    for (int u = 0; u < LEX_N_USES; u++) CHECK(uses[u] == c.n_tools / LEX_N_USES);
    CHECK(world_entity_find(&w, w.entity[5]) == 5 && world_entity_find(&w, "zzzz") == -1);
    world_free(&w);
    world_free(&w2);
    world_free(&w3);
    c.n_entities = 3;
    CHECK_MSG(world_build(&w, &c, 1, &e) == -1 && strstr(e.msg, "n_entities"), "bad size accepted: %s", e.msg);
}

/* has_word: whether text holds word as a whole space-separated word. */
static int has_word(const char *text, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        if ((p == text || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

/* The single words of the lexicon lists must not collide across lists (a word with two roles would blur the
 * world's facts). Traits and effects are phrases; their words repeat by design ("has", "it"). */
TEST(apps_lexicon_words_have_one_role) {
    KeySet seen;
    keyset_init(&seen);
    int dup = 0;
#define ADD(word)                                                                                                      \
    do {                                                                                                               \
        if (keyset_add(&seen, (word)) != 1) {                                                                          \
            dup++;                                                                                                     \
            fprintf(stderr, "  lexicon word '%s' has two roles\n", (word));                                           \
        }                                                                                                              \
    } while (0)
    for (int r = 0; r < REL_N; r++)
        for (int i = 0; i < LEX_REL_VALUES; i++) ADD(lex_rel_values[r][i]);
    for (int i = 0; i < LEX_N_MATERIALS; i++) ADD(lex_materials[i]);
    for (int i = 0; i < LEX_N_TREATMENTS; i++) ADD(lex_treatments[i]);
    for (int i = 0; i < LEX_N_OBJECTS; i++) ADD(lex_objects[i]);
    for (int i = 0; i < LEX_N_USES; i++) ADD(lex_uses[i]);
    for (int i = 0; i < LEX_N_FN_VERBS; i++) {
        ADD(lex_fn_verbs[i][0]);
        ADD(lex_fn_verbs[i][1]);
    }
    for (int i = 0; i < LEX_N_FN_OBJECTS; i++) {
        ADD(lex_fn_objects[i][0]);
        ADD(lex_fn_objects[i][1]);
    }
    for (int i = 0; i < LEX_N_CATEGORIES; i++) {
        ADD(lex_categories[i][0]);
        ADD(lex_categories[i][1]);
    }
    for (int i = 0; i < LEX_N_PEOPLE; i++) ADD(lex_people[i]);
    for (int r = 0; r < LEX_N_PREL; r++)
        for (int i = 0; i < LEX_PREL_VALUES; i++) ADD(lex_prel_values[r][i]);
    for (int i = 0; i < LEX_N_TRAITS; i++) ADD(lex_traits[i]);
    for (int i = 0; i < LEX_N_EFFECTS; i++) ADD(lex_effects[i]);
#undef ADD
    CHECK_MSG(dup == 0, "%d lexicon words have two roles", dup);
    /* functions are distinct (verb, object) pairs */
    for (int i = 0; i < LEX_N_FUNCTIONS; i++)
        for (int j = 0; j < i; j++)
            CHECK_MSG(memcmp(lex_functions[i], lex_functions[j], 2) != 0, "function %d repeats function %d", i, j);
    keyset_free(&seen);
}

TEST(apps_generation_is_deterministic) {
    AppsConfig c = small_config();
    AppsData a, b, x;
    Err e;
    CHECK_MSG(apps_build(&a, 3, &c, &e) == 0, "%s", e.msg);
    CHECK_MSG(apps_build(&b, 3, &c, &e) == 0, "%s", e.msg);
    CHECK_MSG(apps_build(&x, 4, &c, &e) == 0, "%s", e.msg);
    for (int app = 0; app < APPS_N; app++)
        for (int s = 0; s < APPS_N_SPLITS; s++) {
            const ItemSet *p = &a.set[app][s], *q = &b.set[app][s], *o = &x.set[app][s];
            CHECK(p->n == c.n_split[s] && q->n == p->n);
            int eq = 1, other = 0;
            for (int i = 0; i < p->n && i < q->n; i++) eq &= items_equal(&p->items[i], &q->items[i]);
            for (int i = 0; i < p->n && i < o->n; i++) other += items_equal(&p->items[i], &o->items[i]);
            CHECK_MSG(eq, "%s %s differs between two runs with the same seed", apps_table[app].name,
                      apps_split_names[s]);
            CHECK_MSG(other < p->n / 10 + 1, "%s %s: %d items equal under another seed", apps_table[app].name,
                      apps_split_names[s], other);
        }
    /* the test split does not depend on the other splits' sizes, and one split alone is the same */
    AppsConfig c2 = c;
    c2.n_split[0] = 50;
    c2.n_split[1] = 20;
    for (int app = 0; app < APPS_N; app++) {
        ItemSet t2, d2;
        CHECK_MSG(apps_generate_split(&t2, &a.world, app, 2, 3, &c2, &e) == 0, "%s", e.msg);
        CHECK_MSG(apps_generate_split(&d2, &a.world, app, 0, 3, &c, &e) == 0, "%s", e.msg);
        int eq = t2.n == a.set[app][2].n && d2.n == a.set[app][0].n;
        for (int i = 0; eq && i < t2.n; i++) eq &= items_equal(&t2.items[i], &a.set[app][2].items[i]);
        for (int i = 0; eq && i < d2.n; i++) eq &= items_equal(&d2.items[i], &a.set[app][0].items[i]);
        CHECK_MSG(eq, "%s: a split generated alone differs from apps_build", apps_table[app].name);
        items_free(&t2);
        items_free(&d2);
    }
    apps_data_free(&a);
    apps_data_free(&b);
    apps_data_free(&x);
}

static char *content(const Item *it) {
    Text t;
    text_init(&t);
    text_add(&t, it->system);
    text_add(&t, "|");
    text_add(&t, it->query);
    for (int i = 0; i < it->n_choices; i++) {
        text_add(&t, "|");
        text_add(&t, it->choices[i]);
    }
    char *s = text_dup(&t);
    text_free(&t);
    return s;
}

TEST(apps_splits_share_no_item) {
    AppsConfig c;
    apps_config_default(&c);
    AppsData d;
    Err e;
    CHECK_MSG(apps_build(&d, 5, &c, &e) == 0, "%s", e.msg);
    for (int app = 0; app < APPS_N; app++) {
        KeySet whole[APPS_N_SPLITS], keys[APPS_N_SPLITS], prompts[APPS_N_SPLITS];
        for (int s = 0; s < APPS_N_SPLITS; s++) {
            keyset_init(&whole[s]);
            keyset_init(&keys[s]);
            keyset_init(&prompts[s]);
            CHECK_MSG(d.set[app][s].n == c.n_split[s], "%s %s has %d items", apps_table[app].name, apps_split_names[s],
                      d.set[app][s].n);
            for (int i = 0; i < d.set[app][s].n; i++) {
                const Item *it = &d.set[app][s].items[i];
                char *w = content(it), *k = apps_item_key(it, apps_table[app].key), *p = apps_item_key(it, APP_KEY_PROMPT);
                CHECK_MSG(keyset_add(&whole[s], w) == 1, "%s: item %s repeats within its split", apps_table[app].name,
                          it->id);
                keyset_add(&keys[s], k);
                keyset_add(&prompts[s], p);
                free(w);
                free(k);
                free(p);
            }
        }
        for (int s = 0; s < APPS_N_SPLITS; s++)
            for (int u = 0; u < s; u++) {
                int shared = 0, shared_key = 0, shared_prompt = 0;
                for (size_t i = 0; i < whole[s].cap; i++)
                    if (whole[s].slot[i]) shared += keyset_has(&whole[u], whole[s].slot[i]);
                for (size_t i = 0; i < keys[s].cap; i++)
                    if (keys[s].slot[i]) shared_key += keyset_has(&keys[u], keys[s].slot[i]);
                for (size_t i = 0; i < prompts[s].cap; i++)
                    if (prompts[s].slot[i]) shared_prompt += keyset_has(&prompts[u], prompts[s].slot[i]);
                CHECK_MSG(shared == 0 && shared_key == 0 && shared_prompt == 0,
                          "%s: %s and %s share %d items, %d keys, %d prompts", apps_table[app].name,
                          apps_split_names[s], apps_split_names[u], shared, shared_key, shared_prompt);
            }
        /* the few-shot examples of a later split never ask a query of an earlier one (test, then dev, then train) */
        if (apps_table[app].key != APP_KEY_PROMPT) {
            const char *head = app == 4 ? "goal :" : "question :";
            int leaked = 0;
            KeySet later; /* queries of the splits generated before split s (test, then dev) */
            keyset_init(&later);
            for (int s = 1; s >= 0; s--) {
                for (int j = 0; j < d.set[app][s + 1].n; j++) keyset_add(&later, d.set[app][s + 1].items[j].query);
                for (int i = 0; i < d.set[app][s].n; i++) {
                    const char *sys = d.set[app][s].items[i].system;
                    for (const char *p = strstr(sys, head); p; p = strstr(p + 1, head)) {
                        const char *end = strstr(p, "answer :");
                        if (!end) break;
                        char shot[512];
                        snprintf(shot, sizeof shot, "%.*s", (int)(end - p) + 8, p);
                        leaked += keyset_has(&later, shot);
                    }
                }
            }
            keyset_free(&later);
            CHECK_MSG(leaked == 0, "%s: %d few-shot examples ask a query of a later-generated split", apps_table[app].name,
                      leaked);
        }
        for (int s = 0; s < APPS_N_SPLITS; s++) {
            keyset_free(&whole[s]);
            keyset_free(&keys[s]);
            keyset_free(&prompts[s]);
        }
    }
    apps_data_free(&d);
}

TEST(apps_items_round_trip_through_jsonl) {
    AppsConfig c = small_config();
    c.n_split[0] = 100;
    c.n_split[1] = 50;
    Err e;
    const char *dir = test_tmpdir();
    CHECK_MSG(apps_generate(dir, 9, &c, &e) == 0, "%s", e.msg);
    AppsData d;
    CHECK_MSG(apps_build(&d, 9, &c, &e) == 0, "%s", e.msg);
    for (int app = 0; app < APPS_N; app++)
        for (int s = 0; s < APPS_N_SPLITS; s++) {
            char path[1024];
            CHECK(apps_items_path(path, sizeof path, dir, apps_table[app].name, apps_split_names[s]) == 0);
            ItemSet got;
            CHECK_MSG(items_read(&got, path, &e) == 0, "%s", e.msg);
            int eq = got.n == d.set[app][s].n;
            for (int i = 0; eq && i < got.n; i++) eq = items_equal(&got.items[i], &d.set[app][s].items[i]);
            CHECK_MSG(eq, "%s does not read back as generated", path);
            items_free(&got);
        }
    char small[8];
    CHECK(apps_items_path(small, sizeof small, dir, "facts", "test") == -1);
    CHECK(apps_find("uinav") == 3 && apps_find("nope") == -1 && apps_split_find("dev") == 1);
    apps_data_free(&d);
}

/* The shape of every item: the app's number of choices, distinct choices of the same word count (so that the
 * length-normalised score compares like with like), no choice a prefix of another, relevant spans inside the
 * system text and holding the answer where the app has one. */
TEST(apps_items_are_well_formed) {
    AppsConfig c = small_config();
    AppsData d;
    Err e;
    CHECK_MSG(apps_build(&d, 11, &c, &e) == 0, "%s", e.msg);
    for (int app = 0; app < APPS_N; app++) {
        const char *name = apps_table[app].name;
        int bad = 0, with_span = 0, n = 0, none = 0, keyed = 0;
        long answer_pos[77] = {0};
        for (int s = 0; s < APPS_N_SPLITS; s++)
            for (int i = 0; i < d.set[app][s].n; i++, n++) {
                const Item *it = &d.set[app][s].items[i];
                if (it->n_choices != apps_table[app].n_choices || it->answer < 0 || it->answer >= it->n_choices) {
                    bad++;
                    continue;
                }
                answer_pos[it->answer]++;
                int words0 = text_count_words(it->choices[0]);
                for (int a = 0; a < it->n_choices; a++) {
                    if (text_count_words(it->choices[a]) != words0) bad++;
                    for (int b = 0; b < it->n_choices; b++) {
                        size_t la = strlen(it->choices[a]);
                        if (a != b && !strncmp(it->choices[a], it->choices[b], la) &&
                            (it->choices[b][la] == 0 || it->choices[b][la] == ' '))
                            bad++; /* equal, or a word prefix of another */
                    }
                }
                int sys_words = text_count_words(it->system);
                for (int r = 0; r < it->n_relevant; r++)
                    if (it->relevant[r][0] < 0 || it->relevant[r][1] > sys_words ||
                        it->relevant[r][0] >= it->relevant[r][1])
                        bad++;
                if (it->n_relevant) with_span++;
                if (!strcmp(it->choices[it->answer], "none")) none++;
                /* reading: as in SciQ, the passage states the answer and none of the wrong choices */
                if (app == 5)
                    for (int a = 0; a < it->n_choices; a++)
                        if ((a == it->answer) != (has_word(it->system, it->choices[a]) != 0)) bad++;
                /* funcall / uinav: the span is the answer's entry "KEY.. NAME ;"; reading: the statement of the
                 * answer; and the query ends with the words that precede the answer in the span */
                if (it->n_relevant && (app == 2 || app == 3 || app == 5)) {
                    const char *p = it->system;
                    for (int k = 0; k < it->relevant[0][0]; k++) p = strchr(p, ' ') + 1;
                    const char *q = p;
                    for (int k = it->relevant[0][0]; k < it->relevant[0][1]; k++) q = strchr(q, ' ') ? strchr(q, ' ') + 1 : q + strlen(q);
                    char span[512];
                    snprintf(span, sizeof span, "%.*s", (int)(q - p), p);
                    char *at = strstr(span, it->choices[it->answer]);
                    size_t la = strlen(it->choices[it->answer]);
                    if (!at || at == span || at[-1] != ' ' || (at[la] != ' ' && at[la] != 0)) {
                        bad++;
                    } else if (app != 2 || strstr(it->query, "halt") == NULL) {
                        /* the span's words before the answer end the query, unless a synonym replaced one */
                        char key[512];
                        snprintf(key, sizeof key, " %.*s", (int)(at - span - 1), span);
                        const char *tail = it->query + strlen(it->query) - strlen(key);
                        int exact = strlen(it->query) >= strlen(key) && !strcmp(tail, key);
                        keyed += exact;
                    }
                }
            }
        CHECK_MSG(bad == 0, "%s: %d malformed items", name, bad);
        /* in-context queries end with the answer's key most of the time (the rest use a synonym or a cue word) */
        if (app == 2 || app == 3) CHECK_MSG(keyed > with_span / 2 && keyed < with_span, "%s: %d of %d queries end with the key", name, keyed, with_span);
        if (app == 5) CHECK_MSG(keyed == with_span, "reading: %d of %d queries end with the statement's stem", keyed, with_span);
        if (app == 2) { /* funcall: every non-"none" item has its span; "none" about 5% */
            CHECK_MSG(with_span + none == n, "funcall: %d spans + %d none of %d", with_span, none, n);
            CHECK_MSG(none > n / 50 && none < n / 10, "funcall: %d of %d answers are none", none, n);
        } else if (app == 3 || app == 5) {
            CHECK_MSG(with_span == n, "%s: %d of %d items have a relevant span", name, with_span, n);
        } else {
            CHECK_MSG(with_span == 0, "%s: knowledge items have relevant spans", name);
        }
        /* answers spread over the positions (no position bias to exploit) */
        int k = apps_table[app].n_choices, lo = n, hi = 0;
        for (int a = 0; a < k && a < 77; a++) {
            if (app == 2 && a == k - 1) continue; /* "none" is rarer by design */
            if (answer_pos[a] < lo) lo = (int)answer_pos[a];
            if (answer_pos[a] > hi) hi = (int)answer_pos[a];
        }
        double expect = (double)(app == 2 ? n - none : n) / (app == 2 ? k - 1 : k);
        double slack = 4.5 * sqrt(expect); /* binomial: 4.5 standard deviations */
        CHECK_MSG(lo > expect - slack && hi < expect + slack, "%s: answer positions range %d..%d (expected ~%.0f)", name,
                  lo, hi, expect);
    }
    apps_data_free(&d);
}
