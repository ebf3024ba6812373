/* fileutil: questions about paths that every layer asks (is there a regular file here? a directory?), answered
 * one way. Both follow symbolic links. */
#ifndef ELMS_BASE_FILEUTIL_H
#define ELMS_BASE_FILEUTIL_H

#include <stdbool.h>

/* path_is_file: true if p names a regular file (or a link to one); false if it does not exist, cannot be
 * reached, or is anything else (a directory, a device, ...). */
bool path_is_file(const char *p);

/* path_is_dir: true if p names a directory (or a link to one); false otherwise, as for path_is_file. */
bool path_is_dir(const char *p);

#endif
