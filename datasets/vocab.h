/* vocab: building the word-level tokenizer from generated text. Words are counted with the tokenizer's own
 * pre-tokenisation (runs of \w, or runs of other non-space characters); the vocabulary is the special tokens
 * [PAD]=0, [UNK]=1, [BOS]=2, [EOS]=3, then every counted word by decreasing count, ties alphabetical (byte
 * order), so the same text always gives the same ids. */
#ifndef ELMS_VOCAB_H
#define ELMS_VOCAB_H

#include <stddef.h>

#include "engine/err.h"
#include "engine/tokenizer.h"

#define VOCAB_N_SPECIAL 4
extern const char *const vocab_specials[VOCAB_N_SPECIAL]; /* "[PAD]", "[UNK]", "[BOS]", "[EOS]" */

typedef struct VocabCounter {
    char **word;   /* (cap) NULL = empty slot */
    long *count;   /* (cap) */
    size_t cap;    /* power of two */
    size_t n;      /* distinct words */
} VocabCounter;

void vocab_init(VocabCounter *v);
void vocab_free(VocabCounter *v);
/* vocab_count: add weight to the count of every word of text (weight 0 registers the words without counting
 * them). Returns 0, or -1 when out of memory. */
int vocab_count(VocabCounter *v, const char *text, long weight);
/* vocab_tokenizer: the tokenizer of the counted words (see above), with [UNK] as its unknown token. */
int vocab_tokenizer(const VocabCounter *v, Tokenizer *t, Err *e);

#endif
