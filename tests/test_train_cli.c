/* Tests of `elms train` end to end on a tiny generated data directory: outputs, the SQLite log, a run stopped
 * with --stop-after and continued with --resume giving the same bytes as an uninterrupted run, --init from another
 * model's weights, and usage and runtime errors with their exit codes. */
#include <gsl/gsl_rng.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "elastic/dirs.h"
#include "engine/data.h"
#include "engine/io.h"
#include "engine/tokenizer.h"
#include "tests/test.h"
#include "tests/util.h"

/* DIR/tokenizer.json (16 pieces) and DIR/corpus/{train,val}.bin from a skip-bigram stream. */
static void make_data_dir(TestCtx *t, const char *dir) {
    const char *pieces[16] = {"[BOS]", "[EOS]", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"};
    Tokenizer tok;
    Err e;
    char path[1024];
    CHECK_MSG(tokenizer_from_vocab(&tok, pieces, 16, NULL, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/corpus", dir);
    CHECK(io_mkdirs(path, &e) == 0);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK_MSG(tokenizer_save(&tok, path, &e) == 0, "%s", e.msg);
    tokenizer_free(&tok);
    int n = 3000, *ids = malloc(sizeof(int) * n);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 1);
    ids[0] = 2;
    ids[1] = 3;
    for (int i = 2; i < n; i++)
        ids[i] = gsl_rng_uniform_int(r, 2) ? (ids[i - 2] * 5 + 1) % 16 : (ids[i - 2] * 7 + 4) % 16;
    gsl_rng_free(r);
    snprintf(path, sizeof path, "%s/corpus/train.bin", dir);
    CHECK(data_save(path, ids, 2500, &e) == 0);
    snprintf(path, sizeof path, "%s/corpus/val.bin", dir);
    CHECK(data_save(path, ids + 2500, 500, &e) == 0);
    free(ids);
}

/* tmp_data_dir: makes the small data directory at TMP/data (its path in data) and returns TMP. */
static const char *tmp_data_dir(TestCtx *t, char data[1024]) {
    const char *tmp = test_tmpdir();
    snprintf(data, 1024, "%s/data", tmp);
    make_data_dir(t, data);
    return tmp;
}

static bool exists(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return path_is_file(p);
}

/* SELECT count(*), count(val_loss), min(step), max(step) of a run. */
static void log_counts(TestCtx *t, const char *db, const char *run, long out[4]) {
    sqlite3 *h;
    sqlite3_stmt *st;
    memset(out, 0, 4 * sizeof(long));
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h,
                             "SELECT count(*), count(val_loss), min(step), max(step) FROM train_log WHERE run = ?1 "
                             "AND loss > 0 AND lr > 0 AND tokens_per_s > 0 AND grad_norm > 0",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < 4; i++) out[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
    sqlite3_close(h);
}

static bool same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    Err e;
    if (io_read_file(a, &x, &nx, &e) != 0) return false;
    if (io_read_file(b, &y, &ny, &e) != 0) {
        free(x);
        return false;
    }
    bool same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

#define SHAPE "--layers 2 --dim 16 --heads 2 --kv-heads 1 --ffn 24 --ctx 16 --seq 16 --batch 4 --accum 2 " \
              "--steps 6 --warmup 2 --lr 1e-2 --threads 1 --val-every 3 --val-windows 4 --dtype f32"

TEST(train_cli_resume_log_and_outputs) {
    const char *tmp = test_tmpdir();
    char data[1024], a[1024], b[1024], db[1024], args[4096], pa[1200], pb[1200];
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(a, sizeof a, "%s/straight", tmp);
    snprintf(b, sizeof b, "%s/halves", tmp);
    snprintf(db, sizeof db, "%s/results/train.db", tmp);
    make_data_dir(t, data);
    char *out;
    /* straight run */
    snprintf(args, sizeof args, "train --data %s --out %s --db %s " SHAPE, data, a, db);
    int st = test_run_cli(args, &out);
    CHECK_MSG(st == 0, "exit %d: %s", st, out);
    CHECK_MSG(strstr(out, "train: 6 steps"), "%s", out);
    free(out);
    CHECK(exists(a, "config.json") && exists(a, "model.safetensors") && exists(a, "tokenizer.json") &&
          exists(a, "training.json") && exists(a, "checkpoint/state.json") &&
          exists(a, "checkpoint/optim.safetensors"));
    long c[4];
    log_counts(t, db, "straight", c);
    CHECK_MSG(c[0] == 6 && c[1] == 2 && c[2] == 1 && c[3] == 6, "rows %ld, val rows %ld, steps %ld..%ld", c[0], c[1],
              c[2], c[3]);
    /* the same run in two halves */
    snprintf(args, sizeof args, "train --data %s --out %s --db %s --stop-after 3 " SHAPE, data, b, db);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 0 && strstr(out, "--resume"), "exit %d: %s", st, out);
    free(out);
    CHECK(!exists(b, "model.safetensors") && exists(b, "checkpoint/state.json"));
    snprintf(args, sizeof args, "train --data %s --out %s --db %s " SHAPE, data, b, db);
    st = test_run_cli(args, &out); /* refuses to overwrite a checkpoint without --resume */
    CHECK_MSG(st == 1 && strstr(out, "--resume"), "exit %d: %s", st, out);
    free(out);
    snprintf(args, sizeof args, "train --data %s --out %s --db %s --resume " SHAPE, data, b, db);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 0 && strstr(out, "resuming") && strstr(out, "step 3"), "exit %d: %s", st, out);
    free(out);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    CHECK_MSG(same_file(pa, pb), "resumed model differs from the straight run");
    snprintf(pa, sizeof pa, "%s/tokenizer.json", a);
    snprintf(pb, sizeof pb, "%s/tokenizer.json", data);
    CHECK(same_file(pa, pb));
    log_counts(t, db, "halves", c);
    CHECK_MSG(c[0] == 6 && c[1] == 2 && c[3] == 6, "rows %ld, val rows %ld, last %ld", c[0], c[1], c[3]);
    /* a directory holding a model and no checkpoint (a shipped model): a new run replaces it only with --force */
    snprintf(pa, sizeof pa, "%s/checkpoint", a);
    Err e;
    CHECK(dir_remove_tree(pa, &e) == 0);
    snprintf(args, sizeof args, "train --data %s --out %s --db %s " SHAPE, data, a, db);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 1 && strstr(out, "--force") && strstr(out, "already holds a model"), "exit %d: %s", st, out);
    free(out);
    snprintf(args, sizeof args, "train --data %s --out %s --db %s --force " SHAPE, data, a, db);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 0 && strstr(out, "train: 6 steps"), "exit %d: %s", st, out);
    free(out);
}

