/* gemv: matrix-vector kernels over F32 / F16 / BF16 weights with run-time instruction-set dispatch (see gemv.h).
 * Each instruction set has the same kernels: rows (y = W x), cols (y = W^T x), dot, axpy, the widening of a
 * block, the exponentials and one token's attention; the portable C set is the reference. The half-precision
 * loads widen to F32 in registers: memory holds the weights at 2 bytes each, which is what a decode step is
 * limited by. */
#include "engine/gemv.h"
#include "engine/dtype.h"

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

/* ---- portable C: the reference ---- */

static inline float load1(const void *W, StDtype t, size_t i) {
    if (t == ST_F32) return ((const float *)W)[i];
    if (t == ST_F16) return f16_to_f32(((const uint16_t *)W)[i]);
    return bf16_to_f32(((const uint16_t *)W)[i]);
}

static void rows_scalar(float *y, const void *W, StDtype t, int ldw, const float *x, int m, int k, int acc) {
    for (int i = 0; i < m; i++) {
        float s = 0.0f;
        size_t r = (size_t)i * ldw;
        for (int j = 0; j < k; j++) s += load1(W, t, r + j) * x[j];
        y[i] = acc ? y[i] + s : s;
    }
}

static void cols_scalar(float *y, const void *W, StDtype t, int ldw, const float *x, int k, int m, int acc) {
    if (!acc) memset(y, 0, sizeof(float) * (size_t)m);
    for (int i = 0; i < k; i++) {
        size_t r = (size_t)i * ldw;
        for (int j = 0; j < m; j++) y[j] += x[i] * load1(W, t, r + j);
    }
}

static float dot_scalar(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_scalar(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void convert_scalar(float *out, const void *W, StDtype t, int ldw, int rows, int cols) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) out[(size_t)i * cols + j] = load1(W, t, (size_t)i * ldw + j);
}

/* attend: one query of grouped-query attention over T cached rows (attention_decode's contract, s of n_q*T). The
 * loops run position-major: every cached row of K and then of V is read once, in order, as one sequential
 * stream, instead of one strided pass per head (a head's slice is head_dim of the row's n_kv*head_dim floats).
 * Each score and each output element sees the same operations in the same order as head-major loops would,
 * so the result is the same bit for bit. */
#define ATTEND_BODY(DOT, AXPY)                                                                                     \
    float scale = 1.0f / sqrtf((float)hd);                                                                         \
    for (int t = 0; t < T; t++) {                                                                                  \
        const float *kt = k + (size_t)t * ks;                                                                      \
        for (int h = 0; h < n_q; h++)                                                                              \
            s[(size_t)h * T + t] = scale * DOT(q + (size_t)h * hd, kt + (size_t)(h / rep) * hd, hd);               \
    }                                                                                                              \
    for (int h = 0; h < n_q; h++) {                                                                                \
        float *sh = s + (size_t)h * T, inv = 1.0f / softmax_exp(sh, T);                                            \
        for (int t = 0; t < T; t++) sh[t] *= inv;                                                                  \
    }                                                                                                              \
    memset(out, 0, sizeof(float) * (size_t)n_q * hd);                                                              \
    for (int t = 0; t < T; t++) {                                                                                  \
        const float *vt = v + (size_t)t * ks;                                                                      \
        for (int h = 0; h < n_q; h++)                                                                              \
            AXPY(out + (size_t)h * hd, s[(size_t)h * T + t], vt + (size_t)(h / rep) * hd, hd);                     \
    }

static void attend_scalar(float *out, float *s, const float *q, const float *k, const float *v, int T, int n_q,
                          int rep, int hd, int ks) {
    ATTEND_BODY(dot_scalar, axpy_scalar)
}

/* ---- SIMD kernels, one set per vector width ----
 * KERNELS(SFX, TARGET, V, W, LD32, LD16, LDBF, FMA, ZERO, SET1, HSUM, STOREF) defines rows_SFX, cols_SFX, dot_SFX,
 * axpy_SFX, attend_SFX (ATTEND_BODY over dot_SFX and axpy_SFX) and convert_SFX for vectors V of W floats:
 * LD32/LD16/LDBF load W elements of each type as floats. Row products take one row at a time with four
 * accumulators: consecutive rows are consecutive in memory, so the weights are read as one sequential stream,
 * which the hardware prefetcher follows at the full read bandwidth (several rows at once are several short
 * streams, measured 25-40% slower on the 110M shape). Tails (k not a multiple of W) run the scalar code. */
