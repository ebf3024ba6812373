/* fuzz_token_data: a token file through data_load (vocabulary 256), then the training data loader over it:
 * init, a seek and a few batches. The input's first 4 bytes choose the window length (1..32), the seed, the
 * epoch and the window to seek to; the rest is the token file. */
#include <stdlib.h>

#include "engine/data.h"
#include "fuzz/fuzz.h"

int fuzz_token_data(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int seq = 1 + data[0] % 32;
    unsigned long seed = data[1];
    long epoch = data[2], pos = data[3];
    const char *path = fuzz_write("tokens.bin", data + 4, size - 4);
    TokenData d;
    DataLoader l;
    Err e;
    if (data_load(&d, path, 256, &e) != 0) return fuzz_refused("token_data", &e);
    if (data_loader_init(&l, &d, seq, seed, &e) == 0) {
        if (data_loader_seek(&l, epoch, pos % (l.n_windows + 1), &e) == 0) {
            int *in = malloc(sizeof(int) * 2 * (size_t)seq), *out = malloc(sizeof(int) * 2 * (size_t)seq);
            if (in && out)
                for (int i = 0; i < 3; i++) data_next_batch(&l, in, out, 2);
            free(in);
            free(out);
        }
        data_loader_free(&l);
    }
    data_free(&d);
    return 0;
}
