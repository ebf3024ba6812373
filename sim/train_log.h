/* train_log: the SQLite training log of `elms train`. Tables (created when missing):
 *   train_runs(run PRIMARY KEY, created, command, out_dir, config, n_params)
 *   train_log(run, step, loss, val_loss, lr, tokens_per_s, grad_norm, tokens, elapsed_s; PRIMARY KEY(run, step))
 * One row per optimizer step; val_loss is NULL where no validation ran. Rows are kept in memory and written in one
 * short transaction at every checkpoint (just before the checkpoint is saved, so no row is lost when a run is
 * killed between the two; the resume drops rows after its step), every
 * TRAIN_LOG_BATCH rows and at close; no write lock is held between those, so several trainers can log into one
 * database at once (each waits up to 30 s for another's write to finish). A fresh run replaces the rows of a run
 * of the same name; a resumed run drops rows after its step. */
#ifndef ELMS_SIM_TRAIN_LOG_H
#define ELMS_SIM_TRAIN_LOG_H

#include "engine/err.h"
#include "engine/train.h"

enum { TRAIN_LOG_BATCH = 200 };

typedef struct TrainLog {
    void *db;    /* sqlite3 * */
    void *ins;   /* sqlite3_stmt * */
    char run[256];
    int pending; /* rows buffered in row[] and not yet written */
    TrainLogRow row[TRAIN_LOG_BATCH];
} TrainLog;

/* train_log_open: open (creating) the database and its directory, register the run, and drop the rows a fresh
 * run (resume_step < 0) or a resume from step resume_step supersedes. */
int train_log_open(TrainLog *l, const char *path, const char *run, const char *command, const char *out_dir,
                   const char *config_json, long n_params, long resume_step, Err *e);
int train_log_row(TrainLog *l, const TrainLogRow *r, Err *e);
/* train_log_close: commit and close (also after errors; safe on a log that failed to open). */
int train_log_close(TrainLog *l, Err *e);

#endif
