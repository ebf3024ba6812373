/* data: token files (flat little-endian int32) and the seeded window order of training (see data.h). */
#include "engine/data.h"

#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/io.h"

int data_load(TokenData *d, const char *path, int vocab_size, Err *e) {
    memset(d, 0, sizeof *d);
    int fd = io_open_read(path, e);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return err_set(e, "%s: cannot seek", path);
    }
    long len = ftell(f);
    rewind(f);
    if (len < 0 || len % 4 != 0) {
        fclose(f);
        return err_set(e, "%s: size %ld is not a multiple of 4 (expected little-endian int32 token ids)", path, len);
    }
    size_t n = (size_t)len / 4;
    if (n == 0) {
        fclose(f);
        return err_set(e, "%s: empty token file", path);
    }
    unsigned char *raw = malloc((size_t)len);
    int *tok = malloc(sizeof(int) * n);
    if (!raw || !tok) {
        free(raw);
        free(tok);
        fclose(f);
        return err_set(e, "%s: out of memory for %zu tokens", path, n);
    }
    size_t got = fread(raw, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) {
        free(raw);
        free(tok);
        return err_set(e, "%s: short read (%zu of %ld bytes)", path, got, len);
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *b = raw + 4 * i;
        int32_t v = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        if (v < 0 || v >= vocab_size) {
            free(raw);
            free(tok);
            return err_set(e, "%s: token %zu is %d, expected an id in [0, %d)", path, i, (int)v, vocab_size);
        }
        tok[i] = (int)v;
    }
    free(raw);
    d->tok = tok;
    d->n = n;
    return 0;
}

int data_save(const char *path, const int *ids, size_t n, Err *e) {
    unsigned char *raw = malloc(n ? 4 * n : 1);
    if (!raw) return err_set(e, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        raw[4 * i] = (unsigned char)(v & 0xff);
        raw[4 * i + 1] = (unsigned char)(v >> 8 & 0xff);
        raw[4 * i + 2] = (unsigned char)(v >> 16 & 0xff);
        raw[4 * i + 3] = (unsigned char)(v >> 24 & 0xff);
    }
    int rc = io_write_atomic(path, raw, 4 * n, e);
    free(raw);
    return rc;
}

void data_free(TokenData *d) {
    free(d->tok);
    memset(d, 0, sizeof *d);
}

/* splitmix64: spreads (seed, epoch) over the generator's 32-bit seed space. */
unsigned long data_epoch_seed(unsigned long seed, long epoch) {
    uint64_t z = (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)epoch + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (unsigned long)((z ^ (z >> 31)) & 0xffffffffu);
}

/* Draw the phase and the visiting order of epoch l->epoch. */
static void loader_fill_epoch(DataLoader *l) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, data_epoch_seed(l->seed, l->epoch));
    size_t phase = l->max_phase > 0 ? (size_t)gsl_rng_uniform_int(r, (unsigned long)l->max_phase + 1) : 0;
    for (long i = 0; i < l->n_windows; i++) l->order[i] = phase + (size_t)i * (size_t)l->seq;
    gsl_ran_shuffle(r, l->order, (size_t)l->n_windows, sizeof(size_t));
    gsl_rng_free(r);
}

int data_loader_init(DataLoader *l, const TokenData *d, int seq, unsigned long seed, Err *e) {
    memset(l, 0, sizeof *l);
    if (seq < 1) return err_set(e, "data loader: seq %d, expected >= 1", seq);
    if (d->n < (size_t)seq + 1)
        return err_set(e, "data loader: %zu tokens, need at least seq+1 = %d", d->n, seq + 1);
    size_t spare = d->n - 1 - (size_t)seq; /* a window starting at s needs s + seq + 1 <= n */
    l->data = d;
    l->seq = seq;
    l->seed = seed;
    l->max_phase = (int)(spare < (size_t)seq - 1 ? spare : (size_t)seq - 1);
    l->n_windows = (long)((d->n - 1 - (size_t)l->max_phase) / (size_t)seq);
    l->order = malloc(sizeof(size_t) * (size_t)l->n_windows);
    if (!l->order) return err_set(e, "data loader: out of memory for %ld windows", l->n_windows);
    loader_fill_epoch(l);
    return 0;
}

void data_loader_free(DataLoader *l) {
    free(l->order);
    memset(l, 0, sizeof *l);
}

int data_loader_seek(DataLoader *l, long epoch, long pos, Err *e) {
    if (epoch < 0 || pos < 0 || pos > l->n_windows)
        return err_set(e, "data loader: position (epoch %ld, window %ld) outside [0, %ld] windows", epoch, pos,
                       l->n_windows);
    l->epoch = epoch;
    l->pos = pos;
    loader_fill_epoch(l);
    return 0;
}

void data_next_batch(DataLoader *l, int *inputs, int *targets, int B) {
    int T = l->seq;
    for (int b = 0; b < B; b++) {
        if (l->pos >= l->n_windows) {
            l->epoch++;
            l->pos = 0;
            loader_fill_epoch(l);
        }
        const int *w = l->data->tok + l->order[l->pos++];
        memcpy(inputs + (size_t)b * T, w, sizeof(int) * (size_t)T);
        memcpy(targets + (size_t)b * T, w + 1, sizeof(int) * (size_t)T);
    }
}

/* ---- as a batch source ---- */

static int loader_next(void *self, int max_b, int max_t, int *inputs, int *targets, int *B, int *T, Err *e) {
    DataLoader *l = self;
    if (l->seq != max_t)
        return err_set(e, "train_step: loader windows of %d tokens, trainer seq %d", l->seq, max_t);
    data_next_batch(l, inputs, targets, max_b);
    *B = max_b;
    *T = max_t;
    return 0;
}

static void loader_tell(const void *self, long *epoch, long *pos) {
    const DataLoader *l = self;
    *epoch = l->epoch;
    *pos = l->pos;
}

static int loader_seek(void *self, long epoch, long pos, Err *e) { return data_loader_seek(self, epoch, pos, e); }

BatchSource data_loader_source(DataLoader *l) {
    return (BatchSource){.self = l, .kind = "windows", .targets_per_seq = 0, .next = loader_next,
                         .tell = loader_tell, .seek = loader_seek};
}
