/* Tests of the tiny LM end to end on a small world: `elms prepare elms` (tlm_build with its defaults) trains every
 * head in seconds and writes a loadable directory; the "tlm" compressor keeps the top-scored tokens in order and
 * exactly the formula's count; the ELMS policy and its ablations decide by their documented rules, checked
 * against a brute-force pricing of every configuration. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/keepmask.h"
#include "datasets/apps.h"
#include "elastic/levels.h"
#include "engine/data.h"
#include "engine/io.h"
#include "policies/build.h"
#include "policies/compressor.h"
#include "policies/feasible.h"
#include "policies/policy.h"
#include "policies/sparsity_select.h"
#include "policies/tlm.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"

#define PER_APP 8

typedef struct TlmWorld {
    SimFixture f;
    char dir[600];
    BuildEnv benv;
    PolicyEnv penv;
    ItemSet dev[APPS_N];
    EncodedItem *enc[APPS_N];
} TlmWorld;

static void write_split(TestCtx *t, TlmWorld *w, const char *app, const char *split, int n, unsigned long seed,
                        bool spans) {
    ItemSet s;
    fixture_items(&s, app, n, seed);
    for (int i = 0; i < s.n; i++) { /* ids unique per split; spans for the apps that have them */
        char id[64];
        snprintf(id, sizeof id, "%s-%s-%d", app, split, i);
        free(s.items[i].id);
        s.items[i].id = strdup(id);
        if (spans) {
            s.items[i].relevant = malloc(sizeof(int[2]));
            s.items[i].relevant[0][0] = 2 + i % 5;
            s.items[i].relevant[0][1] = 6 + i % 5;
            s.items[i].n_relevant = 1;
        }
    }
    char path[1400];
    Err e;
    snprintf(path, sizeof path, "%s/items/%s/%s.jsonl", w->f.data_dir, app, split);
    CHECK_MSG(items_write(&s, path, &e) == 0, "%s", e.msg);
    items_free(&s);
}

static void tw_init_profile(TestCtx *t, TlmWorld *w, unsigned long seed, const char *profile) {
    memset(w, 0, sizeof *w);
    fixture_init(&w->f, profile, PER_APP, seed, NULL);
    snprintf(w->dir, sizeof w->dir, "%s/tlm-%lu", test_tmpdir(), seed);
    fixture_write(&w->f, w->dir, PER_APP, seed);
    Err e;
    for (int a = 0; a < APPS_N; a++) {
        write_split(t, w, apps_table[a].name, "train", 12, seed + 11, a % 2 == 0);
        write_split(t, w, apps_table[a].name, "dev", 4, seed + 12, a % 2 == 0);
        char path[1400];
        snprintf(path, sizeof path, "%s/items/%s/dev.jsonl", w->f.data_dir, apps_table[a].name);
        CHECK(items_read(&w->dev[a], path, &e) == 0);
        w->enc[a] = calloc((size_t)w->dev[a].n, sizeof(EncodedItem));
        for (int i = 0; i < w->dev[a].n; i++) CHECK(item_encode(&w->f.tok, &w->dev[a].items[i], &w->enc[a][i], &e) == 0);
    }
    /* an elastic model: anchors and an adapter per level */
    char path[1400];
    snprintf(path, sizeof path, "%s/elastic.json", w->f.model_dir);
    const char *meta = "{\"anchors\": [0]}";
    CHECK(io_write_atomic(path, meta, strlen(meta), &e) == 0);
    snprintf(path, sizeof path, "%s/lora", w->f.model_dir);
    CHECK(io_mkdirs(path, &e) == 0);
    for (int i = 0; i < N_LEVELS - 1; i++) {
        Lora a;
        CHECK(lora_alloc(&a, &w->f.model.cfg, 2, 4.0f, &e) == 0);
        lora_init(&a, 7 + (unsigned long)i);
        for (size_t k = 0; k < a.n_params; k++) a.params[k] *= 0.5f;
        snprintf(path, sizeof path, "%s/lora/level-%.1f.safetensors", w->f.model_dir, LEVELS[i]);
        CHECK_MSG(lora_save(&a, &w->f.model.cfg, path, &e) == 0, "%s", e.msg);
        lora_free(&a);
    }
    build_env_defaults(&w->benv);
    w->benv.model = &w->f.model;
    w->benv.model_dir = w->f.model_dir;
    w->benv.tok = &w->f.tok;
    w->benv.data_dir = w->f.data_dir;
    w->penv = (PolicyEnv){.base = &w->f.model, .model_dir = w->f.model_dir, .tok = &w->f.tok, .compressor = "none",
                          .seed = 1, .hooks = sim_hooks(&w->f.ctx)};
}

