/* keepmask: seeded uniform keep-masks (see keepmask.h). */
#include "base/keepmask.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

uint64_t keepmask_seed(unsigned long run_seed, const char *tag, const char *app, const char *item, double ratio) {
    long permille = (long)(ratio * 1000 + 0.5);
    uint64_t h = HASH_FNV_OFFSET;
    if (tag) h = hash_fnv1a(h, tag, strlen(tag) + 1);
    h = hash_fnv1a(h, &run_seed, sizeof run_seed);
    h = hash_fnv1a(h, app, strlen(app) + 1);
    h = hash_fnv1a(h, item, strlen(item) + 1);
    return hash_fnv1a(h, &permille, sizeof permille);
}

int keepmask_add_random(unsigned char *keep, int n, int more, uint64_t seed) {
    if (n < 0 || more < 0) return -1;
    int n_free = 0;
    for (int i = 0; i < n; i++) n_free += keep[i] == 0;
    if (more > n_free) return -1;
    if (more == 0 || more == n_free) { /* nothing to draw: none, or every free position */
        if (more) memset(keep, 1, (size_t)n);
        return n - n_free + more;
    }
    int *rest = malloc(sizeof *rest * (size_t)n_free); /* (n_free) the free positions, in order */
    int *pick = malloc(sizeof *pick * (size_t)more);   /* (more) the chosen ones, in order */
    gsl_rng *g = rest && pick ? gsl_rng_alloc(gsl_rng_mt19937) : NULL;
    if (!g) {
        free(rest);
        free(pick);
        return -1;
    }
    for (int i = 0, j = 0; i < n; i++)
        if (!keep[i]) rest[j++] = i;
    gsl_rng_set(g, (unsigned long)(seed ^ (seed >> 32)));
    gsl_ran_choose(g, pick, (size_t)more, rest, (size_t)n_free, sizeof *rest);
    for (int i = 0; i < more; i++) keep[pick[i]] = 1;
    free(rest);
    free(pick);
    gsl_rng_free(g);
    return n - n_free + more;
}

int keepmask_random(unsigned char *keep, int n, int k, uint64_t seed) {
    if (n < 0 || k < 0 || k > n) return -1;
    memset(keep, 0, (size_t)n);
    return keepmask_add_random(keep, n, k, seed);
}

typedef struct Ranked {
    float s;
    int i;
} Ranked;

/* descending score, NaN last, then ascending position */
static int cmp_ranked(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    int xn = x->s != x->s, yn = y->s != y->s;
    if (xn != yn) return xn - yn;
    if (!xn && x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int keepmask_top_many(const float *score, int n, const int *k, int n_masks, unsigned char *keep, size_t stride) {
    if (n < 0 || n_masks < 0 || (n_masks > 1 && stride < (size_t)n)) return -1;
    for (int j = 0; j < n_masks; j++)
        if (k[j] < 0 || k[j] > n) return -1;
    Ranked *r = malloc(sizeof *r * (size_t)(n > 0 ? n : 1));
    if (!r) return -1;
    for (int i = 0; i < n; i++) r[i] = (Ranked){score[i], i};
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    for (int j = 0; j < n_masks; j++) { /* every mask is a prefix of the one ranking */
        unsigned char *m = keep + (size_t)j * stride;
        memset(m, 0, (size_t)n);
        for (int i = 0; i < k[j]; i++) m[r[i].i] = 1;
    }
    free(r);
    return 0;
}

int keepmask_top(const float *score, int n, int k, unsigned char *keep) {
    return keepmask_top_many(score, n, &k, 1, keep, (size_t)(n > 0 ? n : 0)) ? -1 : k;
}
