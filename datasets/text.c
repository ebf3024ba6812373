/* text: word-separated string building for the generators (see text.h). */
#include "datasets/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void text_init(Text *t) { memset(t, 0, sizeof *t); }

void text_free(Text *t) {
    free(t->s);
    memset(t, 0, sizeof *t);
}

void text_clear(Text *t) {
    t->len = 0;
    t->n_words = 0;
    if (t->s) t->s[0] = 0;
}

static int reserve(Text *t, size_t extra) {
    if (t->oom) return -1;
    if (t->len + extra + 1 <= t->cap) return 0;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + extra + 1) cap *= 2;
    char *s = realloc(t->s, cap);
    if (!s) {
        t->oom = 1;
        return -1;
    }
    t->s = s;
    t->cap = cap;
    return 0;
}

void text_add(Text *t, const char *s) {
    const char *p = s;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ') q++;
        size_t n = (size_t)(q - p);
        if (reserve(t, n + 1) != 0) return;
        if (t->len) t->s[t->len++] = ' ';
        memcpy(t->s + t->len, p, n);
        t->len += n;
        t->s[t->len] = 0;
        t->n_words++;
        p = q;
    }
}

void text_addf(Text *t, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->oom = 1;
        return;
    }
    if ((size_t)n < sizeof buf) {
        text_add(t, buf);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    text_add(t, big);
    free(big);
}

int text_ok(const Text *t) { return !t->oom; }

char *text_dup(const Text *t) {
    if (t->oom) return NULL;
    return strdup(t->s ? t->s : "");
}

int text_count_words(const char *s) {
    int n = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ') p++;
    }
    return n;
}
