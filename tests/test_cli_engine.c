/* Tests of the engine subcommands through the real binary: init -> info (language models and classifiers), logits
 * and generate agree with the library called in-process, score's per-app accuracy equals scoring each item by
 * hand, the system-token drop and view flags take effect, and --help / usage errors behave. */
#include "datasets/items.h"
#include "engine/io.h"
#include "engine/model.h"
#include "engine/score.h"
#include "engine/tokenizer.h"
#include "tests/test.h"
#include "tests/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small model directory written by `elms init` (vocab 40, context 48, untied), loaded back in-process. */
static int make_model(TestCtx *t, const char *dir, Model *m) {
    char *out;
    int rc = test_cli(&out, "init --out %s --layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 40 --vocab 40 --ctx 48 --seed 5",
                 dir);
    CHECK_MSG(rc == 0 && strstr(out, "wrote"), "init: %s", out);
    free(out);
    Err e;
    if (rc || model_load(m, dir, &e) != 0) return -1;
    /* random initialisation is nearly uniform; scale the weights so that scores differ clearly */
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 8.0f;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int j = 0; j < m->cfg.dim; j++) m->w.layer[l].attn_norm[j] = m->w.layer[l].ffn_norm[j] = 1.0f;
    for (int j = 0; j < m->cfg.dim; j++) m->w.final_norm[j] = 1.0f;
    CHECK(model_save(m, dir, ST_F32, &e) == 0);
    return 0;
}

TEST(cli_init_info) {
    char *out;
    const char *dir = test_path("m");
    CHECK(test_cli(&out, "init --out %s --layers 3 --dim 48 --heads 6 --kv-heads 3 --ffn 64 --vocab 70 --ctx 32 --seed 2 "
                    "--tied --dtype f16", dir) == 0);
    free(out);
    ModelConfig c = {.dim = 48, .n_layers = 3, .n_heads = 6, .n_kv_heads = 3, .head_dim = 8, .ffn_dim = 64,
                     .vocab_size = 70, .max_seq = 32, .norm_eps = 1e-5f, .rope_theta = 1e4f, .tied = true,
                     .bos_id = -1, .eos_id = -1};
    CHECK(test_cli(&out, "info --model %s", dir) == 0);
    char want[64];
    snprintf(want, sizeof want, "parameters         %zu\n", model_param_count(&c));
    CHECK_MSG(strstr(out, want) && strstr(out, "embeddings         tied") && strstr(out, "(F16)") &&
                  strstr(out, "heads              6 (kv heads 3, head_dim 8)") && strstr(out, "tokenizer          none") &&
                  strstr(out, "elastic            none") && strstr(out, "lora               none"),
              "%s", out);
    free(out);
    /* the same seed gives the same weights; a different seed different ones */
    Model a, b, d;
    Err e;
    CHECK(test_cli(&out, "init --out %s --layers 3 --dim 48 --heads 6 --kv-heads 3 --ffn 64 --vocab 70 --ctx 32 --seed 2 "
                    "--tied", test_path("same")) == 0);
    free(out);
    CHECK(test_cli(&out, "init --out %s --layers 3 --dim 48 --heads 6 --kv-heads 3 --ffn 64 --vocab 70 --ctx 32 --seed 3 "
                    "--tied", test_path("other")) == 0);
    free(out);
    CHECK(model_load(&a, dir, &e) == 0 && model_load(&b, test_path("same"), &e) == 0 &&
          model_load(&d, test_path("other"), &e) == 0);
    double dab = util_max_abs_diff(a.params, b.params, a.n_params), dad = util_max_abs_diff(a.params, d.params, a.n_params);
    CHECK_MSG(dab > 0 && dab < 1e-3 && dad > 1e-2, "f16 vs f32 %g, other seed %g", dab, dad);
    model_free(&a);
    model_free(&b);
    model_free(&d);
    /* usage */
    CHECK(test_cli(&out, "init --help") == 0 && strstr(out, "--kv-heads"));
    free(out);
    CHECK(test_cli(&out, "info") == 2);
    free(out);
    CHECK(test_cli(&out, "init --out %s --bogus 1", test_path("x")) == 2 && strstr(out, "--bogus"));
    free(out);
}

