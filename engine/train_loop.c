/* train_loop: a whole training run on any BatchSource: steps until the configured count, periodic validation (on
 * token windows or examples) and checkpoints, one log row per step through a callback (the CLI turns rows into
 * progress lines and SQLite rows). */
#include <math.h>

#include "base/clock.h"
#include "engine/train.h"

/* validate: the validation loss of this step into *loss, when one is due. */
static int validate(Trainer *t, const TrainRunOpts *o, bool last, double *loss, Err *e) {
    if ((!o->val && !o->val_examples) || !((o->val_every > 0 && t->step % o->val_every == 0) || last)) return 0;
    int rc = o->val ? train_eval(t, o->val, o->val_windows, loss, e)
                    : train_eval_examples(t, o->val_examples, o->val_windows, loss, e);
    return rc != 0 ? err_prefix(e, "validation") : 0;
}

static int run_steps(Trainer *t, BatchSource *src, const TrainRunOpts *o, bool *stopped, Err *e) {
    if (stopped) *stopped = false;
    if (o->val && o->val_examples) return err_set(e, "train_run: validation tokens and examples both given");
    double t0 = clock_wall_s(), last_ckpt = t0, elapsed0 = t->elapsed_s;
    while (t->step < t->cfg.steps) {
        double ts = clock_wall_s();
        TrainStepStats st;
        if (train_step_source(t, src, &st, e) != 0) return -1;
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
        if (validate(t, o, last, &row.val_loss, e) != 0) return -1;
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
            if (train_ckpt_save_source(t, src, o->ckpt_dir, e) != 0) return -1;
            last_ckpt = clock_wall_s();
        }
        if (stop) {
            if (stopped) *stopped = !last;
            return 0;
        }
    }
    return 0;
}

int train_run_source(Trainer *t, BatchSource *src, const TrainRunOpts *o, bool *stopped, Err *e) {
    int rc = run_steps(t, src, o, stopped, e);
    /* the weights changed: their hash (the evaluation cache's key) follows them, even after a failure */
    if (t->lora) lora_rehash(t->lora);
    else model_rehash(t->model);
    return rc;
}

int train_run(Trainer *t, DataLoader *d, const TrainRunOpts *o, bool *stopped, Err *e) {
    BatchSource src = data_loader_source(d);
    return train_run_source(t, &src, o, stopped, e);
}
