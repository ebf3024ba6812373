/* elms init: write a randomly initialised (seeded) model directory of a given shape: a language model by default,
 * or an encoder or decoder with a token or sequence classifier (--head, --labels, --label-groups, --multi-label,
 * --bidirectional). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/io.h"
#include "engine/model.h"

/* The flags, by index. */
enum {
    F_OUT, F_LAYERS, F_DIM, F_HEADS, F_KV, F_FFN, F_VOCAB, F_CTX, F_SEED, F_TIED, F_DTYPE, F_HEAD, F_LABELS,
    F_GROUPS, F_MULTI, F_BIDI, F_COUNT
};

/* parse_groups: "10,9" into c's label groups (each at least 2, at most ELMS_MAX_LABEL_GROUPS of them). */
static int parse_groups(const char *s, ModelConfig *c) {
    char buf[1024], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    c->n_groups = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long g;
        if (c->n_groups == ELMS_MAX_LABEL_GROUPS) {
            fprintf(stderr, "elms init: --label-groups: at most %d groups\n", ELMS_MAX_LABEL_GROUPS);
            return -1;
        }
        if (cli_int("init", "label-groups", tok, 2, ELMS_MAX_LABELS, &g)) return -1;
        c->group_size[c->n_groups++] = (int)g;
    }
    if (c->n_groups == 0) {
        fprintf(stderr, "elms init: --label-groups expects sizes separated by commas, e.g. 10,9\n");
        return -1;
    }
    return 0;
}

/* parse_head: --head, --labels, --label-groups, --multi-label and --bidirectional into c; --labels defaults to
 * the sum of the groups. */
static int parse_head(const CliFlag *fl, ModelConfig *c) {
    const char *h = fl[F_HEAD].value;
    if (!strcmp(h, "lm")) c->head = HEAD_LM;
    else if (!strcmp(h, "token")) c->head = HEAD_TOKEN;
    else if (!strcmp(h, "sequence")) c->head = HEAD_SEQUENCE;
    else {
        fprintf(stderr, "elms init: --head expects lm, token or sequence, got '%s'\n", h);
        return -1;
    }
    c->bidirectional = fl[F_BIDI].value != NULL;
    c->multi_label = fl[F_MULTI].value != NULL;
    if (fl[F_GROUPS].value && parse_groups(fl[F_GROUPS].value, c)) return -1;
    long labels = 0;
    for (int g = 0; g < c->n_groups; g++) labels += c->group_size[g];
    if (fl[F_LABELS].value && cli_int("init", "labels", fl[F_LABELS].value, 1, ELMS_MAX_LABELS, &labels)) return -1;
    c->n_labels = (int)labels;
    if (c->head == HEAD_LM && (labels || c->multi_label)) {
        fprintf(stderr, "elms init: --labels, --label-groups and --multi-label need --head token or sequence\n");
        return -1;
    }
    if (c->head != HEAD_LM && !labels) {
        fprintf(stderr, "elms init: --head %s needs --labels N (or --label-groups)\n", h);
        return -1;
    }
    return 0;
}

