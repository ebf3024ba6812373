/* tlm_build: labels, training and the dev choices of the tiny LM (see tlm_build.h). */
#include "policies/tlm_build.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/keepmask.h"
#include "datasets/apps.h"
#include "elastic/levels.h"
#include "engine/io.h"
#include "engine/examples.h"
#include "engine/train.h"
#include "policies/build.h"
#include "policies/tlm.h"
#include "policies/tlm_data.h"
#include "policies/tlm_labels.h"
#include "policies/tlm_measure.h"

void tlm_build_from_env(TlmBuildOpts *o, const BuildEnv *env, Evaluator *own) {
    tlm_build_defaults(o);
    if (!env->ev) evaluator_init(own, env->tok, env->model, NULL);
    o->llm = env->model;
    o->model_dir = env->model_dir;
    o->tok = env->tok;
    o->data_dir = env->data_dir;
    o->ev = env->ev ? env->ev : own;
    o->seed = env->seed;
    o->progress = env->progress;
    o->progress_ctx = env->progress_ctx;
}

void tlm_build_defaults(TlmBuildOpts *o) {
    memset(o, 0, sizeof *o);
    o->score_items = 500;
    o->grid_items = 100;
    o->dev_items = 50;
    o->shape = (TlmShape){32, 1, 2, 64}; /* chosen from the size curve: docs/elms.md */
    o->epochs = 3;
    o->prob_epochs = 30;
    o->lr = 1e-3f;
    o->accum = 16;
    o->seed = 1;
    o->score_labels = "auto";
}

/* ---- training one head ---- */

static void head_config(const TlmBuildOpts *o, const Model *llm, HeadKind head, int n_labels, int n_groups,
                        const int *groups, bool multi, int extra_vocab, ModelConfig *c) {
    memset(c, 0, sizeof *c);
    c->dim = o->shape.dim;
    c->n_layers = o->shape.layers;
    c->n_heads = o->shape.heads;
    c->n_kv_heads = o->shape.heads;
    c->head_dim = o->shape.dim / o->shape.heads;
    c->ffn_dim = o->shape.ffn;
    c->vocab_size = llm->cfg.vocab_size + extra_vocab;
    c->max_seq = llm->cfg.max_seq + 3;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->tied = false;
    c->bos_id = llm->cfg.bos_id;
    c->eos_id = llm->cfg.eos_id;
    c->bidirectional = true;
    c->head = head;
    c->n_labels = n_labels;
    c->multi_label = multi;
    c->n_groups = n_groups;
    for (int g = 0; g < n_groups; g++) c->group_size[g] = groups[g];
}

typedef struct FitLog {
    const TlmBuildOpts *o;
    const char *stage;
    long total;
    double loss;      /* running mean of the step losses (exponential, 0.98) */
} FitLog;

static int fit_log(void *ctx, const TrainLogRow *row) {
    FitLog *l = ctx;
    l->loss = isnan(l->loss) ? row->loss : 0.98 * l->loss + 0.02 * row->loss;
    tlm_build_progress(l->o, l->stage, row->step, l->total);
    return 0;
}

/* fit: a fresh model of configuration c trained on x for epochs passes (the engine's example source: seeded
 * shuffled epochs, one example per micro-batch, o->accum per step; AdamW with a 5% warm-up and a cosine decay to a
 * tenth); *final_loss: the running mean of the last steps' losses. */
static int fit(const TlmBuildOpts *o, const ModelConfig *c, const ExampleSet *x, int epochs, unsigned long seed,
               const char *stage, Model *m, double *final_loss, Err *e) {
    if (x->n == 0) return err_set(e, "%s: no training examples", stage);
    if (model_alloc(m, c, e)) return -1;
    model_init_random(m, seed);
    TrainConfig tc;
    train_config_default(&tc);
    tc.batch = 1;
    tc.seq = x->max_len;
    tc.accum = o->accum;
    tc.steps = ((long)x->n * epochs + o->accum - 1) / o->accum;
    tc.lr = o->lr;
    tc.min_lr = o->lr / 10;
    tc.warmup = tc.steps / 20 > 0 ? tc.steps / 20 : 1;
    tc.wd = 0.01f;
    tc.seed = seed;
    Trainer t;
    ExampleLoader l;
    memset(&l, 0, sizeof l);
    if (train_init(&t, m, NULL, &tc, e)) return -1;
    int rc = example_loader_init(&l, x, seed, e);
    FitLog log = {o, stage, tc.steps, NAN};
    if (!rc) {
        BatchSource src = example_loader_source(&l);
        TrainRunOpts ro = {.log = fit_log, .log_ctx = &log};
        rc = train_run_source(&t, &src, &ro, NULL, e);
        if (rc) err_prefix(e, "%s", stage);
    }
    example_loader_free(&l);
    train_free(&t);
    *final_loss = log.loss;
    return rc;
}

