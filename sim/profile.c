/* profile: loading, writing and pricing with device latency profiles (see profile.h). */
#include "sim/profile.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/io.h"

/* ---- reading ---- */

static int get_num(const cJSON *grp, const char *gname, const char *key, bool required, double def, double *out,
                   const char *path, Err *e) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(grp, key);
    if (!x) {
        if (required) return err_set(e, "%s: field %s.%s: missing (expected a non-negative number)", path, gname, key);
        *out = def;
        return 0;
    }
    char at[1600];
    snprintf(at, sizeof at, "%s: field %s.%s", path, gname, key);
    return io_json_double(x, NULL, 0, HUGE_VAL, out, at, e);
}

/* A required number of group gname in [lo, +inf). */
static int get_num_in(const cJSON *grp, const char *gname, const char *key, double lo, double *out, const char *path,
                      Err *e) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(grp, key);
    if (!x) return err_set(e, "%s: field %s.%s: missing (expected a number)", path, gname, key);
    char at[1600];
    snprintf(at, sizeof at, "%s: field %s.%s", path, gname, key);
    return io_json_double(x, NULL, lo, HUGE_VAL, out, at, e);
}

static int get_str(const cJSON *o, const char *gname, const char *key, bool required, char *out, size_t cap,
                   const char *path, Err *e) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    out[0] = 0;
    if (!x) return required ? err_set(e, "%s: field %s%s%s: missing (expected a string)", path, gname,
                                      gname[0] ? "." : "", key)
                            : 0;
    if (!cJSON_IsString(x))
        return err_set(e, "%s: field %s%s%s: expected a string", path, gname, gname[0] ? "." : "", key);
    snprintf(out, cap, "%s", x->valuestring);
    return 0;
}

static const cJSON *get_group(const cJSON *root, const char *name, bool required, const char *path, Err *e,
                              int *rc) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, name);
    *rc = 0;
    if (!g) {
        if (required) *rc = err_set(e, "%s: field %s: missing (expected an object)", path, name);
        return NULL;
    }
    if (!cJSON_IsObject(g)) *rc = err_set(e, "%s: field %s: expected an object", path, name);
    return g;
}

static int parse_format(Profile *p, const cJSON *root, const char *path, Err *e);

