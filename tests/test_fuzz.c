/* The fuzz harnesses (fuzz/) as regression tests: every harness runs on its committed seed corpus
 * (fuzz/corpus/NAME/) and on every input that once made it crash (tests/data/fuzz/NAME/, one file per finding,
 * named after what it found). A harness fails by crashing or aborting, so under make test-asan and
 * make test-ubsan-clang these inputs are checked by the same sanitizers that found them. The test runs from
 * the repository root (skipped elsewhere). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "engine/io.h"
#include "fuzz/fuzz.h"
#include "tests/test.h"

typedef int (*Harness)(const uint8_t *data, size_t size);

/* run_dir: the harness on every regular file in dir; returns how many ran (0 when dir is missing). */
static int run_dir(TestCtx *t, Harness h, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[2048];
        if (de->d_name[0] == '.' || (size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
            !path_is_file(path))
            continue;
        char *buf;
        size_t len;
        Err e;
        CHECK_MSG(io_read_file(path, &buf, &len, &e) == 0, "%s", e.msg);
        if (!buf) continue;
        h((const uint8_t *)buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

TEST(fuzz_harnesses_replay_seeds_and_past_crashes) {
    if (!path_is_dir("fuzz/corpus")) SKIP("fuzz/corpus not found (run from the repository root)");
    struct {
        const char *name;
        Harness h;
    } all[] = {
#define FUZZ_ENTRY(name) {#name, fuzz_##name},
        FUZZ_HARNESSES(FUZZ_ENTRY)
#undef FUZZ_ENTRY
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", all[i].name);
        CHECK_MSG(run_dir(t, all[i].h, dir) > 0, "no seed inputs in %s", dir);
        snprintf(dir, sizeof dir, "tests/data/fuzz/%s", all[i].name);
        run_dir(t, all[i].h, dir);
    }
}
