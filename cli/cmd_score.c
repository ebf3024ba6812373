/* elms score: multiple-choice accuracy of a model on a JSONL item file, per app and macro-averaged, optionally
 * on a sub-model (--level, --attn-units/--ffn-units) and with a seeded fraction of system tokens dropped. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/engine_args.h"
#include "cli/score_items.h"

static int cmd_score(int argc, char **argv) {
    CliFlag fl[] = {
        {"model", "DIR", "model directory (config.json, model.safetensors, tokenizer.json)", NULL},
        {"items", "FILE", "items (JSONL, see docs/formats.md)", NULL},
        {"drop-system", "F", "drop a seeded random fraction F in [0, 1] of each item's system tokens", "0"},
        {"seed", "S", "seed of the drop mask", "0"},
        {"level", "M", "model level in (0, 1] (elastic.json anchors and lora/level-M.safetensors when present)", NULL},
        {"attn-units", "N", "active KV groups per layer (prefix)", NULL},
        {"ffn-units", "N", "active FFN neurons per layer (prefix)", NULL},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms score --model DIR --items FILE.jsonl [--drop-system F --seed S] [--level M]",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || !fl[1].value) {
        fprintf(stderr, "elms score: --model and --items are required (see --help)\n");
        return 2;
    }
    double drop;
    long seed;
    if (cli_double("score", "drop-system", fl[2].value, &drop)) return 2;
    if (!(drop >= 0 && drop <= 1)) {
        fprintf(stderr, "elms score: --drop-system expects a fraction in [0, 1], got '%s'\n", fl[2].value);
        return 2;
    }
    if (cli_int("score", "seed", fl[3].value, 0, 4294967295L, &seed)) return 2;
    ItemSet items;
    Err e;
    if (items_read(&items, fl[1].value, &e) != 0) return cli_error("score", "%s", e.msg);
    if (items.n == 0) {
        items_free(&items);
        return cli_error("score", "%s: no items", fl[1].value);
    }
    EngineModel em;
    int rc = engine_model_load("score", fl[0].value, &em);
    if (rc) {
        items_free(&items);
        return rc;
    }
    rc = engine_view_flags("score", &em, fl[5].value, fl[6].value, fl[4].value);
    AppTally tally;
    app_tally_init(&tally);
    if (!rc) rc = score_itemset("score", fl[1].value, &em, &items, drop, (unsigned long)seed, &tally);
    if (!rc) app_tally_print(&tally, stdout);
    app_tally_free(&tally);
    engine_model_free(&em);
    items_free(&items);
    return rc;
}

CLI_COMMAND("score", "multiple-choice accuracy of a model on an item file", cmd_score)