/* ---- step 1: score labels ---- */

/* score examples: [bos] system query, targets -1 on bos and query; items whose labels are all -1 are left out */
static int score_examples(const TlmBuildOpts *o, const TlmItems *it, const TlmScoreLabels *l, bool relevant,
                          ExampleSet *x, Err *e) {
    int bos = eval_bos(o->tok, o->llm), lead = bos >= 0, k = 0;
    int cap = o->llm->cfg.max_seq + 3;
    int *tok = malloc(sizeof(int) * (size_t)cap), *tgt = malloc(sizeof(int) * (size_t)cap);
    int rc = !tok || !tgt ? err_set(e, "out of memory") : examples_init(x, 0, e);
    for (int a = 0; !rc && a < APPS_N; a++)
        for (int i = 0; !rc && i < it->set[a].n; i++, k++) {
            const EncodedItem *xi = &it->enc[a][i];
            const int *lab = (relevant ? l->rel : l->sal) + l->off[k];
            int any = 0;
            for (int j = 0; j < xi->n_system; j++) any |= lab[j] >= 0;
            if (!any) continue;
            int n = tlm_input(xi, bos, false, 0, 0, tok, cap);
            if (n < 0) continue;
            for (int j = 0; j < n; j++) tgt[j] = -1;
            memcpy(tgt + lead, lab, sizeof(int) * (size_t)xi->n_system);
            rc = examples_add(x, tok, n, tgt, e);
        }
    free(tok);
    free(tgt);
    return rc;
}

/* ---- step 3: grid outcomes ---- */

static int grids(const TlmBuildOpts *o, Tlm *tlm, const LevelSet *ls, const TlmItems *it, unsigned char **out,
                 const char *stage, Err *e) {
    int n = tlm_items_count(it), k = 0;
    *out = malloc((size_t)(n ? n : 1) * N_GRID);
    if (!*out) return err_set(e, "out of memory");
    for (int a = 0; a < APPS_N; a++)
        for (int i = 0; i < it->set[a].n; i++, k++) {
            const EncodedItem *x = &it->enc[a][i];
            int S = x->n_system;
            float *p = malloc(sizeof(float) * (size_t)(S ? S : 1));
            unsigned char *m = malloc((size_t)(S ? S : 1) * N_RATIOS);
            const unsigned char *masks[N_RATIOS];
            int rc = !p || !m ? err_set(e, "out of memory") : tlm_score(tlm, x, p, e);
            for (int r = 0; !rc && r < N_RATIOS; r++) {
                keepmask_top(p, S, levels_kept_system(S, x->n_query, RATIOS[r]), m + (size_t)r * S);
                masks[r] = m + (size_t)r * S;
            }
            if (!rc)
                rc = tlm_grid_outcomes(o->ev, o->llm, ls, masks, x, apps_table[a].name, it->set[a].items[i].id,
                                       *out + (size_t)k * N_GRID, e);
            free(p);
            free(m);
            if (rc) return -1;
            tlm_build_progress(o, stage, k + 1, n);
        }
    return 0;
}

/* ---- step 4: decision examples ---- */

