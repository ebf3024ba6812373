/* elms generate: greedy continuation of a prompt, as text when the model has a tokenizer, else as token ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_args.h"
#include "engine/score.h"

static int cmd_generate(int argc, char **argv) {
    CliFlag fl[] = {
        {"model", "DIR", "model directory", NULL},
        {"prompt", "TEXT", "prompt text (needs DIR/tokenizer.json; BOS is prepended when the model has one)", NULL},
        {"tokens", "IDS", "prompt as comma-separated token ids (used as given)", NULL},
        {"max-new", "N", "tokens to generate at most (stops at EOS and at the context)", "32"},
        {"attn-units", "N", "active KV groups per layer (prefix)", NULL},
        {"ffn-units", "N", "active FFN neurons per layer (prefix)", NULL},
        {"level", "M", "model level in (0, 1]", NULL},
        {"weights", "W", "how the weights are held: stored (the file's type, read in place from the mapped file), "
                         "f32, f16 or bf16 (converted once where the file differs), or plain (F32 in the training "
                         "layout, as the experiments run)", "stored"},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms generate --model DIR (--prompt TEXT | --tokens IDS) [--max-new N]", fl, nf,
                       NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value || !fl[1].value == !fl[2].value) {
        fprintf(stderr, "elms generate: --model and exactly one of --prompt / --tokens are required (see --help)\n");
        return 2;
    }
    long max_new;
    if (cli_int("generate", "max-new", fl[3].value, 0, 1L << 20, &max_new)) return 2;
    EngineModel em;
    int rc = engine_model_load_weights("generate", fl[0].value, fl[7].value, &em);
    if (rc) return rc;
    rc = engine_view_flags("generate", &em, fl[4].value, fl[5].value, fl[6].value);
    const ModelConfig *c = &em.model.cfg;
    int *ids = NULL, n = 0; /* ids: (n) prompt */
    if (!rc && fl[2].value) {
        if ((n = engine_parse_tokens("generate", fl[2].value, c->vocab_size, &ids)) < 0) rc = 2;
    } else if (!rc) {
        if (!em.has_tok) {
            rc = cli_error("generate", "%s/tokenizer.json: missing (needed for --prompt; use --tokens IDS instead)",
                           em.dir);
        } else {
            Err e;
            int *body = NULL;
            int nb = tokenizer_encode(&em.tok, fl[1].value, &body, &e);
            int bos = engine_bos(&em);
            if (nb < 0) {
                rc = cli_error("generate", "--prompt: %s", e.msg);
            } else if (!(ids = malloc((size_t)(nb + 1) * sizeof *ids))) {
                rc = cli_error("generate", "out of memory");
            } else {
                if (bos >= 0) ids[n++] = bos;
                memcpy(ids + n, body, (size_t)nb * sizeof *ids);
                n += nb;
                if (n == 0) rc = cli_error("generate", "--prompt: empty prompt (no tokens and no BOS)");
            }
            free(body);
        }
    }
    if (!rc && n > c->max_seq)
        rc = cli_error("generate", "prompt of %d tokens exceeds the context of %d", n, c->max_seq);
    int *out = NULL, got = 0; /* out: (max_new) generated ids */
    if (!rc && !(out = malloc((size_t)(max_new ? max_new : 1) * sizeof *out))) rc = cli_error("generate", "out of memory");
    Err e;
    GenerateTiming tm;
    if (!rc &&
        (got = generate_greedy(&em.model, &em.view, NULL, ids, n, (int)max_new, engine_eos(&em), out, &tm, &e)) < 0)
        rc = cli_error("generate", "%s", e.msg);
    if (!rc) {
        if (em.has_tok) {
            char *txt = tokenizer_decode(&em.tok, out, got);
            if (!txt) rc = cli_error("generate", "out of memory");
            else printf("%s\n", txt);
            free(txt);
        } else {
            for (int i = 0; i < got; i++) printf("%s%d", i ? "," : "", out[i]);
            putchar('\n');
        }
    }
    if (!rc) { /* speed on stderr, after the continuation (stdout stays the continuation alone) */
        fflush(stdout);
        fprintf(stderr, "generate: weights %s%s; prefill %d tokens in %.2f ms (%.0f tokens/s)",
                st_dtype_name(em.model.packed ? em.model.packed->type : ST_F32),
                em.model.packed ? (em.model.packed->mapped_bytes ? " (in place)" : " (converted)") : " (plain)", n, 1e3 * tm.prefill_s,
                tm.prefill_s > 0 ? n / tm.prefill_s : 0.0);
        if (tm.decode_steps > 0)
            fprintf(stderr, "; decode %d tokens in %.2f ms (%.1f tokens/s, %.3f ms/token)", tm.decode_steps,
                    1e3 * tm.decode_s, tm.decode_steps / tm.decode_s, 1e3 * tm.decode_s / tm.decode_steps);
        fputc('\n', stderr);
    }
    free(out);
    free(ids);
    engine_model_free(&em);
    return rc;
}

CLI_COMMAND("generate", "greedy generation from a prompt", cmd_generate)
