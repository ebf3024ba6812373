/* Tests of elastic/levels: level -> view (kept parameter fraction at most the level and within one unit of
 * it; anchors whole; monotone), anchors from elastic.json, and the paper's kept-system-token formula. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "elastic/levels.h"
#include "engine/io.h"
#include "tests/test.h"
#include "tests/util.h"

TEST(levels_view_hits_the_kept_fraction) {
    ModelConfig c = util_config();
    c.n_layers = 6;
    c.n_heads = 6;
    c.n_kv_heads = 6;
    c.head_dim = 8;
    c.dim = 48;
    c.ffn_dim = 128;
    Model m;
    util_model(&m, &c, 5);
    /* one FFN neuron in every shrinkable layer: the granularity of the FFN width */
    double layer = 4.0 * c.dim * c.n_heads * c.head_dim + 3.0 * c.dim * c.ffn_dim;
    unsigned char anchor[6] = {1, 0, 0, 0, 0, 1};
    Err e;
    for (int a = 0; a < 2; a++) {
        const unsigned char *anc = a ? anchor : NULL;
        int n_var = a ? 4 : 6;
        double gran = n_var * 3.0 * c.dim / (layer * c.n_layers);
        double prev = 0;
        for (int li = 0; li < N_LEVELS; li++) {
            ElasticView v;
            CHECK(levels_view(&m, anc, LEVELS[li], &v, &e) == 0);
            CHECK(view_check(&m, &v, &e) == 0);
            double f = view_param_fraction(&m, &v);
            bool minimal = true;
            for (int l = 0; l < c.n_layers; l++)
                if (!(anc && anc[l]) && (v.layer[l].attn_units > 1 || v.layer[l].ffn_units > 1)) minimal = false;
            if (!minimal) {
                CHECK_MSG(f <= LEVELS[li] + 1e-12, "anchors %d level %g: fraction %g", a, LEVELS[li], f);
                CHECK_MSG(LEVELS[li] - f < gran + 1e-12, "anchors %d level %g: fraction %g (granularity %g)", a,
                          LEVELS[li], f, gran);
            }
            CHECK(f >= prev);
            prev = f;
            for (int l = 0; l < c.n_layers; l++) {
                if (anc && anc[l]) CHECK(v.layer[l].attn_units == c.n_kv_heads && v.layer[l].ffn_units == c.ffn_dim);
                else CHECK(v.layer[l].attn_units == v.layer[1].attn_units && v.layer[l].ffn_units == v.layer[1].ffn_units);
            }
        }
        CHECK_NEAR(prev, 1.0, 1e-12);
    }
    /* with two of six layers anchored, level 0.2 is below the smallest view: the minimal view is returned */
    ElasticView v;
    CHECK(levels_view(&m, anchor, 0.2, &v, &e) == 0);
    CHECK(v.layer[2].attn_units == 1 && v.layer[2].ffn_units == 1);
    CHECK(levels_view(&m, NULL, 0.0, &v, &e) == -1);
    CHECK(levels_view(&m, NULL, 1.5, &v, &e) == -1);
    model_free(&m);
}

TEST(levels_anchors_from_elastic_json) {
    const char *dir = test_tmpdir();
    unsigned char anchor[8];
    int n;
    Err e;
    CHECK(levels_read_anchors(dir, 8, anchor, &n, &e) == 0 && n == 0);
    char path[700];
    snprintf(path, sizeof path, "%s/elastic.json", dir);
    const char *ok = "{\"anchors\": [0, 7, 1]}";
    CHECK(io_write_atomic(path, ok, strlen(ok), &e) == 0);
    CHECK(levels_read_anchors(dir, 8, anchor, &n, &e) == 0);
    CHECK(n == 3 && anchor[0] && anchor[1] && anchor[7] && !anchor[2]);
    const char *bad = "{\"anchors\": [0, 9]}";
    CHECK(io_write_atomic(path, bad, strlen(bad), &e) == 0);
    CHECK(levels_read_anchors(dir, 8, anchor, &n, &e) == -1);
    CHECK_MSG(strstr(e.msg, "anchors"), "%s", e.msg);
}

TEST(levels_kept_system_formula) {
    /* max(0, ((S+Q)p - Q) / S) of S, rounded down */
    CHECK(levels_kept_system(100, 20, 1.0) == 100);
    CHECK(levels_kept_system(100, 20, 0.5) == 40);  /* 120 * 0.5 - 20 */
    CHECK(levels_kept_system(100, 20, 0.1) == 0);   /* 12 - 20 < 0 */
    CHECK(levels_kept_system(7, 3, 0.7) == 4);      /* 10 * 0.7 - 3 = 4 */
    CHECK(levels_kept_system(0, 5, 0.5) == 0);
    for (int S = 1; S < 60; S += 7)
        for (int Q = 0; Q < 20; Q += 3)
            for (int r = 0; r < N_RATIOS; r++) {
                int k = levels_kept_system(S, Q, RATIOS[r]);
                double cap = (S + Q) * RATIOS[r];
                if (cap < Q) cap = Q; /* the query is never compressed */
                CHECK(k >= 0 && k <= S && k + Q <= cap + 1e-9 && k + Q + 1 > cap - 1e-9);
            }
    CHECK(levels_index(0.5) == 3 && levels_index(0.55) == -1 && ratios_index(0.1) == 9);
}
