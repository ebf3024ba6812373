/* examples: variable-length labelled examples and their seeded visiting order (see examples.h). */
#include "engine/examples.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/model.h"

int examples_init(ExampleSet *s, int n_targets, Err *e) {
    memset(s, 0, sizeof *s);
    if (n_targets < 0 || n_targets > ELMS_MAX_LABELS)
        return err_set(e, "examples: %d targets per example, expected 0 (one per token) to %d", n_targets,
                       ELMS_MAX_LABELS);
    s->n_targets = n_targets;
    s->off = calloc(1, sizeof *s->off); /* off[0] = 0 */
    if (!s->off) return err_set(e, "examples: out of memory");
    return 0;
}

void examples_free(ExampleSet *s) {
    free(s->off);
    free(s->tok);
    free(s->tgt);
    memset(s, 0, sizeof *s);
}

/* grow: make room for one more example of len tokens (amortised doubling). */
static int grow(ExampleSet *s, int len, Err *e) {
    size_t ntok = s->off[s->n] + (size_t)len;
    if ((size_t)s->n + 1 > s->cap_n) {
        size_t cap = s->cap_n ? 2 * s->cap_n : 64;
        size_t *off = realloc(s->off, (cap + 1) * sizeof *off);
        if (!off) return err_set(e, "examples: out of memory for %zu examples", cap);
        s->off = off;
        if (s->n_targets) {
            int *tgt = realloc(s->tgt, cap * (size_t)s->n_targets * sizeof *tgt);
            if (!tgt) return err_set(e, "examples: out of memory for %zu examples", cap);
            s->tgt = tgt;
        }
        s->cap_n = cap;
    }
    if (ntok > s->cap_tok) {
        size_t cap = s->cap_tok ? 2 * s->cap_tok : 1024;
        while (cap < ntok) cap *= 2;
        int *tok = realloc(s->tok, cap * sizeof *tok);
        if (!tok) return err_set(e, "examples: out of memory for %zu tokens", cap);
        s->tok = tok;
        if (!s->n_targets) {
            int *tgt = realloc(s->tgt, cap * sizeof *tgt);
            if (!tgt) return err_set(e, "examples: out of memory for %zu tokens", cap);
            s->tgt = tgt;
        }
        s->cap_tok = cap;
    }
    return 0;
}

int examples_add(ExampleSet *s, const int *tokens, int len, const int *targets, Err *e) {
    if (len < 1) return err_set(e, "examples: example %d has %d tokens, expected at least 1", s->n, len);
    if (s->n == INT_MAX) return err_set(e, "examples: too many examples");
    if (grow(s, len, e) != 0) return -1;
    size_t at = s->off[s->n];
    memcpy(s->tok + at, tokens, sizeof(int) * (size_t)len);
    if (s->n_targets)
        memcpy(s->tgt + (size_t)s->n * s->n_targets, targets, sizeof(int) * (size_t)s->n_targets);
    else
        memcpy(s->tgt + at, targets, sizeof(int) * (size_t)len);
    s->off[s->n + 1] = at + (size_t)len;
    s->n++;
    if (len > s->max_len) s->max_len = len;
    return 0;
}

void examples_get(const ExampleSet *s, int i, const int **tokens, int *len, const int **targets) {
    size_t at = s->off[i];
    *tokens = s->tok + at;
    *len = (int)(s->off[i + 1] - at);
    *targets = s->n_targets ? s->tgt + (size_t)i * s->n_targets : s->tgt + at;
}

/* ---- the seeded order ---- */

/* fill_epoch: the visiting order of epoch l->epoch: a shuffle of 0 .. n-1. */
static void fill_epoch(ExampleLoader *l) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, data_epoch_seed(l->seed, l->epoch));
    for (int i = 0; i < l->set->n; i++) l->order[i] = i;
    gsl_ran_shuffle(r, l->order, (size_t)l->set->n, sizeof(int));
    gsl_rng_free(r);
}

int example_loader_init(ExampleLoader *l, const ExampleSet *s, unsigned long seed, Err *e) {
    memset(l, 0, sizeof *l);
    if (s->n < 1) return err_set(e, "example loader: the example set is empty");
    l->set = s;
    l->seed = seed;
    l->order = malloc(sizeof(int) * (size_t)s->n);
    if (!l->order) return err_set(e, "example loader: out of memory for %d examples", s->n);
    fill_epoch(l);
    return 0;
}

void example_loader_free(ExampleLoader *l) {
    free(l->order);
    memset(l, 0, sizeof *l);
}

/* advance: past the example at pos; the end of an epoch moves to the start of the next at once, so that pos always
 * names an example of the current order. */
static void advance(ExampleLoader *l) {
    if (++l->pos < l->set->n) return;
    l->epoch++;
    l->pos = 0;
    fill_epoch(l);
}

int example_loader_seek(ExampleLoader *l, long epoch, long pos, Err *e) {
    if (epoch < 0 || pos < 0 || pos > l->set->n)
        return err_set(e, "example loader: position (epoch %ld, example %ld) outside [0, %d] examples", epoch, pos,
                       l->set->n);
    l->epoch = epoch;
    l->pos = pos - 1;
    fill_epoch(l);
    advance(l); /* (epoch, n), the end of an epoch, is (epoch + 1, 0) */
    return 0;
}

int example_loader_next(ExampleLoader *l) {
    int i = l->order[l->pos];
    advance(l);
    return i;
}

/* ---- as a batch source ---- */

static int source_next(void *self, int max_b, int max_t, int *inputs, int *targets, int *B, int *T, Err *e) {
    ExampleLoader *l = self;
    (void)max_b;
    int i = l->order[l->pos], len;
    const int *tok, *tgt;
    examples_get(l->set, i, &tok, &len, &tgt);
    if (len > max_t)
        return err_set(e, "examples: example %d has %d tokens, more than the trainer's seq %d", i, len, max_t);
    advance(l);
    memcpy(inputs, tok, sizeof(int) * (size_t)len);
    memcpy(targets, tgt, sizeof(int) * (size_t)(l->set->n_targets ? l->set->n_targets : len));
    *B = 1;
    *T = len;
    return 0;
}

static void source_tell(const void *self, long *epoch, long *pos) {
    const ExampleLoader *l = self;
    *epoch = l->epoch;
    *pos = l->pos;
}

static int source_seek(void *self, long epoch, long pos, Err *e) { return example_loader_seek(self, epoch, pos, e); }

BatchSource example_loader_source(ExampleLoader *l) {
    return (BatchSource){.self = l, .kind = "examples", .targets_per_seq = l->set->n_targets, .next = source_next,
                         .tell = source_tell, .seek = source_seek};
}