static int parse(Profile *p, const cJSON *root, const char *path, Err *e) {
    int rc;
    const cJSON *g;
    if (!cJSON_IsObject(root)) return err_set(e, "%s: expected a JSON object", path);
    if (parse_format(p, root, path, e)) return -1;
    if (get_str(root, "", "name", true, p->name, sizeof p->name, path, e) ||
        get_str(root, "", "device", true, p->device, sizeof p->device, path, e) ||
        get_str(root, "", "source", true, p->source, sizeof p->source, path, e))
        return -1;
    if (!p->name[0]) return err_set(e, "%s: field name: expected a non-empty string", path);

    g = get_group(root, "target", true, path, e, &rc);
    if (rc) return -1;
    ProfileTarget *t = &p->target;
    if (get_str(g, "target", "name", true, t->name, sizeof t->name, path, e) ||
        get_num(g, "target", "layer_params", true, 0, &t->layer_params, path, e) ||
        get_num(g, "target", "head_params", true, 0, &t->head_params, path, e) ||
        get_num(g, "target", "embed_params", false, 0, &t->embed_params, path, e) ||
        get_num(g, "target", "kv_elems_per_token", true, 0, &t->kv_elems_per_token, path, e) ||
        get_num(g, "target", "bytes_per_param", true, 0, &t->bytes_per_param, path, e) ||
        get_num(g, "target", "kv_bytes_per_elem", true, 0, &t->kv_bytes_per_elem, path, e) ||
        get_str(g, "target", "source", true, p->target_source, sizeof p->target_source, path, e))
        return -1;
    if (!(t->layer_params > 0)) return err_set(e, "%s: field target.layer_params: expected a positive number", path);

    g = get_group(root, "prefill", true, path, e, &rc);
    if (rc) return -1;
    if (get_num(g, "prefill", "a_ms", true, 0, &p->prefill_a, path, e) ||
        (p->format >= 2 && (get_num(g, "prefill", "weights_ms", true, 0, &p->prefill_w, path, e) ||
                            get_num(g, "prefill", "b0_ms_per_token", true, 0, &p->prefill_b0, path, e))) ||
        get_num(g, "prefill", "b_ms_per_token", true, 0, &p->prefill_b, path, e) ||
        get_num(g, "prefill", "c_ms_per_token2", true, 0, &p->prefill_c, path, e) ||
        get_num(g, "prefill", "adapter_ms_per_token", false, 0, &p->prefill_adapter, path, e) ||
        get_num(g, "prefill", "adapter_ms", false, 0, &p->prefill_adapter_pass, path, e) ||
        get_num(g, "prefill", "gemm_min_rows", false, 0, &p->prefill_gemm_rows, path, e) ||
        get_num(g, "prefill", "few_rows_weights_ms", false, 0, &p->prefill_few_w, path, e) ||
        get_num(g, "prefill", "few_rows_ms_per_token", false, 0, &p->prefill_few, path, e) ||
        get_str(g, "prefill", "source", true, p->prefill_source, sizeof p->prefill_source, path, e))
        return -1;
    if (p->prefill_gemm_rows != floor(p->prefill_gemm_rows) || p->prefill_gemm_rows > 1e6)
        return err_set(e, "%s: field prefill.gemm_min_rows: expected an integer in [0, 1000000], got %g", path,
                       p->prefill_gemm_rows);
    if (!(p->prefill_b > 0)) return err_set(e, "%s: field prefill.b_ms_per_token: expected a positive number", path);

    g = get_group(root, "decode", true, path, e, &rc);
    if (rc) return -1;
    if (p->format == 1) { /* one cost per weight byte: the format 2 model without a cache (C = 0) */
        if (get_num(g, "decode", "const_ms", true, 0, &p->decode_const, path, e) ||
            get_num(g, "decode", "ms_per_weight_byte", true, 0, &p->decode_dram, path, e) ||
            get_num(g, "decode", "ms_per_kv_byte", true, 0, &p->decode_kv, path, e) ||
            get_str(g, "decode", "source", true, p->decode_source, sizeof p->decode_source, path, e))
            return -1;
        if (!(p->decode_dram > 0))
            return err_set(e, "%s: field decode.ms_per_weight_byte: expected a positive number", path);
        /* format 2 charges a KV byte the byte cost and then ms_per_kv_byte: the same total */
        p->decode_kv -= p->decode_dram;
        p->decode_cache = p->decode_dram;
        p->cache_bytes = 0;
        p->cache_sharpness = 1;
        snprintf(p->cache_source, sizeof p->cache_source,
                 "none: read from a format 1 profile (one cost per weight byte, ms_per_weight_byte)");
    } else {
        if (get_num(g, "decode", "const_ms", true, 0, &p->decode_const, path, e) ||
            get_num(g, "decode", "ms_per_byte_cache", true, 0, &p->decode_cache, path, e) ||
            get_num(g, "decode", "ms_per_byte_dram", true, 0, &p->decode_dram, path, e) ||
            get_num(g, "decode", "cache_bytes", true, 0, &p->cache_bytes, path, e) ||
            get_num(g, "decode", "cache_sharpness", true, 0, &p->cache_sharpness, path, e) ||
            get_str(g, "decode", "cache_source", true, p->cache_source, sizeof p->cache_source, path, e) ||
            get_num_in(g, "decode", "ms_per_kv_byte", -HUGE_VAL, &p->decode_kv, path, e) ||
            get_num(g, "decode", "adapter_ms", false, 0, &p->decode_adapter, path, e) ||
            get_num(g, "decode", "adapter_dram_ms", false, 0, &p->decode_adapter_dram, path, e) ||
            get_num(g, "decode", "warmup_ms", false, 0, &p->warmup_ms, path, e) ||
            get_num(g, "decode", "warmup_cached_ms", false, 0, &p->warmup_cached_ms, path, e) ||
            get_num(g, "decode", "warmup_ms_per_cached_byte", false, 0, &p->warmup_cached_byte_ms, path, e) ||
            get_str(g, "decode", "source", true, p->decode_source, sizeof p->decode_source, path, e))
            return -1;
        if (p->decode_kv < -p->decode_cache)
            return err_set(e, "%s: field decode.ms_per_kv_byte: %g is below -decode.ms_per_byte_cache %g (a KV byte "
                           "would cost less than nothing)", path, p->decode_kv, -p->decode_cache);
        if (!(p->decode_dram > 0))
            return err_set(e, "%s: field decode.ms_per_byte_dram: expected a positive number", path);
        if (p->cache_sharpness < 1 || p->cache_sharpness > 1000)
            return err_set(e, "%s: field decode.cache_sharpness: expected a number in [1, 1000], got %g", path,
                           p->cache_sharpness);
        if (p->decode_dram < p->decode_cache)
            return err_set(e, "%s: field decode.ms_per_byte_dram: %g is below decode.ms_per_byte_cache %g (a byte "
                           "from DRAM cannot cost less than one from the cache)", path, p->decode_dram,
                           p->decode_cache);
    }

    g = get_group(root, "tlm", false, path, e, &rc);
    if (rc) return -1;
    if (get_num(g, "tlm", "a_ms", false, 0, &p->tlm_a, path, e) ||
        get_num(g, "tlm", "b_ms_per_token", false, 0, &p->tlm_b, path, e) ||
        get_num(g, "tlm", "c_ms_per_token2", false, 0, &p->tlm_c, path, e) ||
        get_num(g, "tlm", "params", false, 0, &p->tlm_params, path, e) ||
        get_num(g, "tlm", "bytes_per_param", false, 4, &p->tlm_bytes_per_param, path, e) ||
        get_str(g, "tlm", "source", g != NULL, p->tlm_source, sizeof p->tlm_source, path, e))
        return -1;

    g = get_group(root, "switch", false, path, e, &rc);
    if (rc) return -1;
    if (get_num(g, "switch", "view_ms", false, 0, &p->switch_view_ms, path, e) ||
        get_num(g, "switch", "model_ms", false, 0, &p->switch_model_ms, path, e) ||
        get_str(g, "switch", "source", g != NULL, p->switch_source, sizeof p->switch_source, path, e))
        return -1;

    g = get_group(root, "memory", false, path, e, &rc);
    if (rc) return -1;
    char scale[32] = "engine";
    if (get_str(g, "memory", "scale", false, scale, sizeof scale, path, e) ||
        get_num(g, "memory", "runtime_bytes", false, 0, &p->runtime_bytes, path, e) ||
        get_str(g, "memory", "source", g != NULL, p->memory_source, sizeof p->memory_source, path, e))
        return -1;
    if (!scale[0]) snprintf(scale, sizeof scale, "engine");
    if (strcmp(scale, "engine") && strcmp(scale, "target"))
        return err_set(e, "%s: field memory.scale: expected \"engine\" or \"target\", got \"%s\"", path, scale);
    p->memory_target = !strcmp(scale, "target");

    p->fit_prefill_mape = p->fit_decode_mape = p->fit_prefill_heldout_mape = p->fit_decode_heldout_mape = -1;
    p->fit_warmup_rmse_ms = p->fit_warmup_heldout_rmse_ms = -1;
    g = get_group(root, "fit", false, path, e, &rc);
    if (rc) return -1;
    if (g && (get_num(g, "fit", "prefill_mape", false, -1, &p->fit_prefill_mape, path, e) ||
              get_num(g, "fit", "decode_mape", false, -1, &p->fit_decode_mape, path, e)))
        return -1;
    if (g && p->format >= 2) {
        double pts, held;
        if (get_num(g, "fit", "prefill_heldout_mape", false, -1, &p->fit_prefill_heldout_mape, path, e) ||
            get_num(g, "fit", "decode_heldout_mape", false, -1, &p->fit_decode_heldout_mape, path, e) ||
            get_num(g, "fit", "warmup_rmse_ms", false, -1, &p->fit_warmup_rmse_ms, path, e) ||
            get_num(g, "fit", "warmup_heldout_rmse_ms", false, -1, &p->fit_warmup_heldout_rmse_ms, path, e) ||
            get_num(g, "fit", "points", false, 0, &pts, path, e) ||
            get_num(g, "fit", "heldout_points", false, 0, &held, path, e) ||
            get_str(g, "fit", "split", false, p->fit_split, sizeof p->fit_split, path, e))
            return -1;
        if (pts != floor(pts) || pts > 1e6)
            return err_set(e, "%s: field fit.points: expected an integer in [0, 1000000]", path);
        if (held != floor(held) || held > 1e6)
            return err_set(e, "%s: field fit.heldout_points: expected an integer in [0, 1000000]", path);
        p->fit_points = (int)pts;
        p->fit_heldout_points = (int)held;
    }
    return 0;
}

