/* corpus: world text documents and the mixed, shuffled token streams for training (see corpus.h). */
#include "datasets/corpus.h"

#include "datasets/appgen.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const corpus_source_names[CORPUS_N_SOURCES] = {"world", "task",   "task_dropped", "task_multi",
                                                           "skill", "recall", "copy"};

void corpus_config_default(CorpusConfig *c) {
    c->train_tokens = 12000000;
    c->val_tokens = 200000;
    c->world_frac = 0.25;
    c->skill_frac = 0.15;
    c->recall_frac = 0.1;
    c->copy_frac = 0.3;
    c->copy_max = 12;
    c->copy_all_words = 1;
    c->copy_repeat_frac = 0.8;
    c->drop_frac = 0.2;
    c->keep_min = 0.2;
    c->multi_frac = 0.5;
    c->multi_min = 4;
    c->multi_max = 12;
    c->sent_min = 8;
    c->sent_max = 24;
}

int corpus_config_check(const CorpusConfig *c, Err *e) {
    if (c->train_tokens < 1000 || c->train_tokens > 2000000000L)
        return err_set(e, "corpus: train_tokens must be in [1000, 2e9], got %ld", c->train_tokens);
    if (c->val_tokens < 1000 || c->val_tokens > 2000000000L)
        return err_set(e, "corpus: val_tokens must be in [1000, 2e9], got %ld", c->val_tokens);
    if (!(c->world_frac >= 0 && c->world_frac <= 1))
        return err_set(e, "corpus: world_frac must be in [0, 1], got %g", c->world_frac);
    if (!(c->skill_frac >= 0 && c->recall_frac >= 0 && c->copy_frac >= 0 &&
          c->world_frac + c->skill_frac + c->recall_frac + c->copy_frac <= 1))
        return err_set(e, "corpus: world_frac + skill_frac + recall_frac + copy_frac must be at most 1, got %g + %g + %g + %g",
                       c->world_frac, c->skill_frac, c->recall_frac, c->copy_frac);
    if (!(c->copy_repeat_frac >= 0 && c->copy_repeat_frac <= 1))
        return err_set(e, "corpus: copy_repeat_frac must be in [0, 1], got %g", c->copy_repeat_frac);
    if (c->copy_max < CORPUS_COPY_MIN || c->copy_max > CORPUS_COPY_MAX)
        return err_set(e, "corpus: copy_max must be in [%d, %d], got %d", CORPUS_COPY_MIN, CORPUS_COPY_MAX, c->copy_max);
    if (!(c->drop_frac >= 0 && c->drop_frac <= 1))
        return err_set(e, "corpus: drop_frac must be in [0, 1], got %g", c->drop_frac);
    if (!(c->keep_min >= 0 && c->keep_min <= 1))
        return err_set(e, "corpus: keep_min must be in [0, 1], got %g", c->keep_min);
    if (!(c->multi_frac >= 0 && c->multi_frac <= 1))
        return err_set(e, "corpus: multi_frac must be in [0, 1], got %g", c->multi_frac);
    if (c->multi_min < 2 || c->multi_max < c->multi_min || c->multi_max > 64)
        return err_set(e, "corpus: questions per drill must satisfy 2 <= min <= max <= 64, got %d..%d", c->multi_min,
                       c->multi_max);
    if (c->sent_min < 1 || c->sent_max < c->sent_min || c->sent_max > 1000)
        return err_set(e, "corpus: sentences per world document must satisfy 1 <= min <= max <= 1000, got %d..%d",
                       c->sent_min, c->sent_max);
    return 0;
}

void doclist_free(DocList *d) {
    for (long i = 0; i < d->n; i++) free(d->doc[i]);
    free(d->doc);
    memset(d, 0, sizeof *d);
}

