/* Tests of engine/io: half-precision conversions against hand-derived values, safetensors round trips (F32 exact,
 * F16 within half precision, BF16 read from a file built by hand), metadata, validation errors, config.json,
 * model directories (save -> load gives identical logits; files hold the Hugging Face layout) and LoRA files. */
#include "base/fileutil.h"
#include "engine/io.h"
#include "engine/model.h"
#include "tests/test.h"
#include "tests/util.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* write_st_raw: a safetensors file from a header string and raw data bytes (hlen written as given). */
static void write_st_raw(const char *path, const char *header, uint64_t hlen, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    unsigned char l8[8];
    for (int i = 0; i < 8; i++) l8[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
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

/* ---- half precision ---- */

TEST(f16_known_values) {
    struct {
        uint16_t h;
        double v;
    } k[] = {
        {0x0000, 0.0},
        {0x0001, ldexp(1, -24)},              /* smallest subnormal */
        {0x0002, ldexp(2, -24)},
        {0x03ff, ldexp(1023, -24)},           /* largest subnormal */
        {0x0400, ldexp(1, -14)},              /* smallest normal */
        {0x3c00, 1.0},
        {0x3c01, 1.0 + ldexp(1, -10)},
        {0xc000, -2.0},
        {0x3555, ldexp(1365, -12)},           /* 0.333251953125 */
        {0x7bff, 65504.0},                    /* largest finite */
        {0xfbff, -65504.0},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        CHECK_MSG(f16_to_f32(k[i].h) == (float)k[i].v, "h=0x%04x -> %.9g, want %.9g", k[i].h, (double)f16_to_f32(k[i].h),
                  k[i].v);
        CHECK_MSG(f32_to_f16((float)k[i].v) == k[i].h, "%.9g -> 0x%04x, want 0x%04x", k[i].v, f32_to_f16((float)k[i].v),
                  k[i].h);
    }
    CHECK(isinf(f16_to_f32(0x7c00)) && f16_to_f32(0x7c00) > 0);
    CHECK(isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0);
    CHECK(isnan(f16_to_f32(0x7e00)));
    CHECK(signbit(f16_to_f32(0x8000)) && f16_to_f32(0x8000) == 0.0f);
    CHECK(f32_to_f16(-0.0f) == 0x8000);
    CHECK(f32_to_f16(INFINITY) == 0x7c00 && f32_to_f16(-INFINITY) == 0xfc00);
    uint16_t hn = f32_to_f16(NAN);
    CHECK_MSG((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff), "NaN -> 0x%04x", hn);
}

TEST(f16_rounding) {
    /* ties go to the even neighbour, everything else to the nearest */
    CHECK(f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00);              /* tie between 0x3c00 and 0x3c01 -> even */
    CHECK(f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02);          /* tie between 0x3c01 and 0x3c02 -> even */
    CHECK(f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01); /* just above the tie */
    CHECK(f32_to_f16(65519.0f) == 0x7bff);                           /* below the midpoint to 65536 */
    CHECK(f32_to_f16(65520.0f) == 0x7c00);                           /* the midpoint rounds to even = inf */
    CHECK(f32_to_f16(1e6f) == 0x7c00 && f32_to_f16(-1e6f) == 0xfc00);
    /* subnormal rounding: units of 2^-24 */
    CHECK(f32_to_f16(ldexpf(1, -25)) == 0x0000);                     /* half a unit: tie -> 0 (even) */
    CHECK(f32_to_f16(ldexpf(1.5f, -25)) == 0x0001);                  /* 0.75 unit */
    CHECK(f32_to_f16(ldexpf(3, -25)) == 0x0002);                     /* 1.5 units: tie -> 2 (even) */
    CHECK(f32_to_f16(ldexpf(5, -25)) == 0x0002);                     /* 2.5 units: tie -> 2 (even) */
    CHECK(f32_to_f16(ldexpf(1, -26)) == 0x0000);
    CHECK(f32_to_f16(-ldexpf(1.5f, -25)) == 0x8001);
    CHECK(f32_to_f16(ldexpf(1023.5f, -24)) == 0x0400);               /* rounds up into the smallest normal */
    CHECK(f32_to_f16(ldexpf(1, -140)) == 0x0000);                    /* f32 subnormal */
    /* every finite half converts to the same value and back (independent formula for the value) */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
        if (e == 0x1f) continue;
        double v = e ? ldexp(1024 + m, (int)e - 25) : ldexp(m, -24);
        if (h & 0x8000) v = -v;
        if (f16_to_f32((uint16_t)h) != (float)v || f32_to_f16((float)v) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
    /* between two adjacent halves the nearest wins */
    int wrong = 0;
    for (uint32_t h = 0x0400; h < 0x7bff; h += 37) {
        float a = f16_to_f32((uint16_t)h), b = f16_to_f32((uint16_t)(h + 1));
        float q1 = a + (b - a) * 0.26f, q3 = a + (b - a) * 0.74f;
        if (f32_to_f16(q1) != h || f32_to_f16(q3) != h + 1) wrong++;
    }
    CHECK_MSG(wrong == 0, "%d nearest-rounding failures", wrong);
}

TEST(bf16_values) {
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(bf16_to_f32(0xc040) == -3.0f);
    CHECK(bf16_to_f32(0x3fc0) == 1.5f);
    CHECK(bf16_to_f32(0x0001) == ldexpf(1, -133)); /* smallest subnormal */
    CHECK(isinf(bf16_to_f32(0x7f80)));
    CHECK(isnan(bf16_to_f32(0x7fc0)));
}

/* ---- safetensors ---- */

static void fill(float *x, size_t n, unsigned long seed, float scale) {
    int *t = malloc(n * sizeof *t);
    util_tokens(t, (int)n, 100000, seed);
    for (size_t i = 0; i < n; i++) x[i] = scale * ((float)t[i] / 50000.0f - 1.0f);
    free(t);
}

TEST(st_roundtrip_f32) {
    float a[7], b[3 * 5], c[2 * 3 * 4];
    fill(a, 7, 1, 3.0f);
    fill(b, 15, 2, 1e-3f);
    fill(c, 24, 3, 1e4f);
    a[0] = 0.0f;
    a[1] = -0.0f;
    a[2] = 1e-40f; /* f32 subnormal survives exactly */
    StWriteTensor w[] = {
        {"vec", a, 1, {7}}, {"mat.weight", b, 2, {3, 5}}, {"cube", c, 3, {2, 3, 4}}, {"empty", NULL, 2, {0, 4}},
    };
    Err e;
    const char *p = test_path("f32.safetensors");
    CHECK_MSG(st_write(p, w, 4, ST_F32, &e) == 0, "%s", e.msg);
    StFile f;
    CHECK_MSG(st_open(&f, p, &e) == 0, "%s", e.msg);
    CHECK(f.n_tensors == 4);
    const StTensor *tt = st_find(&f, "cube");
    CHECK(tt && tt->dtype == ST_F32 && tt->ndim == 3 && tt->shape[0] == 2 && tt->shape[1] == 3 && tt->shape[2] == 4);
    CHECK(st_find(&f, "nope") == NULL);
    float ra[7], rb[15];
    CHECK(st_read_f32(&f, "vec", 7, 0, ra, &e) == 0 && !memcmp(ra, a, sizeof a));
    CHECK(st_read_f32(&f, "mat.weight", 3, 5, rb, &e) == 0 && !memcmp(rb, b, sizeof b));
    CHECK(signbit(ra[1]));
    /* wrong expected shapes are errors naming the tensor */
    CHECK(st_read_f32(&f, "mat.weight", 5, 3, rb, &e) != 0 && strstr(e.msg, "mat.weight") && strstr(e.msg, "[3, 5]"));
    CHECK(st_read_f32(&f, "vec", 7, 1, ra, &e) != 0);
    CHECK(st_read_f32(&f, "missing", 1, 0, ra, &e) != 0 && strstr(e.msg, "missing"));
    /* the data of "cube" is at the offset the header says, little-endian F32 */
    const StTensor *tc = st_find(&f, "cube");
    float c5;
    memcpy(&c5, f.data + tc->offset + 5 * 4, 4);
    CHECK(c5 == c[5]);
    st_close(&f);
    /* header length is a multiple of 8 (data section aligned, as the reference writer does) */
    FILE *fp = fopen(p, "rb");
    unsigned char l8[8];
    CHECK(fread(l8, 1, 8, fp) == 8);
    fclose(fp);
    CHECK(l8[0] % 8 == 0);
    CHECK(count_entries(test_tmpdir()) == 1); /* no temporary file left */
}

TEST(st_roundtrip_f16) {
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    fill(x, N, 7, 100.0f);
    x[0] = 1e-6f; /* subnormal in half precision */
    x[1] = -65504.0f;
    StWriteTensor w[] = {{"x", x, 2, {64, 64}}};
    Err e;
    const char *p = test_path("f16.safetensors");
    CHECK_MSG(st_write(p, w, 1, ST_F16, &e) == 0, "%s", e.msg);
    StFile f;
    CHECK_MSG(st_open(&f, p, &e) == 0, "%s", e.msg);
    CHECK(st_find(&f, "x") && st_find(&f, "x")->dtype == ST_F16 && st_find(&f, "x")->nbytes == 2 * N);
    CHECK(st_read_f32(&f, "x", 64, 64, y, &e) == 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double tol = fmax(fabs((double)x[i]) * ldexp(1, -11), ldexp(1, -25));
        if (fabs((double)x[i] - (double)y[i]) > tol) bad++;
    }
    CHECK_MSG(bad == 0, "%d values outside half precision", bad);
    CHECK(y[1] == -65504.0f);
    st_close(&f);
    free(x);
    free(y);
}

TEST(st_read_bf16_and_f16_by_hand) {
    /* BF16 [2, 2] = {1, -3, 1.5, 0.15625} and F16 [3] = {1, -2, 65504}, built byte by byte */
    const char *hdr = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[8,14]}}";
    unsigned char data[14] = {0x80, 0x3f, 0x40, 0xc0, 0xc0, 0x3f, 0x20, 0x3e, /* bf16 little-endian */
                              0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b};
    const char *p = test_path("bf16.safetensors");
    write_st_raw(p, hdr, strlen(hdr), data, sizeof data);
    StFile f;
    Err e;
    CHECK_MSG(st_open(&f, p, &e) == 0, "%s", e.msg);
    float b[4], h[3];
    CHECK(st_read_f32(&f, "b", 2, 2, b, &e) == 0);
    CHECK(b[0] == 1.0f && b[1] == -3.0f && b[2] == 1.5f && b[3] == 0.15625f);
    CHECK(st_read_f32(&f, "h", 3, 0, h, &e) == 0);
    CHECK(h[0] == 1.0f && h[1] == -2.0f && h[2] == 65504.0f);
    CHECK(st_find(&f, "b")->dtype == ST_BF16);
    st_close(&f);
}

TEST(st_metadata) {
    float a[2] = {1, 2};
    StWriteTensor w[] = {{"a", a, 1, {2}}};
    const char *k[] = {"rank", "alpha"}, *v[] = {"8", "16"};
    Err e;
    const char *p = test_path("meta.safetensors");
    CHECK_MSG(st_write_meta(p, w, 1, ST_F32, k, v, 2, &e) == 0, "%s", e.msg);
    StFile f;
    CHECK_MSG(st_open(&f, p, &e) == 0, "%s", e.msg);
    char buf[16];
    CHECK(st_meta_get(&f, "rank", buf, sizeof buf) == 0 && !strcmp(buf, "8"));
    CHECK(st_meta_get(&f, "alpha", buf, sizeof buf) == 0 && !strcmp(buf, "16"));
    CHECK(st_meta_get(&f, "other", buf, sizeof buf) != 0);
    CHECK(f.n_tensors == 1);
    st_close(&f);
    StDtype d;
    CHECK(st_dtype_parse("f16", &d) == 0 && d == ST_F16);
    CHECK(st_dtype_parse("BF16", &d) == 0 && d == ST_BF16);
    CHECK(st_dtype_parse("f8", &d) != 0);
}

/* expect_st_error: st_open of a file with this header/data fails with a message containing the path and want. */
static int st_error_has(const char *name, const char *hdr, int64_t hlen_delta, size_t data_len, const char *want,
                        char *msg) {
    const char *p = test_path(name);
    unsigned char data[64] = {0};
    write_st_raw(p, hdr, (uint64_t)((int64_t)strlen(hdr) + hlen_delta), data, data_len);
    StFile f;
    Err e = {{0}};
    int rc = st_open(&f, p, &e);
    if (rc == 0) st_close(&f);
    snprintf(msg, 1024, "%s", e.msg);
    return rc != 0 && strstr(e.msg, p) && strstr(e.msg, want);
}

TEST(st_validation) {
    char msg[1024];
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK_MSG(!st_error_has("ok.st", ok, 0, 8, "zzz", msg) && msg[0] == 0, "%s", msg);
    CHECK_MSG(st_error_has("hlen.st", ok, 1000, 8, "header length", msg), "%s", msg);
    CHECK_MSG(st_error_has("json.st", "{\"a\":{\"dtype\":", 0, 0, "malformed JSON", msg), "%s", msg);
    CHECK_MSG(st_error_has("dtype.st", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 0, 8,
                           "unsupported dtype 'I64'", msg), "%s", msg);
    CHECK_MSG(st_error_has("out.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8,
                           "outside the data section", msg), "%s", msg);
    CHECK_MSG(st_error_has("size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 8,
                           "needs 12", msg), "%s", msg);
    CHECK_MSG(st_error_has("overlap.st",
                           "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                           0, 16, "overlap", msg), "%s", msg);
    CHECK_MSG(st_error_has("neg.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8,
                           "shape[0]", msg), "%s", msg);
    CHECK_MSG(st_error_has("rev.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 0, 8,
                           "before begin", msg), "%s", msg);
    CHECK_MSG(st_error_has("offs.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"x\"}}", 0, 8,
                           "data_offsets", msg), "%s", msg);
    CHECK_MSG(st_error_has("arr.st", "[1,2,3]", 0, 0, "not a JSON object", msg), "%s", msg);
    CHECK_MSG(st_error_has("dup.st",
                           "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                           0, 8, "twice", msg), "%s", msg);
    CHECK_MSG(st_error_has("meta.st", "{\"__metadata__\":{\"rank\":8}}", 0, 0, "not a string", msg), "%s", msg);
    /* files shorter than the 8-byte length field */
    const char *p = test_path("tiny.st");
    write_bytes(p, "abc", 3);
    StFile f;
    Err e;
    CHECK(st_open(&f, p, &e) != 0 && strstr(e.msg, "truncated") && strstr(e.msg, p));
    CHECK(st_open(&f, test_path("absent.st"), &e) != 0 && strstr(e.msg, "absent.st"));
    /* writing: BF16 output is refused */
    float a = 1;
    StWriteTensor w[] = {{"a", &a, 1, {1}}};
    CHECK(st_write(test_path("bf.st"), w, 1, ST_BF16, &e) != 0);
}

/* ---- config.json ---- */

TEST(config_roundtrip) {
    ModelConfig c = util_config();
    c.tied = true;
    c.bos_id = 1;
    c.eos_id = 2;
    c.norm_eps = 1e-6f;
    c.rope_theta = 500000.0f;
    c.head_dim = 16; /* differs from dim / n_heads */
    Err e;
    const char *p = test_path("config.json");
    CHECK_MSG(config_write(p, &c, &e) == 0, "%s", e.msg);
    ModelConfig d;
    CHECK_MSG(config_read(p, &d, &e) == 0, "%s", e.msg);
    CHECK(d.dim == c.dim && d.n_layers == c.n_layers && d.n_heads == c.n_heads && d.n_kv_heads == c.n_kv_heads);
    CHECK(d.head_dim == 16 && d.ffn_dim == c.ffn_dim && d.vocab_size == c.vocab_size && d.max_seq == c.max_seq);
    CHECK(d.norm_eps == c.norm_eps && d.rope_theta == c.rope_theta && d.tied && d.bos_id == 1 && d.eos_id == 2);
    char *txt;
    CHECK(io_read_file(p, &txt, NULL, &e) == 0);
    CHECK(strstr(txt, "\"rms_norm_eps\":\t1e-06") != NULL);
    free(txt);
}

TEST(config_hf_defaults) {
    /* a minimal Hugging Face config: defaults for kv heads, head_dim, rope_theta, tying; eos given as a list */
    const char *js = "{\"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 5,"
                     " \"num_attention_heads\": 8, \"vocab_size\": 512, \"max_position_embeddings\": 512,"
                     " \"rms_norm_eps\": 1e-05, \"eos_token_id\": [7, 9], \"bos_token_id\": null,"
                     " \"rope_scaling\": null, \"torch_dtype\": \"bfloat16\"}";
    const char *p = test_path("hf.json");
    write_bytes(p, js, strlen(js));
    ModelConfig c;
    Err e;
    CHECK_MSG(config_read(p, &c, &e) == 0, "%s", e.msg);
    CHECK(c.n_kv_heads == 8 && c.head_dim == 8 && c.rope_theta == 10000.0f && !c.tied && c.bos_id == -1 &&
          c.eos_id == 7);
}

static int config_error_has(const char *js, const char *want, char *msg) {
    const char *p = test_path("bad.json");
    write_bytes(p, js, strlen(js));
    ModelConfig c;
    Err e = {{0}};
    int rc = config_read(p, &c, &e);
    snprintf(msg, 1024, "%s", e.msg);
    return rc != 0 && strstr(e.msg, p) && strstr(e.msg, want);
}

TEST(config_errors) {
    char m[1024];
#define BASE "\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"vocab_size\": 10, \"max_position_embeddings\": 8, " \
             "\"rms_norm_eps\": 1e-5"
    CHECK_MSG(config_error_has("{" BASE ", \"num_attention_heads\": 2}", "'hidden_size'", m), "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": \"8\", \"num_attention_heads\": 2}", "'hidden_size'", m),
              "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 0, \"num_attention_heads\": 2}", "'hidden_size'", m), "%s",
              m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 8.5, \"num_attention_heads\": 2}", "'hidden_size'", m),
              "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 12, \"num_attention_heads\": 3, \"num_key_value_heads\": 2}",
                               "multiple of num_key_value_heads", m), "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 10, \"num_attention_heads\": 4}", "multiple of", m), "%s",
              m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 8, \"num_attention_heads\": 2, \"tie_word_embeddings\": 1}",
                               "tie_word_embeddings", m), "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 8, \"num_attention_heads\": 2, \"rope_theta\": -1}",
                               "rope_theta", m), "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 8, \"num_attention_heads\": 2, \"hidden_act\": \"gelu\"}",
                               "hidden_act", m), "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 8, \"num_attention_heads\": 2, \"rope_scaling\": {}}",
                               "rope_scaling", m), "%s", m);
    CHECK_MSG(config_error_has("{" BASE ", \"hidden_size\": 8, \"num_attention_heads\": 2, \"bos_token_id\": 99}",
                               "vocab_size", m), "%s", m);
    CHECK_MSG(config_error_has("{\"hidden_size\": 8,", "malformed JSON", m), "%s", m);
    CHECK_MSG(config_error_has("[]", "not a JSON object", m), "%s", m);
