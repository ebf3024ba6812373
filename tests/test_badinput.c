/* Bad input through the real binary: corrupted model directories, tokenizers, item files, token lists, views
 * wider than the model and unwritable outputs each give a non-zero exit with one message "elms CMD: ..." naming
 * the file and what is wrong, print no partial results, and leave no half-written output behind. */
#include "engine/io.h"
#include "tests/test.h"

#include <cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* one_error: the output is a single line "elms CMD: ..." that contains every needle (NULL-terminated list). */
static int one_error(const char *out, const char *cmd, ...) {
    char head[64];
    snprintf(head, sizeof head, "elms %s: ", cmd);
    if (strncmp(out, head, strlen(head))) return 0;
    const char *nl = strchr(out, '\n');
    if (!nl || nl[1]) return 0;
    va_list ap;
    va_start(ap, cmd);
    const char *w;
    int ok = 1;
    while ((w = va_arg(ap, const char *)))
        if (!strstr(out, w)) ok = 0;
    va_end(ap);
    return ok;
}

/* expect: run a command that must fail with status != 0 and a single error naming the given strings. */
#define EXPECT_FAIL(cmdname, argsfmt, ...)                                                                 \
    do {                                                                                                   \
        char *out_;                                                                                        \
        int rc_ = test_cli(&out_, "%s", argsfmt);                                                               \
        CHECK_MSG(rc_ != 0 && one_error(out_, cmdname, __VA_ARGS__, (const char *)NULL), "rc %d: %s", rc_, \
                  out_);                                                                                   \
        free(out_);                                                                                        \
    } while (0)

static void copy_file(const char *src, const char *dst) {
    char *buf;
    size_t n;
    Err e;
    if (io_read_file(src, &buf, &n, &e) != 0 || io_write_atomic(dst, buf, n, &e) != 0) abort();
    free(buf);
}

/* make_base: `elms init` a small model (2 layers, dim 32, 4 heads, 2 KV heads, ffn 40, vocab 40, context 16). */
static void make_base(const char *dir) {
    char *out;
    if (test_cli(&out, "init --out %s --layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 40 --vocab 40 --ctx 16 --seed 1",
            dir) != 0)
        abort();
    free(out);
}

/* clone: a copy of the base model directory (config.json, model.safetensors) at dst. */
static const char *clone(const char *base, const char *name) {
    const char *dst = test_path(name);
    char a[1100], b[1100];
    Err e;
    if (io_mkdirs(dst, &e) != 0) abort();
    snprintf(a, sizeof a, "%s/config.json", base);
    snprintf(b, sizeof b, "%s/config.json", dst);
    copy_file(a, b);
    snprintf(a, sizeof a, "%s/model.safetensors", base);
    snprintf(b, sizeof b, "%s/model.safetensors", dst);
    copy_file(a, b);
    return dst;
}

static void put(const char *dir, const char *file, const char *txt, size_t n) {
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    fwrite(txt, 1, n, f);
    fclose(f);
}

/* edit_header: rewrite DIR/model.safetensors with its JSON header changed by fn (data section unchanged). */
static void edit_header(const char *dir, void (*fn)(cJSON *h)) {
    char p[1100];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    char *buf;
    size_t n;
    Err e;
    if (io_read_file(p, &buf, &n, &e) != 0) abort();
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)buf[i];
    cJSON *h = cJSON_ParseWithLength(buf + 8, (size_t)hl);
    fn(h);
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    FILE *f = fopen(p, "wb");
    uint64_t nl = strlen(js);
    for (int i = 0; i < 8; i++) fputc((int)((nl >> (8 * i)) & 0xff), f);
    fwrite(js, 1, nl, f);
    fwrite(buf + 8 + hl, 1, n - 8 - hl, f);
    fclose(f);
    free(js);
    free(buf);
}

static void set_offsets(cJSON *h, const char *name, double b, double en) {
    cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(h, name), "data_offsets");
    cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber(b));
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(en));
}
static void mut_outside(cJSON *h) { /* the final norm pushed past the end of the data */
    cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "model.norm.weight"), "data_offsets");
    double b = cJSON_GetArrayItem(o, 0)->valuedouble, en = cJSON_GetArrayItem(o, 1)->valuedouble;
    set_offsets(h, "model.norm.weight", b + 1e6, en + 1e6);
}
static void mut_overlap(cJSON *h) { set_offsets(h, "model.layers.0.input_layernorm.weight", 0, 128); }
static void mut_size(cJSON *h) {
    cJSON *t = cJSON_GetObjectItem(h, "model.norm.weight");
    cJSON_ReplaceItemInObject(t, "shape", cJSON_CreateIntArray((int[]){33}, 1));
}
static void mut_dtype(cJSON *h) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(h, "model.layers.1.mlp.up_proj.weight"), "dtype",
                              cJSON_CreateString("F64"));
}
static void mut_missing(cJSON *h) { cJSON_DeleteItemFromObject(h, "model.layers.1.self_attn.v_proj.weight"); }

