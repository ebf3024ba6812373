/* dirs: recursive removal, atomic directory replacement and file copies (see dirs.h). */
#include "elastic/dirs.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileutil.h"
#include "engine/io.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int dir_remove_tree(const char *path, Err *e) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : err_set(e, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return remove(path) == 0 ? 0 : err_set(e, "%s: cannot remove: %s", path, strerror(errno));
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return err_set(e, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int dir_replace(const char *tmp, const char *dst, Err *e) {
    char old[2048];
    if ((size_t)snprintf(old, sizeof old, "%s.old", dst) >= sizeof old) return err_set(e, "%s: path too long", dst);
    if (dir_remove_tree(old, e)) return -1;
    int had = path_is_dir(dst);
    if (had && rename(dst, old) != 0) return err_set(e, "%s: cannot move aside: %s", dst, strerror(errno));
    if (rename(tmp, dst) != 0) {
        int err = errno;
        if (had && rename(old, dst) != 0) return err_set(e, "%s: cannot restore from %s: %s", dst, old, strerror(errno));
        return err_set(e, "%s: cannot rename %s into place: %s", dst, tmp, strerror(err));
    }
    return had ? dir_remove_tree(old, e) : 0;
}

int dir_copy_file(const char *src, const char *dst, Err *e) {
    char *buf;
    size_t len;
    if (io_read_file(src, &buf, &len, e)) return -1;
    int rc = io_write_atomic(dst, buf, len, e);
    free(buf);
    return rc;
}

int dir_stage(const char *dst, char *tmp, size_t cap, Err *e) {
    if ((size_t)snprintf(tmp, cap, "%s.tmp.XXXXXX", dst) >= cap) return err_set(e, "%s: path too long", dst);
    char parent[1200];
    snprintf(parent, sizeof parent, "%s", dst);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (io_mkdirs(parent, e)) return -1;
    }
    if (!mkdtemp(tmp)) {
        int err = errno;
        char bad[1200];
        snprintf(bad, sizeof bad, "%s", tmp);
        tmp[0] = 0;
        return err_set(e, "%s: cannot create a staging directory: %s", bad, strerror(err));
    }
    return 0;
}
