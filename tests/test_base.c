/* base/: FNV-1a against the published test vectors and the project's own offset, the clocks, the path questions, and the seeded keep-masks
 * (exact counts, uniform positions, repeatable, order-free seeds), plus a digest of the random compressor's
 * masks recorded before the compressors moved onto base/keepmask (the grid and simulation figures rest on them). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fileutil.h"
#include "base/hash.h"
#include "base/keepmask.h"
#include <math.h>
#include "policies/compressor.h"
#include "policies/compressor_relevant.h"
#include "tests/test.h"

TEST(base_hash_fnv1a_vectors) {
    /* the FNV-1a 64 test vectors of the reference implementation, from the published offset basis */
    const uint64_t basis = 0xcbf29ce484222325ULL;
    CHECK(hash_fnv1a(basis, "", 0) == basis);
    CHECK(hash_fnv1a(basis, "a", 1) == 0xaf63dc4c8601ec8cULL);
    CHECK(hash_fnv1a(basis, "foobar", 6) == 0x85944171f73967e8ULL);
    /* chained calls hash the concatenation */
    CHECK(hash_fnv1a(hash_fnv1a(basis, "foo", 3), "bar", 3) == 0x85944171f73967e8ULL);
    /* the project's own offset (stored keys depend on it) */
    CHECK(HASH_FNV_OFFSET == 0x14650fb0739d0383ULL);
    CHECK(hash_fnv1a(HASH_FNV_OFFSET, NULL, 0) == HASH_FNV_OFFSET);
    CHECK(hash_fnv1a(HASH_FNV_OFFSET, "foobar", 6) == 0x88fad7c0a8ff07f2ULL);
    char hex[17];
    hash_hex(0x85944171f73967e8ULL, hex);
    CHECK(!strcmp(hex, "85944171f73967e8"));
    hash_hex(0x1fULL, hex);
    CHECK(!strcmp(hex, "000000000000001f"));
    /* hash_floats: the floats' bytes from the project's offset (the value the evaluation cache has always stored
     * for these floats on a little-endian host) */
    const float x[3] = {1.0f, -2.5f, 3.25f};
    char want[17];
    hash_hex(hash_fnv1a(HASH_FNV_OFFSET, x, sizeof x), want);
    hash_floats(x, 3, hex);
    CHECK_MSG(!strcmp(hex, want), "%s vs %s", hex, want);
    const uint16_t one = 1;
    if (*(const unsigned char *)&one == 1) CHECK_MSG(!strcmp(hex, "d3780d4cd96cc3ca"), "%s", hex);
    hash_floats(x, 0, hex);
    CHECK(!strcmp(hex, "14650fb0739d0383"));
}

TEST(base_clocks) {
    double w0 = clock_wall_s(), c0 = clock_cpu_s();
    volatile double s = 0;
    for (int i = 0; i < 2000000; i++) s += i * 0.5;
    (void)s; /* read once, so that clang does not call it unused */
    double w1 = clock_wall_s(), c1 = clock_cpu_s();
    CHECK(w0 > 0 && w1 >= w0); /* monotonic */
    CHECK(c0 >= 0 && c1 > c0);  /* the loop used CPU time */
}

TEST(base_path_is_file_dir) {
    const char *f = test_path("file"), *d = test_path("dir"), *l = test_path("link"), *none = test_path("none");
    FILE *fp = fopen(f, "w");
    CHECK(fp != NULL);
    if (fp) fclose(fp);
    CHECK(path_is_dir(test_tmpdir()));
    CHECK(mkdir(d, 0700) == 0);
    CHECK(symlink(f, l) == 0);
    CHECK(path_is_file(f) && !path_is_dir(f));
    CHECK(path_is_dir(d) && !path_is_file(d));
    CHECK(path_is_file(l)); /* links are followed */
    CHECK(!path_is_file(none) && !path_is_dir(none));
    CHECK(!path_is_file("/dev/null"));
}

static int count_kept(const unsigned char *keep, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += keep[i] != 0;
    return k;
}

