/* datagen: generation of a whole data directory (see datagen.h). */
#include "datasets/datagen.h"

#include <cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/vocab.h"
#include "engine/data.h"
#include "engine/io.h"

void datagen_config_default(DataGenConfig *c) {
    memset(c, 0, sizeof *c);
    apps_config_default(&c->apps);
    corpus_config_default(&c->corpus);
}

/* Seeds of the data streams, derived from the main seed (distinct from the apps' own streams). */
static unsigned long stream_seed(unsigned long seed, unsigned long k) {
    unsigned long long z = (unsigned long long)seed * 0xD1B54A32D192ED03ull + k * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 29)) * 0xBF58476D1CE4E5B9ull;
    z ^= z >> 32;
    return (unsigned long)(z & 0xffffffffu) | 1u;
}

static void stage(const DataGenConfig *c, const char *name, long done, long total) {
    if (c->progress) c->progress(c->progress_ctx, name, done, total);
}

/* count_items: every word of every item of every split. */
static int count_items(VocabCounter *v, const AppsData *d) {
    for (int a = 0; a < APPS_N; a++)
        for (int s = 0; s < APPS_N_SPLITS; s++)
            for (int i = 0; i < d->set[a][s].n; i++) {
                const Item *it = &d->set[a][s].items[i];
                if (vocab_count(v, it->system, 1) || vocab_count(v, it->query, 1)) return -1;
                for (int k = 0; k < it->n_choices; k++)
                    if (vocab_count(v, it->choices[k], 1)) return -1;
            }
    return 0;
}

static int build_tokenizer(Tokenizer *t, const AppsData *d, const DocList *w1, const DocList *w2, int recall, int copy,
                           Err *e) {
    VocabCounter v;
    vocab_init(&v);
    Text all;
    text_init(&all);
    lex_all_words(&all);
    world_all_names(&d->world, &all);
    if (recall) text_add(&all, CORPUS_RECALL_WORDS); /* only when used, so that turning them off */
    if (copy) text_add(&all, CORPUS_COPY_WORDS);     /* gives the vocabulary of the items and world alone */
    int rc = text_ok(&all) && vocab_count(&v, all.s, 0) == 0 && count_items(&v, d) == 0 ? 0 : -1;
    for (long i = 0; rc == 0 && i < w1->n; i++) rc = vocab_count(&v, w1->doc[i], 1);
    for (long i = 0; rc == 0 && i < w2->n; i++) rc = vocab_count(&v, w2->doc[i], 1);
    if (rc != 0) err_set(e, "vocabulary: out of memory");
    else rc = vocab_tokenizer(&v, t, e);
    text_free(&all);
    vocab_free(&v);
    return rc;
}

