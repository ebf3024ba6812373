/* policy_layer_reduction: LayerReduction, the layer-dropping baseline of the ELMS paper (its section on
 * baselines; layers ranked by the loss of removing each one, as in the "leave-one-out" layer pruning studies it
 * cites). Offline: the calibration loss of the model with each layer removed (both sub-blocks skipped, the
 * residual passes through), elastic/anchors.h's anchors_loo on windows of the training corpus; the layers whose
 * removal costs least are dropped first. Online: keep the best layers, as many as the SLO allows: the ladder
 * drop 0, 1, ..., L-1 layers, the first feasible (all layers at SLO 1.0: the released code drops one even
 * there), else the cheapest. No adapter, no prompt compression. */
#include "elastic/anchors.h"
#include "policies/build.h"
#include "policies/policy.h"
#include "policies/ranking.h"

/* loo_scores: the calibration loss with each layer removed (higher = the layer matters more). */
static int loo_scores(const Model *m, const Calib *c, double *score, Err *e) {
    return anchors_loo(m, c, score, NULL, e);
}

static int layer_reduction_build(const BuildEnv *env, const char *dir, Err *e) {
    return ranking_build(env, dir, loo_scores, false, "leave-one-layer-out losses", e);
}

static int layer_reduction_create(Policy *p, Err *e) {
    (void)e;
    p->build = layer_reduction_build;
    p->prepare = ranking_policy_prepare;
    p->decide = ranking_policy_decide;
    p->memory = ranking_policy_memory;
    p->destroy = ranking_policy_destroy;
    return 0;
}

POLICY_REGISTER("layer-reduction", "baseline: drop the layers whose removal raises the calibration loss least",
                layer_reduction_create)
