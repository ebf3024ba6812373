/* elms data gen: generate the six apps' items, the tokenizer and the training corpus into a data directory
 * (datasets/datagen.h), printing progress and a summary of sizes and token counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "datasets/datagen.h"

typedef struct StageCtx {
    Progress p;
} StageCtx;

static void on_stage(void *ctx, const char *name, long done, long total) {
    StageCtx *s = ctx;
    if (done == 0) {
        progress_start(&s->p, name, total);
    } else {
        progress_update(&s->p, done);
        progress_finish(&s->p);
    }
}

static void print_summary(const char *dir, unsigned long seed, const DataGenConfig *c, const DataGenSummary *s) {
    printf("data %s (seed %lu): vocabulary %d tokens\n", dir, seed, s->vocab_size);
    printf("%-9s %-11s %7s %7s %7s %7s %7s %7s %9s\n", "app", "mirrors", "train", "dev", "test", "p50", "p90",
           "max", "max+ans");
    for (int a = 0; a < APPS_N; a++) {
        const PromptStats *ps = &s->prompt[a][2];
        printf("%-9s %-11s %7d %7d %7d %7d %7d %7d %9d\n", apps_table[a].name, apps_table[a].mirrors,
               s->n_items[a][0], s->n_items[a][1], s->n_items[a][2], ps->p50, ps->p90, ps->max, ps->max_with_choice);
    }
    if (c->items_only) return;
    const CorpusPart *parts[2] = {&s->train, &s->val};
    const char *names[2] = {"train.bin", "val.bin"};
    for (int i = 0; i < 2; i++) {
        const CorpusPart *p = parts[i];
        printf("%s: %ld tokens in %ld documents:", names[i], p->tokens, p->docs);
        for (int k = 0; k < CORPUS_N_SOURCES; k++)
            printf(" %s %ld (%.1f%%)", corpus_source_names[k], p->src_tokens[k],
                   p->tokens ? 100.0 * (double)p->src_tokens[k] / (double)p->tokens : 0.0);
        printf("\n  task tokens per app:");
        for (int a = 0; a < APPS_N; a++) printf(" %s %ld", apps_table[a].name, p->app_tokens[a]);
        printf("\n");
    }
}

/* fraction_arg: the flag's value as a fraction in [0, 1]; nonzero (after a message) when it is not one. */
static int fraction_arg(const CliFlag *fl, double *out) {
    if (cli_double("data", fl->name, fl->value, out)) return 1;
    if (!(*out >= 0 && *out <= 1)) {
        fprintf(stderr, "elms data: --%s expects a fraction in [0, 1], got '%s'\n", fl->name, fl->value);
        return 1;
    }
    return 0;
}

