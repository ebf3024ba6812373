/* elms tlm train: train the tiny LM (policies/tlm_build.h) of a reordered model into a directory, with every
 * option of the build; `elms prepare elms` runs the same build with the defaults into MODEL/policies/elms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_args.h"
#include "cli/grid_wiring.h"
#include "elastic/dirs.h"
#include "policies/tlm_build.h"

enum {
    F_MODEL, F_DATA, F_OUT, F_DB, F_SCORE_ITEMS, F_GRID_ITEMS, F_DEV_ITEMS, F_DIM, F_LAYERS, F_HEADS, F_FFN,
    F_EPOCHS, F_PROB_EPOCHS, F_LR, F_ACCUM, F_SEED, F_LABELS, F_EXCLUDE, F_SWEEP, F_N
};

/* open_llm: the LLM of dir (with its tokenizer: the tiny LM shares it) and an evaluator whose store is the results
 * database db; 0, or 1 after printing the error (nothing left open) */
static int open_llm(const char *dir, const char *db, unsigned long seed, EngineModel *em, GridWiring *w) {
    if (engine_model_load("tlm", dir, em)) return 1;
    if (!em->has_tok) {
        engine_model_free(em);
        return cli_error("tlm", "%s: no tokenizer.json (the tiny LM shares the LLM's tokenizer)", dir);
    }
    if (grid_wiring_open(w, "tlm", db, "none", seed, &em->model, &em->tok)) {
        engine_model_free(em);
        return 1;
    }
    return 0;
}

/* wire_opts: o's LLM, directories, evaluator (with its store) and progress lines prefixed by prefix */
static void wire_opts(TlmBuildOpts *o, EngineModel *em, GridWiring *w, const char *model, const char *data,
                      StageProgress *prog, const char *prefix) {
    stage_progress_init(prog, prefix);
    o->llm = &em->model;
    o->model_dir = model;
    o->tok = &em->tok;
    o->data_dir = data;
    o->ev = &w->ev;
    o->progress = stage_progress_report;
    o->progress_ctx = prog;
}