#undef BASE
    ModelConfig c;
    Err e;
    CHECK(config_read(test_path("none.json"), &c, &e) != 0 && strstr(e.msg, "none.json"));
}

/* ---- model directories ---- */

static void logits_of(const Model *m, const int *tok, int n, float *out) {
    ElasticView v;
    view_full(m, &v);
    Err e;
    if (model_logits(m, &v, tok, n, out, &e) != 0) {
        fprintf(stderr, "model_logits: %s\n", e.msg);
        abort();
    }
}

static void save_load_case(TestCtx *t, bool tied, StDtype dtype, const char *name) {
    ModelConfig c = util_config();
    c.tied = tied;
    c.bos_id = 3;
    Model m, r;
    util_model(&m, &c, 11);
    const char *dir = test_path(name);
    Err e;
    CHECK_MSG(model_save(&m, dir, dtype, &e) == 0, "%s", e.msg);
    CHECK_MSG(model_load(&r, dir, &e) == 0, "%s", e.msg);
    if (r.params) {
        CHECK(r.n_params == m.n_params && r.cfg.tied == tied && r.cfg.bos_id == 3 && r.cfg.eos_id == -1);
        enum { N = 12 };
        int tok[N];
        util_tokens(tok, N, c.vocab_size, 5);
        size_t nl = (size_t)N * c.vocab_size;
        float *a = malloc(nl * sizeof *a), *b = malloc(nl * sizeof *b);
        logits_of(&m, tok, N, a);
        logits_of(&r, tok, N, b);
        if (dtype == ST_F32) {
            CHECK(!memcmp(m.params, r.params, m.n_params * sizeof(float)));
            CHECK(!memcmp(a, b, nl * sizeof *a));
        } else {
            double d = util_max_abs_diff(a, b, nl), scale = 0;
            for (size_t i = 0; i < nl; i++) scale = fmax(scale, fabs(a[i]));
            CHECK_MSG(d <= 2e-2 * scale && d > 0, "f16 logits differ by %g (scale %g)", d, scale);
        }
        free(a);
        free(b);
        model_free(&r);
    }
    /* the directory holds exactly config.json and model.safetensors */
    CHECK(count_entries(dir) == 2);
    model_free(&m);
}

