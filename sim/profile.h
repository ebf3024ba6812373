/* profile: device latency profiles (sim/profiles/NAME.json, format in docs/formats.md) and the cost model that
 * prices a configuration with them.
 *
 * A profile describes one device running one target model (for instance a 7B model on a phone CPU): the
 * target's size, and cost coefficients for that full model. A configuration of any engine model is priced
 * through its work relative to the engine's base model (CostShape): the fraction of layer parameters it reads
 * per token (lin), of the LM head (head) and of K/V elements per token (kv). Then, for n prompt tokens,
 *   prefill_ms = a + b n lin + c n^2 kv                      (the head runs once per prefill: inside a)
 *   decode_ms  = d0 + dw (head_params head + layer_params lin) bytes_per_param
 *                   + dkv kv_elems_per_token kv ctx kv_bytes_per_elem      (per generated token at context ctx)
 * Anchor layers, embeddings and the LM head are fixed costs because views keep them whole. Every group of
 * numbers carries a "source" string saying where it came from (measured: command and date; derived: citation). */
#ifndef ELMS_PROFILE_H
#define ELMS_PROFILE_H

#include <stdbool.h>

#include "engine/err.h"
#include "engine/model.h"

typedef struct ProfileTarget {
    char name[128];
    double layer_params;       /* attention + FFN parameters of all layers (what view_param_fraction counts) */
    double head_params;        /* LM head parameters (read once per generated token) */
    double embed_params;       /* embedding table parameters (resident, not read per token) */
    double kv_elems_per_token; /* K and V elements per token over all layers */
    double bytes_per_param;    /* weight bytes per parameter on the device */
    double kv_bytes_per_elem;
} ProfileTarget;

typedef struct Profile {
    char name[64];
    char device[256];
    char path[1024];
    char source[1024];
    ProfileTarget target;
    char target_source[512];
    double prefill_a, prefill_b, prefill_c;          /* ms, ms per token, ms per token^2 (full target) */
    char prefill_source[512];
    double decode_const, decode_weight, decode_kv;   /* ms, ms per weight byte, ms per KV byte */
    char decode_source[512];
    double tlm_a, tlm_b, tlm_params, tlm_bytes_per_param; /* ms, ms per token; resident parameters */
    char tlm_source[512];
    double switch_view_ms, switch_model_ms;          /* view change on the same weights; change of model */
    char switch_source[512];
    bool memory_target;                              /* report memory of the target (else of the engine) */
    double runtime_bytes;                            /* fixed runtime memory added to every policy */
    char memory_source[512];
    double fit_prefill_mape, fit_decode_mape;        /* calibration error (%), or -1 when not fitted */
} Profile;

/* Work of a configuration relative to the base model's full configuration. */
typedef struct CostShape {
    double lin;  /* layer parameters read per token (plus predictor parameters), / base full */
    double head; /* LM head parameters, / base head */
    double kv;   /* K and V elements per token, / base full */
} CostShape;

/* profile_load: read a profile JSON; errors name the file and field. */
int profile_load(Profile *p, const char *path, Err *e);
/* profile_resolve: a profile name (looked up as DIR/NAME.json, DIR = profiles_dir or "sim/profiles") or a path
 * (anything containing '/' or ending in .json) -> a path in out. */
void profile_resolve(const char *name_or_path, const char *profiles_dir, char *out, size_t cap);
/* profile_write: write p as JSON atomically (used by calibrate). */
int profile_write(const Profile *p, const char *path, Err *e);

/* cost_shape: the work of view v on model m relative to base (m may be base or another model, e.g. a smaller
 * off-the-shelf model); extra_lin adds predictor parameters read per token, as a fraction of base's layers. */
void cost_shape(const Model *base, const Model *m, const ElasticView *v, double extra_lin, CostShape *out);
/* cost_full: the shape of the base model's full configuration (all ones). */
CostShape cost_full(void);

double profile_prefill_ms(const Profile *p, const CostShape *s, double n_tokens);
/* profile_decode_ms: one generated token at context length ctx. */
double profile_decode_ms(const Profile *p, const CostShape *s, double ctx);
/* profile_tlm_ms: the tiny LM over n tokens (0 when n <= 0). */
double profile_tlm_ms(const Profile *p, double n_tokens);
/* profile_weight_bytes: resident weight bytes of `params` engine parameters (base_params = the base model's
 * parameter count): engine fp32 bytes, or the target's bytes scaled by params / base_params. */
double profile_weight_bytes(const Profile *p, double params, double base_params);
/* profile_kv_bytes: KV cache bytes of `tokens` positions with shape s (engine: bytes from the engine model's
 * kv elems per token engine_kv_per_token; target: the target's). */
double profile_kv_bytes(const Profile *p, const CostShape *s, double tokens, double engine_kv_per_token);

/* Engine-side counts used by the cost model. */
double cost_layer_params(const ModelConfig *c);
double cost_kv_elems_per_token(const ModelConfig *c);

#endif
