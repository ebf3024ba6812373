/* Tests of engine/tokenizer: word-level encoding (words, punctuation runs, special tokens, unknown words),
 * decoding, tokenizer.json save/load round trip, reading a hand-written Hugging Face file, and bad files. */
#include "engine/io.h"
#include "engine/tokenizer.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

static const char *const kPieces[] = {"[PAD]", "[BOS]", "[EOS]", "[UNK]", "the", "cat", "sat", ".", "?", "!?",
                                      "on", "mat", "_x1", ",", "(", ")", "42", "<s>"};
enum { kN = sizeof kPieces / sizeof kPieces[0] };

/* enc_is: encoding text gives exactly the ids want (n of them). */
static int enc_is(const Tokenizer *tk, const char *text, const int *want, int n) {
    int *ids;
    Err e;
    int got = tokenizer_encode(tk, text, &ids, &e);
    int ok = got == n && (n == 0 || !memcmp(ids, want, (size_t)n * sizeof *ids));
    if (!ok) {
        fprintf(stderr, "  encode('%s') gave %d ids:", text, got);
        for (int i = 0; i < got; i++) fprintf(stderr, " %d", ids[i]);
        fputc('\n', stderr);
    }
    if (got >= 0) free(ids);
    return ok;
}

TEST(tokenizer_encode_words_and_punct) {
    Tokenizer tk;
    Err e;
    CHECK_MSG(tokenizer_from_vocab(&tk, kPieces, kN, "[UNK]", &e) == 0, "%s", e.msg);
    CHECK(tk.vocab_size == kN && tk.unk_id == 3 && tk.bos_id == 1 && tk.eos_id == 2 && tk.pad_id == 0);
    CHECK(tokenizer_id(&tk, "cat") == 5 && tokenizer_id(&tk, "dog") == -1 && tokenizer_id(&tk, "ca") == -1);
    CHECK(enc_is(&tk, "the cat sat", (int[]){4, 5, 6}, 3));
    CHECK(enc_is(&tk, "  the\tcat\n\nsat  ", (int[]){4, 5, 6}, 3));
    CHECK(enc_is(&tk, "cat.", (int[]){5, 7}, 2));                /* word then punctuation */
    CHECK(enc_is(&tk, "on the mat!?", (int[]){10, 4, 11, 9}, 4)); /* a punctuation run is one piece */
    CHECK(enc_is(&tk, "(42),_x1", (int[]){14, 16, 3, 12}, 4));   /* "),": an unknown run -> [UNK] */
    CHECK(enc_is(&tk, "the dog sat", (int[]){4, 3, 6}, 3));      /* unknown word -> [UNK] */
    CHECK(enc_is(&tk, "[BOS]the cat[EOS]", (int[]){1, 4, 5, 2}, 4)); /* special tokens verbatim */
    CHECK(enc_is(&tk, "[BOS] [UNK] [PAD]", (int[]){1, 3, 0}, 3));
    CHECK(enc_is(&tk, "<s>cat", (int[]){17, 5}, 2));
    CHECK(enc_is(&tk, "[bos]", (int[]){3, 3, 3}, 3));            /* "[", "bos", "]" are unknown pieces */
    CHECK(enc_is(&tk, "", NULL, 0));
    CHECK(enc_is(&tk, "   ", NULL, 0));
    CHECK(enc_is(&tk, "caf\xc3\xa9", (int[]){3, 3}, 2));          /* non-ASCII bytes are not \w (ASCII rule) */
    char *s = tokenizer_decode(&tk, (int[]){1, 4, 5, 7}, 4);
    CHECK(s && !strcmp(s, "[BOS] the cat ."));
    free(s);
    s = tokenizer_decode(&tk, (int[]){4, 99}, 2);
    CHECK(s && strstr(s, "the ") == s && strstr(s, "99"));
    free(s);
    tokenizer_free(&tk);
}

TEST(tokenizer_unknown_without_unk) {
    Tokenizer tk;
    Err e;
    CHECK(tokenizer_from_vocab(&tk, kPieces, kN, NULL, &e) == 0);
    CHECK(tk.unk_id == -1);
    int *ids = NULL;
    CHECK(tokenizer_encode(&tk, "the zebra", &ids, &e) < 0 && strstr(e.msg, "'zebra'"));
    CHECK(ids == NULL);
    tokenizer_free(&tk);
    /* bad vocabularies */
    const char *dup[] = {"a", "b", "a"};
    CHECK(tokenizer_from_vocab(&tk, dup, 3, NULL, &e) != 0 && strstr(e.msg, "'a'"));
    CHECK(tokenizer_from_vocab(&tk, kPieces, kN, "[NOPE]", &e) != 0 && strstr(e.msg, "[NOPE]"));
}

