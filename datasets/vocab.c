/* vocab: word counting and the frequency-ordered word-level tokenizer (see vocab.h). */
#include "datasets/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

const char *const vocab_specials[VOCAB_N_SPECIAL] = {"[PAD]", "[UNK]", "[BOS]", "[EOS]"};

void vocab_init(VocabCounter *v) { memset(v, 0, sizeof *v); }

void vocab_free(VocabCounter *v) {
    for (size_t i = 0; i < v->cap; i++) free(v->word[i]);
    free(v->word);
    free(v->count);
    memset(v, 0, sizeof *v);
}

static size_t probe(char *const *word, size_t cap, const char *s, size_t n) {
    size_t i = (size_t)hash_fnv1a(HASH_FNV_OFFSET, s, n) & (cap - 1);
    while (word[i] && !(strlen(word[i]) == n && !memcmp(word[i], s, n))) i = (i + 1) & (cap - 1);
    return i;
}

static int grow(VocabCounter *v) {
    size_t cap = v->cap ? 2 * v->cap : 4096;
    char **word = calloc(cap, sizeof *word);
    long *count = calloc(cap, sizeof *count);
    if (!word || !count) {
        free(word);
        free(count);
        return -1;
    }
    for (size_t i = 0; i < v->cap; i++)
        if (v->word[i]) {
            size_t j = probe(word, cap, v->word[i], strlen(v->word[i]));
            word[j] = v->word[i];
            count[j] = v->count[i];
        }
    free(v->word);
    free(v->count);
    v->word = word;
    v->count = count;
    v->cap = cap;
    return 0;
}

static int add(VocabCounter *v, const char *s, size_t n, long weight) {
    if ((v->n + 1) * 2 > v->cap && grow(v) != 0) return -1;
    size_t i = probe(v->word, v->cap, s, n);
    if (!v->word[i]) {
        if (!(v->word[i] = strndup(s, n))) return -1;
        v->n++;
    }
    v->count[i] += weight;
    return 0;
}

static int is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int vocab_count(VocabCounter *v, const char *text, long weight) {
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        if (is_space(*p)) {
            p++;
            continue;
        }
        const unsigned char *q = p;
        int w = is_word(*p);
        while (*q && !is_space(*q) && is_word(*q) == w) q++;
        if (add(v, (const char *)p, (size_t)(q - p), weight) != 0) return -1;
        p = q;
    }
    return 0;
}

typedef struct WordCount {
    const char *word;
    long count;
} WordCount;

static int cmp_wc(const void *a, const void *b) {
    const WordCount *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

int vocab_tokenizer(const VocabCounter *v, Tokenizer *t, Err *e) {
    size_t n = 0;
    WordCount *wc = malloc((v->n ? v->n : 1) * sizeof *wc);
    const char **pieces = malloc((v->n + VOCAB_N_SPECIAL) * sizeof *pieces);
    if (!wc || !pieces) {
        free(wc);
        free(pieces);
        return err_set(e, "vocabulary: out of memory");
    }
    for (size_t i = 0; i < v->cap; i++) {
        if (!v->word[i]) continue;
        int special = 0;
        for (int s = 0; s < VOCAB_N_SPECIAL; s++) special |= !strcmp(v->word[i], vocab_specials[s]);
        if (!special) wc[n++] = (WordCount){v->word[i], v->count[i]};
    }
    qsort(wc, n, sizeof *wc, cmp_wc);
    for (int s = 0; s < VOCAB_N_SPECIAL; s++) pieces[s] = vocab_specials[s];
    for (size_t i = 0; i < n; i++) pieces[VOCAB_N_SPECIAL + i] = wc[i].word;
    int rc = tokenizer_from_vocab(t, pieces, (int)(n + VOCAB_N_SPECIAL), "[UNK]", e);
    free(wc);
    free(pieces);
    return rc;
}