TEST(bad_model_directories) {
    char base[1024];
    snprintf(base, sizeof base, "%s", test_path("base"));
    make_base(base);
    char args[2048], want[1200];
    const char *d;

    snprintf(args, sizeof args, "info --model %s/absent", base);
    EXPECT_FAIL("info", args, "absent", "not a model directory");

    d = clone(base, "cfg_json");
    put(d, "config.json", "{\"hidden_size\": 32,", 19);
    snprintf(args, sizeof args, "logits --model %s --tokens 1", d);
    snprintf(want, sizeof want, "%s/config.json", d);
    EXPECT_FAIL("logits", args, want, "malformed JSON");

    d = clone(base, "cfg_type");
    const char *cfg = "{\"hidden_size\": \"32\", \"intermediate_size\": 40, \"num_hidden_layers\": 2, "
                      "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 40, "
                      "\"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-5}";
    put(d, "config.json", cfg, strlen(cfg));
    snprintf(args, sizeof args, "info --model %s", d);
    EXPECT_FAIL("info", args, "config.json", "'hidden_size'");

    d = clone(base, "cfg_missing");
    cfg = "{\"hidden_size\": 32, \"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
          "\"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-5}";
    put(d, "config.json", cfg, strlen(cfg));
    snprintf(args, sizeof args, "info --model %s", d);
    EXPECT_FAIL("info", args, "config.json", "'vocab_size'");

    d = clone(base, "cfg_heads");
    cfg = "{\"hidden_size\": 32, \"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
          "\"num_key_value_heads\": 3, \"vocab_size\": 40, \"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-5}";
    put(d, "config.json", cfg, strlen(cfg));
    snprintf(args, sizeof args, "info --model %s", d);
    EXPECT_FAIL("info", args, "config.json", "num_key_value_heads");

    d = clone(base, "cfg_shape"); /* config disagrees with the tensors */
    cfg = "{\"hidden_size\": 32, \"intermediate_size\": 48, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
          "\"num_key_value_heads\": 2, \"vocab_size\": 40, \"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-5}";
    put(d, "config.json", cfg, strlen(cfg));
    snprintf(args, sizeof args, "info --model %s", d);
    EXPECT_FAIL("info", args, "model.safetensors", "model.layers.0.mlp.gate_proj.weight", "expected [48, 32]");

    /* truncated weights: half the file, then only 4 bytes */
    d = clone(base, "trunc");
    char p[1100], *buf;
    size_t n;
    Err e;
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    CHECK(io_read_file(p, &buf, &n, &e) == 0);
    put(d, "model.safetensors", buf, n / 2);
    snprintf(args, sizeof args, "logits --model %s --tokens 1", d);
    EXPECT_FAIL("logits", args, p, "outside the data section");
    put(d, "model.safetensors", buf, 4);
    EXPECT_FAIL("logits", args, p, "truncated");
    /* a header length larger than the file */
    char big[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    memcpy(buf, big, 8);
    put(d, "model.safetensors", buf, n);
    EXPECT_FAIL("logits", args, p, "header length");
    free(buf);
    /* a missing weights file */
    remove(p);
    EXPECT_FAIL("logits", args, p, "missing");

    struct {
        const char *name;
        void (*fn)(cJSON *);
        const char *w1, *w2;
    } cases[] = {
        {"outside", mut_outside, "model.norm.weight", "outside the data section"},
        {"overlap", mut_overlap, "overlap", "model.layers.0.input_layernorm.weight"},
        {"size", mut_size, "model.norm.weight", "needs"},
        {"dtype", mut_dtype, "model.layers.1.mlp.up_proj.weight", "unsupported dtype 'F64'"},
        {"missing", mut_missing, "missing tensor", "model.layers.1.self_attn.v_proj.weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d = clone(base, cases[i].name);
        edit_header(d, cases[i].fn);
        snprintf(args, sizeof args, "info --model %s", d);
        snprintf(p, sizeof p, "%s/model.safetensors", d);
        EXPECT_FAIL("info", args, p, cases[i].w1, cases[i].w2);
    }
    /* an unmodified clone loads (the edits above are what fails) */
    char *out;
    snprintf(args, sizeof args, "info --model %s", clone(base, "intact"));
    CHECK(test_cli(&out, "%s", args) == 0);
    free(out);
}

TEST(bad_tokens_and_views) {
    char base[1024];
    snprintf(base, sizeof base, "%s", test_path("base"));
    make_base(base);
    char args[2048];
#define T(cmd, extra, ...)                                                   \
    do {                                                                     \
        snprintf(args, sizeof args, cmd " --model %s " extra, base);         \
        EXPECT_FAIL(cmd, args, __VA_ARGS__);                                 \
    } while (0)
    T("logits", "--tokens 1,40", "id 40", "[0, 40)");
    T("logits", "--tokens 1,-2", "id -2");
    T("logits", "--tokens ''", "non-empty");
    T("logits", "--tokens 1,,2", "item 1");
    T("logits", "--tokens 1,x", "item 1");
    T("logits", "--tokens 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "17 tokens", "context of 16");
    T("generate", "--tokens 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "17 tokens", "context of 16");
    T("generate", "--prompt 'hello'", "tokenizer.json", "missing");
    T("logits", "--tokens 1 --attn-units 3", base);  /* wider than the 2 KV groups */
    T("logits", "--tokens 1 --ffn-units 41", base);  /* wider than the 40 neurons */
    T("generate", "--tokens 1 --attn-units 5", base);
    /* a tokenizer without unk: unknown words are named */
    const char *tok = "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"[BOS]\": 0, \"hello\": 1}}, "
                      "\"pre_tokenizer\": {\"type\": \"Whitespace\"}}";
    put(base, "tokenizer.json", tok, strlen(tok));
    T("generate", "--prompt 'hello world'", "'world'");
    /* a malformed tokenizer.json is named by every command that loads the directory */
    put(base, "tokenizer.json", "{\"model\":", 9);
    T("generate", "--prompt 'hello'", "tokenizer.json", "malformed JSON");
    T("logits", "--tokens 1", "tokenizer.json");
    /* usage errors exit 2 */
    char *out;
    snprintf(args, sizeof args, "logits --model %s", base);
    CHECK(test_cli(&out, "%s", args) == 2);
    free(out);
    snprintf(args, sizeof args, "generate --model %s --tokens 1 --prompt x", base);
    CHECK(test_cli(&out, "%s", args) == 2);
    free(out);
    snprintf(args, sizeof args, "generate --model %s --tokens 1 --max-new -1", base);
    CHECK(test_cli(&out, "%s", args) == 2);
    free(out);
#undef T
}

TEST(bad_items) {
    char base[1024];
    snprintf(base, sizeof base, "%s", test_path("base"));
    make_base(base);
    const char *tok = "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"[BOS]\": 0, \"a\": 1, \"b\": 2, \"c\": 3}}, "
                      "\"pre_tokenizer\": {\"type\": \"Whitespace\"}}";
    char args[4096], ip[1100];
    const char *good = "{\"app\":\"x\",\"id\":\"ok\",\"system\":\"a b\",\"query\":\"c\",\"choices\":[\"a\",\"b\"],"
                       "\"answer\":0}\n";
    char *out;
    /* no tokenizer in the model directory */
    put(test_tmpdir(), "items.jsonl", good, strlen(good));
    snprintf(ip, sizeof ip, "%s/items.jsonl", test_tmpdir());
    snprintf(args, sizeof args, "score --model %s --items %s", base, ip);
    EXPECT_FAIL("score", args, "tokenizer.json");
    put(base, "tokenizer.json", tok, strlen(tok));
    CHECK(test_cli(&out, "%s", args) == 0 && strstr(out, "x accuracy "));
    free(out);
    char txt[4096];
    /* malformed second line: file:line */
    snprintf(txt, sizeof txt, "%s{\"app\":\"x\",\n", good);
    put(test_tmpdir(), "items.jsonl", txt, strlen(txt));
    char want[1200];
    snprintf(want, sizeof want, "%s:2", ip);
    EXPECT_FAIL("score", args, want, "malformed JSON");
    /* answer out of range */
    snprintf(txt, sizeof txt, "%s%s{\"app\":\"x\",\"id\":\"z\",\"query\":\"c\",\"choices\":[\"a\"],\"answer\":1}\n", good,
             good);
    put(test_tmpdir(), "items.jsonl", txt, strlen(txt));
    snprintf(want, sizeof want, "%s:3", ip);
    EXPECT_FAIL("score", args, want, "'answer'");
    /* an unknown word: the item and field are named */
    snprintf(txt, sizeof txt, "%s{\"app\":\"x\",\"id\":\"bad-7\",\"query\":\"c d\",\"choices\":[\"a\"],\"answer\":0}\n",
             good);
    put(test_tmpdir(), "items.jsonl", txt, strlen(txt));
    EXPECT_FAIL("score", args, "'bad-7'", "'query'", "'d'");
    /* the last item does not fit the context (16): nothing is printed for the others */
    char sys[200] = "";
    for (int i = 0; i < 14; i++) strcat(sys, "a ");
    snprintf(txt, sizeof txt, "%s{\"app\":\"y\",\"id\":\"long-1\",\"system\":\"%s\",\"query\":\"c\",\"choices\":[\"a b\"],"
             "\"answer\":0}\n", good, sys);
    put(test_tmpdir(), "items.jsonl", txt, strlen(txt));
    EXPECT_FAIL("score", args, "'long-1'", "exceeds the context of 16");
    /* ... but with the system part dropped it fits */
    snprintf(args, sizeof args, "score --model %s --items %s --drop-system 1", base, ip);
    CHECK(test_cli(&out, "%s", args) == 0 && strstr(out, "y accuracy "));
    free(out);
    /* empty and missing item files */
    put(test_tmpdir(), "items.jsonl", "\n", 1);
    snprintf(args, sizeof args, "score --model %s --items %s", base, ip);
    EXPECT_FAIL("score", args, "no items");
    snprintf(args, sizeof args, "score --model %s --items %s/none.jsonl", base, test_tmpdir());
    EXPECT_FAIL("score", args, "none.jsonl");
    /* a corrupt adapter for --level is named */
    put(test_tmpdir(), "items.jsonl", good, strlen(good));
    char lora[1100];
    snprintf(lora, sizeof lora, "%s/lora", base);
    Err e;
    CHECK(io_mkdirs(lora, &e) == 0);
    put(lora, "level-0.5.safetensors", "garbage!garbage!", 16);
    snprintf(args, sizeof args, "score --model %s --items %s --level 0.5", base, ip);
    EXPECT_FAIL("score", args, "level-0.5.safetensors");
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

TEST(bad_init_leaves_nothing) {
    put(test_tmpdir(), "afile", "x", 1);
    char args[2048];
    snprintf(args, sizeof args, "init --out %s/afile/model --layers 1 --dim 8 --heads 2 --ffn 8 --vocab 8 --ctx 8",
             test_tmpdir());
    EXPECT_FAIL("init", args, "afile", "not a directory");
    snprintf(args, sizeof args, "init --out %s/afile --layers 1 --dim 8 --heads 2 --ffn 8 --vocab 8 --ctx 8",
             test_tmpdir());
    EXPECT_FAIL("init", args, "afile", "not a directory");
    CHECK(count_entries(test_tmpdir()) == 1);
    struct stat st;
    CHECK(stat(test_path("afile"), &st) == 0 && st.st_size == 1);
    /* invalid shapes are usage errors and create nothing */
    char *out;
    const char *bad[] = {"--dim 30 --heads 4", "--heads 4 --kv-heads 3", "--dtype bf16", "--layers 0", "--vocab x",
                         "--ctx 0", "--layers 999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(test_cli(&out, "init --out %s/new %s", test_tmpdir(), bad[i]) == 2, "%s: %s", bad[i], out);
        free(out);
    }
    CHECK(count_entries(test_tmpdir()) == 1);
}

TEST(bad_nonfinite_weights_and_temporary_directories) {
    char base[1024];
    snprintf(base, sizeof base, "%s", test_path("base"));
    make_base(base);
    Model m;
    Err e;
    CHECK_MSG(model_load(&m, base, &e) == 0, "%s", e.msg);
    m.w.layer[1].wq[5] = NAN;
    m.w.layer[0].w_down_t[7] = INFINITY; /* a tensor stored transposed */
    const char *d = test_path("nan");
    CHECK(model_save(&m, d, ST_F32, &e) == 0);
    char args[2048];
    snprintf(args, sizeof args, "logits --model %s --tokens 1", d);
    EXPECT_FAIL("logits", args, "model.safetensors", "model.layers.0.mlp.down_proj.weight", "infinite",
                "ELMS_ALLOW_NONFINITE");
    m.w.layer[0].w_down_t[7] = 0;
    CHECK(model_save(&m, d, ST_F32, &e) == 0);
    snprintf(args, sizeof args, "info --model %s", d);
    EXPECT_FAIL("info", args, "model.layers.1.self_attn.q_proj.weight", "NaN");
    /* the documented opt-out loads it anyway */
    char *out;
    setenv("ELMS_ALLOW_NONFINITE", "1", 1);
    int rc = test_cli(&out, "logits --model %s --tokens 1", d);
    unsetenv("ELMS_ALLOW_NONFINITE");
    CHECK_MSG(rc == 0, "%s", out);
    free(out);
    /* a directory left by an interrupted write (NAME.tmp) is not a model, whatever it holds */
    m.w.layer[1].wq[5] = 0;
    const char *tmp = test_path("checkpoint.tmp");
    CHECK(model_save(&m, tmp, ST_F32, &e) == 0);
    snprintf(args, sizeof args, "info --model %s", tmp);
    EXPECT_FAIL("info", args, "checkpoint.tmp", "temporary directory");
    model_free(&m);
}
