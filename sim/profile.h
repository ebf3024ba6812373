/* profile: device latency profiles (sim/profiles/NAME.json, format in docs/formats.md) and the cost model that
 * prices a configuration with them.
 *
 * A profile describes one device running one target model (for instance a 7B model on a phone CPU): the
 * target's size, and cost coefficients for that full model. A configuration of any engine model is priced
 * through its work relative to the engine's base model (CostShape): the fraction of layer parameters it reads
 * per token (lin), of the LM head (head) and of K/V elements per token (kv). Then, for n prompt tokens,
 *   prefill_ms = a + w lin + b0 n + b n lin + c n^2 kv       (the head runs once per prefill: inside a; w is
 *                                                              reading the layer weights once per prefill; b0 is
 *                                                              per-token work no view shrinks: norms, RoPE, ...)
 *   decode_ms  = d0 + S (h dc + (1 - h) dd) + dkv KV         (per generated token at context ctx)
 *     W  = (head_params head + layer_params lin) bytes_per_param    weight bytes read per token
 *     KV = kv_elems_per_token kv ctx kv_bytes_per_elem              KV-cache bytes read per token
 *     S  = W + KV                                                   the token's working set
 *     h  = (1 + (S / C)^k)^(-1/k)  (0 when C = 0)                  share of it that stays cached
 * with dc and dd the cost of a byte read from the cache and from DRAM, C the cache capacity and k >= 1 the
 * sharpness of the knee: S h, the bytes served from the cache, is a smooth min(S, C) (the l_-k mean), so a view
 * well inside the cache costs dc per byte, one far beyond it pays dd for all but C bytes (a cache that keeps C
 * bytes of a working set streamed once per token), and near C the share falls off smoothly (set conflicts,
 * other data, prefetching); k -> infinity is the hard knee min(1, C / S). dkv is the extra cost of a KV byte
 * (attention's short per-head products) on top of its byte cost. Without an adapter the price is increasing and
 * convex in S (with one, the adapter's (1 - h) term is concave past the knee).
 * A view with an unmerged LoRA adapter (CostShape adapter > 0) pays adapter_ms + (1 - h) adapter_dram_ms per
 * token at adapter = 1 on top (prefill: adapter_ms per pass and adapter_ms_per_token per prompt token): the
 * adapter's small products, which wait on memory once the view's weights no longer fit in the cache.
 * Format 1 profiles (no cache term, no w, b0) load as C = 0, w = b0 = 0, dc = dd = their ms_per_weight_byte dw
 * and dkv = their ms_per_kv_byte - dw: the same prices (dkv may then be negative, down to -dc: a KV byte never
 * costs less than nothing).
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

#define PROFILE_FORMAT 2 /* the format profile_write writes; profile_load reads 1 and 2 (docs/formats.md) */

typedef struct Profile {
    int format;          /* the format the file was read in (1 or 2); profile_write always writes PROFILE_FORMAT */
    char name[64];
    char device[256];
    char path[1024];
    char hash[17];       /* profile_load: FNV-1a 64 of the file's JSON printed without whitespace (16 hex digits;
                            what a run records as its profile_hash); empty for a profile built in memory */
    char source[1024];
    ProfileTarget target;
    char target_source[512];
    double prefill_a, prefill_w;                     /* ms; ms to read the full target's layer weights once */
    double prefill_b0, prefill_b, prefill_c;         /* ms per token (any view); ms per token and per token^2 of
                                                      * the full target */
    double prefill_adapter;                          /* ms per token at adapter = 1 (CostShape): an unmerged LoRA
                                                      * adapter's work; optional, 0 when absent */
    double prefill_adapter_pass;                     /* ms per prefill at adapter = 1: the adapter's fixed work per
                                                      * pass (its small products' calls, whatever the prompt's
                                                      * length); optional, 0 */
    double prefill_gemm_rows;                        /* R0: prompts of fewer tokens run the few-row product:
                                                      * prefill_few_w instead of weights_ms, and prefill_few per
                                                      * token at lin = 1 on top of b; optional, 0: one regime */
    double prefill_few_w, prefill_few;
    char prefill_source[512];
    double decode_const;                             /* ms per generated token */
    double decode_adapter;                           /* ms per generated token at adapter = 1; optional, 0 */
    double decode_adapter_dram;                      /* ms per generated token at adapter = 1 more, times the share of
                                                      * the working set beyond the cache (1 - h): an adapter's small
                                                      * products wait on memory once the view's weights do not fit;
                                                      * optional, 0 */
    double decode_cache, decode_dram;                /* ms per weight byte read from the cache / from DRAM */
    double decode_kv;                                /* ms per KV byte on top of its byte cost (>= -decode_cache) */
    double cache_bytes;                              /* C: cache capacity for a token's working set (0: none) */
    double cache_sharpness;                          /* k >= 1: how sharply the cached share falls past C */
    double warmup_ms, warmup_cached_ms;              /* a request's decode warm-up: ms its first steps after the
                                                      * prefill take beyond their steady cost, warmup_ms +
                                                      * warmup_cached_ms h + warmup_cached_byte_ms S h^2 (S: the
                                                      * working set at the prompt, h: its cached share); optional,
                                                      * 0 */
    double warmup_cached_byte_ms;                    /* ms per byte of S h^2: rises with a view's size while it
                                                      * stays cached, falls past the cache (S h^2 ~ C^2 / S);
                                                      * optional, 0 */
    char cache_source[512];                          /* where C came from (measured, fitted, published) */
    char decode_source[512];
    double tlm_a, tlm_b, tlm_params, tlm_bytes_per_param; /* ms, ms per token; resident parameters */
    double tlm_c;                                    /* ms per token^2 (its attention); optional, 0 */
    char tlm_source[512];
    double switch_view_ms, switch_model_ms;          /* view change on the same weights; change of model */
    char switch_source[512];
    bool memory_target;                              /* report memory of the target (else of the engine) */
    double runtime_bytes;                            /* fixed runtime memory added to every policy */
    char memory_source[512];
    /* calibration error (%) on the fitted points and on held-out points (not used by the fit), or -1 when
     * unknown; fit_points / fit_heldout_points per phase (0 when unknown); fit_split says how points were held
     * out */
    double fit_prefill_mape, fit_decode_mape, fit_prefill_heldout_mape, fit_decode_heldout_mape;
    double fit_warmup_rmse_ms, fit_warmup_heldout_rmse_ms; /* the warm-up fit's root mean squared error, ms */
    int fit_points, fit_heldout_points;
    char fit_split[256];
} Profile;

