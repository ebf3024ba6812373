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
#include "policies/feasible.h"
#include "policies/tlm.h"
#include "policies/tlm_data.h"
#include "policies/tlm_labels.h"

#define N_GRID (N_LEVELS * N_RATIOS)
#define N_SLO_PAIRS (TLM_N_PREFILL * TLM_N_DECODE)

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
    o->shape = (TlmShape){64, 2, 4, 128};
    o->epochs = 3;
    o->prob_epochs = 30;
    o->lr = 1e-3f;
    o->accum = 16;
    o->seed = 1;
    o->score_labels = "auto";
}

static void progress(const TlmBuildOpts *o, const char *stage, long done, long total) {
    if (o->progress) o->progress(o->progress_ctx, stage, done, total);
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
    progress(l->o, l->stage, row->step, l->total);
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

typedef struct ScoreLabels {
    int *rel, *sal;   /* per item (n_system) labels of each kind, items of all apps in order */
    long *off;        /* (n_items + 1) */
    double q;         /* fraction of system tokens in relevant spans (items with spans) */
} ScoreLabels;

static void score_labels_free(ScoreLabels *l) {
    free(l->rel);
    free(l->sal);
    free(l->off);
    memset(l, 0, sizeof *l);
}

/* labels of both kinds for every item of it (saliency false: relevant only, the saliency labels all -1); q is
 * taken from train (pass q_fixed >= 0 for dev) */
static int score_labels(const TlmBuildOpts *o, const TlmItems *it, bool saliency, double q_fixed, ScoreLabels *l,
                        const char *stage, Err *e) {
    memset(l, 0, sizeof *l);
    int n = tlm_items_count(it), bos = eval_bos(o->tok, o->llm);
    l->off = calloc((size_t)n + 1, sizeof(long));
    if (!l->off) return err_set(e, "out of memory");
    int k = 0, max_len = 0;
    for (int a = 0; a < APPS_N; a++)
        for (int i = 0; i < it->set[a].n; i++, k++) {
            const EncodedItem *x = &it->enc[a][i];
            l->off[k + 1] = l->off[k] + x->n_system;
            int len = 1 + x->n_system + x->n_query + x->choice_len[x->answer];
            if (len > max_len) max_len = len;
        }
    l->rel = malloc(sizeof(int) * (size_t)(l->off[n] + 1));
    l->sal = malloc(sizeof(int) * (size_t)(l->off[n] + 1));
    float *sal = malloc(sizeof(float) * (size_t)(l->off[n] + 1));
    if (!l->rel || !l->sal || !sal) {
        free(sal);
        return err_set(e, "out of memory");
    }
    /* the LLM's saliency needs a trainer on a private copy (the trainer owns gradients for its weights) */
    Model m;
    Trainer t;
    memset(&m, 0, sizeof m);
    memset(&t, 0, sizeof t);
    int rc = 0;
    if (saliency) {
        if (model_alloc(&m, &o->llm->cfg, e)) {
            free(sal);
            return -1;
        }
        memcpy(m.params, o->llm->params, sizeof(float) * m.n_params);
        TrainConfig tc;
        train_config_default(&tc);
        tc.batch = 1;
        tc.seq = max_len < m.cfg.max_seq ? max_len : m.cfg.max_seq;
        rc = train_init(&t, &m, NULL, &tc, e);
    }
    long ones = 0, labelled = 0;
    k = 0;
    for (int a = 0; !rc && a < APPS_N; a++)
        for (int i = 0; !rc && i < it->set[a].n; i++, k++) {
            const EncodedItem *x = &it->enc[a][i];
            int r = tlm_labels_relevant(&it->set[a].items[i], x->n_system, l->rel + l->off[k]);
            if (r >= 0) {
                ones += r;
                labelled += x->n_system;
            }
            if (!saliency) continue;
            rc = tlm_saliency(&t, x, bos, sal + l->off[k], e);
            if (rc) err_prefix(e, "%s item %s", apps_table[a].name, it->set[a].items[i].id);
            progress(o, stage, k + 1, n);
        }
    if (!rc) {
        l->q = q_fixed >= 0 ? q_fixed : labelled ? (double)ones / (double)labelled : 0.3;
        for (int j = 0; j < n; j++) {
            int S = (int)(l->off[j + 1] - l->off[j]);
            if (saliency) tlm_labels_top(sal + l->off[j], S, l->q, l->sal + l->off[j]);
            else
                for (int i = 0; i < S; i++) l->sal[l->off[j] + i] = -1;
        }
    }
    if (saliency) {
        train_free(&t);
        model_free(&m);
    }
    free(sal);
    return rc;
}

/* score examples: [bos] system query, targets -1 on bos and query; items whose labels are all -1 are left out */
static int score_examples(const TlmBuildOpts *o, const TlmItems *it, const ScoreLabels *l, bool relevant,
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

/* ---- the dev measures of a score head ---- */

typedef struct ScoreDev {
    double acc[2];            /* full LLM accuracy at ratios 0.5 and 0.3, the head's compression */
    double acc_random[2];     /* the same with a seeded random subset of the system tokens (reference) */
    double acc_whole;         /* the same with the whole prompt (reference) */
    double prec[2], rec[2];   /* keep probability > 0.5 against the relevant [0] and saliency [1] labels */
    double topk[2];           /* of each item's k labelled-1 tokens, the share among its k highest-scored tokens
                                 (precision = recall at k) */
} ScoreDev;

static const double DEV_RATIOS[2] = {0.5, 0.3};

static int dev_eval(const TlmBuildOpts *o, const ElasticView *v, const unsigned char *keep, const EncodedItem *x,
                    const char *app, const char *id, long *right, Err *e) {
    EvalQuery q = {.model = o->llm, .view = v, .keep = keep, .x = x, .app = app, .item = id};
    EvalOutcome oc;
    if (eval_item(o->ev, &q, &oc, e)) return -1;
    *right += oc.correct;
    return 0;
}

static int score_dev(const TlmBuildOpts *o, Tlm *tlm, const TlmItems *dev, const ScoreLabels *l, ScoreDev *out,
                     Err *e) {
    memset(out, 0, sizeof *out);
    ElasticView full;
    view_full(o->llm, &full);
    long tp[2] = {0}, fp[2] = {0}, fn[2] = {0}, hits[2] = {0}, pos[2] = {0}, right[2] = {0}, rnd[2] = {0}, whole = 0;
    long n = 0;
    int k = 0;
    for (int a = 0; a < APPS_N; a++)
        for (int i = 0; i < dev->set[a].n; i++, k++) {
            const EncodedItem *x = &dev->enc[a][i];
            const char *app = apps_table[a].name, *id = dev->set[a].items[i].id;
            int S = x->n_system;
            float *p = malloc(sizeof(float) * (size_t)(S ? S : 1));
            unsigned char *keep = malloc((size_t)(S ? S : 1));
            int rc = !p || !keep ? err_set(e, "out of memory") : tlm_score(tlm, x, p, e);
            for (int kind = 0; !rc && kind < 2; kind++) {
                const int *lab = (kind ? l->sal : l->rel) + l->off[k];
                int P = 0;
                for (int j = 0; j < S; j++) {
                    if (lab[j] < 0) continue;
                    int pred = p[j] > 0.5f;
                    tp[kind] += pred && lab[j];
                    fp[kind] += pred && !lab[j];
                    fn[kind] += !pred && lab[j];
                    P += lab[j] == 1;
                }
                if (P == 0) continue;
                keepmask_top(p, S, P, keep);
                for (int j = 0; j < S; j++) hits[kind] += keep[j] && lab[j] == 1;
                pos[kind] += P;
            }
            for (int r = 0; !rc && r < 2; r++) {
                int kk = levels_kept_system(S, x->n_query, DEV_RATIOS[r]);
                keepmask_top(p, S, kk, keep);
                rc = dev_eval(o, &full, keep, x, app, id, &right[r], e);
                if (!rc && keepmask_random(keep, S, kk, keepmask_seed(o->seed, "tlm-dev", app, id, DEV_RATIOS[r])) != kk)
                    rc = err_set(e, "out of memory");
                if (!rc) rc = dev_eval(o, &full, keep, x, app, id, &rnd[r], e);
            }
            if (!rc) rc = dev_eval(o, &full, NULL, x, app, id, &whole, e);
            free(p);
            free(keep);
            if (rc) return -1;
            n++;
        }
    for (int r = 0; r < 2; r++) {
        out->acc[r] = n ? (double)right[r] / (double)n : 0;
        out->acc_random[r] = n ? (double)rnd[r] / (double)n : 0;
        out->prec[r] = tp[r] + fp[r] ? (double)tp[r] / (double)(tp[r] + fp[r]) : 0;
        out->rec[r] = tp[r] + fn[r] ? (double)tp[r] / (double)(tp[r] + fn[r]) : 0;
        out->topk[r] = pos[r] ? (double)hits[r] / (double)pos[r] : 0;
    }
    out->acc_whole = n ? (double)whole / (double)n : 0;
    return 0;
}

/* score_dev_head: score_dev of a score head held alone */
static int score_dev_head(const TlmBuildOpts *o, const Model *head, const TlmItems *dev, const ScoreLabels *l,
                          ScoreDev *out, Err *e) {
    Tlm one;
    if (tlm_init_empty(&one, o->llm, eval_bos(o->tok, o->llm), e)) return -1;
    one.score = *head;
    one.has_score = true;
    int rc = score_dev(o, &one, dev, l, out, e);
    tlm_scratch_free(&one);
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
            progress(o, stage, k + 1, n);
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

/* ---- step 5: dev measures of the decision heads under the paper's accounting ---- */

/* the prob rule's margins tried on dev */
static const double MARGINS[] = {0, 0.02, 0.05, 0.1, 0.2, 0.3};
#define N_MARGINS ((int)(sizeof MARGINS / sizeof MARGINS[0]))

static bool paper_feasible(int li, int ri, double prefill, double decode) {
    return feasible_within(LEVELS[li] * RATIOS[ri], prefill) && feasible_within(LEVELS[li], decode);
}

/* the policy's pair rule under the paper's accounting: the pair; else p kept with the largest feasible m; else
 * the largest feasible m, then p; -1 when nothing is feasible */
static int pair_pick(int li, int ri, double prefill, double decode) {
    if (paper_feasible(li, ri, prefill, decode)) return li * N_RATIOS + ri;
    for (int l = N_LEVELS - 1; l >= 0; l--)
        if (paper_feasible(l, ri, prefill, decode)) return l * N_RATIOS + ri;
    for (int l = N_LEVELS - 1; l >= 0; l--)
        for (int r = 0; r < N_RATIOS; r++)
            if (paper_feasible(l, r, prefill, decode)) return l * N_RATIOS + r;
    return -1;
}

typedef struct DecisionDev {
    double acc;               /* correct at the picked configuration, over dev items x 48 SLO pairs */
    double infeasible;        /* share of first choices that were infeasible */
    double label_agree;       /* pair: share of labelled requests whose (ratio, level) equal the label */
    double oracle;            /* share of requests some feasible configuration answers */
} DecisionDev;

static int decision_dev(Tlm *tlm, bool pair, double margin, const TlmItems *dev, const unsigned char *grid,
                        DecisionDev *out, Err *e) {
    memset(out, 0, sizeof *out);
    long n = 0, right = 0, infeasible = 0, agree = 0, labelled = 0, reachable = 0;
    int k = 0;
    for (int a = 0; a < APPS_N; a++)
        for (int i = 0; i < dev->set[a].n; i++, k++) {
            const EncodedItem *x = &dev->enc[a][i];
            const unsigned char *g = grid + (size_t)k * N_GRID;
            float prob[N_GRID];
            if (!pair && tlm_decide_prob(tlm, x, prob, e)) return -1;
            for (int pi = 0; pi < TLM_N_PREFILL; pi++)
                for (int di = 0; di < TLM_N_DECODE; di++) {
                    double pf = TLM_PREFILL[pi], dc = TLM_DECODE[di];
                    int pick = -1, li, ri, ll, lr;
                    if (pair) {
                        if (tlm_decide_pair(tlm, x, pf, dc, &ri, &li, e)) return -1;
                        infeasible += !paper_feasible(li, ri, pf, dc);
                        pick = pair_pick(li, ri, pf, dc);
                        if (tlm_label_pair(g, pf, dc, &ll, &lr)) {
                            labelled++;
                            agree += ll == li && lr == ri;
                        }
                    } else {
                        int cand[N_GRID], nc = 0;
                        for (int l = N_LEVELS - 1; l >= 0; l--)
                            for (int r = 0; r < N_RATIOS; r++)
                                if (paper_feasible(l, r, pf, dc)) cand[nc++] = l * N_RATIOS + r;
                        if (nc > 0) pick = cand[tlm_prob_pick(prob, cand, nc, margin)];
                    }
                    right += pick >= 0 && g[pick];
                    reachable += tlm_label_pair(g, pf, dc, &ll, &lr);
                    n++;
                }
        }
    out->acc = n ? (double)right / (double)n : 0;
    out->infeasible = n ? (double)infeasible / (double)n : 0;
    out->label_agree = labelled ? (double)agree / (double)labelled : 0;
    out->oracle = n ? (double)reachable / (double)n : 0;
    return 0;
}

/* ---- the size sweep: the score and prob heads (the ones `elms` runs) at other sizes, on the same labels ---- */

/* the mean milliseconds per request of the score head plus a decision head (pair: with SLO tokens) over the
 * first n dev items */
static int time_requests(Tlm *t, const TlmItems *dev, bool pair, int n_max, double *ms, Err *e) {
    float *p = malloc(sizeof(float) * (size_t)(t->cap + 1)), prob[N_GRID];
    if (!p) return err_set(e, "out of memory");
    double total = 0;
    int n = 0;
    for (int a = 0; a < APPS_N && n < n_max; a++)
        for (int i = 0; i < dev->set[a].n && n < n_max; i++, n++) {
            const EncodedItem *x = &dev->enc[a][i];
            int ri, li;
            double t0 = clock_wall_s();
            int rc = tlm_score(t, x, p, e);
            if (!rc) rc = pair ? tlm_decide_pair(t, x, 0.5, 0.8, &ri, &li, e) : tlm_decide_prob(t, x, prob, e);
            total += clock_wall_s() - t0;
            if (rc) {
                free(p);
                return -1;
            }
        }
    free(p);
    *ms = n ? 1e3 * total / n : 0;
    return 0;
}

typedef struct SweepData {
    const TlmItems *dev;
    const ScoreLabels *ldev;
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
        ScoreDev sd;
        DecisionDev dq;
        double ms_prob = 0;
        char stage[96];
        snprintf(stage, sizeof stage, "size sweep %d x %d", so.shape.dim, so.shape.layers);
        if (!rc) rc = fit(&so, &cs, d->xs, so.epochs, so.seed, stage, &t.score, &loss, e);
        t.has_score = !rc;
        if (!rc) rc = fit(&so, &cq, d->xq, so.prob_epochs, so.seed + 3, stage, &t.prob, &loss, e);
        t.has_prob = !rc;
        if (!rc) rc = score_dev(o, &t, d->dev, d->ldev, &sd, e) ||
                      decision_dev(&t, false, d->margin, d->dev, d->g_dev, &dq, e) ||
                      time_requests(&t, d->dev, false, 60, &ms_prob, e);
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
    ScoreLabels ltr, ldev;
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
    ScoreDev sdev[2];
    DecisionDev dpair, dprob;
    double loss[4] = {NAN, NAN, NAN, NAN}, ms_req[2] = {0, 0}, margin = 0;
    DecisionDev dmargin[N_MARGINS];
    long unlabelled = 0;
    int chosen = -1, rc = 0;
    cJSON *j = NULL;

    rc = tlm_items_load(&tr, o->data_dir, "train", o->score_items, o->exclude, o->tok, e) ||
         tlm_items_load(&grid_tr, o->data_dir, "train", o->grid_items, o->exclude, o->tok, e) ||
         tlm_items_load(&dev, o->data_dir, "dev", o->dev_items, o->exclude, o->tok, e);
    if (!rc) rc = score_labels(o, &tr, true, -1, &ltr, "score labels (train)", e);
    if (!rc) rc = score_labels(o, &dev, true, ltr.q, &ldev, "score labels (dev)", e);
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
        rc = score_dev_head(o, &heads[kind], &dev, &ldev, &sdev[kind], e);
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
        rc = decision_dev(&tlm, true, 0, &dev, g_dev, &dpair, e);
        /* the prob rule's margin, chosen on dev (ties: the smaller) */
        for (int mi = 0; !rc && mi < N_MARGINS; mi++) {
            rc = decision_dev(&tlm, false, MARGINS[mi], &dev, g_dev, &dmargin[mi], e);
            if (!rc && (mi == 0 || dmargin[mi].acc > dprob.acc + 1e-12)) {
                dprob = dmargin[mi];
                margin = MARGINS[mi];
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
        rc = time_requests(&tlm, &dev, true, 60, &ms_req[0], e) || time_requests(&tlm, &dev, false, 60, &ms_req[1], e);
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
        const DecisionDev *dv[2] = {&dpair, &dprob};
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
        for (int mi = 0; mi < N_MARGINS; mi++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "margin", MARGINS[mi]);
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
    score_labels_free(&ltr);
    score_labels_free(&ldev);
    tlm_items_free(&tr);
    tlm_items_free(&grid_tr);
    tlm_items_free(&dev);
    return rc ? -1 : 0;
}

int tlm_build_classifier(const TlmBuildOpts *o, const char *out, Err *e) {
    TlmItems tr, dev;
    ScoreLabels ltr, ldev;
    ExampleSet x;
    Model m;
    memset(&tr, 0, sizeof tr);
    memset(&dev, 0, sizeof dev);
    memset(&ltr, 0, sizeof ltr);
    memset(&ldev, 0, sizeof ldev);
    memset(&x, 0, sizeof x);
    memset(&m, 0, sizeof m);
    double t0 = clock_wall_s(), loss = NAN;
    ScoreDev sd;
    ModelConfig c;
    head_config(o, o->llm, HEAD_TOKEN, 2, 0, NULL, false, 0, &c);
    int rc = tlm_items_load(&tr, o->data_dir, "train", o->score_items, o->exclude, o->tok, e) ||
             tlm_items_load(&dev, o->data_dir, "dev", o->dev_items, o->exclude, o->tok, e) ||
             score_labels(o, &tr, false, -1, &ltr, "classifier labels (train)", e) ||
             score_labels(o, &dev, false, 0, &ldev, "classifier labels (dev)", e) ||
             score_examples(o, &tr, &ltr, true, &x, e) ||
             fit(o, &c, &x, o->epochs, o->seed, "classifier", &m, &loss, e);
    if (!rc) rc = score_dev_head(o, &m, &dev, &ldev, &sd, e);
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
    score_labels_free(&ltr);
    score_labels_free(&ldev);
    tlm_items_free(&tr);
    tlm_items_free(&dev);
    return rc ? -1 : 0;
}

int tlm_evaluate(const TlmBuildOpts *o, const char *dir, const char *split, const char *out_json, Err *e) {
    TlmItems it;
    ScoreLabels l;
    LevelSet ls;
    Tlm t;
    memset(&it, 0, sizeof it);
    memset(&l, 0, sizeof l);
    memset(&ls, 0, sizeof ls);
    memset(&t, 0, sizeof t);
    unsigned char *g = NULL;
    ScoreDev sd;
    DecisionDev dp, dq;
    double q = -1;
    char path[1300];
    snprintf(path, sizeof path, "%s/tlm.json", dir);
    cJSON *m = NULL, *j = NULL;
    int rc = io_read_json(path, &m, e) ||
             io_json_double(m, "saliency_label_fraction", 0, 1, &q, path, e) ||
             tlm_load(&t, dir, o->llm, eval_bos(o->tok, o->llm), e) ||
             tlm_items_load(&it, o->data_dir, split, o->dev_items, o->exclude, o->tok, e) ||
             score_labels(o, &it, true, q, &l, "labels", e) || score_dev(o, &t, &it, &l, &sd, e) ||
             levelset_load(&ls, o->llm, o->model_dir, true, e) || grids(o, &t, &ls, &it, &g, "grid", e);
    if (!rc && t.has_pair) rc = decision_dev(&t, true, 0, &it, g, &dp, e);
    if (!rc && t.has_prob) rc = decision_dev(&t, false, t.prob_margin, &it, g, &dq, e);
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
        const DecisionDev *dv[2] = {&dp, &dq};
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
    score_labels_free(&l);
    tlm_items_free(&it);
    return rc ? -1 : 0;
}
