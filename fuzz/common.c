/* common: the private temporary directory and file writing shared by the fuzz harnesses (see fuzz.h). */
#include "fuzz/fuzz.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/model.h"

static char g_dir[1024];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(void) {
    if (g_dir[0]) nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void) {
    if (g_dir[0]) return g_dir;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/elms-fuzz.XXXXXX", tmp);
    if (!mkdtemp(g_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return g_dir;
}

const char *fuzz_path(const char *rel) {
    static char ring[8][1200];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", fuzz_dir(), rel);
    return p;
}

const char *fuzz_write(const char *rel, const void *data, size_t size) {
    const char *path = fuzz_path(rel);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

const char *fuzz_mkdir(const char *rel) {
    const char *path = fuzz_path(rel);
    if (mkdir(path, 0700) != 0) {
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            perror(path);
            abort();
        }
    }
    return path;
}

int fuzz_refused(const char *harness, const Err *e) {
    const char *v = getenv("FUZZ_DEBUG");
    if (v && !strcmp(v, "1")) fprintf(stderr, "fuzz_%s: refused: %s\n", harness, e->msg);
    return 0;
}

void fuzz_tiny_config(ModelConfig *c) {
    memset(c, 0, sizeof *c);
    c->dim = 8;
    c->n_layers = 2;
    c->n_heads = 2;
    c->n_kv_heads = 1;
    c->head_dim = 4;
    c->ffn_dim = 8;
    c->vocab_size = 16;
    c->max_seq = 16;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->tied = false;
    c->bos_id = 1;
    c->eos_id = 2;
}
