/* gemm: packed AVX-512 matrix product for prefill (see gemm.h). */
#include "engine/gemm.h"
#include "engine/gemv.h"

#include <immintrin.h>
#include <string.h>

#define MR 12  /* token rows per micro-kernel call */
#define NR 32  /* weight rows per packed panel (two 16-float vectors) */
#define KC 256 /* inputs per packed panel: NR * KC floats = 32 KiB */

bool gemm_available(void) { return gemv_isa() == GEMV_AVX512; }

/* load16: 16 consecutive weights of type t at element offset i, as floats */
__attribute__((target("avx512f"))) static inline __m512 load16(const void *W, StDtype t, size_t i) {
    if (t == ST_F32) return _mm512_loadu_ps((const float *)W + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)W + i));
    if (t == ST_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static inline float load1(const void *W, StDtype t, size_t i) {
    if (t == ST_F32) return ((const float *)W)[i];
    if (t == ST_F16) return f16_to_f32(((const uint16_t *)W)[i]);
    return bf16_to_f32(((const uint16_t *)W)[i]);
}

/* transpose16: r[c] (16 vectors) = column c of the 16 x 16 matrix whose rows are r (unpack within 128-bit lanes,
 * then a 4 x 4 transpose of the lanes) */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16]) {
    __m512 t[16], s[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* s[4g + j], lane L: column 4L + j of rows 4g .. 4g+3 */
    for (int g = 0; g < 4; g++) {
        s[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* column 4L + j, lane g = s[4g + j] lane L */
    for (int j = 0; j < 4; j++) {
        __m512 p0 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0x88), p1 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0xdd);
        __m512 q0 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0x88);
        __m512 q1 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0xdd);
        r[j] = _mm512_shuffle_f32x4(p0, q0, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(p0, q0, 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(p1, q1, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(p1, q1, 0xdd);
    }
}

/* pack_tail: b (kt, NR)[:, :16] = w (16, ldw)[:, :kt]^T for kt < 16 inputs of F32 rows, hr <= 16 of them (missing
 * rows are zero): masked loads and the same transpose as a full block, kept apart so as not to weigh on pack's
 * main loop */
__attribute__((target("avx512f"), noinline)) static void pack_tail(float *b, const float *w, int ldw, int hr, int kt) {
    __mmask16 mk = (__mmask16)((1u << kt) - 1);
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = i < hr ? _mm512_maskz_loadu_ps(mk, w + (size_t)i * ldw) : _mm512_setzero_ps();
    transpose16(r);
    for (int c = 0; c < kt; c++) _mm512_storeu_ps(b + (size_t)c * NR, r[c]);
}

/* pack: bp (kc, NR) = W[j0 : j0+rows, p0 : p0+kc]^T with rows <= NR (missing rows are zero) */
__attribute__((target("avx512f"))) static void pack(float *bp, const void *W, StDtype t, int ldw, int j0, int rows,
                                                    int p0, int kc) {
    int kv = kc / 16 * 16;
    for (int h = 0; h < NR; h += 16) {
        if (h >= rows) { /* a half panel past the matrix */
            for (int p = 0; p < kc; p++) memset(bp + (size_t)p * NR + h, 0, 16 * sizeof(float));
            continue;
        }
        int hr = rows - h < 16 ? rows - h : 16;
        for (int p = 0; p < kv; p += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < hr ? load16(W, t, (size_t)(j0 + h + i) * ldw + (size_t)(p0 + p)) : _mm512_setzero_ps();
            transpose16(r);
            for (int c = 0; c < 16; c++) _mm512_storeu_ps(bp + (size_t)(p + c) * NR + h, r[c]);
        }
        if (kv < kc && t == ST_F32) { /* the last inputs, fewer than 16 (all of a LoRA B's 8) */
            pack_tail(bp + (size_t)kv * NR + h, (const float *)W + (size_t)(j0 + h) * ldw + (size_t)(p0 + kv), ldw, hr,
                      kc - kv);
            continue;
        }
        for (int p = kv; p < kc; p++)
            for (int i = 0; i < 16; i++)
                bp[(size_t)p * NR + h + i] = i < hr ? load1(W, t, (size_t)(j0 + h + i) * ldw + (size_t)(p0 + p)) : 0.0f;
    }
}

/* pack_nn: bp (kc, NR) = W[p0 : p0+kc, j0 : j0+cols] for W (k, ldw) holding the weights as rows of inputs, cols
 * <= NR (missing columns are zero) */
__attribute__((target("avx512f"))) static void pack_nn(float *bp, const void *W, StDtype t, int ldw, int j0, int cols,
                                                       int p0, int kc) {
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    for (int p = 0; p < kc; p++) {
        size_t r = (size_t)(p0 + p) * ldw + (size_t)j0;
        float *b = bp + (size_t)p * NR;
        if (cols == NR) {
            _mm512_storeu_ps(b, load16(W, t, r));
            _mm512_storeu_ps(b + 16, load16(W, t, r + 16));
        } else if (t == ST_F32) {
            _mm512_storeu_ps(b, _mm512_maskz_loadu_ps(m0, (const float *)W + r));
            _mm512_storeu_ps(b + 16, cols > 16 ? _mm512_maskz_loadu_ps((__mmask16)((1u << (cols - 16)) - 1),
                                                                       (const float *)W + r + 16)
                                               : _mm512_setzero_ps());
        } else {
            for (int j = 0; j < NR; j++) b[j] = j < cols ? load1(W, t, r + (size_t)j) : 0.0f;
        }
    }
}

/* kernel: out (R, cols <= NR; stride ldo) (+)= x (R, kc; stride ldx) . bp (kc, NR)[:, :cols], for R <= MR rows,
 * inlined with R and two a constant so that the accumulators live in registers. two = 0 (cols <= 16) runs only the
 * first 16 columns: the same multiply-adds in the same order for every output, half of them for a narrow panel (a
 * LoRA adapter's A products have 8 outputs, the tail of a width that is not a multiple of 32 up to 16). */
__attribute__((target("avx512f"), always_inline)) static inline void kernel(float *out, int ldo, const float *x,
                                                                           int ldx, const float *bp, int kc, int R,
                                                                           int cols, int accumulate, int two) {
    __m512 c0[MR], c1[MR];
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        c0[r] = accumulate ? _mm512_maskz_loadu_ps(m0, out + (size_t)r * ldo) : _mm512_setzero_ps();
        if (two) c1[r] = accumulate ? _mm512_maskz_loadu_ps(m1, out + (size_t)r * ldo + 16) : _mm512_setzero_ps();
    }
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(bp + (size_t)p * NR), b1 = two ? _mm512_loadu_ps(bp + (size_t)p * NR + 16) : b0;
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(x[(size_t)r * ldx + p]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            if (two) c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(out + (size_t)r * ldo, m0, c0[r]);
        if (two) _mm512_mask_storeu_ps(out + (size_t)r * ldo + 16, m1, c1[r]);
    }
}

/* kernel_rows: kernel for R = rows (1..MR), each a separate constant instance, with one vector of columns when
 * cols <= 16 */
__attribute__((target("avx512f"))) static void kernel_rows(float *out, int ldo, const float *x, int ldx,
                                                           const float *bp, int kc, int rows, int cols, int acc) {
    int two = cols > 16;
    switch (rows * 2 + two) {
#define K(R) \
    case 2 * R: kernel(out, ldo, x, ldx, bp, kc, R, cols, acc, 0); break; \
    case 2 * R + 1: kernel(out, ldo, x, ldx, bp, kc, R, cols, acc, 1); break;
        K(1) K(2) K(3) K(4) K(5) K(6) K(7) K(8) K(9) K(10) K(11) K(12)
#undef K
    default: break;
    }
}

/* panel_lines: the cache lines of a panel of B with cols <= NR columns and kc inputs (nt weights: cols rows of kc
 * inputs; nn weights (trans): kc rows of cols outputs): returns their number, *line_len the lines per weight row */
static inline int panel_lines(int trans, int cols, int kc, size_t es, int *line_len) {
    *line_len = (int)(((trans ? (size_t)cols : (size_t)kc) * es + 63) / 64);
    return (trans ? kc : cols) * *line_len;
}

/* prefetch_line: fetch line q (0-based, line_len lines per weight row) of the panel of B at column jn and inputs
 * from p0 into L1 (hint T0) or L2 (T1) */
static inline void prefetch_line(const void *W, size_t es, int ldw, int trans, int p0, int jn, int line_len, int q,
                                 int hint) {
    int row = q / line_len;
    size_t off = (size_t)(q % line_len) * 64;
    size_t e = trans ? (size_t)(p0 + row) * ldw + (size_t)jn : (size_t)(jn + row) * ldw + (size_t)p0;
    const char *a = (const char *)W + e * es + off;
    if (hint == _MM_HINT_T1) _mm_prefetch(a, _MM_HINT_T1);
    else _mm_prefetch(a, _MM_HINT_T0);
}

/* gemm_avx512: out (n, m) (+)= x (n, k) . B (k, m) where B = W[:m, :k]^T (trans = 0) or W[:k, :m] (trans = 1) */
__attribute__((target("avx512f"))) static void gemm_avx512(float *out, int ldo, const float *x, int ldx,
                                                           const void *W, StDtype t, int ldw, int n, int k, int m,
                                                           int accumulate, int trans) {
    _Alignas(64) float bp[KC * NR];
    size_t es = st_dtype_size(t);
    int blocks = (n + MR - 1) / MR;
    for (int p0 = 0; p0 < k; p0 += KC) {
        int kc = k - p0 < KC ? k - p0 : KC;
        int acc = accumulate || p0 > 0;
        for (int j0 = 0; j0 < m; j0 += NR) {
            int cols = m - j0 < NR ? m - j0 : NR, line_len = 0, lines = 0;
            /* the first panel of a block of inputs has no panel before it to hide its fetch behind: all its lines
             * are requested at once, to L2, before it is packed (packing reads 16 weight rows side by side, which
             * the hardware prefetcher does not follow; a product of one or two panels, such as a narrow view's
             * attention, waited on them for most of its time: a level-0.2 prefill of 20-48 tokens of models/base
             * after idle ran 11-14% faster with them requested) */
            if (j0 == 0) {
                lines = panel_lines(trans, cols, kc, es, &line_len);
                for (int q = 0; q < lines; q++) prefetch_line(W, es, ldw, trans, p0, 0, line_len, q, _MM_HINT_T1);
            }
            if (trans) pack_nn(bp, W, t, ldw, j0, cols, p0, kc);
            else pack(bp, W, t, ldw, j0, cols, p0, kc);
            /* the next panel's weights are fetched while this one is multiplied, a share before each block of
             * rows (without it, a prefill of models/base waited on its weights for 12% of its time) */
            int jn = j0 + NR;
            lines = jn < m ? panel_lines(trans, m - jn < NR ? m - jn : NR, kc, es, &line_len) : 0;
            int share = (lines + blocks - 1) / blocks, next = 0;
            for (int i0 = 0; i0 < n; i0 += MR) {
                int upto = next + share < lines ? next + share : lines;
                for (; next < upto; next++) prefetch_line(W, es, ldw, trans, p0, jn, line_len, next, _MM_HINT_T0);
                kernel_rows(out + (size_t)i0 * ldo + j0, ldo, x + (size_t)i0 * ldx + p0, ldx, bp, kc,
                            n - i0 < MR ? n - i0 : MR, cols, acc);
            }
        }
    }
}

static int gemm_run(float *out, int ldo, const float *x, int ldx, const void *W, StDtype t, int ldw, int n, int k,
                    int m, int accumulate, int trans) {
    if (!gemm_available()) return -1;
    if (n <= 0 || m <= 0) return 0;
    if (k <= 0) {
        if (!accumulate)
            for (int i = 0; i < n; i++) memset(out + (size_t)i * ldo, 0, sizeof(float) * (size_t)m);
        return 0;
    }
    gemm_avx512(out, ldo, x, ldx, W, t, ldw, n, k, m, accumulate, trans);
    return 0;
}

/* small_kernel: out[r][i] (+)= x_r . W_i for R (1..4, a constant once inlined) rows of x and every weight row i < m:
 * each weight row is read once for all R rows; two accumulators per row of x */
__attribute__((target("avx512f"), always_inline)) static inline void small_kernel(float *out, int ldo, const float *x,
                                                                                 int ldx, const void *W, StDtype t,
                                                                                 int ldw, int R, int k, int m, int acc) {
    int k32 = k / 32 * 32, k16 = k / 16 * 16;
    for (int i = 0; i < m; i++) {
        size_t row = (size_t)i * ldw;
        __m512 a[4], b[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) a[r] = b[r] = _mm512_setzero_ps();
        int j = 0;
        for (; j < k32; j += 32) {
            __m512 w0 = load16(W, t, row + j), w1 = load16(W, t, row + j + 16);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                a[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + (size_t)r * ldx + j), a[r]);
                b[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + (size_t)r * ldx + j + 16), b[r]);
            }
        }
        if (j < k16) {
            __m512 w0 = load16(W, t, row + j);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) a[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + (size_t)r * ldx + j), a[r]);
            j += 16;
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            float s = _mm512_reduce_add_ps(_mm512_add_ps(a[r], b[r]));
            for (int q = j; q < k; q++) s += load1(W, t, row + (size_t)q) * x[(size_t)r * ldx + q];
            float *o = out + (size_t)r * ldo + i;
            *o = acc ? *o + s : s;
        }
    }
}

