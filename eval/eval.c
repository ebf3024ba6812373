/* eval: the one evaluation path and its configuration key (see eval.h). */
#include "eval/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/score.h"

int eval_bos(const Tokenizer *tok, const Model *m) {
    if (tok && tok->bos_id >= 0) return tok->bos_id;
    return m ? m->cfg.bos_id : -1;
}

void evaluator_init(Evaluator *ev, const Tokenizer *tok, const Model *m, const EvalStore *store) {
    memset(ev, 0, sizeof *ev);
    ev->bos_id = eval_bos(tok, m);
    if (store) ev->store = *store;
    ev->key_len = -1;
}

/* Appends one layer's description: "a<attn>f<ffn>" plus "-A"/"-F" for skipped sub-blocks and "i<count>:<hash>"
 * for an explicit neuron subset. */
static int layer_desc(const LayerView *L, char *out, size_t cap) {
    char sub[40] = "";
    if (L->ffn_idx) {
        uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, L->ffn_idx, sizeof(int) * (size_t)L->n_ffn_idx);
        snprintf(sub, sizeof sub, "i%d:%08llx", L->n_ffn_idx, (unsigned long long)(h & 0xffffffffULL));
    }
    return snprintf(out, cap, "a%df%d%s%s%s", L->attn_units, L->ffn_units, L->skip_attn ? "-A" : "",
                    L->skip_ffn ? "-F" : "", sub);
}

/* appendf: snprintf at out + *len; -1 when cap is short. */
static int append(char *out, size_t cap, size_t *len, const char *a, const char *b) {
    int w = snprintf(out + *len, cap - *len, "%s%s", a, b);
    if (w < 0 || (size_t)w >= cap - *len) return -1;
    *len += (size_t)w;
    return 0;
}

int eval_key_view(const ElasticView *v, const char *lora_hash, const char *select_key, char *out, size_t cap) {
    size_t len = 0;
    if (cap) out[0] = 0;
    for (int l = 0; l < v->n_layers;) {
        char d[96], d2[96], runs[16] = "";
        layer_desc(&v->layer[l], d, sizeof d);
        int run = 1;
        while (l + run < v->n_layers) {
            layer_desc(&v->layer[l + run], d2, sizeof d2);
            if (strcmp(d, d2)) break;
            run++;
        }
        if (run > 1) snprintf(runs, sizeof runs, "*%d", run);
        if (append(out, cap, &len, l ? "," : "", d) || append(out, cap, &len, runs, "")) return -1;
        l += run;
    }
    if (lora_hash && append(out, cap, &len, ";lora=", lora_hash)) return -1;
    if (select_key && append(out, cap, &len, ";select=", select_key)) return -1;
    return (int)len;
}

int eval_key_keep(const unsigned char *keep, int n_system, char *out, size_t cap) {
    int kept = n_system, w;
    uint64_t h = 0;
    if (keep) {
        kept = 0;
        for (int i = 0; i < n_system; i++) kept += keep[i] != 0;
        if (kept < n_system) {
            h = HASH_FNV_OFFSET;
            for (int i = 0; i < n_system; i++) {
                unsigned char b = keep[i] != 0;
                h = hash_fnv1a(h, &b, 1);
            }
        }
    }
    if (kept == n_system) w = snprintf(out, cap, ";keep=all");
    else w = snprintf(out, cap, ";keep=%d/%d:%016llx", kept, n_system, (unsigned long long)h);
    return w < 0 || (size_t)w >= cap ? -1 : w;
}

int eval_key_config(const ElasticView *v, const char *lora_hash, const char *select_key, const unsigned char *keep,
                    int n_system, char *out, size_t cap) {
    int n = eval_key_view(v, lora_hash, select_key, out, cap);
    return n < 0 || eval_key_keep(keep, n_system, out + n, cap - (size_t)n) < 0 ? -1 : 0;
}

/* The view part is memoised: describing the view is most of the cost of a key, and consecutive queries
 * usually share one. Views with explicit neuron subsets may live in reused buffers and are never memoised. */
