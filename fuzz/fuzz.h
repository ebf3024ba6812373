/* fuzz: the libFuzzer harnesses, one per parser entry point, and what they share.
 *
 * Each harness is a function fuzz_NAME(data, size) that writes the input where the real loader expects a file
 * (a private temporary directory, see fuzz_dir), calls the loader and, when it accepts the input, uses the result
 * the way the engine would (a forward pass, an encoding, a cost), then frees everything. A harness returns 0 for
 * every input: a bug shows as a sanitizer report, a leak or an abort. Harnesses run in two hosts:
 *   - libFuzzer (make fuzz): fuzz/entry.c defines LLVMFuzzerTestOneInput for one harness per binary;
 *   - the test suite (make test): tests/test_fuzz.c runs every harness on its seed corpus (fuzz/corpus/NAME/)
 *     and on every input that once crashed it (tests/data/fuzz/NAME/).
 * FUZZ_HARNESSES lists them all (X(name) per harness) so that both hosts see the same list. */
#ifndef ELMS_FUZZ_H
#define ELMS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_HARNESSES(X) \
    X(model)              \
    X(lora)               \
    X(config)             \
    X(tokenizer)          \
    X(elastic_meta)       \
    X(train_state)        \
    X(trace_jsonl)        \
    X(trace_elastilm)     \
    X(trace_csv)          \
    X(profile)            \
    X(items)              \
    X(token_data)

#define FUZZ_DECLARE(name) int fuzz_##name(const uint8_t *data, size_t size);
FUZZ_HARNESSES(FUZZ_DECLARE)
#undef FUZZ_DECLARE

/* The model harness's input is config.json, this separator, then model.safetensors (the first occurrence
 * splits; without it the whole input is config.json and the weights file is empty). */
#define FUZZ_MODEL_SPLIT "\n--model.safetensors--\n"

/* fuzz_dir: a private directory (mkdtemp under $TMPDIR, else /tmp) created on first use, one per process and
 * reused by every input; removed with its contents at exit. Aborts when it cannot be created. */
const char *fuzz_dir(void);
/* fuzz_path: fuzz_dir()/rel in a ring of 8 static buffers. */
const char *fuzz_path(const char *rel);
/* fuzz_write: write size bytes to fuzz_path(rel), replacing the file (aborts when the write fails: the harness
 * would otherwise test nothing). Returns the path. */
const char *fuzz_write(const char *rel, const void *data, size_t size);
/* fuzz_mkdir: create fuzz_path(rel) if missing; returns the path. */
const char *fuzz_mkdir(const char *rel);
/* fuzz_refused: with FUZZ_DEBUG=1 in the environment, print why the loader refused the input (what the
 * message says is not checked: any one-line error is a correct answer to a bad input). Returns 0. */
struct Err;
int fuzz_refused(const char *harness, const struct Err *e);
/* fuzz_tiny_config: the small model shape the harnesses that need a model use (LoRA, elastic.json, training
 * state): 2 layers, dim 8, 2 heads of 4 over 1 KV head, 8 FFN neurons, vocabulary 16, context 16. */
struct ModelConfig;
void fuzz_tiny_config(struct ModelConfig *c);
/* fuzz_train_state_setup: the training-state harness's two checkpoints, saved on first call
 * (fuzz_path("ckpt-full"), fuzz_path("ckpt-lora")); the seed generator reads their state.json. */
void fuzz_train_state_setup(void);

#endif