static int cmd_tlm_train(int argc, char **argv) {
    TlmBuildOpts o;
    tlm_build_defaults(&o);
    char d_dim[16], d_layers[16], d_heads[16], d_ffn[16]; /* the shipped shape, from tlm_build_defaults */
    snprintf(d_dim, sizeof d_dim, "%d", o.shape.dim);
    snprintf(d_layers, sizeof d_layers, "%d", o.shape.layers);
    snprintf(d_heads, sizeof d_heads, "%d", o.shape.heads);
    snprintf(d_ffn, sizeof d_ffn, "%d", o.shape.ffn);
    CliFlag fl[F_N] = {
        [F_MODEL] = {"model", "DIR", "the reordered model (elastic.json, lora/)", "models/base-elastic"},
        [F_DATA] = {"data", "DIR", "data directory (items/APP/train.jsonl and dev.jsonl)", "data"},
        [F_OUT] = {"out", "DIR", "output directory (score/, pair/, prob/, tlm.json); written whole or not at all",
                   NULL},
        [F_DB] = {"db", "FILE", "results database whose evaluation cache the grids use", "results/elms.db"},
        [F_SCORE_ITEMS] = {"score-items", "N", "train items per app for the score head", "500"},
        [F_GRID_ITEMS] = {"grid-items", "N", "train items per app for the decision heads", "100"},
        [F_DEV_ITEMS] = {"dev-items", "N", "dev items per app for the choices between variants", "50"},
        [F_DIM] = {"dim", "D", "hidden size of each head", d_dim},
        [F_LAYERS] = {"layers", "L", "encoder layers of each head", d_layers},
        [F_HEADS] = {"heads", "H", "attention heads", d_heads},
        [F_FFN] = {"ffn", "F", "FFN width", d_ffn},
        [F_EPOCHS] = {"epochs", "E", "passes over each head's examples", "3"},
        [F_PROB_EPOCHS] = {"prob-epochs", "E", "passes over the prob head's examples (one per item)", "30"},
        [F_LR] = {"lr", "X", "peak AdamW learning rate", "0.001"},
        [F_ACCUM] = {"accum", "N", "examples per optimizer step", "16"},
        [F_SEED] = {"seed", "S", "initialisation and example order", "1"},
        [F_LABELS] = {"score-labels", "KIND", "auto (the better on dev), relevant or saliency", "auto"},
        [F_EXCLUDE] = {"exclude-app", "APP", "leave this app out of every step (leave-one-app-out)", NULL},
        [F_SWEEP] = {"sweep", "DxL,...", "also train and measure these sizes (width x layers; 16-wide heads, FFN twice "
                                        "the width) on the same labels: tlm.json size_sweep", NULL},
    };
    int pr = cli_parse(argc, argv, "elms tlm train --out DIR [--model DIR] [--data DIR] [options]", fl, F_N, NULL, 0,
                       NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[F_OUT].value) {
        fprintf(stderr, "elms tlm train: --out is required (see --help)\n");
        return 2;
    }
    long si, gi, di, dim, layers, heads, ffn, epochs, pepochs, accum, seed;
    double lr;
    if (cli_int("tlm", "score-items", fl[F_SCORE_ITEMS].value, 1, 1000000, &si) ||
        cli_int("tlm", "grid-items", fl[F_GRID_ITEMS].value, 1, 1000000, &gi) ||
        cli_int("tlm", "dev-items", fl[F_DEV_ITEMS].value, 1, 1000000, &di) ||
        cli_int("tlm", "dim", fl[F_DIM].value, 2, 4096, &dim) ||
        cli_int("tlm", "layers", fl[F_LAYERS].value, 1, 64, &layers) ||
        cli_int("tlm", "heads", fl[F_HEADS].value, 1, 256, &heads) ||
        cli_int("tlm", "ffn", fl[F_FFN].value, 1, 65536, &ffn) ||
        cli_int("tlm", "epochs", fl[F_EPOCHS].value, 1, 1000, &epochs) ||
        cli_int("tlm", "prob-epochs", fl[F_PROB_EPOCHS].value, 1, 10000, &pepochs) ||
        cli_int("tlm", "accum", fl[F_ACCUM].value, 1, 100000, &accum) ||
        cli_int("tlm", "seed", fl[F_SEED].value, 0, 4294967295L, &seed) ||
        cli_double("tlm", "lr", fl[F_LR].value, &lr))
        return 2;
    if (dim % heads || (dim / heads) % 2)
        return cli_error("tlm", "--dim %ld must be a multiple of --heads %ld with an even head size", dim, heads), 2;
    if (!(lr > 0 && lr < 1)) return cli_error("tlm", "--lr expects a number in (0, 1), not %s", fl[F_LR].value), 2;
    o.score_items = (int)si;
    o.grid_items = (int)gi;
    o.dev_items = (int)di;
    o.shape = (TlmShape){(int)dim, (int)layers, (int)heads, (int)ffn};
    o.epochs = (int)epochs;
    o.prob_epochs = (int)pepochs;
    o.lr = (float)lr;
    o.accum = (int)accum;
    o.seed = (unsigned long)seed;
    o.score_labels = fl[F_LABELS].value;
    for (const char *q = fl[F_SWEEP].value; q && *q;) {
        int d, l, used = 0;
        if (o.n_sweep == 8 || sscanf(q, "%dx%d%n", &d, &l, &used) != 2 || d < 16 || d > 4096 || d % 16 || l < 1 ||
            l > 64 || (q[used] && q[used] != ','))
            return cli_error("tlm", "--sweep expects up to 8 WIDTHxLAYERS pairs (width a multiple of 16), not '%s'",
                             fl[F_SWEEP].value), 2;
        o.sweep[o.n_sweep++] = (TlmShape){d, l, d / 16, 2 * d};
        q += used + (q[used] == ',');
    }
    o.exclude = fl[F_EXCLUDE].value;

    EngineModel em;
    GridWiring w;
    if (open_llm(fl[F_MODEL].value, fl[F_DB].value, o.seed, &em, &w)) return 1;
    StageProgress prog;
    wire_opts(&o, &em, &w, fl[F_MODEL].value, fl[F_DATA].value, &prog, "tlm:");
    Err e;
    char tmp[1200] = "";
    int rc = dir_stage(fl[F_OUT].value, tmp, sizeof tmp, &e);
    if (!rc) rc = tlm_build(&o, tmp, &e);
    stage_progress_finish(&prog);
    if (!rc) rc = dir_replace(tmp, fl[F_OUT].value, &e);
    if (rc && tmp[0]) {
        Err ignore;
        dir_remove_tree(tmp, &ignore);
    }
    int wc = grid_wiring_close(&w);
    engine_model_free(&em);
    if (rc) return cli_error("tlm", "%s", e.msg);
    printf("wrote %s (tlm.json holds the dev figures)\n", fl[F_OUT].value);
    return wc;
}

