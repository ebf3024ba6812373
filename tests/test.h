/* test: the project's test harness. Each tests/test_*.c file defines tests with TEST(name) { ... }; they
 * register themselves at start-up and the runner (tests/main.c) runs them all, or those whose name contains a
 * filter given on the command line, and ends with "N passed, N failed, N skipped".
 * A test fails through CHECK / CHECK_MSG (it keeps going and reports every failed check) and skips with SKIP. */
#ifndef ELMS_TEST_H
#define ELMS_TEST_H

#include <math.h>
#include <stdio.h>

typedef struct TestCtx {
    int failed;   /* checks that failed */
    int skipped;  /* set by SKIP */
    char skip_reason[256];
} TestCtx;

typedef void (*TestFn)(TestCtx *t);
void test_register(const char *name, const char *file, TestFn fn);

#define TEST(name)                                                                 \
    static void test_##name(TestCtx *t);                                           \
    __attribute__((constructor)) static void test_register_##name(void) {          \
        test_register(#name, __FILE__, test_##name);                               \
    }                                                                              \
    static void test_##name(TestCtx *t)

#define CHECK_MSG(cond, ...)                                                       \
    do {                                                                           \
        if (!(cond)) {                                                             \
            t->failed++;                                                           \
            fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
        }                                                                          \
    } while (0)
#define CHECK(cond) CHECK_MSG(cond, "%s", "")
#define CHECK_NEAR(a, b, tol)                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %.3g)", (double)(a), (double)(b), \
              (double)(tol))
#define SKIP(...)                                                                  \
    do {                                                                           \
        t->skipped = 1;                                                            \
        snprintf(t->skip_reason, sizeof t->skip_reason, __VA_ARGS__);              \
        return;                                                                    \
    } while (0)

/* test_tmpdir: a fresh directory under $TMPDIR (or /tmp) for this test; removed when the runner ends. */
const char *test_tmpdir(void);
/* test_shared_dir: "../shared" relative to the repository root if it exists, else NULL (tests then SKIP). */
const char *test_shared_dir(void);
/* test_path: test_tmpdir()/name in a ring of 64 static buffers (each result stays valid for the next 63 calls). */
const char *test_path(const char *name);
/* test_cli: test_run_cli with printf-style arguments; returns the exit status, output in *out (caller frees). */
int test_cli(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* test_run_cli: run "bin/elms ARGS" through the shell, capture stdout+stderr into out (malloc'd), return the
 * exit status. */
int test_run_cli(const char *args, char **out);

#endif
