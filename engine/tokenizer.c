/* tokenizer: word-level tokenizer.json (Hugging Face "WordLevel" model, "Whitespace" pre-tokenizer) with an
 * open-addressing hash table for piece -> id and verbatim matching of added (special) tokens. */
#include "engine/tokenizer.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/io.h"

/* The opaque part of a Tokenizer: the hash table and the list of added tokens. */
typedef struct TokMap {
    int *slots;       /* (cap) ids, -1 = empty; cap is a power of two >= 2 * vocab_size */
    size_t cap;
    int *added;       /* (n_added) ids of tokens matched verbatim in text, longest first */
    int n_added;
    int lowercase;    /* normalizer: Lowercase */
    int split_punct;  /* 1: Whitespace (\w+ | [^\w\s]+), 0: WhitespaceSplit (runs of non-space) */
} TokMap;

/* map_find: id of the piece s[0..n), or -1. */
static int map_find(const Tokenizer *t, const char *s, size_t n) {
    const TokMap *m = t->map;
    if (!m) return -1;
    for (size_t i = hash_fnv1a(HASH_FNV_OFFSET, s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int id = m->slots[i];
        if (id < 0) return -1;
        const char *p = t->id_to_piece[id];
        if (strlen(p) == n && !memcmp(p, s, n)) return id;
    }
}

/* map_insert: add id (its piece must not be present yet). */
static void map_insert(Tokenizer *t, int id) {
    TokMap *m = t->map;
    const char *p = t->id_to_piece[id];
    size_t i = hash_fnv1a(HASH_FNV_OFFSET, p, strlen(p)) & (m->cap - 1);
    while (m->slots[i] >= 0) i = (i + 1) & (m->cap - 1);
    m->slots[i] = id;
}

static int is_word(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* is_plain_piece: a piece the pre-tokenizer can produce on its own (all \w, or all [^\w\s]); other pieces are
 * only reachable as added tokens. */
static int is_plain_piece(const char *p) {
    if (!*p) return 0;
    int w = is_word((unsigned char)p[0]);
    for (const char *q = p; *q; q++)
        if (is_space((unsigned char)*q) || is_word((unsigned char)*q) != w) return 0;
    return 1;
}

static int special_name(const char *p, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(p, names[i])) return 1;
    return 0;
}

static const char *const k_bos[] = {"<s>", "[BOS]", "<bos>", "<|begin_of_text|>", "<|startoftext|>", NULL};
static const char *const k_eos[] = {"</s>", "[EOS]", "<eos>", "<|end_of_text|>", "<|endoftext|>", NULL};
static const char *const k_pad[] = {"<pad>", "[PAD]", "<|pad|>", NULL};
static const char *const k_unk[] = {"<unk>", "[UNK]", NULL};

void tokenizer_free(Tokenizer *t) {
    if (t->id_to_piece)
        for (int i = 0; i < t->vocab_size; i++) free(t->id_to_piece[i]);
    free(t->id_to_piece);
    TokMap *m = t->map;
    if (m) {
        free(m->slots);
        free(m->added);
        free(m);
    }
    memset(t, 0, sizeof *t);
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
}

/* tok_init: allocate n empty pieces and the table. */
static int tok_init(Tokenizer *t, int n, Err *e) {
    memset(t, 0, sizeof *t);
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
    if (n < 1) return err_set(e, "empty vocabulary");
    t->vocab_size = n;
    t->id_to_piece = calloc((size_t)n, sizeof *t->id_to_piece);
    TokMap *m = calloc(1, sizeof *m);
    t->map = m;
    if (!t->id_to_piece || !m) return err_set(e, "out of memory");
    m->cap = 16;
    while (m->cap < 2 * (size_t)n) m->cap *= 2;
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots) return err_set(e, "out of memory");
    for (size_t i = 0; i < m->cap; i++) m->slots[i] = -1;
    m->split_punct = 1;
    return 0;
}

