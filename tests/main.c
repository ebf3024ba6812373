/* The test runner: runs every registered test (or those whose name or file contains one of the arguments),
 * each in a child process so that a crash fails that test only, and ends with "N passed, N failed, N skipped". */
#include "tests/test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileutil.h"

typedef struct TestEntry {
    const char *name, *file;
    TestFn fn;
} TestEntry;

static TestEntry g_tests[1024];
static int g_n_tests;
static char g_tmpdir[1024];

void test_register(const char *name, const char *file, TestFn fn) {
    if (g_n_tests < (int)(sizeof g_tests / sizeof g_tests[0])) g_tests[g_n_tests++] = (TestEntry){name, file, fn};
}

const char *test_tmpdir(void) { return g_tmpdir; }

const char *test_shared_dir(void) {
    return path_is_dir("../shared") ? "../shared" : NULL;
}

int test_run_cli(const char *args, char **out) {
    const char *bin = getenv("ELMS_BIN");
    if (!bin) bin = "bin/elms";
    size_t n = strlen(bin) + strlen(args) + 16;
    char *cmd = malloc(n);
    snprintf(cmd, n, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (p) {
        size_t got;
        while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
            len += got;
            if (cap - len < 2) buf = realloc(buf, cap *= 2);
        }
    }
    buf[len] = 0;
    int st = p ? pclose(p) : -1;
    if (out) *out = buf;
    else free(buf);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *test_path(const char *name) {
    static char buf[64][sizeof g_tmpdir + 512];
    static int k;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmpdir, name);
    return buf[k];
}

int test_cli(char **out, const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return test_run_cli(args, out);
}

static int matches(const TestEntry *t, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(t->name, argv[i]) || strstr(t->file, argv[i])) return 1;
    return 0;
}

static int cmp_entry(const void *a, const void *b) {
    const TestEntry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    qsort(g_tests, (size_t)g_n_tests, sizeof g_tests[0], cmp_entry);
    const char *base = getenv("TMPDIR");
    snprintf(g_tmpdir, 512, "%s/elms-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < g_n_tests; i++) {
        TestEntry *e = &g_tests[i];
        if (!matches(e, argc, argv)) continue;
        fflush(stdout);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid == 0) {
            char dir[sizeof g_tmpdir];
            if ((size_t)snprintf(dir, sizeof dir, "%s/%s", g_tmpdir, e->name) >= sizeof dir) _exit(1);
            mkdir(dir, 0700);
            memcpy(g_tmpdir, dir, sizeof g_tmpdir);
            TestCtx ctx = {0};
            e->fn(&ctx);
            fflush(stdout);
            fflush(stderr);
            if (ctx.skipped) {
                printf("skip %s (%s)\n", e->name, ctx.skip_reason);
                fflush(stdout);
                _exit(3);
            }
            _exit(ctx.failed ? 1 : 0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passed++;
            printf("ok   %s (%.2fs)\n", e->name, secs);
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
            skipped++;
        } else {
            failed++;
            if (WIFSIGNALED(st)) printf("FAIL %s (signal %d)\n", e->name, WTERMSIG(st));
            else printf("FAIL %s\n", e->name);
        }
    }
    char cmd[sizeof g_tmpdir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