static int decision_examples(const TlmBuildOpts *o, const TlmItems *it, const unsigned char *grid, bool pair,
                             ExampleSet *x, long *unlabelled, Err *e) {
    int bos = eval_bos(o->tok, o->llm), cap = o->llm->cfg.max_seq + 3, k = 0, V = o->llm->cfg.vocab_size;
    int *tok = malloc(sizeof(int) * (size_t)cap);
    if (!tok) return err_set(e, "out of memory");
    *unlabelled = 0;
    int rc = examples_init(x, pair ? 2 : N_GRID, e);
    for (int a = 0; !rc && a < APPS_N; a++)
        for (int i = 0; !rc && i < it->set[a].n; i++, k++) {
            const EncodedItem *xi = &it->enc[a][i];
            const unsigned char *g = grid + (size_t)k * N_GRID;
            if (!pair) {
                int tgt[N_GRID];
                for (int j = 0; j < N_GRID; j++) tgt[j] = g[j];
                int n = tlm_input(xi, bos, false, 0, 0, tok, cap);
                if (n > 0) rc = examples_add(x, tok, n, tgt, e);
                continue;
            }
            for (int pi = 0; !rc && pi < TLM_N_PREFILL; pi++)
                for (int di = 0; !rc && di < TLM_N_DECODE; di++) {
                    int li, ri;
                    if (!tlm_label_pair(g, TLM_PREFILL[pi], TLM_DECODE[di], &li, &ri)) {
                        (*unlabelled)++;
                        continue;
                    }
                    int tp, td, tgt[2] = {ri, li};
                    tlm_slo_tokens(V, TLM_PREFILL[pi], TLM_DECODE[di], &tp, &td);
                    int n = tlm_input(xi, bos, true, tp, td, tok, cap);
                    if (n > 0) rc = examples_add(x, tok, n, tgt, e);
                }
        }
    free(tok);
    return rc;
}

/* ---- the size sweep: the score and prob heads (the ones `elms` runs) at other sizes, on the same labels ---- */
typedef struct SweepData {
    const TlmItems *dev;
    const TlmScoreLabels *ldev;
    const ExampleSet *xs, *xp, *xq;  /* the chosen score labels' examples, the pair and prob examples */
    const unsigned char *g_dev;
    double margin;                   /* the prob rule's margin chosen for the build */
} SweepData;

static int size_sweep(const TlmBuildOpts *o, const SweepData *d, cJSON *arr, Err *e) {
    for (int k = 0; k < o->n_sweep; k++) {
        TlmBuildOpts so = *o;
        so.shape = o->sweep[k];
        ModelConfig cs, cq;
        head_config(&so, o->llm, HEAD_TOKEN, 2, 0, NULL, false, 0, &cs);
        head_config(&so, o->llm, HEAD_SEQUENCE, N_GRID, 0, NULL, true, 0, &cq);
        Tlm t;
        int rc = tlm_init_empty(&t, o->llm, eval_bos(o->tok, o->llm), e);
        double loss;
        TlmScoreDev sd;
        TlmDecisionDev dq;
        double ms_prob = 0;
        char stage[96];
        snprintf(stage, sizeof stage, "size sweep %d x %d", so.shape.dim, so.shape.layers);
        if (!rc) rc = fit(&so, &cs, d->xs, so.epochs, so.seed, stage, &t.score, &loss, e);
        t.has_score = !rc;
        if (!rc) rc = fit(&so, &cq, d->xq, so.prob_epochs, so.seed + 3, stage, &t.prob, &loss, e);
        t.has_prob = !rc;
        if (!rc) rc = tlm_score_dev(o, &t, d->dev, d->ldev, &sd, e) ||
                      tlm_decision_dev(&t, false, d->margin, d->dev, d->g_dev, &dq, e) ||
                      tlm_time_requests(&t, d->dev, false, 60, &ms_prob, e);
        if (!rc) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "dim", so.shape.dim);
            cJSON_AddNumberToObject(r, "layers", so.shape.layers);
            cJSON_AddNumberToObject(r, "heads", so.shape.heads);
            cJSON_AddNumberToObject(r, "ffn", so.shape.ffn);
            cJSON_AddNumberToObject(r, "score_params", (double)t.score.n_params);
            cJSON_AddNumberToObject(r, "params_fraction_of_llm", (double)(t.score.n_params + t.prob.n_params) /
                                                                   (double)o->llm->n_params);
            cJSON_AddNumberToObject(r, "ms_per_request_prob", ms_prob);
            cJSON_AddNumberToObject(r, "accuracy_ratio_0.5", sd.acc[0]);
            cJSON_AddNumberToObject(r, "accuracy_ratio_0.3", sd.acc[1]);
            cJSON_AddNumberToObject(r, "prob_accuracy", dq.acc);
            cJSON_AddItemToArray(arr, r);
        }
        if (t.has_score) model_free(&t.score);
        if (t.has_prob) model_free(&t.prob);
        tlm_scratch_free(&t);
        if (rc) return -1;
    }
    return 0;
}

