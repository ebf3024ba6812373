/* seeds: writes the committed seed corpora of the fuzz harnesses (fuzz/corpus/NAME/) with the project's own
 * writers, so that every seed is a file the loaders accept, plus a few near-valid variants.
 *   usage: elms-fuzz-seeds OUTDIR      (make fuzz-seeds runs it with OUTDIR = fuzz/corpus)
 * Seeds are kept to a few KB per harness: tiny shapes, F16 weights where possible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/items.h"
#include "elastic/elastic_meta.h"
#include "engine/data.h"
#include "engine/io.h"
#include "engine/tokenizer.h"
#include "fuzz/fuzz.h"
#include "sim/profile.h"
#include "traces/trace.h"

static const char *g_out;

static void die(const char *what, const Err *e) {
    fprintf(stderr, "fuzz-seeds: %s: %s\n", what, e ? e->msg : "failed");
    exit(1);
}

/* out: g_out/name/file (the harness directory is created). */
static const char *out(const char *name, const char *file) {
    static char p[2048];
    snprintf(p, sizeof p, "%s/%s", g_out, name);
    mkdir(g_out, 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", g_out, name, file);
    return p;
}

static void put(const char *name, const char *file, const void *data, size_t n) {
    const char *p = out(name, file);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) die(p, NULL);
}

static void put_text(const char *name, const char *file, const char *text) { put(name, file, text, strlen(text)); }

static char *slurp(const char *path, size_t *len) {
    char *buf;
    Err e;
    if (io_read_file(path, &buf, len, &e)) die("read", &e);
    return buf;
}

/* model_seed: config.json + FUZZ_MODEL_SPLIT + model.safetensors of a random model of shape c (dtype). With
 * bad_layers > 0 the config claims that many layers (a config that does not describe the weights). */
static void model_seed(const char *file, const ModelConfig *c, StDtype dtype, int bad_layers) {
    Model m;
    Err e;
    if (model_alloc(&m, c, &e)) die("model", &e);
    model_init_random(&m, 11);
    const char *dir = fuzz_path("seed-model");
    if (model_save(&m, dir, dtype, &e)) die("model_save", &e);
    model_free(&m);
    char cpath[1300], wpath[1300];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    size_t clen, wlen, slen = strlen(FUZZ_MODEL_SPLIT);
    char *cfg = slurp(cpath, &clen), *w = slurp(wpath, &wlen);
    if (bad_layers > 0) {
        ModelConfig bad = *c;
        bad.n_layers = bad_layers;
        free(cfg);
        cfg = config_json(&bad);
        clen = strlen(cfg);
    }
    char *all = malloc(clen + slen + wlen);
    memcpy(all, cfg, clen);
    memcpy(all + clen, FUZZ_MODEL_SPLIT, slen);
    memcpy(all + clen + slen, w, wlen);
    put("model", file, all, clen + slen + wlen);
    free(all);
    free(cfg);
    free(w);
}

static void seeds_model(void) {
    ModelConfig c;
    fuzz_tiny_config(&c);
    c.n_layers = 1;
    c.tied = true;
    model_seed("tiny-f16-tied", &c, ST_F16, 0);
    model_seed("tiny-f16-config-says-3-layers", &c, ST_F16, 3);
    ModelConfig d = c;
    d.dim = 4;
    d.head_dim = 2;
    d.ffn_dim = 4;
    d.vocab_size = 8;
    d.max_seq = 4;
    d.tied = false;
    model_seed("dim4-f32-untied", &d, ST_F32, 0);
    ModelConfig g = d;
    g.n_heads = 2;
    g.n_kv_heads = 2;
    g.n_layers = 2;
    g.tied = true;
    g.bos_id = -1;
    g.eos_id = -1;
    model_seed("dim4-f16-2layers-mha", &g, ST_F16, 0);
}

static void seeds_lora(void) {
    ModelConfig c;
    fuzz_tiny_config(&c);
    Lora a;
    Err e;
    if (lora_alloc(&a, &c, 1, 2.0f, &e)) die("lora", &e);
    lora_init(&a, 3);
    for (size_t i = 0; i < a.n_params; i++) a.params[i] = 0.01f * (float)(i % 7);
    if (lora_save(&a, &c, out("lora", "rank1"), &e)) die("lora_save", &e);
    lora_free(&a);
}

