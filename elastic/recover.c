/* recover: per-level LoRA recovery training, its files, and the level switch (see recover.h). */
#include "elastic/recover.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/fileutil.h"
#include "elastic/dirs.h"
#include "engine/io.h"

void recover_opts_default(RecoverOpts *o, const ModelConfig *c) {
    memset(o, 0, sizeof *o);
    o->rank = 8;
    o->alpha = 16.0f;
    train_config_default(&o->train);
    o->train.batch = 16;
    o->train.seq = c->max_seq < 128 ? c->max_seq : 128;
    o->train.accum = 1;
    o->train.steps = 300;
    o->train.lr = 2e-3f;
    o->train.min_lr = 2e-4f;
    o->train.warmup = 30;
    o->train.wd = 0.0f;
    o->train.clip = 1.0f;
    o->train.seed = 1;
    o->init_seed = 1;
    o->ckpt_every = 50;
    o->eval_windows = 16;
}

int recover_adapter_path(char *out, size_t cap, const char *dir, double level) {
    return (size_t)snprintf(out, cap, "%s/lora/level-%.1f.safetensors", dir, level) < cap ? 0 : -1;
}

int recover_ckpt_path(char *out, size_t cap, const char *dir, double level) {
    return (size_t)snprintf(out, cap, "%s/lora/ckpt-level-%.1f", dir, level) < cap ? 0 : -1;
}

int recover_level(Model *m, const unsigned char *anchor, double level, const TokenData *train, const char *dir,
                  const RecoverOpts *o, bool force, RecoverResult *r, Err *e) {
    memset(r, 0, sizeof *r);
    r->loss_before = r->loss_after = NAN;
    double w0 = clock_wall_s(), c0 = clock_cpu_s();
    if (!(level > 0.0 && level < 1.0)) return err_set(e, "lora: level %g, expected a value in (0, 1)", level);
    char path[2048], ckpt[2048], found[2100];
    if (recover_adapter_path(path, sizeof path, dir, level) || recover_ckpt_path(ckpt, sizeof ckpt, dir, level))
        return err_set(e, "lora: model directory path too long");
    if (path_is_file(path) && !force) {
        r->skipped = true;
        return 0;
    }
    ElasticView v;
    if (levels_view(m, anchor, level, &v, e)) return err_prefix(e, "lora level %.1f", level);
    Lora a;
    if (lora_alloc(&a, &m->cfg, o->rank, o->alpha, e)) return err_prefix(e, "lora level %.1f", level);
    lora_init(&a, o->init_seed);
    Trainer t;
    DataLoader d;
    memset(&d, 0, sizeof d);
    if (train_lora_init(&t, m, &a, &v, &o->train, e)) {
        lora_free(&a);
        return err_prefix(e, "lora level %.1f", level);
    }
    int rc = data_loader_init(&d, train, o->train.seq, o->train.seed, e);
    const TokenData *ev = o->eval ? o->eval : train;
    if (!rc) rc = train_eval(&t, ev, o->eval_windows, &r->loss_before, e);
    if (!rc && force) rc = dir_remove_tree(ckpt, e);
    if (!rc && train_ckpt_find(ckpt, found, sizeof found)) {
        rc = train_ckpt_load(&t, &d, found, e);
        r->resumed = rc == 0;
    }
    long step0 = t.step;
    TrainRunOpts ro = {.ckpt_dir = ckpt, .ckpt_every = o->ckpt_every, .log = o->log, .log_ctx = o->log_ctx};
    bool stopped = false;
    if (!rc) rc = train_run(&t, &d, &ro, &stopped, e);
    r->steps = t.step - step0;
    if (!rc && stopped) rc = err_set(e, "stopped at step %ld of %ld (checkpoint kept in %s)", t.step, o->train.steps, ckpt);
    if (!rc) rc = train_eval(&t, ev, o->eval_windows, &r->loss_after, e);
    if (!rc) rc = lora_save(&a, &m->cfg, path, e);
    if (!rc) rc = dir_remove_tree(ckpt, e);
    train_free(&t);
    data_loader_free(&d);
    lora_free(&a);
    r->wall_s = clock_wall_s() - w0;
    r->cpu_s = clock_cpu_s() - c0;
    return rc ? err_prefix(e, "lora level %.1f", level) : 0;
}

void recover_switch(ElasticView *active, const LevelSet *s, int i) { *active = s->view[i]; }

double recover_switch_us(const LevelSet *s, long reps) {
    static ElasticView active; /* static: the compiler cannot drop the stores */
    if (reps < 1) reps = 1;
    double t0 = clock_wall_s();
    for (long r = 0; r < reps; r++) {
        recover_switch(&active, s, (int)(r % N_LEVELS));
        __asm__ __volatile__("" : : "r"(&active) : "memory");
    }
    return (clock_wall_s() - t0) * 1e6 / (double)reps;
}