int corpus_world_docs(DocList *out, const World *w, unsigned long seed, long n_words, const CorpusConfig *c, Err *e) {
    memset(out, 0, sizeof *out);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return err_set(e, "world text: out of memory");
    gsl_rng_set(r, seed);
    Text t;
    text_init(&t);
    int rc = 0;
    while (out->words < n_words) {
        text_clear(&t);
        world_doc(w, r, c->sent_min + (int)gsl_rng_uniform_int(r, (unsigned long)(c->sent_max - c->sent_min + 1)), &t);
        if (out->n == out->cap) {
            long cap = out->cap ? 2 * out->cap : 1024;
            char **p = realloc(out->doc, (size_t)cap * sizeof *p);
            if (!p) {
                rc = err_set(e, "world text: out of memory");
                break;
            }
            out->doc = p;
            out->cap = cap;
        }
        char *s = text_dup(&t);
        if (!s) {
            rc = err_set(e, "world text: out of memory");
            break;
        }
        out->doc[out->n++] = s;
        out->words += t.n_words;
    }
    text_free(&t);
    gsl_rng_free(r);
    if (rc != 0) doclist_free(out);
    return rc;
}

/* Documents collected into one buffer before shuffling. */
typedef struct DocBuf {
    int *tok;      /* (len) all documents back to back */
    long len, cap;
    long *start;   /* (n + 1) document offsets */
    long n, ncap;
} DocBuf;

static int docbuf_reserve(DocBuf *b, long extra) {
    if (b->len + extra > b->cap) {
        long cap = b->cap ? b->cap : 65536;
        while (cap < b->len + extra) cap *= 2;
        int *p = realloc(b->tok, (size_t)cap * sizeof *p);
        if (!p) return -1;
        b->tok = p;
        b->cap = cap;
    }
    if (b->n + 2 > b->ncap) {
        long cap = b->ncap ? 2 * b->ncap : 4096;
        long *p = realloc(b->start, (size_t)cap * sizeof *p);
        if (!p) return -1;
        b->start = p;
        b->ncap = cap;
        if (b->n == 0) b->start[0] = 0;
    }
    return 0;
}

/* docbuf_end: close the document that began at start[n] (its tokens are already appended). */
static void docbuf_end(DocBuf *b) { b->start[++b->n] = b->len; }

static void docbuf_free(DocBuf *b) {
    free(b->tok);
    free(b->start);
}

/* add_world: [BOS] + the document's tokens + [EOS]; returns its length or -1. */
static long add_world(DocBuf *b, const char *doc, const Tokenizer *t, Err *e) {
    int *ids = NULL;
    int n = tokenizer_encode(t, doc, &ids, e);
    if (n < 0) return err_prefix(e, "world text");
    if (docbuf_reserve(b, n + 2) != 0) {
        free(ids);
        return err_set(e, "corpus: out of memory");
    }
    b->tok[b->len++] = t->bos_id;
    memcpy(b->tok + b->len, ids, (size_t)n * sizeof *ids);
    b->len += n;
    b->tok[b->len++] = t->eos_id;
    free(ids);
    docbuf_end(b);
    return n + 2;
}

/* add_task: item_prompt with keep (NULL = all) + answer tokens, then [EOS] unless eos < 0 (the document stays
 * open); returns the tokens added or -1. */
static long add_task(DocBuf *b, const EncodedItem *x, const unsigned char *keep, int bos, int eos, Err *e) {
    long max = 1 + x->n_system + x->n_query + x->choice_len[x->answer] + 1;
    if (docbuf_reserve(b, max) != 0) return err_set(e, "corpus: out of memory");
    long begin = b->len;
    b->len += item_prompt(x, keep, bos, b->tok + b->len);
    memcpy(b->tok + b->len, x->choices[x->answer], (size_t)x->choice_len[x->answer] * sizeof(int));
    b->len += x->choice_len[x->answer];
    if (eos >= 0) {
        b->tok[b->len++] = eos;
        docbuf_end(b);
    }
    return b->len - begin;
}

/* add_drill_rest: up to k - 1 more questions about it's system text with their answers (stopping before the
 * document would exceed CORPUS_DRILL_MAX_TOKENS), then [EOS], closing the document add_task left open; returns
 * the tokens added or -1. */