static int cmd_gen(int argc, char **argv) {
    DataGenConfig c;
    datagen_config_default(&c);
    char d_train[32], d_dev[32], d_test[32], d_ent[32], d_tok[32], d_val[32], d_wf[32], d_df[32], d_km[32], d_mf[32], d_sf[32], d_rf[32], d_cf[32], d_cm[32], d_cr[32];
    snprintf(d_train, sizeof d_train, "%d", c.apps.n_split[0]);
    snprintf(d_dev, sizeof d_dev, "%d", c.apps.n_split[1]);
    snprintf(d_test, sizeof d_test, "%d", c.apps.n_split[2]);
    snprintf(d_ent, sizeof d_ent, "%d", c.apps.world.n_entities);
    snprintf(d_tok, sizeof d_tok, "%ld", c.corpus.train_tokens);
    snprintf(d_val, sizeof d_val, "%ld", c.corpus.val_tokens);
    snprintf(d_wf, sizeof d_wf, "%g", c.corpus.world_frac);
    snprintf(d_df, sizeof d_df, "%g", c.corpus.drop_frac);
    snprintf(d_km, sizeof d_km, "%g", c.corpus.keep_min);
    snprintf(d_mf, sizeof d_mf, "%g", c.corpus.multi_frac);
    snprintf(d_sf, sizeof d_sf, "%g", c.corpus.skill_frac);
    snprintf(d_rf, sizeof d_rf, "%g", c.corpus.recall_frac);
    snprintf(d_cf, sizeof d_cf, "%g", c.corpus.copy_frac);
    snprintf(d_cm, sizeof d_cm, "%d", c.corpus.copy_max);
    snprintf(d_cr, sizeof d_cr, "%g", c.corpus.copy_repeat_frac);
    CliFlag fl[] = {
        {"out", "DIR", "data directory to write", "data"},
        {"seed", "S", "seed of everything generated", "1"},
        {"train", "N", "train items per app", d_train},
        {"dev", "N", "dev items per app", d_dev},
        {"test", "N", "test items per app", d_test},
        {"entities", "N", "creatures in the world (how much the knowledge apps must memorise)", d_ent},
        {"tokens", "N", "target tokens of corpus/train.bin", d_tok},
        {"val-tokens", "N", "target tokens of corpus/val.bin", d_val},
        {"world-frac", "F", "share of corpus tokens from world text", d_wf},
        {"drop-frac", "F", "share of task documents with dropped system tokens", d_df},
        {"keep-min", "F", "lowest kept fraction of a dropped document's system tokens", d_km},
        {"multi-frac", "F", "share of the in-context apps' other documents that are drills (several questions)", d_mf},
        {"skill-frac", "F", "share of corpus tokens from skill drills (fresh short lists and passages)", d_sf},
        {"recall-frac", "F", "share of corpus tokens from recall lists (a fresh list, then every entry again)", d_rf},
        {"copy-frac", "F", "share of corpus tokens from copy documents (random words, then the same again)", d_cf},
        {"items-only", NULL, "write items, tokenizer.json and data.json but no corpus", NULL},
        {"copy-max", "N", "most words in a copy document (2..64)", d_cm},
        {"copy-names-only", NULL, "copy documents draw only from the invented names (default: the whole vocabulary)", NULL},
        {"tokenizer", "FILE", "use this tokenizer.json instead of building one (it must hold every word used), so "
                              "that a corpus with another mix shares another data directory's token ids", NULL},
        {"copy-repeat-frac", "F", "share of copy documents drawn from a few words, so that copying needs more than "
                                  "the last word", d_cr},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms data gen --out DIR [--seed S] [--train N --dev N --test N] [--tokens N] ...",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    long seed, v[7];
    if (cli_int("data", "seed", fl[1].value, 0, 4294967295L, &seed) || cli_int("data", "train", fl[2].value, 0, 1000000, &v[0]) ||
        cli_int("data", "dev", fl[3].value, 0, 1000000, &v[1]) || cli_int("data", "test", fl[4].value, 0, 1000000, &v[2]) ||
        cli_int("data", "entities", fl[5].value, 24, 5000, &v[3]) ||
        cli_int("data", "tokens", fl[6].value, 1000, 2000000000L, &v[4]) ||
        cli_int("data", "val-tokens", fl[7].value, 1000, 2000000000L, &v[5]))
        return 2;
    double f[7];
    for (int i = 0; i < 7; i++)
        if (fraction_arg(&fl[8 + i], &f[i])) return 2;
    c.apps.n_split[0] = (int)v[0];
    c.apps.n_split[1] = (int)v[1];
    c.apps.n_split[2] = (int)v[2];
    c.apps.world.n_entities = (int)v[3];
    c.corpus.train_tokens = v[4];
    c.corpus.val_tokens = v[5];
    c.corpus.world_frac = f[0];
    c.corpus.drop_frac = f[1];
    c.corpus.keep_min = f[2];
    c.corpus.multi_frac = f[3];
    c.corpus.skill_frac = f[4];
    c.corpus.recall_frac = f[5];
    c.corpus.copy_frac = f[6];
    c.items_only = fl[15].value != NULL;
    long copy_max;
    if (cli_int("data", "copy-max", fl[16].value, CORPUS_COPY_MIN, CORPUS_COPY_MAX, &copy_max)) return 2;
    c.corpus.copy_max = (int)copy_max;
    c.corpus.copy_all_words = fl[17].value == NULL;
    c.tokenizer = fl[18].value;
    if (fraction_arg(&fl[19], &c.corpus.copy_repeat_frac)) return 2;
    if (!c.items_only && (c.apps.n_split[0] == 0 || c.apps.n_split[1] == 0)) {
        fprintf(stderr, "elms data: the corpus needs train and dev items (or pass --items-only)\n");
        return 2;
    }
    StageCtx sc;
    c.progress = on_stage;
    c.progress_ctx = &sc;
    DataGenSummary s;
    Err e;
    if (datagen_run(fl[0].value, (unsigned long)seed, &c, &s, &e) != 0) return cli_error("data", "%s", e.msg);
    print_summary(fl[0].value, (unsigned long)seed, &c, &s);
    return 0;
}

static int cmd_data(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "gen")) {
        char **sub = malloc((size_t)argc * sizeof *sub);
        if (!sub) return cli_error("data", "out of memory");
        sub[0] = argv[0];
        for (int i = 2; i < argc; i++) sub[i - 1] = argv[i];
        int rc = cmd_gen(argc - 1, sub);
        free(sub);
        return rc;
    }
    FILE *f = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
    fprintf(f, "usage: elms data gen --out DIR [options]   (elms data gen --help for the options)\n");
    if (f == stderr && argc >= 2) fprintf(stderr, "elms data: unknown subcommand '%s'\n", argv[1]);
    return f == stdout ? 0 : 2;
}

CLI_COMMAND("data", "generate the six apps, the tokenizer and the training corpus", cmd_data)
