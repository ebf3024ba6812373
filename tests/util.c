/* util: helpers shared by tests (see util.h). */
#include "tests/util.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ModelConfig util_config(void) {
    ModelConfig c = {.dim = 32, .n_layers = 3, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8, .ffn_dim = 48,
                     .vocab_size = 61, .max_seq = 64, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied = false,
                     .bos_id = -1, .eos_id = -1};
    return c;
}

void util_model(Model *m, const ModelConfig *c, unsigned long seed) {
    Err e;
    if (model_alloc(m, c, &e)) {
        fprintf(stderr, "util_model: %s\n", e.msg);
        abort();
    }
    model_init_random(m, seed);
    /* larger weights than training initialisation so logits vary strongly between positions */
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 8.0f;
    for (int l = 0; l < c->n_layers; l++)
        for (int j = 0; j < c->dim; j++) {
            m->w.layer[l].attn_norm[j] = 1.0f + 0.1f * (float)((j * 7 + l) % 5);
            m->w.layer[l].ffn_norm[j] = 1.0f - 0.05f * (float)((j * 3 + l) % 4);
        }
    model_rehash(m);
}

void util_tokens(int *out, int n, int vocab, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int i = 0; i < n; i++) out[i] = (int)gsl_rng_uniform_int(r, (unsigned long)vocab);
    gsl_rng_free(r);
}

double util_max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]);
        if (!(x <= d)) d = x; /* NaN propagates as a failure */
    }
    return d;
}

void util_random_perm(int *p, int n, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)gsl_rng_uniform_int(r, (unsigned long)i + 1);
        int t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    gsl_rng_free(r);
}

char *util_sql_dump(const char *path, const char *sql) {
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    sqlite3 *h;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) {
        snprintf(out, cap, "error: %s", sqlite3_errmsg(h));
        sqlite3_close(h);
        return out;
    }
    while (sqlite3_step(s) == SQLITE_ROW)
        for (int c = 0, n = sqlite3_column_count(s); c < n; c++) {
            char cell[64];
            const char *v = cell;
            int type = sqlite3_column_type(s, c);
            if (type == SQLITE_FLOAT) snprintf(cell, sizeof cell, "%.17g", sqlite3_column_double(s, c));
            else if (type == SQLITE_NULL) v = "NULL";
            else v = (const char *)sqlite3_column_text(s, c);
            size_t need = strlen(v) + 2;
            while (len + need + 1 > cap) out = realloc(out, cap *= 2);
            len += (size_t)snprintf(out + len, cap - len, "%s%c", v, c + 1 < n ? '|' : '\n');
        }
    sqlite3_finalize(s);
    sqlite3_close(h);
    return out;
}

double util_sql_number(const char *path, const char *sql) {
    sqlite3 *h;
    sqlite3_stmt *s = NULL;
    double v = NAN;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

void util_grad_model(Model *m, const ModelConfig *c, unsigned long seed) {
    Err e;
    if (model_alloc(m, c, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    model_init_random(m, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 5.0f;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed + 1);
    for (int l = 0; l < c->n_layers; l++)
        for (int j = 0; j < c->dim; j++) {
            m->w.layer[l].attn_norm[j] = (float)(0.5 + gsl_rng_uniform(r));
            m->w.layer[l].ffn_norm[j] = (float)(0.5 + gsl_rng_uniform(r));
        }
    for (int j = 0; j < c->dim; j++) m->w.final_norm[j] = (float)(0.5 + gsl_rng_uniform(r));
    for (int o = 0; m->w.cls_b && o < c->n_labels; o++) m->w.cls_b[o] = (float)(0.4 * (gsl_rng_uniform(r) - 0.5));
    gsl_rng_free(r);
    model_rehash(m);
}