/* The format: absent = 1 (every profile written before the cache-aware decode model), else 1 or 2. A file
 * without "format" that uses format 2 fields is refused rather than read as format 1. */
static int parse_format(Profile *p, const cJSON *root, const char *path, Err *e) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!f) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "decode");
        if (cJSON_IsObject(d) && cJSON_GetObjectItemCaseSensitive(d, "ms_per_byte_dram"))
            return err_set(e, "%s: field format: missing, but decode.ms_per_byte_dram is a format %d field (add "
                           "\"format\": %d)", path, PROFILE_FORMAT, PROFILE_FORMAT);
        p->format = 1;
        return 0;
    }
    char at[1100];
    snprintf(at, sizeof at, "%s: field format", path);
    long v;
    if (io_json_int(f, NULL, 1, 1000000, &v, at, e)) return -1;
    if (v > PROFILE_FORMAT)
        return err_set(e, "%s: field format: version %ld is newer than this build reads (1..%d)", path, v,
                       PROFILE_FORMAT);
    p->format = (int)v;
    return 0;
}

int profile_load(Profile *p, const char *path, Err *e) {
    memset(p, 0, sizeof *p);
    snprintf(p->path, sizeof p->path, "%s", path);
    cJSON *root;
    if (io_read_json(path, &root, e)) return err_prefix(e, "profile (see docs/formats.md)");
    char *flat = cJSON_PrintUnformatted(root);
    if (!flat) {
        cJSON_Delete(root);
        return err_set(e, "%s: out of memory", path);
    }
    hash_hex(hash_fnv1a(HASH_FNV_OFFSET, flat, strlen(flat)), p->hash);
    cJSON_free(flat);
    int rc = parse(p, root, path, e);
    cJSON_Delete(root);
    return rc;
}

