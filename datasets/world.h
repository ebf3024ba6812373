/* world: the generated world behind the six apps, drawn from a seed (GSL mt19937).
 *
 * It holds what a model has to memorise (the "knowledge" apps: facts, science, physical):
 *   - creatures with invented names, each with a value for every entity relation (kind, color, home, food,
 *     sound; lexicon.h), values spread evenly over the entities;
 *   - kind -> traits rules (every kind has WORLD_TRAITS_PER_KIND of the 24 traits, each trait belongs to two kinds);
 *   - material x treatment -> effect rules, and which material each everyday object is made of;
 *   - tools with invented names, each used for one of 16 purposes;
 * and the pools of invented names that the in-context apps draw fresh for every item (function and app names),
 * so that those mappings can never be memorised.
 *
 * world_text.c turns the world into English-like sentences (the "world text" of the training corpus). */
#ifndef ELMS_WORLD_H
#define ELMS_WORLD_H

#include <gsl/gsl_rng.h>

#include "datasets/lexicon.h"
#include "datasets/text.h"
#include "engine/err.h"

#define WORLD_TRAITS_PER_KIND 4

typedef struct WorldConfig {
    int n_entities;  /* creatures (default 1000): the main knob of how much there is to memorise */
    int n_tools;     /* tools (default 48), spread evenly over the 16 uses */
    int n_fn_names;  /* pool of function names (default 160; at least 20) */
    int n_app_names; /* pool of app names (default 240; at least 77) */
} WorldConfig;

typedef struct World {
    WorldConfig cfg;
    unsigned long seed;
    char **entity;                 /* (n_entities) invented names */
    int (*ent_value)[REL_N];       /* (n_entities, REL_N) index into lex_rel_values[rel] */
    unsigned char kind_trait[LEX_REL_VALUES][LEX_N_TRAITS]; /* (kinds, traits) 1 if every such creature has it */
    int effect[LEX_N_MATERIALS][LEX_N_TREATMENTS];          /* (materials, treatments) index into lex_effects */
    int obj_material[LEX_N_OBJECTS];                         /* (objects) index into lex_materials */
    char **tool;                   /* (n_tools) invented names */
    int *tool_use;                 /* (n_tools) index into lex_uses */
    char **fn_name;                /* (n_fn_names) invented function names */
    char **app_name;               /* (n_app_names) invented app names */
} World;

/* world_config_default: the sizes above. */
void world_config_default(WorldConfig *c);
/* world_config_check: sizes within their limits; the message names the field. */
int world_config_check(const WorldConfig *c, Err *e);

/* world_build: draw the whole world from seed. Every invented name is unique across the whole world and
 * differs from every lexicon word. */
int world_build(World *w, const WorldConfig *c, unsigned long seed, Err *e);
void world_free(World *w);

/* Lookups by name (linear; for checks and solvers): index or -1. */
int world_entity_find(const World *w, const char *name);
int world_tool_find(const World *w, const char *name);
/* world_value_find: index of word among the values of relation rel, or -1. */
int world_value_find(int rel, const char *word);

/* ---- world text (world_text.c) ---- */

/* world_sentence: append one random true sentence about the world to out (ending with " ."). */
void world_sentence(const World *w, gsl_rng *r, Text *out);
/* world_doc: append n random sentences. */
void world_doc(const World *w, gsl_rng *r, int n, Text *out);
/* world_all_names: append every invented name of the world (entity, tool, function and app names), so that a
 * vocabulary can include them all. */
void world_all_names(const World *w, Text *out);

#endif
