/* Classifier heads and bidirectional models on disk and in the weight hash: config.json round trips for every
 * head kind (architectures, num_labels, problem_type, label_groups, is_causal), the errors of bad head fields
 * (each naming the file and the field), model_save / model_load round trips with classifier.weight and
 * classifier.bias in place of lm_head.weight, and a hash that tells apart configurations that compute
 * differently. */
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "tests/test.h"
#include "tests/util.h"

/* head_config: util_config with a head; a sequence head gets groups (4, 3) unless multi-label. */
static ModelConfig head_config(HeadKind head, bool multi, bool bidi) {
    ModelConfig c = util_config();
    c.head = head;
    c.bidirectional = bidi;
    if (head == HEAD_LM) return c;
    c.n_labels = 7;
    c.multi_label = multi;
    if (head == HEAD_SEQUENCE && !multi) {
        c.n_groups = 2;
        c.group_size[0] = 4;
        c.group_size[1] = 3;
    }
    return c;
}

static bool same_head(const ModelConfig *a, const ModelConfig *b) {
    if (a->head != b->head || a->bidirectional != b->bidirectional || a->n_labels != b->n_labels ||
        a->multi_label != b->multi_label || a->n_groups != b->n_groups || a->tied != b->tied)
        return false;
    for (int g = 0; g < a->n_groups; g++)
        if (a->group_size[g] != b->group_size[g]) return false;
    return true;
}