/* tok_finish: index every piece, detect special ids, collect added tokens (non-plain pieces and is_added[i]). */
static int tok_finish(Tokenizer *t, const unsigned char *is_added, Err *e) {
    TokMap *m = t->map;
    for (int i = 0; i < t->vocab_size; i++) {
        const char *p = t->id_to_piece[i];
        if (!p) return err_set(e, "token id %d has no piece (ids must be dense from 0)", i);
        if (!*p) return err_set(e, "token id %d has an empty piece", i);
        int dup = map_find(t, p, strlen(p));
        if (dup >= 0) return err_set(e, "piece '%.64s' has two ids (%d and %d)", p, dup, i);
        map_insert(t, i);
        if (t->bos_id < 0 && special_name(p, k_bos)) t->bos_id = i;
        if (t->eos_id < 0 && special_name(p, k_eos)) t->eos_id = i;
        if (t->pad_id < 0 && special_name(p, k_pad)) t->pad_id = i;
    }
    m->added = malloc((size_t)t->vocab_size * sizeof *m->added);
    if (!m->added) return err_set(e, "out of memory");
    for (int i = 0; i < t->vocab_size; i++)
        if ((is_added && is_added[i]) || !is_plain_piece(t->id_to_piece[i])) m->added[m->n_added++] = i;
    /* longest first, so that "[EOS]x" style overlaps pick the longest match; ties by id (stable order) */
    for (int i = 1; i < m->n_added; i++) {
        int v = m->added[i], j = i;
        size_t lv = strlen(t->id_to_piece[v]);
        while (j > 0 && strlen(t->id_to_piece[m->added[j - 1]]) < lv) {
            m->added[j] = m->added[j - 1];
            j--;
        }
        m->added[j] = v;
    }
    return 0;
}

int tokenizer_from_vocab(Tokenizer *t, const char *const *pieces, int n, const char *unk, Err *e) {
    if (tok_init(t, n, e) != 0) {
        tokenizer_free(t);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (!pieces[i]) {
            tokenizer_free(t);
            return err_set(e, "piece %d is NULL", i);
        }
        if (!(t->id_to_piece[i] = strdup(pieces[i]))) {
            tokenizer_free(t);
            return err_set(e, "out of memory");
        }
    }
    if (tok_finish(t, NULL, e) != 0) {
        tokenizer_free(t);
        return -1;
    }
    if (unk) {
        t->unk_id = tokenizer_id(t, unk);
        if (t->unk_id < 0) {
            tokenizer_free(t);
            return err_set(e, "unk token '%s' is not in the vocabulary", unk);
        }
    }
    return 0;
}

/* json_id: a JSON number that is an integer id in [0, limit). */
static int json_id(const cJSON *v, int limit, int *out) {
    long x;
    if (!v || io_json_int(v, NULL, 0, (long)limit - 1, &x, "", NULL) != 0) return -1;
    *out = (int)x;
    return 0;
}