/* ---- the whole build ---- */

static int save_head(const Model *m, const char *out, const char *name, Err *e) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", out, name);
    return model_save(m, dir, ST_F32, e);
}

static cJSON *shape_json(const ModelConfig *c, size_t params) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "dim", c->dim);
    cJSON_AddNumberToObject(j, "layers", c->n_layers);
    cJSON_AddNumberToObject(j, "heads", c->n_heads);
    cJSON_AddNumberToObject(j, "ffn", c->ffn_dim);
    cJSON_AddNumberToObject(j, "params", (double)params);
    return j;
}

int tlm_build(const TlmBuildOpts *o, const char *out, Err *e) {
    if (strcmp(o->score_labels, "auto") && strcmp(o->score_labels, "relevant") && strcmp(o->score_labels, "saliency"))
        return err_set(e, "score labels '%s': expected auto, relevant or saliency", o->score_labels);
    double t0 = clock_wall_s();
    TlmItems tr, grid_tr, dev;
    TlmScoreLabels ltr, ldev;
    ExampleSet xs[2], xp, xq;
    Model heads[2], pair, prob;
    LevelSet ls;
    Tlm tlm;
    memset(&tr, 0, sizeof tr);
    memset(&grid_tr, 0, sizeof grid_tr);
    memset(&dev, 0, sizeof dev);
    memset(&ltr, 0, sizeof ltr);
    memset(&ldev, 0, sizeof ldev);
    memset(xs, 0, sizeof xs);
    memset(&xp, 0, sizeof xp);
    memset(&xq, 0, sizeof xq);
    memset(heads, 0, sizeof heads);
    memset(&pair, 0, sizeof pair);
    memset(&prob, 0, sizeof prob);
    memset(&ls, 0, sizeof ls);
    memset(&tlm, 0, sizeof tlm);
    unsigned char *g_tr = NULL, *g_dev = NULL;
    TlmScoreDev sdev[2];
    TlmDecisionDev dpair, dprob;
    double loss[4] = {NAN, NAN, NAN, NAN}, ms_req[2] = {0, 0}, margin = 0;
    TlmDecisionDev dmargin[TLM_N_MARGINS];
    long unlabelled = 0;
    int chosen = -1, rc = 0;
    cJSON *j = NULL;

    rc = tlm_items_load(&tr, o->data_dir, "train", o->score_items, o->exclude, o->tok, e) ||
         tlm_items_load(&grid_tr, o->data_dir, "train", o->grid_items, o->exclude, o->tok, e) ||
         tlm_items_load(&dev, o->data_dir, "dev", o->dev_items, o->exclude, o->tok, e);
    if (!rc) rc = tlm_score_labels(o, &tr, true, -1, &ltr, "score labels (train)", e);
    if (!rc) rc = tlm_score_labels(o, &dev, true, ltr.q, &ldev, "score labels (dev)", e);
    /* step 2: a score head per label kind (relevant, saliency), measured on dev */
    const char *kinds[2] = {"relevant", "saliency"};
    for (int kind = 0; !rc && kind < 2; kind++) {
        if (strcmp(o->score_labels, "auto") && strcmp(o->score_labels, kinds[kind])) continue;
        ModelConfig c;
        head_config(o, o->llm, HEAD_TOKEN, 2, 0, NULL, false, 0, &c);
        char stage[64];
        snprintf(stage, sizeof stage, "score head (%s labels)", kinds[kind]);
        rc = score_examples(o, &tr, &ltr, kind == 0, &xs[kind], e);
        if (!rc && xs[kind].n == 0 && !strcmp(o->score_labels, "auto")) continue; /* e.g. no item has spans */
        if (!rc) rc = fit(o, &c, &xs[kind], o->epochs, o->seed + (unsigned long)kind, stage, &heads[kind], &loss[kind], e);
        if (rc) break;
        rc = tlm_score_dev_head(o, &heads[kind], &dev, &ldev, &sdev[kind], e);
    }
    if (!rc) {
        if (!strcmp(o->score_labels, "relevant")) chosen = 0;
        else if (!strcmp(o->score_labels, "saliency")) chosen = 1;
        else if (!heads[0].params) chosen = 1;
        else if (!heads[1].params) chosen = 0;
        else chosen = sdev[1].acc[0] + sdev[1].acc[1] > sdev[0].acc[0] + sdev[0].acc[1] ? 1 : 0;
        rc = save_head(&heads[chosen], out, "score", e);
    }
    /* step 3: grid outcomes with that score head */
    if (!rc) rc = levelset_load(&ls, o->llm, o->model_dir, true, e);
    if (!rc && !(rc = tlm_init_empty(&tlm, o->llm, eval_bos(o->tok, o->llm), e))) {
        tlm.score = heads[chosen];
        tlm.has_score = true;
    }
    if (!rc) rc = grids(o, &tlm, &ls, &grid_tr, &g_tr, "grid (train)", e) ||
                  grids(o, &tlm, &ls, &dev, &g_dev, "grid (dev)", e);
    /* step 4: the two decision heads */
    if (!rc) {
        ModelConfig c;
        head_config(o, o->llm, HEAD_SEQUENCE, N_RATIOS + N_LEVELS, 2, (int[]){N_RATIOS, N_LEVELS}, false,
                    TLM_N_SLO_TOKENS, &c);
        rc = decision_examples(o, &grid_tr, g_tr, true, &xp, &unlabelled, e) ||
             fit(o, &c, &xp, o->epochs, o->seed + 2, "pair head", &pair, &loss[2], e);
    }
    if (!rc) {
        ModelConfig c;
        long dummy;
        head_config(o, o->llm, HEAD_SEQUENCE, N_GRID, 0, NULL, true, 0, &c);
        rc = decision_examples(o, &grid_tr, g_tr, false, &xq, &dummy, e) ||
             fit(o, &c, &xq, o->prob_epochs, o->seed + 3, "prob head", &prob, &loss[3], e);
    }
    /* step 5: the dev choice */
    if (!rc) {
        tlm.pair = pair;
        tlm.has_pair = true;
        tlm.prob = prob;
        tlm.has_prob = true;
        rc = tlm_decision_dev(&tlm, true, 0, &dev, g_dev, &dpair, e);
        /* the prob rule's margin, chosen on dev (ties: the smaller) */
        for (int mi = 0; !rc && mi < TLM_N_MARGINS; mi++) {
            rc = tlm_decision_dev(&tlm, false, TLM_MARGINS[mi], &dev, g_dev, &dmargin[mi], e);
            if (!rc && (mi == 0 || dmargin[mi].acc > dprob.acc + 1e-12)) {
                dprob = dmargin[mi];
                margin = TLM_MARGINS[mi];
            }
        }
    }
    if (!rc) rc = save_head(&pair, out, "pair", e) || save_head(&prob, out, "prob", e);
    cJSON *sweep = cJSON_CreateArray();
    if (!rc && o->n_sweep > 0) {
        SweepData sd = {&dev, &ldev, &xs[chosen], &xp, &xq, g_dev, margin};
        rc = size_sweep(o, &sd, sweep, e);
    }
    if (!rc) {
        tlm.pair = pair;
        tlm.prob = prob;
        rc = tlm_time_requests(&tlm, &dev, true, 60, &ms_req[0], e) || tlm_time_requests(&tlm, &dev, false, 60, &ms_req[1], e);
    }
    if (!rc) {
        j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "format", "elms-tlm-1");
        cJSON_AddStringToObject(j, "decision", dprob.acc > dpair.acc ? "prob" : "pair");
        cJSON_AddNumberToObject(j, "prob_margin", margin);
        cJSON_AddStringToObject(j, "score_labels", kinds[chosen]);
        cJSON_AddStringToObject(j, "llm_hash", o->llm->hash);
        cJSON_AddStringToObject(j, "excluded_app", o->exclude ? o->exclude : "");
        cJSON *opt = cJSON_AddObjectToObject(j, "options");
        cJSON_AddNumberToObject(opt, "score_items", o->score_items);
        cJSON_AddNumberToObject(opt, "grid_items", o->grid_items);
        cJSON_AddNumberToObject(opt, "dev_items", o->dev_items);
        cJSON_AddNumberToObject(opt, "epochs", o->epochs);
        cJSON_AddNumberToObject(opt, "prob_epochs", o->prob_epochs);
        cJSON_AddNumberToObject(opt, "dim", o->shape.dim);
        cJSON_AddNumberToObject(opt, "layers", o->shape.layers);
        cJSON_AddNumberToObject(opt, "lr", o->lr);
        cJSON_AddNumberToObject(opt, "accum", o->accum);
        cJSON_AddNumberToObject(opt, "seed", (double)o->seed);
        cJSON_AddItemToObject(j, "score_shape", shape_json(&heads[chosen].cfg, heads[chosen].n_params));
        cJSON_AddItemToObject(j, "pair_shape", shape_json(&pair.cfg, pair.n_params));
        cJSON_AddItemToObject(j, "prob_shape", shape_json(&prob.cfg, prob.n_params));
        cJSON_AddNumberToObject(j, "saliency_label_fraction", ltr.q);
        cJSON *sc = cJSON_AddObjectToObject(j, "score_dev");
        for (int kind = 0; kind < 2; kind++) {
            if (!heads[kind].params) continue;
            cJSON *k = cJSON_AddObjectToObject(sc, kinds[kind]);
            cJSON_AddNumberToObject(k, "examples", xs[kind].n);
            cJSON_AddNumberToObject(k, "final_loss", loss[kind]);
            cJSON_AddNumberToObject(k, "accuracy_ratio_0.5", sdev[kind].acc[0]);
            cJSON_AddNumberToObject(k, "accuracy_ratio_0.3", sdev[kind].acc[1]);
            cJSON_AddNumberToObject(k, "precision_relevant", sdev[kind].prec[0]);
            cJSON_AddNumberToObject(k, "recall_relevant", sdev[kind].rec[0]);
            cJSON_AddNumberToObject(k, "precision_saliency", sdev[kind].prec[1]);
            cJSON_AddNumberToObject(k, "recall_saliency", sdev[kind].rec[1]);
            cJSON_AddNumberToObject(k, "topk_relevant", sdev[kind].topk[0]);
            cJSON_AddNumberToObject(k, "topk_saliency", sdev[kind].topk[1]);
        }
        /* the references do not depend on the head */
        cJSON_AddNumberToObject(sc, "accuracy_whole_prompt", sdev[chosen].acc_whole);
        cJSON_AddNumberToObject(sc, "accuracy_random_0.5", sdev[chosen].acc_random[0]);
        cJSON_AddNumberToObject(sc, "accuracy_random_0.3", sdev[chosen].acc_random[1]);
        cJSON *dd = cJSON_AddObjectToObject(j, "decision_dev");
        const TlmDecisionDev *dv[2] = {&dpair, &dprob};
        const char *dn[2] = {"pair", "prob"};
        for (int h = 0; h < 2; h++) {
            cJSON *k = cJSON_AddObjectToObject(dd, dn[h]);
            cJSON_AddNumberToObject(k, "examples", h ? xq.n : xp.n);
            cJSON_AddNumberToObject(k, "final_loss", loss[2 + h]);
            cJSON_AddNumberToObject(k, "accuracy", dv[h]->acc);
            cJSON_AddNumberToObject(k, "first_choice_infeasible", dv[h]->infeasible);
            if (!h) cJSON_AddNumberToObject(k, "label_agreement", dv[h]->label_agree);
        }
        cJSON *mg = cJSON_AddArrayToObject(dd, "prob_margins");
        for (int mi = 0; mi < TLM_N_MARGINS; mi++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "margin", TLM_MARGINS[mi]);
            cJSON_AddNumberToObject(x, "accuracy", dmargin[mi].acc);
            cJSON_AddItemToArray(mg, x);
        }
        cJSON_AddNumberToObject(dd, "oracle", dpair.oracle);
        cJSON_AddNumberToObject(dd, "unlabelled_train_requests", (double)unlabelled);
        cJSON_AddNumberToObject(j, "ms_per_request_pair", ms_req[0]);
        cJSON_AddNumberToObject(j, "ms_per_request_prob", ms_req[1]);
        cJSON_AddNumberToObject(j, "llm_params", (double)o->llm->n_params);
        cJSON_AddItemToObject(j, "size_sweep", sweep);
        sweep = NULL;
        cJSON_AddNumberToObject(j, "wall_s", clock_wall_s() - t0);
        char path[1200];
        snprintf(path, sizeof path, "%s/tlm.json", out);
        rc = io_write_json(path, j, e);
    }
    cJSON_Delete(j);
    cJSON_Delete(sweep);
    tlm_scratch_free(&tlm);
    free(g_tr);
    free(g_dev);
    levelset_free(&ls);
    for (int k = 0; k < 2; k++) {
        examples_free(&xs[k]);
        if (heads[k].params) model_free(&heads[k]);
    }
    examples_free(&xp);
    examples_free(&xq);
    if (pair.params) model_free(&pair);
    if (prob.params) model_free(&prob);
    tlm_score_labels_free(&ltr);
    tlm_score_labels_free(&ldev);
    tlm_items_free(&tr);
    tlm_items_free(&grid_tr);
    tlm_items_free(&dev);
    return rc ? -1 : 0;
}

