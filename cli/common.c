/* Flag parsing, strict number parsing, error printing and progress lines shared by the subcommands. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"

static void print_usage(FILE *f, const char *usage, const CliFlag *flags, int n_flags) {
    fprintf(f, "usage: %s\n", usage);
    if (n_flags) fprintf(f, "\noptions:\n");
    for (int i = 0; i < n_flags; i++) {
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", flags[i].name, flags[i].meta ? " " : "",
                 flags[i].meta ? flags[i].meta : "");
        fprintf(f, "  %-26s %s", left, flags[i].help);
        if (flags[i].meta && flags[i].value) fprintf(f, " (default %s)", flags[i].value);
        fputc('\n', f);
    }
    fprintf(f, "  %-26s %s\n", "--help", "show this help");
}

int cli_parse(int argc, char **argv, const char *usage, CliFlag *flags, int n_flags, const char **positional,
              int max_pos, int *n_pos) {
    int np = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_usage(stdout, usage, flags, n_flags);
            return 1;
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int found = -1;
            for (int f = 0; f < n_flags; f++)
                if (strlen(flags[f].name) == len && !strncmp(flags[f].name, name, len)) found = f;
            if (found < 0) {
                fprintf(stderr, "elms %s: unknown option '--%.*s'\n", argv[0], (int)len, name);
                print_usage(stderr, usage, flags, n_flags);
                return -1;
            }
            if (!flags[found].meta) {
                if (eq) {
                    fprintf(stderr, "elms %s: --%s takes no value\n", argv[0], flags[found].name);
                    return -1;
                }
                flags[found].value = "1";
            } else if (eq) {
                flags[found].value = eq + 1;
            } else if (i + 1 < argc) {
                flags[found].value = argv[++i];
            } else {
                fprintf(stderr, "elms %s: --%s expects %s\n", argv[0], flags[found].name, flags[found].meta);
                return -1;
            }
        } else {
            if (!positional || np >= max_pos) {
                fprintf(stderr, "elms %s: unexpected argument '%s'\n", argv[0], a);
                print_usage(stderr, usage, flags, n_flags);
                return -1;
            }
            positional[np++] = a;
        }
    }
    if (n_pos) *n_pos = np;
    return 0;
}

int cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "elms %s: --%s expects an integer in [%ld, %ld], got '%s'\n", cmd, flag, lo, hi,
                s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

int cli_double(const char *cmd, const char *flag, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end) {
        fprintf(stderr, "elms %s: --%s expects a number, got '%s'\n", cmd, flag, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

int cli_double_in(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
    double v;
    if (cli_double(cmd, flag, s, &v)) return -1;
    if (!(v >= lo && v <= hi)) {
        fprintf(stderr, "elms %s: --%s expects a number in [%g, %g], got '%s'\n", cmd, flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

char *cli_command_line(int argc, char **argv) {
    size_t n = 8;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, "elms");
    for (int i = 0; i < argc; i++) {
        strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "elms %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

void progress_start(Progress *p, const char *label, long total) {
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t0 = p->last = clock_wall_s();
    p->tty = isatty(STDERR_FILENO);
}

void progress_update(Progress *p, long done) {
    p->done = done;
    double t = clock_wall_s();
    /* a terminal redraws its line every 0.2 s; a file or pipe gets a whole line every 30 s */
    if (p->tty ? t - p->last < 0.2 && done < p->total
               : t - p->last < 30.0 || done >= p->total) /* progress_finish prints the last line */
        return;
    p->last = t;
    double el = t - p->t0, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 && p->total > done ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, p->tty ? "\r%s %ld/%ld  %.1f/s  ETA %.0fs   " : "%s %ld/%ld  %.1f/s  ETA %.0fs\n", p->label, done,
            p->total, rate, eta);
    fflush(stderr);
}

void progress_finish(Progress *p) {
    double el = clock_wall_s() - p->t0;
    if (p->tty) fputc('\r', stderr);
    fprintf(stderr, "%s %ld/%ld done in %.1fs (%.1f/s)%s\n", p->label, p->done, p->total, el,
            el > 0 ? (double)p->done / el : 0.0, p->tty ? "          " : "");
}

void stage_progress_init(StageProgress *s, const char *prefix) {
    memset(s, 0, sizeof *s);
    s->prefix = prefix;
}

void stage_progress_report(void *ctx, const char *stage, long done, long total) {
    StageProgress *s = ctx;
    char label[256];
    snprintf(label, sizeof label, "%s%s%s", s->prefix ? s->prefix : "", s->prefix ? " " : "", stage);
    if (!s->active || strcmp(label, s->label)) {
        stage_progress_finish(s);
        snprintf(s->label, sizeof s->label, "%s", label);
        progress_start(&s->p, s->label, total);
        s->active = 1;
    }
    s->p.total = total;
    progress_update(&s->p, done);
}

void stage_progress_finish(StageProgress *s) {
    if (s->active) progress_finish(&s->p);
    s->active = 0;
}
