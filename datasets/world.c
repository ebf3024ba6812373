/* world: drawing the generated world from a seed (see world.h). */
#include "datasets/world.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>

void world_config_default(WorldConfig *c) {
    c->n_entities = 1000;
    c->n_tools = 48;
    c->n_fn_names = 160;
    c->n_app_names = 240;
}

int world_config_check(const WorldConfig *c, Err *e) {
    if (c->n_entities < 24 || c->n_entities > 5000)
        return err_set(e, "world: n_entities must be in [24, 5000], got %d", c->n_entities);
    if (c->n_tools < 2 * LEX_N_USES || c->n_tools > 1000)
        return err_set(e, "world: n_tools must be in [%d, 1000], got %d", 2 * LEX_N_USES, c->n_tools);
    if (c->n_fn_names < 21 || c->n_fn_names > 2000)
        return err_set(e, "world: n_fn_names must be in [21, 2000], got %d", c->n_fn_names);
    if (c->n_app_names < 78 || c->n_app_names > 2000)
        return err_set(e, "world: n_app_names must be in [78, 2000], got %d", c->n_app_names);
    return 0;
}

/* ---- invented names ---- */

static const char *const k_onsets[] = {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                                       "br", "dr", "gr", "kl", "pl", "sk", "sn", "tr", "vr", "zh"};
static const char *const k_vowels[] = {"a", "e", "i", "o", "u"};
static const char *const k_codas[] = {"", "", "", "n", "r", "l", "k", "s", "m", "t"};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A set of the names drawn so far (all pools share it, so names are unique across the world). */
typedef struct NameSet {
    char **names;
    int n, cap;
} NameSet;

static int nameset_has(const NameSet *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) return 1;
    return 0;
}

/* draw_name: a fresh two-syllable name (4..8 letters) not in s and not a lexicon word; returns a malloc'd copy
 * that is also recorded in s (s does not own it). */
static char *draw_name(gsl_rng *r, NameSet *s) {
    char buf[32];
    for (int tries = 0; tries < 100000; tries++) {
        buf[0] = 0;
        for (int syl = 0; syl < 2; syl++) {
            strcat(buf, k_onsets[gsl_rng_uniform_int(r, N_OF(k_onsets))]);
            strcat(buf, k_vowels[gsl_rng_uniform_int(r, N_OF(k_vowels))]);
            strcat(buf, k_codas[gsl_rng_uniform_int(r, N_OF(k_codas))]);
        }
        size_t len = strlen(buf);
        if (len < 4 || len > 8 || nameset_has(s, buf) || lex_contains(buf)) continue;
        if (s->n == s->cap) {
            int cap = s->cap ? 2 * s->cap : 256;
            char **p = realloc(s->names, (size_t)cap * sizeof *p);
            if (!p) return NULL;
            s->names = p;
            s->cap = cap;
        }
        char *name = strdup(buf);
        if (!name) return NULL;
        s->names[s->n++] = name;
        return name;
    }
    return NULL;
}

static int draw_pool(gsl_rng *r, NameSet *s, int n, char ***out, Err *e, const char *what) {
    *out = calloc((size_t)n, sizeof **out);
    if (!*out) return err_set(e, "world: out of memory for %s names", what);
    for (int i = 0; i < n; i++)
        if (!((*out)[i] = draw_name(r, s))) return err_set(e, "world: could not draw %d unique %s names", n, what);
    return 0;
}

/* balanced: out[i] = i mod k, shuffled, so every value is used equally often (up to one). */
static void balanced(gsl_rng *r, int *out, int n, int k) {
    for (int i = 0; i < n; i++) out[i] = i % k;
    gsl_ran_shuffle(r, out, (size_t)n, sizeof *out);
}

/* assign_traits: every kind gets WORLD_TRAITS_PER_KIND distinct traits, every trait belongs to exactly two kinds. */
static int assign_traits(gsl_rng *r, World *w) {
    enum { SLOTS = LEX_REL_VALUES * WORLD_TRAITS_PER_KIND };
    int slot[SLOTS];
    for (int tries = 0; tries < 10000; tries++) {
        for (int i = 0; i < SLOTS; i++) slot[i] = i % LEX_N_TRAITS;
        gsl_ran_shuffle(r, slot, SLOTS, sizeof slot[0]);
        memset(w->kind_trait, 0, sizeof w->kind_trait);
        int ok = 1;
        for (int i = 0; i < SLOTS && ok; i++) {
            int k = i / WORLD_TRAITS_PER_KIND;
            if (w->kind_trait[k][slot[i]]) ok = 0;
            w->kind_trait[k][slot[i]] = 1;
        }
        if (ok) return 0;
    }
    return -1;
}