__attribute__((target("avx512f"))) static void small_rows(float *out, int ldo, const float *x, int ldx, const void *W,
                                                          StDtype t, int ldw, int R, int k, int m, int acc) {
    switch (R) {
    case 1: small_kernel(out, ldo, x, ldx, W, t, ldw, 1, k, m, acc); break;
    case 2: small_kernel(out, ldo, x, ldx, W, t, ldw, 2, k, m, acc); break;
    case 3: small_kernel(out, ldo, x, ldx, W, t, ldw, 3, k, m, acc); break;
    default: small_kernel(out, ldo, x, ldx, W, t, ldw, 4, k, m, acc); break;
    }
}

int gemm_nt_small(float *out, int ldo, const float *x, int ldx, const void *W, StDtype t, int ldw, int n, int k,
                  int m, int accumulate) {
    if (!gemm_available()) return -1;
    for (int i0 = 0; i0 < n; i0 += 4)
        small_rows(out + (size_t)i0 * ldo, ldo, x + (size_t)i0 * ldx, ldx, W, t, ldw, n - i0 < 4 ? n - i0 : 4,
                   k < 0 ? 0 : k, m, accumulate);
    return 0;
}

int gemm_nt(float *out, int ldo, const float *x, int ldx, const void *W, StDtype t, int ldw, int n, int k, int m,
            int accumulate) {
    return gemm_run(out, ldo, x, ldx, W, t, ldw, n, k, m, accumulate, 0);
}

int gemm_nn(float *out, int ldo, const float *x, int ldx, const void *W, StDtype t, int ldw, int n, int k, int m,
            int accumulate) {
    return gemm_run(out, ldo, x, ldx, W, t, ldw, n, k, m, accumulate, 1);
}
