/* Tests of the data directory of `elms data gen`: the tokenizer builder, determinism (same seed, same bytes),
 * corpus documents well formed and drawn from the right split (train.bin from train, val.bin from dev, never
 * test), dropped documents that are true sub-prompts with keep ratios in [keep_min, 1], the manifest, and the
 * command line. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/datagen.h"
#include "datasets/keyset.h"
#include "datasets/vocab.h"
#include "engine/data.h"
#include "engine/io.h"
#include "tests/test.h"

static DataGenConfig small_config(void) {
    DataGenConfig c;
    datagen_config_default(&c);
    c.apps.n_split[0] = 300;
    c.apps.n_split[1] = 100;
    c.apps.n_split[2] = 500;
    c.corpus.train_tokens = 150000;
    c.corpus.val_tokens = 30000;
    return c;
}

static int gen(const char *dir, unsigned long seed, const DataGenConfig *c, DataGenSummary *s, Err *e) {
    return datagen_run(dir, seed, c, s, e);
}

TEST(corpus_vocab_orders_by_frequency) {
    VocabCounter v;
    vocab_init(&v);
    CHECK(vocab_count(&v, "b b a c c c x,y", 1) == 0);
    CHECK(vocab_count(&v, "zeta alpha b", 0) == 0); /* registered, not counted */
    Tokenizer tk;
    Err e;
    CHECK_MSG(vocab_tokenizer(&v, &tk, &e) == 0, "%s", e.msg);
    const char *expect[] = {"[PAD]", "[UNK]", "[BOS]", "[EOS]", "c", "b", ",", "a", "x", "y", "alpha", "zeta"};
    int n = (int)(sizeof expect / sizeof expect[0]);
    CHECK_MSG(tk.vocab_size == n, "vocabulary of %d pieces", tk.vocab_size);
    for (int i = 0; i < n && i < tk.vocab_size; i++)
        CHECK_MSG(!strcmp(tk.id_to_piece[i], expect[i]), "id %d is '%s', expected '%s'", i, tk.id_to_piece[i],
                  expect[i]);
    CHECK(tk.pad_id == 0 && tk.unk_id == 1 && tk.bos_id == 2 && tk.eos_id == 3);
    tokenizer_free(&tk);
    vocab_free(&v);
}

/* read_all: the bytes of DIR/rel (malloc'd) or NULL. */
static char *read_all(const char *dir, const char *rel, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *buf = NULL;
    Err e;
    return io_read_file(path, &buf, len, &e) == 0 ? buf : NULL;
}

/* copy_config: the small configuration with a corpus of 90% copy documents of at most copy_max words. */
static DataGenConfig copy_config(int copy_max) {
    DataGenConfig c = small_config();
    c.corpus.world_frac = 0.05;
    c.corpus.skill_frac = 0.0;
    c.corpus.recall_frac = 0.0;
    c.corpus.copy_frac = 0.9;
    c.corpus.copy_max = copy_max;
    return c;
}

/* tmp_dirs: the paths a, b and x under the test's temporary directory (600 bytes each). */
static void tmp_dirs(char a[600], char b[600], char x[600]) {
    snprintf(a, 600, "%s/a", test_tmpdir());
    snprintf(b, 600, "%s/b", test_tmpdir());
    snprintf(x, 600, "%s/x", test_tmpdir());
}

TEST(corpus_data_dir_is_deterministic) {
    DataGenConfig c = small_config();
    char a[600], b[600], x[600];
    tmp_dirs(a, b, x);
    DataGenSummary s;
    Err e;
    CHECK_MSG(gen(a, 13, &c, &s, &e) == 0, "%s", e.msg);
    CHECK_MSG(gen(b, 13, &c, &s, &e) == 0, "%s", e.msg);
    CHECK_MSG(gen(x, 14, &c, &s, &e) == 0, "%s", e.msg);
    const char *files[] = {"tokenizer.json", "data.json", "corpus/train.bin", "corpus/val.bin", "items/facts/test.jsonl",
                           "items/uinav/train.jsonl", "items/reading/dev.jsonl"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t la = 0, lb = 0, lx = 0;
        char *pa = read_all(a, files[i], &la), *pb = read_all(b, files[i], &lb), *px = read_all(x, files[i], &lx);
        CHECK_MSG(pa && pb && px, "%s missing", files[i]);
        CHECK_MSG(pa && pb && la == lb && !memcmp(pa, pb, la), "%s differs between runs with the same seed", files[i]);
        if (strcmp(files[i], "data.json") && strcmp(files[i], "tokenizer.json"))
            CHECK_MSG(pa && px && (la != lx || memcmp(pa, px, la)), "%s is the same under another seed", files[i]);
        free(pa);
        free(pb);
        free(px);
    }
    /* nothing but the promised files (no temporary leftovers) */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "test $(find '%s' -type f | wc -l) -eq %d", a, 4 + APPS_N * APPS_N_SPLITS);
    CHECK_MSG(system(cmd) == 0, "unexpected files in the data directory");
}

