/* tokenizer: Hugging Face tokenizer.json, WordLevel model with Whitespace pre-tokenisation
 * (pieces match \w+ or [^\w\s]+). Unknown pieces map to the unk token, or are an error when there is none.
 * Special tokens (added_tokens) are recognised verbatim. Byte-level BPE is a later extension. */
#ifndef ELMS_TOKENIZER_H
#define ELMS_TOKENIZER_H

#include "engine/err.h"

typedef struct Tokenizer {
    int vocab_size;
    char **id_to_piece;     /* (vocab_size) strings */
    void *map;              /* piece -> id hash table (opaque) */
    int unk_id;             /* -1 when absent */
    int bos_id, eos_id, pad_id; /* -1 when absent ("<s>"/"[BOS]", "</s>"/"[EOS]", "<pad>"/"[PAD]") */
} Tokenizer;

/* tokenizer_load: read the tokenizer.json at path (strictly: the error names the file and the field); free with
 * tokenizer_free, which is safe after a failed load. */
int tokenizer_load(Tokenizer *t, const char *path, Err *e);
void tokenizer_free(Tokenizer *t);
/* tokenizer_from_vocab: build from pieces (id = index); unk may be NULL. */
int tokenizer_from_vocab(Tokenizer *t, const char *const *pieces, int n, const char *unk, Err *e);
/* tokenizer_save: write tokenizer.json (WordLevel, Whitespace pre-tokenizer), atomically. */
int tokenizer_save(const Tokenizer *t, const char *path, Err *e);
/* tokenizer_encode: text -> ids (no BOS added). *out is malloc'd; returns the count or -1. */
int tokenizer_encode(const Tokenizer *t, const char *text, int **out, Err *e);
/* tokenizer_id: id of one piece, or -1. */
int tokenizer_id(const Tokenizer *t, const char *piece);
/* tokenizer_decode: ids -> text joined by single spaces (word level); malloc'd. */
char *tokenizer_decode(const Tokenizer *t, const int *ids, int n);

#endif