TEST(base_keepmask_counts_and_uniformity) {
    enum { N = 10, K = 3, TRIALS = 20000 };
    unsigned char keep[N], again[N];
    long hits[N] = {0};
    int exact = 1;
    for (unsigned long s = 0; s < TRIALS; s++) {
        uint64_t seed = keepmask_seed(s, NULL, "app", "item", 0.3);
        if (keepmask_random(keep, N, K, seed) != K || count_kept(keep, N) != K) exact = 0;
        for (int i = 0; i < N; i++) hits[i] += keep[i];
    }
    CHECK(exact);
    for (int i = 0; i < N; i++) /* each position kept with probability K/N = 0.3 (sd about 0.0032) */
        CHECK_NEAR((double)hits[i] / TRIALS, (double)K / N, 0.02);
    /* repeatable; the edges need no draw; out of range is refused */
    CHECK(keepmask_random(keep, N, K, 77) == K && keepmask_random(again, N, K, 77) == K && !memcmp(keep, again, N));
    CHECK(keepmask_random(keep, N, 0, 5) == 0 && count_kept(keep, N) == 0);
    CHECK(keepmask_random(keep, N, N, 5) == N && count_kept(keep, N) == N);
    CHECK(keepmask_random(keep, 0, 0, 5) == 0);
    CHECK(keepmask_random(keep, N, N + 1, 5) == -1 && keepmask_random(keep, N, -1, 5) == -1);
}

TEST(base_keepmask_add_random) {
    enum { N = 12 };
    unsigned char keep[N] = {0}, before[N];
    keep[2] = keep[7] = keep[8] = 1;
    memcpy(before, keep, N);
    CHECK(keepmask_add_random(keep, N, 4, 123) == 7);
    CHECK(count_kept(keep, N) == 7 && keep[2] && keep[7] && keep[8]);
    memcpy(before, keep, N);
    CHECK(keepmask_add_random(keep, N, 6, 1) == -1 && !memcmp(keep, before, N)); /* only 5 positions are free */
    CHECK(keepmask_add_random(keep, N, 5, 1) == N && count_kept(keep, N) == N);
    /* on an empty mask it is keepmask_random */
    unsigned char a[N] = {0}, b[N];
    CHECK(keepmask_add_random(a, N, 5, 99) == 5 && keepmask_random(b, N, 5, 99) == 5 && !memcmp(a, b, N));
}

TEST(base_keepmask_seed) {
    uint64_t s = keepmask_seed(1, NULL, "facts", "q-7", 0.3);
    CHECK(s == keepmask_seed(1, NULL, "facts", "q-7", 1 - 0.7)); /* the ratio is taken in permille */
    CHECK(s != keepmask_seed(2, NULL, "facts", "q-7", 0.3));
    CHECK(s != keepmask_seed(1, NULL, "facts", "q-8", 0.3));
    CHECK(s != keepmask_seed(1, NULL, "reading", "q-7", 0.3));
    CHECK(s != keepmask_seed(1, NULL, "facts", "q-7", 0.4));
    CHECK(s != keepmask_seed(1, "", "facts", "q-7", 0.3)); /* an empty tag is still a tag */
    CHECK(keepmask_seed(1, "a", "facts", "q-7", 0.3) != keepmask_seed(1, "b", "facts", "q-7", 0.3));
    /* field boundaries count: ("ab", "c") is not ("a", "bc") */
    CHECK(keepmask_seed(1, NULL, "ab", "c", 0.3) != keepmask_seed(1, NULL, "a", "bc", 0.3));
}

static Item g_relevant_item;
static const Item *relevant_lookup(void *ctx, const char *app, const char *item) {
    (void)ctx;
    (void)app;
    (void)item;
    return &g_relevant_item;
}

/* The masks of "random" and "oracle-relevant" over seeds, apps, items, prompt sizes and ratios, folded into one
 * FNV-1a digest. The expected digest and kept count were recorded from the compressors as they were before they
 * called base/keepmask: a change here changes every grid and simulation figure that compresses prompts. */