/* An encoded document as a string key ("id id id ..."). */
static char *ids_key(const int *ids, int n) {
    char *s = malloc((size_t)n * 8 + 1), *p = s;
    *p = 0;
    for (int i = 0; i < n; i++) p += sprintf(p, "%d ", ids[i]);
    return s;
}

/* One encoded item of a split, for matching corpus documents against it. */
typedef struct Ref {
    char *suffix;       /* key of query + answer + [EOS] */
    EncodedItem x;
    int app;
} Ref;

typedef struct RefSet {
    Ref *r;
    int n;
    KeySet full;        /* keys of whole task documents */
    KeySet open;        /* keys of in-context task documents without their [EOS] (how drills begin) */
    int open_len[64];   /* the distinct lengths of those */
    int n_open_len;
} RefSet;

static void refs_build(TestCtx *t, RefSet *rs, const char *dir, int split, const Tokenizer *tok) {
    rs->n = 0;
    rs->r = NULL;
    rs->n_open_len = 0;
    keyset_init(&rs->full);
    keyset_init(&rs->open);
    Err e;
    for (int a = 0; a < APPS_N; a++) {
        char path[1024];
        apps_items_path(path, sizeof path, dir, apps_table[a].name, apps_split_names[split]);
        ItemSet s;
        CHECK_MSG(items_read(&s, path, &e) == 0, "%s", e.msg);
        rs->r = realloc(rs->r, (size_t)(rs->n + s.n) * sizeof *rs->r);
        for (int i = 0; i < s.n; i++) {
            Ref *r = &rs->r[rs->n++];
            CHECK_MSG(item_encode(tok, &s.items[i], &r->x, &e) == 0, "%s", e.msg);
            r->app = a;
            int len = 1 + r->x.n_system + r->x.n_query + r->x.choice_len[r->x.answer] + 1;
            int *doc = malloc((size_t)len * sizeof *doc), n = item_prompt(&r->x, NULL, tok->bos_id, doc);
            memcpy(doc + n, r->x.choices[r->x.answer], (size_t)r->x.choice_len[r->x.answer] * sizeof *doc);
            n += r->x.choice_len[r->x.answer];
            doc[n++] = tok->eos_id;
            char *k = ids_key(doc, n);
            keyset_add(&rs->full, k);
            free(k);
            if (apps_table[a].requery) {
                k = ids_key(doc, n - 1);
                keyset_add(&rs->open, k);
                free(k);
                int seen = 0;
                for (int j = 0; j < rs->n_open_len; j++) seen |= rs->open_len[j] == n - 1;
                if (!seen && rs->n_open_len < 64) rs->open_len[rs->n_open_len++] = n - 1;
            }
            int ns = n - 1 - r->x.n_system; /* query + answer + eos */
            r->suffix = ids_key(doc + 1 + r->x.n_system, ns);
            free(doc);
        }
        items_free(&s);
    }
}

static void refs_free(RefSet *rs) {
    for (int i = 0; i < rs->n; i++) {
        free(rs->r[i].suffix);
        encoded_item_free(&rs->r[i].x);
    }
    free(rs->r);
    keyset_free(&rs->full);
    keyset_free(&rs->open);
}

/* questions: how many questions the document holds ("answer :" in the knowledge apps, the query headers
 * "request :", "instruction :", "question :" of the in-context apps). */
static int questions(const Tokenizer *tok, const int *doc, int len) {
    int colon = tokenizer_id(tok, ":"), q = 0;
    int heads[3] = {tokenizer_id(tok, "request"), tokenizer_id(tok, "instruction"), tokenizer_id(tok, "question")};
    for (int i = 0; i + 1 < len; i++)
        if (doc[i + 1] == colon) q += doc[i] == heads[0] || doc[i] == heads[1] || doc[i] == heads[2];
    return q;
}

