/* items: multiple-choice items as JSONL (read with per-line errors, written atomically), their tokenisation, and
 * the prompt layout [BOS] + kept system tokens + query shared by scoring and training. */
#include "datasets/items.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "engine/tokenizer.h"

void item_free(Item *it) {
    free(it->app);
    free(it->id);
    free(it->system);
    free(it->query);
    if (it->choices)
        for (int i = 0; i < it->n_choices; i++) free(it->choices[i]);
    free(it->choices);
    free(it->relevant);
    memset(it, 0, sizeof *it);
}

void items_free(ItemSet *s) {
    for (int i = 0; i < s->n; i++) item_free(&s->items[i]);
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

/* dup_string: the string field key of o into *out; required unless optional (then "" when absent). */
static int dup_string(const cJSON *o, const char *key, int optional, char **out, const char *where, Err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v && optional) {
        *out = strdup("");
    } else if (cJSON_IsString(v)) {
        *out = strdup(v->valuestring);
    } else if (cJSON_IsNumber(v) && !strcmp(key, "id")) { /* numeric ids are accepted and kept as text */
        char buf[40];
        double d;
        if (io_json_double(v, NULL, -HUGE_VAL, HUGE_VAL, &d, where, e)) return err_prefix(e, "field 'id'");
        snprintf(buf, sizeof buf, "%.17g", d);
        *out = strdup(buf);
    } else {
        return err_set(e, "%s: field '%s' %s", where, key, v ? "must be a string" : "is missing (a string)");
    }
    return *out ? 0 : err_set(e, "%s: out of memory", where);
}

/* int_of: a JSON number that is an integer in [lo, hi]. */
static int int_of(const cJSON *v, long lo, long hi, int *out) {
    long x;
    if (!v || io_json_int(v, NULL, lo, hi, &x, "", NULL) != 0) return -1;
    *out = (int)x;
    return 0;
}

/* parse_item: one JSON object into it; where = "FILE:LINE". */
static int parse_item(const cJSON *o, Item *it, const char *where, Err *e) {
    memset(it, 0, sizeof *it);
    if (!cJSON_IsObject(o)) return err_set(e, "%s: expected a JSON object", where);
    if (dup_string(o, "app", 0, &it->app, where, e) || dup_string(o, "id", 0, &it->id, where, e) ||
        dup_string(o, "system", 1, &it->system, where, e) || dup_string(o, "query", 0, &it->query, where, e))
        return -1;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) < 1)
        return err_set(e, "%s: field 'choices' must be a non-empty list of strings", where);
    int n = cJSON_GetArraySize(ch);
    it->choices = calloc((size_t)n, sizeof *it->choices);
    if (!it->choices) return err_set(e, "%s: out of memory", where);
    it->n_choices = n;
    for (int i = 0; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(ch, i);
        if (!cJSON_IsString(c) || !*c->valuestring)
            return err_set(e, "%s: field 'choices[%d]' must be a non-empty string", where, i);
        if (!(it->choices[i] = strdup(c->valuestring))) return err_set(e, "%s: out of memory", where);
    }
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answer");
    if (int_of(ans, 0, n - 1, &it->answer) != 0)
        return err_set(e, "%s: field 'answer' must be an integer index in [0, %d]", where, n - 1);
    const cJSON *rel = cJSON_GetObjectItemCaseSensitive(o, "relevant");
    if (rel && !cJSON_IsNull(rel)) {
        if (!cJSON_IsArray(rel)) return err_set(e, "%s: field 'relevant' must be a list of [start, end] pairs", where);
        int k = cJSON_GetArraySize(rel);
        if (k) {
            it->relevant = calloc((size_t)k, sizeof *it->relevant);
            if (!it->relevant) return err_set(e, "%s: out of memory", where);
        }
        for (int i = 0; i < k; i++) {
            const cJSON *p = cJSON_GetArrayItem(rel, i);
            int s, en;
            if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || int_of(cJSON_GetArrayItem(p, 0), 0, 1e9, &s) ||
                int_of(cJSON_GetArrayItem(p, 1), 0, 1e9, &en) || en < s)
                return err_set(e, "%s: field 'relevant[%d]' must be [start, end] with 0 <= start <= end", where, i);
            it->relevant[i][0] = s;
            it->relevant[i][1] = en;
        }
        it->n_relevant = k;
    }
    return 0;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

int items_read(ItemSet *s, const char *path, Err *e) {
    s->items = NULL;
    s->n = 0;
    char *txt;
    size_t len;
    if (io_read_file(path, &txt, &len, e) != 0) return -1;
    if (strlen(txt) != len) {
        free(txt);
        return err_set(e, "%s: contains a NUL byte (not a JSONL text file)", path);
    }
    int cap = 0, rc = 0, line = 0;
    char where[1100];
    for (size_t pos = 0; pos < len && !rc;) {
        char *nl = memchr(txt + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - txt) : len;
        line++;
        if (!is_blank(txt + pos, end - pos)) {
            snprintf(where, sizeof where, "%s:%d", path, line);
            if (s->n == cap) {
                int nc = cap ? 2 * cap : 64;
                Item *ni = realloc(s->items, (size_t)nc * sizeof *ni);
                if (!ni) {
                    rc = err_set(e, "%s: out of memory", where);
                    break;
                }
                s->items = ni;
                cap = nc;
            }
            cJSON *o;
            if (io_json_parse(txt + pos, end - pos, where, &o, e)) {
                rc = -1;
            } else {
                rc = parse_item(o, &s->items[s->n], where, e);
                s->n++; /* counted even on failure so that items_free releases its parts */
            }
            cJSON_Delete(o);
        }
        pos = end + 1;
    }
    free(txt);
    if (rc) items_free(s);
    return rc;
}

