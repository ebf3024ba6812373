/* sparsity_select: build, load, decision and ladder of the contextual-sparsity policies (see sparsity_select.h). */
#include "policies/sparsity_select.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elastic/sparsity_fit.h"
#include "engine/io.h"
#include "policies/feasible.h"

#define SWEEP_BUDGET 0.7       /* the TPOT budget of the rank choice: the middle of the paper's decode SLOs */

static const int SWEEP_RANKS[] = {8, 16, 32, 64, 128};

/* ---- the offline side ---- */

/* What the build measured, for the manifest. */
typedef struct BuildRecord {
    const BuildEnv *env;
    const SparsityFitOptions *o;
    const Sparsity *chosen;
    const SparsityFit *fit;     /* (n_fit) the sweep */
    int n_fit, pick;
    int train_windows, held_windows;
} BuildRecord;

/* fit_json: one rank's summary for the sweep table; b_affordable: the FFN fraction its cost leaves at the
 * budget of the choice. */
static cJSON *fit_json(const SparsityFit *f, double b_affordable) {
    cJSON *o = cJSON_CreateObject();
    double loss = 0.0;
    for (int l = 0; l < f->n_layers; l++) loss += f->layer[l].loss_heldout / f->n_layers;
    cJSON_AddNumberToObject(o, "rank", f->rank);
    cJSON_AddNumberToObject(o, "cost", f->cost);
    cJSON_AddItemToObject(o, "mean_recall", cJSON_CreateDoubleArray(f->mean_recall, f->n_fracs));
    cJSON_AddItemToObject(o, "mean_mass", cJSON_CreateDoubleArray(f->mean_mass, f->n_fracs));
    cJSON_AddNumberToObject(o, "loss_heldout", loss);
    cJSON_AddNumberToObject(o, "affordable_fraction", b_affordable);
    cJSON_AddNumberToObject(o, "mass_at_affordable", sparsity_mass_at(f, b_affordable));
    return o;
}

/* manifest_json: sparsity.json of a build (see the header). */
static cJSON *manifest_json(const BuildRecord *b) {
    const SparsityFit *f = &b->fit[b->pick];
    const SparsityFitOptions *o = b->o;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "elms-sparsity-1");
    cJSON_AddStringToObject(j, "model_hash", b->env->model->hash);
    cJSON_AddStringToObject(j, "predictor_hash", b->chosen->hash);
    cJSON_AddNumberToObject(j, "rank", f->rank);
    cJSON_AddNumberToObject(j, "cost", f->cost);
    cJSON *lab = cJSON_AddObjectToObject(j, "label");
    cJSON_AddStringToObject(lab, "rule",
                            "active when |silu(gate . x) * (up . x)| > the layer's threshold, the (1 - active_fraction) "
                            "quantile of the layer's magnitudes on the training traces");
    cJSON_AddNumberToObject(lab, "active_fraction", o->active_fraction);
    double thr[ELMS_MAX_LAYERS], act[ELMS_MAX_LAYERS];
    for (int l = 0; l < f->n_layers; l++) thr[l] = f->layer[l].threshold, act[l] = f->layer[l].active_heldout;
    cJSON_AddItemToObject(lab, "thresholds", cJSON_CreateDoubleArray(thr, f->n_layers));
    cJSON_AddItemToObject(lab, "active_heldout", cJSON_CreateDoubleArray(act, f->n_layers));
    cJSON *tr = cJSON_AddObjectToObject(j, "traces");
    cJSON_AddStringToObject(tr, "corpus", "corpus/train.bin");
    cJSON_AddNumberToObject(tr, "train_windows", b->train_windows);
    cJSON_AddNumberToObject(tr, "heldout_windows", b->held_windows);
    cJSON_AddNumberToObject(tr, "seq", b->env->calib_seq);
    cJSON_AddNumberToObject(tr, "seed", (double)b->env->seed);
    cJSON *tn = cJSON_AddObjectToObject(j, "training");
    cJSON_AddStringToObject(tn, "loss", "binary cross-entropy, mean over tokens and neurons");
    cJSON_AddStringToObject(tn, "optimizer", "Adam (betas 0.9, 0.999; no weight decay, no clipping)");
    cJSON_AddStringToObject(tn, "schedule", "cosine from lr to min_lr");
    cJSON_AddNumberToObject(tn, "lr", o->lr);
    cJSON_AddNumberToObject(tn, "min_lr", o->min_lr);
    cJSON_AddNumberToObject(tn, "epochs", o->epochs);
    cJSON_AddNumberToObject(tn, "batch", o->batch);
    cJSON_AddNumberToObject(tn, "seed", (double)o->seed);
    cJSON *rc = cJSON_AddObjectToObject(j, "recall");
    cJSON_AddItemToObject(rc, "fractions", cJSON_CreateDoubleArray(f->fracs, f->n_fracs));
    cJSON *layers = cJSON_AddArrayToObject(rc, "layers");
    for (int l = 0; l < f->n_layers; l++)
        cJSON_AddItemToArray(layers, cJSON_CreateDoubleArray(f->layer[l].recall, f->n_fracs));
    cJSON_AddItemToObject(rc, "mean", cJSON_CreateDoubleArray(f->mean_recall, f->n_fracs));
    cJSON *ms = cJSON_AddObjectToObject(j, "mass");
    cJSON_AddStringToObject(ms, "what",
                            "share of the held-out activation magnitude kept by the predicted top k, and by the true "
                            "top k (oracle)");
    cJSON *ml = cJSON_AddArrayToObject(ms, "layers");
    for (int l = 0; l < f->n_layers; l++)
        cJSON_AddItemToArray(ml, cJSON_CreateDoubleArray(f->layer[l].mass, f->n_fracs));
    cJSON_AddItemToObject(ms, "mean", cJSON_CreateDoubleArray(f->mean_mass, f->n_fracs));
    cJSON_AddItemToObject(ms, "oracle", cJSON_CreateDoubleArray(f->mean_mass_oracle, f->n_fracs));
    cJSON *sw = cJSON_AddArrayToObject(j, "sweep");
    for (int i = 0; i < b->n_fit; i++)
        cJSON_AddItemToArray(sw, fit_json(&b->fit[i], sparsity_affordable(&b->env->model->cfg, b->fit[i].cost,
                                                                           SWEEP_BUDGET)));
    char choice[300];
    snprintf(choice, sizeof choice, "the rank that keeps the most held-out activation magnitude at a TPOT budget of "
             "%.2f of the dense model (attention whole, the FFN fraction its cost leaves: sparsity_choose_rank)",
             SWEEP_BUDGET);
    cJSON_AddStringToObject(j, "choice", choice);
    return j;
}