/* init makes classifier models (token, sequence with groups, multi-label; causal or bidirectional) that info
 * describes and model_load reads back; inconsistent head flags are usage errors. */
TEST(cli_init_info_classifiers) {
    char *out;
    const char *shape = "--layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 40 --vocab 40 --ctx 48";
    struct {
        const char *flags, *head, *attention;
        HeadKind kind;
        int labels, groups;
        bool multi;
    } cases[] = {
        {"--head sequence --label-groups 10,9 --bidirectional",
         "sequence-classification, 19 labels, 2 label groups (10, 9)", "bidirectional", HEAD_SEQUENCE, 19, 2, false},
        {"--head token --labels 5", "token-classification, 5 labels\n", "causal", HEAD_TOKEN, 5, 0, false},
        {"--head sequence --labels 6 --multi-label --bidirectional", "sequence-classification, 6 labels, multi-label",
         "bidirectional", HEAD_SEQUENCE, 6, 0, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[16];
        snprintf(name, sizeof name, "cls%zu", k);
        const char *dir = test_path(name);
        CHECK_MSG(test_cli(&out, "init --out %s %s %s", dir, shape, cases[k].flags) == 0, "%s", out);
        free(out);
        CHECK(test_cli(&out, "info --model %s", dir) == 0);
        CHECK_MSG(strstr(out, cases[k].head) && strstr(out, cases[k].attention), "%s", out);
        free(out);
        Model m;
        Err e;
        CHECK_MSG(model_load(&m, dir, &e) == 0, "%s", e.msg);
        if (!m.params) continue;
        CHECK(m.cfg.head == cases[k].kind && m.cfg.n_labels == cases[k].labels && m.cfg.multi_label == cases[k].multi);
        CHECK(m.cfg.bidirectional == (strcmp(cases[k].attention, "bidirectional") == 0));
        CHECK(!cases[k].groups || m.cfg.n_groups == cases[k].groups);
        model_free(&m);
    }
    const char *bad[][2] = {{"--labels 3", "need --head token or sequence"},
                            {"--head token", "needs --labels"},
                            {"--head token --labels 4 --multi-label", "problem_type"},
                            {"--head sequence --label-groups 3,1", "--label-groups"},
                            {"--head sequence --labels 9 --label-groups 3,4", "label_groups"},
                            {"--head seq --labels 2", "--head expects"},
                            {"--head token --labels 3 --tied", "tie_word_embeddings"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CHECK_MSG(test_cli(&out, "init --out %s %s %s", test_path("bad"), shape, bad[k][0]) == 2 &&
                      strstr(out, bad[k][1]),
                  "%s: %s", bad[k][0], out);
        free(out);
    }
}

/* parse_logits: "pos i v..." lines into vals (n, vocab); returns the number of lines, -1 on a format error. */
static int parse_logits(const char *s, int vocab, float *vals, int max_n) {
    int n = 0;
    while (*s && n < max_n) {
        int pos, used;
        if (sscanf(s, "pos %d%n", &pos, &used) != 1 || pos != n) return -1;
        s += used;
        for (int j = 0; j < vocab; j++) {
            char *end;
            vals[(size_t)n * vocab + j] = strtof(s, &end);
            if (end == s) return -1;
            s = end;
        }
        if (*s != '\n') return -1;
        s++;
        n++;
    }
    return *s ? -1 : n;
}

TEST(cli_logits_and_generate_match_library) {
    const char *dir = test_path("m");
    Model m;
    if (make_model(t, dir, &m) != 0) return;
    int tok[6] = {3, 17, 0, 39, 22, 5};
    float *ref = malloc(6 * 40 * sizeof *ref), *got = malloc(6 * 40 * sizeof *got);
    ElasticView v;
    view_full(&m, &v);
    Err e;
    CHECK(model_logits(&m, &v, tok, 6, ref, &e) == 0);
    char *out;
    CHECK(test_cli(&out, "logits --model %s --tokens 3,17,0,39,22,5", dir) == 0);
    CHECK(parse_logits(out, 40, got, 6) == 6);
    int bad = 0;
    for (int i = 0; i < 6 * 40; i++) bad += fabs(got[i] - ref[i]) > 1e-5 * fmax(1.0, fabs(ref[i]));
    CHECK_MSG(bad == 0, "%d logits differ", bad);
    free(out);
    /* a narrower view changes the logits and matches the library's view */
    ElasticView nv;
    view_uniform(&m, 1, 20, &nv);
    CHECK(model_logits(&m, &nv, tok, 6, ref, &e) == 0);
    CHECK(test_cli(&out, "logits --model %s --tokens 3,17,0,39,22,5 --attn-units 1 --ffn-units 20", dir) == 0);
    CHECK(parse_logits(out, 40, got, 6) == 6);
    bad = 0;
    for (int i = 0; i < 6 * 40; i++) bad += fabs(got[i] - ref[i]) > 1e-5 * fmax(1.0, fabs(ref[i]));
    CHECK_MSG(bad == 0, "%d sub-model logits differ", bad);
    free(out);
    /* generate --tokens: ids out, equal to generate_greedy */
    int gen[10];
    int g = generate_greedy(&m, &v, NULL, tok, 3, 10, -1, gen, NULL, &e);
    CHECK(g == 10);
    char want[256] = "";
    for (int i = 0; i < g; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? "," : "", gen[i]);
    strcat(want, "\n");
    CHECK(test_cli(&out, "generate --model %s --tokens 3,17,0 --max-new 10", dir) == 0);
    CHECK_MSG(!strncmp(out, want, strlen(want)), "got %s want %s", out, want);
    /* then how the weights are held (the file's F32, read in place by default) and the speed (stderr): the
     * prompt's 3 tokens and the 9 decode steps after the first token */
    CHECK_MSG(strstr(out, "generate: weights F32 (in place); prefill 3 tokens in ") &&
                  strstr(out, "; decode 9 tokens in "), "%s", out);
    free(out);
    /* every holding gives the same tokens here (F16 rounding is far below this model's logit gaps) */
    const char *holds[] = {"plain", "f32", "f16", "bf16"}, *says[] = {"F32 (plain)", "F32 (in place)", "F16 (converted)",
                                                                    "BF16 (converted)"};
    for (int h = 0; h < 4; h++) {
        CHECK(test_cli(&out, "generate --model %s --tokens 3,17,0 --max-new 10 --weights %s", dir, holds[h]) == 0);
        CHECK_MSG(strstr(out, says[h]), "%s: %s", holds[h], out);
        if (h < 2) CHECK_MSG(!strncmp(out, want, strlen(want)), "%s: got %s want %s", holds[h], out, want);
        free(out);
    }
    CHECK(test_cli(&out, "generate --model %s --tokens 3,17,0 --weights f8", dir) != 0);
    CHECK_MSG(strstr(out, "--weights f8: expected plain, stored, f32, f16 or bf16"), "%s", out);
    free(out);
    /* with a tokenizer: text in, text out (BOS from the tokenizer is prepended) */
    char *pieces[40];
    for (int i = 0; i < 40; i++) {
        pieces[i] = malloc(16);
        if (i == 0) strcpy(pieces[i], "[BOS]");
        else if (i == 1) strcpy(pieces[i], "[EOS]");
        else snprintf(pieces[i], 16, "w%d", i);
    }
    Tokenizer tk;
    CHECK(tokenizer_from_vocab(&tk, (const char *const *)pieces, 40, NULL, &e) == 0);
    char tp[1100];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
    CHECK(tokenizer_save(&tk, tp, &e) == 0);
    int prompt[3] = {0, 7, 9};
    g = generate_greedy(&m, &v, NULL, prompt, 3, 8, 1, gen, NULL, &e); /* stops after [EOS] */
    CHECK(g >= 1);
    char *txt = tokenizer_decode(&tk, gen, g);
    CHECK(test_cli(&out, "generate --model %s --prompt 'w7 w9' --max-new 8", dir) == 0);
    CHECK_MSG(!strncmp(out, txt, strlen(txt)) && out[strlen(txt)] == '\n', "got '%s' want '%s'", out, txt);
    free(out);
    free(txt);
    CHECK(test_cli(&out, "info --model %s", dir) == 0 && strstr(out, "tokenizer.json (40 pieces, bos 0, eos 1, unk -1)"));
    free(out);
    for (int i = 0; i < 40; i++) free(pieces[i]);
    tokenizer_free(&tk);
    free(ref);
    free(got);
    model_free(&m);
}

/* A tokenizer of 40 pieces ("[BOS]", then "a1".."a39") and a set of items over it for the score tests. */
static void write_score_fixture(const char *dir, const char *items_path, int n_items, unsigned long seed) {
    char *pieces[40];
    for (int i = 0; i < 40; i++) {
        pieces[i] = malloc(16);
        if (i == 0) strcpy(pieces[i], "[BOS]");
        else snprintf(pieces[i], 16, "a%d", i);
    }
    Tokenizer tk;
    Err e;
    if (tokenizer_from_vocab(&tk, (const char *const *)pieces, 40, NULL, &e) != 0) abort();
    char tp[1100];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
    if (tokenizer_save(&tk, tp, &e) != 0) abort();
    tokenizer_free(&tk);
    int r[64];
    ItemSet s = {calloc((size_t)n_items, sizeof(Item)), n_items};
    for (int k = 0; k < n_items; k++) {
        util_tokens(r, 64, 39, seed + (unsigned long)k);
        Item *it = &s.items[k];
        char buf[512];
        it->app = strdup(k % 3 == 0 ? "beta" : "alpha");
        snprintf(buf, sizeof buf, "i%d", k);
        it->id = strdup(buf);
        buf[0] = 0;
        for (int j = 0; j < 8; j++) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "a%d ", 1 + r[j]);
        it->system = strdup(buf);
        buf[0] = 0;
        for (int j = 0; j < 3; j++) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "a%d ", 1 + r[8 + j]);
        it->query = strdup(buf);
        it->n_choices = 3;
        it->choices = calloc(3, sizeof *it->choices);
        for (int c = 0; c < 3; c++) {
            buf[0] = 0;
            for (int j = 0; j <= c % 2; j++) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "a%d ", 1 + r[11 + 2 * c + j]);
            it->choices[c] = strdup(buf);
        }
        it->answer = r[20] % 3;
    }
    if (items_write(&s, items_path, &e) != 0) abort();
    items_free(&s);
    for (int i = 0; i < 40; i++) free(pieces[i]);
}

