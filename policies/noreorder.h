/* noreorder: the artefacts of the `elms-noreorder` ablation, ELMS without one-shot neuron reordering. From a
 * reordered model (MODEL, its elastic.json) it writes into a directory an elastic model in the ORIGINAL unit order
 * (every layer's permutation undone: the original model's weights, bit for bit as stored), an elastic.json with
 * the same anchors and level table but identity orders (so every level is an original-order prefix, "the first
 * heads and neurons" instead of "the most important ones"), and its own eight LoRA recovery adapters trained with
 * the same options as MODEL's (recover_opts_default, the ones `make prepare` uses). Everything else of ELMS (the
 * tiny LM, compression, decisions) is kept, so the ablation isolates what the reordering buys.
 *
 * Resumable: the work goes to MODEL/policies/elms-noreorder.work/ (adapters checkpoint there and resume after an
 * interruption; a work folder made from other weights is started again) and is moved into the build directory
 * when every adapter is trained. */
#ifndef ELMS_NOREORDER_H
#define ELMS_NOREORDER_H

#include "elastic/elastic_meta.h"
#include "engine/err.h"
#include "engine/model.h"
#include "policies/build.h"

/* noreorder_undo: m, a reordered model described by meta (its elastic.json), back into the original unit order of
 * every layer (bit for bit the weights it was reordered from), and meta with it: identity orders, importances
 * indexed by original unit; anchors and the level table are unchanged. m's hash is recomputed. */
int noreorder_undo(Model *m, ElasticMeta *meta, Err *e);

/* noreorder_build: write the un-reordered elastic model with its adapters into dir (config.json,
 * model.safetensors, tokenizer.json, elastic.json, lora/level-0.X.safetensors). env->model must be env->model_dir's
 * reordered model with its elastic.json; trains on env->data_dir/corpus/train.bin. */
int noreorder_build(const BuildEnv *env, const char *dir, Err *e);

#endif