static long add_drill_rest(DocBuf *b, const AppDef *def, const World *w, const Item *it, int k, const Tokenizer *t,
                           gsl_rng *r, Err *e) {
    long begin = b->len, doc_start = b->start[b->n];
    Text q, a;
    text_init(&q);
    text_init(&a);
    int rc = 0;
    for (int j = 1; j < k && rc == 0; j++) {
        text_clear(&q);
        text_clear(&a);
        if (def->requery(w, r, it, &q, &a, e) != 0) {
            rc = -1;
            break;
        }
        if (!text_ok(&q) || !text_ok(&a)) {
            rc = err_set(e, "corpus: out of memory");
            break;
        }
        int *ids[2] = {NULL, NULL}, n[2];
        n[0] = tokenizer_encode(t, q.s, &ids[0], e);
        n[1] = n[0] < 0 ? -1 : tokenizer_encode(t, a.s, &ids[1], e);
        int full = 0;
        if (n[0] < 0 || n[1] < 0) rc = err_prefix(e, "corpus: drill on item '%s'", it->id ? it->id : "?");
        else if (docbuf_reserve(b, n[0] + n[1] + 1) != 0) rc = err_set(e, "corpus: out of memory");
        else full = b->len - doc_start + n[0] + n[1] + 1 > CORPUS_DRILL_MAX_TOKENS;
        for (int p = 0; p < 2 && rc == 0 && !full; p++) {
            memcpy(b->tok + b->len, ids[p], (size_t)n[p] * sizeof(int));
            b->len += n[p];
        }
        free(ids[0]);
        free(ids[1]);
        if (full) break;
    }
    text_free(&q);
    text_free(&a);
    if (rc == 0 && docbuf_reserve(b, 1) != 0) rc = err_set(e, "corpus: out of memory");
    if (rc == 0) b->tok[b->len++] = t->eos_id;
    docbuf_end(b); /* closed even on failure, so the buffer stays consistent */
    return rc == 0 ? b->len - begin : -1;
}

/* keep_mask: keep (n) all ones except round((1 - ratio) * n) positions drawn without replacement, by a partial
 * Fisher-Yates shuffle on the corpus's running generator r. Deliberately not base/keepmask: this is a frozen part
 * of the corpus generator. Its draws interleave with every other draw from r, so the corpus the shipped models
 * were trained on (every byte `elms data gen` writes after the first dropped document) stays the same only while
 * this consumes r exactly as it does; a mask with its own per-item generator would change them all. */
static void keep_mask(gsl_rng *r, unsigned char *keep, int *scratch, int n, double ratio) {
    for (int i = 0; i < n; i++) {
        keep[i] = 1;
        scratch[i] = i;
    }
    int drop = (int)lround((1.0 - ratio) * n);
    if (drop > n) drop = n;
    for (int i = 0; i < drop; i++) { /* partial Fisher-Yates */
        int j = i + (int)gsl_rng_uniform_int(r, (unsigned long)(n - i));
        int tmp = scratch[i];
        scratch[i] = scratch[j];
        scratch[j] = tmp;
        keep[scratch[i]] = 0;
    }
}

