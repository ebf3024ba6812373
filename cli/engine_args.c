/* engine_args: model directory loading, token lists and view flags shared by the engine subcommands. */
#include "cli/engine_args.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "elastic/levels.h"
#include "engine/io.h"
#include "eval/eval.h"

int engine_model_load(const char *cmd, const char *dir, EngineModel *em) {
    return engine_model_load_weights(cmd, dir, "plain", em);
}

int engine_model_load_weights(const char *cmd, const char *dir, const char *weights, EngineModel *em) {
    memset(em, 0, sizeof *em);
    em->dir = dir;
    Err e;
    StDtype t = ST_F32;
    int plain = !strcmp(weights, "plain"), stored = !strcmp(weights, "stored");
    if (!plain && !stored && st_dtype_parse(weights, &t))
        return cli_error(cmd, "--weights %s: expected plain, stored, f32, f16 or bf16", weights) + 1;
    int rc = plain ? model_load(&em->model, dir, &e) : model_load_packed(&em->model, dir, stored ? -1 : (int)t, &e);
    if (rc != 0) return cli_error(cmd, "%s", e.msg);
    char tp[1200];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
    if (path_is_file(tp)) {
        if (tokenizer_load(&em->tok, tp, &e) != 0) {
            model_free(&em->model);
            return cli_error(cmd, "%s", e.msg);
        }
        em->has_tok = 1;
        if (em->tok.vocab_size > em->model.cfg.vocab_size) {
            int v = em->tok.vocab_size, mv = em->model.cfg.vocab_size;
            engine_model_free(em);
            return cli_error(cmd, "%s: %d pieces but the model's vocab_size is %d", tp, v, mv);
        }
    }
    view_full(&em->model, &em->view);
    return 0;
}

void engine_model_free(EngineModel *em) {
    if (em->has_tok) tokenizer_free(&em->tok);
    if (em->has_lora) lora_free(&em->lora);
    model_free(&em->model);
    em->has_tok = em->has_lora = 0;
}

int engine_view_flags(const char *cmd, EngineModel *em, const char *attn, const char *ffn, const char *level) {
    const ModelConfig *c = &em->model.cfg;
    if (level && (attn || ffn)) {
        fprintf(stderr, "elms %s: --level and --attn-units/--ffn-units are exclusive\n", cmd);
        return 2;
    }
    long a = c->n_kv_heads, f = c->ffn_dim;
    /* widths are range-checked by view_check below, so any integer is accepted here */
    if (attn && cli_int(cmd, "attn-units", attn, 0, INT_MAX, &a)) return 2;
    if (ffn && cli_int(cmd, "ffn-units", ffn, 0, INT_MAX, &f)) return 2;
    if (level) {
        double m;
        if (cli_double(cmd, "level", level, &m)) return 2;
        if (!(m > 0 && m <= 1)) {
            fprintf(stderr, "elms %s: --level expects a model level in (0, 1], got '%s'\n", cmd, level);
            return 2;
        }
        unsigned char anchor[ELMS_MAX_LAYERS];
        int n_anchors;
        Err e;
        if (levels_read_anchors(em->dir, c->n_layers, anchor, &n_anchors, &e) != 0) return cli_error(cmd, "%s", e.msg);
        if (levels_view(&em->model, anchor, m, &em->view, &e) != 0) return cli_error(cmd, "%s: %s", em->dir, e.msg);
        char lp[1300];
        snprintf(lp, sizeof lp, "%s/lora/level-%.1f.safetensors", em->dir, m);
        if (m < 1 && path_is_file(lp)) {
            if (lora_load(&em->lora, c, lp, &e) != 0) return cli_error(cmd, "%s", e.msg);
            em->has_lora = 1;
        }
    }
    if (!level) view_uniform(&em->model, (int)a, (int)f, &em->view);
    if (em->has_lora) em->view.lora = &em->lora;
    Err e;
    if (view_check(&em->model, &em->view, &e) != 0) return cli_error(cmd, "%s: %s", em->dir, e.msg);
    return 0;
}

int engine_parse_tokens(const char *cmd, const char *s, int vocab, int **out) {
    *out = NULL;
    if (!s || !*s) {
        fprintf(stderr, "elms %s: --tokens expects a non-empty list ID,ID,...\n", cmd);
        return -1;
    }
    int n = 1;
    for (const char *p = s; *p; p++) n += *p == ',';
    int *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "elms %s: out of memory\n", cmd);
        return -1;
    }
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ',') || isspace((unsigned char)*p) || *p == '+') {
            fprintf(stderr, "elms %s: --tokens: item %d is not an integer (expected ID,ID,...)\n", cmd, i);
            free(ids);
            return -1;
        }
        if (v < 0 || v >= vocab) {
            fprintf(stderr, "elms %s: --tokens: id %ld (item %d) outside the vocabulary [0, %d)\n", cmd, v, i, vocab);
            free(ids);
            return -1;
        }
        ids[i] = (int)v;
        p = *end ? end + 1 : end;
    }
    *out = ids;
    return n;
}

int engine_bos(const EngineModel *em) {
    return eval_bos(em->has_tok ? &em->tok : NULL, &em->model);
}

int engine_eos(const EngineModel *em) {
    if (em->model.cfg.eos_id >= 0) return em->model.cfg.eos_id;
    return em->has_tok ? em->tok.eos_id : -1;
}