TEST(config_heads_roundtrip) {
    struct {
        HeadKind head;
        bool multi, bidi;
        const char *arch;
    } cases[] = {{HEAD_LM, false, false, "LlamaForCausalLM"},
                 {HEAD_LM, false, true, "LlamaForCausalLM"},
                 {HEAD_TOKEN, false, true, "LlamaForTokenClassification"},
                 {HEAD_SEQUENCE, false, false, "LlamaForSequenceClassification"},
                 {HEAD_SEQUENCE, true, true, "LlamaForSequenceClassification"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ModelConfig c = head_config(cases[k].head, cases[k].multi, cases[k].bidi), d;
        Err e;
        const char *p = test_path("head.json");
        CHECK_MSG(config_write(p, &c, &e) == 0, "%s", e.msg);
        CHECK_MSG(config_read(p, &d, &e) == 0, "case %zu: %s", k, e.msg);
        CHECK_MSG(same_head(&c, &d), "case %zu: head fields differ after the round trip", k);
        char *txt = NULL;
        CHECK(io_read_file(p, &txt, NULL, &e) == 0);
        if (!txt) continue;
        CHECK_MSG(strstr(txt, cases[k].arch) != NULL, "case %zu: %s", k, txt);
        CHECK(strstr(txt, cases[k].bidi ? "\"is_causal\":\tfalse" : "\"is_causal\":\ttrue") != NULL);
        CHECK((strstr(txt, "\"num_labels\":\t7") != NULL) == (cases[k].head != HEAD_LM));
        CHECK((strstr(txt, "multi_label_classification") != NULL) == cases[k].multi);
        CHECK((strstr(txt, "\"label_groups\"") != NULL) == (cases[k].head == HEAD_SEQUENCE && !cases[k].multi));
        free(txt);
    }
    /* a sequence head without groups is one group of num_labels, in memory and on disk */
    ModelConfig c = head_config(HEAD_SEQUENCE, false, false), d;
    c.n_groups = 0;
    Err e;
    const char *p = test_path("one-group.json");
    CHECK_MSG(config_write(p, &c, &e) == 0, "%s", e.msg);
    CHECK_MSG(config_read(p, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n_groups == 1 && d.group_size[0] == 7);
    Model m;
    CHECK(model_alloc(&m, &c, &e) == 0);
    CHECK(m.cfg.n_groups == 1 && m.cfg.group_size[0] == 7 && model_head_targets(&m.cfg, 5) == 1);
    model_free(&m);
}

/* read_error: config_read of text js fails, naming the file and containing want. */
static int read_error(const char *js, const char *want, char *msg) {
    const char *p = test_path("bad-head.json");
    Err e = {{0}};
    if (io_write_atomic(p, js, strlen(js), &e) != 0) return 0;
    ModelConfig c;
    int rc = config_read(p, &c, &e);
    snprintf(msg, 1024, "%s", e.msg);
    return rc != 0 && strstr(e.msg, p) && strstr(e.msg, want);
}

TEST(config_head_errors) {
    char m[1024];
#define BASE "{\"hidden_size\": 8, \"num_attention_heads\": 2, \"intermediate_size\": 8, \"num_hidden_layers\": 1, " \
             "\"vocab_size\": 10, \"max_position_embeddings\": 8, \"rms_norm_eps\": 1e-5"
#define TOK BASE ", \"architectures\": [\"LlamaForTokenClassification\"]"
#define SEQ BASE ", \"architectures\": [\"LlamaForSequenceClassification\"]"
    CHECK_MSG(read_error(TOK "}", "'num_labels'", m), "%s", m);
    CHECK_MSG(read_error(TOK ", \"num_labels\": 0}", "'num_labels'", m), "%s", m);
    CHECK_MSG(read_error(TOK ", \"num_labels\": 2.5}", "'num_labels'", m), "%s", m);
    CHECK_MSG(read_error(TOK ", \"num_labels\": 1e300}", "'num_labels'", m), "%s", m);
    CHECK_MSG(read_error(TOK ", \"num_labels\": 1}", "num_labels", m), "%s", m);
    CHECK_MSG(read_error(SEQ ", \"num_labels\": 3, \"problem_type\": \"regression\"}", "'problem_type'", m), "%s", m);
    CHECK_MSG(read_error(TOK ", \"num_labels\": 3, \"problem_type\": \"multi_label_classification\"}",
                         "'problem_type'", m), "%s", m);
    CHECK_MSG(read_error(SEQ ", \"num_labels\": 7, \"label_groups\": [3, 3]}", "'label_groups'", m), "%s", m);
    CHECK_MSG(read_error(SEQ ", \"num_labels\": 7, \"label_groups\": [3, \"4\"]}", "'label_groups[1]'", m), "%s",
              m);
    CHECK_MSG(read_error(SEQ ", \"num_labels\": 7, \"label_groups\": [1, 6]}", "'label_groups[0]'", m), "%s", m);
    CHECK_MSG(read_error(SEQ ", \"num_labels\": 7, \"label_groups\": 7}", "'label_groups'", m), "%s", m);
    CHECK_MSG(read_error(SEQ ", \"num_labels\": 7, \"label_groups\": []}", "'label_groups'", m), "%s", m);
    CHECK_MSG(read_error(SEQ ", \"num_labels\": 7, \"problem_type\": \"multi_label_classification\", "
                             "\"label_groups\": [4, 3]}",
                         "'label_groups'", m), "%s", m);
    CHECK_MSG(read_error(BASE ", \"label_groups\": [4, 3]}", "'label_groups'", m), "%s", m);
    CHECK_MSG(read_error(TOK ", \"num_labels\": 3, \"tie_word_embeddings\": true}", "'tie_word_embeddings'", m), "%s",
              m);
    CHECK_MSG(read_error(BASE ", \"is_causal\": 0}", "'is_causal'", m), "%s", m);
    CHECK_MSG(read_error(BASE ", \"architectures\": \"LlamaForCausalLM\"}", "'architectures'", m), "%s", m);
    CHECK_MSG(read_error(BASE ", \"architectures\": [3]}", "'architectures[0]'", m), "%s", m);
    /* Hugging Face's own form of the label count: the size of id2label */
    const char *p = test_path("id2label.json");
    const char *js = TOK ", \"id2label\": {\"0\": \"O\", \"1\": \"B\", \"2\": \"I\"}, \"is_causal\": false}";
    Err e;
    ModelConfig c;
    CHECK(io_write_atomic(p, js, strlen(js), &e) == 0);
    CHECK_MSG(config_read(p, &c, &e) == 0, "%s", e.msg);
    CHECK(c.head == HEAD_TOKEN && c.n_labels == 3 && c.bidirectional && !c.multi_label && c.n_groups == 0);
#undef BASE
#undef TOK
#undef SEQ
    /* a configuration built in C is checked the same way */
    c = head_config(HEAD_TOKEN, false, false);
    c.n_groups = 2;
    c.group_size[0] = 4;
    c.group_size[1] = 3;
    CHECK(model_config_check(&c, &e) != 0 && strstr(e.msg, "label_groups"));
    c = head_config(HEAD_LM, false, false);
    c.n_labels = 3;
    CHECK(model_config_check(&c, &e) != 0 && strstr(e.msg, "num_labels"));
    c = head_config(HEAD_SEQUENCE, false, false);
    c.group_size[1] = 4;
    CHECK(model_config_check(&c, &e) != 0 && strstr(e.msg, "sum"));
}

/* Save and load classifier models of every kind: identical parameters, configuration, hash and outputs; the file
 * holds classifier.weight and classifier.bias and no lm_head.weight. */
TEST(model_save_load_classifier_heads) {
    struct {
        HeadKind head;
        bool multi, bidi;
    } cases[] = {{HEAD_TOKEN, false, false}, {HEAD_TOKEN, false, true}, {HEAD_SEQUENCE, false, true},
                 {HEAD_SEQUENCE, true, false}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ModelConfig c = head_config(cases[k].head, cases[k].multi, cases[k].bidi);
        Model m, r;
        util_model(&m, &c, 30 + k);
        for (int o = 0; o < c.n_labels; o++) m.w.cls_b[o] = 0.1f * (float)o;
        model_rehash(&m);
        char name[32];
        snprintf(name, sizeof name, "cls%zu", k);
        const char *dir = test_path(name);
        Err e;
        CHECK_MSG(model_save(&m, dir, ST_F32, &e) == 0, "%s", e.msg);
        CHECK_MSG(model_load(&r, dir, &e) == 0, "case %zu: %s", k, e.msg);
        if (!r.params) continue;
        CHECK(r.n_params == m.n_params && !memcmp(r.params, m.params, sizeof(float) * m.n_params));
        CHECK(same_head(&r.cfg, &m.cfg) && !strcmp(r.hash, m.hash));
        CHECK(r.w.lm_head == NULL && r.w.cls_w && r.w.cls_b);
        int tok[6] = {1, 5, 9, 2, 7, 3};
        float a[6 * 7], b[6 * 7];
        ElasticView v;
        view_full(&m, &v);
        CHECK(model_classify(&m, &v, tok, 6, a, &e) == 0 && model_classify(&r, &v, tok, 6, b, &e) == 0);
        CHECK(!memcmp(a, b, sizeof(float) * (size_t)(c.head == HEAD_TOKEN ? 6 : 1) * c.n_labels));
        char wp[1200];
        snprintf(wp, sizeof wp, "%s/model.safetensors", dir);
        StFile f;
        CHECK_MSG(st_open(&f, wp, &e) == 0, "%s", e.msg);
        const StTensor *w = st_find(&f, "classifier.weight"), *bias = st_find(&f, "classifier.bias");
        CHECK(w && w->ndim == 2 && w->shape[0] == 7 && w->shape[1] == c.dim);
        CHECK(bias && bias->ndim == 1 && bias->shape[0] == 7);
        CHECK(!st_find(&f, "lm_head.weight") && f.n_tensors == 4 + 9 * c.n_layers);
        st_close(&f);
        model_free(&r);
        model_free(&m);
    }
}

/* A classifier file read with a language-model config (and the reverse) is refused, naming the tensor. */
TEST(model_load_head_mismatch) {
    ModelConfig c = head_config(HEAD_TOKEN, false, false), lm = head_config(HEAD_LM, false, false);
    Model m, r;
    util_model(&m, &c, 40);
    const char *dir = test_path("mismatch");
    Err e;
    CHECK(model_save(&m, dir, ST_F32, &e) == 0);
    char cp[1200];
    snprintf(cp, sizeof cp, "%s/config.json", dir);
    CHECK(config_write(cp, &lm, &e) == 0);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "unexpected tensor 'classifier."));
    c.n_labels = 9;
    CHECK(config_write(cp, &c, &e) == 0);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "classifier.weight"));
    model_free(&m);
    util_model(&m, &lm, 41);
    CHECK(model_save(&m, dir, ST_F32, &e) == 0);
    c.n_labels = 7;
    CHECK(config_write(cp, &c, &e) == 0);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "unexpected tensor 'lm_head.weight'"));
    model_free(&m);
}

