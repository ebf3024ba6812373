/* train_loop: a whole training run: steps until the configured count, periodic validation and checkpoints, one
 * log row per step through a callback (the CLI turns rows into progress lines and SQLite rows). */
#include <math.h>

#include "base/clock.h"
#include "engine/train.h"

static int run_steps(Trainer *t, DataLoader *d, const TrainRunOpts *o, bool *stopped, Err *e) {
    if (stopped) *stopped = false;
    double t0 = clock_wall_s(), last_ckpt = t0, elapsed0 = t->elapsed_s;
    while (t->step < t->cfg.steps) {
        double ts = clock_wall_s();
        TrainStepStats st;
        if (train_step(t, d, &st, e) != 0) return -1;
        double te = clock_wall_s();
        TrainLogRow row = {
            .step = t->step,
            .loss = st.loss,
            .val_loss = NAN,
            .lr = st.lr,
            .grad_norm = st.grad_norm,
            .tokens_per_s = te > ts ? (double)st.tokens / (te - ts) : 0.0,
            .tokens = t->tokens,
        };
        bool last = t->step >= t->cfg.steps;
        if (o->val && ((o->val_every > 0 && t->step % o->val_every == 0) || last))
            if (train_eval(t, o->val, o->val_windows, &row.val_loss, e) != 0) return err_prefix(e, "validation");
        t->elapsed_s = elapsed0 + (clock_wall_s() - t0);
        /* the row is logged before the checkpoint that covers it: a run killed in between has the row logged and
         * resumes from the previous checkpoint (the resumed run replaces the rows after it); the other order
         * would lose the row for good */
        bool due = last || (o->ckpt_every > 0 ? t->step % o->ckpt_every == 0
                                              : o->ckpt_secs > 0 && clock_wall_s() - last_ckpt >= o->ckpt_secs);
        row.checkpointed = o->ckpt_dir && due;
        row.elapsed_s = t->elapsed_s;
        bool stop = o->log && o->log(o->log_ctx, &row) != 0;
        if (o->ckpt_dir && (row.checkpointed || stop)) {
            if (train_ckpt_save(t, d, o->ckpt_dir, e) != 0) return -1;
            last_ckpt = clock_wall_s();
        }
        if (stop) {
            if (stopped) *stopped = !last;
            return 0;
        }
    }
    return 0;
}

int train_run(Trainer *t, DataLoader *d, const TrainRunOpts *o, bool *stopped, Err *e) {
    int rc = run_steps(t, d, o, stopped, e);
    /* the weights changed: their hash (the evaluation cache's key) follows them, even after a failure */
    if (t->lora) lora_rehash(t->lora);
    else model_rehash(t->model);
    return rc;
}