int world_build(World *w, const WorldConfig *c, unsigned long seed, Err *e) {
    memset(w, 0, sizeof *w);
    if (world_config_check(c, e) != 0) return -1;
    w->cfg = *c;
    w->seed = seed;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    NameSet names = {0};
    int *tmp = NULL;
    if (!r) return err_set(e, "world: out of memory");
    gsl_rng_set(r, seed * 2654435761ul + 17);
    int rc = -1;
    int n_max = c->n_entities > c->n_tools ? c->n_entities : c->n_tools;
    if (n_max < LEX_N_OBJECTS) n_max = LEX_N_OBJECTS;
    tmp = malloc((size_t)n_max * sizeof *tmp);
    w->ent_value = calloc((size_t)c->n_entities, sizeof *w->ent_value);
    w->tool_use = calloc((size_t)c->n_tools, sizeof *w->tool_use);
    if (!tmp || !w->ent_value || !w->tool_use) {
        err_set(e, "world: out of memory");
        goto done;
    }
    if (draw_pool(r, &names, c->n_entities, &w->entity, e, "entity") != 0 ||
        draw_pool(r, &names, c->n_tools, &w->tool, e, "tool") != 0 ||
        draw_pool(r, &names, c->n_fn_names, &w->fn_name, e, "function") != 0 ||
        draw_pool(r, &names, c->n_app_names, &w->app_name, e, "app") != 0)
        goto done;
    for (int rel = 0; rel < REL_N; rel++) {
        balanced(r, tmp, c->n_entities, LEX_REL_VALUES);
        for (int i = 0; i < c->n_entities; i++) w->ent_value[i][rel] = tmp[i];
    }
    if (assign_traits(r, w) != 0) {
        err_set(e, "world: could not assign traits to kinds");
        goto done;
    }
    for (int m = 0; m < LEX_N_MATERIALS; m++)
        for (int t = 0; t < LEX_N_TREATMENTS; t++) w->effect[m][t] = (int)gsl_rng_uniform_int(r, LEX_N_EFFECTS);
    balanced(r, tmp, LEX_N_OBJECTS, LEX_N_MATERIALS);
    memcpy(w->obj_material, tmp, sizeof w->obj_material);
    balanced(r, tmp, c->n_tools, LEX_N_USES);
    memcpy(w->tool_use, tmp, (size_t)c->n_tools * sizeof *tmp);
    rc = 0;
done:
    free(names.names); /* the strings belong to the pools */
    free(tmp);
    gsl_rng_free(r);
    if (rc != 0) world_free(w);
    return rc;
}

static void free_pool(char **p, int n) {
    if (!p) return;
    for (int i = 0; i < n; i++) free(p[i]);
    free(p);
}

void world_free(World *w) {
    free_pool(w->entity, w->cfg.n_entities);
    free_pool(w->tool, w->cfg.n_tools);
    free_pool(w->fn_name, w->cfg.n_fn_names);
    free_pool(w->app_name, w->cfg.n_app_names);
    free(w->ent_value);
    free(w->tool_use);
    memset(w, 0, sizeof *w);
}

static int find_in(char *const *pool, int n, const char *name) {
    if (!pool || !name) return -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(pool[i], name)) return i;
    return -1;
}

int world_entity_find(const World *w, const char *name) { return find_in(w->entity, w->cfg.n_entities, name); }
int world_tool_find(const World *w, const char *name) { return find_in(w->tool, w->cfg.n_tools, name); }

int world_value_find(int rel, const char *word) {
    if (rel < 0 || rel >= REL_N || !word) return -1;
    for (int i = 0; i < LEX_REL_VALUES; i++)
        if (!strcmp(lex_rel_values[rel][i], word)) return i;
    return -1;
}

void world_all_names(const World *w, Text *out) {
    for (int i = 0; i < w->cfg.n_entities; i++) text_add(out, w->entity[i]);
    for (int i = 0; i < w->cfg.n_tools; i++) text_add(out, w->tool[i]);
    for (int i = 0; i < w->cfg.n_fn_names; i++) text_add(out, w->fn_name[i]);
    for (int i = 0; i < w->cfg.n_app_names; i++) text_add(out, w->app_name[i]);
}
