/* util: helpers shared by tests: small random models, random token sequences, and SQL results of a database file
 * as text. */
#ifndef ELMS_TEST_UTIL_H
#define ELMS_TEST_UTIL_H

#include "engine/model.h"

/* util_config: a small model shape (dim 32, 3 layers, 4 heads, 2 KV heads, head_dim 8, ffn 48, vocab 61,
 * context 64, untied) to be adjusted by the caller. */
ModelConfig util_config(void);
/* util_model: allocate and randomly initialise c with seed (weights scaled up so outputs are far from
 * uniform, which makes comparisons meaningful). Aborts the test process on failure. */
void util_model(Model *m, const ModelConfig *c, unsigned long seed);
/* util_grad_model: a model for gradient checks: model_init_random scaled to std ~0.1 so that every term of the loss
 * has a visible gradient, the norm weights (and a classifier's bias) moved off their initial values so that their
 * gradients are generic. Aborts the test process on failure. */
void util_grad_model(Model *m, const ModelConfig *c, unsigned long seed);
/* util_tokens: n seeded random ids in [0, vocab). */
void util_tokens(int *out, int n, int vocab, unsigned long seed);
/* util_max_abs_diff: max |a-b| over n floats. */
double util_max_abs_diff(const float *a, const float *b, size_t n);
/* util_random_perm: a seeded random permutation of 0..n-1. */
void util_random_perm(int *p, int n, unsigned long seed);
/* util_sql_dump: the rows sql returns from the database file path, one line each, columns separated by '|',
 * reals with 17 significant digits (so equal text means equal bits), NULL as "NULL"; malloc'd. A failing
 * query gives "error: MESSAGE". */
char *util_sql_dump(const char *path, const char *sql);
/* util_sql_number: the first column of sql's first row as a number (NAN when NULL, none or an error). */
double util_sql_number(const char *path, const char *sql);

#endif