/* is_skill: a document that opens like an in-context app's system prompt (a skill drill on a fresh item). */
static int is_skill(const Tokenizer *tok, const int *doc, int len) {
    static const char *const heads[3][3] = {{"you", "can", "call"}, {"the", "phone", "has"}, {"read", "the", "passage"}};
    for (int h = 0; h < 3; h++) {
        int ok = len > 4;
        for (int j = 0; j < 3 && ok; j++) ok = doc[1 + j] == tokenizer_id(tok, heads[h][j]);
        if (ok) return 1;
    }
    return 0;
}

/* drill_match: the number of questions if doc (len) is a drill on an item of rs: the item's task document
 * without [EOS], then more questions with their answers, then [EOS]; else -1. */
static int drill_match(const RefSet *rs, const Tokenizer *tok, const int *doc, int len) {
    for (int j = 0; j < rs->n_open_len; j++) {
        int l = rs->open_len[j];
        if (l >= len - 1) continue;
        char *k = ids_key(doc, l);
        int hit = keyset_has(&rs->open, k);
        free(k);
        if (hit) return questions(tok, doc, len);
    }
    return -1;
}

/* dropped_match: the kept fraction if doc (len) is [BOS] + a subsequence of some item's system + that item's
 * query + answer + [EOS], else -1. */
static double dropped_match(const RefSet *rs, const int *doc, int len) {
    for (int i = 0; i < rs->n; i++) {
        const EncodedItem *x = &rs->r[i].x;
        int ns = x->n_query + x->choice_len[x->answer] + 1, nmid = len - 1 - ns;
        if (nmid < 0 || nmid > x->n_system) continue;
        char *k = ids_key(doc + 1 + nmid, ns);
        int same = !strcmp(k, rs->r[i].suffix);
        free(k);
        if (!same) continue;
        int j = 0; /* subsequence check of the middle against the system tokens */
        for (int s = 0; s < x->n_system && j < nmid; s++)
            if (x->system[s] == doc[1 + j]) j++;
        if (j == nmid) return x->n_system ? (double)nmid / x->n_system : 1.0;
    }
    return -1;
}

