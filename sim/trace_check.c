/* trace_check: a trace validated completely against the run's model, items and profile before any run begins
 * (see sim_trace_check and sim_trace_check_live in sim.h), so that a bad trace never leaves a half-replayed run in
 * the database. */
#include "sim/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fileutil.h"

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* unique_ids: every request id of t appears once; the message names the first repeated id. */
static int unique_ids(const Trace *t, const char *path, Err *e) {
    long *ids = malloc(sizeof *ids * (size_t)(t->n ? t->n : 1));
    if (!ids) return err_set(e, "%s: out of memory checking %ld request ids", path, t->n);
    for (long i = 0; i < t->n; i++) ids[i] = t->req[i].id;
    qsort(ids, (size_t)t->n, sizeof *ids, cmp_long);
    int rc = 0;
    for (long i = 1; i < t->n && !rc; i++)
        if (ids[i] == ids[i - 1]) rc = err_set(e, "%s: field id: request id %ld appears more than once", path, ids[i]);
    free(ids);
    return rc;
}

/* check_request: one request's times, SLOs, app, item and prompt length. */
static int check_request(SimContext *c, const Trace *t, const TraceRequest *q, const char *path, Err *e) {
    const char *app = trace_app(t, q);
    int max_seq = c->base->cfg.max_seq;
    if (q->arrival_s != TRACE_SEQUENTIAL && !(q->arrival_s >= 0 && q->arrival_s <= TRACE_MAX_ARRIVAL_S))
        return err_set(e, "%s: request %ld: field arrival_s: expected seconds in [0, %g], got %g", path, q->id,
                       TRACE_MAX_ARRIVAL_S, q->arrival_s);
    if (!(q->slo_ttft > 0 && q->slo_ttft <= TRACE_MAX_SLO) || !(q->slo_tpot > 0 && q->slo_tpot <= TRACE_MAX_SLO))
        return err_set(e, "%s: request %ld: field slo: expected positive numbers up to %g", path, q->id,
                       TRACE_MAX_SLO);
    if (q->output_tokens < 1) return err_set(e, "%s: request %ld: field output_tokens: expected >= 1", path, q->id);
    if (q->item < 0) {
        if (!trace_app_spec(app))
            return err_set(e, "%s: request %ld: field app: '%s' is not a known app (a request without an item "
                              "needs one of the built-in apps)",
                           path, q->id, app);
        if (q->prompt_tokens < 1 || q->prompt_tokens + 1 > max_seq)
            return err_set(e, "%s: request %ld: field prompt_tokens: %d tokens (with BOS) exceed the model's "
                              "context of %d",
                           path, q->id, q->prompt_tokens, max_seq);
        return 0;
    }
    char file[1200];
    snprintf(file, sizeof file, "%s/items/%s/%s.jsonl", c->items->data_dir, app, c->items->split);
    if (strtab_find(&c->items->apps, app) < 0 && !path_is_file(file))
        return err_set(e, "%s: request %ld: field app: no items for app '%s' (%s is missing)", path, q->id, app, file);
    const StoreEntry *ent;
    if (itemstore_get(c->items, app, trace_item(t, q), &ent, e)) return err_prefix(e, "%s: request %ld", path, q->id);
    const EncodedItem *x = &ent->enc;
    int longest = 0, n = (c->ev.bos_id >= 0) + x->n_system + x->n_query;
    for (int k = 0; k < x->n_choices; k++)
        if (x->choice_len[k] > longest) longest = x->choice_len[k];
    if (n + longest > max_seq)
        return err_set(e, "%s: request %ld: item '%s': prompt of %d tokens + longest choice of %d exceeds the "
                          "model's context of %d",
                       path, q->id, trace_item(t, q), n, longest, max_seq);
    return 0;
}

int sim_trace_check(SimContext *c, const Trace *t, const char *path, Err *e) {
    if (t->n < 1) return err_set(e, "%s: no requests", path);
    if (unique_ids(t, path, e)) return -1;
    for (long i = 0; i < t->n; i++)
        if (check_request(c, t, &t->req[i], path, e)) return -1;
    return 0;
}

int sim_trace_check_live(SimContext *c, const Trace *t, const char *path, Err *e) {
    int max_seq = c->base->cfg.max_seq;
    for (long i = 0; i < t->n; i++) {
        const TraceRequest *q = &t->req[i];
        int n_prompt = q->prompt_tokens;
        if (q->item >= 0) {
            const StoreEntry *ent;
            if (itemstore_get(c->items, trace_app(t, q), trace_item(t, q), &ent, e))
                return err_prefix(e, "%s: request %ld", path, q->id);
            n_prompt = ent->enc.n_system + ent->enc.n_query;
        }
        if (!live_check_context(n_prompt, c->ev.bos_id, q->output_tokens, max_seq))
            return err_set(e, "%s: request %ld: field output_tokens: a prompt of %d tokens (with BOS) and %d output "
                              "tokens exceed the model's context of %d (served live, every token is decoded)",
                           path, q->id, n_prompt + (c->ev.bos_id >= 0), q->output_tokens, max_seq);
    }
    return 0;
}
