/* elms train: train a model from scratch (or resume one) on a token corpus: DATA/corpus/train.bin (and val.bin for
 * validation), vocabulary from DATA/tokenizer.json. Checkpoints go to OUT/checkpoint (resumable bit for bit with
 * --resume), one log row per step to SQLite (--db), and at the end the model (F16 or F32), tokenizer.json and
 * training.json (command, steps, wall time, final losses) to OUT. */
#include <cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fileutil.h"
#include "cli/cli.h"
#include "engine/io.h"
#include "engine/tokenizer.h"
#include "engine/train.h"
#include "sim/train_log.h"

static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(fmod(s, 3600) / 60));
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%.0fs", s);
}

/* State of the per-step callback. */
typedef struct RunCtx {
    TrainLog *log;
    Err err;
    int failed;           /* the log failed: stop */
    long total, start_step, stop_after;
    double t_start, max_time, last_draw;
    int tty;
    int reason;           /* why the run stopped early: 1 signal, 2 --stop-after, 3 --max-time */
    TrainLogRow last;
} RunCtx;

static int on_step(void *p, const TrainLogRow *r) {
    RunCtx *c = p;
    c->last = *r;
    double t = clock_wall_s(), run_el = t - c->t_start;
    if (g_signal) c->reason = 1;
    else if (c->stop_after > 0 && r->step >= c->stop_after) c->reason = 2;
    else if (c->max_time > 0 && run_el >= c->max_time) c->reason = 3;
    TrainLogRow row = *r;
    row.checkpointed = r->checkpointed || c->reason != 0; /* stopping checkpoints: the row is flushed first */
    if (train_log_row(c->log, &row, &c->err) != 0) {
        c->failed = 1;
        return 1;
    }
    long done = r->step - c->start_step;
    double eta = done > 0 ? run_el / (double)done * (double)(c->total - r->step) : NAN;
    char eta_s[32], el_s[32];
    fmt_duration(eta_s, sizeof eta_s, eta);
    fmt_duration(el_s, sizeof el_s, r->elapsed_s);
    if (isfinite(r->val_loss)) {
        fprintf(stderr, "%sstep %ld/%ld  loss %.4f  val %.4f  lr %.2e  |g| %.3f  %.0f tok/s  elapsed %s  ETA %s%s\n",
                c->tty ? "\r" : "", r->step, c->total, r->loss, r->val_loss, r->lr, r->grad_norm, r->tokens_per_s,
                el_s, eta_s, c->tty ? "        " : "");
        c->last_draw = t;
    } else if (c->tty && (t - c->last_draw >= 0.25 || r->step == c->total)) {
        fprintf(stderr, "\rstep %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s      ", r->step, c->total, r->loss,
                r->lr, r->tokens_per_s, eta_s);
        fflush(stderr);
        c->last_draw = t;
    }
    return c->reason != 0;
}

/* The flags, by index. */
enum {
    F_DATA, F_OUT, F_LAYERS, F_DIM, F_HEADS, F_KV, F_HEAD_DIM, F_FFN, F_CTX, F_THETA, F_UNTIED, F_SEQ, F_BATCH,
    F_ACCUM, F_STEPS, F_LR, F_MIN_LR, F_WARMUP, F_WD, F_CLIP, F_BETA2, F_SEED, F_THREADS, F_CKPT_EVERY, F_CKPT_MIN,
    F_VAL_EVERY, F_VAL_WIN, F_DB, F_RUN, F_DTYPE, F_RESUME, F_STOP_AFTER, F_MAX_TIME, F_INIT, F_FORCE, F_COUNT
};

typedef struct Opts {
    const char *data, *out, *db, *run, *init;
    ModelConfig mc;
    TrainConfig tc;
    long threads, ckpt_every, val_every, val_windows, stop_after;
    double ckpt_secs, max_time;
    StDtype dtype;
    bool resume;
    bool force;
} Opts;