/* item_json: one item as a JSON object (NULL when out of memory). */
static cJSON *item_json(const Item *it) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "app", it->app ? it->app : "");
    cJSON_AddStringToObject(o, "id", it->id ? it->id : "");
    cJSON_AddStringToObject(o, "system", it->system ? it->system : "");
    cJSON_AddStringToObject(o, "query", it->query ? it->query : "");
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    for (int i = 0; ch && i < it->n_choices; i++) cJSON_AddItemToArray(ch, cJSON_CreateString(it->choices[i]));
    cJSON_AddNumberToObject(o, "answer", it->answer);
    if (it->n_relevant > 0) {
        cJSON *rel = cJSON_AddArrayToObject(o, "relevant");
        for (int i = 0; rel && i < it->n_relevant; i++) {
            cJSON *p = cJSON_CreateArray();
            cJSON_AddItemToArray(p, cJSON_CreateNumber(it->relevant[i][0]));
            cJSON_AddItemToArray(p, cJSON_CreateNumber(it->relevant[i][1]));
            cJSON_AddItemToArray(rel, p);
        }
    }
    return o;
}

int items_write(const ItemSet *s, const char *path, Err *e) {
    IoAtomic a;
    if (io_atomic_open(&a, path, e) != 0) return -1;
    for (int i = 0; i < s->n; i++) {
        const Item *it = &s->items[i];
        if (it->n_choices < 1 || it->answer < 0 || it->answer >= it->n_choices) {
            io_atomic_abort(&a);
            return err_set(e, "%s: item %d ('%s') has answer %d outside its %d choices", path, i,
                           it->id ? it->id : "", it->answer, it->n_choices);
        }
        cJSON *o = item_json(it);
        char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!txt) {
            io_atomic_abort(&a);
            return err_set(e, "%s: out of memory", path);
        }
        fputs(txt, a.f);
        fputc('\n', a.f);
        free(txt);
    }
    return io_atomic_commit(&a, e);
}

void encoded_item_free(EncodedItem *x) {
    free(x->system);
    free(x->query);
    if (x->choices)
        for (int i = 0; i < x->n_choices; i++) free(x->choices[i]);
    free(x->choices);
    free(x->choice_len);
    memset(x, 0, sizeof *x);
}

int item_encode(const struct Tokenizer *t, const Item *it, EncodedItem *out, Err *e) {
    memset(out, 0, sizeof *out);
    const char *id = it->id ? it->id : "?";
    if (it->n_choices < 1) return err_set(e, "item '%s': no choices", id);
    if (it->answer < 0 || it->answer >= it->n_choices)
        return err_set(e, "item '%s': answer %d outside [0, %d)", id, it->answer, it->n_choices);
    out->answer = it->answer;
    int n = tokenizer_encode(t, it->system ? it->system : "", &out->system, e);
    if (n < 0) return err_prefix(e, "item '%s' field 'system'", id);
    out->n_system = n;
    n = tokenizer_encode(t, it->query ? it->query : "", &out->query, e);
    if (n < 0) {
        encoded_item_free(out);
        return err_prefix(e, "item '%s' field 'query'", id);
    }
    out->n_query = n;
    out->choices = calloc((size_t)it->n_choices, sizeof *out->choices);
    out->choice_len = calloc((size_t)it->n_choices, sizeof *out->choice_len);
    if (!out->choices || !out->choice_len) {
        encoded_item_free(out);
        return err_set(e, "item '%s': out of memory", id);
    }
    out->n_choices = it->n_choices;
    for (int i = 0; i < it->n_choices; i++) {
        n = tokenizer_encode(t, it->choices[i] ? it->choices[i] : "", &out->choices[i], e);
        if (n < 0) {
            encoded_item_free(out);
            return err_prefix(e, "item '%s' field 'choices[%d]'", id, i);
        }
        out->choice_len[i] = n;
        if (n == 0) {
            encoded_item_free(out);
            return err_set(e, "item '%s' field 'choices[%d]': encodes to no tokens (a choice needs at least one)",
                           id, i);
        }
    }
    return 0;
}

int item_prompt(const EncodedItem *x, const unsigned char *keep, int bos_id, int *out) {
    int n = 0;
    if (bos_id >= 0) out[n++] = bos_id;
    for (int i = 0; i < x->n_system; i++)
        if (!keep || keep[i]) out[n++] = x->system[i];
    for (int i = 0; i < x->n_query; i++) out[n++] = x->query[i];
    return n;
}
