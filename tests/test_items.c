/* Tests of datasets/items: JSONL read/write round trip, per-line errors naming file:line and field, item encoding
 * (system, query, choices tokenised separately; errors name the item and field) and the prompt layout. */
#include "datasets/items.h"
#include "engine/io.h"
#include "engine/tokenizer.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

static void put(const char *path, const char *txt) {
    Err e;
    if (io_write_atomic(path, txt, strlen(txt), &e) != 0) abort();
}

static const char *kJsonl =
    "{\"app\":\"facts\",\"id\":\"f-1\",\"system\":\"Answer the question .\",\"query\":\"what is red ?\","
    "\"choices\":[\"apple\",\"sky\"],\"answer\":0,\"relevant\":[[0,2],[3,4]]}\n"
    "\n"
    "   \r\n"
    "{\"app\":\"uinav\",\"id\":7,\"query\":\"open mail\",\"choices\":[\"mail app\",\"maps\",\"clock\"],\"answer\":2}\r\n";

TEST(items_read_write_roundtrip) {
    const char *p = test_path("items.jsonl");
    put(p, kJsonl);
    ItemSet s;
    Err e;
    CHECK_MSG(items_read(&s, p, &e) == 0, "%s", e.msg);
    CHECK(s.n == 2);
    if (s.n != 2) return;
    Item *a = &s.items[0], *b = &s.items[1];
    CHECK(!strcmp(a->app, "facts") && !strcmp(a->id, "f-1") && !strcmp(a->system, "Answer the question ."));
    CHECK(!strcmp(a->query, "what is red ?") && a->n_choices == 2 && !strcmp(a->choices[1], "sky") && a->answer == 0);
    CHECK(a->n_relevant == 2 && a->relevant[1][0] == 3 && a->relevant[1][1] == 4);
    CHECK(!strcmp(b->id, "7") && !strcmp(b->system, "") && b->n_choices == 3 && b->answer == 2 && b->n_relevant == 0);
    const char *q = test_path("out.jsonl");
    CHECK_MSG(items_write(&s, q, &e) == 0, "%s", e.msg);
    ItemSet r;
    CHECK_MSG(items_read(&r, q, &e) == 0, "%s", e.msg);
    CHECK(r.n == 2);
    for (int i = 0; i < r.n && i < s.n; i++) {
        Item *x = &s.items[i], *y = &r.items[i];
        CHECK(!strcmp(x->app, y->app) && !strcmp(x->id, y->id) && !strcmp(x->system, y->system) &&
              !strcmp(x->query, y->query) && x->answer == y->answer && x->n_choices == y->n_choices &&
              x->n_relevant == y->n_relevant);
        for (int c = 0; c < x->n_choices && c < y->n_choices; c++) CHECK(!strcmp(x->choices[c], y->choices[c]));
        for (int k = 0; k < x->n_relevant && k < y->n_relevant; k++)
            CHECK(x->relevant[k][0] == y->relevant[k][0] && x->relevant[k][1] == y->relevant[k][1]);
    }
    /* one line per item */
    char *txt;
    CHECK(io_read_file(q, &txt, NULL, &e) == 0);
    int lines = 0;
    for (char *c = txt; *c; c++) lines += *c == '\n';
    CHECK(lines == 2);
    free(txt);
    items_free(&r);
    items_free(&s);
    /* an empty file is an empty set */
    put(p, "");
    CHECK(items_read(&s, p, &e) == 0 && s.n == 0);
    items_free(&s);
}

/* read_error_has: reading txt fails with a message holding "FILE:line" and want. */
static int read_error_has(const char *txt, int line, const char *want, char *msg) {
    const char *p = test_path("bad.jsonl");
    put(p, txt);
    ItemSet s;
    Err e = {{0}};
    int rc = items_read(&s, p, &e);
    if (rc == 0) items_free(&s);
    snprintf(msg, 1024, "%s", e.msg);
    char where[1100];
    snprintf(where, sizeof where, "%s:%d:", p, line);
    return rc != 0 && strstr(e.msg, where) && strstr(e.msg, want);
}