void profile_resolve(const char *s, const char *dir, char *out, size_t cap) {
    size_t n = strlen(s);
    if (strchr(s, '/') || (n > 5 && !strcmp(s + n - 5, ".json"))) snprintf(out, cap, "%s", s);
    else snprintf(out, cap, "%s/%s.json", dir ? dir : "sim/profiles", s);
}

/* ---- writing ---- */

static cJSON *group(cJSON *root, const char *name) { return cJSON_AddObjectToObject(root, name); }

int profile_write(const Profile *p, const char *path, Err *e) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "format", PROFILE_FORMAT);
    cJSON_AddStringToObject(r, "name", p->name);
    cJSON_AddStringToObject(r, "device", p->device);
    cJSON_AddStringToObject(r, "source", p->source);
    cJSON *g = group(r, "target");
    cJSON_AddStringToObject(g, "name", p->target.name);
    cJSON_AddNumberToObject(g, "layer_params", p->target.layer_params);
    cJSON_AddNumberToObject(g, "head_params", p->target.head_params);
    cJSON_AddNumberToObject(g, "embed_params", p->target.embed_params);
    cJSON_AddNumberToObject(g, "kv_elems_per_token", p->target.kv_elems_per_token);
    cJSON_AddNumberToObject(g, "bytes_per_param", p->target.bytes_per_param);
    cJSON_AddNumberToObject(g, "kv_bytes_per_elem", p->target.kv_bytes_per_elem);
    cJSON_AddStringToObject(g, "source", p->target_source);
    g = group(r, "prefill");
    cJSON_AddNumberToObject(g, "a_ms", p->prefill_a);
    cJSON_AddNumberToObject(g, "weights_ms", p->prefill_w);
    cJSON_AddNumberToObject(g, "b0_ms_per_token", p->prefill_b0);
    cJSON_AddNumberToObject(g, "b_ms_per_token", p->prefill_b);
    cJSON_AddNumberToObject(g, "c_ms_per_token2", p->prefill_c);
    cJSON_AddNumberToObject(g, "adapter_ms_per_token", p->prefill_adapter);
    cJSON_AddNumberToObject(g, "adapter_ms", p->prefill_adapter_pass);
    cJSON_AddNumberToObject(g, "gemm_min_rows", p->prefill_gemm_rows);
    cJSON_AddNumberToObject(g, "few_rows_weights_ms", p->prefill_few_w);
    cJSON_AddNumberToObject(g, "few_rows_ms_per_token", p->prefill_few);
    cJSON_AddStringToObject(g, "source", p->prefill_source);
    g = group(r, "decode");
    cJSON_AddNumberToObject(g, "const_ms", p->decode_const);
    cJSON_AddNumberToObject(g, "ms_per_byte_cache", p->decode_cache);
    cJSON_AddNumberToObject(g, "ms_per_byte_dram", p->decode_dram);
    cJSON_AddNumberToObject(g, "cache_bytes", p->cache_bytes);
    cJSON_AddNumberToObject(g, "cache_sharpness", p->cache_sharpness);
    cJSON_AddStringToObject(g, "cache_source", p->cache_source);
    cJSON_AddNumberToObject(g, "ms_per_kv_byte", p->decode_kv);
    cJSON_AddNumberToObject(g, "adapter_ms", p->decode_adapter);
    cJSON_AddNumberToObject(g, "adapter_dram_ms", p->decode_adapter_dram);
    cJSON_AddNumberToObject(g, "warmup_ms", p->warmup_ms);
    cJSON_AddNumberToObject(g, "warmup_cached_ms", p->warmup_cached_ms);
    cJSON_AddNumberToObject(g, "warmup_ms_per_cached_byte", p->warmup_cached_byte_ms);
    cJSON_AddStringToObject(g, "source", p->decode_source);
    g = group(r, "tlm");
    cJSON_AddNumberToObject(g, "a_ms", p->tlm_a);
    cJSON_AddNumberToObject(g, "b_ms_per_token", p->tlm_b);
    cJSON_AddNumberToObject(g, "c_ms_per_token2", p->tlm_c);
    cJSON_AddNumberToObject(g, "params", p->tlm_params);
    cJSON_AddNumberToObject(g, "bytes_per_param", p->tlm_bytes_per_param);
    cJSON_AddStringToObject(g, "source", p->tlm_source);
    g = group(r, "switch");
    cJSON_AddNumberToObject(g, "view_ms", p->switch_view_ms);
    cJSON_AddNumberToObject(g, "model_ms", p->switch_model_ms);
    cJSON_AddStringToObject(g, "source", p->switch_source);
    g = group(r, "memory");
    cJSON_AddStringToObject(g, "scale", p->memory_target ? "target" : "engine");
    cJSON_AddNumberToObject(g, "runtime_bytes", p->runtime_bytes);
    cJSON_AddStringToObject(g, "source", p->memory_source);
    /* each error only when measured: -1 reads back as absent, never as a (refused) negative */
    const double mapes[6] = {p->fit_prefill_mape, p->fit_prefill_heldout_mape, p->fit_decode_mape,
                             p->fit_decode_heldout_mape, p->fit_warmup_rmse_ms, p->fit_warmup_heldout_rmse_ms};
    const char *mkeys[6] = {"prefill_mape", "prefill_heldout_mape", "decode_mape", "decode_heldout_mape",
                            "warmup_rmse_ms", "warmup_heldout_rmse_ms"};
    bool any = p->fit_points > 0 || p->fit_heldout_points > 0 || p->fit_split[0];
    for (int i = 0; i < 6; i++) any |= mapes[i] >= 0;
    if (any) {
        g = cJSON_AddObjectToObject(r, "fit");
        for (int i = 0; i < 6; i++)
            if (mapes[i] >= 0) cJSON_AddNumberToObject(g, mkeys[i], mapes[i]);
        if (p->fit_points > 0) cJSON_AddNumberToObject(g, "points", p->fit_points);
        if (p->fit_heldout_points > 0) cJSON_AddNumberToObject(g, "heldout_points", p->fit_heldout_points);
        if (p->fit_split[0]) cJSON_AddStringToObject(g, "split", p->fit_split);
    }
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    if (!s) return err_set(e, "%s: out of memory formatting the profile", path);
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    if (!t) {
        free(s);
        return err_set(e, "out of memory");
    }
    memcpy(t, s, n);
    t[n] = '\n';
    free(s);
    int rc = io_write_atomic(path, t, n + 1, e);
    free(t);
    return rc;
}