static int load_json(Tokenizer *t, const char *path, const cJSON *r, Err *e) {
    if (!cJSON_IsObject(r)) return err_set(e, "%s: not a JSON object", path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r, "model");
    if (!cJSON_IsObject(model)) return err_set(e, "%s: missing object 'model'", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "WordLevel"))
        return err_set(e, "%s: model.type must be \"WordLevel\"%s%.32s%s (only word-level tokenizers are supported)",
                       path, cJSON_IsString(type) ? ", got \"" : "", cJSON_IsString(type) ? type->valuestring : "",
                       cJSON_IsString(type) ? "\"" : "");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return err_set(e, "%s: missing object 'model.vocab' {piece: id}", path);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(r, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return err_set(e, "%s: 'added_tokens' must be a list", path);
    /* the vocabulary size is the largest id + 1 over vocab and added tokens */
    const int limit = 1 << 24;
    int n = 0, id = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (json_id(it, limit, &id) != 0)
            return err_set(e, "%s: model.vocab['%.64s'] must be an integer id in [0, %d)", path, it->string, limit);
        if (id + 1 > n) n = id + 1;
    }
    int idx = 0;
    cJSON_ArrayForEach(it, added) {
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "id"), *cc = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (json_id(cid, limit, &id) != 0 || !cJSON_IsString(cc) || !*cc->valuestring)
            return err_set(e, "%s: added_tokens[%d] needs an integer 'id' and a non-empty string 'content'", path, idx);
        if (id + 1 > n) n = id + 1;
        idx++;
    }
    /* ids are dense from 0, so n pieces need n entries: refused before a table of n is allocated (a lone id of
     * 16777215 would otherwise cost hundreds of MB before the gap is found) */
    if (n > cJSON_GetArraySize(vocab) + idx)
        return err_set(e, "%s: token id %d but only %d entries in model.vocab and added_tokens (ids must be dense "
                          "from 0)",
                       path, n - 1, cJSON_GetArraySize(vocab) + idx);
    if (tok_init(t, n, e) != 0) return err_prefix(e, "%s", path);
    unsigned char *is_added = calloc((size_t)n, 1);
    if (!is_added) return err_set(e, "%s: out of memory", path);
    int rc = 0;
    cJSON_ArrayForEach(it, vocab) {
        json_id(it, limit, &id);
        if (!*it->string) {
            rc = err_set(e, "%s: model.vocab has an empty piece (id %d)", path, id);
            break;
        }
        if (t->id_to_piece[id]) {
            rc = err_set(e, "%s: model.vocab: id %d used by '%.64s' and '%.64s'", path, id, t->id_to_piece[id],
                         it->string);
            break;
        }
        if (!(t->id_to_piece[id] = strdup(it->string))) {
            rc = err_set(e, "%s: out of memory", path);
            break;
        }
    }
    idx = 0;
    cJSON_ArrayForEach(it, added) {
        if (rc) break;
        json_id(cJSON_GetObjectItemCaseSensitive(it, "id"), limit, &id);
        const char *content = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        if (t->id_to_piece[id] && strcmp(t->id_to_piece[id], content)) {
            rc = err_set(e, "%s: added_tokens[%d] '%.64s' has id %d, which model.vocab gives to '%.64s'", path, idx,
                         content, id, t->id_to_piece[id]);
            break;
        }
        if (!t->id_to_piece[id] && !(t->id_to_piece[id] = strdup(content))) rc = err_set(e, "%s: out of memory", path);
        is_added[id] = 1;
        idx++;
    }
    if (!rc && tok_finish(t, is_added, e) != 0) rc = err_prefix(e, "%s", path);
    free(is_added);
    if (rc) return -1;
    TokMap *m = t->map;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (unk && !cJSON_IsNull(unk) && !cJSON_IsString(unk)) return err_set(e, "%s: model.unk_token must be a string", path);
    /* as in the reference implementation, an unk_token absent from the vocabulary makes unknown words errors */
    if (cJSON_IsString(unk)) t->unk_id = tokenizer_id(t, unk->valuestring);
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(r, "pre_tokenizer");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (!cJSON_IsString(pt) || (strcmp(pt->valuestring, "Whitespace") && strcmp(pt->valuestring, "WhitespaceSplit")))
        return err_set(e, "%s: pre_tokenizer must be {\"type\": \"Whitespace\"} (or \"WhitespaceSplit\")", path);
    m->split_punct = !strcmp(pt->valuestring, "Whitespace");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(r, "normalizer");
    if (norm && !cJSON_IsNull(norm)) {
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(norm, "type");
        if (!cJSON_IsString(nt) || strcmp(nt->valuestring, "Lowercase"))
            return err_set(e, "%s: normalizer must be null or {\"type\": \"Lowercase\"}", path);
        m->lowercase = 1;
    }
    return 0;
}

int tokenizer_load(Tokenizer *t, const char *path, Err *e) {
    memset(t, 0, sizeof *t);
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
    cJSON *r;
    if (io_read_json(path, &r, e) != 0) return -1;
    int rc = load_json(t, path, r, e);
    cJSON_Delete(r);
    if (rc) tokenizer_free(t);
    return rc;
}

int tokenizer_id(const Tokenizer *t, const char *piece) { return piece ? map_find(t, piece, strlen(piece)) : -1; }

/* match_added: the id of the longest added token starting at s, or -1; *len gets its length. */
static int match_added(const Tokenizer *t, const char *s, size_t *len) {
    const TokMap *m = t->map;
    for (int i = 0; i < m->n_added; i++) {
        const char *p = t->id_to_piece[m->added[i]];
        if (p[0] != s[0]) continue;
        size_t n = strlen(p);
        if (!strncmp(s, p, n)) {
            *len = n;
            return m->added[i];
        }
    }
    return -1;
}

int tokenizer_encode(const Tokenizer *t, const char *text, int **out, Err *e) {
    *out = NULL;
    if (!t->map) return err_set(e, "tokenizer not loaded");
    const TokMap *m = t->map;
    size_t n = strlen(text), cnt = 0, cap = 16;
    int *ids = malloc(cap * sizeof *ids);
    char *low = NULL;
    if (m->lowercase && (low = malloc(n + 1))) {
        for (size_t i = 0; i <= n; i++) low[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
        text = low;
    }
    if (!ids || (m->lowercase && !low)) {
        free(ids);
        free(low);
        return err_set(e, "out of memory");
    }
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)text[i];
        size_t len = 0;
        int id = match_added(t, text + i, &len);
        if (id < 0) {
            if (is_space(c)) {
                i++;
                continue;
            }
            /* a run of one class, stopping at whitespace, a class change (Whitespace) or an added token */
            int w = is_word(c);
            len = 1;
            while (i + len < n) {
                unsigned char d = (unsigned char)text[i + len];
                size_t l2;
                if (is_space(d) || (m->split_punct && is_word(d) != w) || match_added(t, text + i + len, &l2) >= 0)
                    break;
                len++;
            }
            id = map_find(t, text + i, len);
            if (id < 0) id = t->unk_id;
            if (id < 0) {
                int rc = err_set(e, "unknown word '%.*s' at byte %zu (the tokenizer has no unk token)",
                                 (int)(len > 64 ? 64 : len), text + i, i);
                free(ids);
                free(low);
                return rc;
            }
        }
        if (cnt == cap) {
            int *nb = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!nb) {
                free(ids);
                free(low);
                return err_set(e, "out of memory");
            }
            ids = nb;
        }
        ids[cnt++] = id;
        i += len;
    }
    free(low);
    if (cnt > (size_t)2147483647) {
        free(ids);
        return err_set(e, "text too long");
    }
    *out = ids;
    return (int)cnt;
}