TEST(train_cli_errors) {
    char args[2048], data[1024];
    const char *tmp = tmp_data_dir(t, data);
    char *out;
    int st = test_run_cli("train --out x", &out);
    CHECK_MSG(st == 2 && strstr(out, "--data"), "exit %d: %s", st, out);
    free(out);
    snprintf(args, sizeof args, "train --data %s --out %s/o --dtype f8", data, tmp);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 2 && strstr(out, "--dtype"), "exit %d: %s", st, out);
    free(out);
    snprintf(args, sizeof args, "train --data %s --out %s/o --steps zero", data, tmp);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 2 && strstr(out, "--steps"), "exit %d: %s", st, out);
    free(out);
    snprintf(args, sizeof args, "train --data %s/nothing --out %s/o --db %s/t.db", tmp, tmp, tmp);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 1 && strstr(out, "tokenizer.json"), "exit %d: %s", st, out);
    free(out);
    /* --seq beyond the context is refused before any work */
    snprintf(args, sizeof args, "train --data %s --out %s/o --db %s/t.db --ctx 8 --seq 16 --layers 1 --dim 8 --heads 2 "
             "--ffn 8", data, tmp, tmp);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 1 && strstr(out, "seq"), "exit %d: %s", st, out);
    free(out);
    /* a token id outside the vocabulary names the file */
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/corpus/val.bin", data);
    int ids[3] = {1, 99, 2};
    Err e;
    CHECK(data_save(bad, ids, 3, &e) == 0);
    snprintf(args, sizeof args, "train --data %s --out %s/o --db %s/t.db --layers 1 --dim 8 --heads 2 --ffn 8 --ctx 16 "
             "--seq 16", data, tmp, tmp);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 1 && strstr(out, "val.bin") && strstr(out, "99"), "exit %d: %s", st, out);
    free(out);
}

/* --init: a run that starts from a model's weights continues from them (with a vanishing learning rate the result
 * stays within 1e-5 of them, while a fresh run differs); a different shape is refused with both shapes named. */
TEST(train_cli_init_from_a_model) {
    char data[1024], args[4096];
    const char *tmp = tmp_data_dir(t, data);
    char *out;
    snprintf(args, sizeof args, "train --data %s --out %s/first --db %s/db " SHAPE, data, tmp, tmp);
    CHECK(test_run_cli(args, &out) == 0);
    free(out);
    snprintf(args, sizeof args,
             "train --data %s --out %s/second --db %s/db --init %s/first " SHAPE " --lr 1e-9 --min-lr 1e-9 --wd 0 --seed 5",
             data, tmp, tmp, tmp);
    int st = test_run_cli(args, &out);
    CHECK_MSG(st == 0, "exit %d: %s", st, out);
    free(out);
    Model a, b;
    Err e;
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/first", tmp);
    snprintf(pb, sizeof pb, "%s/second", tmp);
    CHECK_MSG(model_load(&a, pa, &e) == 0, "%s", e.msg);
    CHECK_MSG(model_load(&b, pb, &e) == 0, "%s", e.msg);
    double d = util_max_abs_diff(a.params, b.params, a.n_params);
    CHECK_MSG(d <= 1e-5, "max |first - second| = %g", d);
    model_free(&b);
    snprintf(args, sizeof args, "train --data %s --out %s/fresh --db %s/db " SHAPE " --lr 1e-9 --min-lr 1e-9 --seed 5",
             data, tmp, tmp);
    CHECK(test_run_cli(args, &out) == 0);
    free(out);
    snprintf(pb, sizeof pb, "%s/fresh", tmp);
    CHECK_MSG(model_load(&b, pb, &e) == 0, "%s", e.msg);
    CHECK(util_max_abs_diff(a.params, b.params, a.n_params) > 1e-3);
    model_free(&a);
    model_free(&b);
    snprintf(args, sizeof args,
             "train --data %s --out %s/wide --db %s/db --init %s/first " SHAPE " --ffn 32", data, tmp, tmp, tmp);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 1 && strstr(out, "--init") && strstr(out, "ffn 24") && strstr(out, "ffn 32"), "exit %d: %s", st,
              out);
    free(out);
    snprintf(args, sizeof args, "train --data %s --out %s/none --db %s/db --init %s/missing " SHAPE, data, tmp, tmp,
             tmp);
    st = test_run_cli(args, &out);
    CHECK_MSG(st == 1 && strstr(out, "--init"), "exit %d: %s", st, out);
    free(out);
}
