/* Tests of the one evaluation path (eval/eval.h): an outcome equals scoring the prompt built by hand (BOS +
 * kept system tokens + query) with the engine; a store is consulted before the engine and filled after it;
 * the key separates what differs (weights, adapter, keep-mask) and nothing else; and the weight hash follows
 * the weights. */
#include <stdlib.h>
#include <string.h>

#include "engine/score.h"
#include "eval/eval.h"
#include "tests/test.h"
#include "tests/test_elastic_fixture.h"
#include "tests/util.h"

#define EW 30

/* A store that remembers keys and outcomes in arrays and counts calls. */
typedef struct Mem {
    char key[64][600];
    EvalOutcome val[64];
    int n, gets, puts;
} Mem;

static int mem_get(void *ctx, const char *mh, const char *cfg, const char *app, const char *item, EvalOutcome *out,
                   int *found, Err *e) {
    (void)e;
    Mem *m = ctx;
    char k[600];
    snprintf(k, sizeof k, "%s|%s|%s|%s", mh, cfg, app, item);
    m->gets++;
    *found = 0;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], k)) *out = m->val[i], *found = 1;
    return 0;
}

static int mem_put(void *ctx, const char *mh, const char *cfg, const char *app, const char *item, const EvalOutcome *o,
                   Err *e) {
    Mem *m = ctx;
    if (m->n == 64) return err_set(e, "store full");
    snprintf(m->key[m->n], sizeof m->key[0], "%s|%s|%s|%s", mh, cfg, app, item);
    m->val[m->n++] = *o;
    m->puts++;
    return 0;
}

TEST(eval_item_scores_the_prompt_and_uses_the_store) {
    ModelConfig c = fx_config(EW);
    Model m;
    util_model(&m, &c, 4);
    Tokenizer tok;
    fx_tokenizer(&tok, EW);
    ItemSet items;
    fx_items(&items, "facts", 3, EW, 9);
    Mem *mem = calloc(1, sizeof *mem);
    EvalStore store = {mem, mem_get, mem_put};
    Evaluator ev;
    evaluator_init(&ev, &tok, &m, &store);
    CHECK(ev.bos_id == tok.bos_id && ev.bos_id == eval_bos(&tok, &m));
    Err e;
    for (int i = 0; i < items.n; i++) {
        EncodedItem x;
        CHECK(item_encode(&tok, &items.items[i], &x, &e) == 0);
        unsigned char keep[64];
        for (int k = 0; k < x.n_system; k++) keep[k] = k % 3 != 1;
        ElasticView v;
        view_full(&m, &v);
        EvalQuery q = {.model = &m, .view = &v, .keep = keep, .x = &x, .app = items.items[i].app,
                       .item = items.items[i].id};
        EvalOutcome o, again;
        CHECK_MSG(eval_item(&ev, &q, &o, &e) == 0, "%s", e.msg);
        /* by hand: BOS, the kept system tokens, the query; then the engine's scoring */
        int prompt[256], n = 0;
        prompt[n++] = tok.bos_id;
        for (int k = 0; k < x.n_system; k++)
            if (keep[k]) prompt[n++] = x.system[k];
        for (int k = 0; k < x.n_query; k++) prompt[n++] = x.query[k];
        ScoreResult r;
        CHECK(score_choices(&m, &v, prompt, n, (const int *const *)x.choices, x.choice_len, x.n_choices, &r, &e) == 0);
        CHECK(o.choice == r.best && o.correct == (r.best == x.answer));
        CHECK_NEAR(o.margin, r.margin, 1e-12);
        score_result_free(&r);
        /* the second time it comes from the store, identical */
        long computed = ev.computed;
        CHECK(eval_item(&ev, &q, &again, &e) == 0);
        CHECK(ev.computed == computed && ev.stored_hits >= 1);
        CHECK(again.choice == o.choice && again.margin == o.margin);
        /* another mask is another key */
        keep[0] = !keep[0];
        CHECK(eval_item(&ev, &q, &again, &e) == 0 && ev.computed == computed + 1);
        encoded_item_free(&x);
    }
    CHECK(mem->puts == 2 * items.n);
    /* other weights: another hash, another key; weights edited without model_rehash are not caught, so the
     * contract is that every function that changes weights rehashes (model_permute_units does) */
    char before[17];
    memcpy(before, m.hash, sizeof before);
    int perm[2] = {1, 0};
    CHECK(model_permute_units(&m, 0, perm, NULL, &e) == 0);
    CHECK(strcmp(before, m.hash) != 0);
    m.hash[0] = 0;
    EncodedItem x;
    CHECK(item_encode(&tok, &items.items[0], &x, &e) == 0);
    ElasticView v;
    view_full(&m, &v);
    EvalQuery q = {.model = &m, .view = &v, .x = &x, .app = "facts", .item = items.items[0].id};
    EvalOutcome o;
    CHECK(eval_item(&ev, &q, &o, &e) == -1 && strstr(e.msg, "no weight hash"));
    encoded_item_free(&x);
    free(mem);
    items_free(&items);
    tokenizer_free(&tok);
    model_free(&m);
}

TEST(eval_item_refuses_a_prompt_beyond_the_context) {
    ModelConfig c = fx_config(EW);
    c.max_seq = 8;
    Model m;
    util_model(&m, &c, 5);
    Tokenizer tok;
    fx_tokenizer(&tok, EW);
    ItemSet items;
    fx_items(&items, "facts", 1, EW, 2);
    EncodedItem x;
    Err e;
    CHECK(item_encode(&tok, &items.items[0], &x, &e) == 0);
    Evaluator ev;
    evaluator_init(&ev, &tok, &m, NULL);
    ElasticView v;
    view_full(&m, &v);
    EvalQuery q = {.model = &m, .view = &v, .x = &x, .app = "facts", .item = items.items[0].id};
    EvalOutcome o;
    CHECK(eval_item(&ev, &q, &o, &e) == -1 && strstr(e.msg, "exceeds the context") && strstr(e.msg, "facts"));
    encoded_item_free(&x);
    items_free(&items);
    tokenizer_free(&tok);
    model_free(&m);
}
