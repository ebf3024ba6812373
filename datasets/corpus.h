/* corpus: the training and validation token streams (corpus/train.bin, corpus/val.bin).
 *
 * A stream is a flat array of token ids (written little-endian int32 by data_save, engine/data.h): documents
 * concatenated in a seeded random order, each [BOS] ... [EOS]. Three sources:
 *   world        world text: 8..24 random true sentences about the world (world.h), many paraphrases per fact;
 *   task         an item in exactly the scoring layout: item_prompt (all system tokens kept) followed by the
 *                answer choice's tokens, then [EOS] (so a model learns P(choice | [BOS] system query));
 *   task_dropped the same with a random subset of the system tokens removed: keep ratio uniform in
 *                [keep_min, 1], exactly round((1 - ratio) * n_system) positions dropped, as in scoring;
 *   task_multi   a drill (in-context apps only): the task layout, then more questions about the same list or
 *                passage, each followed by its answer (apps.h requery), then [EOS]: several retrievals per copy
 *                of a long system prompt, which is where the in-context apps' training signal lies;
 *   skill        the same kind of drill on a fresh, smaller in-context item (2..20 functions, 2..40 apps, 1..3
 *                people; drawn from the corpus stream, in no split): short lookups from which the retrieval
 *                skill is learnt fastest.
 *   recall       a fresh list (4..24 apps or 3..12 functions) followed by "recall :" and every entry again, in
 *                a random order ("weather NAME ;"): one lookup every 3 or 4 tokens;
 *   copy         "copy :", 2..copy_max (default 12) random words (copy_all_words, the default) or invented
 *                names, ".", and the same words again: half the tokens are predictable only by finding
 *                where the previous token occurred before and copying what followed it (an induction head,
 *                the circuit the in-context apps' lookups are built from). In copy_repeat_frac of them the
 *                words come from a few words, so that continuing needs the two or three words before (funcall's
 *                entries share verbs and objects: "send photo", "share photo").
 * A drill stops adding questions before it would exceed CORPUS_DRILL_MAX_TOKENS.
 * Task documents come from the six apps in turn (equally many documents each), each app cycling through its
 * items in a seeded shuffled order; a document is dropped with probability drop_frac, else (in-context apps) a
 * drill with probability multi_frac, else plain. train.bin is built from the train split, val.bin from the dev split and
 * world text drawn from another stream; the test split is never used. */
#ifndef ELMS_CORPUS_H
#define ELMS_CORPUS_H

#include "datasets/apps.h"
#include "engine/err.h"
#include "engine/tokenizer.h"

enum { CORPUS_WORLD = 0, CORPUS_TASK, CORPUS_TASK_DROPPED, CORPUS_TASK_MULTI, CORPUS_SKILL, CORPUS_RECALL,
       CORPUS_COPY, CORPUS_N_SOURCES };
/* "world", "task", "task_dropped", "task_multi", "skill", "recall", "copy" */
extern const char *const corpus_source_names[CORPUS_N_SOURCES];

#define CORPUS_DRILL_MAX_TOKENS 480
/* Names per copy document: 2..copy_max. Short copies are where an induction head is learnt first (fewer earlier
 * positions to spread attention over); the lists of the in-context apps then use it at longer range. */
#define CORPUS_COPY_MIN 2
#define CORPUS_COPY_MAX 64
/* Words only the recall and copy sources use (the vocabulary includes them when those are on). */
#define CORPUS_RECALL_WORDS "recall :"
#define CORPUS_COPY_WORDS "copy :"

typedef struct CorpusConfig {
    long train_tokens;   /* target size of train.bin (default 12,000,000); sources stop at the document that reaches
                            their share */
    long val_tokens;     /* target size of val.bin (default 200,000) */
    double world_frac;   /* share of the tokens from world text (default 0.25) */
    double skill_frac;   /* share of the tokens from skill drills (default 0.15) */
    double recall_frac;  /* share of the tokens from recall lists (default 0.1) */
    double copy_frac;    /* share of the tokens from copy documents (default 0.3) */
    int copy_max;        /* most names in a copy document, CORPUS_COPY_MIN..CORPUS_COPY_MAX (default 12) */
    double copy_repeat_frac; /* share of copy documents whose words come from a few (max(2, n/3)) words, so
                                that continuing the copy needs the words before the last one (default 0.5) */
    int copy_all_words;  /* copy documents draw from every word of the vocabulary (but the special tokens and
                            "."), not only the invented names (default 1) */
    double drop_frac;    /* share of task documents with dropped system tokens (default 0.2) */
    double keep_min;     /* lowest keep ratio of a dropped document (default 0.2) */
    double multi_frac;   /* share of the in-context apps' undropped documents that are drills (default 0.5) */
    int multi_min, multi_max; /* questions per drill, the item's own included (default 4, 12) */
    int sent_min, sent_max; /* sentences per world document (default 8, 24) */
} CorpusConfig;

/* What one stream holds. */
typedef struct CorpusPart {
    long tokens;                        /* total */
    long docs;
    long src_tokens[CORPUS_N_SOURCES];
    long src_docs[CORPUS_N_SOURCES];
    long app_docs[APPS_N];              /* task documents (both kinds) per app */
    long app_tokens[APPS_N];
} CorpusPart;

/* corpus_config_default: the defaults of `elms data gen` (12M training and 200k validation tokens, the mix of
 * documents above); corpus_config_check: every field in range, naming the bad one. */
void corpus_config_default(CorpusConfig *c);
int corpus_config_check(const CorpusConfig *c, Err *e);

/* World text documents, before tokenisation (the vocabulary is counted from them). */
typedef struct DocList {
    char **doc;   /* (n) */
    long n, cap;
    long words;   /* total words of all documents */
} DocList;

/* corpus_world_docs: world documents from the stream seeded with seed until they hold at least n_words words. */
int corpus_world_docs(DocList *out, const World *w, unsigned long seed, long n_words, const CorpusConfig *c, Err *e);
void doclist_free(DocList *d);

/* corpus_stream: the token stream of about target tokens: world documents (taken in order) for world_frac of
 * them, skill drills for skill_frac, recall lists for recall_frac, copies for copy_frac, task documents from sets[app] for the rest, shuffled by the stream seeded
 * with seed. *out is malloc'd (*n ids). Fails if world runs out, if an app has no items, or if an item does not
 * encode. */
int corpus_stream(int **out, long *n, const DocList *world, const World *w, const ItemSet sets[APPS_N],
                  const Tokenizer *t, long target, const CorpusConfig *c, unsigned long seed, CorpusPart *stats,
                  Err *e);

#endif