/* ---- cost model ---- */

double cost_layer_params(const ModelConfig *c) { return model_layer_params(c); }

double cost_kv_elems_per_token(const ModelConfig *c) { return 2.0 * c->n_layers * c->n_kv_heads * c->head_dim; }

static double view_kv_elems(const Model *m, const ElasticView *v) {
    double k = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (!v->layer[l].skip_attn) k += 2.0 * v->layer[l].attn_units * m->cfg.head_dim;
    return k;
}

/* view_adapter_params: parameters of v's unmerged adapter that a token reads under v: per layer and module, rank x
 * (inputs used + outputs used) (the A and B of model.h's LoraLayer, prefixes as the view reads them) */
static double view_adapter_params(const Model *m, const ElasticView *v) {
    if (!v->lora) return 0;
    const ModelConfig *c = &m->cfg;
    double r = v->lora->rank, d = c->dim, hd = c->head_dim, rep = (double)c->n_heads / c->n_kv_heads, sum = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerView *L = &v->layer[l];
        if (!L->skip_attn && L->attn_units > 0) {
            double kd = L->attn_units * hd, qd = kd * rep;
            sum += r * ((d + qd) + 2 * (d + kd) + (qd + d)); /* q, k, v, o */
        }
        if (!L->skip_ffn) {
            double f = L->ffn_idx || v->ffn_select ? c->ffn_dim : L->ffn_units;
            sum += r * (2 * (d + f) + (f + d)); /* gate, up, down */
        }
    }
    return sum;
}

