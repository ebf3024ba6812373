/* lexicon: the fixed English word lists of the synthetic world (value sets, synonym maps, app categories,
 * people, fillers). Everything that varies with the seed (entity and tool names, who has which value) is drawn
 * by world.c from these lists; the lists themselves never change, so the language is closed and stable.
 * Every entry is one token of the word-level tokenizer (lower-case letters only). */
#ifndef ELMS_LEXICON_H
#define ELMS_LEXICON_H

/* Entity relations (facts app): the value set of each. */
enum { REL_KIND = 0, REL_COLOR, REL_HOME, REL_FOOD, REL_SOUND, REL_N };
#define LEX_REL_VALUES 12
extern const char *const lex_rel_name[REL_N];                    /* "kind", "color", ... */
extern const char *const lex_rel_values[REL_N][LEX_REL_VALUES];  /* (REL_N, 12) */

/* Science: traits (two words each) that kinds have. */
#define LEX_N_TRAITS 24
extern const char *const lex_traits[LEX_N_TRAITS];
/* Science: materials, what can be done to them (as a participle), and effects (two words: "it melts"). */
#define LEX_N_MATERIALS 12
#define LEX_N_TREATMENTS 5
#define LEX_N_EFFECTS 12
#define LEX_N_OBJECTS 40
extern const char *const lex_materials[LEX_N_MATERIALS];
extern const char *const lex_treatments[LEX_N_TREATMENTS];
extern const char *const lex_effects[LEX_N_EFFECTS];
extern const char *const lex_objects[LEX_N_OBJECTS];

/* Physical: what tools are used for. */
#define LEX_N_USES 16
extern const char *const lex_uses[LEX_N_USES];

/* Function calling: verbs and objects, each with one synonym; functions are (verb, object) pairs. */
#define LEX_N_FN_VERBS 14
#define LEX_N_FN_OBJECTS 16
extern const char *const lex_fn_verbs[LEX_N_FN_VERBS][2];     /* {canonical, synonym} */
extern const char *const lex_fn_objects[LEX_N_FN_OBJECTS][2]; /* {canonical, synonym} */
#define LEX_N_FUNCTIONS 64
extern const unsigned char lex_functions[LEX_N_FUNCTIONS][2]; /* (verb index, object index) */

/* UI navigation: app categories, each with one cue word that names the same purpose. */
#define LEX_N_CATEGORIES 96
extern const char *const lex_categories[LEX_N_CATEGORIES][2]; /* {category, cue} */

/* Reading: people and the relations a passage states about them. */
#define LEX_N_PEOPLE 40
#define LEX_N_PREL 5
#define LEX_PREL_VALUES 12
extern const char *const lex_people[LEX_N_PEOPLE];
extern const char *const lex_prel_values[LEX_N_PREL][LEX_PREL_VALUES];
/* Sentences of a passage that carry no answer. */
#define LEX_N_FILLERS 24
extern const char *const lex_fillers[LEX_N_FILLERS];

/* lex_all_words: append every entry of the lists above (multi-word entries as their words) to out. */
struct Text;
void lex_all_words(struct Text *out);

/* lex_contains: 1 if word is any entry of the lists above (or a word of a multi-word entry), else 0. */
int lex_contains(const char *word);

#endif
