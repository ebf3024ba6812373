/* Tests of the policy framework and the model-side baselines: the ladder rule, rankings and their artefacts,
 * `elms prepare` (atomic folders, manifests, cost line), each baseline's offline algorithm against an
 * independent computation, and every baseline's decisions on a sweep of SLOs (feasible whenever any of its
 * configurations is, and then the most capable feasible one; otherwise the cheapest). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "elastic/calib.h"
#include "elastic/laco.h"
#include "elastic/layerscore.h"
#include "elastic/levels.h"
#include "elastic/sparsity.h"
#include "engine/data.h"
#include "engine/io.h"
#include "policies/build.h"
#include "policies/feasible.h"
#include "policies/policy.h"
#include "policies/ranking.h"
#include "sim/sim.h"
#include "tests/test.h"
#include "tests/test_elastic_fixture.h"
#include "tests/util.h"

#define PW 40 /* words of the fixture's vocabulary */

/* A world for the baselines: a smoke-trained model on disk (MODEL), its corpus (DATA/corpus/train.bin), a
 * smaller model (SMALL), the normalized profile and a simulator context for pricing. */
typedef struct World {
    Model m, small;
    Tokenizer tok;
    Profile prof;
    SimContext ctx;
    char model_dir[1200], data_dir[1200], small_dir[1200];
    BuildEnv benv;
    PolicyEnv penv;
} World;

static void world_init(TestCtx *t, World *w, unsigned long seed) {
    ModelConfig c = fx_config(PW);
    c.n_layers = 4;
    util_model(&w->m, &c, seed);
    for (size_t i = 0; i < w->m.n_params; i++) w->m.params[i] /= 8.0f;
    TokenData d;
    fx_corpus(&d, 6000, c.vocab_size, seed + 1);
    fx_train(&w->m, &d, 20, seed + 2);
    model_rehash(&w->m);
    fx_tokenizer(&w->tok, PW);
    const char *tmp = test_tmpdir();
    snprintf(w->model_dir, sizeof w->model_dir, "%s/pol-%lu/model", tmp, seed);
    snprintf(w->data_dir, sizeof w->data_dir, "%s/pol-%lu/data", tmp, seed);
    snprintf(w->small_dir, sizeof w->small_dir, "%s/pol-%lu/small", tmp, seed);
    fx_write_dir(w->model_dir, &w->m, &w->tok);
    ModelConfig cs = c;
    cs.n_layers = 2;
    cs.ffn_dim = 24;
    util_model(&w->small, &cs, seed + 3);
    fx_write_dir(w->small_dir, &w->small, &w->tok);
    char path[1300];
    Err e;
    snprintf(path, sizeof path, "%s/corpus", w->data_dir);
    CHECK(io_mkdirs(path, &e) == 0);
    snprintf(path, sizeof path, "%s/corpus/train.bin", w->data_dir);
    CHECK_MSG(data_save(path, d.tok, d.n, &e) == 0, "%s", e.msg);
    data_free(&d);
    CHECK_MSG(profile_load(&w->prof, "sim/profiles/normalized.json", &e) == 0, "%s", e.msg);
    sim_context_init(&w->ctx, &w->m, &w->tok, &w->prof, NULL, NULL);
    build_env_defaults(&w->benv);
    w->benv.model = &w->m;
    w->benv.model_dir = w->model_dir;
    w->benv.tok = &w->tok;
    w->benv.data_dir = w->data_dir;
    w->benv.calib_windows = 4;
    w->benv.calib_seq = 16;
    w->benv.models = w->small_dir;
    w->penv = (PolicyEnv){.base = &w->m, .model_dir = w->model_dir, .tok = &w->tok, .compressor = "none",
                          .seed = 1, .hooks = sim_hooks(&w->ctx)};
}

static void world_free(World *w) {
    model_free(&w->m);
    model_free(&w->small);
    tokenizer_free(&w->tok);
}

