/* policy_shortgpt: ShortGPT (Men et al., "ShortGPT: Layers in Large Language Models are More Redundant Than You
 * Expect", 2024). Offline: Block Influence of every layer, BI = 1 - mean over tokens of cos(h_in, h_out), per
 * token as the ShortGPT paper defines it (the ELMS code took the cosine over whole flattened batches), on
 * calibration windows of the training corpus (elastic/layerscore.h). Online: drop the lowest-BI layers, as few
 * as the SLO allows (the ladder of policies/ranking.h). No adapter, no prompt compression. */
#include <stdlib.h>

#include "elastic/layerscore.h"
#include "policies/build.h"
#include "policies/policy.h"
#include "policies/ranking.h"

static int shortgpt_build(const BuildEnv *env, const char *dir, Err *e) {
    Calib c;
    if (build_calib(env, &c, e)) return -1;
    int L = env->model->cfg.n_layers;
    double *bi = malloc(sizeof *bi * (size_t)L); /* (n_layers) Block Influence */
    Ranking r;
    int rc = bi ? 0 : err_set(e, "out of memory");
    build_progress(env, "block influence", 0, 1);
    if (!rc) rc = layerscore_block_influence(env->model, &c, bi, e);
    build_progress(env, "block influence", 1, 1);
    if (!rc) rc = ranking_from_scores(&r, bi, L, false, e);
    if (!rc) rc = ranking_write(&r, dir, e);
    free(bi);
    calib_free(&c);
    return rc;
}

static int shortgpt_create(Policy *p, Err *e) {
    (void)e;
    p->build = shortgpt_build;
    p->prepare = ranking_policy_prepare;
    p->decide = ranking_policy_decide;
    p->memory = ranking_policy_memory;
    p->destroy = ranking_policy_destroy;
    return 0;
}

POLICY_REGISTER("shortgpt", "baseline: drop the layers of lowest Block Influence (ShortGPT)", shortgpt_create)
