/* pool: fixed-size pthread pool with one job at a time (see pool.h). Workers sleep on a condition variable
 * between jobs; a job is (fn, ctx, n) plus a generation number that wakes them. */
#include "engine/pool.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

#define POOL_MAX 64

typedef struct WorkerArg {
    Pool *p;
    int index;
} WorkerArg;

struct Pool {
    int n;                      /* threads in total, the caller included */
    pthread_t tid[POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long gen;          /* job generation */
    int pending;                /* workers still running the current job */
    int quit;
    PoolFn fn;
    void *ctx;
    int items;
    WorkerArg arg[POOL_MAX];
};

static void chunk(int n, int parts, int i, int *b, int *e) {
    *b = (int)((long)n * i / parts);
    *e = (int)((long)n * (i + 1) / parts);
}

static void *worker(void *arg) {
    WorkerArg *a = arg;
    Pool *p = a->p;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        PoolFn fn = p->fn;
        void *ctx = p->ctx;
        int b, e;
        chunk(p->items, p->n, a->index, &b, &e);
        pthread_mutex_unlock(&p->mu);
        if (b < e) fn(ctx, b, e);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

Pool *pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > POOL_MAX) n_threads = POOL_MAX;
    Pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < n_threads; i++) {
        p->arg[i] = (WorkerArg){p, i};
        if (pthread_create(&p->tid[i], NULL, worker, &p->arg[i]) != 0) break;
        p->n++;
    }
    return p;
}

void pool_free(Pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int pool_threads(const Pool *p) { return p ? p->n : 1; }

void pool_for(Pool *p, int n, PoolFn fn, void *ctx) {
    if (n <= 0) return;
    if (!p || p->n == 1 || n == 1) {
        fn(ctx, 0, n);
        return;
    }
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->items = n;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    int b, e;
    chunk(n, p->n, 0, &b, &e);
    if (b < e) fn(ctx, b, e);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    openblas_set_num_threads(blas);
}