static void tw_init(TestCtx *t, TlmWorld *w, unsigned long seed) { tw_init_profile(t, w, seed, "normalized"); }

static void tw_free(TlmWorld *w) {
    for (int a = 0; a < APPS_N; a++) {
        for (int i = 0; i < w->dev[a].n; i++) encoded_item_free(&w->enc[a][i]);
        free(w->enc[a]);
        items_free(&w->dev[a]);
    }
    fixture_free(&w->f);
}

/* A request for dev item i of app a under SLO fractions of the full model's times on it. */
static PolicyRequest request(const TlmWorld *w, int a, int i, double ttft, double tpot) {
    const EncodedItem *x = &w->enc[a][i];
    PolicyRequest r = {.id = 100 * a + i, .app = apps_table[a].name, .item = w->dev[a].items[i].id, .enc = x,
                       .n_prompt = x->n_system + x->n_query, .output_tokens = 8, .slo_ttft_frac = ttft,
                       .slo_tpot_frac = tpot};
    Decision full;
    decision_full(&w->penv, &full);
    double ft, fp;
    Err e;
    w->penv.hooks.price(w->penv.hooks.ctx, &r, &full, &ft, &fp, &e);
    r.slo_ttft_ms = ttft * ft;
    r.slo_tpot_ms = tpot * fp;
    return r;
}