/* expected_tally: score items by hand: prompt = [BOS] + (system unless drop_all) + query, ids from "aN" = N. */
static void expected_tally(const Model *m, const ElasticView *v, const char *items_path, int drop_all, int correct[2],
                           int total[2]) {
    ItemSet s;
    Err e;
    if (items_read(&s, items_path, &e) != 0) abort();
    correct[0] = correct[1] = total[0] = total[1] = 0;
    for (int k = 0; k < s.n; k++) {
        const Item *it = &s.items[k];
        int prompt[64], n = 0, ch[3][4], len[3];
        prompt[n++] = 0;
        const char *parts[2] = {drop_all ? "" : it->system, it->query};
        for (int p = 0; p < 2; p++)
            for (const char *c = parts[p]; (c = strchr(c, 'a')); c++) prompt[n++] = atoi(c + 1);
        const int *cp[3];
        for (int c = 0; c < 3; c++) {
            len[c] = 0;
            for (const char *q = it->choices[c]; (q = strchr(q, 'a')); q++) ch[c][len[c]++] = atoi(q + 1);
            cp[c] = ch[c];
        }
        ScoreResult res;
        if (score_choices(m, v, prompt, n, cp, len, 3, &res, &e) != 0) abort();
        int a = strcmp(it->app, "alpha") == 0 ? 0 : 1;
        correct[a] += res.best == it->answer;
        total[a]++;
        score_result_free(&res);
    }
    items_free(&s);
}