static void seeds_config(void) {
    ModelConfig c;
    fuzz_tiny_config(&c);
    char *t = config_json(&c);
    put_text("config", "tiny", t);
    free(t);
    c.tied = true;
    c.bos_id = c.eos_id = -1;
    c.n_kv_heads = 2;
    c.rope_theta = 500000.0f;
    t = config_json(&c);
    put_text("config", "tied-mha", t);
    free(t);
    put_text("config", "hf-llama",
             "{\"architectures\": [\"LlamaForCausalLM\"], \"bos_token_id\": 1, \"eos_token_id\": [2, 3],\n"
             " \"hidden_act\": \"silu\", \"hidden_size\": 64, \"intermediate_size\": 172,\n"
             " \"max_position_embeddings\": 256, \"model_type\": \"llama\", \"num_attention_heads\": 4,\n"
             " \"num_hidden_layers\": 2, \"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-06,\n"
             " \"rope_scaling\": null, \"rope_theta\": 10000.0, \"tie_word_embeddings\": false,\n"
             " \"attention_bias\": false, \"mlp_bias\": false, \"torch_dtype\": \"float32\", \"vocab_size\": 320}\n");
}

static void seeds_tokenizer(void) {
    const char *words[] = {"<unk>", "<s>", "</s>", "<pad>", "the", "cat", "sat", "on", "mats", ",", "!", "42",
                           "[SEP]"};
    Tokenizer t;
    Err e;
    if (tokenizer_from_vocab(&t, words, (int)(sizeof words / sizeof words[0]), "<unk>", &e)) die("tokenizer", &e);
    if (tokenizer_save(&t, out("tokenizer", "wordlevel"), &e)) die("tokenizer_save", &e);
    tokenizer_free(&t);
    put_text("tokenizer", "lowercase-split",
             "{\"added_tokens\": [{\"id\": 0, \"content\": \"[UNK]\"}, {\"id\": 3, \"content\": \"[EOS]\"}],\n"
             " \"normalizer\": {\"type\": \"Lowercase\"}, \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"},\n"
             " \"model\": {\"type\": \"WordLevel\", \"vocab\": {\"[UNK]\": 0, \"a\": 1, \"b.\": 2, \"[EOS]\": 3},\n"
             " \"unk_token\": \"[UNK]\"}}\n");
}

static void seeds_elastic_meta(void) {
    ModelConfig c;
    fuzz_tiny_config(&c);
    ElasticMeta x;
    Err e;
    if (elastic_meta_alloc(&x, &c, &e)) die("elastic", &e);
    x.n_anchors = 1;
    x.anchors[0] = 0;
    x.calib_samples = 4;
    x.calib_seq = 8;
    x.calib_seed = 1;
    snprintf(x.corpus, sizeof x.corpus, "corpus/train.bin");
    snprintf(x.source, sizeof x.source, "tiny");
    x.calib_loss = 2.5;
    for (int l = 0; l < c.n_layers; l++) {
        x.loo_loss[l] = 2.6 + 0.1 * l;
        for (int u = 0; u < c.ffn_dim; u++) {
            x.ffn_order[l * c.ffn_dim + u] = (u * 3 + l) % c.ffn_dim;
            x.ffn_imp[l * c.ffn_dim + u] = 1.0 / (1 + u);
        }
        x.attn_imp[l] = 0.5;
    }
    x.n_levels = 2;
    double lv[2] = {1.0, 0.5};
    for (int k = 0; k < 2; k++) {
        x.levels[k].level = lv[k];
        x.levels[k].param_fraction = lv[k];
        for (int l = 0; l < c.n_layers; l++) {
            x.levels[k].attn_units[l] = 1;
            x.levels[k].ffn_units[l] = l == 0 ? c.ffn_dim : (int)(c.ffn_dim * lv[k]);
        }
    }
    x.max_abs_diff = 1e-6;
    if (elastic_meta_write(&x, out("elastic_meta", "two-levels"), &e)) die("elastic_meta_write", &e);
    elastic_meta_free(&x);
}

static void seeds_train_state(void) {
    fuzz_train_state_setup();
    size_t n;
    char *s = slurp(fuzz_path("ckpt-full/state.json"), &n);
    put("train_state", "full", s, n);
    free(s);
    s = slurp(fuzz_path("ckpt-lora/state.json"), &n);
    put("train_state", "lora", s, n);
    free(s);
}

