/* fuzz_train_state: a training checkpoint's state.json through train_ckpt_load. Two trainers on the tiny model
 * of fuzz_tiny_config (full and LoRA) save one checkpoint each on first use; every input then replaces the
 * state.json of both and resumes them (parameters, moments and the data loader's position are read). */
#include <stdio.h>
#include <stdlib.h>

#include "engine/data.h"
#include "engine/io.h"
#include "engine/train.h"
#include "fuzz/fuzz.h"

typedef struct Run {
    Model model;
    Lora lora;
    Trainer t;
    TokenData data;
    DataLoader loader;
    char dir[1200];
} Run;

static void die(const char *what, const Err *e) {
    fprintf(stderr, "fuzz_train_state: %s: %s\n", what, e->msg);
    abort();
}

static void setup(Run *r, int lora, const char *dir) {
    Err e;
    ModelConfig c;
    fuzz_tiny_config(&c);
    if (model_alloc(&r->model, &c, &e)) die("model", &e);
    model_init_random(&r->model, 3);
    static int ids[64];
    for (int i = 0; i < 64; i++) ids[i] = (i * 5 + 3) % c.vocab_size;
    r->data.tok = ids;
    r->data.n = 64;
    TrainConfig cfg;
    train_config_default(&cfg);
    cfg.batch = 1;
    cfg.seq = 4;
    cfg.steps = 10;
    cfg.warmup = 1;
    if (lora) {
        if (lora_alloc(&r->lora, &c, 2, 4.0f, &e)) die("adapter", &e);
        lora_init(&r->lora, 5);
        if (train_lora_init(&r->t, &r->model, &r->lora, NULL, &cfg, &e)) die("trainer", &e);
    } else if (train_init(&r->t, &r->model, NULL, &cfg, &e)) {
        die("trainer", &e);
    }
    if (data_loader_init(&r->loader, &r->data, cfg.seq, cfg.seed, &e)) die("loader", &e);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    if (train_ckpt_save(&r->t, &r->loader, dir, &e)) die("checkpoint", &e);
}

static Run full, lora;

void fuzz_train_state_setup(void) {
    static int ready;
    if (!ready) {
        setup(&full, 0, fuzz_path("ckpt-full"));
        setup(&lora, 1, fuzz_path("ckpt-lora"));
        ready = 1;
    }
}

int fuzz_train_state(const uint8_t *data, size_t size) {
    fuzz_train_state_setup();
    Run *runs[2] = {&full, &lora};
    for (int i = 0; i < 2; i++) {
        Err e;
        char name[64];
        snprintf(name, sizeof name, "%s/state.json", i ? "ckpt-lora" : "ckpt-full");
        fuzz_write(name, data, size);
        if (train_ckpt_load(&runs[i]->t, &runs[i]->loader, runs[i]->dir, &e) != 0) fuzz_refused("train_state", &e);
    }
    return 0;
}
