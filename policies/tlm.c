/* tlm: loading and running the tiny LM's heads (see tlm.h). */
#include "policies/tlm.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "base/keepmask.h"
#include "engine/io.h"

const double TLM_PREFILL[TLM_N_PREFILL] = {0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
const double TLM_DECODE[TLM_N_DECODE] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0};

/* the index of the grid value nearest to v (ties: the smaller value, the stricter SLO) */
static int nearest(const double *grid, int n, double v) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (fabs(grid[i] - v) < fabs(grid[best] - v) - 1e-9) best = i;
    return best;
}

void tlm_slo_tokens(int V, double prefill, double decode, int *tok_prefill, int *tok_decode) {
    *tok_prefill = V + nearest(TLM_PREFILL, TLM_N_PREFILL, prefill);
    *tok_decode = V + TLM_N_PREFILL + nearest(TLM_DECODE, TLM_N_DECODE, decode);
}

int tlm_input(const EncodedItem *x, int bos, bool slo, int tok_prefill, int tok_decode, int *out, int cap) {
    int n = (slo ? 2 : 0) + (bos >= 0) + x->n_system + x->n_query;
    if (n > cap) return -1;
    int k = 0;
    if (slo) {
        out[k++] = tok_prefill;
        out[k++] = tok_decode;
    }
    if (bos >= 0) out[k++] = bos;
    memcpy(out + k, x->system, sizeof(int) * (size_t)x->n_system);
    k += x->n_system;
    memcpy(out + k, x->query, sizeof(int) * (size_t)x->n_query);
    return n;
}

/* load_head: the model directory path when it exists (*has says whether it did); checks its head kind, labels
 * and vocabulary. */
static int load_head(Model *m, bool *has, const char *path, HeadKind head, int n_labels, int n_groups,
                     const int *groups, bool multi, int vocab, Err *e) {
    *has = false;
    if (!path_is_dir(path)) return 0;
    if (model_load(m, path, e)) return -1;
    *has = true;
    const ModelConfig *c = &m->cfg;
    if (c->head != head || c->n_labels != n_labels || c->multi_label != multi)
        return err_set(e, "%s/config.json: a %s head with %d labels%s is expected here", path, model_head_name(head),
                       n_labels, multi ? " (multi-label)" : "");
    if (n_groups > 0) {
        int ok = c->n_groups == n_groups;
        for (int i = 0; ok && i < n_groups; i++) ok = c->group_size[i] == groups[i];
        if (!ok) return err_set(e, "%s/config.json: field 'label_groups' must be [%d, %d]", path, groups[0], groups[1]);
    }
    if (c->vocab_size != vocab)
        return err_set(e, "%s/config.json: field 'vocab_size' is %d, expected %d", path, c->vocab_size, vocab);
    return 0;
}

/* scratch: input and logits buffers for prompts up to the LLM's context */
static int scratch(Tlm *t, const Model *llm, Err *e) {
    int cap = llm->cfg.max_seq + 3;
    t->buf = malloc(sizeof(int) * (size_t)cap);
    t->out = malloc(sizeof(float) * (size_t)cap * 2 + sizeof(float) * N_LEVELS * N_RATIOS);
    if (!t->buf || !t->out) return err_set(e, "out of memory");
    t->cap = cap;
    return 0;
}

int tlm_init_empty(Tlm *t, const Model *llm, int bos, Err *e) {
    memset(t, 0, sizeof *t);
    t->llm_vocab = llm->cfg.vocab_size;
    t->bos = bos;
    return scratch(t, llm, e);
}

void tlm_scratch_free(Tlm *t) {
    free(t->buf);
    free(t->out);
    t->buf = NULL;
    t->out = NULL;
}

int tlm_load_score(Tlm *t, const char *dir, const Model *llm, int bos, Err *e) {
    memset(t, 0, sizeof *t);
    t->llm_vocab = llm->cfg.vocab_size;
    t->bos = bos;
    if (load_head(&t->score, &t->has_score, dir, HEAD_TOKEN, 2, 0, NULL, false, llm->cfg.vocab_size, e)) return -1;
    if (!t->has_score) return err_set(e, "%s: missing (a score head: a token classifier)", dir);
    return scratch(t, llm, e);
}

static int read_decision(const char *dir, TlmDecisionKind *kind, double *margin, Err *e) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tlm.json", dir);
    cJSON *r;
    if (io_read_json(path, &r, e)) return -1;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "decision");
    int rc = 0;
    if (cJSON_IsString(d) && !strcmp(d->valuestring, "pair")) *kind = TLM_DECISION_PAIR;
    else if (cJSON_IsString(d) && !strcmp(d->valuestring, "prob")) *kind = TLM_DECISION_PROB;
    else rc = err_set(e, "%s: field 'decision' must be \"pair\" or \"prob\"", path);
    *margin = 0;
    if (!rc && cJSON_GetObjectItemCaseSensitive(r, "prob_margin"))
        rc = io_json_double(r, "prob_margin", 0, 1, margin, path, e);
    cJSON_Delete(r);
    return rc;
}

