/* engine_args: what the engine subcommands (info, logits, generate, score) share: loading a model directory with
 * its optional tokenizer, strict token-id lists, and the view flags (--attn-units, --ffn-units, --level) that
 * select a sub-model. Every function prints "elms CMD: message" itself and returns non-zero on failure. */
#ifndef ELMS_CLI_ENGINE_ARGS_H
#define ELMS_CLI_ENGINE_ARGS_H

#include "engine/model.h"
#include "engine/tokenizer.h"

/* A loaded model directory. */
typedef struct EngineModel {
    const char *dir;
    Model model;
    Tokenizer tok;
    int has_tok;      /* DIR/tokenizer.json was present and loaded */
    Lora lora;        /* adapter loaded for --level, if any */
    int has_lora;
    ElasticView view; /* the sub-model the flags selected (view_full without flags) */
} EngineModel;

/* engine_model_load: model_load(dir) plus DIR/tokenizer.json when present (its ids must fit the model's vocab).
 * Returns 0 or 1 (runtime error, printed). */
int engine_model_load(const char *cmd, const char *dir, EngineModel *em);
/* engine_model_load_weights: engine_model_load with the weights held as `weights` says: "plain" (model_load: F32
 * in the training layout, what every experiment runs), "stored" (model_load_packed in the type the file stores,
 * read in place), or "f32" / "f16" / "bf16" (packed in that type). Returns 0, 1 (runtime error) or 2 (usage). */
int engine_model_load_weights(const char *cmd, const char *dir, const char *weights, EngineModel *em);
void engine_model_free(EngineModel *em);

/* engine_view_flags: build em->view from --attn-units / --ffn-units (a uniform prefix of every layer) or --level M
 * (M in (0, 1]: levels_view with the anchors of DIR/elastic.json, and DIR/lora/level-M.safetensors applied
 * when it exists and M < 1), then view_check. NULL strings mean "not given".
 * Returns 0, 1 (runtime error) or 2 (usage error), already printed. */
int engine_view_flags(const char *cmd, EngineModel *em, const char *attn, const char *ffn, const char *level);

/* engine_parse_tokens: "ID,ID,..." into a malloc'd array; every id must lie in [0, vocab). Returns the count,
 * or -1 after printing the error. */
int engine_parse_tokens(const char *cmd, const char *s, int vocab, int **out);

/* engine_bos: the one BOS rule (eval_bos: the tokenizer's id, else the model config's, else -1).
 * engine_eos: the model config's id, else the tokenizer's, else -1. */
int engine_bos(const EngineModel *em);
int engine_eos(const EngineModel *em);

#endif
