/* io_config: config.json (Hugging Face LlamaConfig keys) <-> ModelConfig, with every field validated. */
#include "engine/io.h"

#include <cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* get_int: a required (or optional, when def is non-NULL) positive integer field. */
static int get_int(const char *path, const cJSON *root, const char *key, const int *def, int *out, Err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (def) {
            *out = *def;
            return 0;
        }
        return err_set(e, "%s: missing field '%s' (a positive integer)", path, key);
    }
    if (!cJSON_IsNumber(v)) return err_set(e, "%s: field '%s' must be a positive integer, not %s", path, key,
                                           cJSON_IsString(v) ? "a string" : "a non-number");
    char at[1600];
    long x;
    snprintf(at, sizeof at, "%s: field '%s'", path, key);
    if (io_json_int(v, NULL, 1, INT_MAX, &x, at, e)) return -1;
    *out = (int)x;
    return 0;
}

/* get_pos_float: a positive finite number (optional when def is non-NULL). */
static int get_pos_float(const char *path, const cJSON *root, const char *key, const float *def, float *out,
                         Err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (def) {
            *out = *def;
            return 0;
        }
        return err_set(e, "%s: missing field '%s' (a positive number)", path, key);
    }
    double d;
    char at[1600];
    snprintf(at, sizeof at, "%s: field '%s'", path, key);
    if (io_json_double(v, NULL, 0, FLT_MAX, &d, at, e)) return -1;
    if (!((float)d > 0)) return err_set(e, "%s: field '%s' must be a positive finite number", path, key);
    *out = (float)d;
    return 0;
}

/* get_token_id: optional token id: absent/null -> -1; an integer >= 0; a list takes its first element. */
static int get_token_id(const char *path, const cJSON *root, const char *key, int *out, Err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = -1;
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) == 0) return 0;
        v = cJSON_GetArrayItem(v, 0);
    }
    long x;
    if (io_json_int(v, NULL, 0, INT_MAX, &x, "", NULL) != 0)
        return err_set(e, "%s: field '%s' must be a non-negative integer token id (or null)", path, key);
    *out = (int)x;
    return 0;
}

static int parse_config(const char *path, const cJSON *r, ModelConfig *c, Err *e) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(r)) return err_set(e, "%s: not a JSON object", path);
    if (get_int(path, r, "hidden_size", NULL, &c->dim, e) || get_int(path, r, "intermediate_size", NULL, &c->ffn_dim, e) ||
        get_int(path, r, "num_hidden_layers", NULL, &c->n_layers, e) ||
        get_int(path, r, "num_attention_heads", NULL, &c->n_heads, e) ||
        get_int(path, r, "num_key_value_heads", &c->n_heads, &c->n_kv_heads, e) ||
        get_int(path, r, "vocab_size", NULL, &c->vocab_size, e) ||
        get_int(path, r, "max_position_embeddings", NULL, &c->max_seq, e))
        return -1;
    float theta_def = 10000.0f;
    if (get_pos_float(path, r, "rms_norm_eps", NULL, &c->norm_eps, e) ||
        get_pos_float(path, r, "rope_theta", &theta_def, &c->rope_theta, e))
        return -1;
    if (c->n_heads % c->n_kv_heads)
        return err_set(e, "%s: num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)", path,
                       c->n_heads, c->n_kv_heads);
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(r, "head_dim");
    if (hd && !cJSON_IsNull(hd)) {
        if (get_int(path, r, "head_dim", NULL, &c->head_dim, e)) return -1;
    } else {
        if (c->dim % c->n_heads)
            return err_set(e, "%s: hidden_size (%d) must be a multiple of num_attention_heads (%d) when head_dim is "
                              "absent",
                           path, c->dim, c->n_heads);
        c->head_dim = c->dim / c->n_heads;
    }
    if (c->head_dim % 2) return err_set(e, "%s: head_dim (%d) must be even for rotary embeddings", path, c->head_dim);
    if (c->n_layers > ELMS_MAX_LAYERS)
        return err_set(e, "%s: num_hidden_layers %d exceeds the supported maximum %d", path, c->n_layers,
                       ELMS_MAX_LAYERS);
    const cJSON *tied = cJSON_GetObjectItemCaseSensitive(r, "tie_word_embeddings");
    if (tied && !cJSON_IsNull(tied) && !cJSON_IsBool(tied))
        return err_set(e, "%s: field 'tie_word_embeddings' must be true or false", path);
    c->tied = cJSON_IsTrue(tied);
    if (get_token_id(path, r, "bos_token_id", &c->bos_id, e) || get_token_id(path, r, "eos_token_id", &c->eos_id, e))
        return -1;
    /* features this engine does not implement: refuse rather than compute something else */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(r, "hidden_act");
    if (act && !cJSON_IsNull(act) && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return err_set(e, "%s: field 'hidden_act' must be \"silu\" (the only activation supported)", path);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) return err_set(e, "%s: field 'rope_scaling' is not supported (must be null)", path);
    const char *bias_keys[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, bias_keys[i])))
            return err_set(e, "%s: field '%s' is true but biases are not supported", path, bias_keys[i]);
    if (model_config_check(c, e) != 0) return err_prefix(e, "%s", path);
    return 0;
}

int config_read(const char *path, ModelConfig *c, Err *e) {
    cJSON *r;
    if (io_read_json(path, &r, e) != 0) return -1;
    int rc = parse_config(path, r, c, e);
    cJSON_Delete(r);
    return rc;
}

/* float_text: the shortest decimal text that reads back as the same float (1e-05 rather than 9.99999975e-06). */
static void float_text(float v, char *buf, size_t cap) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

char *config_json(const ModelConfig *c) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    if (arch) cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(r, "model_type", "llama");
    cJSON_AddNumberToObject(r, "hidden_size", c->dim);
    cJSON_AddNumberToObject(r, "intermediate_size", c->ffn_dim);
    cJSON_AddNumberToObject(r, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(r, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(r, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(r, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(r, "max_position_embeddings", c->max_seq);
    char num[32];
    float_text(c->norm_eps, num, sizeof num);
    cJSON_AddRawToObject(r, "rms_norm_eps", num);
    float_text(c->rope_theta, num, sizeof num);
    cJSON_AddRawToObject(r, "rope_theta", num);
    cJSON_AddBoolToObject(r, "tie_word_embeddings", c->tied);
    if (c->bos_id >= 0) cJSON_AddNumberToObject(r, "bos_token_id", c->bos_id);
    else cJSON_AddNullToObject(r, "bos_token_id");
    if (c->eos_id >= 0) cJSON_AddNumberToObject(r, "eos_token_id", c->eos_id);
    else cJSON_AddNullToObject(r, "eos_token_id");
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddBoolToObject(r, "attention_bias", 0);
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *out = realloc(s, n + 2);
    if (!out) {
        free(s);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = 0;
    return out;
}

int config_write(const char *path, const ModelConfig *c, Err *e) {
    if (model_config_check(c, e) != 0) return err_prefix(e, "%s", path);
    char *s = config_json(c);
    if (!s) return err_set(e, "%s: out of memory", path);
    int rc = io_write_atomic(path, s, strlen(s), e);
    free(s);
    return rc;
}
