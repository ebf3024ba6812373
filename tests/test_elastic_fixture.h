/* test_elastic_fixture: small worlds for the elastic tests: a word-level tokenizer ("<unk>", "<s>", "</s>",
 * "w0", "w1", ...), a corpus with a learnable bigram structure, multiple-choice items over those words, and
 * model directories written to disk. Every function here aborts the test process on failure. */
#ifndef ELMS_TEST_ELASTIC_FIXTURE_H
#define ELMS_TEST_ELASTIC_FIXTURE_H

#include "datasets/items.h"
#include "engine/data.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

/* fx_tokenizer: 3 special tokens + n_words words; vocab = n_words + 3, "<s>" = 1 is BOS. */
void fx_tokenizer(Tokenizer *t, int n_words);
/* fx_corpus: n tokens in [3, vocab): a fixed seeded successor for every token, followed with probability 0.9,
 * otherwise a uniform token. */
void fx_corpus(TokenData *d, size_t n, int vocab, unsigned long seed);
/* fx_items: n items of app with seeded word texts (system 12-20 words, query 3, 4 one- or two-word choices, a
 * relevant span), ids "APP-i". */
void fx_items(ItemSet *s, const char *app, int n, int n_words, unsigned long seed);
/* fx_config: util_config with the vocabulary of fx_tokenizer(n_words) and BOS/EOS set. */
ModelConfig fx_config(int n_words);
/* fx_write_dir: model_save (F32) plus tokenizer.json into dir. */
void fx_write_dir(const char *dir, const Model *m, const Tokenizer *t);
/* fx_train: a few seeded full-training steps on d (a smoke-trained model). */
void fx_train(Model *m, const TokenData *d, long steps, unsigned long seed);

#endif
