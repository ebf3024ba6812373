/* io_config: config.json (Hugging Face LlamaConfig keys, the classification keys of Hugging Face's
 * LlamaFor*Classification configs, and our label_groups) <-> ModelConfig, with every field validated. */
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

/* Head kinds by their Hugging Face class name (the first entry of "architectures"). */
static const char *const ARCH_NAME[] = {"LlamaForCausalLM", "LlamaForTokenClassification",
                                        "LlamaForSequenceClassification"};
#define PROBLEM_SINGLE "single_label_classification"
#define PROBLEM_MULTI "multi_label_classification"

/* parse_labels: num_labels (or, as Hugging Face writes it, the size of id2label), problem_type and label_groups of
 * a classifier head. */
static int parse_labels(const char *path, const cJSON *r, ModelConfig *c, Err *e) {
    char at[1600];
    long x;
    const cJSON *nl = cJSON_GetObjectItemCaseSensitive(r, "num_labels");
    const cJSON *id2 = cJSON_GetObjectItemCaseSensitive(r, "id2label");
    if (nl && !cJSON_IsNull(nl)) {
        snprintf(at, sizeof at, "%s: field 'num_labels'", path);
        if (io_json_int(nl, NULL, 1, ELMS_MAX_LABELS, &x, at, e)) return -1;
        c->n_labels = (int)x;
    } else if (cJSON_IsObject(id2) && cJSON_GetArraySize(id2) > 0) {
        c->n_labels = cJSON_GetArraySize(id2);
    } else {
        return err_set(e, "%s: missing field 'num_labels' (a positive integer; required by %s)", path,
                       ARCH_NAME[c->head]);
    }
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(r, "problem_type");
    if (pt && !cJSON_IsNull(pt)) {
        if (!cJSON_IsString(pt) || (strcmp(pt->valuestring, PROBLEM_SINGLE) && strcmp(pt->valuestring, PROBLEM_MULTI)))
            return err_set(e, "%s: field 'problem_type' must be \"" PROBLEM_SINGLE "\" or \"" PROBLEM_MULTI
                              "\" (regression is not supported)", path);
        c->multi_label = !strcmp(pt->valuestring, PROBLEM_MULTI);
        if (c->multi_label && c->head != HEAD_SEQUENCE)
            return err_set(e, "%s: field 'problem_type': \"" PROBLEM_MULTI "\" is supported for %s only", path,
                           ARCH_NAME[HEAD_SEQUENCE]);
    }
    const cJSON *lg = cJSON_GetObjectItemCaseSensitive(r, "label_groups");
    if (!lg || cJSON_IsNull(lg)) {
        if (c->head == HEAD_SEQUENCE && !c->multi_label) {
            c->n_groups = 1;
            c->group_size[0] = c->n_labels;
        }
        return 0;
    }
    if (c->head != HEAD_SEQUENCE || c->multi_label)
        return err_set(e, "%s: field 'label_groups' is for single-label %s only", path, ARCH_NAME[HEAD_SEQUENCE]);
    int n = cJSON_IsArray(lg) ? cJSON_GetArraySize(lg) : 0;
    if (n < 1 || n > ELMS_MAX_LABEL_GROUPS)
        return err_set(e, "%s: field 'label_groups' must be a list of 1 to %d group sizes", path,
                       ELMS_MAX_LABEL_GROUPS);
    long sum = 0;
    for (int g = 0; g < n; g++) {
        snprintf(at, sizeof at, "%s: field 'label_groups[%d]'", path, g);
        if (io_json_int(cJSON_GetArrayItem(lg, g), NULL, 2, c->n_labels, &x, at, e)) return -1;
        c->group_size[g] = (int)x;
        sum += x;
    }
    c->n_groups = n;
    if (sum != c->n_labels)
        return err_set(e, "%s: field 'label_groups': sizes sum to %ld, expected num_labels = %d", path, sum,
                       c->n_labels);
    return 0;
}

/* parse_head: the attention mask (is_causal) and the head: architectures names the class; classifier heads read
 * their labels. A causal language model needs neither key. */
static int parse_head(const char *path, const cJSON *r, ModelConfig *c, Err *e) {
    const cJSON *causal = cJSON_GetObjectItemCaseSensitive(r, "is_causal");
    if (causal && !cJSON_IsNull(causal) && !cJSON_IsBool(causal))
        return err_set(e, "%s: field 'is_causal' must be true or false", path);
    c->bidirectional = cJSON_IsFalse(causal);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(r, "architectures");
    if (arch && !cJSON_IsNull(arch) && !cJSON_IsArray(arch))
        return err_set(e, "%s: field 'architectures' must be a list of class names", path);
    const cJSON *a0 = arch ? cJSON_GetArrayItem(arch, 0) : NULL;
    if (a0 && !cJSON_IsString(a0))
        return err_set(e, "%s: field 'architectures[0]' must be a class name (a string)", path);
    c->head = HEAD_LM;
    for (int h = HEAD_TOKEN; a0 && h <= HEAD_SEQUENCE; h++)
        if (!strcmp(a0->valuestring, ARCH_NAME[h])) c->head = (HeadKind)h;
    if (c->head == HEAD_LM) {
        if (cJSON_GetObjectItemCaseSensitive(r, "label_groups"))
            return err_set(e, "%s: field 'label_groups' is for %s only (architectures names %s)", path,
                           ARCH_NAME[HEAD_SEQUENCE], a0 ? a0->valuestring : "no class");
        return 0;
    }
    if (c->tied)
        return err_set(e, "%s: field 'tie_word_embeddings' must be false for %s (the classifier is its own tensor)",
                       path, ARCH_NAME[c->head]);
    return parse_labels(path, r, c, e);
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
    if (get_token_id(path, r, "bos_token_id", &c->bos_id, e) || get_token_id(path, r, "eos_token_id", &c->eos_id, e) ||
        parse_head(path, r, c, e))
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

/* add_labels: num_labels, problem_type and (single-label sequence heads) label_groups, one group of num_labels
 * when c leaves n_groups at 0. */
static void add_labels(cJSON *r, const ModelConfig *c) {
    cJSON_AddNumberToObject(r, "num_labels", c->n_labels);
    cJSON_AddStringToObject(r, "problem_type", c->multi_label ? PROBLEM_MULTI : PROBLEM_SINGLE);
    if (c->head != HEAD_SEQUENCE || c->multi_label) return;
    cJSON *g = cJSON_AddArrayToObject(r, "label_groups");
    if (!g) return;
    int n = c->n_groups > 0 && c->n_groups <= ELMS_MAX_LABEL_GROUPS ? c->n_groups : 0;
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(g, cJSON_CreateNumber(c->group_size[i]));
    if (!n) cJSON_AddItemToArray(g, cJSON_CreateNumber(c->n_labels));
}

char *config_json(const ModelConfig *c) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    HeadKind head = c->head >= HEAD_LM && c->head <= HEAD_SEQUENCE ? c->head : HEAD_LM;
    if (arch) cJSON_AddItemToArray(arch, cJSON_CreateString(ARCH_NAME[head]));
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
    cJSON_AddBoolToObject(r, "is_causal", !c->bidirectional);
    if (head != HEAD_LM) add_labels(r, c);
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