TEST(compressor_masks_unchanged) {
    static int spans[2][2] = {{3, 10}, {20, 25}};
    g_relevant_item.relevant = spans;
    g_relevant_item.n_relevant = 2;
    const char *names[2] = {"random", "oracle-relevant"};
    const unsigned long seeds[3] = {0, 1, 42};
    const char *apps[2] = {"facts", "uinav"}, *items[2] = {"a", "item-17"};
    const int sizes[5] = {1, 5, 12, 37, 200}, queries[2] = {0, 9};
    uint64_t h = HASH_FNV_OFFSET;
    long total = 0;
    for (int c = 0; c < 2; c++)
        for (int si = 0; si < 3; si++) {
            PolicyEnv env;
            memset(&env, 0, sizeof env);
            env.seed = seeds[si];
            Compressor comp;
            Err e;
            if (compressor_create(&comp, names[c], &env, &e)) {
                CHECK_MSG(0, "%s", e.msg);
                return;
            }
            if (c == 1) CHECK(compressor_relevant_set_items(&comp, relevant_lookup, NULL, &e) == 0);
            for (int a = 0; a < 2; a++)
                for (int it = 0; it < 2; it++)
                    for (int s = 0; s < 5; s++)
                        for (int q = 0; q < 2; q++)
                            for (int ri = 1; ri <= 10; ri++) {
                                EncodedItem enc;
                                memset(&enc, 0, sizeof enc);
                                enc.n_system = sizes[s];
                                enc.n_query = queries[q];
                                PolicyRequest r;
                                memset(&r, 0, sizeof r);
                                r.app = apps[a];
                                r.item = items[it];
                                r.enc = &enc;
                                unsigned char keep[200];
                                int k = compressor_keep(&comp, &r, ri / 10.0, keep, &e);
                                CHECK_MSG(k >= 0, "%s", e.msg);
                                total += k;
                                for (int i = 0; i < sizes[s]; i++) {
                                    unsigned char b = keep[i] != 0;
                                    h = hash_fnv1a(h, &b, 1);
                                }
                            }
            compressor_destroy(&comp);
        }
    CHECK_MSG(h == 0xecc68f33b4709c89ULL && total == 63696, "digest %016llx, %ld kept", (unsigned long long)h, total);
}

/* keepmask_top against a naive rule: position i is kept iff fewer than k positions beat it (a higher score, or
 * the same score earlier; NaN below every number). */
TEST(base_keepmask_top_keeps_the_highest_in_order) {
    enum { N = 40 };
    float s[N];
    unsigned char keep[N];
    unsigned long x = 12345;
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005UL + 1442695040888963407UL;
            s[i] = (float)((x >> 40) % 9) / 8.0f; /* many ties */
            if ((x >> 20) % 17 == 0) s[i] = NAN;
        }
        int k = trial % (N + 1);
        CHECK(keepmask_top(s, N, k, keep) == k);
        int ok = count_kept(keep, N) == k;
        for (int i = 0; i < N; i++) {
            int beat = 0;
            for (int j = 0; j < N; j++) {
                if (j == i) continue;
                int ni = s[i] != s[i], nj = s[j] != s[j];
                if (nj && !ni) continue;
                if (ni && !nj) beat++;
                else if (ni && nj) beat += j < i;
                else beat += s[j] > s[i] || (s[j] == s[i] && j < i);
            }
            ok &= keep[i] == (beat < k);
        }
        CHECK(ok);
    }
    CHECK(keepmask_top(s, N, N + 1, keep) == -1 && keepmask_top(s, N, -1, keep) == -1);
    CHECK(keepmask_top(s, 0, 0, keep) == 0);
}

/* keepmask_top_many: every mask byte for byte keepmask_top's, from one ranking; bad k or stride refused */
TEST(base_keepmask_top_many_equals_keepmask_top) {
    enum { N = 37, M = 6, STRIDE = N + 3 };
    float s[N];
    unsigned char many[M * STRIDE], one[N];
    int k[M];
    unsigned long x = 777;
    for (int trial = 0; trial < 100; trial++) {
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005UL + 1442695040888963407UL;
            s[i] = (float)((x >> 40) % 5) / 4.0f; /* many ties */
            if ((x >> 20) % 13 == 0) s[i] = NAN;
        }
        for (int j = 0; j < M; j++) k[j] = (int)((x >> (8 * j)) % (N + 1));
        CHECK(keepmask_top_many(s, N, k, M, many, STRIDE) == 0);
        for (int j = 0; j < M; j++) {
            CHECK(keepmask_top(s, N, k[j], one) == k[j]);
            CHECK(!memcmp(one, many + j * STRIDE, N));
        }
    }
    k[1] = N + 1;
    CHECK(keepmask_top_many(s, N, k, M, many, STRIDE) == -1);
    k[1] = 0;
    CHECK(keepmask_top_many(s, N, k, M, many, N - 1) == -1);
    CHECK(keepmask_top_many(s, 0, (int[]){0, 0}, 2, many, 0) == 0);
}
