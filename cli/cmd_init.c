/* elms init: write a randomly initialised (seeded) model directory of a given shape. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/io.h"
#include "engine/model.h"

static int cmd_init(int argc, char **argv) {
    CliFlag fl[] = {
        {"out", "DIR", "output model directory (created; config.json and model.safetensors are replaced)", NULL},
        {"layers", "N", "number of layers", "4"},
        {"dim", "D", "hidden size", "64"},
        {"heads", "H", "attention (query) heads", "4"},
        {"kv-heads", "K", "key/value heads (default: --heads)", NULL},
        {"ffn", "F", "FFN intermediate size", "172"},
        {"vocab", "V", "vocabulary size", "512"},
        {"ctx", "C", "context length (max_position_embeddings)", "256"},
        {"seed", "S", "random seed", "1"},
        {"tied", NULL, "tie the output head to the token embeddings", NULL},
        {"dtype", "T", "f32 or f16", "f32"},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv,
                       "elms init --out DIR --layers N --dim D --heads H --kv-heads K --ffn F --vocab V --ctx C "
                       "--seed S [--tied] [--dtype f32|f16]",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || !*fl[0].value) {
        fprintf(stderr, "elms init: --out DIR is required (see --help)\n");
        return 2;
    }
    long layers, dim, heads, kv, ffn, vocab, ctx, seed;
    if (cli_int("init", "layers", fl[1].value, 1, ELMS_MAX_LAYERS, &layers) ||
        cli_int("init", "dim", fl[2].value, 1, 1 << 16, &dim) || cli_int("init", "heads", fl[3].value, 1, 4096, &heads) ||
        cli_int("init", "kv-heads", fl[4].value ? fl[4].value : fl[3].value, 1, 4096, &kv) ||
        cli_int("init", "ffn", fl[5].value, 1, 1 << 20, &ffn) || cli_int("init", "vocab", fl[6].value, 1, 1 << 22, &vocab) ||
        cli_int("init", "ctx", fl[7].value, 1, 1 << 20, &ctx) || cli_int("init", "seed", fl[8].value, 0, 4294967295L, &seed))
        return 2;
    StDtype dtype;
    if (st_dtype_parse(fl[10].value, &dtype) != 0 || dtype == ST_BF16) {
        fprintf(stderr, "elms init: --dtype expects f32 or f16, got '%s'\n", fl[10].value);
        return 2;
    }
    if (dim % heads) {
        fprintf(stderr, "elms init: --dim (%ld) must be a multiple of --heads (%ld)\n", dim, heads);
        return 2;
    }
    ModelConfig c = {
        .dim = (int)dim, .n_layers = (int)layers, .n_heads = (int)heads, .n_kv_heads = (int)kv,
        .head_dim = (int)(dim / heads), .ffn_dim = (int)ffn, .vocab_size = (int)vocab, .max_seq = (int)ctx,
        .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied = fl[9].value != NULL, .bos_id = -1, .eos_id = -1,
    };
    Err e;
    if (model_config_check(&c, &e) != 0) {
        fprintf(stderr, "elms init: %s\n", e.msg);
        return 2;
    }
    Model m;
    if (model_alloc(&m, &c, &e) != 0) return cli_error("init", "%s", e.msg);
    model_init_random(&m, (unsigned long)seed);
    int rc = model_save(&m, fl[0].value, dtype, &e) != 0 ? cli_error("init", "%s", e.msg) : 0;
    if (!rc)
        printf("wrote %s: %zu parameters (%s, seed %ld)\n", fl[0].value, m.n_params, st_dtype_name(dtype), seed);
    model_free(&m);
    return rc;
}

CLI_COMMAND("init", "write a randomly initialised model", cmd_init)
