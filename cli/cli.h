/* cli: the `elms` command. Each subcommand lives in its own file cli/cmd_NAME.c and registers itself with
 * CLI_COMMAND(name, summary, fn); main dispatches on argv[1]. A subcommand returns the process exit status
 * (0 ok, 1 runtime error, 2 usage error) and prints errors as "elms NAME: message" on stderr. */
#ifndef ELMS_CLI_H
#define ELMS_CLI_H

typedef int (*CliFn)(int argc, char **argv); /* argv[0] is the subcommand name */
/* cli_register: add a subcommand (called at start-up by CLI_COMMAND; the table holds 64). */
void cli_register(const char *name, const char *summary, CliFn fn);

#define CLI_COMMAND(name, summary, fn)                                             \
    __attribute__((constructor)) static void cli_register_##fn(void) { cli_register(name, summary, fn); }

/* Flag parsing shared by subcommands: --name VALUE or --name=VALUE; --help anywhere prints usage.
 * cli_flags_parse fills values for known flags and fails (prints usage) on unknown ones or missing values. */
typedef struct CliFlag {
    const char *name;     /* without leading dashes */
    const char *meta;     /* "DIR", "N", ... or NULL for a boolean switch */
    const char *help;
    const char *value;    /* out: the value given (or "1" for a switch), NULL if absent; in: default */
} CliFlag;

/* cli_parse: returns 0 ok, 1 when --help was printed (caller returns 0), -1 on a usage error (already printed;
 * caller returns 2). positional (may be NULL) receives up to max_pos positional arguments. */
int cli_parse(int argc, char **argv, const char *usage, CliFlag *flags, int n_flags, const char **positional,
              int max_pos, int *n_pos);
/* cli_int / cli_double: parse a flag's value strictly; print "elms CMD: --flag expects ..." and return -1. */
int cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cli_double(const char *cmd, const char *flag, const char *s, double *out);
/* cli_double_in: cli_double of a value that must lie in [lo, hi] (NaN refused); prints "expects a number in
 * [lo, hi]" and returns -1 otherwise. */
int cli_double_in(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);
/* cli_command_line: "elms" followed by argv joined by spaces (malloc'd; NULL when out of memory), for logs. */
char *cli_command_line(int argc, char **argv);
/* cli_error: print "elms CMD: msg" to stderr and return 1. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* progress: a line with rate and ETA that redraws on a terminal; otherwise (a file, a pipe) a line every 30 s
 * and one summary line at the end. */
typedef struct Progress {
    const char *label;
    long total, done;
    double t0, last;
    int tty;
} Progress;
/* progress_start: begin a line "LABEL done/total" on stderr; progress_update: done so far (printed when due);
 * progress_finish: the summary line with the elapsed time and the rate. */
void progress_start(Progress *p, const char *label, long total);
void progress_update(Progress *p, long done);
void progress_finish(Progress *p);
/* StageProgress: a Progress per stage of a long job whose library reports (stage, done, total) through a
 * callback (builds, training): a new stage finishes the line of the previous one. */
typedef struct StageProgress {
    Progress p;
    char label[256];
    const char *prefix;  /* printed before each stage name (e.g. "prepare elms:"), or NULL */
    int active;
} StageProgress;
/* stage_progress_init: no stage yet; stage_progress_finish ends the line of the last one. */
void stage_progress_init(StageProgress *s, const char *prefix);
/* stage_progress_report: the callback (ctx = a StageProgress). */
void stage_progress_report(void *ctx, const char *stage, long done, long total);
void stage_progress_finish(StageProgress *s);

#endif