static long json_long(const cJSON *o, const char *a, const char *b, const char *c, const char *d) {
    const cJSON *v = cJSON_GetObjectItem(o, a);
    if (b) v = cJSON_GetObjectItem(v, b);
    if (c) v = cJSON_GetObjectItem(v, c);
    if (d) v = cJSON_GetObjectItem(v, d);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

/* check_stream: every document of DIR/corpus/NAME is [BOS] ... [EOS] with no special token inside; task
 * documents come from split `from` (whole, or dropped with a kept fraction in [keep_min, 1]) and never from the
 * splits in `never`; counts per source equal the summary's. */
static void check_stream(TestCtx *t, const char *dir, const char *name, const Tokenizer *tok, const RefSet *from,
                         const RefSet *never1, const RefSet *never2, const CorpusPart *part, const CorpusConfig *cc) {
    char path[1024];
    snprintf(path, sizeof path, "%s/corpus/%s", dir, name);
    TokenData d;
    Err e;
    CHECK_MSG(data_load(&d, path, tok->vocab_size, &e) == 0, "%s", e.msg);
    CHECK_MSG((long)d.n == part->tokens, "%s: %zu tokens, summary says %ld", name, d.n, part->tokens);
    long docs[CORPUS_N_SOURCES] = {0}, bad = 0, leaked = 0;
    double kept_sum = 0, kept_min = 1, kept_max = 0;
    for (size_t i = 0; i < d.n;) {
        if (d.tok[i] != tok->bos_id) {
            bad++;
            break;
        }
        size_t j = i + 1;
        while (j < d.n && d.tok[j] != tok->eos_id) {
            if (d.tok[j] == tok->bos_id || d.tok[j] == tok->pad_id || d.tok[j] == tok->unk_id) bad++;
            j++;
        }
        if (j >= d.n) {
            bad++;
            break;
        }
        int len = (int)(j + 1 - i);
        const int *doc = d.tok + i;
        char *k = ids_key(doc, len);
        if (keyset_has(&never1->full, k) || keyset_has(&never2->full, k)) leaked++;
        if (keyset_has(&from->full, k)) {
            docs[CORPUS_TASK]++;
        } else {
            double f = dropped_match(from, doc, len);
            int q = f >= 0 ? -1 : drill_match(from, tok, doc, len);
            int rec = 0, copy = q < 0 && f < 0 && len > 4 && doc[1] == tokenizer_id(tok, "copy");
            for (int j = 1; j + 1 < len && q < 0 && f < 0 && !copy; j++)
                rec |= doc[j] == tokenizer_id(tok, "recall") && doc[j + 1] == tokenizer_id(tok, ":");
            int skill = !rec && !copy && q < 0 && f < 0 && is_skill(tok, doc, len);
            if (copy) { /* copy : NAMES . NAMES */
                docs[CORPUS_COPY]++;
                int n = (len - 5) / 2;
                if (len != 2 * n + 5 || doc[2] != tokenizer_id(tok, ":") || doc[3 + n] != tokenizer_id(tok, ".") ||
                    memcmp(doc + 3, doc + 4 + n, (size_t)n * sizeof *doc) || n < CORPUS_COPY_MIN || n > cc->copy_max)
                    bad++;
            } else if (rec) {
                docs[CORPUS_RECALL]++;
                if (!is_skill(tok, doc, len)) bad++;
            } else if (skill) {
                docs[CORPUS_SKILL]++;
                q = questions(tok, doc, len);
                if (q < 1 || q > cc->multi_max || len > CORPUS_DRILL_MAX_TOKENS) bad++;
            } else if (q >= 0) {
                docs[CORPUS_TASK_MULTI]++;
                if (q < 1 || q > cc->multi_max) bad++;
            } else if (f >= 0) {
                docs[CORPUS_TASK_DROPPED]++;
                kept_sum += f;
                if (f < kept_min) kept_min = f;
                if (f > kept_max) kept_max = f;
            } else {
                docs[CORPUS_WORLD]++; /* world text: sentences ending with "." */
                if (len < 4 || strcmp(tok->id_to_piece[doc[len - 2]], ".")) bad++;
            }
        }
        free(k);
        i = j + 1;
    }
    CHECK_MSG(bad == 0, "%s: %ld malformed documents", name, bad);
    CHECK_MSG(leaked == 0, "%s: %ld documents of a split it must not use", name, leaked);
    /* a dropped document whose ratio rounds to dropping nothing is indistinguishable from a plain one; that
     * happens to about one in fifty (binomial), and 3 + n/25 lies above its mean plus three standard deviations
     * for any n, while a generator that stopped dropping would lose them all */
    long lost = part->src_docs[CORPUS_TASK_DROPPED] - docs[CORPUS_TASK_DROPPED];
    CHECK_MSG(lost >= 0 && lost <= 3 + part->src_docs[CORPUS_TASK_DROPPED] / 25, "%s: %ld dropped documents missing",
              name, lost);
    docs[CORPUS_TASK_DROPPED] += lost;
    docs[CORPUS_TASK] -= lost;
    for (int s = 0; s < CORPUS_N_SOURCES; s++)
        CHECK_MSG(docs[s] == part->src_docs[s], "%s: %ld %s documents found, summary says %ld", name, docs[s],
                  corpus_source_names[s], part->src_docs[s]);
    long nd = docs[CORPUS_TASK_DROPPED];
    CHECK_MSG(nd > 0 && docs[CORPUS_TASK_MULTI] > 0 && docs[CORPUS_SKILL] > 0, "%s: no dropped, drill or skill documents",
              name);
    if (nd > 0) {
        double mean = kept_sum / (double)nd, expect = (cc->keep_min + 1) / 2;
        printf("  %s: %ld world, %ld task, %ld dropped (kept %.2f..%.2f, mean %.3f), %ld drills, %ld skill, %ld recall, "
               "%ld copy\n", name, docs[0], docs[1], nd, kept_min, kept_max, mean, docs[CORPUS_TASK_MULTI],
               docs[CORPUS_SKILL], docs[CORPUS_RECALL], docs[CORPUS_COPY]);
        CHECK_MSG(kept_min >= cc->keep_min - 0.02 && kept_max <= 1.0, "%s: kept fraction %.3f..%.3f", name, kept_min,
                  kept_max);
        /* 4 standard deviations: of a mean of nd uniform ratios, and of a binomial share */
        double sd_mean = (1 - cc->keep_min) / sqrt(12.0 * (double)nd);
        CHECK_MSG(fabs(mean - expect) < 4 * sd_mean + 0.01, "%s: mean kept fraction %.3f, expected ~%.2f", name, mean,
                  expect);
        long nt = nd + docs[CORPUS_TASK] + docs[CORPUS_TASK_MULTI];
        double share = (double)nd / (double)nt, sd_share = sqrt(cc->drop_frac * (1 - cc->drop_frac) / (double)nt);
        CHECK_MSG(fabs(share - cc->drop_frac) < 4 * sd_share, "%s: %.3f of task documents dropped, expected %.2f",
                  name, share, cc->drop_frac);
    }
    double wf = (double)part->src_tokens[CORPUS_WORLD] / (double)part->tokens;
    CHECK_MSG(fabs(wf - cc->world_frac) < 0.02, "%s: world share %.3f, expected %.2f", name, wf, cc->world_frac);
    const int shared[3] = {CORPUS_SKILL, CORPUS_RECALL, CORPUS_COPY};
    const double want[3] = {cc->skill_frac, cc->recall_frac, cc->copy_frac};
    for (int k = 0; k < 3; k++) {
        double sh = (double)part->src_tokens[shared[k]] / (double)part->tokens;
        CHECK_MSG(fabs(sh - want[k]) < 0.02, "%s: %s share %.3f, expected %.2f", name, corpus_source_names[shared[k]], sh,
                  want[k]);
    }
    /* the apps take turns: equally many task documents each (up to one) */
    long lo = part->app_docs[0], hi = lo;
    for (int a = 1; a < APPS_N; a++) {
        if (part->app_docs[a] < lo) lo = part->app_docs[a];
        if (part->app_docs[a] > hi) hi = part->app_docs[a];
    }
    CHECK_MSG(hi - lo <= 1, "%s: task documents per app range %ld..%ld", name, lo, hi);
    data_free(&d);
}

TEST(corpus_streams_are_well_formed_and_split_clean) {
    DataGenConfig c = small_config();
    const char *dir = test_tmpdir();
    DataGenSummary s;
    Err e;
    CHECK_MSG(gen(dir, 17, &c, &s, &e) == 0, "%s", e.msg);
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    Tokenizer tok;
    CHECK_MSG(tokenizer_load(&tok, path, &e) == 0, "%s", e.msg);
    CHECK(tok.vocab_size == s.vocab_size && tok.pad_id == 0 && tok.unk_id == 1 && tok.bos_id == 2 && tok.eos_id == 3);
    RefSet train, dev, test;
    refs_build(t, &train, dir, 0, &tok);
    refs_build(t, &dev, dir, 1, &tok);
    refs_build(t, &test, dir, 2, &tok);
    /* no item of any split has an unknown word */
    const RefSet *all[3] = {&train, &dev, &test};
    int unk = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < all[k]->n; i++) {
            const EncodedItem *x = &all[k]->r[i].x;
            for (int j = 0; j < x->n_system; j++) unk += x->system[j] == tok.unk_id;
            for (int j = 0; j < x->n_query; j++) unk += x->query[j] == tok.unk_id;
            for (int ch = 0; ch < x->n_choices; ch++)
                for (int j = 0; j < x->choice_len[ch]; j++) unk += x->choices[ch][j] == tok.unk_id;
        }
    CHECK_MSG(unk == 0, "%d unknown tokens in the items", unk);
    /* train.bin never holds a dev or test document, val.bin never a train or test one */
    check_stream(t, dir, "train.bin", &tok, &train, &dev, &test, &s.train, &c.corpus);
    check_stream(t, dir, "val.bin", &tok, &dev, &train, &test, &s.val, &c.corpus);
    refs_free(&train);
    refs_free(&dev);
    refs_free(&test);
    tokenizer_free(&tok);

    /* the manifest agrees with the summary */
    size_t len;
    char *txt = read_all(dir, "data.json", &len);
    cJSON *m = txt ? cJSON_Parse(txt) : NULL;
    CHECK_MSG(m != NULL, "data.json does not parse");
    if (m) {
        CHECK(json_long(m, "seed", NULL, NULL, NULL) == 17);
        CHECK(json_long(m, "vocab_size", NULL, NULL, NULL) == s.vocab_size);
        CHECK(json_long(m, "apps", "uinav", "items", "test") == 500);
        CHECK(json_long(m, "apps", "funcall", "choices", NULL) == 21);
        CHECK(json_long(m, "corpus", "train", "tokens", NULL) == s.train.tokens);
        CHECK(json_long(m, "corpus", "val", "docs", NULL) == s.val.docs);
        long longest = json_long(m, "longest_prompt_with_choice", NULL, NULL, NULL);
        CHECK_MSG(longest > 200 && longest <= DATAGEN_MAX_CONTEXT, "longest prompt + choice %ld", longest);
        CHECK(json_long(m, "apps", "uinav", "prompt_tokens", "test") == -1); /* an object, not a number */
    }
    cJSON_Delete(m);
    free(txt);
    /* prompts: uinav the longest, every knowledge prompt short */
    for (int a = 0; a < APPS_N; a++) {
        const PromptStats *p = &s.prompt[a][2];
        CHECK_MSG(p->max_with_choice <= DATAGEN_MAX_CONTEXT, "%s: %d tokens", apps_table[a].name, p->max_with_choice);
        if (a != 3) CHECK_MSG(p->max < s.prompt[3][2].min, "%s prompts are not shorter than uinav's", apps_table[a].name);
        if (a != 3) CHECK_MSG(p->p90 < 200, "%s: p90 prompt %d tokens", apps_table[a].name, p->p90);
    }
}

