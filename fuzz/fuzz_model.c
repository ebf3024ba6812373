/* fuzz_model: a model directory (config.json + model.safetensors) through model_load, then a forward pass: a
 * prefill and one decode step under the full view and under a half-width view. The input is config.json,
 * FUZZ_MODEL_SPLIT, then the safetensors file. Shapes are whatever the file holds: model_load refuses a config
 * that does not match its tensors before allocating, so memory stays proportional to the input. */
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "engine/model.h"
#include "fuzz/fuzz.h"

/* run: prefill up to 4 tokens and decode one more under v (errors are fine: the view may not fit). */
static void run(const Model *m, const ElasticView *v) {
    int cap = m->cfg.max_seq < 5 ? m->cfg.max_seq : 5, n = cap > 1 ? cap - 1 : 1, vocab = m->cfg.vocab_size;
    int tokens[5];
    for (int i = 0; i < 5; i++) tokens[i] = (i * 7 + 1) % vocab;
    float *logits = malloc(sizeof *logits * (size_t)vocab * (size_t)n);
    if (!logits) return;
    KVCache c;
    Err e;
    if (kvcache_init(&c, m, v, cap, &e) == 0) {
        if (model_prefill(m, v, &c, tokens, n, logits, NULL, &e) == 0 && cap > n)
            model_decode(m, v, &c, tokens[n], logits, &e);
        kvcache_free(&c);
    }
    free(logits);
}

int fuzz_model(const uint8_t *data, size_t size) {
    const char *dir = fuzz_mkdir("model");
    size_t slen = strlen(FUZZ_MODEL_SPLIT);
    const uint8_t *sep = memmem(data, size, FUZZ_MODEL_SPLIT, slen);
    size_t clen = sep ? (size_t)(sep - data) : size;
    fuzz_write("model/config.json", data, clen);
    fuzz_write("model/model.safetensors", sep ? sep + slen : data, sep ? size - clen - slen : 0);
    Model m;
    Err e;
    if (model_load(&m, dir, &e) != 0) return fuzz_refused("model", &e);
    ElasticView v;
    view_full(&m, &v);
    run(&m, &v);
    int attn = m.cfg.n_kv_heads / 2, ffn = m.cfg.ffn_dim / 2;
    view_uniform(&m, attn ? attn : 1, ffn ? ffn : 1, &v);
    run(&m, &v);
    model_free(&m);
    return 0;
}