TEST(tokenizer_save_load_roundtrip) {
    Tokenizer tk, r;
    Err e;
    CHECK(tokenizer_from_vocab(&tk, kPieces, kN, "[UNK]", &e) == 0);
    const char *p = test_path("tokenizer.json");
    CHECK_MSG(tokenizer_save(&tk, p, &e) == 0, "%s", e.msg);
    CHECK_MSG(tokenizer_load(&r, p, &e) == 0, "%s", e.msg);
    CHECK(r.vocab_size == tk.vocab_size && r.unk_id == 3 && r.bos_id == 1 && r.eos_id == 2 && r.pad_id == 0);
    for (int i = 0; i < kN && r.id_to_piece; i++) CHECK(!strcmp(r.id_to_piece[i], kPieces[i]));
    CHECK(enc_is(&r, "[BOS]the cat sat on the mat!?[EOS]", (int[]){1, 4, 5, 6, 10, 4, 11, 9, 2}, 9));
    /* the file is Hugging Face's format: WordLevel model, Whitespace pre-tokenizer, specials in added_tokens */
    char *txt;
    CHECK(io_read_file(p, &txt, NULL, &e) == 0);
    CHECK(strstr(txt, "\"WordLevel\"") && strstr(txt, "\"Whitespace\"") && strstr(txt, "\"added_tokens\""));
    CHECK(strstr(txt, "\"content\":\t\"[BOS]\"") && !strstr(txt, "\"content\":\t\"cat\""));
    CHECK(strstr(txt, "\"unk_token\":\t\"[UNK]\""));
    free(txt);
    tokenizer_free(&r);
    /* without an unk token the saved file still names one (required by the format) that is not in the vocab */
    Tokenizer n;
    CHECK(tokenizer_from_vocab(&n, kPieces, kN, NULL, &e) == 0);
    CHECK(tokenizer_save(&n, p, &e) == 0);
    CHECK(tokenizer_load(&r, p, &e) == 0 && r.unk_id == -1);
    tokenizer_free(&r);
    tokenizer_free(&n);
    tokenizer_free(&tk);
}

TEST(tokenizer_hf_file) {
    /* a file as the Hugging Face library writes it (pretty-printed, extra fields, ids out of order) */
    const char *js =
        "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
        "  \"added_tokens\": [\n"
        "    {\"id\": 0, \"content\": \"<unk>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false,"
        " \"normalized\": false, \"special\": true},\n"
        "    {\"id\": 5, \"content\": \"<|sep|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false,"
        " \"normalized\": false, \"special\": true}\n  ],\n"
        "  \"normalizer\": {\"type\": \"Lowercase\"},\n  \"pre_tokenizer\": {\"type\": \"Whitespace\"},\n"
        "  \"post_processor\": null,\n  \"decoder\": null,\n"
        "  \"model\": {\"type\": \"WordLevel\", \"vocab\": {\"hello\": 2, \"<unk>\": 0, \"world\": 1, \"</s>\": 3,"
        " \"<s>\": 4}, \"unk_token\": \"<unk>\"}\n}\n";
    const char *p = test_path("hf.json");
    Err e;
    CHECK(io_write_atomic(p, js, strlen(js), &e) == 0);
    Tokenizer tk;
    CHECK_MSG(tokenizer_load(&tk, p, &e) == 0, "%s", e.msg);
    CHECK(tk.vocab_size == 6 && tk.unk_id == 0 && tk.bos_id == 4 && tk.eos_id == 3 && tk.pad_id == -1);
    CHECK(enc_is(&tk, "Hello<|sep|>WORLD there", (int[]){2, 5, 1, 0}, 4));
    tokenizer_free(&tk);
}

static int load_error_has(const char *js, const char *want, char *msg) {
    const char *p = test_path("bad.json");
    Err e = {{0}};
    if (io_write_atomic(p, js, strlen(js), &e) != 0) return 0;
    Tokenizer tk;
    int rc = tokenizer_load(&tk, p, &e);
    if (rc == 0) tokenizer_free(&tk);
    snprintf(msg, 1024, "%s", e.msg);
    return rc != 0 && strstr(e.msg, p) && strstr(e.msg, want);
}

TEST(tokenizer_bad_files) {
    char m[1024];
#define WS "\"pre_tokenizer\": {\"type\": \"Whitespace\"}"
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}, " WS "}", "WordLevel", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\"}, " WS "}", "model.vocab", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": \"0\"}}, " WS "}",
                             "model.vocab['a']", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"b\": 0}}, " WS "}",
                             "id 0", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"b\": 2}}, " WS "}",
                             "token id 2 but only 2 entries", m), "%s", m);
    /* a gap is found from the entry count, before a table as large as the largest id is allocated */
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"b\": 16777215}}, "
                             WS "}", "ids must be dense", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"b\": 2}}, " WS
                             ", \"added_tokens\": [{\"id\": 1, \"content\": \"[X]\"}]}", "", m) == 0,
              "an added token may fill the gap: %s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}, "
                             "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "pre_tokenizer", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}, " WS
                             ", \"added_tokens\": [{\"id\": 0, \"content\": \"[X]\"}]}", "added_tokens[0]", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}, " WS
                             ", \"normalizer\": {\"type\": \"NFKC\"}}", "normalizer", m), "%s", m);
    CHECK_MSG(load_error_has("{\"model\": ", "malformed JSON", m), "%s", m);
#undef WS
    Tokenizer tk;
    Err e;
    CHECK(tokenizer_load(&tk, test_path("absent.json"), &e) != 0 && strstr(e.msg, "absent.json"));
}

TEST(tokenizer_large_vocab_hash) {
    /* many pieces: every one maps back to its id (exercises collisions and probing) */
    enum { N = 20000 };
    char **p = malloc(N * sizeof *p);
    for (int i = 0; i < N; i++) {
        p[i] = malloc(16);
        snprintf(p[i], 16, "w%d", i * 7919 % 100003);
    }
    Tokenizer tk;
    Err e;
    CHECK_MSG(tokenizer_from_vocab(&tk, (const char *const *)p, N, NULL, &e) == 0, "%s", e.msg);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += tokenizer_id(&tk, p[i]) != i;
    CHECK(bad == 0);
    CHECK(tokenizer_id(&tk, "w100004") == -1);
    tokenizer_free(&tk);
    for (int i = 0; i < N; i++) free(p[i]);
    free(p);
}