TEST(cli_score_matches_hand_scoring) {
    const char *dir = test_path("m");
    Model m;
    if (make_model(t, dir, &m) != 0) return;
    const char *ip = test_path("items.jsonl");
    write_score_fixture(dir, ip, 24, 100);
    ElasticView v;
    view_full(&m, &v);
    int c[2], n[2];
    expected_tally(&m, &v, ip, 0, c, n);
    char want[256];
    snprintf(want, sizeof want, "alpha accuracy %d/%d = %.4f\nbeta accuracy %d/%d = %.4f\nmacro %.4f\n", c[0], n[0],
             (double)c[0] / n[0], c[1], n[1], (double)c[1] / n[1], 0.5 * ((double)c[0] / n[0] + (double)c[1] / n[1]));
    char *out;
    CHECK(test_cli(&out, "score --model %s --items %s", dir, ip) == 0);
    CHECK_MSG(!strcmp(out, want), "got:\n%swant:\n%s", out, want);
    free(out);
    /* the whole system part dropped */
    expected_tally(&m, &v, ip, 1, c, n);
    snprintf(want, sizeof want, "alpha accuracy %d/%d = %.4f\nbeta accuracy %d/%d = %.4f\nmacro %.4f\n", c[0], n[0],
             (double)c[0] / n[0], c[1], n[1], (double)c[1] / n[1], 0.5 * ((double)c[0] / n[0] + (double)c[1] / n[1]));
    CHECK(test_cli(&out, "score --model %s --items %s --drop-system 1 --seed 4", dir, ip) == 0);
    CHECK_MSG(!strcmp(out, want), "got:\n%swant:\n%s", out, want);
    free(out);
    /* partial drops are seeded: same seed, same output */
    char *o1, *o2;
    CHECK(test_cli(&o1, "score --model %s --items %s --drop-system 0.5 --seed 9", dir, ip) == 0);
    CHECK(test_cli(&o2, "score --model %s --items %s --drop-system 0.5 --seed 9", dir, ip) == 0);
    CHECK(!strcmp(o1, o2) && strstr(o1, "macro "));
    free(o2);
    /* each item's mask is seeded by the item itself: the same items in the opposite order score the same */
    ItemSet rev;
    Err e;
    CHECK(items_read(&rev, ip, &e) == 0);
    for (int i = 0, j = rev.n - 1; i < j; i++, j--) {
        Item tmp = rev.items[i];
        rev.items[i] = rev.items[j];
        rev.items[j] = tmp;
    }
    const char *rp = test_path("items-reversed.jsonl");
    CHECK(items_write(&rev, rp, &e) == 0);
    items_free(&rev);
    CHECK(test_cli(&o2, "score --model %s --items %s --drop-system 0.5 --seed 9", dir, rp) == 0);
    CHECK_MSG(!strcmp(o1, o2), "in order:\n%sreversed:\n%s", o1, o2);
    free(o1);
    free(o2);
    /* a sub-model by width and by level */
    ElasticView nv;
    view_uniform(&m, 1, 10, &nv);
    expected_tally(&m, &nv, ip, 0, c, n);
    snprintf(want, sizeof want, "alpha accuracy %d/%d = %.4f\n", c[0], n[0], (double)c[0] / n[0]);
    CHECK(test_cli(&out, "score --model %s --items %s --attn-units 1 --ffn-units 10", dir, ip) == 0);
    CHECK_MSG(strstr(out, want) == out, "got:\n%swant:\n%s", out, want);
    free(out);
    CHECK(test_cli(&out, "score --model %s --items %s --level 0.5", dir, ip) == 0 && strstr(out, "macro "));
    free(out);
    CHECK(test_cli(&out, "score --model %s --items %s --level 1.5", dir, ip) == 2);
    free(out);
    CHECK(test_cli(&out, "score --model %s --items %s --drop-system 2", dir, ip) == 2);
    free(out);
    model_free(&m);
}