int eval_key(Evaluator *ev, const EvalQuery *q, char *out, size_t cap, Err *e) {
    const ElasticView *v = q->view;
    const char *lh = v->lora ? v->lora->hash : NULL, *sel = q->select_key ? q->select_key : "";
    if (lh && !lh[0]) return err_set(e, "app %s item %s: the adapter has no weight hash", q->app, q->item);
    bool subsets = false;
    for (int l = 0; l < v->n_layers; l++) subsets |= v->layer[l].ffn_idx != NULL;
    if (subsets || ev->key_len < 0 || strcmp(ev->key_lora, lh ? lh : "") || strcmp(ev->key_select, sel) ||
        !view_equal(&ev->key_view, v)) {
        if (strlen(sel) >= sizeof ev->key_select) return err_set(e, "app %s item %s: selector key too long", q->app, q->item);
        ev->key_len = eval_key_view(v, lh, q->select_key, ev->key_text, sizeof ev->key_text);
        if (ev->key_len < 0) return err_set(e, "app %s item %s: configuration key too long", q->app, q->item);
        ev->key_view = *v;
        snprintf(ev->key_lora, sizeof ev->key_lora, "%s", lh ? lh : "");
        snprintf(ev->key_select, sizeof ev->key_select, "%s", sel);
    }
    if ((size_t)ev->key_len >= cap) return err_set(e, "app %s item %s: configuration key too long", q->app, q->item);
    memcpy(out, ev->key_text, (size_t)ev->key_len);
    if (eval_key_keep(q->keep, q->x->n_system, out + ev->key_len, cap - (size_t)ev->key_len) < 0)
        return err_set(e, "app %s item %s: configuration key too long", q->app, q->item);
    return 0;
}

int eval_prompt(const Evaluator *ev, const EncodedItem *x, const unsigned char *keep, int *out) {
    return item_prompt(x, keep, ev->bos_id, out);
}

/* run_engine: score every choice of q's item under q's configuration. */
static int run_engine(const Evaluator *ev, const EvalQuery *q, EvalOutcome *o, Err *e) {
    const EncodedItem *x = q->x;
    int *prompt = malloc(sizeof *prompt * (size_t)(1 + x->n_system + x->n_query)); /* (1 + n_system + n_query) */
    if (!prompt) return err_set(e, "out of memory");
    int n = eval_prompt(ev, x, q->keep, prompt), longest = 0;
    for (int c = 0; c < x->n_choices; c++)
        if (x->choice_len[c] > longest) longest = x->choice_len[c];
    int rc = 0;
    ScoreResult res;
    if (n < 1) rc = err_set(e, "empty prompt (no BOS token, system or query)");
    else if (n + longest > q->model->cfg.max_seq)
        rc = err_set(e, "prompt of %d tokens + longest choice of %d exceeds the context of %d", n, longest,
                     q->model->cfg.max_seq);
    else rc = score_choices(q->model, q->view, prompt, n, (const int *const *)x->choices, x->choice_len,
                            x->n_choices, &res, e);
    free(prompt);
    if (rc) return -1;
    o->choice = res.best;
    o->correct = res.best == x->answer;
    o->margin = res.margin;
    score_result_free(&res);
    return 0;
}

int eval_item(Evaluator *ev, const EvalQuery *q, EvalOutcome *out, Err *e) {
    if (!q->model->hash[0]) return err_set(e, "app %s item %s: the model has no weight hash", q->app, q->item);
    if (q->view->ffn_select && !q->select_key)
        return err_set(e, "app %s item %s: a view with a neuron selector needs a select key", q->app, q->item);
    char cfg[4096];
    int found = 0;
    bool store = ev->store.get || ev->store.put;
    if (store && eval_key(ev, q, cfg, sizeof cfg, e)) return -1;
    if (ev->store.get && ev->store.get(ev->store.ctx, q->model->hash, cfg, q->app, q->item, out, &found, e))
        return -1;
    if (found) {
        ev->stored_hits++;
        return 0;
    }
    if (run_engine(ev, q, out, e)) return err_prefix(e, "app %s item %s", q->app, q->item);
    ev->computed++;
    if (ev->store.put && ev->store.put(ev->store.ctx, q->model->hash, cfg, q->app, q->item, out, e)) return -1;
    return 0;
}
