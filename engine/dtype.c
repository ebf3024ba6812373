/* dtype: the element types of weights and their conversions to and from F32 (see dtype.h). */
#include "engine/dtype.h"

#include <string.h>

/* bits_of / float_of: a float's bit pattern and back (memcpy: no aliasing questions) */
static uint32_t bits_of(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static float float_of(uint32_t x) {
    float f;
    memcpy(&f, &x, 4);
    return f;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, x;
    if (exp == 0x1f) {
        x = sign | 0x7f800000u | (man << 13); /* inf or NaN (payload kept) */
    } else if (exp != 0) {
        x = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        x = sign;
    } else { /* subnormal: normalise the mantissa */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        x = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    return float_of(x);
}

uint16_t f32_to_f16(float f) {
    uint32_t x = bits_of(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff)); /* NaN stays NaN (quiet) */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);                      /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                                        /* below 2^-14: subnormal */
        uint32_t e = a >> 23;
        if (e < 102) return sign; /* below 2^-25: rounds to zero */
        uint32_t m = (a & 0x7fffffu) | 0x800000u, shift = 126 - e;
        uint32_t q = m >> shift, r = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (r > half || (r == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t h = (a >> 13) - (112u << 10), r = a & 0x1fff;
    if (r > 0x1000 || (r == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t f32_to_bf16(float f) {
    uint32_t x = bits_of(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* NaN stays NaN (quiet) */
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static const char *const g_dtype_names[] = {"F32", "F16", "BF16"};

const char *st_dtype_name(StDtype d) { return d >= ST_F32 && d <= ST_BF16 ? g_dtype_names[d] : "?"; }

int st_dtype_parse(const char *s, StDtype *d) {
    if (!s) return -1;
    for (int i = 0; i < 3; i++) {
        const char *n = g_dtype_names[i];
        size_t k = 0;
        while (n[k] && s[k] && (s[k] == n[k] || s[k] == n[k] + ('a' - 'A'))) k++;
        if (!n[k] && !s[k]) {
            *d = (StDtype)i;
            return 0;
        }
    }
    return -1;
}

size_t st_dtype_size(StDtype d) { return d == ST_F32 ? 4 : 2; }