TEST(items_read_errors) {
    char m[1024];
    const char *good = "{\"app\":\"a\",\"id\":\"1\",\"system\":\"s\",\"query\":\"q\",\"choices\":[\"x\"],\"answer\":0}\n";
    char buf[2048];
    snprintf(buf, sizeof buf, "%s%s{\"app\":\"a\",\"id\":\"2\",\"query\":\"q\",\"choices\":[\"x\",\"y\"],\"answer\":2}\n",
             good, good);
    CHECK_MSG(read_error_has(buf, 3, "'answer'", m), "%s", m);
    CHECK_MSG(read_error_has("{\"app\":\"a\",\"id\":\"1\",\"query\":\"q\",\"choices\":[],\"answer\":0}", 1, "'choices'",
                             m), "%s", m);
    CHECK_MSG(read_error_has("{\"app\":\"a\",\"id\":\"1\",\"query\":\"q\",\"choices\":[\"x\", 3],\"answer\":0}", 1,
                             "'choices[1]'", m), "%s", m);
    CHECK_MSG(read_error_has("{\"app\":\"a\",\"id\":\"1\",\"query\":\"q\",\"choices\":[\"x\", \"\"],\"answer\":0}", 1,
                             "'choices[1]'", m), "%s", m);
    CHECK_MSG(read_error_has("{\"id\":\"1\",\"query\":\"q\",\"choices\":[\"x\"],\"answer\":0}", 1, "'app'", m), "%s", m);
    CHECK_MSG(read_error_has("{\"app\":\"a\",\"id\":\"1\",\"choices\":[\"x\"],\"answer\":0}", 1, "'query'", m), "%s", m);
    CHECK_MSG(read_error_has("{\"app\":\"a\",\"id\":\"1\",\"query\":\"q\",\"choices\":[\"x\"],\"answer\":\"0\"}", 1,
                             "'answer'", m), "%s", m);
    CHECK_MSG(read_error_has("{\"app\":\"a\",\"id\":\"1\",\"query\":\"q\",\"choices\":[\"x\"],\"answer\":0.5}", 1,
                             "'answer'", m), "%s", m);
    CHECK_MSG(read_error_has("{\"app\":\"a\",\"id\":\"1\",\"query\":\"q\",\"choices\":[\"x\"],\"answer\":0,"
                             "\"relevant\":[[3,1]]}", 1, "'relevant[0]'", m), "%s", m);
    snprintf(buf, sizeof buf, "%s{\"app\":\"a\",\"id\":", good);
    CHECK_MSG(read_error_has(buf, 2, "malformed JSON", m), "%s", m);
    CHECK_MSG(read_error_has("[1,2]\n", 1, "JSON object", m), "%s", m);
    /* a NUL byte, a missing file */
    const char *p = test_path("nul.jsonl");
    FILE *f = fopen(p, "wb");
    fwrite("{}\0{}\n", 1, 6, f);
    fclose(f);
    ItemSet s;
    Err e;
    CHECK(items_read(&s, p, &e) != 0 && strstr(e.msg, "NUL") && strstr(e.msg, p));
    CHECK(items_read(&s, test_path("none.jsonl"), &e) != 0 && strstr(e.msg, "none.jsonl"));
}

static const char *const kVocab[] = {"[BOS]", "[EOS]", "answer", "the", "question", ".", "what", "is", "red",
                                     "?", "apple", "sky", "blue"};

TEST(item_encode_and_prompt) {
    Tokenizer tk;
    Err e;
    CHECK(tokenizer_from_vocab(&tk, kVocab, 13, NULL, &e) == 0);
    Item it = {0};
    it.app = "facts";
    it.id = "f-1";
    it.system = "Answer the question.";
    it.query = "what is red?";
    char *ch[] = {"apple", "blue sky"};
    it.choices = ch;
    it.n_choices = 2;
    it.answer = 1;
    /* "Answer" is unknown (case-sensitive, no unk): the error names the item and field */
    EncodedItem x;
    CHECK(item_encode(&tk, &it, &x, &e) != 0 && strstr(e.msg, "'f-1'") && strstr(e.msg, "'system'") &&
          strstr(e.msg, "'Answer'"));
    it.system = "answer the question.";
    CHECK_MSG(item_encode(&tk, &it, &x, &e) == 0, "%s", e.msg);
    CHECK(x.n_system == 4 && x.system[0] == 2 && x.system[3] == 5);
    CHECK(x.n_query == 4 && x.query[3] == 9);
    CHECK(x.n_choices == 2 && x.choice_len[0] == 1 && x.choice_len[1] == 2 && x.choices[1][0] == 12 &&
          x.choices[1][1] == 11 && x.answer == 1);
    int out[16];
    int n = item_prompt(&x, NULL, 0, out);
    int want[] = {0, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(n == 9 && !memcmp(out, want, sizeof want));
    unsigned char keep[4] = {1, 0, 0, 1};
    n = item_prompt(&x, keep, -1, out);
    int want2[] = {2, 5, 6, 7, 8, 9};
    CHECK(n == 6 && !memcmp(out, want2, sizeof want2));
    encoded_item_free(&x);
    /* choices and answers are checked */
    char *bad[] = {"apple", "  "};
    it.choices = bad;
    CHECK(item_encode(&tk, &it, &x, &e) != 0 && strstr(e.msg, "'choices[1]'"));
    it.choices = ch;
    it.answer = 2;
    CHECK(item_encode(&tk, &it, &x, &e) != 0 && strstr(e.msg, "answer"));
    it.answer = 0;
    it.query = "what is green?";
    CHECK(item_encode(&tk, &it, &x, &e) != 0 && strstr(e.msg, "'query'") && strstr(e.msg, "'green'"));
    tokenizer_free(&tk);
}
