/* tlm_measure: the tiny LM build's labels and measures (see tlm_measure.h). */
#include "policies/tlm_measure.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/keepmask.h"
#include "datasets/apps.h"
#include "engine/train.h"
#include "policies/feasible.h"
#include "policies/tlm_labels.h"

void tlm_build_progress(const TlmBuildOpts *o, const char *stage, long done, long total) {
    if (o->progress) o->progress(o->progress_ctx, stage, done, total);
}

void tlm_score_labels_free(TlmScoreLabels *l) {
    free(l->rel);
    free(l->sal);
    free(l->off);
    memset(l, 0, sizeof *l);
}

/* labels of both kinds for every item of it (saliency false: relevant only, the saliency labels all -1); q is
 * taken from train (pass q_fixed >= 0 for dev) */
int tlm_score_labels(const TlmBuildOpts *o, const TlmItems *it, bool saliency, double q_fixed, TlmScoreLabels *l,
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
        if (model_copy(o->llm, &m, e)) {
            free(sal);
            return -1;
        }
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
            tlm_build_progress(o, stage, k + 1, n);
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

/* ---- the dev measures of a score head ---- */

static const double DEV_RATIOS[2] = {0.5, 0.3};

static int dev_eval(const TlmBuildOpts *o, const ElasticView *v, const unsigned char *keep, const EncodedItem *x,
                    const char *app, const char *id, long *right, Err *e) {
    EvalQuery q = {.model = o->llm, .view = v, .keep = keep, .x = x, .app = app, .item = id};
    EvalOutcome oc;
    if (eval_item(o->ev, &q, &oc, e)) return -1;
    *right += oc.correct;
    return 0;
}

int tlm_score_dev(const TlmBuildOpts *o, Tlm *tlm, const TlmItems *dev, const TlmScoreLabels *l, TlmScoreDev *out,
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
int tlm_score_dev_head(const TlmBuildOpts *o, const Model *head, const TlmItems *dev, const TlmScoreLabels *l,
                          TlmScoreDev *out, Err *e) {
    Tlm one;
    if (tlm_init_empty(&one, o->llm, eval_bos(o->tok, o->llm), e)) return -1;
    one.score = *head;
    one.has_score = true;
    int rc = tlm_score_dev(o, &one, dev, l, out, e);
    tlm_scratch_free(&one);
    return rc;
}

/* ---- step 5: dev measures of the decision heads under the paper's accounting ---- */

/* the prob rule's margins tried on dev */
const double TLM_MARGINS[TLM_N_MARGINS] = {0, 0.02, 0.05, 0.1, 0.2, 0.3};
#define N_MARGINS ((int)(sizeof TLM_MARGINS / sizeof TLM_MARGINS[0]))

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

int tlm_decision_dev(Tlm *tlm, bool pair, double margin, const TlmItems *dev, const unsigned char *grid,
                        TlmDecisionDev *out, Err *e) {
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

/* the mean milliseconds per request of the score head plus a decision head (pair: with SLO tokens) over the
 * first n dev items */
int tlm_time_requests(Tlm *t, const TlmItems *dev, bool pair, int n_max, double *ms, Err *e) {
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
