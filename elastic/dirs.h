/* dirs: directory utilities for writing whole model directories atomically: build DIR.tmp, then swap it in. */
#ifndef ELMS_DIRS_H
#define ELMS_DIRS_H

#include <stddef.h>

#include "engine/err.h"

/* dir_remove_tree: remove path and everything below it (no error when it does not exist). */
int dir_remove_tree(const char *path, Err *e);
/* dir_replace: move directory tmp to dst. An existing dst is first renamed to dst.old and removed after the
 * swap, so at every instant dst (or dst.old) is complete. */
int dir_replace(const char *tmp, const char *dst, Err *e);
/* dir_stage: create a fresh staging directory dst.tmp.XXXXXX (mkdtemp, so two writers never share one; its parent
 * directories are created) and write its path into tmp (cap bytes). Fill it, then dir_replace(tmp, dst) or
 * dir_remove_tree(tmp). A killed writer leaves it behind, ignored by every loader (a .tmp path is never a
 * model). */
int dir_stage(const char *dst, char *tmp, size_t cap, Err *e);
/* dir_copy_file: copy src to dst (atomically). */
int dir_copy_file(const char *src, const char *dst, Err *e);

#endif
