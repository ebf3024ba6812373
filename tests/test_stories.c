/* Tests on a real pretrained checkpoint, stories260K (../shared/models/stories260K: dim 64, 5 layers, 8 heads,
 * 4 KV heads, FFN 172, vocab 512, tied, F32, Hugging Face layout): it loads with the expected shape, its logits
 * are finite, deterministic and match reference values computed by a separate plain double-precision
 * implementation of the Hugging Face Llama forward pass, `elms logits` prints the same numbers as the library,
 * and its greedy continuation is far more probable than chance. Skipped when ../shared is absent. */
#include "engine/io.h"
#include "engine/model.h"
#include "engine/ops.h"
#include "engine/score.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* load_stories: 0 and a loaded model, or 1 when the shared directory is absent (the caller skips). */
static int load_stories(Model *m, char *dir, size_t cap) {
    const char *sh = test_shared_dir();
    if (!sh) return 1;
    snprintf(dir, cap, "%s/models/stories260K", sh);
    Err e;
    if (model_load(m, dir, &e) != 0) {
        fprintf(stderr, "  model_load: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static const int kSeq[5] = {1, 200, 300, 17, 461};
/* reference logits at positions 0..4 of kSeq for vocabulary ids 0, 13, 100, 461, 511, and each position's argmax */
static const int kIdx[5] = {0, 13, 100, 461, 511};
static const double kRef[5][5] = {
    {1.973874, 1.101627, 1.974706, 9.489286, 1.874619},
    {8.161214, 5.255496, 8.159501, 5.59526, 7.545688},
    {1.457737, 5.163804, 1.457371, 6.427607, 1.64972},
    {9.60569, 1.051583, 9.606035, 12.16141, 9.974139},
    {-4.169939, -0.5896605, -4.167607, 6.483568, -3.537998},
};
static const int kArgmax[5] = {461, 330, 360, 465, 465};
/* the reference's greedy continuation of [1] */
static const int kGreedy[12] = {461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435, 299};

TEST(stories_loads_with_reference_logits) {
    Model m;
    char dir[1024];
    int rc = load_stories(&m, dir, sizeof dir);
    if (rc == 1) SKIP("../shared not present");
    CHECK(rc == 0);
    if (rc) return;
    const ModelConfig *c = &m.cfg;
    CHECK(c->dim == 64 && c->n_layers == 5 && c->n_heads == 8 && c->n_kv_heads == 4 && c->head_dim == 8);
    CHECK(c->ffn_dim == 172 && c->vocab_size == 512 && c->max_seq == 512 && c->tied && m.w.lm_head == m.w.tok_emb);
    CHECK(m.n_params == 512 * 64 + 5 * (2 * 64 + 64 * 64 * 2 + 32 * 64 * 2 + 3 * 172 * 64) + 64);
    ElasticView v;
    view_full(&m, &v);
    float *a = malloc(5 * 512 * sizeof *a), *b = malloc(5 * 512 * sizeof *b);
    Err e;
    CHECK(model_logits(&m, &v, kSeq, 5, a, &e) == 0);
    CHECK(model_logits(&m, &v, kSeq, 5, b, &e) == 0);
    CHECK(!memcmp(a, b, 5 * 512 * sizeof *a)); /* deterministic */
    int finite = 1;
    for (int i = 0; i < 5 * 512; i++) finite &= isfinite(a[i]) != 0;
    CHECK(finite);
    for (int p = 0; p < 5; p++) {
        const float *row = a + p * 512;
        for (int k = 0; k < 5; k++) CHECK_NEAR(row[kIdx[k]], kRef[p][k], 2e-3);
        int am = 0;
        for (int j = 1; j < 512; j++)
            if (row[j] > row[am]) am = j;
        CHECK_MSG(am == kArgmax[p], "position %d argmax %d, want %d", p, am, kArgmax[p]);
    }
    free(a);
    free(b);
    model_free(&m);
}

TEST(stories_greedy_is_confident) {
    Model m;
    char dir[1024];
    int rc = load_stories(&m, dir, sizeof dir);
    if (rc == 1) SKIP("../shared not present");
    CHECK(rc == 0);
    if (rc) return;
    ElasticView v;
    view_full(&m, &v);
    enum { G = 48 };
    int seq[1 + G] = {1}, out[G];
    Err e;
    int g = generate_greedy(&m, &v, NULL, seq, 1, G, -1, out, NULL, &e);
    CHECK_MSG(g == G, "%s", e.msg);
    if (g != G) {
        model_free(&m);
        return;
    }
    CHECK(!memcmp(out, kGreedy, sizeof kGreedy));
    memcpy(seq + 1, out, sizeof out);
    /* teacher-forced log-probability of the continuation: a trained model is confident about its own greedy
     * text (uniform would be -log 512 = -6.24); a random token sequence is far less likely */
    float *lg = malloc((size_t)(1 + G) * 512 * sizeof *lg);
    CHECK(model_logits(&m, &v, seq, 1 + G, lg, &e) == 0);
    double own = 0, other = 0;
    for (int i = 1; i <= G; i++) {
        own += log_softmax_at(lg + (size_t)(i - 1) * 512, 512, seq[i]);
        other += log_softmax_at(lg + (size_t)(i - 1) * 512, 512, (seq[i] * 7 + 3) % 512);
    }
    own /= G;
    other /= G;
    CHECK_MSG(own > -2.0, "greedy mean log-prob %.3f", own);
    CHECK_MSG(other < -6.24, "shifted-token mean log-prob %.3f", other);
    int distinct = 0;
    for (int i = 0; i < 512; i++) {
        int hit = 0;
        for (int j = 0; j < G && !hit; j++) hit = out[j] == i;
        distinct += hit;
    }
    CHECK_MSG(distinct >= 10, "only %d distinct tokens", distinct);
    free(lg);
    model_free(&m);
}

TEST(stories_cli_logits_match_library) {
    Model m;
    char dir[1024];
    int rc = load_stories(&m, dir, sizeof dir);
    if (rc == 1) SKIP("../shared not present");
    CHECK(rc == 0);
    if (rc) return;
    ElasticView v;
    view_full(&m, &v);
    float *lg = malloc(5 * 512 * sizeof *lg);
    Err e;
    CHECK(model_logits(&m, &v, kSeq, 5, lg, &e) == 0);
    char args[1200], *out;
    snprintf(args, sizeof args, "logits --model %s --tokens 1,200,300,17,461", dir);
    CHECK(test_run_cli(args, &out) == 0);
    /* five lines "pos P v0 v1 ... v511" with %.6g values */
    char *p = out;
    int lines = 0, bad = 0;
    for (int pos = 0; pos < 5; pos++) {
        int got, used;
        if (sscanf(p, "pos %d%n", &got, &used) != 1 || got != pos) break;
        p += used;
        for (int j = 0; j < 512; j++) {
            char *end;
            double x = strtod(p, &end);
            if (end == p) {
                bad++;
                break;
            }
            p = end;
            double ref = lg[pos * 512 + j];
            if (fabs(x - ref) > 5e-6 * fmax(1.0, fabs(ref))) bad++;
        }
        if (*p == '\n') p++;
        lines++;
    }
    CHECK_MSG(lines == 5 && bad == 0 && *p == 0, "lines %d, mismatches %d, output starts: %.200s", lines, bad, out);
    free(out);
    /* info reports the shape */
    snprintf(args, sizeof args, "info --model %s", dir);
    CHECK(test_run_cli(args, &out) == 0);
    CHECK(strstr(out, "parameters         260032") && strstr(out, "tied") && strstr(out, "(F32)"));
    free(out);
    free(lg);
    model_free(&m);
}
