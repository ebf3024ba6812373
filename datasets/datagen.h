/* datagen: the whole data directory of `elms data gen`, from one seed:
 *   DIR/tokenizer.json                  word-level tokenizer of all generated text (vocab.h)
 *   DIR/items/APP/{train,dev,test}.jsonl the six apps (apps.h)
 *   DIR/corpus/train.bin, val.bin       token streams for the trainer (corpus.h)
 *   DIR/data.json                       manifest: seed, sizes, vocabulary size, token counts per source and app,
 *                                       prompt-length distribution per app and split
 * Every item of every split must encode without unknown words and fit prompt + longest choice in
 * DATAGEN_MAX_CONTEXT tokens, or generation fails. */
#ifndef ELMS_DATAGEN_H
#define ELMS_DATAGEN_H

#include "datasets/apps.h"
#include "datasets/corpus.h"
#include "engine/err.h"

#define DATAGEN_MAX_CONTEXT 512

typedef struct DataGenConfig {
    AppsConfig apps;
    CorpusConfig corpus;
    int items_only;    /* skip the corpus: items, tokenizer.json and data.json only */
    const char *tokenizer; /* NULL: build the vocabulary from the generated text; else a tokenizer.json to use as
                              is (every word the generated text uses must be in it), so that data directories
                              generated with other mixes (e.g. for a training phase) share the token ids */
    /* progress (may be NULL): called when a stage starts (done = 0) and ends (done = total) */
    void (*progress)(void *ctx, const char *stage, long done, long total);
    void *progress_ctx;
} DataGenConfig;

/* Prompt lengths in tokens ([BOS] + system + query) over one split of one app. */
typedef struct PromptStats {
    int n;
    int min, p50, p90, max;
    double mean;
    int max_with_choice;  /* longest prompt + longest choice */
} PromptStats;

typedef struct DataGenSummary {
    int vocab_size;
    int n_items[APPS_N][APPS_N_SPLITS];
    PromptStats prompt[APPS_N][APPS_N_SPLITS];
    CorpusPart train, val;     /* zero when items_only */
} DataGenSummary;

/* datagen_config_default: the apps' and the corpus's defaults (apps_config_default, corpus_config_default). */
void datagen_config_default(DataGenConfig *c);
/* datagen_run: generate everything into dir (created if needed, replaced if it exists) through a temporary
 * sibling directory that is renamed into place at the end: on failure nothing is left behind and an existing
 * dir is untouched. */
int datagen_run(const char *dir, unsigned long seed, const DataGenConfig *c, DataGenSummary *s, Err *e);

#endif