/* A request without an item: n prompt tokens and SLO fractions of the full model's times. */
static PolicyRequest request(const World *w, double ttft_frac, double tpot_frac) {
    PolicyRequest r = {.id = 1, .app = "facts", .item = "", .n_prompt = 100, .output_tokens = 8,
                       .slo_ttft_frac = ttft_frac, .slo_tpot_frac = tpot_frac};
    Decision full;
    decision_full(&w->penv, &full);
    double ttft, tpot;
    Err e;
    w->penv.hooks.price(w->penv.hooks.ctx, &r, &full, &ttft, &tpot, &e);
    r.slo_ttft_ms = ttft_frac * ttft;
    r.slo_tpot_ms = tpot_frac * tpot;
    return r;
}

/* ---- the ladder rule ---- */

static int fill_cost(void *ctx, const PolicyRequest *r, int i, Decision *d, Err *e) {
    (void)r;
    (void)e;
    const World *w = ctx;
    d->model = &w->m;
    view_uniform(&w->m, w->m.cfg.n_kv_heads, w->m.cfg.ffn_dim * (8 - i) / 8, &d->view);
    d->level = 1.0;
    d->ratio = 1.0;
    return 0;
}

TEST(feasible_ladder_takes_the_first_feasible_else_the_cheapest) {
    World w;
    world_init(t, &w, 11);
    Err e;
    for (double s = 0.3; s <= 1.01; s += 0.05) {
        PolicyRequest r = request(&w, s, s);
        Decision d;
        int pick;
        bool feas;
        CHECK_MSG(feasible_ladder(&w.penv, &r, fill_cost, &w, 8, &d, &pick, &feas, &e) == 0, "%s", e.msg);
        int first = -1, cheapest = 0;
        double best = 1e300;
        for (int i = 0; i < 8; i++) { /* brute force: price every rung independently */
            Decision x;
            memset(&x, 0, sizeof x);
            fill_cost(&w, &r, i, &x, &e);
            Feasibility f;
            CHECK(feasible_check(&w.penv, &r, &x, &f, &e) == 0);
            if (f.feasible && first < 0) first = i;
            if (f.excess < best) best = f.excess, cheapest = i;
        }
        CHECK_MSG(pick == (first >= 0 ? first : cheapest), "slo %g: picked %d, first feasible %d", s, pick, first);
        CHECK(feas == (first >= 0));
    }
    world_free(&w);
}

/* ---- rankings ---- */

TEST(ranking_orders_ascending_with_ties_by_index_and_round_trips) {
    double s[6] = {0.5, 0.1, 0.5, 0.0, 0.1, 2.0};
    Ranking r, back;
    Err e;
    CHECK(ranking_from_scores(&r, s, 6, true, &e) == 0);
    int want[6] = {3, 1, 4, 0, 2, 5};
    for (int i = 0; i < 6; i++) CHECK(r.order[i] == want[i]);
    const char *dir = test_path("ranking");
    CHECK(io_mkdirs(dir, &e) == 0);
    CHECK_MSG(ranking_write(&r, dir, &e) == 0, "%s", e.msg);
    CHECK_MSG(ranking_read(&back, dir, 3, &e) == 0, "%s", e.msg);
    CHECK(back.subblocks && back.n == 6 && !memcmp(back.order, r.order, sizeof r.order));
    CHECK(ranking_read(&back, dir, 4, &e) == -1 && strstr(e.msg, "scores"));
    /* sub-block units: even = attention, odd = MLP */
    Model m;
    ModelConfig c = util_config();
    util_model(&m, &c, 3);
    ElasticView v;
    ranking_view(&r, &m, 3, &v); /* drops units 3 (layer 1 MLP), 1 (layer 0 MLP), 4 (layer 2 attention) */
    CHECK(v.layer[1].skip_ffn && !v.layer[1].skip_attn && v.layer[0].skip_ffn && v.layer[2].skip_attn &&
          !v.layer[0].skip_attn && !v.layer[2].skip_ffn);
    /* a bad order is refused, naming the file and field */
    char path[1300];
    snprintf(path, sizeof path, "%s/ranking.json", dir);
    const char *bad = "{\"unit\": \"layer\", \"scores\": [1, 2, 3], \"order\": [0, 0, 2]}";
    CHECK(io_write_atomic(path, bad, strlen(bad), &e) == 0);
    CHECK(ranking_read(&back, dir, 3, &e) == -1 && strstr(e.msg, "order[1]") && strstr(e.msg, "ranking.json"));
    model_free(&m);
}

