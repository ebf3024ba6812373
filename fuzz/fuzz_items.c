/* fuzz_items: an item JSONL file through items_read; every accepted item is encoded with a small word-level
 * tokenizer (unknown words map to <unk>) and its prompt is built; the set is written back with items_write and
 * must be read again (the harness aborts when not). */
#include <stdio.h>
#include <stdlib.h>

#include "datasets/items.h"
#include "engine/tokenizer.h"
#include "fuzz/fuzz.h"

int fuzz_items(const uint8_t *data, size_t size) {
    static Tokenizer tok;
    static int ready;
    Err e;
    if (!ready) {
        const char *words[] = {"<unk>", "<s>", "</s>", "the", "a", "is", "what", "?", ".", ",", "cat", "dog", "A",
                               "B", "yes", "no"};
        if (tokenizer_from_vocab(&tok, words, (int)(sizeof words / sizeof words[0]), "<unk>", &e) != 0) {
            fprintf(stderr, "fuzz_items: %s\n", e.msg);
            abort();
        }
        ready = 1;
    }
    const char *path = fuzz_write("items.jsonl", data, size);
    ItemSet s, again;
    if (items_read(&s, path, &e) != 0) return fuzz_refused("items", &e);
    for (int i = 0; i < s.n; i++) {
        EncodedItem x;
        if (item_encode(&tok, &s.items[i], &x, &e) != 0) continue;
        int *prompt = malloc(sizeof(int) * (size_t)(1 + x.n_system + x.n_query));
        if (prompt) item_prompt(&x, NULL, tok.bos_id, prompt);
        free(prompt);
        encoded_item_free(&x);
    }
    const char *path2 = fuzz_path("items-again.jsonl");
    if (items_write(&s, path2, &e) != 0 || items_read(&again, path2, &e) != 0) {
        fprintf(stderr, "fuzz_items: accepted items do not survive a write and a read: %s\n", e.msg);
        abort();
    }
    if (again.n != s.n) {
        fprintf(stderr, "fuzz_items: %d items became %d in a write and a read\n", s.n, again.n);
        abort();
    }
    items_free(&again);
    items_free(&s);
    return 0;
}
