/* train_ckpt: checkpoints that resume a run exactly. A checkpoint directory holds the trained parameters in F32
 * (full mode: config.json + model.safetensors as model_save writes them; LoRA mode: lora.safetensors), the AdamW
 * moments (optim.safetensors: tensors "adamw.m" and "adamw.v", each (n_train)), and state.json (step, tokens,
 * the data source's kind and position, and the configuration the run was started with). Everything is written
 * into DIR.tmp, then DIR is moved to DIR.old, DIR.tmp to DIR, and DIR.old removed: at every instant DIR or DIR.old
 * is complete. */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileutil.h"
#include "engine/io.h"
#include "engine/train.h"

#define CKPT_FORMAT "elms-train-checkpoint"
#define CKPT_MAX_COUNT (1L << 53) /* steps, tokens and positions: integers a JSON number holds exactly */
#define DATA_KIND_DEFAULT "windows" /* the data of a checkpoint that names none (written before examples existed) */

/* Remove a checkpoint directory: its regular files, then the directory (nothing recursive beyond that). */
static int remove_dir(const char *dir, Err *e) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : err_set(e, "%s: cannot open: %s", dir, strerror(errno));
    struct dirent *de;
    char path[2048];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) != 0) {
            closedir(d);
            return err_set(e, "%s: cannot remove: %s", path, strerror(errno));
        }
    }
    closedir(d);
    if (rmdir(dir) != 0) return err_set(e, "%s: cannot remove: %s", dir, strerror(errno));
    return 0;
}

void train_config_to_json(const TrainConfig *c, cJSON *o) {
    char seed[32];
    snprintf(seed, sizeof seed, "%lu", c->seed);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "batch", c->batch);
    cJSON_AddNumberToObject(o, "seq", c->seq);
    cJSON_AddNumberToObject(o, "accum", c->accum);
    cJSON_AddNumberToObject(o, "steps", (double)c->steps);
    cJSON_AddNumberToObject(o, "lr", c->lr);
    cJSON_AddNumberToObject(o, "min_lr", c->min_lr);
    cJSON_AddNumberToObject(o, "warmup", (double)c->warmup);
    cJSON_AddNumberToObject(o, "wd", c->wd);
    cJSON_AddNumberToObject(o, "beta1", c->beta1);
    cJSON_AddNumberToObject(o, "beta2", c->beta2);
    cJSON_AddNumberToObject(o, "adam_eps", c->adam_eps);
    cJSON_AddNumberToObject(o, "clip", c->clip);
}

