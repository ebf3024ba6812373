/* policy_attndrop: AttnDrop (He et al., "What Matters in Transformers? Not All Attention is Needed", 2024):
 * attention and MLP sub-blocks are dropped separately. Offline: every sub-block's importance
 * 1 - mean over tokens of cos(input, output) on calibration windows of the training corpus
 * (elastic/layerscore.h); the 2L sub-blocks are ranked jointly, least important first (attention sub-blocks
 * usually come first, as the paper found). Online: drop the fewest sub-blocks the SLO allows (the ladder of
 * policies/ranking.h). What a dropped sub-block saves is priced by the profile from the view (its real share
 * of parameters, KV cache and attention work), not by the fixed 1/3 and 2/3 of the ELMS code. */
#include <stdlib.h>

#include "elastic/layerscore.h"
#include "policies/build.h"
#include "policies/policy.h"
#include "policies/ranking.h"

/* subblock_scores: score (2 n_layers): layer l's attention sub-block at 2l, its MLP at 2l + 1. */
static int subblock_scores(const Model *m, const Calib *c, double *score, Err *e) {
    int L = m->cfg.n_layers;
    double *attn = malloc(sizeof *attn * (size_t)L), *ffn = malloc(sizeof *ffn * (size_t)L); /* (n_layers) */
    int rc = attn && ffn ? layerscore_subblocks(m, c, attn, ffn, e) : err_set(e, "out of memory");
    for (int l = 0; !rc && l < L; l++) {
        score[2 * l] = attn[l];
        score[2 * l + 1] = ffn[l];
    }
    free(attn);
    free(ffn);
    return rc;
}

static int attndrop_build(const BuildEnv *env, const char *dir, Err *e) {
    return ranking_build(env, dir, subblock_scores, true, "sub-block scores", e);
}

static int attndrop_create(Policy *p, Err *e) {
    (void)e;
    p->build = attndrop_build;
    p->prepare = ranking_policy_prepare;
    p->decide = ranking_policy_decide;
    p->memory = ranking_policy_memory;
    p->destroy = ranking_policy_destroy;
    return 0;
}

POLICY_REGISTER("attndrop", "baseline: drop the attention and MLP sub-blocks that change their input least",
                attndrop_create)