int tlm_load(Tlm *t, const char *dir, const Model *llm, int bos, Err *e) {
    memset(t, 0, sizeof *t);
    t->llm_vocab = llm->cfg.vocab_size;
    t->bos = bos;
    int V = llm->cfg.vocab_size, groups[2] = {N_RATIOS, N_LEVELS};
    char score[1200], pair[1200], prob[1200];
    snprintf(score, sizeof score, "%s/score", dir);
    snprintf(pair, sizeof pair, "%s/pair", dir);
    snprintf(prob, sizeof prob, "%s/prob", dir);
    if (read_decision(dir, &t->decision, &t->prob_margin, e) ||
        load_head(&t->score, &t->has_score, score, HEAD_TOKEN, 2, 0, NULL, false, V, e) ||
        load_head(&t->pair, &t->has_pair, pair, HEAD_SEQUENCE, N_RATIOS + N_LEVELS, 2, groups, false,
                  V + TLM_N_SLO_TOKENS, e) ||
        load_head(&t->prob, &t->has_prob, prob, HEAD_SEQUENCE, N_LEVELS * N_RATIOS, 0, NULL, true, V, e))
        return -1;
    if (!t->has_score) return err_set(e, "%s: missing (the score head)", score);
    if (t->decision == TLM_DECISION_PAIR && !t->has_pair) return err_set(e, "%s: missing (tlm.json's decision head)", pair);
    if (t->decision == TLM_DECISION_PROB && !t->has_prob) return err_set(e, "%s: missing (tlm.json's decision head)", prob);
    return scratch(t, llm, e);
}

void tlm_free(Tlm *t) {
    if (t->has_score) model_free(&t->score);
    if (t->has_pair) model_free(&t->pair);
    if (t->has_prob) model_free(&t->prob);
    free(t->buf);
    free(t->out);
    memset(t, 0, sizeof *t);
}

double tlm_params(const Tlm *t) {
    double p = t->has_score ? (double)t->score.n_params : 0;
    if (t->decision == TLM_DECISION_PAIR && t->has_pair) p += (double)t->pair.n_params;
    if (t->decision == TLM_DECISION_PROB && t->has_prob) p += (double)t->prob.n_params;
    return p;
}

/* run: logits of head m over the input of x (with the SLO tokens when slo) into t->out. */
static int run(Tlm *t, const Model *m, const EncodedItem *x, bool slo, double prefill, double decode, int *n_out,
               Err *e) {
    int tp = 0, td = 0;
    if (slo) tlm_slo_tokens(t->llm_vocab, prefill, decode, &tp, &td);
    int n = tlm_input(x, t->bos, slo, tp, td, t->buf, t->cap);
    if (n < 0 || n > m->cfg.max_seq)
        return err_set(e, "tiny LM: a prompt of %d tokens exceeds its context of %d", n < 0 ? t->cap : n,
                       m->cfg.max_seq);
    ElasticView v;
    view_full(m, &v);
    if (model_classify(m, &v, t->buf, n, t->out, e)) return err_prefix(e, "tiny LM");
    *n_out = n;
    return 0;
}

int tlm_score(Tlm *t, const EncodedItem *x, float *keep_prob, Err *e) {
    int n;
    if (run(t, &t->score, x, false, 0, 0, &n, e)) return -1;
    int lead = t->bos >= 0;
    for (int i = 0; i < x->n_system; i++) { /* softmax over (drop, keep) = sigmoid of the difference */
        const float *l = t->out + (size_t)(lead + i) * 2;
        keep_prob[i] = 1.0f / (1.0f + expf(l[0] - l[1]));
    }
    return 0;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int tlm_decide_pair(Tlm *t, const EncodedItem *x, double prefill, double decode, int *ri, int *li, Err *e) {
    if (!t->has_pair) return err_set(e, "tiny LM: no pair decision head loaded");
    int n;
    if (run(t, &t->pair, x, true, prefill, decode, &n, e)) return -1;
    *ri = argmax(t->out, N_RATIOS);
    *li = argmax(t->out + N_RATIOS, N_LEVELS);
    return 0;
}

int tlm_decide_prob(Tlm *t, const EncodedItem *x, float *prob, Err *e) {
    if (!t->has_prob) return err_set(e, "tiny LM: no prob decision head loaded");
    int n;
    if (run(t, &t->prob, x, false, 0, 0, &n, e)) return -1;
    for (int i = 0; i < N_LEVELS * N_RATIOS; i++) prob[i] = 1.0f / (1.0f + expf(-t->out[i]));
    return 0;
}

int tlm_prob_pick(const float *prob, const int *cand, int n, double margin) {
    int best = 0;
    for (int i = 1; i < n; i++) /* ties keep the earlier (the caller's order) */
        if (prob[cand[i]] > prob[cand[best]]) best = i;
    if (margin <= 0) return best;
    int pick = best;
    double top = prob[cand[best]], work = -1;
    for (int i = 0; i < n; i++) {
        if (prob[cand[i]] < top - margin - 1e-6) continue; /* float probabilities: a hair of tolerance */
        int li = cand[i] / N_RATIOS, ri = cand[i] % N_RATIOS;
        double w = LEVELS[li] * RATIOS[ri];
        if (w > work + 1e-12 || (fabs(w - work) <= 1e-12 && li > cand[pick] / N_RATIOS)) {
            work = w;
            pick = i;
        }
    }
    return pick;
}

double tlm_input_tokens(const Tlm *t, const EncodedItem *x, bool score, bool decision) {
    double n = (t->bos >= 0) + x->n_system + x->n_query;
    return (score ? n : 0) + (decision ? (t->decision == TLM_DECISION_PAIR ? n + 2 : n) : 0);
}

int tlm_keep_masks(Tlm *t, const EncodedItem *x, float *score, unsigned char *masks, size_t stride, Err *e) {
    int S = x->n_system, k[N_RATIOS];
    if (tlm_score(t, x, score, e)) return -1;
    for (int ri = 0; ri < N_RATIOS; ri++) k[ri] = levels_kept_system(S, x->n_query, RATIOS[ri]);
    if (keepmask_top_many(score, S, k, N_RATIOS, masks, stride)) return err_set(e, "out of memory");
    return 0;
}