/* fit_and_write: fit the sweep on the traces, keep the chosen rank, write both files into dir. */
static int fit_and_write(const BuildEnv *env, const SparsityTraces *train, const SparsityTraces *held, BuildRecord *b,
                         const char *dir, Err *e) {
    int ranks[SPARSITY_MAX_RANKS], n = 0;
    if (env->sparsity_rank > 0) ranks[n++] = env->sparsity_rank;
    else
        for (size_t i = 0; i < sizeof SWEEP_RANKS / sizeof *SWEEP_RANKS; i++) ranks[n++] = SWEEP_RANKS[i];
    Sparsity *pred = malloc(sizeof *pred * (size_t)n);
    SparsityFit *fit = malloc(sizeof *fit * (size_t)n);
    if (!pred || !fit) {
        free(pred);
        free(fit);
        return err_set(e, "predictors: out of memory");
    }
    int rc = sparsity_fit_ranks(env->model, train, held, ranks, n, b->o, pred, fit, e);
    if (!rc) {
        b->fit = fit;
        b->n_fit = n;
        b->pick = sparsity_choose_rank(fit, n, &env->model->cfg, SWEEP_BUDGET);
        b->chosen = &pred[b->pick];
        char path[1300];
        snprintf(path, sizeof path, "%s/predictors.safetensors", dir);
        rc = sparsity_save(b->chosen, path, e);
        cJSON *j = rc ? NULL : manifest_json(b);
        snprintf(path, sizeof path, "%s/sparsity.json", dir);
        if (!rc) rc = j ? io_write_json(path, j, e) : err_set(e, "%s: out of memory", path);
        cJSON_Delete(j);
        for (int i = 0; i < n; i++) sparsity_free(&pred[i]);
    }
    free(pred);
    free(fit);
    return rc;
}

int sparsity_policy_build(const BuildEnv *env, const char *dir, Err *e) {
    if (env->sparsity_windows < 1) return err_set(e, "sparsity windows: %d, expected >= 1", env->sparsity_windows);
    if (env->sparsity_rank < 0 || env->sparsity_rank > 4096)
        return err_set(e, "sparsity rank: %d, expected 0 (sweep) or 1..4096", env->sparsity_rank);
    int n_train = env->sparsity_windows, n_held = (n_train + 7) / 8;
    BuildEnv w = *env; /* the same seeded windows as every calibration, more of them: training, then held out */
    w.calib_windows = n_train + n_held;
    Calib c;
    if (build_calib(&w, &c, e)) return -1;
    Calib ct = c, ch = c;
    ct.n = n_train;
    ch.n = n_held;
    ch.inputs = c.inputs + (size_t)n_train * c.seq;
    ch.targets = c.targets + (size_t)n_train * c.seq;
    SparsityTraces train = {0}, held = {0};
    build_progress(env, "activation traces", 0, 1);
    int rc = sparsity_traces_record(env->model, &ct, &train, e) || sparsity_traces_record(env->model, &ch, &held, e);
    build_progress(env, "activation traces", 1, 1);
    calib_free(&c);
    SparsityFitOptions o;
    sparsity_fit_defaults(&o);
    o.seed = env->seed;
    o.progress = env->progress;
    o.progress_ctx = env->progress_ctx;
    BuildRecord b = {.env = env, .o = &o, .train_windows = n_train, .held_windows = n_held};
    if (!rc) rc = fit_and_write(env, &train, &held, &b, dir, e);
    sparsity_traces_free(&train);
    sparsity_traces_free(&held);
    return rc;
}

