/* evq: binary min-heap of events (see evq.h). */
#include "sim/evq.h"

#include <stdlib.h>
#include <string.h>

void evq_init(Evq *q) { memset(q, 0, sizeof *q); }

void evq_free(Evq *q) {
    free(q->h);
    memset(q, 0, sizeof *q);
}

static bool less(const Event *a, const Event *b) {
    if (a->t != b->t) return a->t < b->t;
    if (a->kind != b->kind) return a->kind < b->kind;
    return a->seq < b->seq;
}

int evq_push(Evq *q, double t, int kind, long req) {
    if (q->n == q->cap) {
        long cap = q->cap ? q->cap * 2 : 256;
        Event *h = realloc(q->h, sizeof *h * (size_t)cap);
        if (!h) return -1;
        q->h = h;
        q->cap = cap;
    }
    Event ev = {t, kind, q->next_seq++, req};
    long i = q->n++;
    while (i > 0) {
        long parent = (i - 1) / 2;
        if (!less(&ev, &q->h[parent])) break;
        q->h[i] = q->h[parent];
        i = parent;
    }
    q->h[i] = ev;
    return 0;
}

bool evq_pop(Evq *q, Event *out) {
    if (q->n == 0) return false;
    *out = q->h[0];
    Event last = q->h[--q->n];
    long i = 0, n = q->n;
    for (;;) {
        long l = 2 * i + 1, r = l + 1, m = i;
        const Event *best = &last;
        if (l < n && less(&q->h[l], best)) m = l, best = &q->h[l];
        if (r < n && less(&q->h[r], best)) m = r;
        if (m == i) break;
        q->h[i] = q->h[m];
        i = m;
    }
    if (n > 0) q->h[i] = last;
    return true;
}