char *tokenizer_decode(const Tokenizer *t, const int *ids, int n) {
    size_t len = 1;
    char tmp[32];
    for (int i = 0; i < n; i++) {
        if (ids[i] >= 0 && ids[i] < t->vocab_size) len += strlen(t->id_to_piece[ids[i]]) + 1;
        else len += (size_t)snprintf(tmp, sizeof tmp, "[%d?]", ids[i]) + 1;
    }
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) {
        if (i) *p++ = ' ';
        if (ids[i] >= 0 && ids[i] < t->vocab_size) {
            size_t k = strlen(t->id_to_piece[ids[i]]);
            memcpy(p, t->id_to_piece[ids[i]], k);
            p += k;
        } else {
            p += snprintf(p, len - (size_t)(p - s), "[%d?]", ids[i]);
        }
    }
    *p = 0;
    return s;
}

int tokenizer_save(const Tokenizer *t, const char *path, Err *e) {
    const TokMap *m = t->map;
    if (!m) return err_set(e, "%s: tokenizer not loaded", path);
    cJSON *r = cJSON_CreateObject();
    if (!r) return err_set(e, "%s: out of memory", path);
    cJSON_AddStringToObject(r, "version", "1.0");
    cJSON_AddNullToObject(r, "truncation");
    cJSON_AddNullToObject(r, "padding");
    cJSON *added = cJSON_AddArrayToObject(r, "added_tokens");
    /* added tokens in id order */
    for (int id = 0; added && id < t->vocab_size; id++) {
        int is_added = 0;
        for (int k = 0; k < m->n_added && !is_added; k++) is_added = m->added[k] == id;
        if (!is_added) continue;
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddNumberToObject(o, "id", id);
        cJSON_AddStringToObject(o, "content", t->id_to_piece[id]);
        cJSON_AddBoolToObject(o, "single_word", 0);
        cJSON_AddBoolToObject(o, "lstrip", 0);
        cJSON_AddBoolToObject(o, "rstrip", 0);
        cJSON_AddBoolToObject(o, "normalized", 0);
        cJSON_AddBoolToObject(o, "special", 1);
        cJSON_AddItemToArray(added, o);
    }
    if (m->lowercase) {
        cJSON *n = cJSON_AddObjectToObject(r, "normalizer");
        if (n) cJSON_AddStringToObject(n, "type", "Lowercase");
    } else {
        cJSON_AddNullToObject(r, "normalizer");
    }
    cJSON *pre = cJSON_AddObjectToObject(r, "pre_tokenizer");
    if (pre) cJSON_AddStringToObject(pre, "type", m->split_punct ? "Whitespace" : "WhitespaceSplit");
    cJSON_AddNullToObject(r, "post_processor");
    cJSON_AddNullToObject(r, "decoder");
    cJSON *model = cJSON_AddObjectToObject(r, "model");
    if (model) {
        cJSON_AddStringToObject(model, "type", "WordLevel");
        cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
        for (int id = 0; vocab && id < t->vocab_size; id++) cJSON_AddNumberToObject(vocab, t->id_to_piece[id], id);
        /* the reference format requires a string; with no unk, name one that is not in the vocabulary */
        const char *unk = t->unk_id >= 0 ? t->id_to_piece[t->unk_id] : NULL;
        for (int k = 0; !unk && k_unk[k]; k++)
            if (tokenizer_id(t, k_unk[k]) < 0) unk = k_unk[k];
        cJSON_AddStringToObject(model, "unk_token", unk ? unk : "<|no-unk|>");
    }
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    if (!s) return err_set(e, "%s: out of memory", path);
    int rc = io_write_atomic(path, s, strlen(s), e);
    free(s);
    return rc;
}
