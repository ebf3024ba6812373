/* test_elastic_fixture: tokenizer, corpus, items and model directories for the elastic tests (see the header). */
#include "tests/test_elastic_fixture.h"

#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "engine/train.h"
#include "tests/util.h"

static void die(const char *what, const Err *e) {
    fprintf(stderr, "fixture: %s: %s\n", what, e ? e->msg : "failed");
    abort();
}

void fx_tokenizer(Tokenizer *t, int n_words) {
    int n = n_words + 3;
    char **p = malloc(sizeof *p * (size_t)n);
    if (!p) die("tokenizer", NULL);
    p[0] = strdup("<unk>");
    p[1] = strdup("<s>");
    p[2] = strdup("</s>");
    for (int i = 0; i < n_words; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%d", i);
        p[i + 3] = strdup(w);
    }
    Err e;
    if (tokenizer_from_vocab(t, (const char *const *)p, n, "<unk>", &e)) die("tokenizer", &e);
    for (int i = 0; i < n; i++) free(p[i]);
    free(p);
}

void fx_corpus(TokenData *d, size_t n, int vocab, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    int *next = malloc(sizeof *next * (size_t)vocab);
    d->tok = malloc(sizeof *d->tok * n);
    d->n = n;
    if (!next || !d->tok) die("corpus", NULL);
    for (int v = 0; v < vocab; v++) next[v] = 3 + (int)gsl_rng_uniform_int(r, (unsigned long)(vocab - 3));
    int t = 3;
    for (size_t i = 0; i < n; i++) {
        d->tok[i] = t;
        t = gsl_rng_uniform(r) < 0.9 ? next[t] : 3 + (int)gsl_rng_uniform_int(r, (unsigned long)(vocab - 3));
    }
    free(next);
    gsl_rng_free(r);
}

/* words: k seeded words "wI" joined by spaces (malloc'd). */
static char *words(gsl_rng *r, int k, int n_words) {
    char *s = malloc((size_t)k * 8 + 1);
    if (!s) die("items", NULL);
    s[0] = 0;
    for (int i = 0; i < k; i++) {
        char w[16];
        snprintf(w, sizeof w, "%sw%d", i ? " " : "", (int)gsl_rng_uniform_int(r, (unsigned long)n_words));
        strcat(s, w);
    }
    return s;
}

void fx_items(ItemSet *s, const char *app, int n, int n_words, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    s->n = n;
    s->items = calloc((size_t)n, sizeof *s->items);
    if (!s->items) die("items", NULL);
    for (int i = 0; i < n; i++) {
        Item *it = &s->items[i];
        char id[64];
        snprintf(id, sizeof id, "%s-%d", app, i);
        it->app = strdup(app);
        it->id = strdup(id);
        int S = 12 + (int)gsl_rng_uniform_int(r, 9);
        it->system = words(r, S, n_words);
        it->query = words(r, 3, n_words);
        it->n_choices = 4;
        it->choices = calloc(4, sizeof *it->choices);
        for (int c = 0; c < 4; c++) it->choices[c] = words(r, 1 + (int)gsl_rng_uniform_int(r, 2), n_words);
        it->answer = (int)gsl_rng_uniform_int(r, 4);
        it->n_relevant = 1;
        it->relevant = malloc(sizeof *it->relevant);
        it->relevant[0][0] = 2;
        it->relevant[0][1] = 6;
    }
    gsl_rng_free(r);
}

ModelConfig fx_config(int n_words) {
    ModelConfig c = util_config();
    c.vocab_size = n_words + 3;
    c.bos_id = 1;
    c.eos_id = 2;
    return c;
}

void fx_write_dir(const char *dir, const Model *m, const Tokenizer *t) {
    Err e;
    char path[1200];
    if (model_save(m, dir, ST_F32, &e)) die("model_save", &e);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (tokenizer_save(t, path, &e)) die("tokenizer_save", &e);
}

void fx_train(Model *m, const TokenData *d, long steps, unsigned long seed) {
    TrainConfig c;
    train_config_default(&c);
    c.batch = 4;
    c.seq = 32;
    c.steps = steps;
    c.warmup = 2;
    c.lr = 1e-2f;
    c.min_lr = 1e-3f;
    c.seed = seed;
    Trainer t;
    DataLoader l;
    Err e;
    if (train_init(&t, m, NULL, &c, &e) || data_loader_init(&l, d, c.seq, seed, &e)) die("train", &e);
    TrainRunOpts o = {0};
    if (train_run(&t, &l, &o, NULL, &e)) die("train", &e);
    train_free(&t);
    data_loader_free(&l);
}
