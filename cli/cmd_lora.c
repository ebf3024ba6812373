/* elms lora: LoRA recovery adapters for the levels of an elastic model, trained on the training corpus with the
 * base frozen at each level's view (elastic/recover.h), stored as DIR/lora/level-0.X.safetensors. Resumable:
 * finished adapters are skipped, an interrupted one continues from its checkpoint. Ends with the measured
 * switch time (view + adapter pointer) in microseconds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "elastic/recover.h"
#include "engine/io.h"
#include "sim/profile.h"

/* parse_levels: "0.2,0.5" into levels (each one of LEVELS below 1.0); returns the count or -1. */
static int parse_levels(const char *s, double *out, int cap) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        int li = end != p ? levels_index(v) : -1;
        if (li < 0 || li == N_LEVELS - 1 || n >= cap || (*end && *end != ',')) {
            fprintf(stderr, "elms lora: --levels expects levels among 0.2,0.3,...,0.9 separated by commas, got '%s'\n",
                    s);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (out[i] == LEVELS[li]) {
                fprintf(stderr, "elms lora: --levels lists %.1f twice\n", LEVELS[li]);
                return -1;
            }
        out[n++] = LEVELS[li];
        p = *end ? end + 1 : end;
    }
    if (n == 0) fprintf(stderr, "elms lora: --levels is empty\n");
    return n ? n : -1;
}

typedef struct LogCtx {
    double level;
    long steps, every;
} LogCtx;

static int log_step(void *ctx, const TrainLogRow *row) {
    const LogCtx *c = ctx;
    if (row->step % c->every == 0 || row->step == c->steps || row->step == 1) {
        double eta = row->step > 0 ? row->elapsed_s / (double)row->step * (double)(c->steps - row->step) : 0.0;
        fprintf(stderr, "level %.1f step %ld/%ld loss %.4f lr %.2e %.0f tok/s elapsed %.1fs eta %.0fs%s\n", c->level,
                row->step, c->steps, row->loss, (double)row->lr, row->tokens_per_s, row->elapsed_s, eta,
                row->checkpointed ? " (checkpoint)" : "");
    }
    return 0;
}