TEST(model_save_load_identical_logits) {
    save_load_case(t, false, ST_F32, "m_untied");
    save_load_case(t, true, ST_F32, "m_tied");
    save_load_case(t, false, ST_F16, "m_f16");
}

TEST(model_file_is_hf_layout) {
    /* o_proj and down_proj in the file are the transposes of the in-memory wo_t / w_down_t; q_proj is as is */
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 3);
    const char *dir = test_path("hf");
    Err e;
    CHECK_MSG(model_save(&m, dir, ST_F32, &e) == 0, "%s", e.msg);
    StFile f;
    char p[1100];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK_MSG(st_open(&f, p, &e) == 0, "%s", e.msg);
    int qd = c.n_heads * c.head_dim;
    float *o = malloc((size_t)c.dim * qd * sizeof *o), *dn = malloc((size_t)c.dim * c.ffn_dim * sizeof *dn);
    float *q = malloc((size_t)c.dim * qd * sizeof *q);
    CHECK(st_read_f32(&f, "model.layers.1.self_attn.o_proj.weight", c.dim, qd, o, &e) == 0);
    CHECK(st_read_f32(&f, "model.layers.2.mlp.down_proj.weight", c.dim, c.ffn_dim, dn, &e) == 0);
    CHECK(st_read_f32(&f, "model.layers.0.self_attn.q_proj.weight", qd, c.dim, q, &e) == 0);
    int bad = 0;
    for (int i = 0; i < c.dim; i++) {
        for (int j = 0; j < qd; j++) bad += o[i * qd + j] != m.w.layer[1].wo_t[j * c.dim + i];
        for (int j = 0; j < c.ffn_dim; j++) bad += dn[i * c.ffn_dim + j] != m.w.layer[2].w_down_t[j * c.dim + i];
    }
    CHECK(!memcmp(q, m.w.layer[0].wq, (size_t)c.dim * qd * sizeof *q));
    CHECK_MSG(bad == 0, "%d transposed elements differ", bad);
    CHECK(st_find(&f, "lm_head.weight") != NULL && f.n_tensors == 3 + 9 * c.n_layers);
    free(o);
    free(dn);
    free(q);
    st_close(&f);
    model_free(&m);
}