static int parse_opts(CliFlag *fl, Opts *o) {
    const char *cmd = "train";
    long v;
    double d;
    memset(o, 0, sizeof *o);
    o->data = fl[F_DATA].value;
    o->out = fl[F_OUT].value;
    if (!o->data || !o->out) {
        fprintf(stderr, "elms train: --data and --out are required (see --help)\n");
        return -1;
    }
    o->db = fl[F_DB].value;
    o->run = fl[F_RUN].value;
    o->resume = fl[F_RESUME].value != NULL;
    o->force = fl[F_FORCE].value != NULL;
    o->init = fl[F_INIT].value;
    ModelConfig *m = &o->mc;
    m->norm_eps = 1e-5f;
    m->bos_id = m->eos_id = -1;
    m->tied = fl[F_UNTIED].value == NULL;
    if (cli_int(cmd, "layers", fl[F_LAYERS].value, 1, ELMS_MAX_LAYERS, &v)) return -1;
    m->n_layers = (int)v;
    if (cli_int(cmd, "dim", fl[F_DIM].value, 2, 1 << 16, &v)) return -1;
    m->dim = (int)v;
    if (cli_int(cmd, "heads", fl[F_HEADS].value, 1, 4096, &v)) return -1;
    m->n_heads = (int)v;
    if (cli_int(cmd, "kv-heads", fl[F_KV].value ? fl[F_KV].value : fl[F_HEADS].value, 1, 4096, &v)) return -1;
    m->n_kv_heads = (int)v;
    if (fl[F_HEAD_DIM].value) {
        if (cli_int(cmd, "head-dim", fl[F_HEAD_DIM].value, 2, 1024, &v)) return -1;
        m->head_dim = (int)v;
    } else if (m->dim % m->n_heads) {
        fprintf(stderr, "elms train: --dim %d is not a multiple of --heads %d (give --head-dim)\n", m->dim,
                m->n_heads);
        return -1;
    } else {
        m->head_dim = m->dim / m->n_heads;
    }
    if (cli_int(cmd, "ffn", fl[F_FFN].value, 1, 1 << 20, &v)) return -1;
    m->ffn_dim = (int)v;
    if (cli_int(cmd, "ctx", fl[F_CTX].value, 1, 1 << 20, &v)) return -1;
    m->max_seq = (int)v;
    if (cli_double(cmd, "rope-theta", fl[F_THETA].value, &d)) return -1;
    m->rope_theta = (float)d;

    TrainConfig *t = &o->tc;
    train_config_default(t);
    if (cli_int(cmd, "seq", fl[F_SEQ].value, 1, 65536, &v)) return -1;
    t->seq = (int)v;
    if (cli_int(cmd, "batch", fl[F_BATCH].value, 1, 4096, &v)) return -1;
    t->batch = (int)v;
    if (cli_int(cmd, "accum", fl[F_ACCUM].value, 1, 65536, &v)) return -1;
    t->accum = (int)v;
    if (cli_int(cmd, "steps", fl[F_STEPS].value, 1, 1L << 40, &v)) return -1;
    t->steps = v;
    if (cli_double(cmd, "lr", fl[F_LR].value, &d)) return -1;
    t->lr = (float)d;
    if (fl[F_MIN_LR].value) {
        if (cli_double(cmd, "min-lr", fl[F_MIN_LR].value, &d)) return -1;
        t->min_lr = (float)d;
    } else {
        t->min_lr = t->lr / 10.0f;
    }
    if (cli_int(cmd, "warmup", fl[F_WARMUP].value, 0, 1L << 40, &v)) return -1;
    t->warmup = v;
    if (cli_double(cmd, "wd", fl[F_WD].value, &d)) return -1;
    t->wd = (float)d;
    if (cli_double(cmd, "clip", fl[F_CLIP].value, &d)) return -1;
    t->clip = (float)d;
    if (cli_double(cmd, "beta2", fl[F_BETA2].value, &d)) return -1;
    t->beta2 = (float)d;
    if (cli_int(cmd, "seed", fl[F_SEED].value, 0, 4294967295L, &v)) return -1;
    t->seed = (unsigned long)v;
    Err e;
    if (train_config_check(t, &e) != 0) {
        fprintf(stderr, "elms train: %s\n", e.msg);
        return -1;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char defthreads[32];
    snprintf(defthreads, sizeof defthreads, "%ld", ncpu > 0 ? ncpu : 1);
    if (cli_int(cmd, "threads", fl[F_THREADS].value ? fl[F_THREADS].value : defthreads, 1, 64, &o->threads))
        return -1;
    if (cli_int(cmd, "ckpt-every", fl[F_CKPT_EVERY].value, 0, 1L << 40, &o->ckpt_every)) return -1;
    if (cli_double(cmd, "ckpt-minutes", fl[F_CKPT_MIN].value, &d)) return -1;
    o->ckpt_secs = 60.0 * d;
    if (cli_int(cmd, "val-every", fl[F_VAL_EVERY].value, 0, 1L << 40, &o->val_every)) return -1;
    if (cli_int(cmd, "val-windows", fl[F_VAL_WIN].value, 0, 1L << 40, &o->val_windows)) return -1;
    if (fl[F_STOP_AFTER].value && cli_int(cmd, "stop-after", fl[F_STOP_AFTER].value, 1, 1L << 40, &o->stop_after))
        return -1;
    if (fl[F_MAX_TIME].value) {
        if (cli_double(cmd, "max-time", fl[F_MAX_TIME].value, &o->max_time)) return -1;
        if (!(o->max_time > 0)) {
            fprintf(stderr, "elms train: --max-time expects a positive number of seconds\n");
            return -1;
        }
    }
    const char *dt = fl[F_DTYPE].value;
    if (!strcmp(dt, "f16")) o->dtype = ST_F16;
    else if (!strcmp(dt, "f32")) o->dtype = ST_F32;
    else {
        fprintf(stderr, "elms train: --dtype expects f16 or f32, got '%s'\n", dt);
        return -1;
    }
    return 0;
}


static char *run_config_json(const ModelConfig *m, const TrainConfig *t, long threads) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layers", m->n_layers);
    cJSON_AddNumberToObject(o, "dim", m->dim);
    cJSON_AddNumberToObject(o, "heads", m->n_heads);
    cJSON_AddNumberToObject(o, "kv_heads", m->n_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", m->head_dim);
    cJSON_AddNumberToObject(o, "ffn", m->ffn_dim);
    cJSON_AddNumberToObject(o, "vocab", m->vocab_size);
    cJSON_AddNumberToObject(o, "ctx", m->max_seq);
    cJSON_AddBoolToObject(o, "tied", m->tied);
    train_config_to_json(t, o);
    cJSON_AddNumberToObject(o, "threads", (double)threads);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* OUT/training.json: how the model was made. */
static int write_summary(const Opts *o, const char *command, const Trainer *tr, const RunCtx *rc, Err *e) {
    char path[1200];
    snprintf(path, sizeof path, "%s/training.json", o->out);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "command", command);
    cJSON_AddNumberToObject(j, "steps", (double)tr->step);
    cJSON_AddNumberToObject(j, "tokens", (double)tr->tokens);
    cJSON_AddNumberToObject(j, "wall_s", tr->elapsed_s);
    cJSON_AddNumberToObject(j, "params", (double)tr->model->n_params);
    cJSON_AddNumberToObject(j, "threads", (double)o->threads);
    if (isfinite(rc->last.loss)) cJSON_AddNumberToObject(j, "final_loss", rc->last.loss);
    if (isfinite(rc->last.val_loss)) cJSON_AddNumberToObject(j, "final_val_loss", rc->last.val_loss);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return err_set(e, "%s: out of memory", path);
    int r = io_write_atomic(path, s, strlen(s), e);
    free(s);
    return r;
}

static int copy_file(const char *src, const char *dst, Err *e) {
    char *buf;
    size_t len;
    if (io_read_file(src, &buf, &len, e) != 0) return -1;
    int r = io_write_atomic(dst, buf, len, e);
    free(buf);
    return r;
}

static const char *base_name(const char *p) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s", p);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

/* init_from: copy the weights of model directory dir into m, which must have the same shape and vocabulary. */
static int init_from(Model *m, const char *dir, Err *e) {
    Model src;
    if (model_load(&src, dir, e) != 0) return err_prefix(e, "--init");
    const ModelConfig *a = &m->cfg, *b = &src.cfg;
    int same = a->n_layers == b->n_layers && a->dim == b->dim && a->n_heads == b->n_heads &&
               a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim && a->ffn_dim == b->ffn_dim &&
               a->vocab_size == b->vocab_size && a->tied == b->tied && m->n_params == src.n_params;
    if (!same) {
        err_set(e, "--init %s: shape (%d layers, dim %d, %d/%d heads, head_dim %d, ffn %d, vocab %d, %s) differs from "
                   "this run's (%d layers, dim %d, %d/%d heads, head_dim %d, ffn %d, vocab %d, %s)",
                dir, b->n_layers, b->dim, b->n_heads, b->n_kv_heads, b->head_dim, b->ffn_dim, b->vocab_size,
                b->tied ? "tied" : "untied", a->n_layers, a->dim, a->n_heads, a->n_kv_heads, a->head_dim, a->ffn_dim,
                a->vocab_size, a->tied ? "tied" : "untied");
        model_free(&src);
        return -1;
    }
    memcpy(m->params, src.params, sizeof(float) * m->n_params);
    model_rehash(m);
    model_free(&src);
    return 0;
}

static int run_train(const Opts *o, const char *command) {
    const char *C = "train";
    Err e;
    char path[1200], tok_path[1200], ckpt[1200], found[1300];
    /* tokenizer: DATA/tokenizer.json, else DATA/corpus/tokenizer.json */
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", o->data);
    if (!path_is_file(tok_path)) snprintf(tok_path, sizeof tok_path, "%s/corpus/tokenizer.json", o->data);
    Tokenizer tok;
    if (tokenizer_load(&tok, tok_path, &e) != 0)
        return cli_error(C, "%s (expected DATA/tokenizer.json or DATA/corpus/tokenizer.json)", e.msg);
    int vocab = tok.vocab_size, bos = tok.bos_id, eos = tok.eos_id;
    tokenizer_free(&tok);

    snprintf(ckpt, sizeof ckpt, "%s/checkpoint", o->out);
    bool have_ckpt = train_ckpt_find(ckpt, found, sizeof found);
    if (have_ckpt && !o->resume)
        return cli_error(C, "%s holds a checkpoint: pass --resume to continue it, or remove it to start over", ckpt);
    if (!have_ckpt && o->resume) fprintf(stderr, "elms train: no checkpoint in %s; starting from scratch\n", ckpt);
    snprintf(path, sizeof path, "%s/model.safetensors", o->out);
    if (!have_ckpt && !o->force && path_is_file(path))
        return cli_error(C, "%s already holds a model (model.safetensors): a new run would replace it; pass --force to "
                            "do so, or choose another --out", o->out);

    Model m;
    if (have_ckpt) {
        if (model_load(&m, found, &e) != 0) return cli_error(C, "%s", e.msg);
        if (m.cfg.vocab_size != vocab) {
            model_free(&m);
            return cli_error(C, "%s: vocabulary of %d, but %s has %d", found, m.cfg.vocab_size, tok_path, vocab);
        }
    } else {
        ModelConfig mc = o->mc;
        mc.vocab_size = vocab;
        mc.bos_id = bos;
        mc.eos_id = eos;
        if (model_config_check(&mc, &e) != 0) return cli_error(C, "%s", e.msg);
        if (model_alloc(&m, &mc, &e) != 0) return cli_error(C, "%s", e.msg);
        model_init_random(&m, o->tc.seed);
        if (o->init && init_from(&m, o->init, &e) != 0) {
            model_free(&m);
            return cli_error(C, "%s", e.msg);
        }
    }

    int rc = 1;
    TokenData train = {0}, val = {0};
    bool have_val = false;
    Trainer tr = {0};
    DataLoader dl = {0};
    TrainLog log = {0};
    char *cfg_json = NULL;
    snprintf(path, sizeof path, "%s/corpus/train.bin", o->data);
    if (data_load(&train, path, vocab, &e) != 0) {
        cli_error(C, "%s", e.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/corpus/val.bin", o->data);
    if (path_is_file(path)) {
        if (data_load(&val, path, vocab, &e) != 0) {
            cli_error(C, "%s", e.msg);
            goto done;
        }
        have_val = val.n > (size_t)o->tc.seq;
    }
    if (!have_val) fprintf(stderr, "elms train: no usable %s; training without validation\n", path);
    if (train_init(&tr, &m, NULL, &o->tc, &e) != 0 || train_set_threads(&tr, (int)o->threads, &e) != 0) {
        cli_error(C, "%s", e.msg);
        goto done;
    }
    if (data_loader_init(&dl, &train, o->tc.seq, o->tc.seed, &e) != 0) {
        cli_error(C, "%s/corpus/train.bin: %s", o->data, e.msg);
        goto done;
    }
    if (have_ckpt) {
        if (train_ckpt_load(&tr, &dl, found, &e) != 0) {
            cli_error(C, "%s", e.msg);
            goto done;
        }
        fprintf(stderr, "elms train: resuming %s at step %ld of %ld\n", found, tr.step, o->tc.steps);
    }
    if (io_mkdirs(o->out, &e) != 0) {
        cli_error(C, "%s", e.msg);
        goto done;
    }
    cfg_json = run_config_json(&m.cfg, &o->tc, o->threads);
    const char *run = o->run ? o->run : base_name(o->out);
    if (train_log_open(&log, o->db, run, command, o->out, cfg_json ? cfg_json : "{}", (long)m.n_params,
                       have_ckpt ? tr.step : -1, &e) != 0) {
        cli_error(C, "%s", e.msg);
        goto done;
    }

    RunCtx ctx = {.log = &log, .total = o->tc.steps, .start_step = tr.step, .stop_after = o->stop_after,
                  .t_start = clock_wall_s(), .max_time = o->max_time, .tty = isatty(STDERR_FILENO)};
    ctx.last.loss = ctx.last.val_loss = NAN;
    snprintf(path, sizeof path, "%s/model.safetensors", o->out);
    if (tr.step >= o->tc.steps && path_is_file(path)) {
        printf("train: %s is already trained to step %ld of %ld; nothing to do\n", o->out, tr.step, o->tc.steps);
        rc = 0;
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    TrainRunOpts ro = {.ckpt_dir = ckpt, .ckpt_every = o->ckpt_every, .ckpt_secs = o->ckpt_secs,
                       .val = have_val ? &val : NULL, .val_every = o->val_every, .val_windows = o->val_windows,
                       .log = on_step, .log_ctx = &ctx};
    bool stopped;
    fprintf(stderr, "elms train: %zu parameters, %d x %d tokens x %d accum per step, %ld threads\n", m.n_params,
            o->tc.batch, o->tc.seq, o->tc.accum, o->threads);
    int run_rc = train_run(&tr, &dl, &ro, &stopped, &e);
    if (ctx.tty) fputc('\n', stderr);
    if (run_rc != 0) {
        cli_error(C, "%s", e.msg);
        goto done;
    }
    if (ctx.failed) {
        cli_error(C, "%s", ctx.err.msg);
        goto done;
    }
    if (stopped) {
        const char *why = ctx.reason == 1 ? "interrupted" : ctx.reason == 2 ? "--stop-after" : "--max-time";
        fprintf(stderr, "elms train: stopped (%s) at step %ld of %ld; checkpoint in %s (continue with --resume)\n",
                why, tr.step, o->tc.steps, ckpt);
        rc = ctx.reason == 1 ? 1 : 0;
        goto done;
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", o->out);
    if (model_save(&m, o->out, o->dtype, &e) != 0 || copy_file(tok_path, path, &e) != 0 ||
        write_summary(o, command, &tr, &ctx, &e) != 0) {
        cli_error(C, "%s", e.msg);
        goto done;
    }
    char wall[32];
    fmt_duration(wall, sizeof wall, tr.elapsed_s);
    printf("train: %ld steps, loss %.4f, val loss %.4f, %.0f tokens/s, wall %s; model in %s\n", tr.step,
           ctx.last.loss, ctx.last.val_loss, tr.elapsed_s > 0 ? (double)tr.tokens / tr.elapsed_s : 0.0, wall,
           o->out);
    rc = 0;
done:
    if (train_log_close(&log, &e) != 0 && rc == 0) rc = cli_error(C, "%s", e.msg);
    free(cfg_json);
    data_loader_free(&dl);
    train_free(&tr);
    data_free(&train);
    data_free(&val);
    model_free(&m);
    return rc;
}

static int cmd_train(int argc, char **argv) {
    CliFlag fl[F_COUNT] = {
        [F_DATA] = {"data", "DIR", "data directory: corpus/train.bin, corpus/val.bin, tokenizer.json", NULL},
        [F_OUT] = {"out", "DIR", "output model directory (checkpoints in DIR/checkpoint)", NULL},
        [F_LAYERS] = {"layers", "N", "decoder layers", "10"},
        [F_DIM] = {"dim", "D", "hidden size", "192"},
        [F_HEADS] = {"heads", "H", "query heads", "6"},
        [F_KV] = {"kv-heads", "K", "KV heads (attention units; default: --heads)", NULL},
        [F_HEAD_DIM] = {"head-dim", "N", "head size (default: dim / heads)", NULL},
        [F_FFN] = {"ffn", "F", "FFN intermediate size", "512"},
        [F_CTX] = {"ctx", "C", "context length of the model (max_position_embeddings)", "256"},
        [F_THETA] = {"rope-theta", "X", "rotary base", "10000"},
        [F_UNTIED] = {"untied", NULL, "separate LM head (default: tied to the embeddings)", NULL},
        [F_SEQ] = {"seq", "T", "tokens per training sequence (<= --ctx)", "256"},
        [F_BATCH] = {"batch", "B", "sequences per micro-batch", "16"},
        [F_ACCUM] = {"accum", "A", "micro-batches per optimizer step", "1"},
        [F_STEPS] = {"steps", "S", "optimizer steps", "1000"},
        [F_LR] = {"lr", "LR", "peak learning rate", "7e-4"},
        [F_MIN_LR] = {"min-lr", "LR", "final learning rate of the cosine (default: lr / 10)", NULL},
        [F_WARMUP] = {"warmup", "W", "linear warm-up steps", "100"},
        [F_WD] = {"wd", "WD", "AdamW weight decay (not on norms)", "0.1"},
        [F_CLIP] = {"clip", "C", "gradient-norm clip (0: off)", "1.0"},
        [F_BETA2] = {"beta2", "B2", "AdamW second-moment decay", "0.95"},
        [F_SEED] = {"seed", "S", "seed of the initialisation and the data order", "1"},
        [F_THREADS] = {"threads", "N", "threads (default: online CPUs); results are reproducible per count", NULL},
        [F_CKPT_EVERY] = {"ckpt-every", "K", "checkpoint every K steps (0: every --ckpt-minutes)", "0"},
        [F_CKPT_MIN] = {"ckpt-minutes", "M", "minutes between checkpoints when --ckpt-every is 0", "5"},
        [F_VAL_EVERY] = {"val-every", "K", "validation loss every K steps (0: only at the end)", "100"},
        [F_VAL_WIN] = {"val-windows", "N", "validation windows of seq+1 tokens (0: all)", "64"},
        [F_DB] = {"db", "FILE", "SQLite training log", "results/train.db"},
        [F_RUN] = {"run", "NAME", "run name in the log (default: the name of --out)", NULL},
        [F_DTYPE] = {"dtype", "T", "storage of the final model: f16 or f32", "f16"},
        [F_RESUME] = {"resume", NULL, "continue from OUT/checkpoint (bitwise the same as an uninterrupted run)", NULL},
        [F_STOP_AFTER] = {"stop-after", "S", "checkpoint and stop once step S is done (resume later)", NULL},
        [F_MAX_TIME] = {"max-time", "SECS", "checkpoint and stop after SECS seconds of this invocation", NULL},
        [F_INIT] = {"init", "DIR", "start from the weights of model DIR (same shape and vocabulary; a new run: fresh "
                                   "optimizer, schedule and data order), e.g. after a short-sequence phase", NULL},
        [F_FORCE] = {"force", NULL, "train even when OUT already holds a model (it is replaced at the end)", NULL},
    };
    int pr = cli_parse(argc, argv, "elms train --data DIR --out DIR [model shape] [training options] [--resume]", fl,
                       F_COUNT, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    Opts o;
    if (parse_opts(fl, &o) != 0) return 2;
    char *command = cli_command_line(argc, argv);
    int rc = run_train(&o, command ? command : "elms train");
    free(command);
    return rc;
}

CLI_COMMAND("train", "train a model on a token corpus (resumable, logged to SQLite)", cmd_train)