void cost_shape(const Model *base, const Model *m, const ElasticView *v, double extra_lin, CostShape *out) {
    const ModelConfig *b = &base->cfg, *c = &m->cfg;
    double lin = view_param_fraction(m, v);
    if (m != base) lin *= cost_layer_params(c) / cost_layer_params(b);
    out->lin = lin + extra_lin;
    out->head = m == base ? 1.0 : ((double)c->vocab_size * c->dim) / ((double)b->vocab_size * b->dim);
    out->kv = view_kv_elems(m, v) / cost_kv_elems_per_token(b);
    out->adapter = view_adapter_params(m, v) / cost_layer_params(b);
}

CostShape cost_full(void) { return (CostShape){1.0, 1.0, 1.0, 0.0}; }

double profile_prefill_ms(const Profile *p, const CostShape *s, double n) {
    /* with gemm_min_rows 0 (every profile but a calibrated host's) few is false and the price is the one-regime
     * formula bit for bit (the last term adds an exact 0) */
    bool few = n < p->prefill_gemm_rows;
    return p->prefill_a + (few ? p->prefill_few_w : p->prefill_w) * s->lin + p->prefill_b0 * n +
           p->prefill_b * n * s->lin + p->prefill_c * n * n * s->kv + p->prefill_adapter * n * s->adapter +
           (few ? p->prefill_few * n * s->lin : 0.0) + p->prefill_adapter_pass * s->adapter;
}