TEST(corpus_cli_data_gen) {
    char *out = NULL, args[1400];
    snprintf(args, sizeof args, "data gen --out '%s/d' --seed 3 --train 60 --dev 30 --test 40 --tokens 20000 "
                                "--val-tokens 5000",
             test_tmpdir());
    int rc = test_run_cli(args, &out);
    CHECK_MSG(rc == 0 && strstr(out, "vocabulary") && strstr(out, "train.bin") && strstr(out, "uinav"), "rc %d: %s", rc,
              out);
    free(out);
    char path[1024];
    snprintf(path, sizeof path, "%s/d/items/reading/test.jsonl", test_tmpdir());
    ItemSet s;
    Err e;
    CHECK_MSG(items_read(&s, path, &e) == 0 && s.n == 40, "%s", e.msg);
    items_free(&s);
    const char *bad[] = {"data gen --world-frac 2", "data gen --bogus 1", "data frob", "data gen --test x",
                         "data gen --train 0 --out never-written"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = test_run_cli(bad[i], &out);
        CHECK_MSG(rc == 2 && strstr(out, "elms data") , "'%s' gave %d: %s", bad[i], rc, out);
        free(out);
    }
    snprintf(args, sizeof args, "data gen --out '%s/file/sub' --items-only --train 10 --dev 10 --test 10",
             test_tmpdir());
    snprintf(path, sizeof path, "%s/file", test_tmpdir());
    CHECK(io_write_atomic(path, "x", 1, &e) == 0); /* a file where a directory must go */
    rc = test_run_cli(args, &out);
    CHECK_MSG(rc == 1 && strstr(out, "elms data: "), "rc %d: %s", rc, out);
    free(out);
    /* a second run replaces the directory as a whole and leaves no temporary sibling behind */
    snprintf(args, sizeof args, "data gen --out '%s/d' --seed 4 --items-only --train 5 --dev 5 --test 7", test_tmpdir());
    rc = test_run_cli(args, &out);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, out);
    free(out);
    snprintf(path, sizeof path, "%s/d/items/reading/test.jsonl", test_tmpdir());
    CHECK_MSG(items_read(&s, path, &e) == 0 && s.n == 7, "%s", e.msg);
    items_free(&s);
    snprintf(path, sizeof path, "%s/d/corpus", test_tmpdir());
    CHECK_MSG(access(path, F_OK) != 0, "the old corpus survived the replacement");
    snprintf(args, sizeof args, "test $(ls -a '%s' | wc -l) -eq 4", test_tmpdir()); /* . .. d file */
    CHECK_MSG(system(args) == 0, "leftovers next to the data directory");
    rc = test_run_cli("data gen --help", &out);
    CHECK_MSG(rc == 0 && strstr(out, "--tokens"), "rc %d: %s", rc, out);
    free(out);
}

