/* items: multiple-choice items in the JSONL format of docs/formats.md:
 *   {"app","id","system","query","choices":[...],"answer":index,"relevant":[[start,end],...]}
 * `system` is the compressible part of the prompt; `query` and the choices are never compressed.
 * `relevant` (optional) lists word-index spans of the system text that carry the answer (analysis only). */
#ifndef ELMS_ITEMS_H
#define ELMS_ITEMS_H

#include "engine/err.h"

typedef struct Item {
    char *app;
    char *id;
    char *system;
    char *query;
    char **choices;
    int n_choices;
    int answer;
    int (*relevant)[2];   /* (n_relevant, 2) [start, end) system-token spans */
    int n_relevant;
} Item;

typedef struct ItemSet {
    Item *items;
    int n;
} ItemSet;

/* An item as token ids. The prompt the model sees is [BOS] + system + query; each choice continues it.
 * Training documents built from items use exactly this layout followed by the answer's tokens and [EOS]. */
typedef struct EncodedItem {
    int *system;      /* (n_system) */
    int n_system;
    int *query;       /* (n_query) */
    int n_query;
    int **choices;    /* n_choices arrays of (choice_len[i]) */
    int *choice_len;
    int n_choices;
    int answer;
} EncodedItem;

struct Tokenizer;

/* item_encode: tokenise an item; unknown words are an error naming the item id and field. */
int item_encode(const struct Tokenizer *t, const Item *it, EncodedItem *out, Err *e);
void encoded_item_free(EncodedItem *x);
/* item_prompt: build [BOS] + kept system tokens + query into out (capacity 1 + n_system + n_query); keep is a
 * (n_system) 0/1 mask or NULL for all. bos_id < 0 means no BOS. Returns the prompt length. */
int item_prompt(const EncodedItem *x, const unsigned char *keep, int bos_id, int *out);

/* items_read: parse a JSONL file; errors name the file, line and field. */
int items_read(ItemSet *s, const char *path, Err *e);
/* items_write: write JSONL atomically. */
int items_write(const ItemSet *s, const char *path, Err *e);
void items_free(ItemSet *s);
/* item_free: release one item's strings. */
void item_free(Item *it);

#endif
