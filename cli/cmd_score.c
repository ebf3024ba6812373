/* elms score: multiple-choice accuracy of a model on a JSONL item file, or on one split of one or all apps of a
 * data directory (the items are generated there when missing), per app and macro-averaged, optionally on a
 * sub-model (--level, --attn-units/--ffn-units) and with a seeded fraction of system tokens dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "cli/engine_args.h"
#include "cli/score_items.h"
#include "datasets/apps.h"

enum { F_MODEL, F_ITEMS, F_DROP, F_SEED, F_LEVEL, F_ATTN, F_FFN, F_APP, F_SPLIT, F_DATA, F_DATA_SEED, F_N };

/* ensure_items: DATA/items/APP/SPLIT.jsonl exists, generating every app's items for data_seed if it does not. */
static int ensure_items(const char *data, const char *app, const char *split, unsigned long data_seed, char *path,
                        size_t cap) {
    if (apps_items_path(path, cap, data, app, split)) return cli_error("score", "--data path too long: %s", data);
    if (path_is_file(path)) return 0;
    fprintf(stderr, "elms score: %s is missing; generating the items of every app into %s/items (seed %lu)\n", path,
            data, data_seed);
    Err e;
    if (apps_generate(data, data_seed, NULL, &e)) return cli_error("score", "%s", e.msg);
    return 0;
}

/* score_file: read one item file and add its scores to the tally. */
static int score_file(const char *path, const EngineModel *em, double drop, unsigned long seed, AppTally *tally) {
    ItemSet items;
    Err e;
    if (items_read(&items, path, &e) != 0) return cli_error("score", "%s", e.msg);
    int rc = items.n == 0 ? cli_error("score", "%s: no items", path)
                          : score_itemset("score", path, em, &items, drop, seed, tally);
    items_free(&items);
    return rc;
}

static int cmd_score(int argc, char **argv) {
    CliFlag fl[F_N] = {
        [F_MODEL] = {"model", "DIR", "model directory (config.json, model.safetensors, tokenizer.json)", NULL},
        [F_ITEMS] = {"items", "FILE", "items (JSONL, see docs/formats.md)", NULL},
        [F_DROP] = {"drop-system", "F", "drop a seeded random fraction F in [0, 1] of each item's system tokens", "0"},
        [F_SEED] = {"seed", "S", "seed of the drop mask", "0"},
        [F_LEVEL] = {"level", "M", "model level in (0, 1] (elastic.json anchors and lora/level-M.safetensors)", NULL},
        [F_ATTN] = {"attn-units", "N", "active KV groups per layer (prefix)", NULL},
        [F_FFN] = {"ffn-units", "N", "active FFN neurons per layer (prefix)", NULL},
        [F_APP] = {"app", "APP|all", "an app's items from the data directory (facts science funcall uinav physical "
                                     "reading), or all six", NULL},
        [F_SPLIT] = {"split", "NAME", "with --app: train, dev or test", "test"},
        [F_DATA] = {"data", "DIR", "with --app: the data directory (items are generated there when missing)", "data"},
        [F_DATA_SEED] = {"data-seed", "S", "with --app: seed of generated items (as elms data gen --seed)", "1"},
    };
    int pr = cli_parse(argc, argv,
                       "elms score --model DIR (--items FILE.jsonl | --app APP|all [--split test] [--data DIR])\n"
                       "                  [--drop-system F --seed S] [--level M]",
                       fl, F_N, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[F_MODEL].value || !fl[F_ITEMS].value == !fl[F_APP].value) {
        fprintf(stderr, "elms score: --model and exactly one of --items or --app are required (see --help)\n");
        return 2;
    }
    double drop;
    long seed, data_seed;
    if (cli_double("score", "drop-system", fl[F_DROP].value, &drop)) return 2;
    if (!(drop >= 0 && drop <= 1)) {
        fprintf(stderr, "elms score: --drop-system expects a fraction in [0, 1], got '%s'\n", fl[F_DROP].value);
        return 2;
    }
    if (cli_int("score", "seed", fl[F_SEED].value, 0, 4294967295L, &seed)) return 2;
    if (cli_int("score", "data-seed", fl[F_DATA_SEED].value, 0, 4294967295L, &data_seed)) return 2;
    const char *app = fl[F_APP].value;
    if (app && strcmp(app, "all") && apps_find(app) < 0) {
        fprintf(stderr, "elms score: --app expects one of facts science funcall uinav physical reading or all, "
                        "got '%s'\n", app);
        return 2;
    }
    if (app && apps_split_find(fl[F_SPLIT].value) < 0) {
        fprintf(stderr, "elms score: --split expects train, dev or test, got '%s'\n", fl[F_SPLIT].value);
        return 2;
    }
    EngineModel em;
    int rc = engine_model_load("score", fl[F_MODEL].value, &em);
    if (rc) return rc;
    rc = engine_view_flags("score", &em, fl[F_ATTN].value, fl[F_FFN].value, fl[F_LEVEL].value);
    AppTally tally;
    app_tally_init(&tally);
    if (!rc && !app) rc = score_file(fl[F_ITEMS].value, &em, drop, (unsigned long)seed, &tally);
    for (int a = 0; !rc && app && a < APPS_N; a++) {
        if (strcmp(app, "all") && strcmp(app, apps_table[a].name)) continue;
        char path[4096];
        rc = ensure_items(fl[F_DATA].value, apps_table[a].name, fl[F_SPLIT].value, (unsigned long)data_seed, path,
                          sizeof path);
        if (!rc) rc = score_file(path, &em, drop, (unsigned long)seed, &tally);
    }
    if (!rc) app_tally_print(&tally, stdout);
    app_tally_free(&tally);
    engine_model_free(&em);
    return rc;
}

CLI_COMMAND("score", "multiple-choice accuracy of a model on items (a file, or an app's split)", cmd_score)