static void seeds_traces(void) {
    Trace t;
    Err e;
    trace_init(&t);
    TraceRequest r[3] = {
        {.id = 0, .arrival_s = 0.0, .item = -1, .slo_ttft = 0.8, .slo_tpot = 0.9, .output_tokens = 3,
         .prompt_tokens = 90},
        {.id = 1, .arrival_s = 1.25, .item = -1, .slo_ttft = 300, .slo_tpot = 60, .slo_ttft_ms = true,
         .slo_tpot_ms = true, .output_tokens = 12, .prompt_tokens = 7},
        {.id = 2, .arrival_s = TRACE_SEQUENTIAL, .slo_ttft = 0.5, .slo_tpot = 0.5, .output_tokens = 1,
         .prompt_tokens = -1},
    };
    const char *apps[3] = {"facts", "science", "custom"};
    for (int i = 0; i < 3; i++) {
        r[i].app = strtab_intern(&t.apps, apps[i]);
        if (i == 2) r[i].item = strtab_intern(&t.items, "custom-17");
        if (trace_add(&t, &r[i], &e)) die("trace", &e);
    }
    if (trace_write(&t, out("trace_jsonl", "three"), &e)) die("trace_write", &e);
    trace_free(&t);
    put_text("trace_jsonl", "defaults", "{\"id\":5,\"app\":\"uinav\",\"item\":\"uinav-3\"}\n\n"
                                        "{\"id\":6,\"arrival_s\":null,\"app\":\"reading\",\"prompt_tokens\":4}\n");
    put_text("trace_elastilm", "two",
             "[[\"Q: what?\", [\"a\", \"b\"], 1, [0.8, 0.9], 17, \"OBQA\"],\n"
             " [\"P: how?\", [\"x\", \"y\", \"z\"], 0, [0.5, 1.0], \"q-3\", \"piqa\"]]\n");
    put_text("trace_csv", "three", "arrived_at,num_prefill_tokens,num_decode_tokens\n"
                                   "10.5,120,8\n11.0,\"64\",1\n12.25,7,30\n");
    put_text("trace_csv", "extra-columns", "request_id, num_decode_tokens ,arrived_at,num_prefill_tokens\r\n"
                                           "a,3,0,5\r\nb,1,0.5,2\r\n");
}

static void seeds_profile(void) {
    const char *names[3] = {"normalized", "host", "sd8gen3-llama2-7b-q4"};
    for (int i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, "sim/profiles/%s.json", names[i]);
        size_t n;
        char *s = slurp(path, &n);
        put("profile", names[i], s, n);
        free(s);
    }
    /* a format 1 profile (no "format": one cost per weight byte), still read (docs/formats.md) */
    put_text("profile", "format1",
             "{\"name\": \"old\", \"device\": \"d\", \"source\": \"s\",\n"
             " \"target\": {\"name\": \"t\", \"layer_params\": 6225920, \"head_params\": 559616,\n"
             "  \"embed_params\": 0,"
             "  \"kv_elems_per_token\": 4096, \"bytes_per_param\": 4, \"kv_bytes_per_elem\": 4, \"source\": \"s\"},\n"
             " \"prefill\": {\"a_ms\": 0.45, \"b_ms_per_token\": 0.088, \"c_ms_per_token2\": 1e-4,\n"
             "  \"source\": \"s\"},\n"
             " \"decode\": {\"const_ms\": 0, \"ms_per_weight_byte\": 2.0e-08, \"ms_per_kv_byte\": 6.2e-08, "
             "\"source\": \"s\"},\n"
             " \"fit\": {\"prefill_mape\": 6.3, \"decode_mape\": 33.7}}\n");
}

static void seeds_items(void) {
    char *choices0[3] = {"yes", "no", "the cat"}, *choices1[2] = {"A", "B"};
    int rel[1][2] = {{0, 2}};
    Item it[2] = {
        {.app = "facts", .id = "facts-1", .system = "the cat is a dog .", .query = "what is the cat ?",
         .choices = choices0, .n_choices = 3, .answer = 2, .relevant = rel, .n_relevant = 1},
        {.app = "facts", .id = "facts-2", .system = "", .query = "A or B ?", .choices = choices1, .n_choices = 2,
         .answer = 0},
    };
    ItemSet s = {it, 2};
    Err e;
    if (items_write(&s, out("items", "two"), &e)) die("items_write", &e);
}

static void seeds_token_data(void) {
    unsigned char buf[4 + 4 * 40];
    buf[0] = 3; /* seq 4 */
    buf[1] = 1; /* seed */
    buf[2] = 2; /* epoch */
    buf[3] = 1; /* window */
    for (int i = 0; i < 40; i++) {
        unsigned v = (unsigned)(i * 37 + 1) % 256;
        buf[4 + 4 * i] = (unsigned char)v;
        buf[5 + 4 * i] = buf[6 + 4 * i] = buf[7 + 4 * i] = 0;
    }
    put("token_data", "forty", buf, sizeof buf);
    put("token_data", "one-token", buf, 8);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    seeds_model();
    seeds_lora();
    seeds_config();
    seeds_tokenizer();
    seeds_elastic_meta();
    seeds_train_state();
    seeds_traces();
    seeds_profile();
    seeds_items();
    seeds_token_data();
    return 0;
}
