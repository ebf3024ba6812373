/* score_items: per-app accuracy accumulation and multiple-choice scoring of item sets for the CLI. */
#include "cli/score_items.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/keepmask.h"
#include "cli/cli.h"
#include "eval/eval.h"

void app_tally_init(AppTally *t) { memset(t, 0, sizeof *t); }

void app_tally_free(AppTally *t) {
    for (int i = 0; i < t->n; i++) free(t->app[i]);
    free(t->app);
    free(t->correct);
    free(t->total);
    memset(t, 0, sizeof *t);
}

int app_tally_add(AppTally *t, const char *app, int correct) {
    int i = 0;
    while (i < t->n && strcmp(t->app[i], app)) i++;
    if (i == t->n) {
        if (t->n == t->cap) {
            int nc = t->cap ? 2 * t->cap : 8;
            char **a = realloc(t->app, (size_t)nc * sizeof *a);
            if (a) t->app = a;
            long *c = realloc(t->correct, (size_t)nc * sizeof *c);
            if (c) t->correct = c;
            long *n = realloc(t->total, (size_t)nc * sizeof *n);
            if (n) t->total = n;
            if (!a || !c || !n) return -1;
            t->cap = nc;
        }
        if (!(t->app[i] = strdup(app))) return -1;
        t->correct[i] = t->total[i] = 0;
        t->n++;
    }
    t->correct[i] += correct != 0;
    t->total[i]++;
    return 0;
}

double app_tally_macro(const AppTally *t) {
    double s = 0;
    for (int i = 0; i < t->n; i++) s += t->total[i] ? (double)t->correct[i] / (double)t->total[i] : 0.0;
    return t->n ? s / t->n : 0.0;
}

void app_tally_print(const AppTally *t, FILE *f) {
    int *order = malloc((size_t)(t->n ? t->n : 1) * sizeof *order);
    if (!order) return;
    for (int i = 0; i < t->n; i++) { /* insertion sort by name: a handful of apps */
        int j = i;
        while (j > 0 && strcmp(t->app[order[j - 1]], t->app[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int k = 0; k < t->n; k++) {
        int i = order[k];
        fprintf(f, "%s accuracy %ld/%ld = %.4f\n", t->app[i], t->correct[i], t->total[i],
                t->total[i] ? (double)t->correct[i] / (double)t->total[i] : 0.0);
    }
    fprintf(f, "macro %.4f\n", app_tally_macro(t));
    free(order);
}

/* drop_mask: keep (n) with round(drop * n) positions dropped, the kept ones a keepmask_random subset seeded per
 * item (tag "drop-system", ratio 1 - drop), so an item's mask does not depend on the other items or their order.
 * Returns -1 when out of memory. */
static int drop_mask(unsigned char *keep, int n, double drop, unsigned long seed, const Item *it) {
    int k = n - (int)lround(drop * n);
    if (k < 0) k = 0;
    return keepmask_random(keep, n, k, keepmask_seed(seed, "drop-system", it->app, it->id, 1.0 - drop)) < 0 ? -1 : 0;
}

int score_itemset(const char *cmd, const char *src, const EngineModel *em, const ItemSet *s, double drop,
                  unsigned long seed, AppTally *t) {
    if (!em->has_tok)
        return cli_error(cmd, "%s/tokenizer.json: missing (scoring text items needs the model's tokenizer)", em->dir);
    if (!(drop >= 0 && drop <= 1)) return cli_error(cmd, "drop fraction %g outside [0, 1]", drop);
    const Model *m = &em->model;
    Evaluator ev;
    evaluator_init(&ev, em->has_tok ? &em->tok : NULL, m, NULL);
    int rc = 0;
    EncodedItem *enc = calloc((size_t)(s->n ? s->n : 1), sizeof *enc); /* (n items) */
    unsigned char **keep = calloc((size_t)(s->n ? s->n : 1), sizeof *keep); /* (n items) masks of (n_system) */
    if (!enc || !keep) rc = cli_error(cmd, "out of memory");
    /* pass 1: encode and check every item, so that a bad item fails the run before any output */
    for (int i = 0; !rc && i < s->n; i++) {
        const Item *it = &s->items[i];
        Err e;
        if (item_encode(&em->tok, it, &enc[i], &e) != 0) {
            rc = cli_error(cmd, "%s: %s", src, e.msg);
            break;
        }
        EncodedItem *x = &enc[i];
        int ns = x->n_system;
        keep[i] = malloc((size_t)(ns ? ns : 1));                              /* (n_system) 0/1 */
        int *prompt = malloc((size_t)(1 + ns + x->n_query) * sizeof *prompt); /* (1 + n_system + n_query) */
        int plen = 0, longest = 0;
        if (!keep[i] || !prompt || drop_mask(keep[i], ns, drop, seed, it)) rc = cli_error(cmd, "out of memory");
        else plen = eval_prompt(&ev, x, keep[i], prompt);
        free(prompt);
        if (rc) break;
        for (int c = 0; c < x->n_choices; c++)
            if (x->choice_len[c] > longest) longest = x->choice_len[c];
        if (plen < 1)
            rc = cli_error(cmd, "%s: item '%s': empty prompt (no BOS token, system or query)", src, it->id);
        else if (plen + longest > m->cfg.max_seq)
            rc = cli_error(cmd, "%s: item '%s': prompt of %d tokens + longest choice of %d exceeds the context of %d",
                           src, it->id, plen, longest, m->cfg.max_seq);
    }
    /* pass 2: score (progress only on a terminal, so that piped output holds nothing but the results) */
    AppTally local;
    app_tally_init(&local);
    Progress pg;
    int show = !rc && isatty(STDERR_FILENO) && s->n >= 50;
    if (show) progress_start(&pg, "scoring", s->n);
    for (int i = 0; !rc && i < s->n; i++) {
        if (show) progress_update(&pg, i);
        EvalOutcome o;
        Err e;
        EvalQuery q = {.model = m, .view = &em->view, .keep = keep[i], .x = &enc[i], .app = s->items[i].app,
                       .item = s->items[i].id};
        if (eval_item(&ev, &q, &o, &e) != 0) {
            rc = cli_error(cmd, "%s: %s", src, e.msg);
            break;
        }
        if (app_tally_add(&local, s->items[i].app, o.correct) != 0) rc = cli_error(cmd, "out of memory");
    }
    if (show && !rc) {
        progress_update(&pg, s->n);
        progress_finish(&pg);
    }
    /* merge into the caller's tally only when everything succeeded */
    for (int i = 0; !rc && i < local.n; i++)
        for (long k = 0; !rc && k < local.total[i]; k++)
            if (app_tally_add(t, local.app[i], k < local.correct[i]) != 0) rc = cli_error(cmd, "out of memory");
    app_tally_free(&local);
    for (int i = 0; i < s->n; i++) {
        if (enc) encoded_item_free(&enc[i]);
        if (keep) free(keep[i]);
    }
    free(enc);
    free(keep);
    return rc;
}
