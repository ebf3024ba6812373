/* err: the project's error convention.
 * Functions that can fail return 0 on success and -1 on failure, filling an Err with one message that names
 * the file (or field) and what was expected. Libraries never print and never exit; the CLI prints err.msg. */
#ifndef ELMS_ERR_H
#define ELMS_ERR_H

#define ERR_MSG_MAX 1024

typedef struct Err {
    char msg[ERR_MSG_MAX];
} Err;

/* err_set: format a message into e (if non-NULL) and return -1, so callers can `return err_set(e, ...)`. */
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* err_prefix: prepend "prefix: " to an existing message (adds context while unwinding); returns -1. */
int err_prefix(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* err_after: e's message without a leading "prefix: " (the whole message when it does not start with it, e.g.
 * because a long prefix was cut off). */
const char *err_after(const Err *e, const char *prefix);

#endif