TEST(model_load_errors) {
    ModelConfig c = util_config();
    Model m, r;
    util_model(&m, &c, 4);
    Err e;
    const char *dir = test_path("base");
    CHECK(model_save(&m, dir, ST_F32, &e) == 0);
    char wp[1100], cp[1100];
    snprintf(wp, sizeof wp, "%s/model.safetensors", dir);
    snprintf(cp, sizeof cp, "%s/config.json", dir);
    /* a config with one more layer than the file: missing tensor */
    ModelConfig c2 = c;
    c2.n_layers = 4;
    CHECK(config_write(cp, &c2, &e) == 0);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "missing tensor 'model.layers.3.") && strstr(e.msg, wp));
    /* one fewer: an unexpected tensor */
    c2.n_layers = 2;
    CHECK(config_write(cp, &c2, &e) == 0);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "unexpected tensor 'model.layers.2."));
    /* a different width: wrong shape naming the tensor */
    c2 = c;
    c2.ffn_dim = 40;
    CHECK(config_write(cp, &c2, &e) == 0);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "mlp.gate_proj.weight' has shape [48, 32], expected [40, 32]"));
    /* tied config but the file has lm_head: accepted (ignored); untied without lm_head: missing */
    c2 = c;
    c2.tied = true;
    CHECK(config_write(cp, &c2, &e) == 0);
    CHECK_MSG(model_load(&r, dir, &e) == 0, "%s", e.msg);
    if (r.params) model_free(&r);
    Model mt;
    util_model(&mt, &c2, 4);
    CHECK(model_save(&mt, dir, ST_F32, &e) == 0);
    CHECK(config_write(cp, &c, &e) == 0);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "missing tensor 'lm_head.weight'"));
    model_free(&mt);
    /* missing files */
    remove(wp);
    CHECK(model_load(&r, dir, &e) != 0 && strstr(e.msg, "model.safetensors") && strstr(e.msg, "missing"));
    CHECK(model_load(&r, test_path("nowhere"), &e) != 0 && strstr(e.msg, "nowhere"));
    model_free(&m);
}

