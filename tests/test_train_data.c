/* Tests of engine/data.c: token files (round trip, validation), the seeded window order (every window of an epoch
 * exactly once, inputs/targets shifted by one, reproducible, restorable by seek) and validation loss windows. */
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/io.h"
#include "engine/ops.h"
#include "engine/train.h"
#include "tests/test.h"
#include "tests/util.h"

TEST(train_data_file_round_trip_and_validation) {
    char path[1024];
    snprintf(path, sizeof path, "%s/train.bin", test_tmpdir());
    int ids[6] = {0, 5, 70000, 3, 2, 1};
    Err e;
    CHECK_MSG(data_save(path, ids, 6, &e) == 0, "%s", e.msg);
    /* little-endian int32 on disk */
    char *raw;
    size_t len;
    CHECK(io_read_file(path, &raw, &len, &e) == 0);
    CHECK(len == 24);
    CHECK((unsigned char)raw[8] == (70000 & 0xff) && (unsigned char)raw[9] == ((70000 >> 8) & 0xff) &&
          (unsigned char)raw[10] == (70000 >> 16));
    free(raw);
    TokenData d;
    CHECK_MSG(data_load(&d, path, 70001, &e) == 0, "%s", e.msg);
    CHECK(d.n == 6 && memcmp(d.tok, ids, sizeof ids) == 0);
    data_free(&d);
    /* an id outside the vocabulary names the offset */
    CHECK(data_load(&d, path, 100, &e) != 0);
    CHECK_MSG(strstr(e.msg, "token 2") && strstr(e.msg, "70000"), "%s", e.msg);
    /* a size that is not a multiple of 4 */
    CHECK(io_write_atomic(path, "abcde", 5, &e) == 0);
    CHECK(data_load(&d, path, 100, &e) != 0);
    CHECK_MSG(strstr(e.msg, "multiple of 4"), "%s", e.msg);
    CHECK(data_load(&d, "no/such/file.bin", 100, &e) != 0);
    CHECK_MSG(strstr(e.msg, "no/such/file.bin"), "%s", e.msg);
}

TEST(train_data_loader_epochs_cover_every_window_once) {
    int n = 1000, T = 16;
    TokenData d = {malloc(sizeof(int) * n), (size_t)n};
    for (int i = 0; i < n; i++) d.tok[i] = i; /* a token's id is its offset */
    DataLoader l;
    Err e;
    CHECK(data_loader_init(&l, &d, T, 5, &e) == 0);
    CHECK(l.max_phase == T - 1 && l.n_windows == (n - 1 - (T - 1)) / T);
    long nw = l.n_windows;
    int *in = malloc(sizeof(int) * nw * T), *tg = malloc(sizeof(int) * nw * T);
    int phases_seen = 0, last_phase = -1;
    for (int epoch = 0; epoch < 3; epoch++) {
        data_next_batch(&l, in, tg, (int)nw); /* exactly one epoch */
        int phase = in[0] % T;
        char *seen = calloc((size_t)nw, 1);
        for (long w = 0; w < nw; w++) {
            int s = in[w * T];
            CHECK((s - phase) % T == 0);
            long k = (s - phase) / T;
            CHECK(k >= 0 && k < nw && !seen[k]);
            if (k >= 0 && k < nw) seen[k] = 1;
            for (int i = 0; i < T; i++) {
                CHECK(in[w * T + i] == s + i);     /* contiguous window */
                CHECK(tg[w * T + i] == s + i + 1); /* targets shifted by one */
            }
            CHECK(s + T < n);
        }
        free(seen);
        phases_seen += phase != last_phase;
        last_phase = phase;
    }
    CHECK(phases_seen >= 2); /* the phase is redrawn per epoch */
    CHECK(l.epoch == 2 && l.pos == nw);
    free(in), free(tg);
    data_loader_free(&l);
    data_free(&d);
}

TEST(train_data_loader_seek_restores_the_stream) {
    int n = 500, T = 8;
    TokenData d = {malloc(sizeof(int) * n), (size_t)n};
    for (int i = 0; i < n; i++) d.tok[i] = i;
    DataLoader a, b, c;
    Err e;
    CHECK(data_loader_init(&a, &d, T, 9, &e) == 0);
    CHECK(data_loader_init(&b, &d, T, 9, &e) == 0);
    CHECK(data_loader_init(&c, &d, T, 10, &e) == 0);
    int ia[5 * 8], ta[5 * 8], ib[5 * 8], tb[5 * 8], ic[5 * 8], tc[5 * 8];
    for (int i = 0; i < 23; i++) data_next_batch(&a, ia, ta, 5); /* crosses epochs (61 windows each) */
    long ep = a.epoch, pos = a.pos;
    CHECK(ep >= 1);
    data_next_batch(&a, ia, ta, 5);
    CHECK(data_loader_seek(&b, ep, pos, &e) == 0);
    data_next_batch(&b, ib, tb, 5);
    CHECK(memcmp(ia, ib, sizeof ia) == 0 && memcmp(ta, tb, sizeof ta) == 0);
    CHECK(data_loader_seek(&c, ep, pos, &e) == 0);
    data_next_batch(&c, ic, tc, 5);
    CHECK(memcmp(ia, ic, sizeof ia) != 0); /* another seed, another order */
    CHECK(data_loader_seek(&b, 0, 1000, &e) != 0);
    TokenData tiny = {d.tok, 8};
    CHECK(data_loader_init(&c, &tiny, 8, 1, &e) != 0); /* needs seq + 1 tokens */
    data_loader_free(&a);
    data_loader_free(&b);
    data_loader_free(&c);
    data_free(&d);
}

TEST(train_eval_is_the_mean_window_loss) {
    ModelConfig c = util_config();
    Model m;
    util_model(&m, &c, 31);
    int T = 10, n = 75; /* 7 windows of 11 tokens (stride 10) */
    TokenData d = {malloc(sizeof(int) * n), (size_t)n};
    util_tokens(d.tok, n, c.vocab_size, 4);
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = 3;
    tc.seq = T;
    Trainer tr;
    Err e;
    CHECK(train_init(&tr, &m, NULL, &tc, &e) == 0);
    double loss, ref = 0.0;
    CHECK(train_eval(&tr, &d, 0, &loss, &e) == 0);
    float *lg = malloc(sizeof(float) * T * c.vocab_size);
    ElasticView v;
    view_full(&m, &v);
    for (int w = 0; w < 7; w++) {
        CHECK(model_logits(&m, &v, d.tok + w * T, T, lg, &e) == 0);
        for (int i = 0; i < T; i++)
            ref -= log_softmax_at(lg + (size_t)i * c.vocab_size, c.vocab_size, d.tok[w * T + i + 1]);
    }
    ref /= 7.0 * T;
    CHECK_NEAR(loss, ref, 1e-4 * ref);
    double first2;
    CHECK(train_eval(&tr, &d, 2, &first2, &e) == 0);
    CHECK(first2 != loss);
    free(lg);
    train_free(&tr);
    data_free(&d);
    model_free(&m);
}