/* add_tasks: task documents until task_target tokens, apps in turn. */
static int add_tasks(DocBuf *b, const World *w, const ItemSet sets[APPS_N], const Tokenizer *t, long task_target,
                     const CorpusConfig *c, gsl_rng *r, CorpusPart *st, Err *e) {
    size_t *order[APPS_N] = {0};
    long pos[APPS_N] = {0};
    int rc = 0;
    for (int a = 0; a < APPS_N && rc == 0; a++) {
        if (sets[a].n <= 0) {
            rc = err_set(e, "corpus: app %s has no items to draw task documents from", apps_table[a].name);
            break;
        }
        order[a] = malloc((size_t)sets[a].n * sizeof *order[a]);
        if (!order[a]) rc = err_set(e, "corpus: out of memory");
    }
    unsigned char *keep = NULL;
    int *scratch = NULL, cap = 0;
    long task_tokens = 0;
    for (long k = 0; rc == 0 && task_tokens < task_target; k++) {
        int a = (int)(k % APPS_N);
        if (pos[a] % sets[a].n == 0) { /* a new pass over the app's items, in a fresh order */
            for (int i = 0; i < sets[a].n; i++) order[a][i] = (size_t)i;
            gsl_ran_shuffle(r, order[a], (size_t)sets[a].n, sizeof *order[a]);
        }
        const Item *it = &sets[a].items[order[a][pos[a]++ % sets[a].n]];
        EncodedItem x;
        if (item_encode(t, it, &x, e) != 0) {
            rc = err_prefix(e, "corpus");
            break;
        }
        int dropped = gsl_rng_uniform(r) < c->drop_frac;
        int drill = !dropped && apps_table[a].requery && gsl_rng_uniform(r) < c->multi_frac;
        if (dropped && x.n_system > cap) {
            cap = x.n_system;
            unsigned char *k2 = realloc(keep, (size_t)cap);
            int *s2 = k2 ? realloc(scratch, (size_t)cap * sizeof *s2) : NULL;
            if (k2) keep = k2;
            if (s2) scratch = s2;
            if (!k2 || !s2) rc = err_set(e, "corpus: out of memory");
        }
        long len = -1;
        if (rc == 0) {
            if (dropped) keep_mask(r, keep, scratch, x.n_system, c->keep_min + (1.0 - c->keep_min) * gsl_rng_uniform(r));
            len = add_task(b, &x, dropped ? keep : NULL, t->bos_id, drill ? -1 : t->eos_id, e);
            if (len >= 0 && drill) {
                int k = c->multi_min + (int)gsl_rng_uniform_int(r, (unsigned long)(c->multi_max - c->multi_min + 1));
                long more = add_drill_rest(b, &apps_table[a], w, it, k, t, r, e);
                len = more < 0 ? -1 : len + more;
            }
        }
        encoded_item_free(&x);
        if (len < 0) {
            rc = -1;
            break;
        }
        int s = dropped ? CORPUS_TASK_DROPPED : drill ? CORPUS_TASK_MULTI : CORPUS_TASK;
        st->src_tokens[s] += len;
        st->src_docs[s]++;
        st->app_docs[a]++;
        st->app_tokens[a] += len;
        task_tokens += len;
    }
    free(keep);
    free(scratch);
    for (int a = 0; a < APPS_N; a++) free(order[a]);
    return rc;
}

/* add_skills: skill drills until target tokens, the in-context apps in turn. */
static int add_skills(DocBuf *b, const World *w, const Tokenizer *t, long target, const CorpusConfig *c, gsl_rng *r,
                      CorpusPart *st, Err *e) {
    static const int apps[3] = {2, 3, 5}; /* funcall, uinav, reading */
    long tokens = 0;
    for (long k = 0; tokens < target; k++) {
        int a = apps[k % 3], rc;
        Item it;
        if (a == 2) rc = app_funcall_build(w, r, 2 + (int)gsl_rng_uniform_int(r, FUNCALL_N_LISTED - 1), &it, e);
        else if (a == 3) rc = app_uinav_build(w, r, 2 + (int)gsl_rng_uniform_int(r, 39), &it, e);
        else rc = app_reading_build(w, r, 1 + (int)gsl_rng_uniform_int(r, READING_N_PEOPLE),
                                     (int)gsl_rng_uniform_int(r, READING_N_FILLERS + 1), &it, e);
        if (rc != 0) return err_prefix(e, "corpus: skill drill");
        it.id = strdup("skill");
        EncodedItem x;
        rc = it.id ? item_encode(t, &it, &x, e) : err_set(e, "corpus: out of memory");
        long len = -1;
        if (rc == 0) {
            len = add_task(b, &x, NULL, t->bos_id, -1, e);
            int q = c->multi_min + (int)gsl_rng_uniform_int(r, (unsigned long)(c->multi_max - c->multi_min + 1));
            long more = len < 0 ? -1 : add_drill_rest(b, &apps_table[a], w, &it, q, t, r, e);
            len = more < 0 ? -1 : len + more;
            encoded_item_free(&x);
        }
        item_free(&it);
        if (len < 0) return -1;
        st->src_tokens[CORPUS_SKILL] += len;
        st->src_docs[CORPUS_SKILL]++;
        tokens += len;
    }
    return 0;
}