TEST(tlm_prepare_trains_every_head_and_the_compressor_keeps_the_top_scores) {
    TlmWorld w;
    tw_init(t, &w, 3);
    Err e;
    BuildReport rep;
    CHECK_MSG(policy_build("elms", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    char dir[1300], path[1400];
    snprintf(dir, sizeof dir, "%s/policies/elms", w.f.model_dir);
    Tlm tlm;
    CHECK_MSG(tlm_load(&tlm, dir, &w.f.model, w.f.model.cfg.bos_id, &e) == 0, "%s", e.msg);
    CHECK(tlm.has_score && tlm.has_pair && tlm.has_prob);
    CHECK(tlm.score.cfg.bidirectional && tlm.pair.cfg.vocab_size == w.f.model.cfg.vocab_size + TLM_N_SLO_TOKENS);
    snprintf(path, sizeof path, "%s/tlm.json", dir);
    cJSON *j;
    CHECK(io_read_json(path, &j, &e) == 0);
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(j, "score_dev");
    CHECK(cJSON_GetObjectItemCaseSensitive(sd, "relevant") && cJSON_GetObjectItemCaseSensitive(sd, "saliency"));
    cJSON_Delete(j);
    /* the compressor: exactly the formula's count, the highest keep probabilities, in order */
    Compressor c;
    CHECK_MSG(compressor_create(&c, "tlm", &w.penv, &e) == 0, "%s", e.msg);
    for (int a = 0; a < APPS_N; a++) {
        const EncodedItem *x = &w.enc[a][0];
        PolicyRequest r = request(&w, a, 0, 1, 1);
        float *p = malloc(sizeof(float) * (size_t)x->n_system);
        unsigned char *keep = malloc((size_t)x->n_system), *want = malloc((size_t)x->n_system);
        unsigned char *masks = malloc((size_t)N_RATIOS * (size_t)(x->n_system + 1)); /* (N_RATIOS, S + 1) */
        float *q = malloc(sizeof(float) * (size_t)x->n_system);
        CHECK_MSG(tlm_keep_masks(&tlm, x, q, masks, (size_t)x->n_system + 1, &e) == 0, "%s", e.msg);
        CHECK(tlm_score(&tlm, x, p, &e) == 0);
        CHECK(!memcmp(p, q, sizeof(float) * (size_t)x->n_system));
        for (int ri = 0; ri < N_RATIOS; ri++) {
            int k = levels_kept_system(x->n_system, x->n_query, RATIOS[ri]);
            CHECK(compressor_keep(&c, &r, RATIOS[ri], keep, &e) == k);
            keepmask_top(p, x->n_system, k, want);
            CHECK(!memcmp(keep, want, (size_t)x->n_system));
            CHECK(!memcmp(masks + (size_t)ri * (x->n_system + 1), want, (size_t)x->n_system)); /* tlm_keep_masks */
            for (int i = 0; i < x->n_system; i++) /* a kept token scores at least as high as every dropped one */
                for (int j = 0; j < x->n_system; j++)
                    if (keep[i] && !keep[j]) CHECK(p[i] >= p[j]);
        }
        free(p);
        free(q);
        free(masks);
        free(keep);
        free(want);
    }
    compressor_destroy(&c);
    tlm_free(&tlm);
    tw_free(&w);
}

typedef struct Brute {
    int li, ri;
    Feasibility f;
} Brute;

/* price every (level, ratio) with the score head's masks, in the order level then ratio, descending */
static void brute(TestCtx *t, TlmWorld *w, LevelSet *ls, Tlm *tlm, const PolicyRequest *r, bool decision,
                  unsigned char *masks, Brute *b) {
    const EncodedItem *x = r->enc;
    float *p = malloc(sizeof(float) * (size_t)x->n_system);
    Err e;
    CHECK(tlm_score(tlm, x, p, &e) == 0);
    int n = 0;
    for (int li = N_LEVELS - 1; li >= 0; li--)
        for (int ri = 0; ri < N_RATIOS; ri++) {
            unsigned char *m = masks + (size_t)ri * x->n_system;
            keepmask_top(p, x->n_system, levels_kept_system(x->n_system, x->n_query, RATIOS[ri]), m);
            Decision d = {.model = &w->f.model, .view = ls->view[li], .keep = m, .level = LEVELS[li],
                          .ratio = RATIOS[ri], .tlm_tokens = tlm_input_tokens(tlm, x, true, decision)};
            b[n] = (Brute){li, ri, {0, 0, 0, 0, false}};
            CHECK(feasible_check(&w->penv, r, &d, &b[n].f, &e) == 0);
            n++;
        }
    free(p);
}

static int find(const Brute *b, int li, int ri) {
    for (int i = 0; i < N_LEVELS * N_RATIOS; i++)
        if (b[i].li == li && b[i].ri == ri) return i;
    return -1;
}

/* the first feasible of b (level, then ratio, descending), else the least excess */
static int fallback(const Brute *b) {
    int best = 0;
    for (int i = 0; i < N_LEVELS * N_RATIOS; i++) {
        if (b[i].f.feasible) return i;
        if (b[i].f.excess < b[best].f.excess) best = i;
    }
    return best;
}

/* Under the host profile, where the tiny LM's own time counts toward TTFT and every candidate is priced with it. */
TEST(elms_policies_follow_their_decision_rules) {
    TlmWorld w;
    tw_init_profile(t, &w, 5, "host");
    Err e;
    BuildReport rep;
    CHECK_MSG(policy_build("elms", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/policies/elms", w.f.model_dir);
    Tlm tlm;
    CHECK(tlm_load(&tlm, dir, &w.f.model, w.f.model.cfg.bos_id, &e) == 0);
    LevelSet ls;
    CHECK(levelset_load(&ls, &w.f.model, w.f.model_dir, true, &e) == 0);
    const char *names[3] = {"elms-pair", "elms-prob", "elms-nodecision"};
    int cases[3][3] = {{0}}; /* per policy: first choice kept, a fallback taken, nothing feasible */
    for (int k = 0; k < 3; k++) {
        Policy p;
        CHECK(policy_create(&p, names[k], &e) == 0);
        CHECK_MSG(policy_prepare(&p, &w.penv, &e) == 0, "%s: %s", names[k], e.msg);
        tlm.decision = k == 1 ? TLM_DECISION_PROB : TLM_DECISION_PAIR;
        for (int a = 0; a < APPS_N; a++)
            for (int i = 0; i < 2; i++)
                for (double s1 = 0.05; s1 <= 1.0; s1 += 0.15)
                    for (double s2 = 0.2; s2 <= 1.0; s2 += 0.2) {
                        PolicyRequest r = request(&w, a, i, s1, s2);
                        Decision d;
                        CHECK_MSG(policy_decide(&p, &r, &d, &e) == 0, "%s", e.msg);
                        unsigned char *masks = malloc((size_t)N_RATIOS * (size_t)(r.enc->n_system + 1));
                        Brute b[N_LEVELS * N_RATIOS];
                        brute(t, &w, &ls, &tlm, &r, k != 2, masks, b); /* nodecision: only the score head runs */
                        int want;
                        if (k == 0) {
                            int li, ri;
                            CHECK(tlm_decide_pair(&tlm, r.enc, s1, s2, &ri, &li, &e) == 0);
                            want = find(b, li, ri);
                            if (!b[want].f.feasible) {
                                int at_p = -1;
                                for (int l = N_LEVELS - 1; l >= 0 && at_p < 0; l--)
                                    if (b[find(b, l, ri)].f.feasible) at_p = find(b, l, ri);
                                want = at_p >= 0 ? at_p : fallback(b);
                                cases[k][at_p >= 0 ? 1 : b[want].f.feasible ? 1 : 2]++;
                            } else {
                                cases[k][0]++;
                            }
                        } else if (k == 1) {
                            float prob[N_LEVELS * N_RATIOS];
                            CHECK(tlm_decide_prob(&tlm, r.enc, prob, &e) == 0);
                            /* the most probable feasible one; with the margin, the largest m p within it */
                            float top = -1;
                            for (int c = 0; c < N_LEVELS * N_RATIOS; c++)
                                if (b[c].f.feasible && prob[b[c].li * N_RATIOS + b[c].ri] > top)
                                    top = prob[b[c].li * N_RATIOS + b[c].ri];
                            want = -1;
                            double mg = tlm.prob_margin, best_w = -1;
                            for (int c = 0; c < N_LEVELS * N_RATIOS; c++) {
                                float pc = prob[b[c].li * N_RATIOS + b[c].ri];
                                if (!b[c].f.feasible || pc < top - (mg > 0 ? mg + 1e-6 : 0)) continue;
                                double wc = mg > 0 ? LEVELS[b[c].li] * RATIOS[b[c].ri] : pc;
                                if (want < 0 || wc > best_w + 1e-12) {
                                    want = c;
                                    best_w = wc;
                                }
                            }
                            cases[k][want >= 0 ? 0 : 2]++;
                            if (want < 0) want = fallback(b);
                        } else {
                            want = fallback(b);
                            cases[k][b[want].f.feasible ? 0 : 2]++;
                        }
                        CHECK_MSG(fabs(d.level - LEVELS[b[want].li]) < 1e-9 && fabs(d.ratio - RATIOS[b[want].ri]) < 1e-9,
                                  "%s %s slo (%.2f, %.1f): decided (%.1f, %.1f), expected (%.1f, %.1f)", names[k],
                                  r.item, s1, s2, d.level, d.ratio, LEVELS[b[want].li], RATIOS[b[want].ri]);
                        free(masks);
                    }
        policy_destroy(&p);
    }
    /* the sweep reached the first choice and the no-feasible case for every rule */
    for (int k = 0; k < 3; k++) CHECK_MSG(cases[k][0] > 0 && cases[k][2] > 0, "%s: cases %d %d %d", names[k],
                                          cases[k][0], cases[k][1], cases[k][2]);
    levelset_free(&ls);
    tlm_free(&tlm);
    tw_free(&w);
}

/* lingua2-cs: the classifier keeps the top round(p S) system tokens with p = the TTFT SLO, its work is priced, and
 * the FFN fraction is the TPOT SLO's when feasible, else the largest feasible (each candidate priced here). */
TEST(lingua2_cs_compresses_to_the_ttft_slo_and_keeps_the_largest_feasible_fraction) {
    TlmWorld w;
    tw_init(t, &w, 7);
    Err e;
    char path[1400];
    snprintf(path, sizeof path, "%s/corpus", w.f.data_dir);
    CHECK(io_mkdirs(path, &e) == 0);
    int n_tok = 4000, *tok = malloc(sizeof(int) * (size_t)n_tok);
    for (int i = 0; i < n_tok; i++) tok[i] = 2 + (i * 7 + i / 13) % (w.f.model.cfg.vocab_size - 2);
    snprintf(path, sizeof path, "%s/corpus/train.bin", w.f.data_dir);
    CHECK(data_save(path, tok, (size_t)n_tok, &e) == 0);
    free(tok);
    w.benv.calib_seq = 16;
    w.benv.sparsity_windows = 32;
    w.benv.sparsity_rank = 4;
    BuildReport rep;
    CHECK_MSG(policy_build("lingua2-cs", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/policies/lingua2-cs", w.f.model_dir);
    snprintf(path, sizeof path, "%s/compressor", dir);
    Tlm cls;
    CHECK_MSG(tlm_load_score(&cls, path, &w.f.model, w.f.model.cfg.bos_id, &e) == 0, "%s", e.msg);
    CHECK(cls.score.n_params > 0);
    SparsityPolicy sp;
    CHECK(sparsity_policy_load(&sp, &w.f.model, dir, &e) == 0);
    Policy p;
    CHECK(policy_create(&p, "lingua2-cs", &e) == 0);
    CHECK_MSG(policy_prepare(&p, &w.penv, &e) == 0, "%s", e.msg);
    int F = w.f.model.cfg.ffn_dim, n_feasible = 0, n_miss = 0;
    for (int a = 0; a < APPS_N; a++)
        for (double s1 = 0.1; s1 <= 1.2; s1 += 0.3)
            for (double s2 = 0.3; s2 <= 1.001; s2 += 0.35) {
                PolicyRequest r = request(&w, a, 1, s1, s2);
                Decision d;
                CHECK_MSG(policy_decide(&p, &r, &d, &e) == 0, "%s", e.msg);
                const EncodedItem *x = r.enc;
                int S = x->n_system;
                double ratio = s1 < 1 ? s1 : 1;
                float *sc = malloc(sizeof(float) * (size_t)S);
                unsigned char *want = malloc((size_t)S);
                CHECK(tlm_score(&cls, x, sc, &e) == 0);
                int k = (int)lround(ratio * S);
                keepmask_top(sc, S, k, want);
                CHECK(d.keep && !memcmp(d.keep, want, (size_t)S));
                /* the classifier reads the whole prompt and does more work per token than the tiny LM's head */
                CHECK(fabs(d.ratio - ratio) < 1e-12 && d.tlm_tokens == 1 + S + x->n_query && d.tlm_scale > 1);
                /* brute force over the kept neuron count, from the TPOT SLO's down */
                int k0 = (int)lround((s2 < 1 ? s2 : 1) * F), first = -1;
                for (int kk = k0 < 1 ? 1 : k0; kk >= 1 && first < 0; kk--) {
                    Decision x2;
                    sparsity_policy_fill(&sp, &w.f.model, kk, want, ratio, &x2);
                    x2.tlm_tokens = d.tlm_tokens;
                    x2.tlm_scale = d.tlm_scale;
                    Feasibility f;
                    CHECK(feasible_check(&w.penv, &r, &x2, &f, &e) == 0);
                    if (f.feasible) first = kk;
                }
                int got = d.view.layer[0].ffn_units;
                CHECK_MSG(first < 0 ? got == 1 : got == first, "slo (%.1f, %.2f): kept %d neurons, expected %d", s1,
                          s2, got, first < 0 ? 1 : first);
                n_feasible += first >= 0;
                n_miss += first < 0;
                free(sc);
                free(want);
            }
    CHECK_MSG(n_feasible > 0 && n_miss > 0, "the sweep should reach both cases (%d, %d)", n_feasible, n_miss);
    policy_destroy(&p);
    sparsity_policy_free(&sp);
    tlm_free(&cls);
    tw_free(&w);
}
