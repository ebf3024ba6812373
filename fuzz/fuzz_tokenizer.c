/* fuzz_tokenizer: tokenizer.json through tokenizer_load; an accepted tokenizer decodes its first ids and the
 * special tokens, and encodes that text and a fixed sentence. */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "fuzz/fuzz.h"

static void encode(const Tokenizer *t, const char *text) {
    int *ids = NULL;
    Err e;
    int n = tokenizer_encode(t, text, &ids, &e);
    if (n > 0) {
        char *back = tokenizer_decode(t, ids, n);
        free(back);
    }
    free(ids);
}

int fuzz_tokenizer(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("tokenizer.json", data, size);
    Tokenizer t;
    Err e;
    if (tokenizer_load(&t, path, &e) != 0) return fuzz_refused("tokenizer", &e);
    int ids[20], n = 0;
    for (int i = 0; i < t.vocab_size && n < 16; i++) ids[n++] = i;
    int special[4] = {t.unk_id, t.bos_id, t.eos_id, t.pad_id};
    for (int i = 0; i < 4; i++)
        if (special[i] >= 0) ids[n++] = special[i];
    char *text = tokenizer_decode(&t, ids, n);
    if (text) encode(&t, text);
    free(text);
    encode(&t, "the cat <s> sat, on 42 mats!! </s> [UNK]\t\n caf\xc3\xa9");
    (void)tokenizer_id(&t, "the");
    tokenizer_free(&t);
    return 0;
}
