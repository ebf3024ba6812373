/* dtype: the element types weights are stored and held in (safetensors' names: F32, F16 = IEEE binary16, BF16)
 * and the scalar conversions between them and F32. Every F16 and BF16 value is exactly an F32 value; the
 * conversions to half precision round to nearest even. */
#ifndef ELMS_DTYPE_H
#define ELMS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2 } StDtype;

/* st_dtype_name: "F32", "F16" or "BF16" ("?" for another value). st_dtype_parse: accepts those names and
 * f32/f16/bf16; 0 or -1. st_dtype_size: bytes per element (4 or 2). */
const char *st_dtype_name(StDtype d);
int st_dtype_parse(const char *s, StDtype *d);
size_t st_dtype_size(StDtype d);

/* f16_to_f32 / bf16_to_f32: exact widening (F16 subnormals, infinities and NaN payloads kept). */
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);
/* f32_to_f16: round to nearest even; values from 65520 up become infinity, NaN stays NaN. */
uint16_t f32_to_f16(float f);
/* f32_to_bf16: round to nearest even; NaN stays a quiet NaN. */
uint16_t f32_to_bf16(float f);

#endif