/* add_recalls: recall lists until target tokens, uinav and funcall in turn. */
static int add_recalls(DocBuf *b, const World *w, const Tokenizer *t, long target, gsl_rng *r, CorpusPart *st,
                       Err *e) {
    long tokens = 0;
    Text txt;
    text_init(&txt);
    int rc = 0;
    for (long k = 0; tokens < target && rc == 0; k++) {
        Item it;
        if (k % 2 == 0) rc = app_uinav_build(w, r, 4 + (int)gsl_rng_uniform_int(r, 21), &it, e);
        else rc = app_funcall_build(w, r, 3 + (int)gsl_rng_uniform_int(r, 10), &it, e);
        if (rc != 0) {
            err_prefix(e, "corpus: recall list");
            break;
        }
        text_clear(&txt);
        text_add(&txt, it.system);
        if (appgen_recall(&it, r, &txt) < 0) rc = err_set(e, "corpus: recall list: out of memory");
        item_free(&it);
        int *ids = NULL, n = rc == 0 ? tokenizer_encode(t, txt.s, &ids, e) : -1;
        if (rc == 0 && n < 0) rc = err_prefix(e, "corpus: recall list");
        if (rc == 0 && docbuf_reserve(b, n + 2) != 0) rc = err_set(e, "corpus: out of memory");
        if (rc == 0) {
            b->tok[b->len++] = t->bos_id;
            memcpy(b->tok + b->len, ids, (size_t)n * sizeof *ids);
            b->len += n;
            b->tok[b->len++] = t->eos_id;
            docbuf_end(b);
            st->src_tokens[CORPUS_RECALL] += n + 2;
            st->src_docs[CORPUS_RECALL]++;
            tokens += n + 2;
        }
        free(ids);
    }
    text_free(&txt);
    return rc;
}

/* add_copies: copy documents until target tokens: "copy :" NAMES "." NAMES, names from the world's pools. */
static int add_copies(DocBuf *b, const World *w, const Tokenizer *t, long target, const CorpusConfig *c, gsl_rng *r,
                      CorpusPart *st, Err *e) {
    int head[2] = {tokenizer_id(t, "copy"), tokenizer_id(t, ":")}, stop = tokenizer_id(t, ".");
    if (head[0] < 0 || head[1] < 0 || stop < 0) return err_set(e, "corpus: the vocabulary lacks the copy words");
    int n_pool = 0, cap = t->vocab_size + w->cfg.n_app_names + w->cfg.n_fn_names;
    int *pool_ids = malloc(sizeof(int) * (size_t)cap);
    if (!pool_ids) return err_set(e, "corpus: out of memory");
    if (c->copy_all_words) { /* every word but the special tokens and the "." that ends the first copy */
        for (int id = 0; id < t->vocab_size; id++)
            if (id != t->bos_id && id != t->eos_id && id != t->pad_id && id != t->unk_id && id != stop)
                pool_ids[n_pool++] = id;
    } else {
        for (int i = 0; i < w->cfg.n_app_names + w->cfg.n_fn_names; i++) {
            const char *name = i < w->cfg.n_app_names ? w->app_name[i] : w->fn_name[i - w->cfg.n_app_names];
            if ((pool_ids[n_pool++] = tokenizer_id(t, name)) < 0) {
                free(pool_ids);
                return err_set(e, "corpus: name '%s' not in the vocabulary", name);
            }
        }
    }
    long tokens = 0;
    while (tokens < target) {
        int n = CORPUS_COPY_MIN + (int)gsl_rng_uniform_int(r, (unsigned long)(c->copy_max - CORPUS_COPY_MIN + 1)), len = 2 * n + 5;
        if (docbuf_reserve(b, len) != 0) {
            free(pool_ids);
            return err_set(e, "corpus: out of memory");
        }
        int *d = b->tok + b->len;
        d[0] = t->bos_id;
        d[1] = head[0];
        d[2] = head[1];
        /* a repeat document draws its n words from max(2, n/3) words, so that a word is followed by different
         * words at different places and only the words before it tell which comes next */
        int k = gsl_rng_uniform(r) < c->copy_repeat_frac ? (n / 3 > 2 ? n / 3 : 2) : 0, few[CORPUS_COPY_MAX];
        for (int i = 0; i < k; i++) few[i] = pool_ids[gsl_rng_uniform_int(r, (unsigned long)n_pool)];
        for (int i = 0; i < n; i++)
            d[3 + i] = d[4 + n + i] = k ? few[gsl_rng_uniform_int(r, (unsigned long)k)]
                                        : pool_ids[gsl_rng_uniform_int(r, (unsigned long)n_pool)];
        d[3 + n] = stop;
        d[len - 1] = t->eos_id;
        b->len += len;
        docbuf_end(b);
        st->src_tokens[CORPUS_COPY] += len;
        st->src_docs[CORPUS_COPY]++;
        tokens += len;
    }
    free(pool_ids);
    return 0;
}