/* ---- the online side ---- */

/* manifest_hash: the predictor hash sparsity.json records, into out. */
static int manifest_hash(const char *dir, char out[17], Err *e) {
    char path[1300];
    snprintf(path, sizeof path, "%s/sparsity.json", dir);
    cJSON *j;
    if (io_read_json(path, &j, e)) return -1;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "predictor_hash");
    int rc = 0;
    if (!cJSON_IsString(h) || strlen(h->valuestring) != 16)
        rc = err_set(e, "%s: predictor_hash: expected a string of 16 hexadecimal digits", path);
    else memcpy(out, h->valuestring, 17);
    cJSON_Delete(j);
    return rc;
}

int sparsity_policy_load(SparsityPolicy *s, const Model *base, const char *dir, Err *e) {
    memset(s, 0, sizeof *s);
    char path[1300], want[17];
    snprintf(path, sizeof path, "%s/predictors.safetensors", dir);
    if (manifest_hash(dir, want, e) || sparsity_load(&s->pred, &base->cfg, path, e)) return -1;
    if (strcmp(want, s->pred.hash)) {
        sparsity_policy_free(s);
        return err_set(e, "%s: predictors with hash %s, but %s/sparsity.json records %s (rebuild the folder)", path,
                       s->pred.hash, dir, want);
    }
    int f = base->cfg.ffn_dim;
    s->sel = malloc(sizeof *s->sel * (size_t)f);
    s->key = malloc(sizeof *s->key * (size_t)f);
    if (!s->sel || !s->key) {
        sparsity_policy_free(s);
        return err_set(e, "%s: out of memory", dir);
    }
    for (int k = 1; k <= f; k++) {
        s->sel[k - 1] = (SparsitySelect){&s->pred, k};
        snprintf(s->key[k - 1], sizeof s->key[k - 1], "cs:%s:keep %d/%d", s->pred.hash, k, f);
    }
    s->extra_lin = sparsity_fraction(&base->cfg, s->pred.rank);
    return 0;
}

void sparsity_policy_free(SparsityPolicy *s) {
    sparsity_free(&s->pred);
    free(s->sel);
    free(s->key);
    memset(s, 0, sizeof *s);
}

void sparsity_policy_fill(const SparsityPolicy *s, const Model *base, int k, const unsigned char *keep, double ratio,
                          Decision *d) {
    int f = base->cfg.ffn_dim;
    memset(d, 0, sizeof *d);
    d->model = base;
    view_full(base, &d->view);
    d->keep = keep;
    d->ratio = ratio;
    d->level = (double)k / f;
    if (k >= f) return; /* every neuron: the dense layer, no predictor to run */
    for (int l = 0; l < base->cfg.n_layers; l++) d->view.layer[l].ffn_units = k;
    d->view.ffn_select = sparsity_select;
    d->view.ffn_select_ctx = &s->sel[k - 1];
    d->select_key = s->key[k - 1];
    d->extra_lin = s->extra_lin;
}

typedef struct KLadder {
    const SparsityPolicy *s;
    const Model *base;
    const unsigned char *keep;
    double ratio;
    double tlm_tokens;         /* the prompt compressor's tokens and its work per token over the tiny LM's, */
    double tlm_scale;          /* priced into every rung */
    int k0;                    /* the first rung's k */
} KLadder;

static int fill_k(void *ctx, const PolicyRequest *r, int i, Decision *d, Err *e) {
    (void)r;
    (void)e;
    const KLadder *l = ctx;
    sparsity_policy_fill(l->s, l->base, l->k0 - i, l->keep, l->ratio, d);
    d->tlm_tokens = l->tlm_tokens;
    d->tlm_scale = l->tlm_scale;
    return 0;
}

int sparsity_policy_decide(const SparsityPolicy *s, const PolicyEnv *env, const PolicyRequest *r,
                           const unsigned char *keep, double ratio, double tlm_tokens, double tlm_scale, Decision *d,
                           bool *feasible, Err *e) {
    int f = env->base->cfg.ffn_dim;
    double frac = r->slo_tpot_frac < 1.0 ? r->slo_tpot_frac : 1.0;
    KLadder l = {s, env->base, keep, ratio, tlm_tokens, tlm_scale, sparsity_keep_count(frac, f)};
    return feasible_ladder(env, r, fill_k, &l, l.k0, d, NULL, feasible, e);
}

double sparsity_policy_params(const SparsityPolicy *s) { return (double)s->pred.n_params; }
