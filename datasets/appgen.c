/* appgen: helpers shared by the app generators (see appgen.h). */
#include "datasets/appgen.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>

int appgen_fill(Item *out, const Text *system, const Text *query, const char *const *choices, int n_choices,
                int answer, const int (*spans)[2], int n_spans, Err *e) {
    memset(out, 0, sizeof *out);
    out->system = text_dup(system);
    out->query = text_dup(query);
    out->choices = calloc((size_t)n_choices, sizeof *out->choices);
    if (n_spans > 0) out->relevant = malloc((size_t)n_spans * sizeof *out->relevant);
    int ok = out->system && out->query && out->choices && (n_spans <= 0 || out->relevant);
    out->n_choices = out->choices ? n_choices : 0;
    for (int i = 0; ok && i < n_choices; i++) ok = (out->choices[i] = strdup(choices[i])) != NULL;
    if (!ok) {
        item_free(out);
        return err_set(e, "item generation: out of memory");
    }
    for (int i = 0; i < n_spans; i++) {
        out->relevant[i][0] = spans[i][0];
        out->relevant[i][1] = spans[i][1];
    }
    out->n_relevant = n_spans > 0 ? n_spans : 0;
    out->answer = answer;
    return 0;
}

int appgen_shuffle(gsl_rng *r, const char **choices, int n) {
    int answer = 0;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates, tracking where the correct choice goes */
        int j = (int)gsl_rng_uniform_int(r, (unsigned long)i + 1);
        const char *t = choices[i];
        choices[i] = choices[j];
        choices[j] = t;
        if (answer == i) answer = j;
        else if (answer == j) answer = i;
    }
    return answer;
}

static int contains(const int *a, int n, int v) {
    for (int i = 0; i < n; i++)
        if (a[i] == v) return 1;
    return 0;
}

void appgen_distinct(gsl_rng *r, int n, int k, const int *exclude, int m, int *out) {
    for (int i = 0; i < k; i++) {
        int v;
        do v = (int)gsl_rng_uniform_int(r, (unsigned long)n);
        while (contains(exclude, m, v) || contains(out, i, v));
        out[i] = v;
    }
}

int appgen_has_phrase(const char *text, const char *phrase) {
    size_t n = strlen(phrase);
    if (!n) return 0;
    for (const char *p = strstr(text, phrase); p; p = strstr(p + 1, phrase)) {
        int start_ok = p == text || p[-1] == ' ';
        int end_ok = p[n] == 0 || p[n] == ' ';
        if (start_ok && end_ok) return 1;
    }
    return 0;
}

int appgen_has_any(const char *text, const char *const *phrases, int n) {
    for (int i = 0; i < n; i++)
        if (appgen_has_phrase(text, phrases[i])) return 1;
    return 0;
}

int appgen_words(const char *s, char **buf, char ***words) {
    *buf = strdup(s);
    *words = malloc((strlen(s) / 2 + 2) * sizeof **words);
    if (!*buf || !*words) {
        free(*buf);
        free(*words);
        *buf = NULL;
        *words = NULL;
        return -1;
    }
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(*buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) (*words)[n++] = tok;
    return n;
}

int appgen_index(const char *const *list, int n, const char *w) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], w)) return i;
    return -1;
}

int appgen_recall(const Item *it, gsl_rng *r, Text *out) {
    char *buf, **wd;
    int n = appgen_words(it->system, &buf, &wd);
    if (n < 0) return -1;
    int *entry = malloc((size_t)(n + 1) * sizeof *entry), k = 0; /* first word of each entry */
    if (!entry) {
        free(buf);
        free(wd);
        return -1;
    }
    int i = 0;
    while (i < n && strcmp(wd[i], ":")) i++; /* the list follows the header's ":" */
    for (int start = i + 1, j = i + 1; j < n; j++)
        if (!strcmp(wd[j], ";")) {
            if (j - start >= 2) entry[k++] = start;
            start = j + 1;
        }
    if (k > 0) {
        gsl_ran_shuffle(r, entry, (size_t)k, sizeof *entry);
        text_add(out, "recall :");
        for (int e = 0; e < k; e++)
            for (int j = entry[e]; j < n; j++) {
                text_add(out, wd[j]);
                if (!strcmp(wd[j], ";")) break;
            }
    }
    free(entry);
    free(buf);
    free(wd);
    return k > 0 && text_ok(out) ? k : -1;
}
