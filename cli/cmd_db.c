/* elms db: operations on results databases: `merge` combines databases (the shards of a sharded run into whole
 * runs, sim/db_merge.h) and `views` (re)creates the views of analysis/views.sql. Both migrate a database of an
 * older schema first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sim/db.h"
#include "sim/db_merge.h"

#define MAX_INPUTS 4096

static const char USAGE[] = "elms db merge OUT IN...   combine databases (shards into whole runs) into OUT\n"
                            "       elms db views DB          create the views of analysis/views.sql in DB";

/* db_merge_cmd: argv[0] is "db merge"; cmdline is the whole command line (recorded in merged runs). */
static int db_merge_cmd(int argc, char **argv, const char *cmdline) {
    static const char *pos[MAX_INPUTS + 1];
    int n_pos = 0;
    int pr = cli_parse(argc, argv, USAGE, NULL, 0, pos, MAX_INPUTS + 1, &n_pos);
    if (pr) return pr > 0 ? 0 : 2;
    if (n_pos < 2) {
        fprintf(stderr, "elms db merge: expects OUT and at least one IN database (see --help)\n");
        return 2;
    }
    DbMergeReport r;
    Err e;
    if (db_merge(pos[0], pos + 1, n_pos - 1, cmdline, &r, &e)) return cli_error("db merge", "%s", e.msg);
    printf("merged %ld runs from %ld shards; copied %ld whole runs; %ld runs already in %s; %ld incomplete runs "
           "ignored; evaluations: %ld added, %ld already present; calibration points: %ld added\n", r.merged_runs,
           r.shards, r.copied_runs, r.present_runs, pos[0], r.incomplete_runs, r.evals_added, r.evals_present,
           r.calibration_added);
    return 0;
}

/* db_views_cmd: argv[0] is "db views". */
static int db_views_cmd(int argc, char **argv) {
    const char *pos[2];
    int n_pos = 0;
    int pr = cli_parse(argc, argv, USAGE, NULL, 0, pos, 2, &n_pos);
    if (pr) return pr > 0 ? 0 : 2;
    if (n_pos != 1) {
        fprintf(stderr, "elms db views: expects one database (see --help)\n");
        return 2;
    }
    Db d;
    Err e;
    if (db_open(&d, pos[0], &e)) return cli_error("db views", "%s", e.msg);
    if (d.migrated_from)
        fprintf(stderr, "elms db views: %s: migrated the database from schema version %d to %d\n", pos[0],
                d.migrated_from, DB_SCHEMA_VERSION);
    int rc = db_views_apply(&d, &e) ? cli_error("db views", "%s", e.msg) : 0;
    db_close(&d);
    return rc;
}

static int cmd_db(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: %s\n", USAGE);
        return argc < 2 ? 2 : 0;
    }
    char *cmdline = cli_command_line(argc, argv), *op = argv[1], name[32];
    snprintf(name, sizeof name, "db %s", op);
    argv[1] = name; /* the operation's messages say "elms db merge: ..." */
    int rc;
    if (!strcmp(op, "merge")) {
        rc = db_merge_cmd(argc - 1, argv + 1, cmdline);
    } else if (!strcmp(op, "views")) {
        rc = db_views_cmd(argc - 1, argv + 1);
    } else {
        fprintf(stderr, "elms db: unknown operation '%s' (merge or views)\nusage: %s\n", op, USAGE);
        rc = 2;
    }
    argv[1] = op;
    free(cmdline);
    return rc;
}

CLI_COMMAND("db", "results databases: merge shards into whole runs, create the analysis views", cmd_db)