/* use_tokenizer: replace the built tokenizer *t by the one at path, which must hold every word of *t. */
static int use_tokenizer(Tokenizer *t, const char *path, Err *e) {
    Tokenizer given;
    if (tokenizer_load(&given, path, e) != 0) return err_prefix(e, "--tokenizer");
    for (int i = 0; i < t->vocab_size; i++)
        if (tokenizer_id(&given, t->id_to_piece[i]) < 0) {
            err_set(e, "--tokenizer %s: the generated text uses the word '%s', which it lacks", path, t->id_to_piece[i]);
            tokenizer_free(&given);
            return -1;
        }
    tokenizer_free(t);
    *t = given;
    return 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* check_split: encode every item (no unknown words), fill the prompt statistics, enforce the context limit. */
static int check_split(const Tokenizer *t, const ItemSet *set, PromptStats *ps, Err *e) {
    memset(ps, 0, sizeof *ps);
    if (set->n == 0) return 0;
    int *len = malloc((size_t)set->n * sizeof *len);
    if (!len) return err_set(e, "out of memory");
    double sum = 0;
    for (int i = 0; i < set->n; i++) {
        EncodedItem x;
        if (item_encode(t, &set->items[i], &x, e) != 0) {
            free(len);
            return -1;
        }
        int longest = 0;
        for (int k = 0; k < x.n_choices; k++)
            if (x.choice_len[k] > longest) longest = x.choice_len[k];
        len[i] = 1 + x.n_system + x.n_query;
        encoded_item_free(&x);
        if (len[i] + longest > DATAGEN_MAX_CONTEXT) {
            err_set(e, "item '%s': prompt (%d tokens) + longest choice (%d) exceeds the context of %d",
                    set->items[i].id, len[i], longest, DATAGEN_MAX_CONTEXT);
            free(len);
            return -1;
        }
        if (len[i] + longest > ps->max_with_choice) ps->max_with_choice = len[i] + longest;
        sum += len[i];
    }
    qsort(len, (size_t)set->n, sizeof *len, cmp_int);
    ps->n = set->n;
    ps->min = len[0];
    ps->max = len[set->n - 1];
    ps->p50 = len[(set->n - 1) / 2];
    ps->p90 = len[(int)(0.9 * (set->n - 1))];
    ps->mean = sum / set->n;
    free(len);
    return 0;
}

static cJSON *part_json(const CorpusPart *p, const char *file) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddNumberToObject(o, "tokens", (double)p->tokens);
    cJSON_AddNumberToObject(o, "docs", (double)p->docs);
    cJSON *src = cJSON_AddObjectToObject(o, "sources");
    for (int s = 0; src && s < CORPUS_N_SOURCES; s++) {
        cJSON *x = cJSON_AddObjectToObject(src, corpus_source_names[s]);
        cJSON_AddNumberToObject(x, "tokens", (double)p->src_tokens[s]);
        cJSON_AddNumberToObject(x, "docs", (double)p->src_docs[s]);
    }
    cJSON *apps = cJSON_AddObjectToObject(o, "task_apps");
    for (int a = 0; apps && a < APPS_N; a++) {
        cJSON *x = cJSON_AddObjectToObject(apps, apps_table[a].name);
        cJSON_AddNumberToObject(x, "tokens", (double)p->app_tokens[a]);
        cJSON_AddNumberToObject(x, "docs", (double)p->app_docs[a]);
    }
    return o;
}

