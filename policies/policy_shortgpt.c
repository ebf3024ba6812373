/* policy_shortgpt: ShortGPT (Men et al., "ShortGPT: Layers in Large Language Models are More Redundant Than You
 * Expect", 2024). Offline: Block Influence of every layer, BI = 1 - mean over tokens of cos(h_in, h_out), per
 * token as the ShortGPT paper defines it (the ELMS code took the cosine over whole flattened batches), on
 * calibration windows of the training corpus (elastic/layerscore.h). Online: drop the lowest-BI layers, as few
 * as the SLO allows (the ladder of policies/ranking.h). No adapter, no prompt compression. */
#include "elastic/layerscore.h"
#include "policies/build.h"
#include "policies/policy.h"
#include "policies/ranking.h"

static int shortgpt_build(const BuildEnv *env, const char *dir, Err *e) {
    return ranking_build(env, dir, layerscore_block_influence, false, "block influence", e);
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