void profile_decode_bytes(const Profile *p, const CostShape *s, double ctx, double *w, double *kv) {
    const ProfileTarget *t = &p->target;
    *w = (t->head_params * s->head + t->layer_params * s->lin) * t->bytes_per_param;
    *kv = t->kv_elems_per_token * s->kv * ctx * t->kv_bytes_per_elem;
}

double profile_cache_share(double cache_bytes, double k, double bytes) {
    if (bytes <= 0) return 1.0;
    if (cache_bytes <= 0) return 0.0;
    double r = bytes / cache_bytes;
    /* (1 + r^k)^(-1/k) = 1 / (r (1 + r^-k)^(1/k)) for r > 1: no overflow of r^k */
    return r <= 1 ? pow(1.0 + pow(r, k), -1.0 / k) : 1.0 / (r * pow(1.0 + pow(r, -k), 1.0 / k));
}

double profile_decode_ms(const Profile *p, const CostShape *s, double ctx) {
    double w, kv;
    profile_decode_bytes(p, s, ctx, &w, &kv);
    double ws = w + kv, h = profile_cache_share(p->cache_bytes, p->cache_sharpness, ws);
    /* with no cache (C = 0) h is exactly 0 and, without a KV cache (normalized), the price is d0 + dd W, bit for
     * bit the format 1 model */
    return p->decode_const + ws * (h * p->decode_cache + (1.0 - h) * p->decode_dram) + p->decode_kv * kv +
           p->decode_adapter * s->adapter + p->decode_adapter_dram * s->adapter * (1.0 - h);
}

double profile_warmup_ms(const Profile *p, const CostShape *s, double n) {
    if (p->warmup_ms == 0 && p->warmup_cached_ms == 0 && p->warmup_cached_byte_ms == 0) return 0;
    double w, kv;
    profile_decode_bytes(p, s, n, &w, &kv);
    double h = profile_cache_share(p->cache_bytes, p->cache_sharpness, w + kv);
    return p->warmup_ms + p->warmup_cached_ms * h + p->warmup_cached_byte_ms * (w + kv) * h * h;
}

double profile_tpot_ms(const Profile *p, const CostShape *s, double n, int output_tokens) {
    int steps = output_tokens > 1 ? output_tokens - 1 : 1;
    return profile_decode_ms(p, s, n + (output_tokens - 1) / 2.0) + profile_warmup_ms(p, s, n) / steps;
}

double profile_tlm_ms(const Profile *p, double n, double scale) {
    return n > 0 ? p->tlm_a + scale * (p->tlm_b * n + p->tlm_c * n * n) : 0.0;
}

double profile_weight_bytes(const Profile *p, double params, double base_params) {
    if (!p->memory_target || !(base_params > 0)) return params * 4.0;
    const ProfileTarget *t = &p->target;
    return params / base_params * (t->layer_params + t->head_params + t->embed_params) * t->bytes_per_param;
}

double profile_kv_bytes(const Profile *p, const CostShape *s, double tokens, double engine_kv_per_token) {
    if (!p->memory_target) return tokens * engine_kv_per_token * s->kv * 4.0;
    return tokens * p->target.kv_elems_per_token * s->kv * p->target.kv_bytes_per_elem;
}