static int write_manifest(const char *dir, unsigned long seed, const DataGenConfig *c, const DataGenSummary *s,
                          Err *e) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return err_set(e, "data.json: out of memory");
    cJSON_AddStringToObject(o, "format", "elms-data-1");
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cJSON *g = cJSON_AddObjectToObject(o, "generator");
    cJSON_AddNumberToObject(g, "entities", c->apps.world.n_entities);
    cJSON_AddNumberToObject(g, "tools", c->apps.world.n_tools);
    cJSON_AddNumberToObject(g, "function_names", c->apps.world.n_fn_names);
    cJSON_AddNumberToObject(g, "app_names", c->apps.world.n_app_names);
    for (int sp = 0; sp < APPS_N_SPLITS; sp++) cJSON_AddNumberToObject(g, apps_split_names[sp], c->apps.n_split[sp]);
    cJSON_AddNumberToObject(o, "vocab_size", s->vocab_size);
    cJSON *sp_tok = cJSON_AddObjectToObject(o, "special_tokens");
    for (int i = 0; i < VOCAB_N_SPECIAL; i++) cJSON_AddNumberToObject(sp_tok, vocab_specials[i], i);
    cJSON_AddNumberToObject(o, "max_context", DATAGEN_MAX_CONTEXT);
    int longest = 0;
    cJSON *apps = cJSON_AddObjectToObject(o, "apps");
    for (int a = 0; a < APPS_N; a++) {
        cJSON *x = cJSON_AddObjectToObject(apps, apps_table[a].name);
        cJSON_AddStringToObject(x, "mirrors", apps_table[a].mirrors);
        cJSON_AddNumberToObject(x, "choices", apps_table[a].n_choices);
        cJSON *n = cJSON_AddObjectToObject(x, "items");
        cJSON *pt = cJSON_AddObjectToObject(x, "prompt_tokens");
        for (int sp = 0; sp < APPS_N_SPLITS; sp++) {
            const PromptStats *ps = &s->prompt[a][sp];
            cJSON_AddNumberToObject(n, apps_split_names[sp], s->n_items[a][sp]);
            cJSON *q = cJSON_AddObjectToObject(pt, apps_split_names[sp]);
            cJSON_AddNumberToObject(q, "min", ps->min);
            cJSON_AddNumberToObject(q, "mean", (double)(long)(ps->mean * 10 + 0.5) / 10);
            cJSON_AddNumberToObject(q, "p50", ps->p50);
            cJSON_AddNumberToObject(q, "p90", ps->p90);
            cJSON_AddNumberToObject(q, "max", ps->max);
            cJSON_AddNumberToObject(q, "max_with_choice", ps->max_with_choice);
            if (ps->max_with_choice > longest) longest = ps->max_with_choice;
        }
    }
    cJSON_AddNumberToObject(o, "longest_prompt_with_choice", longest);
    if (!c->items_only) {
        cJSON *cc = cJSON_AddObjectToObject(o, "corpus_config");
        cJSON_AddNumberToObject(cc, "train_tokens", (double)c->corpus.train_tokens);
        cJSON_AddNumberToObject(cc, "val_tokens", (double)c->corpus.val_tokens);
        cJSON_AddNumberToObject(cc, "world_frac", c->corpus.world_frac);
        cJSON_AddNumberToObject(cc, "skill_frac", c->corpus.skill_frac);
        cJSON_AddNumberToObject(cc, "recall_frac", c->corpus.recall_frac);
        cJSON_AddNumberToObject(cc, "copy_frac", c->corpus.copy_frac);
        cJSON_AddNumberToObject(cc, "copy_max", c->corpus.copy_max);
        cJSON_AddNumberToObject(cc, "copy_repeat_frac", c->corpus.copy_repeat_frac);
        cJSON_AddBoolToObject(cc, "copy_all_words", c->corpus.copy_all_words);
        cJSON_AddNumberToObject(cc, "drop_frac", c->corpus.drop_frac);
        cJSON_AddNumberToObject(cc, "keep_min", c->corpus.keep_min);
        cJSON_AddNumberToObject(cc, "multi_frac", c->corpus.multi_frac);
        cJSON_AddNumberToObject(cc, "multi_min", c->corpus.multi_min);
        cJSON_AddNumberToObject(cc, "multi_max", c->corpus.multi_max);
        cJSON_AddNumberToObject(cc, "sentences_min", c->corpus.sent_min);
        cJSON_AddNumberToObject(cc, "sentences_max", c->corpus.sent_max);
        cJSON *co = cJSON_AddObjectToObject(o, "corpus");
        cJSON_AddItemToObject(co, "train", part_json(&s->train, "corpus/train.bin"));
        cJSON_AddItemToObject(co, "val", part_json(&s->val, "corpus/val.bin"));
    }
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt) return err_set(e, "data.json: out of memory");
    char path[4200];
    if (snprintf(path, sizeof path, "%s/data.json", dir) >= (int)sizeof path) {
        free(txt);
        return err_set(e, "%s: path too long", dir);
    }
    size_t len = strlen(txt);
    txt[len] = '\n'; /* replaces the terminator: written by length */
    int rc = io_write_atomic(path, txt, len + 1, e);
    free(txt);
    return rc;
}

/* build_stream: one token stream into DIR/corpus/NAME. */
static int build_stream(const char *dir, const char *name, const DocList *world, const World *w,
                        const ItemSet sets[APPS_N], const Tokenizer *t, long target, const CorpusConfig *c,
                        unsigned long seed, CorpusPart *st, Err *e) {
    int *tok = NULL;
    long n = 0;
    if (corpus_stream(&tok, &n, world, w, sets, t, target, c, seed, st, e) != 0) return err_prefix(e, "%s", name);
    char path[4200];
    int rc = snprintf(path, sizeof path, "%s/corpus/%s", dir, name) < (int)sizeof path ? data_save(path, tok, (size_t)n, e)
                                                                                       : err_set(e, "%s: path too long", dir);
    free(tok);
    return rc;
}

