/* elms logits: the model's logits at every position of a token sequence (one line per position). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/engine_args.h"

static int cmd_logits(int argc, char **argv) {
    CliFlag fl[] = {
        {"model", "DIR", "model directory", NULL},
        {"tokens", "IDS", "comma-separated token ids, e.g. 1,42,7", NULL},
        {"attn-units", "N", "active KV groups per layer (prefix)", NULL},
        {"ffn-units", "N", "active FFN neurons per layer (prefix)", NULL},
        {"level", "M", "model level in (0, 1]", NULL},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms logits --model DIR --tokens ID,ID,...", fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || !fl[1].value) {
        fprintf(stderr, "elms logits: --model and --tokens are required (see --help)\n");
        return 2;
    }
    EngineModel em;
    int rc = engine_model_load("logits", fl[0].value, &em);
    if (rc) return rc;
    rc = engine_view_flags("logits", &em, fl[2].value, fl[3].value, fl[4].value);
    int *ids = NULL, n = 0; /* ids: (n) */
    const ModelConfig *c = &em.model.cfg;
    if (!rc && (n = engine_parse_tokens("logits", fl[1].value, c->vocab_size, &ids)) < 0) rc = 2;
    if (!rc && n > c->max_seq) rc = cli_error("logits", "%d tokens exceed the context of %d", n, c->max_seq);
    float *logits = NULL; /* (n, vocab) */
    if (!rc && !(logits = malloc((size_t)n * (size_t)c->vocab_size * sizeof *logits)))
        rc = cli_error("logits", "out of memory");
    Err e;
    if (!rc && model_logits(&em.model, &em.view, ids, n, logits, &e) != 0) rc = cli_error("logits", "%s", e.msg);
    for (int i = 0; !rc && i < n; i++) {
        printf("pos %d", i);
        const float *row = logits + (size_t)i * (size_t)c->vocab_size;
        for (int j = 0; j < c->vocab_size; j++) printf(" %.6g", (double)row[j]);
        putchar('\n');
    }
    free(logits);
    free(ids);
    engine_model_free(&em);
    return rc;
}

CLI_COMMAND("logits", "print the logits of a token sequence", cmd_logits)