/* elms tlm eval: a trained tiny LM's figures on a split (tlm_evaluate) */
static int cmd_tlm_eval(int argc, char **argv) {
    enum { E_MODEL, E_DATA, E_TLM, E_DB, E_SPLIT, E_ITEMS, E_OUT, E_N };
    CliFlag fl[E_N] = {
        [E_MODEL] = {"model", "DIR", "the reordered model (elastic.json, lora/)", "models/base-elastic"},
        [E_DATA] = {"data", "DIR", "data directory", "data"},
        [E_TLM] = {"tlm", "DIR", "the tiny LM (default MODEL/policies/elms)", NULL},
        [E_DB] = {"db", "FILE", "results database whose evaluation cache the grid uses", "results/elms.db"},
        [E_SPLIT] = {"split", "NAME", "dev or test", "test"},
        [E_ITEMS] = {"items", "N", "items per app", "50"},
        [E_OUT] = {"out", "FILE", "the figures (JSON)", NULL},
    };
    int pr = cli_parse(argc, argv, "elms tlm eval --out FILE [--split test] [--items 50] [--tlm DIR]", fl, E_N, NULL, 0,
                       NULL);
    if (pr) return pr > 0 ? 0 : 2;
    long items;
    if (!fl[E_OUT].value) return cli_error("tlm", "--out is required (see --help)"), 2;
    if (strcmp(fl[E_SPLIT].value, "dev") && strcmp(fl[E_SPLIT].value, "test"))
        return cli_error("tlm", "--split expects dev or test, not '%s'", fl[E_SPLIT].value), 2;
    if (cli_int("tlm", "items", fl[E_ITEMS].value, 1, 1000000, &items)) return 2;
    EngineModel em;
    GridWiring w;
    if (open_llm(fl[E_MODEL].value, fl[E_DB].value, 1, &em, &w)) return 1;
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", fl[E_TLM].value ? fl[E_TLM].value : "");
    if (!fl[E_TLM].value) snprintf(dir, sizeof dir, "%s/policies/elms", fl[E_MODEL].value);
    TlmBuildOpts o;
    tlm_build_defaults(&o);
    StageProgress prog;
    wire_opts(&o, &em, &w, fl[E_MODEL].value, fl[E_DATA].value, &prog, "tlm eval:");
    o.dev_items = (int)items;
    Err e;
    int rc = tlm_evaluate(&o, dir, fl[E_SPLIT].value, fl[E_OUT].value, &e);
    stage_progress_finish(&prog);
    int wc = grid_wiring_close(&w);
    engine_model_free(&em);
    if (rc) return cli_error("tlm", "%s", e.msg);
    printf("wrote %s\n", fl[E_OUT].value);
    return wc;
}

static int cmd_tlm(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return cmd_tlm_train(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "eval")) return cmd_tlm_eval(argc - 1, argv + 1);
    fprintf(stderr, "usage: elms tlm train --out DIR [options]   (train the tiny LM)\n"
                    "       elms tlm eval --out FILE [options]   (its figures on a split)\n"
                    "--help after either for its options\n");
    return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
}

CLI_COMMAND("tlm", "train the tiny LM (score and decision heads) of a reordered model, or evaluate one", cmd_tlm)
