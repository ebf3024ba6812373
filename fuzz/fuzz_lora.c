/* fuzz_lora: a LoRA adapter file through lora_load for the tiny model of fuzz_tiny_config, then a forward pass
 * with the adapter applied. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/io.h"
#include "engine/model.h"
#include "fuzz/fuzz.h"

int fuzz_lora(const uint8_t *data, size_t size) {
    static Model base;
    static int ready;
    Err e;
    if (!ready) {
        ModelConfig c;
        fuzz_tiny_config(&c);
        if (model_alloc(&base, &c, &e) != 0) {
            fprintf(stderr, "fuzz_lora: %s\n", e.msg);
            abort();
        }
        model_init_random(&base, 1);
        ready = 1;
    }
    const char *path = fuzz_write("adapter.safetensors", data, size);
    Lora a;
    if (lora_load(&a, &base.cfg, path, &e) != 0) return fuzz_refused("lora", &e);
    ElasticView v;
    view_full(&base, &v);
    v.lora = &a;
    int tokens[4] = {1, 5, 9, 3};
    float logits[4 * 16];
    model_logits(&base, &v, tokens, 4, logits, &e);
    lora_free(&a);
    return 0;
}