int tlm_build_classifier(const TlmBuildOpts *o, const char *out, Err *e) {
    TlmItems tr, dev;
    TlmScoreLabels ltr, ldev;
    ExampleSet x;
    Model m;
    memset(&tr, 0, sizeof tr);
    memset(&dev, 0, sizeof dev);
    memset(&ltr, 0, sizeof ltr);
    memset(&ldev, 0, sizeof ldev);
    memset(&x, 0, sizeof x);
    memset(&m, 0, sizeof m);
    double t0 = clock_wall_s(), loss = NAN;
    TlmScoreDev sd;
    ModelConfig c;
    head_config(o, o->llm, HEAD_TOKEN, 2, 0, NULL, false, 0, &c);
    int rc = tlm_items_load(&tr, o->data_dir, "train", o->score_items, o->exclude, o->tok, e) ||
             tlm_items_load(&dev, o->data_dir, "dev", o->dev_items, o->exclude, o->tok, e) ||
             tlm_score_labels(o, &tr, false, -1, &ltr, "classifier labels (train)", e) ||
             tlm_score_labels(o, &dev, false, 0, &ldev, "classifier labels (dev)", e) ||
             score_examples(o, &tr, &ltr, true, &x, e) ||
             fit(o, &c, &x, o->epochs, o->seed, "classifier", &m, &loss, e);
    if (!rc) rc = tlm_score_dev_head(o, &m, &dev, &ldev, &sd, e);
    if (!rc) rc = model_save(&m, out, ST_F32, e);
    if (!rc) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "format", "elms-classifier-1");
        cJSON_AddStringToObject(j, "labels", "relevant");
        cJSON_AddItemToObject(j, "shape", shape_json(&m.cfg, m.n_params));
        cJSON_AddNumberToObject(j, "examples", x.n);
        cJSON_AddNumberToObject(j, "final_loss", loss);
        cJSON_AddNumberToObject(j, "accuracy_ratio_0.5", sd.acc[0]);
        cJSON_AddNumberToObject(j, "accuracy_ratio_0.3", sd.acc[1]);
        cJSON_AddNumberToObject(j, "precision_relevant", sd.prec[0]);
        cJSON_AddNumberToObject(j, "recall_relevant", sd.rec[0]);
        cJSON_AddNumberToObject(j, "topk_relevant", sd.topk[0]);
        cJSON_AddNumberToObject(j, "accuracy_whole_prompt", sd.acc_whole);
        cJSON_AddNumberToObject(j, "accuracy_random_0.5", sd.acc_random[0]);
        cJSON_AddNumberToObject(j, "accuracy_random_0.3", sd.acc_random[1]);
        cJSON_AddNumberToObject(j, "wall_s", clock_wall_s() - t0);
        char path[1200];
        snprintf(path, sizeof path, "%s/classifier.json", out);
        rc = io_write_json(path, j, e);
        cJSON_Delete(j);
    }
    if (m.params) model_free(&m);
    examples_free(&x);
    tlm_score_labels_free(&ltr);
    tlm_score_labels_free(&ldev);
    tlm_items_free(&tr);
    tlm_items_free(&dev);
    return rc ? -1 : 0;
}

