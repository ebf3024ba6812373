/* pool: a tiny fixed-size thread pool for data-parallel loops of the trainer (rows of activations, sequences of a
 * batch). pool_for splits [0, n) into one contiguous chunk per thread (the caller runs the first), so which rows a
 * thread handles depends only on n and the thread count; kernels that write disjoint rows give results that do not
 * depend on the split at all. OpenBLAS is switched to one thread while a loop runs, so that loop bodies may call
 * BLAS from every thread. */
#ifndef ELMS_POOL_H
#define ELMS_POOL_H

typedef struct Pool Pool;

/* The loop body: handle items [begin, end). */
typedef void (*PoolFn)(void *ctx, int begin, int end);

/* pool_create: n_threads >= 1 threads in total (n_threads - 1 workers); NULL on failure. */
Pool *pool_create(int n_threads);
void pool_free(Pool *p);
int pool_threads(const Pool *p);
/* pool_for: run fn over [0, n) on all threads and wait. With p NULL or one thread, fn(ctx, 0, n) inline. */
void pool_for(Pool *p, int n, PoolFn fn, void *ctx);

#endif
