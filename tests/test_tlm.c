/* Tests of the tiny LM's pieces that need no trained model: the paper's self-induced label rule against a
 * brute-force reading of it, the relevant-span and top-fraction labels, the SLO tokens and the input layout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policies/tlm.h"
#include "policies/tlm_labels.h"
#include "tests/test.h"

/* The paper's loop, literally: m ascending, p descending, the last correct feasible pair visited. */
static int paper_loop(const unsigned char *correct, double prefill, double decode, int *li, int *ri) {
    int found = 0;
    for (int l = 0; l < N_LEVELS; l++)
        for (int r = 0; r < N_RATIOS; r++) { /* RATIOS[0] = 1.0: descending */
            double m = LEVELS[l], p = RATIOS[r];
            if (m * p > prefill + 1e-9 || m > decode + 1e-9) continue;
            if (correct[l * N_RATIOS + r]) {
                *li = l;
                *ri = r;
                found = 1;
            }
        }
    return found;
}

TEST(tlm_label_pair_is_the_papers_last_correct_feasible_pair) {
    unsigned char g[N_LEVELS * N_RATIOS];
    unsigned long x = 99;
    int labelled = 0, unlabelled = 0;
    for (int trial = 0; trial < 300; trial++) {
        int density = trial % 10; /* from hardly any correct configuration to most */
        for (int i = 0; i < N_LEVELS * N_RATIOS; i++) {
            x = x * 6364136223846793005UL + 1442695040888963407UL;
            g[i] = (int)((x >> 33) % 10) < density;
        }
        for (int pi = 0; pi < TLM_N_PREFILL; pi++)
            for (int di = 0; di < TLM_N_DECODE; di++) {
                int li = -1, ri = -1, lj = -2, rj = -2;
                int a = tlm_label_pair(g, TLM_PREFILL[pi], TLM_DECODE[di], &li, &ri);
                int b = paper_loop(g, TLM_PREFILL[pi], TLM_DECODE[di], &lj, &rj);
                CHECK_MSG(a == b && (!a || (li == lj && ri == rj)), "trial %d slo (%.1f, %.1f): (%d %d %d) vs (%d %d %d)",
                          trial, TLM_PREFILL[pi], TLM_DECODE[di], a, li, ri, b, lj, rj);
                labelled += a;
                unlabelled += !a;
            }
    }
    CHECK(labelled > 0 && unlabelled > 0);
    /* the boundary m p = prefill is feasible (0.5 x 0.4 = 0.2 despite rounding) */
    memset(g, 0, sizeof g);
    g[levels_index(0.5) * N_RATIOS + ratios_index(0.4)] = 1;
    int li, ri;
    CHECK(tlm_label_pair(g, 0.2, 0.5, &li, &ri) == 1 && li == levels_index(0.5) && ri == ratios_index(0.4));
}

TEST(tlm_labels_relevant_marks_the_spans_and_skips_items_without) {
    int spans[2][2] = {{1, 3}, {5, 40}};
    Item it = {.relevant = spans, .n_relevant = 2};
    int lab[8];
    CHECK(tlm_labels_relevant(&it, 8, lab) == 5);
    int want[8] = {0, 1, 1, 0, 0, 1, 1, 1};
    CHECK(!memcmp(lab, want, sizeof want));
    Item none = {0};
    CHECK(tlm_labels_relevant(&none, 8, lab) == -1);
    for (int i = 0; i < 8; i++) CHECK(lab[i] == -1);
}

TEST(tlm_labels_top_labels_the_highest_fraction) {
    float s[10] = {0.1f, 0.9f, 0.3f, 0.9f, 0.5f, 0.0f, 0.7f, 0.2f, 0.8f, 0.4f};
    int lab[10];
    tlm_labels_top(s, 10, 0.3, lab); /* 3 tokens: 0.9 (1), 0.9 (3), 0.8 (8) */
    int want[10] = {0, 1, 0, 1, 0, 0, 0, 0, 1, 0};
    CHECK(!memcmp(lab, want, sizeof want));
    tlm_labels_top(s, 10, 0.0, lab);
    for (int i = 0; i < 10; i++) CHECK(lab[i] == 0);
    tlm_labels_top(s, 10, 1.0, lab);
    for (int i = 0; i < 10; i++) CHECK(lab[i] == 1);
}

