/* fuzz_config: config.json alone through config_read; an accepted configuration must survive config_json and
 * a second config_read unchanged (the harness aborts when it does not). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "fuzz/fuzz.h"

static int same(const ModelConfig *a, const ModelConfig *b) {
    return a->dim == b->dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim && a->ffn_dim == b->ffn_dim &&
           a->vocab_size == b->vocab_size && a->max_seq == b->max_seq && a->norm_eps == b->norm_eps &&
           a->rope_theta == b->rope_theta && a->tied == b->tied && a->bos_id == b->bos_id && a->eos_id == b->eos_id;
}

int fuzz_config(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("config.json", data, size);
    ModelConfig c, again;
    Err e;
    if (config_read(path, &c, &e) != 0) return fuzz_refused("config", &e);
    (void)model_param_count(&c);
    char *txt = config_json(&c);
    if (!txt) return 0;
    const char *path2 = fuzz_write("config-again.json", txt, strlen(txt));
    free(txt);
    if (config_read(path2, &again, &e) != 0) {
        fprintf(stderr, "fuzz_config: the written config.json is refused: %s\n", e.msg);
        abort();
    }
    if (!same(&c, &again)) {
        fprintf(stderr, "fuzz_config: config.json does not survive a write and a read\n");
        abort();
    }
    return 0;
}