/* The recall lists: after "recall :" every list entry ("KEY.. NAME ;") of the same document again, each once, in
 * another order; with recall_frac 0 the vocabulary has no "recall". */
TEST(corpus_recall_lists_repeat_their_entries) {
    DataGenConfig c = small_config();
    c.apps.n_split[2] = 50;
    c.corpus.recall_frac = 0.3;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/r", test_tmpdir());
    DataGenSummary s;
    Err e;
    CHECK_MSG(gen(dir, 19, &c, &s, &e) == 0, "%s", e.msg);
    CHECK_MSG(fabs((double)s.train.src_tokens[CORPUS_RECALL] / (double)s.train.tokens - 0.3) < 0.02,
              "recall share %ld of %ld", s.train.src_tokens[CORPUS_RECALL], s.train.tokens);
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    Tokenizer tok;
    CHECK_MSG(tokenizer_load(&tok, path, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/corpus/train.bin", dir);
    TokenData d;
    CHECK_MSG(data_load(&d, path, tok.vocab_size, &e) == 0, "%s", e.msg);
    int recall = tokenizer_id(&tok, "recall"), colon = tokenizer_id(&tok, ":"), semi = tokenizer_id(&tok, ";");
    long docs = 0, entries = 0, bad = 0, unk = 0;
    for (size_t i = 0; i < d.n; i++) unk += d.tok[i] == tok.unk_id;
    for (size_t i = 0; i + 1 < d.n; i++) {
        if (d.tok[i] != recall || d.tok[i + 1] != colon) continue;
        size_t b = i, end = i;
        while (b > 0 && d.tok[b] != tok.bos_id) b--;
        while (end < d.n && d.tok[end] != tok.eos_id) end++;
        docs++;
        KeySet listed, recalled;
        keyset_init(&listed);
        keyset_init(&recalled);
        size_t h = b;
        while (h < i && d.tok[h] != colon) h++; /* the list follows the header's ":" */
        for (size_t start = h + 1, j = h + 1; j < i; j++)
            if (d.tok[j] == semi) {
                char *k = ids_key(d.tok + start, (int)(j - start));
                keyset_add(&listed, k);
                free(k);
                start = j + 1;
            }
        for (size_t start = i + 2, j = i + 2; j < end; j++)
            if (d.tok[j] == semi) {
                char *k = ids_key(d.tok + start, (int)(j - start));
                bad += !keyset_has(&listed, k) || keyset_add(&recalled, k) != 1;
                free(k);
                entries++;
                start = j + 1;
            }
        bad += recalled.n != listed.n || listed.n < 2;
        keyset_free(&listed);
        keyset_free(&recalled);
        i = end;
    }
    printf("  %ld recall lists, %ld entries recalled, %ld bad\n", docs, entries, bad);
    CHECK_MSG(docs > 0 && bad == 0 && unk == 0, "%ld recall lists, %ld bad, %ld unknown tokens", docs, bad, unk);
    data_free(&d);
    tokenizer_free(&tok);
    c.corpus.recall_frac = 0;
    CHECK_MSG(gen(dir, 19, &c, &s, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK_MSG(tokenizer_load(&tok, path, &e) == 0, "%s", e.msg);
    CHECK(tokenizer_id(&tok, "recall") == -1 && s.train.src_docs[CORPUS_RECALL] == 0);
    CHECK(tokenizer_id(&tok, "copy") >= 0 && s.train.src_docs[CORPUS_COPY] > 0);
    tokenizer_free(&tok);
}

/* --tokenizer: a corpus generated with another mix reuses a data directory's token ids exactly (the same
 * tokenizer.json bytes; the same words under the same ids), a tokenizer that lacks a word is refused with the word
 * named, copy_max bounds the copy documents, and copy_all_words draws them from the whole vocabulary. */
TEST(corpus_shared_tokenizer_and_copy_max) {
    DataGenConfig c = small_config();
    char a[600], b[600], x[600], lack[700];
    tmp_dirs(a, b, x);
    DataGenSummary s;
    Err e;
    CHECK_MSG(gen(a, 13, &c, &s, &e) == 0, "%s", e.msg);
    char tok_a[700];
    snprintf(tok_a, sizeof tok_a, "%s/tokenizer.json", a);
    DataGenConfig d = copy_config(4);
    d.corpus.copy_all_words = 1;
    d.tokenizer = tok_a;
    CHECK_MSG(gen(b, 13, &d, &s, &e) == 0, "%s", e.msg);
    size_t la = 0, lb = 0;
    char *pa = read_all(a, "tokenizer.json", &la), *pb = read_all(b, "tokenizer.json", &lb);
    CHECK_MSG(pa && pb && la == lb && !memcmp(pa, pb, la), "the given tokenizer was not used as is");
    free(pa);
    free(pb);
    /* every copy document of b has 2..4 names */
    Tokenizer tok;
    CHECK_MSG(tokenizer_load(&tok, tok_a, &e) == 0, "%s", e.msg);
    TokenData td;
    char path[800];
    snprintf(path, sizeof path, "%s/corpus/train.bin", b);
    CHECK_MSG(data_load(&td, path, tok.vocab_size, &e) == 0, "%s", e.msg);
    int copy = tokenizer_id(&tok, "copy"), docs = 0, bad = 0, distinct = 0;
    char *seen = calloc((size_t)tok.vocab_size, 1);
    for (size_t i = 0; i + 2 < td.n; i++)
        if (td.tok[i] == tok.bos_id && td.tok[i + 1] == copy) {
            size_t j = i + 1;
            while (j < td.n && td.tok[j] != tok.eos_id) j++;
            long n = ((long)(j - i) + 1 - 5) / 2;
            docs++;
            bad += n < 2 || n > 4;
            for (long k = 0; k < n; k++) seen[td.tok[i + 3 + k]] = 1;
        }
    for (int k = 0; k < tok.vocab_size; k++) distinct += seen[k];
    free(seen);
    CHECK_MSG(docs > 100 && bad == 0, "%d copy documents, %d outside 2..4 names", docs, bad);
    /* copy_all_words: far more distinct words than the world's invented names */
    CHECK_MSG(distinct > 700, "copy documents use %d distinct words", distinct);
    data_free(&td);
    /* a tokenizer without the generated words */
    const char *pieces[6] = {"[PAD]", "[UNK]", "[BOS]", "[EOS]", "copy", ":"};
    Tokenizer small;
    CHECK_MSG(tokenizer_from_vocab(&small, pieces, 6, "[UNK]", &e) == 0, "%s", e.msg);
    snprintf(lack, sizeof lack, "%s/small.json", test_tmpdir());
    CHECK_MSG(tokenizer_save(&small, lack, &e) == 0, "%s", e.msg);
    tokenizer_free(&small);
    d.tokenizer = lack;
    CHECK(gen(x, 13, &d, &s, &e) != 0 && strstr(e.msg, "--tokenizer") && strstr(e.msg, "lacks"));
    d.tokenizer = NULL;
    d.corpus.copy_max = 1;
    CHECK(gen(x, 13, &d, &s, &e) != 0 && strstr(e.msg, "copy_max"));
    tokenizer_free(&tok);
}

/* copy_docs_distinct: over the copy documents of DIR's train.bin, how many there are, how many have at most
 * max(2, n/3) distinct words among their n, and how many do not repeat their words exactly after the ".". */
static void copy_docs_distinct(TestCtx *t, const char *dir, int *docs, int *few, int *bad) {
    Tokenizer tok;
    Err e;
    char path[800];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK_MSG(tokenizer_load(&tok, path, &e) == 0, "%s", e.msg);
    TokenData td;
    snprintf(path, sizeof path, "%s/corpus/train.bin", dir);
    CHECK_MSG(data_load(&td, path, tok.vocab_size, &e) == 0, "%s", e.msg);
    int copy = tokenizer_id(&tok, "copy");
    *docs = *few = *bad = 0;
    for (size_t i = 0; i + 2 < td.n; i++) {
        if (td.tok[i] != tok.bos_id || td.tok[i + 1] != copy) continue;
        size_t j = i + 1;
        while (j < td.n && td.tok[j] != tok.eos_id) j++;
        int n = (int)(((long)(j - i) + 1 - 5) / 2), distinct = 0;
        const int *w = td.tok + i + 3;
        for (int a = 0; a < n; a++) {
            int seen = 0;
            for (int b = 0; b < a; b++) seen |= w[b] == w[a];
            distinct += !seen;
            *bad += w[a] != w[n + 1 + a];
        }
        (*docs)++;
        *few += distinct <= (n / 3 > 2 ? n / 3 : 2);
    }
    data_free(&td);
    tokenizer_free(&tok);
}

/* copy_repeat_frac: 1 makes every copy document draw its words from max(2, n/3) words (so a word is followed by
 * different words and only longer contexts continue the copy); 0 draws them from the whole vocabulary; the copy
 * stays exact either way; a fraction outside [0, 1] is refused. */
TEST(corpus_copy_repeat_documents) {
    DataGenSummary s;
    Err e;
    int docs[2], few[2], bad[2];
    for (int k = 0; k < 2; k++) {
        DataGenConfig c = copy_config(12);
        c.corpus.copy_repeat_frac = k;
        char dir[600];
        snprintf(dir, sizeof dir, "%s/r%d", test_tmpdir(), k);
        CHECK_MSG(gen(dir, 13, &c, &s, &e) == 0, "%s", e.msg);
        copy_docs_distinct(t, dir, &docs[k], &few[k], &bad[k]);
    }
    CHECK_MSG(docs[1] > 1000 && few[1] == docs[1] && bad[1] == 0, "repeat: %d of %d documents with few words, %d miscopied",
              few[1], docs[1], bad[1]);
    /* without repeats only the shortest documents (2..5 words, where max(2, n/3) words can be all) qualify */
    CHECK_MSG(docs[0] > 1000 && few[0] < docs[0] / 2 && bad[0] == 0, "plain: %d of %d documents with few words, %d miscopied",
              few[0], docs[0], bad[0]);
    DataGenConfig c = small_config();
    c.corpus.copy_repeat_frac = 1.5;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/rbad", test_tmpdir());
    CHECK(gen(dir, 13, &c, &s, &e) != 0 && strstr(e.msg, "copy_repeat_frac"));
}
