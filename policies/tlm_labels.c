/* tlm_labels: the tiny LM's score and decision labels (see tlm_labels.h). */
#include "policies/tlm_labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/keepmask.h"
#include "policies/feasible.h"

int tlm_labels_relevant(const Item *it, int n_system, int *labels) {
    if (it->n_relevant <= 0) {
        for (int i = 0; i < n_system; i++) labels[i] = -1;
        return -1;
    }
    for (int i = 0; i < n_system; i++) labels[i] = 0;
    int ones = 0;
    for (int j = 0; j < it->n_relevant; j++) {
        int a = it->relevant[j][0] < 0 ? 0 : it->relevant[j][0];
        int b = it->relevant[j][1] > n_system ? n_system : it->relevant[j][1];
        for (int i = a; i < b; i++)
            if (!labels[i]) {
                labels[i] = 1;
                ones++;
            }
    }
    return ones;
}

int tlm_saliency(Trainer *t, const EncodedItem *x, int bos, float *sal, Err *e) {
    const int *ans = x->choices[x->answer];
    int C = x->choice_len[x->answer], lead = bos >= 0, P = lead + x->n_system + x->n_query;
    int T = P + C - 1; /* the last answer token is a target, never an input */
    if (C < 1) return err_set(e, "saliency: the answer has no tokens");
    if (T > t->cfg.seq || t->cfg.batch < 1)
        return err_set(e, "saliency: %d tokens do not fit the trainer's sequences of %d", T, t->cfg.seq);
    int *in = t->inputs, *tg = t->targets;
    int n = 0;
    if (lead) in[n++] = bos;
    memcpy(in + n, x->system, sizeof(int) * (size_t)x->n_system);
    n += x->n_system;
    memcpy(in + n, x->query, sizeof(int) * (size_t)x->n_query);
    n += x->n_query;
    memcpy(in + n, ans, sizeof(int) * (size_t)(C - 1));
    for (int i = 0; i < T; i++) tg[i] = i >= P - 1 ? ans[i - (P - 1)] : -1;
    double loss;
    long counted;
    train_zero_grad(t);
    if (train_forward(t, in, tg, 1, T, &loss, &counted, e) || train_backward(t, 1.0f / (float)counted, e))
        return err_prefix(e, "saliency");
    const float *g = train_input_grad(t); /* (T, dim) */
    const float *emb = t->model->w.tok_emb;
    int D = t->model->cfg.dim;
    for (int i = 0; i < x->n_system; i++) {
        const float *gi = g + (size_t)(lead + i) * D, *ei = emb + (size_t)x->system[i] * D;
        double dot = 0;
        for (int j = 0; j < D; j++) dot += (double)gi[j] * ei[j];
        sal[i] = (float)fabs(dot);
    }
    return 0;
}

void tlm_labels_top(const float *sal, int n, double q, int *labels) {
    int k = (int)lround(q * n);
    k = k < 0 ? 0 : k > n ? n : k;
    unsigned char *keep = malloc((size_t)(n ? n : 1));
    if (!keep || keepmask_top(sal, n, k, keep) < 0) { /* out of memory: no label rather than a wrong one */
        for (int i = 0; i < n; i++) labels[i] = -1;
    } else {
        for (int i = 0; i < n; i++) labels[i] = keep[i];
    }
    free(keep);
}

int tlm_grid_outcomes(Evaluator *ev, const Model *m, const LevelSet *s, const unsigned char *const *masks,
                      const EncodedItem *x, const char *app, const char *id, unsigned char *correct, Err *e) {
    int S = x->n_system;
    for (int ri = 0; ri < N_RATIOS; ri++) {
        int same = -1; /* an earlier ratio with the same mask */
        for (int rj = 0; rj < ri && same < 0; rj++) {
            const unsigned char *a = masks[ri], *b = masks[rj];
            int eq = 1;
            for (int i = 0; i < S && eq; i++) eq = (a ? a[i] != 0 : 1) == (b ? b[i] != 0 : 1);
            if (eq) same = rj;
        }
        for (int li = 0; li < N_LEVELS; li++) {
            if (same >= 0) {
                correct[li * N_RATIOS + ri] = correct[li * N_RATIOS + same];
                continue;
            }
            EvalQuery q = {.model = m, .view = &s->view[li], .keep = masks[ri], .x = x, .app = app, .item = id};
            EvalOutcome o;
            if (eval_item(ev, &q, &o, e)) return -1;
            correct[li * N_RATIOS + ri] = o.correct;
        }
    }
    return 0;
}

int tlm_label_pair(const unsigned char *correct, double prefill, double decode, int *li, int *ri) {
    for (int l = N_LEVELS - 1; l >= 0; l--) {
        if (!feasible_within(LEVELS[l], decode)) continue;
        for (int r = N_RATIOS - 1; r >= 0; r--) { /* RATIOS descend: the last index is the smallest ratio */
            if (!feasible_within(LEVELS[l] * RATIOS[r], prefill) || !correct[l * N_RATIOS + r]) continue;
            *li = l;
            *ri = r;
            return 1;
        }
    }
    return 0;
}
