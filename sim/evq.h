/* evq: the simulator's event queue, a binary min-heap ordered by (time, kind, seq): at equal times lower kinds
 * come first (a completion frees the service before arrivals are queued), then insertion order. The same heap
 * type orders the ready queue (FCFS: key = arrival; EDF: key = TTFT deadline). */
#ifndef ELMS_EVQ_H
#define ELMS_EVQ_H

#include <stdbool.h>

typedef struct Event {
    double t;     /* ms, or the ready-queue key */
    int kind;
    long seq;     /* insertion counter: ties keep insertion order */
    long req;     /* request index in the trace */
} Event;

typedef struct Evq {
    Event *h;     /* (n) heap array */
    long n, cap;
    long next_seq;
} Evq;

void evq_init(Evq *q);
void evq_free(Evq *q);
/* evq_push: -1 on out of memory. */
int evq_push(Evq *q, double t, int kind, long req);
/* evq_pop: the smallest event; false when empty. */
bool evq_pop(Evq *q, Event *out);
static inline bool evq_empty(const Evq *q) { return q->n == 0; }

#endif