static int cmd_lora(int argc, char **argv) {
    RecoverOpts def; /* the defaults below are recover_opts_default's (the shipped adapters') */
    ModelConfig any = {.max_seq = 1 << 20};
    recover_opts_default(&def, &any);
    char d_steps[24], d_rank[16], d_alpha[24], d_batch[16], d_lr[24], d_ckpt[24], d_eval[24];
    snprintf(d_steps, sizeof d_steps, "%ld", def.train.steps);
    snprintf(d_rank, sizeof d_rank, "%d", def.rank);
    snprintf(d_alpha, sizeof d_alpha, "%g", (double)def.alpha);
    snprintf(d_batch, sizeof d_batch, "%d", def.train.batch);
    snprintf(d_lr, sizeof d_lr, "%g", (double)def.train.lr);
    snprintf(d_ckpt, sizeof d_ckpt, "%ld", def.ckpt_every);
    snprintf(d_eval, sizeof d_eval, "%ld", def.eval_windows);
    CliFlag fl[] = {
        {"model", "DIR", "elastic model directory (elms reorder's output)", NULL},
        {"data", "DIR", "data directory: trains on DIR/corpus/train.bin, reports loss on DIR/corpus/val.bin", "data"},
        {"corpus", "FILE", "training token file instead of DATA/corpus/train.bin", NULL},
        {"levels", "LIST", "levels to train", "0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"},
        {"steps", "N", "optimizer steps per adapter", d_steps},
        {"rank", "R", "LoRA rank", d_rank},
        {"alpha", "A", "LoRA alpha", d_alpha},
        {"seed", "S", "seed of the data order and adapter initialisation", "1"},
        {"batch", "B", "sequences per step", d_batch},
        {"seq", "T", "tokens per sequence (default min(128, context))", NULL},
        {"lr", "LR", "peak learning rate (cosine to a tenth, 10% warm-up)", d_lr},
        {"ckpt-every", "N", "steps between checkpoints", d_ckpt},
        {"eval-windows", "N", "windows for the loss before / after each adapter", d_eval},
        {"force", NULL, "retrain adapters that already exist", NULL},
        {"switch-reps", "N", "level switches timed for the switch-time figure", "1000000"},
        {"profile", "NAME", "latency profile (name in sim/profiles/ or a path) the switch time is compared with",
         "host"},
        {"prompt-tokens", "N", "prompt length of the level-1.0 TTFT the switch time is compared with", "128"},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms lora --model DIR --data DIR [--levels 0.2,...,0.9] --steps N --rank 8 "
                                   "--alpha 16 --seed S",
                       fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value) {
        fprintf(stderr, "elms lora: --model is required (see --help)\n");
        return 2;
    }
    double levels[N_LEVELS], alpha, lr;
    int n_levels = parse_levels(fl[3].value, levels, N_LEVELS);
    long steps, rank, seed, batch, seq = 0, ckpt_every, eval_windows, reps, prompt_tokens;
    if (n_levels < 0 || cli_int("lora", "steps", fl[4].value, 1, 100000000L, &steps) ||
        cli_int("lora", "rank", fl[5].value, 1, 256, &rank) || cli_double("lora", "alpha", fl[6].value, &alpha) ||
        cli_int("lora", "seed", fl[7].value, 0, 4294967295L, &seed) ||
        cli_int("lora", "batch", fl[8].value, 1, 4096, &batch) ||
        (fl[9].value && cli_int("lora", "seq", fl[9].value, 1, 1 << 20, &seq)) ||
        cli_double("lora", "lr", fl[10].value, &lr) ||
        cli_int("lora", "ckpt-every", fl[11].value, 0, 100000000L, &ckpt_every) ||
        cli_int("lora", "eval-windows", fl[12].value, 0, 100000000L, &eval_windows) ||
        cli_int("lora", "switch-reps", fl[14].value, 1, 1000000000L, &reps) ||
        cli_int("lora", "prompt-tokens", fl[16].value, 1, 1 << 20, &prompt_tokens))
        return 2;
    if (!(alpha > 0) || !(lr > 0)) {
        fprintf(stderr, "elms lora: --alpha and --lr expect positive numbers\n");
        return 2;
    }
    const char *dir = fl[0].value;
    char corpus[2048], val[2048], meta[2200];
    if (fl[2].value) snprintf(corpus, sizeof corpus, "%s", fl[2].value);
    else snprintf(corpus, sizeof corpus, "%s/corpus/train.bin", fl[1].value);
    snprintf(val, sizeof val, "%s/corpus/val.bin", fl[1].value);
    snprintf(meta, sizeof meta, "%s/elastic.json", dir);

    Err e;
    Model m;
    if (model_load(&m, dir, &e)) return cli_error("lora", "%s", e.msg);
    int rc = 1;
    TokenData train = {0}, eval = {0};
    LevelSet set;
    memset(&set, 0, sizeof set);
    unsigned char anchor[ELMS_MAX_LAYERS];
    int n_anchors = 0;
    if (!path_is_file(meta)) fprintf(stderr, "elms lora: note: %s has no elastic.json (no anchors, original unit order)\n", dir);
    if (levels_read_anchors(dir, m.cfg.n_layers, anchor, &n_anchors, &e) ||
        data_load(&train, corpus, m.cfg.vocab_size, &e) ||
        (!fl[2].value && path_is_file(val) && data_load(&eval, val, m.cfg.vocab_size, &e))) {
        cli_error("lora", "%s", e.msg);
        goto done;
    }
    RecoverOpts o;
    recover_opts_default(&o, &m.cfg);
    o.rank = (int)rank;
    o.alpha = (float)alpha;
    o.train.steps = steps;
    o.train.batch = (int)batch;
    if (seq) o.train.seq = (int)seq;
    if (o.train.seq > m.cfg.max_seq) {
        cli_error("lora", "--seq %d exceeds the model context of %d", o.train.seq, m.cfg.max_seq);
        goto done;
    }
    o.train.lr = (float)lr;
    o.train.min_lr = (float)lr / 10.0f;
    o.train.warmup = steps / 10;
    o.train.seed = (unsigned long)seed;
    o.init_seed = (unsigned long)seed;
    o.ckpt_every = ckpt_every;
    o.eval = eval.tok ? &eval : NULL;
    o.eval_windows = eval_windows;
    o.log = log_step;
    printf("lora: %d anchors, rank %d, alpha %g, %ld steps of %d x %d tokens per level, eval on %s\n", n_anchors,
           o.rank, (double)o.alpha, steps, o.train.batch, o.train.seq, o.eval ? "corpus/val.bin" : "the training corpus");
    fflush(stdout);
    double cpu = 0.0, wall = 0.0;
    for (int i = 0; i < n_levels; i++) {
        LogCtx lc = {levels[i], steps, steps >= 20 ? steps / 20 : 1};
        o.log_ctx = &lc;
        RecoverResult r;
        if (recover_level(&m, anchor, levels[i], &train, dir, &o, fl[13].value != NULL, &r, &e)) {
            cli_error("lora", "%s", e.msg);
            goto done;
        }
        if (r.skipped) {
            printf("level %.1f adapter exists, skipped (--force retrains)\n", levels[i]);
            continue;
        }
        cpu += r.cpu_s;
        wall += r.wall_s;
        printf("level %.1f loss_before %.4f loss_after %.4f steps %ld%s cpu_s %.1f wall_s %.1f\n", levels[i],
               r.loss_before, r.loss_after, r.steps, r.resumed ? " (resumed)" : "", r.cpu_s, r.wall_s);
        fflush(stdout);
    }
    printf("cost lora %.3f cpu_min (%.1f s wall)\n", cpu / 60.0, wall);
    if (levelset_load(&set, &m, dir, true, &e)) {
        cli_error("lora", "%s", e.msg);
        goto done;
    }
    double us = recover_switch_us(&set, reps);
    printf("adapters %d of %d levels loaded, %zu parameters each\n", set.n_lora, N_LEVELS - 1,
           lora_param_count(&m.cfg, o.rank));
    printf("switch_us %.4f (view + adapter pointer, mean of %ld switches)\n", us, reps);
    Profile prof;
    char prof_path[1200];
    profile_resolve(fl[15].value, "sim/profiles", prof_path, sizeof prof_path);
    if (profile_load(&prof, prof_path, &e) == 0) {
        CostShape full = cost_full();
        double ttft_ms = profile_prefill_ms(&prof, &full, (double)prompt_tokens);
        printf("switch_fraction_of_ttft %.3g (profile %s: level 1.0 TTFT of a %ld-token prompt %.3f ms)\n",
               us / 1000.0 / ttft_ms, prof.name, prompt_tokens, ttft_ms);
    } else {
        fprintf(stderr, "elms lora: note: no switch fraction: %s\n", e.msg);
    }
    rc = 0;
done:
    levelset_free(&set);
    data_free(&eval);
    data_free(&train);
    model_free(&m);
    return rc;
}

CLI_COMMAND("lora", "train LoRA recovery adapters for the levels of an elastic model", cmd_lora)
