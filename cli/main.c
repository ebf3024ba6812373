/* The `elms` command: dispatches argv[1] to a subcommand registered by one of cli/cmd_*.c. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct CliEntry {
    const char *name, *summary;
    CliFn fn;
} CliEntry;

static CliEntry g_cmds[64];
static int g_n_cmds;

void cli_register(const char *name, const char *summary, CliFn fn) {
    if (g_n_cmds < (int)(sizeof g_cmds / sizeof g_cmds[0])) g_cmds[g_n_cmds++] = (CliEntry){name, summary, fn};
}

static int cmp_cmd(const void *a, const void *b) {
    return strcmp(((const CliEntry *)a)->name, ((const CliEntry *)b)->name);
}

static void usage(FILE *f) {
    fprintf(f, "usage: elms COMMAND [options]   (elms COMMAND --help for a command's options)\n\ncommands:\n");
    int w = 0;
    for (int i = 0; i < g_n_cmds; i++)
        if ((int)strlen(g_cmds[i].name) > w) w = (int)strlen(g_cmds[i].name);
    for (int i = 0; i < g_n_cmds; i++) fprintf(f, "  %-*s  %s\n", w, g_cmds[i].name, g_cmds[i].summary);
}

int main(int argc, char **argv) {
    qsort(g_cmds, (size_t)g_n_cmds, sizeof g_cmds[0], cmp_cmd);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < g_n_cmds; i++)
        if (!strcmp(argv[1], g_cmds[i].name)) return g_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "elms: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