TEST(tlm_slo_tokens_take_the_nearest_grid_value) {
    int V = 100, a, b;
    tlm_slo_tokens(V, 0.2, 0.5, &a, &b);
    CHECK(a == V && b == V + TLM_N_PREFILL);
    tlm_slo_tokens(V, 0.9, 1.0, &a, &b);
    CHECK(a == V + TLM_N_PREFILL - 1 && b == V + TLM_N_SLO_TOKENS - 1);
    tlm_slo_tokens(V, 1.0, 0.2, &a, &b); /* off the grid: clamped to the nearest */
    CHECK(a == V + TLM_N_PREFILL - 1 && b == V + TLM_N_PREFILL);
    tlm_slo_tokens(V, 0.45, 0.75, &a, &b); /* halfway: the stricter */
    CHECK(a == V + 2 && b == V + TLM_N_PREFILL + 2);
    tlm_slo_tokens(V, 0.61, 0.79, &a, &b);
    CHECK(a == V + 4 && b == V + TLM_N_PREFILL + 3);
}

TEST(tlm_input_is_slo_tokens_then_bos_system_query) {
    int sys[3] = {10, 11, 12}, q[2] = {20, 21};
    EncodedItem x = {.system = sys, .n_system = 3, .query = q, .n_query = 2};
    int out[16];
    int n = tlm_input(&x, 1, true, 200, 210, out, 16);
    int want[8] = {200, 210, 1, 10, 11, 12, 20, 21};
    CHECK(n == 8 && !memcmp(out, want, sizeof want));
    n = tlm_input(&x, -1, false, 0, 0, out, 16);
    CHECK(n == 5 && out[0] == 10 && out[4] == 21);
    CHECK(tlm_input(&x, 1, true, 200, 210, out, 7) == -1);
}

/* tlm_prob_pick: without a margin the most probable (ties: the earlier); with one, the largest m p among those
 * within the margin of the most probable (ties: the larger level). */
TEST(tlm_prob_pick_follows_the_margin_rule) {
    float prob[N_LEVELS * N_RATIOS];
    for (int i = 0; i < N_LEVELS * N_RATIOS; i++) prob[i] = 0.1f;
    int l9 = levels_index(0.9), l6 = levels_index(0.6), l5 = levels_index(0.5);
    int r8 = ratios_index(0.8), r10 = ratios_index(1.0), r9 = ratios_index(0.9);
    int cand[3] = {l9 * N_RATIOS + r8, l6 * N_RATIOS + r10, l5 * N_RATIOS + r9};
    prob[cand[0]] = 0.80f; /* m p = 0.72 */
    prob[cand[1]] = 0.78f; /* m p = 0.60 */
    prob[cand[2]] = 0.70f; /* m p = 0.45 */
    CHECK(tlm_prob_pick(prob, cand, 3, 0) == 0);
    CHECK(tlm_prob_pick(prob, cand, 3, 0.05) == 0); /* the most probable is also the least compressed */
    prob[cand[0]] = 0.75f;
    prob[cand[1]] = 0.80f;
    CHECK(tlm_prob_pick(prob, cand, 3, 0) == 1);
    CHECK(tlm_prob_pick(prob, cand, 3, 0.02) == 1); /* 0.75 is outside the margin */
    CHECK(tlm_prob_pick(prob, cand, 3, 0.05) == 0); /* within it, and m p 0.72 > 0.60 */
    prob[cand[2]] = 0.80f;                          /* a tie on probability keeps the earlier */
    CHECK(tlm_prob_pick(prob, cand, 3, 0) == 1);
}