#define KERNELS(SFX, TARGET, V, W, LD32, LD16, LDBF, FMA, ZERO, SET1, HSUM, STOREF)                              \
    __attribute__((target(TARGET))) static inline V load_##SFX(const void *p, StDtype t, size_t i) {            \
        if (t == ST_F32) return LD32((const float *)p + i);                                                        \
        if (t == ST_F16) return LD16((const uint16_t *)p + i);                                                     \
        return LDBF((const uint16_t *)p + i);                                                                      \
    }                                                                                                              \
    __attribute__((target(TARGET))) static void rows_##SFX(float *y, const void *Wm, StDtype t, int ldw,         \
                                                           const float *x, int m, int k, int acc) {              \
        int k4 = k / (4 * W) * (4 * W);                                                                            \
        for (int i = 0; i < m; i++) {                                                                              \
            size_t r = (size_t)i * ldw;                                                                            \
            V a0 = ZERO(), a1 = ZERO(), a2 = ZERO(), a3 = ZERO();                                                  \
            int j = 0;                                                                                             \
            for (; j < k4; j += 4 * W) {                                                                           \
                a0 = FMA(load_##SFX(Wm, t, r + j), LD32(x + j), a0);                                               \
                a1 = FMA(load_##SFX(Wm, t, r + j + W), LD32(x + j + W), a1);                                       \
                a2 = FMA(load_##SFX(Wm, t, r + j + 2 * W), LD32(x + j + 2 * W), a2);                               \
                a3 = FMA(load_##SFX(Wm, t, r + j + 3 * W), LD32(x + j + 3 * W), a3);                               \
            }                                                                                                      \
            for (; j + W <= k; j += W) a0 = FMA(load_##SFX(Wm, t, r + j), LD32(x + j), a0);                        \
            float s = HSUM(a0 + a1 + a2 + a3);                                                                     \
            for (; j < k; j++) s += load1(Wm, t, r + j) * x[j];                                                    \
            y[i] = acc ? y[i] + s : s;                                                                             \
        }                                                                                                          \
    }                                                                                                              \
    __attribute__((target(TARGET))) static void cols_##SFX(float *y, const void *Wm, StDtype t, int ldw,         \
                                                           const float *x, int k, int m, int acc) {              \
        if (!acc) memset(y, 0, sizeof(float) * (size_t)m);                                                         \
        int mv = m / W * W;                                                                                        \
        for (int i = 0; i < k; i++) { /* one weight row at a time: one sequential stream, y stays in L1 */         \
            size_t r = (size_t)i * ldw;                                                                            \
            V xi = SET1(x[i]);                                                                                     \
            for (int j = 0; j < mv; j += W) STOREF(y + j, FMA(load_##SFX(Wm, t, r + j), xi, LD32(y + j)));         \
            for (int j = mv; j < m; j++) y[j] += x[i] * load1(Wm, t, r + j);                                       \
        }                                                                                                          \
    }                                                                                                              \
    __attribute__((target(TARGET))) static float dot_##SFX(const float *a, const float *b, int n) {               \
        V s = ZERO();                                                                                              \
        int i = 0;                                                                                                 \
        for (; i + W <= n; i += W) s = FMA(LD32(a + i), LD32(b + i), s);                                           \
        float r = HSUM(s);                                                                                         \
        for (; i < n; i++) r += a[i] * b[i];                                                                       \
        return r;                                                                                                  \
    }                                                                                                              \
    __attribute__((target(TARGET))) static void axpy_##SFX(float *y, float a, const float *x, int n) {            \
        V av = SET1(a);                                                                                            \
        int i = 0;                                                                                                 \
        for (; i + W <= n; i += W) STOREF(y + i, FMA(av, LD32(x + i), LD32(y + i)));                              \
        for (; i < n; i++) y[i] += a * x[i];                                                                       \
    }                                                                                                              \
    __attribute__((target(TARGET))) static void attend_##SFX(float *out, float *s, const float *q, const float *k, \
                                                             const float *v, int T, int n_q, int rep, int hd,    \
                                                             int ks) {                                           \
        ATTEND_BODY(dot_##SFX, axpy_##SFX)                                                                         \
    }                                                                                                              \
    __attribute__((target(TARGET))) static void convert_##SFX(float *out, const void *Wm, StDtype t, int ldw,    \
                                                              int rows, int cols) {                              \
        int cv = cols / W * W;                                                                                     \
        for (int i = 0; i < rows; i++) {                                                                           \
            size_t r = (size_t)i * ldw;                                                                            \
            float *o = out + (size_t)i * cols;                                                                     \
            for (int j = 0; j < cv; j += W) STOREF(o + j, load_##SFX(Wm, t, r + j));                               \
            for (int j = cv; j < cols; j++) o[j] = load1(Wm, t, r + j);                                            \
        }                                                                                                          \
    }

/* AVX-512F: 16 floats per vector */
#define LD32_512(p) _mm512_loadu_ps(p)
#define LD16_512(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define LDBF_512(p) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16))
KERNELS(avx512, "avx512f", __m512, 16, LD32_512, LD16_512, LDBF_512, _mm512_fmadd_ps, _mm512_setzero_ps,
        _mm512_set1_ps, _mm512_reduce_add_ps, _mm512_storeu_ps)

/* AVX2 + FMA + F16C: 8 floats per vector */
__attribute__((target("avx2,fma"))) static inline float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#define LD32_256(p) _mm256_loadu_ps(p)
#define LD16_256(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define LDBF_256(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16))
KERNELS(avx2, "avx2,fma,f16c", __m256, 8, LD32_256, LD16_256, LDBF_256, _mm256_fmadd_ps, _mm256_setzero_ps,
        _mm256_set1_ps, hsum_avx2, _mm256_storeu_ps)

/* ---- exponentials: softmax rows and SwiGLU ----
 * exp(x) = 2^k exp(r) with k = round(x log2 e), r = x - k ln 2 (ln 2 split in two for exactness) and exp(r) on
 * [-ln2/2, ln2/2] by the degree-7 polynomial of Cephes' expf (about 1 ulp); inputs are clamped to [-88, 88.7],
 * below which expf's results are subnormal or zero. */
static float softmax_exp_scalar(float *x, int n) {
    float mx = x[0], s = 0.0f;
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    for (int i = 0; i < n; i++) s += x[i] = expf(x[i] - mx);
    return s;
}

static void swiglu_scalar(float *h, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__attribute__((target("avx512f"))) static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(88.7f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, k);
}

__attribute__((target("avx512f"))) static float softmax_exp_avx512(float *x, int n) {
    int nv = n / 16 * 16;
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < nv; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    float mx = _mm512_reduce_max_ps(m);
    for (int i = nv; i < n; i++)
        if (x[i] > mx) mx = x[i];
    __m512 s = _mm512_setzero_ps(), mv = _mm512_set1_ps(mx);
    for (int i = 0; i < nv; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        s = _mm512_add_ps(s, e);
    }
    float sum = _mm512_reduce_add_ps(s);
    if (nv < n) { /* the tail through the same polynomial, masked */
        __mmask16 k = (__mmask16)((1u << (n - nv)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + nv), mv));
        _mm512_mask_storeu_ps(x + nv, k, e);
        sum += _mm512_mask_reduce_add_ps(k, e);
    }
    return sum;
}

__attribute__((target("avx512f"))) static void swiglu_avx512(float *h, const float *g, const float *u, size_t n) {
    size_t nv = n / 16 * 16;
    __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < nv; i += 16) {
        __m512 gv = _mm512_loadu_ps(g + i);
        __m512 sg = _mm512_div_ps(gv, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
        _mm512_storeu_ps(h + i, _mm512_mul_ps(sg, _mm512_loadu_ps(u + i)));
    }
    if (nv < n) {
        __mmask16 k = (__mmask16)((1u << (n - nv)) - 1);
        __m512 gv = _mm512_maskz_loadu_ps(k, g + nv);
        __m512 sg = _mm512_div_ps(gv, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
        _mm512_mask_storeu_ps(h + nv, k, _mm512_mul_ps(sg, _mm512_maskz_loadu_ps(k, u + nv)));
    }
}

/* ---- dispatch ---- */

typedef struct Kernels {
    void (*rows)(float *, const void *, StDtype, int, const float *, int, int, int);
    void (*cols)(float *, const void *, StDtype, int, const float *, int, int, int);
    float (*dot)(const float *, const float *, int);
    void (*axpy)(float *, float, const float *, int);
    void (*convert)(float *, const void *, StDtype, int, int, int);
    float (*softmax_exp)(float *, int);
    void (*swiglu)(float *, const float *, const float *, size_t);
    void (*attend)(float *, float *, const float *, const float *, const float *, int, int, int, int, int);
} Kernels;

static const Kernels g_sets[3] = {
    {rows_scalar, cols_scalar, dot_scalar, axpy_scalar, convert_scalar, softmax_exp_scalar, swiglu_scalar,
     attend_scalar},
    {rows_avx2, cols_avx2, dot_avx2, axpy_avx2, convert_avx2, softmax_exp_scalar, swiglu_scalar, attend_avx2},
    {rows_avx512, cols_avx512, dot_avx512, axpy_avx512, convert_avx512, softmax_exp_avx512, swiglu_avx512,
     attend_avx512},
};

static int g_isa = -1; /* -1 until first use */

/* has_f16c: CPUID leaf 1, ECX bit 29 (not every compiler's __builtin_cpu_supports knows "f16c") */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

static GemvIsa isa_supported(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return GEMV_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c()) return GEMV_AVX2;
    return GEMV_SCALAR;
}

GemvIsa gemv_isa(void) {
    if (g_isa < 0) g_isa = (int)isa_supported();
    return (GemvIsa)g_isa;
}

const char *gemv_isa_name(GemvIsa isa) {
    return isa == GEMV_AVX512 ? "avx512" : isa == GEMV_AVX2 ? "avx2" : "scalar";
}

GemvIsa gemv_isa_force(GemvIsa isa) {
    GemvIsa best = isa_supported();
    g_isa = (int)(isa < best ? isa : best);
    return (GemvIsa)g_isa;
}

static const Kernels *kernels(void) { return &g_sets[gemv_isa()]; }

void gemv_rows(float *y, const void *W, StDtype t, int ldw, const float *x, int m, int k, int accumulate) {
    if (m <= 0) return;
    kernels()->rows(y, W, t, ldw, x, m, k < 0 ? 0 : k, accumulate);
}

void gemv_cols(float *y, const void *W, StDtype t, int ldw, const float *x, int k, int m, int accumulate) {
    if (m <= 0) return;
    kernels()->cols(y, W, t, ldw, x, k < 0 ? 0 : k, m, accumulate);
}

void wtype_to_f32(float *out, const void *W, StDtype t, int ldw, int rows, int cols) {
    if (rows > 0 && cols > 0) kernels()->convert(out, W, t, ldw, rows, cols);
}

/* narrow_f16_avx512: o (n) = x (n) as F16, round to nearest even (the conversion instruction's rounding, equal to
 * f32_to_f16's for every finite value and infinity; a NaN stays a NaN) */
__attribute__((target("avx512f"))) static size_t narrow_f16_avx512(uint16_t *o, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(o + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    return i;
}

void f32_to_wtype(void *out, StDtype t, const float *x, size_t n) {
    if (t == ST_F32) {
        memcpy(out, x, n * sizeof(float));
        return;
    }
    uint16_t *o = out;
    size_t i = t == ST_F16 && gemv_isa() == GEMV_AVX512 ? narrow_f16_avx512(o, x, n) : 0;
    for (; i < n; i++) o[i] = t == ST_F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
}

float softmax_exp(float *x, int n) { return n > 0 ? kernels()->softmax_exp(x, n) : 0.0f; }

void swiglu_kernel(float *h, const float *g, const float *u, size_t n) { kernels()->swiglu(h, g, u, n); }

void attention_decode(float *out, float *scores, const float *q, const float *k, const float *v, int T, int n_q,
                      int n_kv, int head_dim) {
    kernels()->attend(out, scores, q, k, v, T, n_q, n_q / n_kv, head_dim, n_kv * head_dim);
}
