/* itemstore: the items a trace refers to, loaded per app from DATA/items/APP/SPLIT.jsonl on first use and
 * tokenised once (item_encode with the model's tokenizer). Lookups are by (app, item id). */
#ifndef ELMS_ITEMSTORE_H
#define ELMS_ITEMSTORE_H

#include "datasets/items.h"
#include "engine/err.h"
#include "engine/tokenizer.h"
#include "traces/strtab.h"

typedef struct StoreEntry {
    const Item *item;
    EncodedItem enc;
    int encoded;       /* 0 until first use */
} StoreEntry;

typedef struct ItemStore {
    char data_dir[512];
    char split[32];
    const Tokenizer *tok;
    StrTab apps;       /* apps whose files are loaded (or injected) */
    ItemSet *sets;     /* (apps.n) */
    StrTab keys;       /* "app\x1fitem" -> entry */
    StoreEntry *ent;   /* (keys.n) */
    int cap;
} ItemStore;

/* itemstore_init: an empty store that loads DATA_DIR/items/APP/SPLIT.jsonl on demand, encoded with tok (data_dir NULL:
 * "data"; split NULL: "test"); nothing is read yet. Free with itemstore_free. */
void itemstore_init(ItemStore *s, const char *data_dir, const char *split, const Tokenizer *tok);
void itemstore_free(ItemStore *s);
/* itemstore_add_set: use set as app's items instead of reading a file (takes ownership of set's contents). */
int itemstore_add_set(ItemStore *s, const char *app, ItemSet *set, Err *e);
/* itemstore_get: the encoded item (loading the app's file on first use); errors name the app and item. */
int itemstore_get(ItemStore *s, const char *app, const char *item, const StoreEntry **out, Err *e);

#endif