/* ---- offline preparation ---- */

TEST(prepare_builds_folders_atomically_with_a_manifest) {
    World w;
    world_init(t, &w, 21);
    Err e;
    BuildReport rep;
    CHECK_MSG(policy_build("shortgpt", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    CHECK(!rep.skipped && rep.cpu_s >= 0);
    char path[1400];
    snprintf(path, sizeof path, "%s/policies/shortgpt/prepare.json", w.model_dir);
    CHECK(path_is_file(path));
    snprintf(path, sizeof path, "%s/policies/shortgpt.tmp", w.model_dir);
    CHECK(!path_is_dir(path));
    CHECK(policy_build("shortgpt", &w.benv, false, &rep, &e) == 0 && rep.skipped);
    CHECK(policy_build("full", &w.benv, false, &rep, &e) == -1 && strstr(e.msg, "nothing to prepare"));
    CHECK(policy_build("nope", &w.benv, false, &rep, &e) == -1 && strstr(e.msg, "unknown policy"));
    /* a failed build leaves no folder behind */
    BuildEnv bad = w.benv;
    bad.data_dir = test_path("no-such-data");
    CHECK(policy_build("layer-reduction", &bad, false, &rep, &e) == -1);
    snprintf(path, sizeof path, "%s/policies/layer-reduction", w.model_dir);
    CHECK(!path_is_dir(path));
    snprintf(path, sizeof path, "%s/policies/layer-reduction.tmp", w.model_dir);
    CHECK(!path_is_dir(path));
    /* loading: missing artefacts name the prepare command; other weights are refused */
    Policy p;
    CHECK(policy_create(&p, "layer-reduction", &e) == 0);
    CHECK(policy_prepare(&p, &w.penv, &e) == -1 && strstr(e.msg, "elms prepare layer-reduction"));
    policy_destroy(&p);
    Model other;
    util_model(&other, &w.m.cfg, 99);
    PolicyEnv env2 = w.penv;
    env2.base = &other;
    CHECK(policy_create(&p, "shortgpt", &e) == 0);
    CHECK(policy_prepare(&p, &env2, &e) == -1 && strstr(e.msg, "prepared for weights"));
    policy_destroy(&p);
    model_free(&other);
    world_free(&w);
}

TEST(layer_reduction_ranks_layers_by_removing_each_and_measuring) {
    World w;
    world_init(t, &w, 31);
    Err e;
    BuildReport rep;
    CHECK_MSG(policy_build("layer-reduction", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    Ranking r;
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/policies/layer-reduction", w.model_dir);
    CHECK_MSG(ranking_read(&r, dir, w.m.cfg.n_layers, &e) == 0, "%s", e.msg);
    /* independently: the same windows, each layer removed by hand, the loss measured */
    Calib c;
    CHECK(build_calib(&w.benv, &c, &e) == 0);
    for (int l = 0; l < w.m.cfg.n_layers; l++) {
        ElasticView v;
        view_full(&w.m, &v);
        v.layer[l].skip_attn = v.layer[l].skip_ffn = true;
        double loss;
        CHECK(calib_loss(&w.m, &v, &c, &loss, &e) == 0);
        CHECK_NEAR(r.score[l], loss, 1e-9);
    }
    for (int i = 1; i < r.n; i++) CHECK(r.score[r.order[i - 1]] <= r.score[r.order[i]]);
    calib_free(&c);
    world_free(&w);
}

TEST(shortgpt_and_attndrop_store_the_layer_scores) {
    World w;
    world_init(t, &w, 41);
    Err e;
    BuildReport rep;
    CHECK_MSG(policy_build("shortgpt", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    CHECK_MSG(policy_build("attndrop", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    Calib c;
    CHECK(build_calib(&w.benv, &c, &e) == 0);
    int L = w.m.cfg.n_layers;
    double bi[ELMS_MAX_LAYERS], attn[ELMS_MAX_LAYERS], ffn[ELMS_MAX_LAYERS];
    CHECK(layerscore_block_influence(&w.m, &c, bi, &e) == 0);
    CHECK(layerscore_subblocks(&w.m, &c, attn, ffn, &e) == 0);
    Ranking a, b;
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/policies/shortgpt", w.model_dir);
    CHECK(ranking_read(&a, dir, L, &e) == 0 && !a.subblocks);
    snprintf(dir, sizeof dir, "%s/policies/attndrop", w.model_dir);
    CHECK(ranking_read(&b, dir, L, &e) == 0 && b.subblocks);
    for (int l = 0; l < L; l++) {
        CHECK_NEAR(a.score[l], bi[l], 1e-12);
        CHECK_NEAR(b.score[2 * l], attn[l], 1e-12);
        CHECK_NEAR(b.score[2 * l + 1], ffn[l], 1e-12);
    }
    calib_free(&c);
    world_free(&w);
}

/* write_elastic: anchors {0} and an adapter per level below 1.0, as elms reorder / elms lora would. */
static void write_elastic(TestCtx *t, const World *w) {
    char path[1400];
    Err e;
    snprintf(path, sizeof path, "%s/elastic.json", w->model_dir);
    const char *meta = "{\"anchors\": [0]}";
    CHECK(io_write_atomic(path, meta, strlen(meta), &e) == 0);
    snprintf(path, sizeof path, "%s/lora", w->model_dir);
    CHECK(io_mkdirs(path, &e) == 0);
    for (int i = 0; i < N_LEVELS - 1; i++) {
        Lora a;
        CHECK(lora_alloc(&a, &w->m.cfg, 2, 4.0f, &e) == 0);
        lora_init(&a, 7 + (unsigned long)i);
        for (size_t k = 0; k < a.n_params; k++) a.params[k] *= 0.5f; /* B = 0 would make every adapter alike */
        snprintf(path, sizeof path, "%s/lora/level-%.1f.safetensors", w->model_dir, LEVELS[i]);
        CHECK_MSG(lora_save(&a, &w->m.cfg, path, &e) == 0, "%s", e.msg);
        lora_free(&a);
    }
}

/* Every baseline on a sweep of SLOs: its decision is feasible exactly when one of its configurations is
 * (each priced independently here), and then it is the most capable feasible one. */
TEST(baselines_decide_feasibly_on_an_slo_sweep) {
    World w;
    world_init(t, &w, 51);
    write_elastic(t, &w);
    Err e;
    BuildReport rep;
    const char *names[] = {"llm-pruner", "layer-reduction", "shortgpt", "attndrop", "offtheshelf", "laco"};
    /* laco's merged models, made independently by the LaCo algorithm with the policy's options and windows */
    Model merged[ELMS_MAX_LAYERS];
    int n_merged = 0;
    Calib cal;
    CHECK(build_calib(&w.benv, &cal, &e) == 0);
    LacoOptions lo;
    laco_options_default(&lo);
    for (int k = w.m.cfg.n_layers - 1; k >= 1; k--) {
        LacoOptions ok = lo;
        ok.lowest = k < lo.lowest + 1 ? k - 1 : lo.lowest;
        CHECK_MSG(laco_collapse(&w.m, &cal, k, &ok, &merged[n_merged++], NULL, 0, &e) == 0, "%s", e.msg);
    }
    calib_free(&cal);
    for (int k = 1; k < 6; k++) CHECK_MSG(policy_build(names[k], &w.benv, false, &rep, &e) == 0, "%s: %s", names[k], e.msg);
    LevelSet ls;
    CHECK(levelset_load(&ls, &w.m, w.model_dir, true, &e) == 0);
    for (int k = 0; k < 6; k++) {
        Policy p;
        CHECK(policy_create(&p, names[k], &e) == 0);
        CHECK_MSG(policy_prepare(&p, &w.penv, &e) == 0, "%s: %s", names[k], e.msg);
        Ranking rk;
        char dir[1300];
        snprintf(dir, sizeof dir, "%s/policies/%s", w.model_dir, names[k]);
        bool ranked = k >= 1 && k <= 3;
        if (ranked) CHECK(ranking_read(&rk, dir, w.m.cfg.n_layers, &e) == 0);
        int n = k == 0 ? N_LEVELS : ranked ? rk.n : k == 4 ? 2 : 1 + n_merged;
        int n_feasible_any = 0, n_infeasible = 0;
        for (double a = 0.02; a <= 1.001; a += a < 0.1 ? 0.08 : 0.1)
            for (double b = 0.2; b <= 1.001; b += 0.2) {
                PolicyRequest r = request(&w, a, b);
                Decision d;
                CHECK_MSG(policy_decide(&p, &r, &d, &e) == 0, "%s", e.msg);
                int first = -1;
                for (int i = 0; i < n && first < 0; i++) { /* brute force, most capable first */
                    Decision x = {0};
                    x.level = x.ratio = 1.0;
                    if (k == 0) x.model = &w.m, x.view = ls.view[N_LEVELS - 1 - i];
                    else if (ranked) x.model = &w.m, ranking_view(&rk, &w.m, i, &x.view);
                    else if (k == 4) x.model = i == 0 ? &w.m : &w.small, view_full(x.model, &x.view);
                    else x.model = i == 0 ? &w.m : &merged[i - 1], view_full(x.model, &x.view);
                    Feasibility f;
                    CHECK(feasible_check(&w.penv, &r, &x, &f, &e) == 0);
                    if (f.feasible) first = i;
                    if (first == i) {
                        bool same = k == 0   ? fabs(d.level - LEVELS[N_LEVELS - 1 - i]) < 1e-12
                                    : k >= 4 ? x.model->cfg.n_layers == d.model->cfg.n_layers &&
                                                   !memcmp(x.model->hash, d.model->hash, sizeof x.model->hash)
                                             : view_equal(&x.view, &d.view);
                        CHECK_MSG(same,
                                  "%s at (%.1f, %.1f): not the first feasible configuration %d", names[k], a, b, i);
                    }
                }
                Feasibility fd;
                CHECK(feasible_check(&w.penv, &r, &d, &fd, &e) == 0);
                CHECK_MSG(fd.feasible == (first >= 0), "%s at (%.1f, %.1f): decision feasible %d, any feasible %d",
                          names[k], a, b, fd.feasible, first >= 0);
                n_feasible_any += first >= 0;
                n_infeasible += first < 0;
            }
        CHECK_MSG(n_feasible_any > 0 && n_infeasible > 0, "%s: the sweep should cover both cases (%d, %d)", names[k],
                  n_feasible_any, n_infeasible);
        policy_destroy(&p);
    }
    for (int i = 0; i < n_merged; i++) model_free(&merged[i]);
    levelset_free(&ls);
    world_free(&w);
}

TEST(prepare_cli_prints_the_cost_line_and_sim_help_lists_policies) {
    World w;
    world_init(t, &w, 61);
    char *out = NULL;
    int st = test_cli(&out, "prepare attndrop --model %s --data %s --calib-windows 3 --calib-seq 16", w.model_dir,
                      w.data_dir);
    CHECK_MSG(st == 0 && strstr(out, "cost attndrop ") && strstr(out, " cpu_min"), "exit %d: %s", st, out);
    free(out);
    st = test_cli(&out, "prepare attndrop --model %s --data %s --calib-windows 3 --calib-seq 16", w.model_dir,
                  w.data_dir);
    CHECK_MSG(st == 0 && strstr(out, "exists"), "exit %d: %s", st, out);
    free(out);
    /* other options: rebuilt */
    st = test_cli(&out, "prepare attndrop --model %s --data %s --calib-windows 4 --calib-seq 16", w.model_dir,
                  w.data_dir);
    CHECK_MSG(st == 0 && strstr(out, "wrote") && !strstr(out, "exists"), "exit %d: %s", st, out);
    free(out);
    st = test_cli(&out, "prepare full --model %s --data %s", w.model_dir, w.data_dir);
    CHECK_MSG(st != 0 && strstr(out, "nothing to prepare"), "exit %d: %s", st, out);
    free(out);
    st = test_cli(&out, "sim --help");
    CHECK_MSG(st == 0 && strstr(out, "shortgpt") && strstr(out, "Block Influence") && strstr(out, "llm-pruner"),
              "exit %d: %s", st, out);
    free(out);
    world_free(&w);
}

TEST(offtheshelf_checks_and_orders_its_models) {
    World w;
    world_init(t, &w, 71);
    Err e;
    BuildReport rep;
    char list[2600];
    /* a trailing slash is the same directory */
    snprintf(list, sizeof list, "%s/", w.small_dir);
    w.benv.models = list;
    CHECK_MSG(policy_build("offtheshelf", &w.benv, true, &rep, &e) == 0, "%s", e.msg);
    char path[1400];
    snprintf(path, sizeof path, "%s/policies/offtheshelf/small/model.safetensors", w.model_dir);
    CHECK(path_is_file(path));
    /* the same name twice, and a model not smaller than the base, are refused */
    snprintf(list, sizeof list, "%s,%s", w.small_dir, w.small_dir);
    CHECK(policy_build("offtheshelf", &w.benv, true, &rep, &e) == -1 && strstr(e.msg, "two models named"));
    snprintf(list, sizeof list, "%s,%s", w.small_dir, w.model_dir);
    CHECK(policy_build("offtheshelf", &w.benv, true, &rep, &e) == -1 && strstr(e.msg, "not fewer than the base"));
    /* given smallest first, the models are still laddered most capable first */
    ModelConfig ct = w.small.cfg;
    ct.n_layers = 1;
    Model tiny;
    util_model(&tiny, &ct, 5);
    char tiny_dir[1300];
    snprintf(tiny_dir, sizeof tiny_dir, "%s/../tiny", w.model_dir);
    fx_write_dir(tiny_dir, &tiny, &w.tok);
    snprintf(list, sizeof list, "%s,%s", tiny_dir, w.small_dir);
    CHECK_MSG(policy_build("offtheshelf", &w.benv, true, &rep, &e) == 0, "%s", e.msg);
    Policy p;
    CHECK(policy_create(&p, "offtheshelf", &e) == 0);
    CHECK_MSG(policy_prepare(&p, &w.penv, &e) == 0, "%s", e.msg);
    PolicyRequest r = request(&w, 0.9, 0.95); /* the base is too slow: the next rung, small, fits */
    Decision d;
    CHECK(policy_decide(&p, &r, &d, &e) == 0);
    CHECK_MSG(!strcmp(d.model->hash, w.small.hash), "picked a model with %d layers", d.model->cfg.n_layers);
    policy_destroy(&p);
    model_free(&tiny);
    world_free(&w);
}

/* dejavu: the build writes predictors and their manifest (deterministic for a seed, better than chance on held-out
 * activations), and on a sweep of SLOs the decision keeps the largest feasible number of neurons not above the
 * TPOT SLO's fraction (priced here independently), else one neuron. */
TEST(dejavu_builds_predictors_and_keeps_the_largest_feasible_fraction) {
    World w;
    world_init(t, &w, 61);
    w.benv.sparsity_windows = 64;
    w.benv.sparsity_rank = 4;
    Err e;
    BuildReport rep;
    CHECK_MSG(policy_build("dejavu", &w.benv, false, &rep, &e) == 0, "%s", e.msg);
    char path[1400];
    snprintf(path, sizeof path, "%s/policies/dejavu/sparsity.json", w.model_dir);
    cJSON *j = NULL;
    CHECK_MSG(io_read_json(path, &j, &e) == 0, "%s", e.msg);
    const cJSON *rank = cJSON_GetObjectItemCaseSensitive(j, "rank");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(j, "predictor_hash");
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "recall"), "mean");
    CHECK(cJSON_IsNumber(rank) && rank->valueint == 4 && cJSON_IsString(hash));
    CHECK(cJSON_IsArray(mean) && cJSON_GetArraySize(mean) == 9);
    CHECK_MSG(cJSON_GetArrayItem(mean, 4)->valuedouble > 0.5, "recall at keep 0.5: %g (chance: 0.5)",
              cJSON_GetArrayItem(mean, 4)->valuedouble);
    char first[17] = "";
    if (cJSON_IsString(hash)) snprintf(first, sizeof first, "%s", hash->valuestring);
    cJSON_Delete(j);
    /* the same build again: bitwise the same predictors */
    CHECK(policy_build("dejavu", &w.benv, true, &rep, &e) == 0);
    CHECK(io_read_json(path, &j, &e) == 0);
    hash = cJSON_GetObjectItemCaseSensitive(j, "predictor_hash");
    CHECK(cJSON_IsString(hash) && !strcmp(hash->valuestring, first));
    cJSON_Delete(j);
    Policy p;
    CHECK(policy_create(&p, "dejavu", &e) == 0);
    CHECK_MSG(policy_prepare(&p, &w.penv, &e) == 0, "%s", e.msg);
    int F = w.m.cfg.ffn_dim, n_sparse = 0, n_infeasible = 0;
    double extra = sparsity_fraction(&w.m.cfg, 4);
    for (double a = 0.5; a <= 1.001; a += 0.25)
        for (double b = 0.3; b <= 1.001; b += 0.1) {
            PolicyRequest r = request(&w, a, b);
            Decision d;
            CHECK_MSG(policy_decide(&p, &r, &d, &e) == 0, "%s", e.msg);
            int k0 = sparsity_keep_count(b < 1 ? b : 1.0, F), want = 1;
            bool any = false;
            for (int k = k0; k >= 1 && !any; k--) {
                Decision x = {.model = &w.m, .level = 1.0, .ratio = 1.0, .extra_lin = k < F ? extra : 0.0};
                view_full(&w.m, &x.view);
                for (int l = 0; l < w.m.cfg.n_layers; l++) x.view.layer[l].ffn_units = k;
                Feasibility f;
                CHECK(feasible_check(&w.penv, &r, &x, &f, &e) == 0);
                if (f.feasible) want = k, any = true;
            }
            CHECK_MSG(fabs(d.level - (double)want / F) < 1e-12, "(%.2f, %.2f): level %g, expected %d/%d", a, b,
                      d.level, want, F);
            CHECK(d.ratio == 1.0 && d.keep == NULL);
            if (want < F) {
                CHECK(d.view.ffn_select != NULL && d.select_key && strstr(d.select_key, first));
                CHECK_NEAR(d.extra_lin, extra, 1e-15);
                n_sparse++;
            } else {
                CHECK(d.view.ffn_select == NULL && d.extra_lin == 0.0);
            }
            n_infeasible += !any;
        }
    CHECK_MSG(n_sparse > 0 && n_infeasible > 0, "sparse decisions %d, infeasible SLOs %d", n_sparse, n_infeasible);
    PolicyMemory mem;
    p.memory(&p, &mem);
    CHECK_NEAR(mem.params, (double)w.m.n_params + (double)sparsity_param_count(&w.m.cfg, 4), 0.5);
    policy_destroy(&p);
    world_free(&w);
}