static char *state_json(const Trainer *t, const BatchSource *src) {
    long epoch = 0, pos = 0;
    if (src) src->tell(src->self, &epoch, &pos);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", CKPT_FORMAT);
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "mode", t->lora ? "lora" : "full");
    cJSON_AddNumberToObject(o, "n_train", (double)t->n_train);
    cJSON_AddNumberToObject(o, "step", (double)t->step);
    cJSON_AddNumberToObject(o, "tokens", (double)t->tokens);
    cJSON_AddNumberToObject(o, "elapsed_s", t->elapsed_s);
    cJSON_AddStringToObject(o, "data_kind", src ? src->kind : DATA_KIND_DEFAULT);
    cJSON_AddNumberToObject(o, "data_epoch", (double)epoch);
    cJSON_AddNumberToObject(o, "data_pos", (double)pos);
    train_config_to_json(&t->cfg, o);
    if (t->lora) {
        cJSON_AddNumberToObject(o, "lora_rank", t->lora->rank);
        cJSON_AddNumberToObject(o, "lora_alpha", t->lora->alpha);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

static int write_files(const Trainer *t, const BatchSource *src, const char *dir, Err *e) {
    char path[2048];
    if (t->lora) {
        snprintf(path, sizeof path, "%s/lora.safetensors", dir);
        if (lora_save(t->lora, &t->model->cfg, path, e) != 0) return -1;
    } else if (model_save(t->model, dir, ST_F32, e) != 0) {
        return -1;
    }
    StWriteTensor ts[2] = {{"adamw.m", t->m, 1, {(int64_t)t->n_train, 0, 0, 0}},
                           {"adamw.v", t->v, 1, {(int64_t)t->n_train, 0, 0, 0}}};
    snprintf(path, sizeof path, "%s/optim.safetensors", dir);
    if (st_write(path, ts, 2, ST_F32, e) != 0) return -1;
    char *js = state_json(t, src);
    if (!js) return err_set(e, "%s: out of memory for state.json", dir);
    snprintf(path, sizeof path, "%s/state.json", dir);
    int rc = io_write_atomic(path, js, strlen(js), e);
    free(js);
    return rc;
}

int train_ckpt_save_source(const Trainer *t, const BatchSource *src, const char *dir, Err *e) {
    char tmp[1100], old[1100];
    if (strlen(dir) > 1000) return err_set(e, "checkpoint: directory name too long");
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    snprintf(old, sizeof old, "%s.old", dir);
    if (remove_dir(tmp, e) != 0) return err_prefix(e, "checkpoint");
    if (io_mkdirs(tmp, e) != 0) return err_prefix(e, "checkpoint");
    if (write_files(t, src, tmp, e) != 0) {
        Err ignore;
        remove_dir(tmp, &ignore);
        return err_prefix(e, "checkpoint %s", dir);
    }
    if (path_is_dir(dir)) {
        if (remove_dir(old, e) != 0) return err_prefix(e, "checkpoint");
        if (rename(dir, old) != 0) return err_set(e, "checkpoint: cannot rename %s: %s", dir, strerror(errno));
    }
    if (rename(tmp, dir) != 0) return err_set(e, "checkpoint: cannot rename %s: %s", tmp, strerror(errno));
    if (remove_dir(old, e) != 0) return err_prefix(e, "checkpoint");
    return 0;
}

int train_ckpt_save(const Trainer *t, const DataLoader *d, const char *dir, Err *e) {
    if (!d) return train_ckpt_save_source(t, NULL, dir, e);
    BatchSource src = data_loader_source((DataLoader *)d); /* only its position is read */
    return train_ckpt_save_source(t, &src, dir, e);
}

bool train_ckpt_find(const char *dir, char *found, size_t cap) {
    char p[1100];
    Err ignore;
    snprintf(p, sizeof p, "%s.tmp", dir);
    if (strlen(dir) <= 1000 && path_is_dir(p)) remove_dir(p, &ignore); /* a save that was interrupted */
    const char *suffix[2] = {"", ".old"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s/state.json", dir, suffix[i]);
        if (path_is_file(p)) {
            snprintf(found, cap, "%s%s", dir, suffix[i]);
            return true;
        }
    }
    return false;
}

/* A required integer from state.json, in [0, hi]. */
static int json_count(const cJSON *o, const char *key, long hi, const char *path, long *out, Err *e) {
    return io_json_int(o, key, 0, hi, out, path, e);
}

typedef struct CkptState {
    long n_train, step, tokens, epoch, pos, batch, seq;
    double elapsed;
    unsigned long seed;
    bool lora;
    char kind[32]; /* data_kind */
} CkptState;

static int read_state(const char *path, CkptState *s, Err *e) {
    cJSON *o;
    if (io_read_json(path, &o, e) != 0) return -1;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(e, "%s: not a JSON object", path);
    }
    int rc = -1;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(o, "mode");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
    char *end = NULL;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, CKPT_FORMAT) != 0) {
        err_set(e, "%s: field \"format\" is not \"%s\"", path, CKPT_FORMAT);
    } else if (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "full") && strcmp(mode->valuestring, "lora"))) {
        err_set(e, "%s: field \"mode\" must be \"full\" or \"lora\"", path);
    } else if (!cJSON_IsString(seed) || (s->seed = strtoul(seed->valuestring, &end, 10), end == seed->valuestring) ||
               *end) {
        err_set(e, "%s: field \"seed\" must be a decimal string", path);
    } else if (json_count(o, "n_train", CKPT_MAX_COUNT, path, &s->n_train, e) == 0 &&
               json_count(o, "step", CKPT_MAX_COUNT, path, &s->step, e) == 0 &&
               json_count(o, "tokens", CKPT_MAX_COUNT, path, &s->tokens, e) == 0 &&
               json_count(o, "data_epoch", CKPT_MAX_COUNT, path, &s->epoch, e) == 0 &&
               json_count(o, "data_pos", CKPT_MAX_COUNT, path, &s->pos, e) == 0 &&
               json_count(o, "batch", INT_MAX, path, &s->batch, e) == 0 &&
               json_count(o, "seq", INT_MAX, path, &s->seq, e) == 0) {
        s->lora = !strcmp(mode->valuestring, "lora");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "data_kind");
        snprintf(s->kind, sizeof s->kind, "%s", cJSON_IsString(kind) ? kind->valuestring : DATA_KIND_DEFAULT);
        s->elapsed = 0.0; /* informative only: a missing or odd value restarts the clock */
        const cJSON *el = cJSON_GetObjectItemCaseSensitive(o, "elapsed_s");
        Err ignore;
        if (el && io_json_double(el, NULL, 0, 1e12, &s->elapsed, path, &ignore) != 0) s->elapsed = 0.0;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

