/* fuzz_elastic_meta: elastic.json through elastic_meta_read against the tiny model of fuzz_tiny_config; an
 * accepted file is written back with elastic_meta_write and must be read again (the harness aborts when not). */
#include <stdio.h>
#include <stdlib.h>

#include "elastic/elastic_meta.h"
#include "fuzz/fuzz.h"

int fuzz_elastic_meta(const uint8_t *data, size_t size) {
    ModelConfig c;
    fuzz_tiny_config(&c);
    const char *path = fuzz_write("elastic.json", data, size);
    ElasticMeta x, y;
    Err e;
    if (elastic_meta_read(&x, &c, path, &e) != 0) return fuzz_refused("elastic_meta", &e);
    unsigned char anchor[ELMS_MAX_LAYERS];
    elastic_meta_anchor_mask(&x, anchor);
    const char *again = fuzz_path("elastic-again.json");
    if (elastic_meta_write(&x, again, &e) != 0 || elastic_meta_read(&y, &c, again, &e) != 0) {
        fprintf(stderr, "fuzz_elastic_meta: an accepted elastic.json does not survive a write and a read: %s\n",
                e.msg);
        abort();
    }
    if (y.n_levels != x.n_levels || y.n_anchors != x.n_anchors) {
        fprintf(stderr, "fuzz_elastic_meta: levels or anchors changed in a write and a read\n");
        abort();
    }
    elastic_meta_free(&y);
    elastic_meta_free(&x);
    return 0;
}