/* The hash follows every head field and the attention mask; a causal language model's hash does not depend on
 * the fields it does not use (it is the hash it had before they existed). */
TEST(model_hash_covers_head_and_mask) {
    ModelConfig c = head_config(HEAD_SEQUENCE, false, false);
    Model m;
    util_model(&m, &c, 50);
    char seen[8][17];
    int n = 0;
    snprintf(seen[n++], 17, "%s", m.hash);
    m.cfg.bidirectional = true; /* the same parameters, computed differently each time */
    model_rehash(&m);
    snprintf(seen[n++], 17, "%s", m.hash);
    m.cfg.group_size[0] = 3;
    m.cfg.group_size[1] = 4;
    model_rehash(&m);
    snprintf(seen[n++], 17, "%s", m.hash);
    m.cfg.n_groups = 0; /* one group of 7 */
    model_rehash(&m);
    snprintf(seen[n++], 17, "%s", m.hash);
    m.cfg.multi_label = true;
    model_rehash(&m);
    snprintf(seen[n++], 17, "%s", m.hash);
    m.cfg.multi_label = false;
    m.cfg.head = HEAD_TOKEN;
    model_rehash(&m);
    snprintf(seen[n++], 17, "%s", m.hash);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) CHECK_MSG(strcmp(seen[i], seen[j]) != 0, "hash %d equals hash %d", i, j);
    /* n_groups 0 and one explicit group of n_labels are the same computation */
    m.cfg.head = HEAD_SEQUENCE;
    m.cfg.n_groups = 1;
    m.cfg.group_size[0] = 7;
    model_rehash(&m);
    CHECK(!strcmp(m.hash, seen[3]));
    model_free(&m);
}