/* same_model: a and b have tensors of the same shapes, the same head and the same attention mask. */
static bool same_model(const ModelConfig *a, const ModelConfig *b) {
    bool ok = a->dim == b->dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
              a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim && a->ffn_dim == b->ffn_dim &&
              a->vocab_size == b->vocab_size && a->tied == b->tied && a->bidirectional == b->bidirectional &&
              a->head == b->head && a->n_labels == b->n_labels && a->multi_label == b->multi_label &&
              a->n_groups == b->n_groups;
    for (int g = 0; ok && g < a->n_groups && g < ELMS_MAX_LABEL_GROUPS; g++) ok = a->group_size[g] == b->group_size[g];
    return ok;
}

static int load_params(Trainer *t, const char *dir, Err *e) {
    char path[1100];
    if (t->lora) {
        Lora a;
        snprintf(path, sizeof path, "%s/lora.safetensors", dir);
        if (lora_load(&a, &t->model->cfg, path, e) != 0) return -1;
        int ok = a.rank == t->lora->rank && a.n_params == t->n_train;
        if (ok) {
            memcpy(t->params, a.params, sizeof(float) * t->n_train);
            t->lora->alpha = a.alpha;
            lora_rehash(t->lora);
        }
        lora_free(&a);
        if (!ok) return err_set(e, "%s: adapter rank %d, the trainer's is %d", path, a.rank, t->lora->rank);
        return 0;
    }
    Model m;
    if (model_load(&m, dir, e) != 0) return -1;
    int ok = m.n_params == t->n_train && same_model(&m.cfg, &t->model->cfg);
    if (ok) {
        memcpy(t->params, m.params, sizeof(float) * t->n_train);
        model_rehash(t->model);
    }
    model_free(&m);
    if (!ok) return err_set(e, "%s/config.json: model shape, head or attention differs from the trainer's model", dir);
    return 0;
}

int train_ckpt_load_source(Trainer *t, BatchSource *src, const char *dir, Err *e) {
    char path[1100];
    CkptState s;
    snprintf(path, sizeof path, "%s/state.json", dir);
    if (read_state(path, &s, e) != 0) return -1;
    if (s.lora != (t->lora != NULL))
        return err_set(e, "%s: a %s checkpoint, the trainer is in %s mode", path, s.lora ? "LoRA" : "full",
                       t->lora ? "LoRA" : "full");
    if ((size_t)s.n_train != t->n_train)
        return err_set(e, "%s: %ld trained parameters, the trainer has %zu", path, s.n_train, t->n_train);
    if (s.seed != t->cfg.seed || s.batch != t->cfg.batch || s.seq != t->cfg.seq)
        return err_set(e, "%s: run used seed %lu, batch %ld, seq %ld; resuming needs the same (got %lu, %d, %d)",
                       path, s.seed, s.batch, s.seq, t->cfg.seed, t->cfg.batch, t->cfg.seq);
    if (src && strcmp(s.kind, src->kind) != 0)
        return err_set(e, "%s: field \"data_kind\": the run trained on %s, this one draws %s", path, s.kind,
                       src->kind);
    if (load_params(t, dir, e) != 0) return -1;
    StFile f;
    snprintf(path, sizeof path, "%s/optim.safetensors", dir);
    if (st_open(&f, path, e) != 0) return -1;
    int rc = st_read_f32(&f, "adamw.m", (int64_t)t->n_train, 0, t->m, e);
    if (rc == 0) rc = st_read_f32(&f, "adamw.v", (int64_t)t->n_train, 0, t->v, e);
    st_close(&f);
    if (rc != 0) return -1;
    if (src && src->seek(src->self, s.epoch, s.pos, e) != 0) return err_prefix(e, "%s/state.json", dir);
    t->step = s.step;
    t->tokens = s.tokens;
    t->elapsed_s = s.elapsed;
    return 0;
}

int train_ckpt_load(Trainer *t, DataLoader *d, const char *dir, Err *e) {
    if (!d) return train_ckpt_load_source(t, NULL, dir, e);
    BatchSource src = data_loader_source(d);
    return train_ckpt_load_source(t, &src, dir, e);
}