int tlm_evaluate(const TlmBuildOpts *o, const char *dir, const char *split, const char *out_json, Err *e) {
    TlmItems it;
    TlmScoreLabels l;
    LevelSet ls;
    Tlm t;
    memset(&it, 0, sizeof it);
    memset(&l, 0, sizeof l);
    memset(&ls, 0, sizeof ls);
    memset(&t, 0, sizeof t);
    unsigned char *g = NULL;
    TlmScoreDev sd;
    TlmDecisionDev dp, dq;
    double q = -1;
    char path[1300];
    snprintf(path, sizeof path, "%s/tlm.json", dir);
    cJSON *m = NULL, *j = NULL;
    int rc = io_read_json(path, &m, e) ||
             io_json_double(m, "saliency_label_fraction", 0, 1, &q, path, e) ||
             tlm_load(&t, dir, o->llm, eval_bos(o->tok, o->llm), e) ||
             tlm_items_load(&it, o->data_dir, split, o->dev_items, o->exclude, o->tok, e) ||
             tlm_score_labels(o, &it, true, q, &l, "labels", e) || tlm_score_dev(o, &t, &it, &l, &sd, e) ||
             levelset_load(&ls, o->llm, o->model_dir, true, e) || grids(o, &t, &ls, &it, &g, "grid", e);
    if (!rc && t.has_pair) rc = tlm_decision_dev(&t, true, 0, &it, g, &dp, e);
    if (!rc && t.has_prob) rc = tlm_decision_dev(&t, false, t.prob_margin, &it, g, &dq, e);
    if (!rc) {
        j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "split", split);
        cJSON_AddNumberToObject(j, "items", tlm_items_count(&it));
        cJSON_AddNumberToObject(j, "accuracy_ratio_0.5", sd.acc[0]);
        cJSON_AddNumberToObject(j, "accuracy_ratio_0.3", sd.acc[1]);
        cJSON_AddNumberToObject(j, "accuracy_random_0.5", sd.acc_random[0]);
        cJSON_AddNumberToObject(j, "accuracy_random_0.3", sd.acc_random[1]);
        cJSON_AddNumberToObject(j, "accuracy_whole_prompt", sd.acc_whole);
        const char *kinds[2] = {"relevant", "saliency"};
        for (int k = 0; k < 2; k++) {
            cJSON *x = cJSON_AddObjectToObject(j, kinds[k]);
            cJSON_AddNumberToObject(x, "precision", sd.prec[k]);
            cJSON_AddNumberToObject(x, "recall", sd.rec[k]);
            cJSON_AddNumberToObject(x, "topk", sd.topk[k]);
        }
        const TlmDecisionDev *dv[2] = {&dp, &dq};
        const bool has[2] = {t.has_pair, t.has_prob};
        const char *dn[2] = {"pair", "prob"};
        for (int h = 0; h < 2; h++) {
            if (!has[h]) continue;
            cJSON *x = cJSON_AddObjectToObject(j, dn[h]);
            cJSON_AddNumberToObject(x, "accuracy", dv[h]->acc);
            cJSON_AddNumberToObject(x, "first_choice_infeasible", dv[h]->infeasible);
            if (!h) cJSON_AddNumberToObject(x, "label_agreement", dv[h]->label_agree);
        }
        if (t.has_pair || t.has_prob) cJSON_AddNumberToObject(j, "oracle", (t.has_pair ? &dp : &dq)->oracle);
        rc = io_write_json(out_json, j, e);
    }
    cJSON_Delete(j);
    cJSON_Delete(m);
    free(g);
    levelset_free(&ls);
    tlm_free(&t);
    tlm_score_labels_free(&l);
    tlm_items_free(&it);
    return rc ? -1 : 0;
}
