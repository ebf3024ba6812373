/* io_file: whole-file reads, atomic writes (temporary name + rename) and mkdir -p, shared by every writer. */
#include "engine/io.h"

#include <cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int io_atomic_open(IoAtomic *a, const char *path, Err *e) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) return err_set(e, "empty output path");
    if (strlen(path) >= sizeof a->path) return err_set(e, "%s: path too long", path);
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(e, "%s: cannot create: %s", path, strerror(errno));
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int er = errno;
        close(fd);
        unlink(a->tmp);
        return err_set(e, "%s: cannot open for writing: %s", path, strerror(er));
    }
    return 0;
}

int io_atomic_finish(IoAtomic *a, Err *e) {
    if (!a->f) return err_set(e, "%s: not open for writing", a->path);
    int bad = ferror(a->f) || fflush(a->f) != 0;
    int er = errno;
    if (!bad && fsync(fileno(a->f)) != 0 && errno != EINVAL) {
        bad = 1;
        er = errno;
    }
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        er = errno;
    }
    a->f = NULL;
    if (bad) {
        unlink(a->tmp);
        return err_set(e, "%s: write failed: %s", a->path, strerror(er));
    }
    return 0;
}

int io_atomic_rename(IoAtomic *a, Err *e) {
    if (rename(a->tmp, a->path) != 0) {
        int er = errno;
        unlink(a->tmp);
        return err_set(e, "%s: cannot rename the temporary file into place: %s", a->path, strerror(er));
    }
    return 0;
}

int io_atomic_commit(IoAtomic *a, Err *e) {
    if (io_atomic_finish(a, e) != 0) return -1;
    return io_atomic_rename(a, e);
}

void io_atomic_abort(IoAtomic *a) {
    if (a->f) {
        fclose(a->f);
        a->f = NULL;
    }
    if (a->tmp[0]) unlink(a->tmp);
}

int io_write_atomic(const char *path, const void *buf, size_t len, Err *e) {
    IoAtomic a;
    if (io_atomic_open(&a, path, e) != 0) return -1;
    if (len && fwrite(buf, 1, len, a.f) != len) {
        int er = errno;
        io_atomic_abort(&a);
        return err_set(e, "%s: write failed: %s", path, strerror(er));
    }
    return io_atomic_commit(&a, e);
}

int io_open_read(const char *path, Err *e) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, "%s: not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int er = errno;
        close(fd);
        return err_set(e, "%s: cannot open: %s", path, strerror(er));
    }
    return fd;
}

int io_read_file(const char *path, char **out, size_t *len, Err *e) {
    *out = NULL;
    if (len) *len = 0;
    int fd = io_open_read(path, e);
    if (fd < 0) return -1;
    struct stat st;
    FILE *f = fstat(fd, &st) == 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        close(fd);
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return err_set(e, "%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (cap - n < 2) { /* the file grew while reading */
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return err_set(e, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int io_mkdirs(const char *path, Err *e) {
    if (!path || !*path) return err_set(e, "empty directory path");
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return err_set(e, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char saved = buf[i];
        buf[i] = 0;
        struct stat st;
        if (stat(buf, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                buf[i] = saved;
                return err_set(e, "%s: cannot create directory: '%.*s' exists and is not a directory", path, (int)i,
                               buf);
            }
        } else if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int er = errno;
            return err_set(e, "%s: cannot create directory '%s': %s", path, buf, strerror(er));
        }
        buf[i] = saved;
    }
    return 0;
}

int io_read_json(const char *path, cJSON **out, Err *e) {
    char *txt;
    size_t len;
    *out = NULL;
    if (io_read_file(path, &txt, &len, e) != 0) return -1;
    int rc = io_json_parse(txt, len, path, out, e);
    free(txt);
    return rc;
}