/* Work of a configuration relative to the base model's full configuration. */
typedef struct CostShape {
    double lin;  /* layer parameters read per token (plus predictor parameters), / base full */
    double head; /* LM head parameters, / base head */
    double kv;   /* K and V elements per token, / base full */
    double adapter; /* unmerged LoRA adapter parameters read per token, / base full layer parameters (0 without an
                       adapter; priced only by profiles with adapter coefficients, which the paper's accounting and
                       the phone profiles do not have) */
} CostShape;

/* profile_load: read a profile JSON (format 1 or 2); errors name the file and field. */
int profile_load(Profile *p, const char *path, Err *e);
/* profile_resolve: a profile name (looked up as DIR/NAME.json, DIR = profiles_dir or "sim/profiles") or a path
 * (anything containing '/' or ending in .json) -> a path in out. */
void profile_resolve(const char *name_or_path, const char *profiles_dir, char *out, size_t cap);
/* profile_write: write p as JSON atomically in format PROFILE_FORMAT (used by calibrate). */
int profile_write(const Profile *p, const char *path, Err *e);

/* cost_shape: the work of view v on model m relative to base (m may be base or another model, e.g. a smaller
 * off-the-shelf model); extra_lin adds predictor parameters read per token, as a fraction of base's layers. */
void cost_shape(const Model *base, const Model *m, const ElasticView *v, double extra_lin, CostShape *out);
/* cost_full: the shape of the base model's full configuration (all ones). */
CostShape cost_full(void);

/* profile_prefill_ms: a prefill of n_tokens prompt tokens (without BOS) of shape s, in ms: the formula of the
 * README's profiles section, with the few-row regime below prefill_gemm_rows tokens when the profile has one. */
double profile_prefill_ms(const Profile *p, const CostShape *s, double n_tokens);
/* profile_decode_ms: one generated token at context length ctx (a steady step). */
double profile_decode_ms(const Profile *p, const CostShape *s, double ctx);
/* profile_warmup_ms: what the decode steps of a request with a prompt of n tokens take in all beyond their steady
 * cost (the first steps after a prefill run slower; 0 for profiles without warm-up coefficients). */
double profile_warmup_ms(const Profile *p, const CostShape *s, double n);
/* profile_tpot_ms: the time per output token of a request with a prompt of n tokens and output_tokens >= 1 tokens,
 * as the service measures it: its decode steps (output_tokens - 1, and one for a single token) at their mean
 * context, with the warm-up spread over them. */
double profile_tpot_ms(const Profile *p, const CostShape *s, double n, int output_tokens);
/* profile_decode_bytes: the weight bytes (*w) and KV-cache bytes (*kv) one generated token of shape s reads at
 * context ctx on p's target (the W and KV of the decode model; S = W + KV). */
void profile_decode_bytes(const Profile *p, const CostShape *s, double ctx, double *w, double *kv);
/* profile_cache_share: h of the decode model: the share of a working set of `bytes` served from a cache of
 * cache_bytes with knee sharpness k: (1 + (bytes / cache_bytes)^k)^(-1/k); exactly 0 when cache_bytes <= 0 <
 * bytes, 1 when bytes <= 0. */
double profile_cache_share(double cache_bytes, double k, double bytes);
/* profile_tlm_ms: a prompt model over n tokens, a + scale (b n + c n^2) (0 when n <= 0): the tiny LM itself at
 * scale 1, a model doing scale times its work per token (the same calls: the same a) at scale. */
double profile_tlm_ms(const Profile *p, double n_tokens, double scale);
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