/* generate: everything into dir (which exists and is empty). */
static int generate(const char *dir, unsigned long seed, const DataGenConfig *c, DataGenSummary *s, Err *e) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/corpus", dir) >= (int)sizeof path) return err_set(e, "%s: path too long", dir);
    if (io_mkdirs(c->items_only ? dir : path, e) != 0) return -1;

    AppsData d;
    stage(c, "items", 0, 1);
    if (apps_build(&d, seed, &c->apps, e) != 0) return -1;
    stage(c, "items", 1, 1);

    DocList wtrain = {0}, wval = {0};
    Tokenizer tok = {0};
    int rc = 0;
    if (!c->items_only) {
        stage(c, "world text", 0, 1);
        double wf = c->corpus.world_frac;
        rc = corpus_world_docs(&wtrain, &d.world, stream_seed(seed, 1), (long)(wf * (double)c->corpus.train_tokens),
                               &c->corpus, e);
        if (rc == 0)
            rc = corpus_world_docs(&wval, &d.world, stream_seed(seed, 2), (long)(wf * (double)c->corpus.val_tokens),
                                   &c->corpus, e);
        stage(c, "world text", 1, 1);
    }
    if (rc == 0) {
        stage(c, "vocabulary", 0, 1);
        rc = build_tokenizer(&tok, &d, &wtrain, &wval, !c->items_only && c->corpus.recall_frac > 0,
                             !c->items_only && c->corpus.copy_frac > 0, e);
        if (rc == 0 && c->tokenizer) rc = use_tokenizer(&tok, c->tokenizer, e);
        if (rc == 0) {
            s->vocab_size = tok.vocab_size;
            rc = snprintf(path, sizeof path, "%s/tokenizer.json", dir) < (int)sizeof path ? tokenizer_save(&tok, path, e)
                                                                                         : err_set(e, "%s: path too long", dir);
        }
        stage(c, "vocabulary", 1, 1);
    }
    for (int a = 0; a < APPS_N && rc == 0; a++)
        for (int sp = 0; sp < APPS_N_SPLITS && rc == 0; sp++) {
            s->n_items[a][sp] = d.set[a][sp].n;
            rc = check_split(&tok, &d.set[a][sp], &s->prompt[a][sp], e);
        }
    if (rc == 0) rc = apps_write_items(&d, dir, e);
    if (rc == 0 && !c->items_only) {
        ItemSet train[APPS_N], dev[APPS_N];
        for (int a = 0; a < APPS_N; a++) {
            train[a] = d.set[a][0];
            dev[a] = d.set[a][1];
        }
        stage(c, "train corpus", 0, c->corpus.train_tokens);
        rc = build_stream(dir, "train.bin", &wtrain, &d.world, train, &tok, c->corpus.train_tokens, &c->corpus,
                          stream_seed(seed, 3), &s->train, e);
        stage(c, "train corpus", c->corpus.train_tokens, c->corpus.train_tokens);
        if (rc == 0) {
            stage(c, "val corpus", 0, c->corpus.val_tokens);
            rc = build_stream(dir, "val.bin", &wval, &d.world, dev, &tok, c->corpus.val_tokens, &c->corpus, stream_seed(seed, 4),
                              &s->val, e);
            stage(c, "val corpus", c->corpus.val_tokens, c->corpus.val_tokens);
        }
    }
    if (rc == 0) rc = write_manifest(dir, seed, c, s, e);
    tokenizer_free(&tok);
    doclist_free(&wtrain);
    doclist_free(&wval);
    apps_data_free(&d);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm_tree: remove path and everything under it (missing is fine). */
static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The directory is built under DIR.tmp.PID and renamed into place at the end (an existing DIR is replaced only
 * then), so a failure leaves no half-written data directory behind. */
int datagen_run(const char *dir, unsigned long seed, const DataGenConfig *c, DataGenSummary *s, Err *e) {
    memset(s, 0, sizeof *s);
    if (world_config_check(&c->apps.world, e) != 0) return -1;
    if (!c->items_only && corpus_config_check(&c->corpus, e) != 0) return -1;
    struct stat st;
    int exists = stat(dir, &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) return err_set(e, "%s: exists and is not a directory", dir);
    char tmp[4096], old[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid()) >= (int)sizeof tmp ||
        snprintf(old, sizeof old, "%s.old.%ld", dir, (long)getpid()) >= (int)sizeof old)
        return err_set(e, "%s: path too long", dir);
    rm_tree(tmp);
    if (generate(tmp, seed, c, s, e) != 0) {
        rm_tree(tmp);
        return -1;
    }
    if (exists && rename(dir, old) != 0) {
        err_set(e, "%s: cannot move the old directory aside: %s", dir, strerror(errno));
        rm_tree(tmp);
        return -1;
    }
    if (rename(tmp, dir) != 0) {
        err_set(e, "%s: cannot rename the new directory into place: %s", dir, strerror(errno));
        if (exists && rename(old, dir) != 0) err_prefix(e, "(the old directory is now %s)", old);
        rm_tree(tmp);
        return -1;
    }
    if (exists) rm_tree(old);
    return 0;
}
