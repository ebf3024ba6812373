/* tlm_data: the tiny LM's items (see tlm_data.h). */
#include "policies/tlm_data.h"

#include <stdlib.h>
#include <string.h>

#include "datasets/apps.h"

int tlm_items_load(TlmItems *t, const char *data_dir, const char *split, int n, const char *exclude,
                   const Tokenizer *tok, Err *e) {
    memset(t, 0, sizeof *t);
    t->n_apps = APPS_N;
    if (exclude && apps_find(exclude) < 0) return err_set(e, "unknown app '%s' to leave out", exclude);
    for (int a = 0; a < APPS_N; a++) {
        if (exclude && !strcmp(exclude, apps_table[a].name)) continue;
        char path[1200];
        if (apps_items_path(path, sizeof path, data_dir, apps_table[a].name, split))
            return err_set(e, "%s: path too long", data_dir);
        if (items_read(&t->set[a], path, e)) return -1;
        if (n > 0 && t->set[a].n > n) {
            for (int i = n; i < t->set[a].n; i++) item_free(&t->set[a].items[i]);
            t->set[a].n = n;
        }
        t->enc[a] = calloc((size_t)(t->set[a].n ? t->set[a].n : 1), sizeof(EncodedItem));
        if (!t->enc[a]) return err_set(e, "out of memory");
        for (int i = 0; i < t->set[a].n; i++)
            if (item_encode(tok, &t->set[a].items[i], &t->enc[a][i], e)) return err_prefix(e, "%s", path);
    }
    return 0;
}

void tlm_items_free(TlmItems *t) {
    for (int a = 0; a < APPS_N; a++) {
        for (int i = 0; t->enc[a] && i < t->set[a].n; i++) encoded_item_free(&t->enc[a][i]);
        free(t->enc[a]);
        items_free(&t->set[a]);
    }
    memset(t, 0, sizeof *t);
}

int tlm_items_count(const TlmItems *t) {
    int n = 0;
    for (int a = 0; a < APPS_N; a++) n += t->set[a].n;
    return n;
}