static int cmd_init(int argc, char **argv) {
    CliFlag fl[F_COUNT] = {
        [F_OUT] = {"out", "DIR", "output model directory (created; config.json and model.safetensors are replaced)",
                   NULL},
        [F_LAYERS] = {"layers", "N", "number of layers", "4"},
        [F_DIM] = {"dim", "D", "hidden size", "64"},
        [F_HEADS] = {"heads", "H", "attention (query) heads", "4"},
        [F_KV] = {"kv-heads", "K", "key/value heads (default: --heads)", NULL},
        [F_FFN] = {"ffn", "F", "FFN intermediate size", "172"},
        [F_VOCAB] = {"vocab", "V", "vocabulary size", "512"},
        [F_CTX] = {"ctx", "C", "context length (max_position_embeddings)", "256"},
        [F_SEED] = {"seed", "S", "random seed", "1"},
        [F_TIED] = {"tied", NULL, "tie the output head to the token embeddings (language models only)", NULL},
        [F_DTYPE] = {"dtype", "T", "f32 or f16", "f32"},
        [F_HEAD] = {"head", "KIND", "lm (language model), token or sequence (classification)", "lm"},
        [F_LABELS] = {"labels", "N", "classifier labels (default: the sum of --label-groups)", NULL},
        [F_GROUPS] = {"label-groups", "G,G", "sequence head: label groups, each its own softmax (e.g. 10,9)", NULL},
        [F_MULTI] = {"multi-label", NULL, "sequence head: every label an independent sigmoid", NULL},
        [F_BIDI] = {"bidirectional", NULL, "bidirectional attention (an encoder; is_causal false)", NULL},
    };
    int pr = cli_parse(argc, argv,
                       "elms init --out DIR --layers N --dim D --heads H --kv-heads K --ffn F --vocab V --ctx C "
                       "--seed S [--tied] [--dtype f32|f16] [--head lm|token|sequence --labels N "
                       "[--label-groups G,G | --multi-label]] [--bidirectional]",
                       fl, F_COUNT, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[F_OUT].value || !*fl[F_OUT].value) {
        fprintf(stderr, "elms init: --out DIR is required (see --help)\n");
        return 2;
    }
    long layers, dim, heads, kv, ffn, vocab, ctx, seed;
    if (cli_int("init", "layers", fl[F_LAYERS].value, 1, ELMS_MAX_LAYERS, &layers) ||
        cli_int("init", "dim", fl[F_DIM].value, 1, 1 << 16, &dim) ||
        cli_int("init", "heads", fl[F_HEADS].value, 1, 4096, &heads) ||
        cli_int("init", "kv-heads", fl[F_KV].value ? fl[F_KV].value : fl[F_HEADS].value, 1, 4096, &kv) ||
        cli_int("init", "ffn", fl[F_FFN].value, 1, 1 << 20, &ffn) ||
        cli_int("init", "vocab", fl[F_VOCAB].value, 1, 1 << 22, &vocab) ||
        cli_int("init", "ctx", fl[F_CTX].value, 1, 1 << 20, &ctx) ||
        cli_int("init", "seed", fl[F_SEED].value, 0, 4294967295L, &seed))
        return 2;
    StDtype dtype;
    if (st_dtype_parse(fl[F_DTYPE].value, &dtype) != 0 || dtype == ST_BF16) {
        fprintf(stderr, "elms init: --dtype expects f32 or f16, got '%s'\n", fl[F_DTYPE].value);
        return 2;
    }
    if (dim % heads) {
        fprintf(stderr, "elms init: --dim (%ld) must be a multiple of --heads (%ld)\n", dim, heads);
        return 2;
    }
    ModelConfig c = {
        .dim = (int)dim, .n_layers = (int)layers, .n_heads = (int)heads, .n_kv_heads = (int)kv,
        .head_dim = (int)(dim / heads), .ffn_dim = (int)ffn, .vocab_size = (int)vocab, .max_seq = (int)ctx,
        .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied = fl[F_TIED].value != NULL, .bos_id = -1, .eos_id = -1,
    };
    if (parse_head(fl, &c)) return 2;
    Err e;
    if (model_config_check(&c, &e) != 0) {
        fprintf(stderr, "elms init: %s\n", e.msg);
        return 2;
    }
    Model m;
    if (model_alloc(&m, &c, &e) != 0) return cli_error("init", "%s", e.msg);
    model_init_random(&m, (unsigned long)seed);
    int rc = model_save(&m, fl[F_OUT].value, dtype, &e) != 0 ? cli_error("init", "%s", e.msg) : 0;
    if (!rc)
        printf("wrote %s: %zu parameters (%s, %s%s, seed %ld)\n", fl[F_OUT].value, m.n_params, st_dtype_name(dtype),
               c.bidirectional ? "bidirectional " : "", model_head_name(c.head), seed);
    model_free(&m);
    return rc;
}

CLI_COMMAND("init", "write a randomly initialised model", cmd_init)
