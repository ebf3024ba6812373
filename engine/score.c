/* score: length-normalised multiple-choice log-likelihood with the prompt's KV cache shared by all choices,
 * and greedy generation (see score.h). */
#include "engine/score.h"
#include "engine/ops.h"

#include "base/clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* choice_logprob: sum of log p(choice[j]) continuing a cache that holds the prompt; first_logits (vocab) are the
 * prompt's last-position logits; logits is scratch of (len, vocab). Leaves the cache extended by len-1. */
static int choice_logprob(const Model *m, const ElasticView *v, KVCache *c, const float *first_logits,
                          const int *choice, int len, float *logits, double *out, Err *e) {
    int V = m->cfg.vocab_size;
    for (int j = 0; j < len; j++)
        if (choice[j] < 0 || choice[j] >= V)
            return err_set(e, "choice token %d at position %d is outside the vocabulary of %d", choice[j], j, V);
    double s = log_softmax_at(first_logits, V, choice[0]);
    if (len > 1) {
        if (model_prefill(m, v, c, choice, len - 1, logits, NULL, e)) return -1;
        for (int j = 1; j < len; j++) s += log_softmax_at(logits + (size_t)(j - 1) * V, V, choice[j]);
    }
    *out = s;
    return 0;
}

int score_choices(const Model *m, const ElasticView *v, const int *prompt, int n_prompt, const int *const *choices,
                  const int *choice_len, int n_choices, ScoreResult *out, Err *e) {
    memset(out, 0, sizeof *out);
    if (n_prompt < 1) return err_set(e, "score: empty prompt");
    if (n_choices < 1) return err_set(e, "score: no choices");
    int longest = 0;
    for (int i = 0; i < n_choices; i++) {
        if (choice_len[i] < 1) return err_set(e, "score: choice %d is empty", i);
        if (choice_len[i] > longest) longest = choice_len[i];
    }
    if (n_prompt + longest - 1 > m->cfg.max_seq)
        return err_set(e, "score: prompt of %d tokens plus a choice of %d exceeds the context of %d", n_prompt,
                       longest, m->cfg.max_seq);
    int V = m->cfg.vocab_size;
    KVCache c;
    if (kvcache_init(&c, m, v, n_prompt + longest - 1, e)) return -1;
    float *first = malloc(sizeof(float) * (size_t)V);
    float *logits = malloc(sizeof(float) * (size_t)V * (size_t)longest);
    out->scores = malloc(sizeof(double) * (size_t)n_choices);
    int rc = -1;
    if (!first || !logits || !out->scores) {
        err_set(e, "out of memory scoring %d choices", n_choices);
        goto done;
    }
    if (model_prefill(m, v, &c, prompt, n_prompt, NULL, first, e)) goto done;
    out->n_choices = n_choices;
    for (int i = 0; i < n_choices; i++) {
        double lp = 0.0;
        if (choice_logprob(m, v, &c, first, choices[i], choice_len[i], logits, &lp, e)) goto done;
        kvcache_truncate(&c, n_prompt);
        out->scores[i] = lp / choice_len[i];
    }
    out->best = 0;
    for (int i = 1; i < n_choices; i++)
        if (out->scores[i] > out->scores[out->best]) out->best = i;
    double second = -INFINITY;
    for (int i = 0; i < n_choices; i++)
        if (i != out->best && out->scores[i] > second) second = out->scores[i];
    out->margin = n_choices > 1 ? out->scores[out->best] - second : 0.0;
    rc = 0;
done:
    if (rc) score_result_free(out);
    free(first);
    free(logits);
    kvcache_free(&c);
    return rc;
}

int score_choice_alone(const Model *m, const ElasticView *v, const int *prompt, int n_prompt, const int *choice,
                       int len, double *score, Err *e) {
    int n = n_prompt + len, V = m->cfg.vocab_size;
    int *tok = malloc(sizeof(int) * (size_t)n);
    float *logits = malloc(sizeof(float) * (size_t)n * (size_t)V);
    int rc = -1;
    if (!tok || !logits) {
        err_set(e, "out of memory");
        goto done;
    }
    memcpy(tok, prompt, sizeof(int) * (size_t)n_prompt);
    memcpy(tok + n_prompt, choice, sizeof(int) * (size_t)len);
    if (model_logits(m, v, tok, n - 1, logits, e)) goto done;
    double s = 0.0;
    for (int j = 0; j < len; j++) s += log_softmax_at(logits + (size_t)(n_prompt - 1 + j) * V, V, choice[j]);
    *score = s / len;
    rc = 0;
done:
    free(tok);
    free(logits);
    return rc;
}

void score_result_free(ScoreResult *r) {
    free(r->scores);
    memset(r, 0, sizeof *r);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int generate_greedy(const Model *m, const ElasticView *v, KVCache *cache, const int *prompt, int n_prompt,
                    int max_new, int eos_id, int *out, GenerateTiming *timing, Err *e) {
    GenerateTiming own;
    if (!timing) timing = &own;
    memset(timing, 0, sizeof *timing);
    if (n_prompt < 1) return err_set(e, "generate: empty prompt");
    if (max_new < 0) return err_set(e, "generate: negative token count");
    int cap = n_prompt + max_new;
    if (cap > m->cfg.max_seq) cap = m->cfg.max_seq;
    if (n_prompt > cap)
        return err_set(e, "generate: prompt of %d tokens exceeds the context of %d", n_prompt, m->cfg.max_seq);
    KVCache local;
    KVCache *c = cache ? cache : &local;
    if (cache ? kvcache_reset(c, m, v, cap, e) : kvcache_init(c, m, v, cap, e)) return -1;
    float *logits = malloc(sizeof(float) * (size_t)m->cfg.vocab_size);
    int n = -1;
    if (!logits) {
        err_set(e, "out of memory");
        goto done;
    }
    double t0 = clock_wall_s();
    if (model_prefill(m, v, c, prompt, n_prompt, NULL, logits, e)) goto done;
    timing->prefill_s = clock_wall_s() - t0;
    n = 0;
    t0 = clock_wall_s();
    while (n < max_new) {
        int t = argmax(logits, m->cfg.vocab_size);
        out[n++] = t;
        if (t == eos_id || c->len >= cap || n == max_new) break; /* no decode whose logits nobody reads */
        if (model_decode(m, v, c, t, logits, e)) {
            n = -1;
            break;
        }
        timing->decode_steps++;
    }
    timing->decode_s = clock_wall_s() - t0;
done:
    free(logits);
    if (!cache) kvcache_free(c);
    return n;
}