int corpus_stream(int **out, long *n, const DocList *world, const World *w, const ItemSet sets[APPS_N],
                  const Tokenizer *t, long target, const CorpusConfig *c, unsigned long seed, CorpusPart *st,
                  Err *e) {
    *out = NULL;
    *n = 0;
    memset(st, 0, sizeof *st);
    if (corpus_config_check(c, e) != 0) return -1;
    if (t->bos_id < 0 || t->eos_id < 0) return err_set(e, "corpus: the tokenizer needs [BOS] and [EOS] tokens");
    long world_target = (long)llround(c->world_frac * (double)target);
    long skill_target = (long)llround(c->skill_frac * (double)target);
    long recall_target = (long)llround(c->recall_frac * (double)target);
    long copy_target = (long)llround(c->copy_frac * (double)target);
    long task_target = target - world_target - skill_target - recall_target - copy_target;
    DocBuf b = {0};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return err_set(e, "corpus: out of memory");
    gsl_rng_set(r, seed);
    int rc = 0;
    long world_tokens = 0;
    for (long i = 0; world_tokens < world_target; i++) {
        if (i >= world->n) {
            rc = err_set(e, "corpus: world text ran out after %ld documents (%ld of %ld tokens)", world->n,
                         world_tokens, world_target);
            break;
        }
        long len = add_world(&b, world->doc[i], t, e);
        if (len < 0) {
            rc = -1;
            break;
        }
        world_tokens += len;
        st->src_tokens[CORPUS_WORLD] += len;
        st->src_docs[CORPUS_WORLD]++;
    }
    if (rc == 0 && skill_target > 0) rc = add_skills(&b, w, t, skill_target, c, r, st, e);
    if (rc == 0 && recall_target > 0) rc = add_recalls(&b, w, t, recall_target, r, st, e);
    if (rc == 0 && copy_target > 0) rc = add_copies(&b, w, t, copy_target, c, r, st, e);
    if (rc == 0 && task_target > 0) rc = add_tasks(&b, w, sets, t, task_target, c, r, st, e);
    long *perm = NULL;
    if (rc == 0 && !(perm = malloc((size_t)(b.n ? b.n : 1) * sizeof *perm))) rc = err_set(e, "corpus: out of memory");
    if (rc == 0 && !(*out = malloc((size_t)(b.len ? b.len : 1) * sizeof **out))) rc = err_set(e, "corpus: out of memory");
    if (rc == 0) {
        for (long i = 0; i < b.n; i++) perm[i] = i;
        gsl_ran_shuffle(r, perm, (size_t)b.n, sizeof *perm);
        long len = 0;
        for (long i = 0; i < b.n; i++) {
            long d = perm[i], dl = b.start[d + 1] - b.start[d];
            memcpy(*out + len, b.tok + b.start[d], (size_t)dl * sizeof **out);
            len += dl;
        }
        *n = len;
        st->tokens = len;
        st->docs = b.n;
    } else {
        free(*out);
        *out = NULL;
    }
    free(perm);
    docbuf_free(&b);
    gsl_rng_free(r);
    return rc;
}