TEST(model_save_failure_leaves_nothing) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 4);
    Err e;
    const char *file = test_path("plain");
    write_bytes(file, "x", 1);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/sub/model", file);
    CHECK(model_save(&m, dir, ST_F32, &e) != 0 && strstr(e.msg, "not a directory"));
    CHECK(count_entries(test_tmpdir()) == 1);
    /* replacing an existing model keeps other files and leaves no temporary files */
    const char *d2 = test_path("keep");
    CHECK(model_save(&m, d2, ST_F16, &e) == 0);
    char tok[1100];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", d2);
    write_bytes(tok, "{}", 2);
    CHECK(model_save(&m, d2, ST_F32, &e) == 0);
    CHECK(count_entries(d2) == 3);
    model_free(&m);
}

/* ---- LoRA ---- */

TEST(lora_roundtrip) {
    ModelConfig c = util_config();
    Lora a, b;
    Err e;
    CHECK_MSG(lora_alloc(&a, &c, 4, 8.0f, &e) == 0, "%s", e.msg);
    fill(a.params, a.n_params, 9, 0.5f);
    const char *p = test_path("lora/level-0.5.safetensors");
    CHECK_MSG(lora_save(&a, &c, p, &e) == 0, "%s", e.msg);
    CHECK_MSG(lora_load(&b, &c, p, &e) == 0, "%s", e.msg);
    CHECK(b.rank == 4 && b.alpha == 8.0f && b.n_params == a.n_params);
    if (b.params) CHECK(!memcmp(a.params, b.params, a.n_params * sizeof(float)));
    /* the file uses PEFT names and shapes: A (r, in), B (out, r) */
    StFile f;
    CHECK(st_open(&f, p, &e) == 0);
    const StTensor *ta = st_find(&f, "base_model.model.model.layers.2.mlp.down_proj.lora_A.weight");
    const StTensor *tb = st_find(&f, "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight");
    CHECK(ta && ta->shape[0] == 4 && ta->shape[1] == c.ffn_dim);
    CHECK(tb && tb->shape[0] == c.n_kv_heads * c.head_dim && tb->shape[1] == 4);
    if (ta) {
        float x;
        memcpy(&x, f.data + ta->offset + 4 * 3, 4);
        CHECK(x == a.layer[2].a_down[3]);
    }
    char buf[16];
    CHECK(st_meta_get(&f, "rank", buf, sizeof buf) == 0 && !strcmp(buf, "4"));
    CHECK(st_meta_get(&f, "alpha", buf, sizeof buf) == 0 && !strcmp(buf, "8"));
    st_close(&f);
    /* an adapter for another shape is refused, naming the tensor */
    ModelConfig c2 = c;
    c2.ffn_dim = 40;
    Lora z;
    CHECK(lora_load(&z, &c2, p, &e) != 0 && strstr(e.msg, "mlp.gate_proj.lora_B.weight"));
    /* no metadata: refused, naming the field */
    StWriteTensor w[] = {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", a.params, 2, {4, c.dim}}};
    const char *p2 = test_path("nometa.safetensors");
    CHECK(st_write(p2, w, 1, ST_F32, &e) == 0);
    CHECK(lora_load(&z, &c, p2, &e) != 0 && strstr(e.msg, "rank") && strstr(e.msg, "nometa"));
    lora_free(&a);
    if (b.params) lora_free(&b);
}

/* ---- plain files ---- */

TEST(io_files) {
    Err e;
    const char *p = test_path("a/b/c");
    CHECK(io_mkdirs(p, &e) == 0);
    CHECK(io_mkdirs(p, &e) == 0); /* idempotent */
    CHECK(path_is_dir(p));
    const char *fp = test_path("a/b/file.txt");
    CHECK(io_write_atomic(fp, "hello\n", 6, &e) == 0);
    CHECK(io_write_atomic(fp, "bye\n", 4, &e) == 0);
    char *txt;
    size_t n;
    CHECK(io_read_file(fp, &txt, &n, &e) == 0 && n == 4 && !strcmp(txt, "bye\n"));
    free(txt);
    CHECK(count_entries(test_path("a/b")) == 2);
    CHECK(io_mkdirs(test_path("a/b/file.txt/x"), &e) != 0 && strstr(e.msg, "not a directory"));
    CHECK(io_write_atomic(test_path("a/missing/f"), "x", 1, &e) != 0 && strstr(e.msg, "a/missing/f"));
    CHECK(io_read_file(test_path("a/nothing"), &txt, &n, &e) != 0 && strstr(e.msg, "nothing"));
    CHECK(io_read_file(test_path("a"), &txt, &n, &e) != 0);
}
